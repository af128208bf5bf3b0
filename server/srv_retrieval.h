/*
 * srv_retrieval.h - what the retrieval endpoints (srv_ep_retrievals*.c)
 * share: one request read from RET_GET, its request file (docs/protocol.md
 * 5.3), its public view, and the closing of expired requests.
 */
#ifndef SRV_RETRIEVAL_H
#define SRV_RETRIEVAL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "srv_config.h"
#include "srv_db.h"
#include "srv_http.h"

#define SRV_RET_ID_LEN 30                /* "req-" + 26 base32 */
#define SRV_RET_EXPIRY_DEFAULT (24 * 3600)
#define SRV_RET_WAIT_MAX 300             /* seconds a long-poll may ask for */
#define SRV_RET_WAITERS_DEFAULT 4096     /* suspended long-polls at once */

/* RET_GET columns. */
enum srv_ret_col {
  SRV_RC_ID, SRV_RC_RECORD, SRV_RC_REQUESTER_ID, SRV_RC_REQUESTER, SRV_RC_PERSON,
  SRV_RC_E, SRV_RC_REASON, SRV_RC_TICKET, SRV_RC_CODE, SRV_RC_THRESHOLD, SRV_RC_STATE,
  SRV_RC_CREATED, SRV_RC_EXPIRES, SRV_RC_CLOSED, SRV_RC_DEVICE, SRV_RC_HOSTNAME,
  SRV_RC_VOLUME, SRV_RC_KEY_TYPE, SRV_RC_KEY_ID, SRV_RC_RECORD_STATE, SRV_RC_FPR,
  SRV_RC_ENV_SHA, SRV_RC_ENVELOPE, SRV_RC_MANIFEST, SRV_RC_LEAF, SRV_RC_NPARTS,
  SRV_RC_INDICES, SRV_RC_AGE, SRV_RC_PAST_EXPIRY, SRV_RC_ESCROW_LEAF,
  /* schema 013: the signed statement's fields and the requester's keys */
  SRV_RC_NAMED_DEVICE, SRV_RC_NAMED_VOLUME, SRV_RC_NAMED_KEY_ID, SRV_RC_KEY_PUBLIC,
  SRV_RC_NONCE, SRV_RC_SIGNATURE, SRV_RC_KEY_FPR, SRV_RC_KEY_HISTORY, SRV_RC_KEY_CURRENT,
  /* schema 017 */
  SRV_RC_DECLINES,
  SRV_RC_REQUESTER_ROLE, SRV_RC_DEVICE_GROUP,
};

/* Close the requests whose time ran out (audited request.expired; waiters
 * woken).  Runs inside the caller's transaction. */
enum srv_db_status srv_ret_expire(struct srv_db *db, struct srv_request *req);
/* The same in a transaction of its own, before the caller's: its read of
 * every pending request must not be part of a busy transaction that
 * inserts one (creates, queue reads), or concurrent ones fail each other's
 * serialization (HTTP 503 db_conflict under load). */
enum srv_db_status srv_ret_expire_due(struct srv_request *req);

/* Before a custodian's change to request `id` (a part, a decline): close
 * what expired, then lock the request's row.  SRV_DB_OK with its state
 * ("pending", "completed", "expired") in state[16], or "" when there is
 * no such request. */
enum srv_db_status srv_ret_lock(struct srv_db *db, struct srv_request *req, const char *id,
                                char state[16]);

/* RET_GET for `id`: *res (PQclear it) with 0 or 1 rows. */
enum srv_db_status srv_ret_get(struct srv_db *db, const char *id, PGresult **res);

/* The request file of row 0 (docs/protocol.md 5.3) as a JSON object; NULL
 * if the stored data does not make one (logged).  With the requester's
 * signed statement ("requester") when the row has its public key (requests
 * made since schema 013), exactly as stored: custodians verify it. */
json_t *srv_ret_request_file(const PGresult *r);

/* The status view of row 0: everything but the envelope; with the audit
 * leaf of the record's escrow.store event (escrow_event, its exact text),
 * so that a custodian can check its inclusion in the signed log, and the
 * requester's client key: fingerprint, registration, history
 * (requester_key). */
json_t *srv_ret_view(const PGresult *r);

/* Is the caller the requester of row 0? */
int srv_ret_is_requester(const struct srv_request *req, const PGresult *r);

int srv_ret_id_ok(const char *s);

/* Settings of serve (retrieval_expiry); defaults without it. */
void srv_ret_init(const struct srv_config *cfg);
unsigned srv_ret_expiry(void);

/* Queue a webhook event about request `id` (public metadata only). */
enum srv_db_status srv_ret_hook(struct srv_db *db, const char *event, const char *id,
                                const char *device, const char *volume, long long parts,
                                long long needed);

/* A person's registered client key (schema 013), which signs their
 * retrieval requests, drills and statements (srv_client_key.c). */
struct srv_client_key {
  uint8_t pub[32];
  char pub_hex[65], fingerprint[65];
};
/* The key of account `user_id`: SRV_DB_OK with *found 1 (and *k filled)
 * or 0 (none registered); SRV_DB_ERROR (logged) for a stored key that does
 * not decode. */
enum srv_db_status srv_client_key_get(struct srv_db *db, const char *user_id,
                                      struct srv_client_key *k, int *found);

#endif
