/*
 * ctl_custodian.h - what a policy custodian (`escrowctl custodian serve`)
 * keeps on its own host, in its state directory (0700):
 *
 *   state.json     the durable state, rewritten atomically under a lock
 *                  (held for the file only, never across the network):
 *                  the approvals of the last month (limits and cool-downs
 *                  count them), the decision on every request of the last
 *                  week and whether it was carried out, the requester key
 *                  pins, and whether a limit tripped (then every request is
 *                  declined until `escrowctl custodian rearm`, so a restart
 *                  re-arms nothing) with the channels its alarm reached;
 *                  its "version" (ctl_custodian.c) is checked at every open
 *   decisions.log  one JSON line per decision and per outcome, appended and
 *                  synced before the decision is acted on; never a secret
 *   serve.lock     held by the one daemon of this directory
 *
 * A decision is written (and synced) before its part or decline is sent,
 * and marked done after: a daemon killed in between finds it undone at
 * start and sends it again - the very bytes decided, so that a server
 * cannot fail a send to get a part of something else on the retry.  The
 * server keeps one part per custodian index, so a repeat never makes a
 * second.
 */
#ifndef CTL_CUSTODIAN_H
#define CTL_CUSTODIAN_H

#include <jansson.h>
#include <limits.h>
#include <time.h>

#include "ctl_policy.h"
#include "ke_cli.h"

typedef struct ctl_cust_state {
  char dir[PATH_MAX];
  int lockfd;
  json_t *j;
} ctl_cust_state;

/* Lock the state directory's state (created 0700 if missing) and read it.
 * CTL_OK or an exit code (printed). */
int ctl_cust_open(ctl_cust_state *s, const char *dir);
/* A copy of the state, read under the lock and released at once: for the
 * checks that go to the network (free with json_decref(snap->j)). */
int ctl_cust_snapshot(ctl_cust_state *snap, const char *dir);
/* Write it back (atomically, synced) and unlock; or unlock without writing. */
int ctl_cust_commit(ctl_cust_state *s);
void ctl_cust_close(ctl_cust_state *s);

/* The daemon's clock: time(NULL).  In the test build only
 * (escrowctl-testhooks, KE_CTL_TEST_HOOKS) $ESCROWCTL_CUSTODIAN_NOW
 * (seconds since the epoch) sets it, for the tests of time rules; the
 * installed escrowctl never reads it. */
time_t ctl_cust_now(void);

/* The recorded decision on `request` (borrowed), or NULL. */
json_t *ctl_cust_decision(const ctl_cust_state *s, const char *request);
/* Record a decision ("approve" with its sealed part in base64url, made
 * now so that a resend sends exactly these bytes and never a part of what
 * the server serves later; or "decline" with rule and reason) as not yet
 * done; an approval is also counted against the limits. */
int ctl_cust_decide(ctl_cust_state *s, const char *request, const char *decision, const char *rule,
                    const char *reason, const char *part, const char *requester, const char *device,
                    time_t now);
void ctl_cust_mark_done(ctl_cust_state *s, const char *request);

/* The pinned client key fingerprint (hex) of `user`, or NULL. */
const char *ctl_cust_pin(const ctl_cust_state *s, const char *user);
int ctl_cust_set_pin(ctl_cust_state *s, const char *user, const char *fpr_hex);

/* When this daemon last approved for `device` (0: not in the last day). */
time_t ctl_cust_last_approval(const ctl_cust_state *s, const char *device);

/* The limits: 0 when one more approval for `requester` stays within them;
 * otherwise 1 with the limit's description in what. */
int ctl_cust_over_limit(const ctl_cust_state *s, const ctl_policy *p, const char *requester,
                        time_t now, char *what, size_t whatlen);
/* Tripped: the limit's description (borrowed), or NULL when armed. */
const char *ctl_cust_tripped(const ctl_cust_state *s);
/* Trip (a new trip number), with its alarm due on every channel. */
int ctl_cust_trip(ctl_cust_state *s, const char *what, time_t now);
/* Is the alarm of trip *seq still due on some channel of p? */
int ctl_cust_alarm_pending(const ctl_cust_state *s, const ctl_policy *p, json_int_t *seq);
int ctl_cust_alarm_was_sent(const ctl_cust_state *s, const char *channel);
/* Channel delivered the alarm of trip seq (ignored for another trip). */
void ctl_cust_alarm_mark(ctl_cust_state *s, json_int_t seq, const char *channel);
/* Re-arm (the local command): the trip is cleared and the limits count
 * from now. */
int ctl_cust_rearm(ctl_cust_state *s, time_t now);

/* Append one line to decisions.log and sync it.  CTL_OK or CTL_FAIL. */
int ctl_cust_log(const char *dir, const char *request, const char *event, const char *rule,
                 const char *reason);
/* The same for many lines with one sync (a queue round): add each line to
 * `lines` (zeroed first), then flush appends them all, syncs once and
 * frees the buffer.  CTL_OK or CTL_FAIL (printed by flush). */
int ctl_cust_log_add(ke_buf *lines, const char *request, const char *event, const char *rule,
                     const char *reason);
int ctl_cust_log_flush(const char *dir, ke_buf *lines);

/* The alarm channels of the policy: its webhooks, then its mail
 * addresses; a channel's name (the URL, or mailto:ADDRESS) records its
 * delivery.  Send the alarm of a trip on one: 1 once it took it. */
size_t ctl_cust_channels(const ctl_policy *p);
void ctl_cust_channel_name(const ctl_policy *p, size_t i, char *out, size_t n);
/* What decisions.log says of a channel: mailto:ADDRESS, or a webhook's
 * scheme, host and port only (its path, query or user may be its secret,
 * as in a chat's incoming-webhook URL). */
void ctl_cust_channel_label(const ctl_policy *p, size_t i, char *out, size_t n);
int ctl_cust_alarm_send(const ctl_policy *p, size_t channel, unsigned index, const char *what,
                        time_t when);

/* Deliver the alarm of a due trip on each channel that has not had it
 * (the channels that took it are marked in the state) and is not waiting
 * out a failure: a channel that failed is asked again after 5 seconds,
 * then 10, 20, ... at most 5 minutes, until it takes one (in memory: a
 * restarted daemon tries every channel at once).  decisions.log gets an
 * "alarm" line with the channels that took it and an "alarm_failed" line
 * with those that did not (labels, after the limit in the reason).  Errors are printed.
 * Returns the seconds until a channel that failed is due again, or -1
 * when no alarm waits: the daemon's queue wait is no longer than that, so
 * an idle queue does not hold back the alarm's next attempt. */
int ctl_cust_alarm_deliver(const ctl_policy *p, const char *dir, unsigned index);

#endif
