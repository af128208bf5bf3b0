/*
 * agent_sign.h - the device's Ed25519 key and the signatures of
 * docs/agent-protocol.md:
 *
 *   request (section 2)   "keyescrow-v1-request\n" METHOD "\n" TARGET "\n"
 *                         TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body)) "\n"
 *   envelope (section 4)  envelope || device_id || 0x00 || volume_id
 *
 * The key file is PKCS#8 PEM, mode 0600, created without ever replacing an
 * existing file, and refused on load if group or others may read it.
 * Functions return ke_rc; nothing here logs.
 */
#ifndef AGENT_SIGN_H
#define AGENT_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ke_util.h"

#define AGENT_SIG_LEN 64
#define AGENT_PUB_LEN 32
#define AGENT_SEED_LEN 32
#define AGENT_NONCE_LEN 16
#define AGENT_HDR_NONCE_LEN 22 /* base64url of 16 bytes */
#define AGENT_HDR_SIG_LEN 86   /* base64url of 64 bytes */
#define AGENT_REQUEST_LABEL "keyescrow-v1-request"

typedef struct agent_key agent_key;

ke_rc agent_key_generate(agent_key **out);
ke_rc agent_key_from_seed(agent_key **out, const uint8_t seed[AGENT_SEED_LEN]);
void agent_key_free(agent_key *k);
void agent_key_public(const agent_key *k, uint8_t pub[AGENT_PUB_LEN]);
/* errno EEXIST if the file exists (it is never replaced). */
ke_rc agent_key_save(const agent_key *k, const char *path);
/* KE_ERR_IO with errno EPERM for a file group or others may access, or
 * one that is not a regular file. */
ke_rc agent_key_load(agent_key **out, const char *path);

ke_rc agent_sign(const agent_key *k, const uint8_t *msg, size_t len, uint8_t sig[AGENT_SIG_LEN]);

/* The signed message of a request, malloc'd (not NUL terminated; *len). */
ke_rc agent_request_message(uint8_t **out, size_t *len, const char *method, const char *target,
                            const char *timestamp, const char *nonce, const uint8_t *body,
                            size_t bodylen);

/* The three header values of a signed request (X-KE-Timestamp, X-KE-Nonce,
 * X-KE-Signature) for the given time and nonce. */
typedef struct agent_req_sig {
  char timestamp[24];
  char nonce[AGENT_HDR_NONCE_LEN + 1];
  char signature[AGENT_HDR_SIG_LEN + 1];
} agent_req_sig;
ke_rc agent_sign_request_det(agent_req_sig *out, const agent_key *k, const char *method,
                             const char *target, time_t ts, const uint8_t nonce[AGENT_NONCE_LEN],
                             const uint8_t *body, size_t bodylen);
/* Now, with a fresh random nonce. */
ke_rc agent_sign_request(agent_req_sig *out, const agent_key *k, const char *method,
                         const char *target, const uint8_t *body, size_t bodylen);

/* Signature over envelope || device_id || 0x00 || volume_id. */
ke_rc agent_sign_envelope(const agent_key *k, const uint8_t *env, size_t envlen,
                          const char *device_id, const char *volume_id, uint8_t sig[AGENT_SIG_LEN]);

#endif
