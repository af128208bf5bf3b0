/*
 * ctl_cust_alarm.c - a policy custodian's alarm (see ctl_custodian.h): the
 * webhook and mail channels of the policy, each told once per trip (what
 * it took is durable in the state), and a failing one asked again only
 * after a wait that doubles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_custodian.h"
#include "ctl_util.h"
#include "ke_chat.h"
#include "ke_http.h"
#include "ke_mail.h"
#include "ke_util.h"

static int alarm_webhook(const ctl_policy *p, const char *configured, const char *title,
                         const ke_chat_fact *facts, size_t nfacts, json_t *native)
{
  const char *url;
  ke_chat_format fmt = ke_chat_url_format(configured, &url);
  json_t *body =
    fmt == KE_CHAT_NATIVE ? json_incref(native) : ke_chat_payload(fmt, title, facts, nfacts);
  char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL, base[1100];
  char sig[KE_CHAT_SIG_HEADER_LEN + 1], err[KE_HTTP_ERRLEN] = "";
  const char *headers[4] = {"Content-Type: application/json", "X-KE-Event: custodian.alarm", NULL,
                            NULL};
  const char *slash = strchr(strstr(url, "://") + 3, '/');
  ke_http *h = NULL;
  ke_http_resp resp = {0};
  ke_rc k = KE_ERR_NOMEM;
  int ok = 0;

  json_decref(body);
  snprintf(base, sizeof base, "%.*s", (int)(slash ? (size_t)(slash - url) : strlen(url)), url);
  if (payload && p->webhook_secret_file) {
    ke_buf sec;
    if (ctl_read(&sec, p->webhook_secret_file, 1024, 1, "webhook secret file") == CTL_OK) {
      sec.p[strcspn(sec.p, "\r\n")] = '\0';
      if (ke_chat_sign(sig, sec.p, strlen(sec.p), payload) == 0)
        headers[2] = sig;
      ke_buf_free(&sec);
    }
  }
  if (payload && (k = ke_http_new(&h)) == KE_OK) {
    ke_http_req q = {
      "POST", base,      slash ? slash : "/",   payload, headers, p->webhook_ca_file, 5,
      15,     64 * 1024, "keyescrow-custodian", NULL};
    k = ke_http_perform(h, &q, &resp, err, sizeof err);
  }
  ok = k == KE_OK && resp.status >= 200 && resp.status < 300;
  if (!ok)
    ctl_errf("alarm webhook %s: %s", base, k ? (err[0] ? err : ke_rc_str(k)) : "not a 2xx answer");
  ke_http_resp_free(&resp);
  ke_http_free(h);
  free(payload);
  return ok;
}

static int alarm_mail(const ctl_policy *p, const char *to, const char *subject, const char *body)
{
  ke_buf pw = {0};
  char err[256] = "";
  ke_mail_server srv = {p->smtp_url, p->smtp_ca_file, p->smtp_user, NULL, p->smtp_from, 30};
  int ok;

  if (p->smtp_password_file) {
    if (ctl_read(&pw, p->smtp_password_file, 1024, 1, "SMTP password file") != CTL_OK)
      return 0;
    pw.p[strcspn(pw.p, "\r\n")] = '\0';
    srv.password = pw.p;
  }
  ok = ke_mail_send(&srv, to, subject, body, err, sizeof err) == KE_OK;
  if (!ok)
    ctl_errf("alarm mail to %s: %s", to, err);
  if (pw.p)
    ke_buf_free(&pw);
  return ok;
}

size_t ctl_cust_channels(const ctl_policy *p) { return p->alarm_webhooks.n + p->alarm_mail_to.n; }

void ctl_cust_channel_name(const ctl_policy *p, size_t i, char *out, size_t n)
{
  if (i < p->alarm_webhooks.n)
    snprintf(out, n, "%s", p->alarm_webhooks.item[i]);
  else
    snprintf(out, n, "mailto:%s", p->alarm_mail_to.item[i - p->alarm_webhooks.n]);
}

void ctl_cust_channel_label(const ctl_policy *p, size_t i, char *out, size_t n)
{
  const char *url, *host, *end, *at;

  if (i >= p->alarm_webhooks.n) {
    ctl_cust_channel_name(p, i, out, n);
    return;
  }
  ke_chat_url_format(p->alarm_webhooks.item[i], &url);
  host = strstr(url, "://");
  host = host ? host + 3 : url;
  end = host + strcspn(host, "/?#");
  at = memchr(host, '@', (size_t)(end - host));
  snprintf(out, n, "%.*s%.*s", (int)(host - url), url, (int)(end - (at ? at + 1 : host)),
           at ? at + 1 : host);
}

/* A channel that failed is not asked again at once: after 5 seconds, then
 * 10, 20, ... at most 5 minutes, until it takes an alarm.  In memory, on
 * the monotonic clock: a restarted daemon tries every channel at once
 * (zeroed is "every channel due"). */
#define CUST_BACKOFF_FIRST 5
#define CUST_BACKOFF_MAX 300
typedef struct cust_backoff {
  long long next[CTL_POLICY_MAX_LIST * 2]; /* monotonic seconds */
  unsigned delay[CTL_POLICY_MAX_LIST * 2];
} cust_backoff;

