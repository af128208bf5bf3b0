/*
 * ctl_custodian_batch.h - one round of a policy custodian's queue
 * (`escrowctl custodian serve`): every request one queue answer lists.
 *
 *   begin    the listed ids (each a request id, each once), sorted by what
 *            the state says: decided and done (nothing to do), decided and
 *            not sent yet (send it again: a crash), or nobody decided
 *   judge    the caller's: the checks of each undecided request, on the
 *            round's snapshot of the state and its one view of the audit
 *            log (no lock is held: the checks go to the network)
 *   settle   under ONE lock of the state: the last word on every verdict,
 *            in the queue's order (limits, a trip, pins and cool-downs
 *            counted with the approvals made before it in the same round),
 *            each approval's part made; ONE commit of state.json and ONE
 *            synced append to decisions.log for all of them
 *   send     every recorded decision, exactly the bytes decided
 *   done     the sent ones marked done: one commit, one synced append
 *
 * The durability rule of ctl_custodian.h is unchanged: nothing is sent
 * before the commit that records it (and the log line of it) is on disk,
 * a resend sends the decided bytes, and the server keeps one part per
 * custodian index.  A round costs a few syncs however many requests it
 * has, instead of some six per request.
 */
#ifndef CTL_CUSTODIAN_BATCH_H
#define CTL_CUSTODIAN_BATCH_H

#include <jansson.h>
#include <time.h>

#include "ctl_approve.h"
#include "ctl_custodian.h"
#include "ctl_http.h"
#include "ke_files.h"

/* What the checks found (custodian serve's judge()). */
typedef struct ctl_cust_verdict {
  char rule[CTL_POLICY_RULE_MAX];
  char why[600];
  int pin_now; /* approve only with the requester's key pinned now (first sight) */
} ctl_cust_verdict;

/* The judge's answer: approve, decline, or no decision yet (the server
 * away, the token refused: not the request's fault). */
enum { CTL_CUST_APPROVE = 0, CTL_CUST_DECLINE = 1, CTL_CUST_LATER = -1 };

typedef struct ctl_cust_item {
  char id[KE_B32_ID_LEN + 1];
  char created[24]; /* the queue's "created" (ISO 8601, UTC): the round's order */
  size_t at;        /* its place in the queue answer */
  int todo;         /* nobody decided it: the caller judges it */
  int verdict;      /* CTL_CUST_*, set by the caller's judge */
  ke_request *r;    /* the request fetched for the judge (allocated by it) */
  ctl_cust_verdict v;
  json_t *dec; /* the recorded decision to send (a copy), or NULL */
  int sent;
} ctl_cust_item;

typedef struct ctl_cust_batch {
  ctl_cust_item *it;
  size_t n;
  ctl_cust_state snap; /* the state as the round began: what the checks see */
  ctl_approve_log log; /* the round's one view of the audit log */
} ctl_cust_batch;

/* The round of queue answer `queue` ({"retrievals": [{"request_id"...}]}):
 * an id that is not a request id ("req-" and 26 of a-z2-7) is skipped
 * with a message, a repeated one is taken once.  The items are in the
 * order the requests were made, oldest first (the server lists newest
 * first): the oldest gets the first approval when a limit is near, and
 * the first part sent.  Every item starts as
 * CTL_CUST_LATER.  CTL_OK or an exit code (printed); free in either case. */
int ctl_cust_batch_begin(ctl_cust_batch *b, const json_t *queue, const char *dir);

/* Settle every judged item (see above) with share d of custodian `index`
 * at time `now`; *decided is how many were decided.  CTL_OK or an exit
 * code (printed): then none of this round's decisions is sent. */
int ctl_cust_batch_settle(ctl_cust_batch *b, const char *dir, const ctl_policy *p, unsigned index,
                          const ke_scalar *d, time_t now, size_t *decided);

/* Send every recorded decision of the round: how many the server has now
 * (2xx, or 409: this index gave its part or decline before). */
size_t ctl_cust_batch_send(ctl_cust_batch *b, ctl_http *h);

/* Mark the sent ones done.  CTL_OK or an exit code (printed). */
int ctl_cust_batch_done(ctl_cust_batch *b, const char *dir);

void ctl_cust_batch_free(ctl_cust_batch *b);

#endif
