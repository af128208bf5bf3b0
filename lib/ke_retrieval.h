/*
 * ke_retrieval.h - the statement a helpdesk client key signs when it asks
 * for an online retrieval (docs/protocol.md, "Online retrieval").
 *
 *   "keyescrow-v1-retrieval-request\n"
 *   "id=<request id>\n" "device=<device or empty>\n" "volume=<volume or empty>\n"
 *   "key_id=<Key ID prefix or empty>\n" "E=<base64url of E>\n"
 *   "reason=<reason>\n" "ticket=<ticket>\n" "nonce=<nonce>\n"
 *
 * Every field is checked to hold no newline (and no control character), so
 * the statement parses back in exactly one way.
 */
#ifndef KE_RETRIEVAL_H
#define KE_RETRIEVAL_H

#include <stddef.h>

#define KE_RETRIEVAL_STMT_MAX 2048

/* The fields; device/volume/key_id may be NULL (written as empty). */
typedef struct ke_retrieval_fields {
  const char *id, *device, *volume, *key_id, *E, *reason, *ticket, *nonce;
} ke_retrieval_fields;

/* Write the statement into out (NUL terminated); returns its length, or 0
 * when a field holds a control character or it does not fit. */
size_t ke_retrieval_statement(char out[KE_RETRIEVAL_STMT_MAX], const ke_retrieval_fields *f);

#endif
