/*
 * srv_audit.h - the audit log of escrowd.
 *
 * Every security-relevant action appends exactly one event IN THE SAME
 * TRANSACTION as the change it records: if the event cannot be written, the
 * transaction (and so the action) fails.  Events are queued inside the
 * caller's transaction and given their leaf index (seq) by a sequencer that
 * runs after commit, so no lock is held across a request; see srv_audit.c
 * and docs/audit.md for why this keeps one gap-free tree with several
 * escrowd instances on one database.
 *
 * Events never contain secrets: no recovery key, share, part, password,
 * token or derived key may ever be passed in `details`.
 */
#ifndef SRV_AUDIT_H
#define SRV_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "srv_db.h"
#include "srv_http.h"

struct srv_audit_event {
  const char *action;    /* dotted verb, e.g. "user.create", "auth.login" */
  const char *object;    /* what it acted on, e.g. "user:bob"; NULL if none */
  const char *outcome;   /* "success", "failure" or "denied" */
  const json_t *details; /* extra facts (borrowed, may be NULL); no secrets */
  const char *actor;     /* NULL = derived from the request's principal */
};

/* Queue one event inside the caller's srv_db_txn() body.  `req` supplies the
 * request id, the source address and (unless ev->actor is set) the actor;
 * it may be NULL for events the server makes by itself ("system").
 * Returns SRV_DB_OK or the status the body must return to roll back. */
enum srv_db_status srv_audit_append(struct srv_db *db, struct srv_request *req,
                                    const struct srv_audit_event *ev);

/* srv_audit_append of a "success" by the request's principal on the object
 * "kind:id" (kind NULL: none), with details d, which it takes over: d NULL
 * (a json_pack that failed) is SRV_DB_ERROR. */
enum srv_db_status srv_audit_success(struct srv_db *db, struct srv_request *req, const char *action,
                                     const char *kind, const char *id, json_t *d);

/* Record an event in a transaction of its own, for outcomes that change
 * nothing else (a refused login, a denied request).  0 on success. */
int srv_audit_record(struct srv_request *req, const struct srv_audit_event *ev);

/* After the caller's transaction committed: make sure everything queued so
 * far is sequenced, and return the leaf index of the last event this thread
 * appended (for receipts).  0 on success. */
int srv_audit_sequence_mine(int64_t *leaf_index);

/* `escrowd serve` only, after srv_db_init: load (or create, 0600) the log
 * key of cfg->audit_key_file named cfg->audit_origin, start the background
 * sequencer and checkpointer (and syslog when configured), and record
 * "server.start".  0, or -1 after logging why (serve must not start).
 * srv_audit_stop records "server.stop", sequences what is queued, signs a
 * last checkpoint and stops the threads. */
int srv_audit_start(const struct srv_config *cfg);
void srv_audit_stop(void);

#endif
