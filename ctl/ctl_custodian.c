/*
 * ctl_custodian.c - a policy custodian's durable state, decision log and
 * alarm channels (see ctl_custodian.h; the alarm's delivery, with its
 * backoff, is ctl_cust_alarm.c).
 *
 * The state is small (a day of approvals, a week of decisions), so it is
 * one JSON file read and rewritten whole under an flock: the daemon and
 * the local commands (rearm, trust-key) never see half of the other's
 * change, and a crash leaves the old file or the new one.
 */
#include "ctl_custodian.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_util.h"
#include "ke_chat.h"
#include "ke_http.h"
#include "ke_mail.h"
#include "ke_util.h"

#define CUST_STATE_MAX (64 * 1024 * 1024)
#define CUST_DAY 86400
#define CUST_KEEP_APPROVALS (31 * CUST_DAY) /* the longest cool-down is 30 days */
#define CUST_KEEP_DECISIONS (8 * CUST_DAY)  /* far longer than a request lives */

time_t ctl_cust_now(void)
{
#ifdef KE_CTL_TEST_HOOKS
  const char *t = getenv("ESCROWCTL_CUSTODIAN_NOW");
  char *end;
  long long v;

  if (t && *t) {
    errno = 0;
    v = strtoll(t, &end, 10);
    if (!errno && !*end && v > 0)
      return (time_t)v;
  }
#endif
  return time(NULL);
}

static int path_in(char *out, size_t n, const char *dir, const char *name)
{
  if (snprintf(out, n, "%s/%s", dir, name) >= (int)n)
    return ctl_err(CTL_FAIL, "state directory path too long: %s", dir);
  return CTL_OK;
}

/* Drop what no rule looks at any more: approvals older than the longest
 * cool-down, decisions older than any request can live. */
static void prune(json_t *j, time_t now)
{
  json_t *a = json_object_get(j, "approvals"), *d = json_object_get(j, "decisions"), *v;
  const char *k;
  void *tmp;

  for (size_t i = json_array_size(a); i-- > 0;)
    if (ctl_jint(json_array_get(a, i), "t") < now - CUST_KEEP_APPROVALS)
      json_array_remove(a, i);
  json_object_foreach_safe (d, tmp, k, v) {
    if (ctl_jint(v, "t") < now - CUST_KEEP_DECISIONS)
      json_object_del(d, k);
  }
}

/* state.json's format.  2: the trip carries its number ("seq") and its
 * alarm the channels it reached ("alarm": {"seq", "sent"}).  1: the
 * unreleased first format, with one "alarm_pending" flag; the builds in
 * between wrote 2's shape but called it 1, so a 1 is read as 2, with a
 * pending flag becoming an alarm due on every channel.  A newer version
 * is refused: this build would drop what it does not know when writing. */
#define CUST_STATE_VERSION 2

static int upgrade(json_t *j)
{
  json_int_t v = ctl_jint(j, "version");
  json_t *trip = json_object_get(j, "tripped");

  if (v == CUST_STATE_VERSION)
    return CTL_OK;
  if (v != 1)
    return CTL_FAIL;
  if (!json_is_integer(json_object_get(j, "trips")))
    json_object_set_new(j, "trips", json_integer(json_is_object(trip)));
  if (json_is_object(trip) && !json_object_get(trip, "seq"))
    json_object_set_new(trip, "seq", json_integer(ctl_jint(j, "trips")));
  if (!json_object_get(j, "alarm"))
    json_object_set_new(j, "alarm",
                        json_is_true(json_object_get(j, "alarm_pending"))
                          ? json_pack("{s:I,s:[]}", "seq", ctl_jint(j, "trips"), "sent")
                          : json_null());
  json_object_del(j, "alarm_pending");
  return json_object_set_new(j, "version", json_integer(CUST_STATE_VERSION)) ? CTL_FAIL : CTL_OK;
}

/* The state as read: CTL_OK, or CTL_FAIL (printed) when it is damaged or of
 * a newer format. */
