/*
 * ke_retrieval.h - the statement a helpdesk client key signs when it asks
 * for an online retrieval (docs/protocol.md, "Online retrieval").
 *
 *   "keyescrow-v1-retrieval-request\n"
 *   "id=<request id>\n" "device=<device or empty>\n" "volume=<volume or empty>\n"
 *   "key_id=<Key ID prefix or empty>\n" ["record=<record id>\n"]
 *   "E=<base64url of E>\n" "reason=<reason>\n" "ticket=<ticket>\n" "nonce=<nonce>\n"
 *
 * The record line is there only when the requester named one record by
 * its id (an older, superseded or rotated one: `retrieve --record`), so a
 * request for the current record signs the very bytes it always did.
 *
 * Every field is checked to hold no newline (and no control character), so
 * the statement parses back in exactly one way.
 *
 * A request file (ke_files.h) may carry this statement, its signature and
 * the requester's public key as its optional member "requester"
 * (docs/protocol.md 5.3): then every reader of the file - `approve`,
 * offline `part`, `retrieve` - verifies the signature over the file's own
 * request id and E, so that E cannot be swapped without the requester's
 * key.  Whose key it is, is the reader's question: custodians compare its
 * fingerprint with the one they pinned (ctl_pins.h).
 */
#ifndef KE_RETRIEVAL_H
#define KE_RETRIEVAL_H

#include <stddef.h>
#include <stdint.h>

#define KE_RETRIEVAL_STMT_MAX 2048

/* The fields; device/volume/key_id may be NULL (written as empty), record
 * NULL or "" (no line). */
typedef struct ke_retrieval_fields {
  const char *id, *device, *volume, *key_id, *E, *reason, *ticket, *nonce, *record;
} ke_retrieval_fields;

/* Write the statement into out (NUL terminated); returns its length, or 0
 * when a field holds a control character or it does not fit. */
size_t ke_retrieval_statement(char out[KE_RETRIEVAL_STMT_MAX], const ke_retrieval_fields *f);

/* ---- the "requester" member of a request file ------------------------------ */
#define KE_RETRIEVAL_USER_MAX 63  /* account names: ^[a-z][a-z0-9._-]{0,62}$ */
#define KE_RETRIEVAL_NAME_MAX 256 /* device (id or hostname), volume */
#define KE_RETRIEVAL_KEYID_MAX 64
#define KE_RETRIEVAL_RECORD_LEN 30 /* "rec-" + 26 of a-z2-7 */
#define KE_RETRIEVAL_REASON_MAX 500
#define KE_RETRIEVAL_TICKET_MAX 128
#define KE_RETRIEVAL_NONCE_LEN 22 /* base64url of 16 bytes */
#define KE_RETRIEVAL_PUB_LEN 32   /* Ed25519 */
#define KE_RETRIEVAL_SIG_LEN 64

typedef struct ke_retrieval_signed {
  char user[KE_RETRIEVAL_USER_MAX + 1];
  uint8_t public_key[KE_RETRIEVAL_PUB_LEN];
  uint8_t fingerprint[32]; /* SHA-256(public_key), recomputed */
  /* How the requester named the record, as signed ("" = not given): */
  char device[KE_RETRIEVAL_NAME_MAX + 1];
  char volume[KE_RETRIEVAL_NAME_MAX + 1];
  char key_id[KE_RETRIEVAL_KEYID_MAX + 1];
  char record[KE_RETRIEVAL_RECORD_LEN + 1]; /* "" unless named by record id */
  char reason[KE_RETRIEVAL_REASON_MAX + 1];
  char ticket[KE_RETRIEVAL_TICKET_MAX + 1];
  char nonce[KE_RETRIEVAL_NONCE_LEN + 1];
  uint8_t signature[KE_RETRIEVAL_SIG_LEN];
} ke_retrieval_signed;

/* 1 if s->signature is the Ed25519 signature by s->public_key of the
 * statement of request `id` with one-time key E (33 bytes, compressed), and
 * s's other fields; 0 otherwise (also for fields the statement refuses). */
int ke_retrieval_verify(const ke_retrieval_signed *s, const char *id, const uint8_t E[33]);

/* SHA-256 of a client key: its fingerprint (pins, audit events). 0 on
 * success. */
int ke_retrieval_fingerprint(uint8_t out[32], const uint8_t pub[KE_RETRIEVAL_PUB_LEN]);

#endif