/* The one daemon of the process's. */
static cust_backoff alarm_backoff;

static long long mono_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec;
}

static int backoff_due(const cust_backoff *b, size_t channel)
{
  return channel >= CTL_POLICY_MAX_LIST * 2 || b->next[channel] <= mono_seconds();
}

static void backoff_note(cust_backoff *b, size_t channel, int ok)
{
  unsigned d;

  if (channel >= CTL_POLICY_MAX_LIST * 2)
    return;
  d = ok ? 0 : !b->delay[channel] ? CUST_BACKOFF_FIRST : b->delay[channel] * 2;
  b->delay[channel] = d > CUST_BACKOFF_MAX ? CUST_BACKOFF_MAX : d;
  b->next[channel] = ok ? 0 : mono_seconds() + b->delay[channel];
}

int ctl_cust_alarm_send(const ctl_policy *p, size_t channel, unsigned index, const char *what,
                        time_t when)
{
  char title[120], idx[16], ts[32], body[1024];
  struct tm tm;
  int ok;

  gmtime_r(&when, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(idx, sizeof idx, "%u", index);
  snprintf(title, sizeof title, "keyescrow: policy custodian %u stopped approving", index);
  if (channel >= p->alarm_webhooks.n) {
    snprintf(body, sizeof body,
             "Policy custodian %u tripped a rate limit at %s:\n\n  %s\n\n"
             "It declines every retrieval request until an operator re-arms it on its own "
             "host (escrowctl custodian rearm).  A compromised helpdesk account, or a burst "
             "of requests nobody expected, is the usual cause: look at the retrieval report "
             "before re-arming.\n",
             index, ts, what);
    return alarm_mail(p, p->alarm_mail_to.item[channel - p->alarm_webhooks.n], title, body);
  }
  const ke_chat_fact facts[] = {
    {"custodian index", idx},
    {"limit", what},
    {"time", ts},
    {"until", "an operator runs `escrowctl custodian rearm` on its host"}};
  json_t *native =
    json_pack("{s:s,s:s,s:I,s:s,s:s}", "event", "custodian.alarm", "time", ts, "custodian_index",
              (json_int_t)index, "limit", what, "action", "declining every request until re-armed");
  ok = native && alarm_webhook(p, p->alarm_webhooks.item[channel], title, facts, 4, native);
  json_decref(native);
  return ok;
}

enum { ALARM_SKIP = 0, ALARM_DUE, ALARM_TOOK, ALARM_FAILED };

/* One decisions.log line naming the channels in state `which`, if any. */
static void log_alarm(const ctl_policy *p, const char *dir, const int *state, size_t n, int which,
                      const char *what)
{
  char label[1100];
  json_t *labels = json_array();

  for (size_t i = 0; i < n; i++)
    if (state[i] == which) {
      ctl_cust_channel_label(p, i, label, sizeof label);
      json_array_append_new(labels, json_string(label));
    }
  if (json_array_size(labels))
    ctl_cust_log_alarm(dir, which == ALARM_TOOK ? "alarm" : "alarm_failed", what, labels);
  json_decref(labels);
}

void ctl_cust_alarm_deliver(const ctl_policy *p, const char *dir, unsigned index)
{
  ctl_cust_state st;
  char what[400], name[1100];
  json_int_t seq;
  int state[CTL_POLICY_MAX_LIST * 2] = {0}, took = 0;
  size_t n = ctl_cust_channels(p);
  time_t t;

  if (ctl_cust_open(&st, dir))
    return;
  if (!ctl_cust_alarm_pending(&st, p, &seq)) {
    ctl_cust_close(&st);
    return;
  }
  snprintf(what, sizeof what, "%s", ctl_cust_tripped(&st) ?: "a limit");
  t = (time_t)ctl_jint(json_object_get(st.j, "tripped"), "time");
  for (size_t i = 0; i < n; i++) {
    ctl_cust_channel_name(p, i, name, sizeof name);
    state[i] = !ctl_cust_alarm_was_sent(&st, name) && backoff_due(&alarm_backoff, i);
  }
  ctl_cust_close(&st); /* not held across the network */
  for (size_t i = 0; i < n; i++) {
    if (state[i] != ALARM_DUE)
      continue;
    state[i] = ctl_cust_alarm_send(p, i, index, what, t) ? ALARM_TOOK : ALARM_FAILED;
    backoff_note(&alarm_backoff, i, state[i] == ALARM_TOOK);
    took |= state[i] == ALARM_TOOK;
  }
  if (took && !ctl_cust_open(&st, dir)) {
    for (size_t i = 0; i < n; i++)
      if (state[i] == ALARM_TOOK) {
        ctl_cust_channel_name(p, i, name, sizeof name);
        ctl_cust_alarm_mark(&st, seq, name);
      }
    if (ctl_cust_commit(&st) != CTL_OK)
      return; /* not recorded: it goes out again, and is logged then */
    log_alarm(p, dir, state, n, ALARM_TOOK, what);
  }
  log_alarm(p, dir, state, n, ALARM_FAILED, what);
}