static int check_state(json_t *j, const char *file)
{
  json_t *v = json_object_get(j, "version");

  if (json_is_integer(v) && json_integer_value(v) > CUST_STATE_VERSION)
    return ctl_err(CTL_FAIL,
                   "%s is of state version %lld, newer than this escrowctl reads (%d): "
                   "refusing to start (run the escrowctl that wrote it)",
                   file, (long long)json_integer_value(v), CUST_STATE_VERSION);
  if (!json_is_object(j) || !json_is_integer(v) || upgrade(j) ||
      !json_is_array(json_object_get(j, "approvals")) ||
      !json_is_object(json_object_get(j, "decisions")) ||
      !json_is_object(json_object_get(j, "pins")))
    return ctl_err(CTL_FAIL,
                   "%s is damaged: refusing to start without its limits and decisions "
                   "(restore it from backup)",
                   file);
  return CTL_OK;
}

int ctl_cust_open(ctl_cust_state *s, const char *dir)
{
  char lock[PATH_MAX], file[PATH_MAX];
  struct stat st;
  ke_buf b;
  json_error_t je;

  memset(s, 0, sizeof *s);
  s->lockfd = -1;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return ctl_err(CTL_FAIL, "cannot create the state directory %s: %s", dir, strerror(errno));
  if (ke_check_private(dir, 1, 1, &st) != KE_PRIV_OK)
    return ctl_err(CTL_FAIL,
                   "the state directory %s must be a directory of this user, mode 0700 "
                   "(its limits and pins are what stop a mass retrieval)",
                   dir);
  if (path_in(lock, sizeof lock, dir, "state.lock") ||
      path_in(file, sizeof file, dir, "state.json"))
    return CTL_FAIL;
  if ((s->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0 ||
      flock(s->lockfd, LOCK_EX) != 0) {
    ctl_errf("cannot lock %s: %s", lock, strerror(errno));
    ctl_cust_close(s);
    return CTL_FAIL;
  }
  if (access(file, F_OK) != 0) {
    s->j = json_pack("{s:i,s:n,s:n,s:I,s:I,s:[],s:{},s:{}}", "version", CUST_STATE_VERSION,
                     "tripped", "alarm", "rearmed", (json_int_t)0, "trips", (json_int_t)0,
                     "approvals", "decisions", "pins");
  } else if (ctl_read(&b, file, CUST_STATE_MAX, 0, "custodian state") == CTL_OK) {
    s->j = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &je);
    ke_buf_free(&b);
    if (check_state(s->j, file)) {
      ctl_cust_close(s);
      return CTL_FAIL;
    }
  }
  if (!s->j) {
    ctl_cust_close(s);
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_cust_snapshot(ctl_cust_state *snap, const char *dir)
{
  ctl_cust_state st;
  int rc = ctl_cust_open(&st, dir);

  memset(snap, 0, sizeof *snap);
  snap->lockfd = -1;
  if (rc)
    return rc;
  snprintf(snap->dir, sizeof snap->dir, "%s", dir);
  snap->j = json_deep_copy(st.j);
  ctl_cust_close(&st);
  return snap->j ? CTL_OK : CTL_FAIL;
}

int ctl_cust_commit(ctl_cust_state *s)
{
  char file[PATH_MAX], *text;
  int rc = CTL_FAIL;

  prune(s->j, ctl_cust_now());
  if (!json_object_set_new(s->j, "version", json_integer(CUST_STATE_VERSION)) &&
      path_in(file, sizeof file, s->dir, "state.json") == CTL_OK &&
      (text = json_dumps(s->j, JSON_INDENT(1) | JSON_SORT_KEYS))) {
    rc = ctl_write_replace(file, text, strlen(text), 0600);
    free(text);
  }
  ctl_cust_close(s);
  return rc;
}

void ctl_cust_close(ctl_cust_state *s)
{
  json_decref(s->j);
  s->j = NULL;
  if (s->lockfd >= 0)
    close(s->lockfd); /* releases the flock */
  s->lockfd = -1;
}

json_t *ctl_cust_decision(const ctl_cust_state *s, const char *request)
{
  return json_object_get(json_object_get(s->j, "decisions"), request);
}

int ctl_cust_decide(ctl_cust_state *s, const char *request, const char *decision, const char *rule,
                    const char *reason, const char *part, const char *requester, const char *device,
                    time_t now)
{
  json_t *d = json_pack("{s:I,s:s,s:s?,s:s?,s:s?,s:b}", "t", (json_int_t)now, "decision", decision,
                        "rule", rule, "reason", reason, "part", part, "done", 0);

  if (!d || json_object_set_new(json_object_get(s->j, "decisions"), request, d))
    return CTL_FAIL;
  if (strcmp(decision, "approve") == 0 &&
      json_array_append_new(json_object_get(s->j, "approvals"),
                            json_pack("{s:I,s:s,s:s,s:s}", "t", (json_int_t)now, "request", request,
                                      "requester", requester, "device", device)))
    return CTL_FAIL;
  return CTL_OK;
}

void ctl_cust_mark_done(ctl_cust_state *s, const char *request)
{
  json_t *d = ctl_cust_decision(s, request);

  json_object_set_new(d, "done", json_true());
  json_object_del(d, "part"); /* sent: nothing to send again */
}

const char *ctl_cust_pin(const ctl_cust_state *s, const char *user)
{
  return ctl_jstr(json_object_get(s->j, "pins"), user);
}

int ctl_cust_set_pin(ctl_cust_state *s, const char *user, const char *fpr_hex)
{
  return json_object_set_new(json_object_get(s->j, "pins"), user, json_string(fpr_hex)) ? CTL_FAIL
                                                                                        : CTL_OK;
}

time_t ctl_cust_last_approval(const ctl_cust_state *s, const char *device)
{
  json_t *a = json_object_get(s->j, "approvals"), *e;
  time_t last = 0;
  size_t i;

  json_array_foreach (a, i, e) {
    time_t t = (time_t)ctl_jint(e, "t");
    if (strcmp(ctl_jstr(e, "device") ?: "", device) == 0 && t > last)
      last = t;
  }
  return last;
}

/* Approvals since `from` (and since the last re-arm), of `requester` or of
 * everyone (NULL). */
static unsigned count_since(const ctl_cust_state *s, time_t from, const char *requester)
{
  json_t *a = json_object_get(s->j, "approvals"), *e;
  time_t rearmed = (time_t)ctl_jint(s->j, "rearmed");
  unsigned n = 0;
  size_t i;

  if (rearmed > from)
    from = rearmed;
  json_array_foreach (a, i, e) {
    if (ctl_jint(e, "t") < from)
      continue;
    if (!requester || strcmp(ctl_jstr(e, "requester") ?: "", requester) == 0)
      n++;
  }
  return n;
}

int ctl_cust_over_limit(const ctl_cust_state *s, const ctl_policy *p, const char *requester,
                        time_t now, char *what, size_t whatlen)
{
  const struct {
    unsigned limit;
    time_t window;
    const char *who, *name;
  } lim[] = {
    {p->requester_per_hour, 3600, requester, "limits.requester_per_hour"},
    {p->requester_per_day, CUST_DAY, requester, "limits.requester_per_day"},
    {p->total_per_hour, 3600, NULL, "limits.total_per_hour"},
    {p->total_per_day, CUST_DAY, NULL, "limits.total_per_day"},
  };

  for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
    if (lim[i].limit && count_since(s, now - lim[i].window, lim[i].who) + 1 > lim[i].limit) {
      snprintf(what, whatlen, "%s (%u%s%s) reached", lim[i].name, lim[i].limit,
               lim[i].who ? " for " : "", lim[i].who ? lim[i].who : "");
      return 1;
    }
  }
  return 0;
}

const char *ctl_cust_tripped(const ctl_cust_state *s)
{
  return ctl_jstr(json_object_get(s->j, "tripped"), "what");
}

int ctl_cust_trip(ctl_cust_state *s, const char *what, time_t now)
{
  json_int_t seq = ctl_jint(s->j, "trips") + 1;

  if (json_object_set_new(s->j, "trips", json_integer(seq)) ||
      json_object_set_new(
        s->j, "tripped",
        json_pack("{s:s,s:I,s:I}", "what", what, "time", (json_int_t)now, "seq", seq)) ||
      json_object_set_new(s->j, "alarm", json_pack("{s:I,s:[]}", "seq", seq, "sent")))
    return CTL_FAIL;
  return CTL_OK;
}

int ctl_cust_alarm_pending(const ctl_cust_state *s, const ctl_policy *p, json_int_t *seq)
{
  const json_t *a = json_object_get(s->j, "alarm");

  *seq = json_integer_value(json_object_get(a, "seq"));
  return json_is_object(a) && json_array_size(json_object_get(a, "sent")) < ctl_cust_channels(p);
}

int ctl_cust_alarm_was_sent(const ctl_cust_state *s, const char *channel)
{
  const json_t *e, *sent = json_object_get(json_object_get(s->j, "alarm"), "sent");
  size_t i;

  json_array_foreach (sent, i, e)
    if (strcmp(json_string_value(e) ?: "", channel) == 0)
      return 1;
  return 0;
}

void ctl_cust_alarm_mark(ctl_cust_state *s, json_int_t seq, const char *channel)
{
  json_t *a = json_object_get(s->j, "alarm");

  /* A re-arm and a new trip since the sending: that alarm is still due. */
  if (!a || ctl_jint(a, "seq") != seq || ctl_cust_alarm_was_sent(s, channel))
    return;
  json_array_append_new(json_object_get(a, "sent"), json_string(channel));
}

int ctl_cust_rearm(ctl_cust_state *s, time_t now)
{
  if (json_object_set_new(s->j, "tripped", json_null()) ||
      json_object_set_new(s->j, "alarm", json_null()) ||
      json_object_set_new(s->j, "rearmed", json_integer((json_int_t)now)))
    return CTL_FAIL;
  return CTL_OK;
}

int ctl_cust_log_add(ke_buf *lines, const char *request, const char *event, const char *rule,
                     const char *reason)
{
  char ts[32], *line;
  time_t now = time(NULL);
  struct tm tm;
  json_t *j;
  int rc;

  gmtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  j = json_pack("{s:s,s:s,s:s,s:s?,s:s?}", "time", ts, "request", request, "event", event, "rule",
                rule, "reason", reason);
  line = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  rc = line && ke_buf_append(lines, line, strlen(line)) == KE_OK &&
           ke_buf_append(lines, "\n", 1) == KE_OK
         ? CTL_OK
         : CTL_FAIL;
  free(line);
  return rc;
}

int ctl_cust_log_flush(const char *dir, ke_buf *lines)
{
  char file[PATH_MAX];
  size_t off = 0;
  int fd = -1, ok = 0;

  if (!lines->len)
    return CTL_OK;
  if (path_in(file, sizeof file, dir, "decisions.log") == CTL_OK &&
      (fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0) {
    while (off < lines->len) {
      ssize_t n = write(fd, lines->p + off, lines->len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      off += (size_t)n;
    }
    ok = off == lines->len && fsync(fd) == 0;
  }
  if (!ok)
    ctl_errf("cannot append to %s/decisions.log: %s", dir, strerror(errno));
  if (fd >= 0)
    close(fd);
  ke_buf_free(lines);
  return ok ? CTL_OK : CTL_FAIL;
}

int ctl_cust_log(const char *dir, const char *request, const char *event, const char *rule,
                 const char *reason)
{
  ke_buf lines = {0};

  if (ctl_cust_log_add(&lines, request, event, rule, reason)) {
    ke_buf_free(&lines);
    return CTL_FAIL;
  }
  return ctl_cust_log_flush(dir, &lines);
}

/* ---- the alarm ------------------------------------------------------------- */

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
