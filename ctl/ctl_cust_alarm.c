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

enum { ALARM_SKIP = 0, ALARM_DUE, ALARM_TOOK, ALARM_FAILED };

/* One decisions.log line naming the channels in state `which`, if any:
 * "alarm" (they took it) or "alarm_failed", the channels' labels after
 * the limit in its reason. */
static void log_alarm(const ctl_policy *p, const char *dir, const int *state, size_t n, int which,
                      const char *what)
{
  char label[1100], reason[2000];
  size_t len = (size_t)snprintf(reason, sizeof reason, "%s; channels:", what), k = 0;

  for (size_t i = 0; i < n && len < sizeof reason; i++)
    if (state[i] == which) {
      ctl_cust_channel_label(p, i, label, sizeof label);
      len += (size_t)snprintf(reason + len, sizeof reason - len, "%s %s", k++ ? "," : "", label);
    }
  if (k)
    ctl_cust_log(dir, "-", which == ALARM_TOOK ? "alarm" : "alarm_failed", "rate_limit", reason);
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
