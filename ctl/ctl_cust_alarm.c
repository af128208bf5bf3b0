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
  long long next[CTL_POLICY_MAX_LIST * 2]; /* monotonic milliseconds */
  unsigned delay[CTL_POLICY_MAX_LIST * 2];
} cust_backoff;

/* The one daemon of the process's. */
static cust_backoff alarm_backoff;

static long long mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int backoff_due(const cust_backoff *b, size_t channel)
{
  return channel >= CTL_POLICY_MAX_LIST * 2 || b->next[channel] <= mono_ms();
}

static void backoff_note(cust_backoff *b, size_t channel, int ok)
{
  unsigned d;

  if (channel >= CTL_POLICY_MAX_LIST * 2)
    return;
  d = ok ? 0 : !b->delay[channel] ? CUST_BACKOFF_FIRST : b->delay[channel] * 2;
  b->delay[channel] = d > CUST_BACKOFF_MAX ? CUST_BACKOFF_MAX : d;
  b->next[channel] = ok ? 0 : mono_ms() + 1000LL * b->delay[channel];
}

enum { ALARM_SKIP = 0, ALARM_DUE, ALARM_TOOK, ALARM_FAILED, ALARM_SKIP_WAITING };

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

/* Whole seconds, rounded up, until the first failed channel is due again
 * (0: now), or -1 when none waits. */
static int backoff_next(const cust_backoff *b, const int *state, size_t n)
{
  long long now = mono_ms(), best = -1;

  for (size_t i = 0; i < n && i < CTL_POLICY_MAX_LIST * 2; i++)
    if (state[i] == ALARM_FAILED || state[i] == ALARM_SKIP_WAITING) {
      long long in = b->next[i] > now ? b->next[i] - now : 0;
      if (best < 0 || in < best)
        best = in;
    }
  return best < 0 ? -1 : (int)((best + 999) / 1000);
}

int ctl_cust_alarm_deliver(const ctl_policy *p, const char *dir, unsigned index)
{
  ctl_cust_state st;
  char what[400], name[1100];
  json_int_t seq;
  int state[CTL_POLICY_MAX_LIST * 2] = {0}, took = 0;
  size_t n = ctl_cust_channels(p);
  time_t t;

  if (ctl_cust_open(&st, dir))
    return -1;
  if (!ctl_cust_alarm_pending(&st, p, &seq)) {
    ctl_cust_close(&st);
    return -1;
  }
  snprintf(what, sizeof what, "%s", ctl_cust_tripped(&st) ?: "a limit");
  t = (time_t)ctl_jint(json_object_get(st.j, "tripped"), "time");
  for (size_t i = 0; i < n; i++) {
    ctl_cust_channel_name(p, i, name, sizeof name);
    state[i] = ctl_cust_alarm_was_sent(&st, name) ? ALARM_SKIP
               : backoff_due(&alarm_backoff, i)   ? ALARM_DUE
                                                  : ALARM_SKIP_WAITING;
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
      return 0; /* not recorded: it goes out again, and is logged then */
    log_alarm(p, dir, state, n, ALARM_TOOK, what);
  }
  log_alarm(p, dir, state, n, ALARM_FAILED, what);
  return backoff_next(&alarm_backoff, state, n);
}
