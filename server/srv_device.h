/*
 * srv_device.h - what the device API shares (docs/agent-protocol.md):
 * identifiers and value rules, signed agent requests and their nonces, and
 * small helpers of the srv_ep_enroll/device_keys/checkin/devices/
 * escrow_key/enroll_tokens endpoints.
 *
 *   srv_device_auth.c   signed requests: headers, signature, clock skew,
 *                       nonces (replay protection)
 *   srv_device_util.c   ids, value checks, Ed25519, escrow key rows,
 *                       receipts
 */
#ifndef SRV_DEVICE_H
#define SRV_DEVICE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "srv_auth.h"
#include "srv_config.h"
#include "srv_db.h"
#include "srv_http.h"

#define SRV_DEV_ID_LEN 30    /* "dev-" / "rec-" + 26 base32 characters */
#define SRV_DEV_PUB_LEN 32   /* Ed25519 public key */
#define SRV_DEV_SIG_LEN 64   /* Ed25519 signature */
#define SRV_DEV_NONCE_LEN 16 /* X-KE-Nonce, decoded */
#define SRV_DEV_NONCE_B64 22
#define SRV_DEV_VOLUME_MAX 128 /* [A-Za-z0-9._:-]{1,128} */
#define SRV_DEV_KEY_ID_MAX 128 /* printable ASCII */
#define SRV_DEV_HOST_MAX 255   /* hostname: bytes of UTF-8 text */
#define SRV_DEV_SERIAL_MAX 128
#define SRV_DEV_OS_MAX 128
#define SRV_DEV_HW_MAX 4096 /* hardware facts, bytes of compact JSON */
#define SRV_DEV_HW_MEMBERS 32
#define SRV_DEV_GROUP_MAX 64 /* [A-Za-z0-9][A-Za-z0-9._:-]{0,63} */
#define SRV_DEV_AGENT_VERSION_MAX 64
#define SRV_DEV_CHECKIN_VOLUMES 256
#define SRV_ENROLL_TOKEN_LEN 47 /* "ket_" + 43 base64url (32 bytes) */
#define SRV_HEX_SHA256 65       /* 64 hex digits + NUL */

/* Settings from the configuration (srv_device_init, before serving). */
struct srv_device_settings {
  unsigned clock_skew;       /* agent_clock_skew, seconds */
  unsigned checkin_interval; /* agent_checkin_interval, seconds */
};
extern struct srv_device_settings srv_device_cfg;
void srv_device_init(const struct srv_config *cfg);

/* ---- signed requests (srv_device_auth.c) ------------------------------- */
/* Does the request carry agent signature headers (X-KE-Device)? */
int srv_device_signed(struct srv_request *req);
/* For srv_auth_authenticate(): verify a signed request of an enrolled
 * device, fill *p (kind DEVICE, role AGENT), and enforce that the route is
 * an agent route under the device's own /v1/devices/{id}/.  1 = the handler
 * may run; 0 = an error reply was queued (*ret). */
int srv_device_authenticate(struct srv_request *req, struct srv_principal *p, enum MHD_Result *ret);
/* Proof of possession at enrolment: the request must be signed, with
 * X-KE-Device "new", by the key `pub` being enrolled.  Same return
 * convention. */
int srv_device_verify_new(struct srv_request *req, const uint8_t pub[SRV_DEV_PUB_LEN],
                          enum MHD_Result *ret);
/* The public key that signed `req` (after either function above). */
int srv_device_request_key(const struct srv_request *req, uint8_t pub[SRV_DEV_PUB_LEN]);
/* Inside the handler's transaction: store this request's nonce for
 * `device_id` and drop that device's expired ones.  *replayed = 1 (and
 * SRV_DB_ABORT) when the nonce was seen before: the transaction must roll
 * back, so that a replay changes nothing. */
enum srv_db_status srv_device_nonce_use(struct srv_db *db, struct srv_request *req,
                                        const char *device_id, int *replayed);

/* The signature headers of an agent request, parsed (syntax only). */
#define SRV_DEV_TS_MAX 19
struct srv_dev_sig {
  const char *device; /* X-KE-Device, as sent (checked against the path later) */
  long long ts;       /* X-KE-Timestamp */
  char nonce[SRV_DEV_NONCE_B64 + 1];
  uint8_t sig[SRV_DEV_SIG_LEN];
  const char *ts_text;
};
/* X-KE-Device, -Timestamp, -Nonce and -Signature (any may be NULL: absent)
 * into *s.  NULL, or what is wrong (the 401's message).  No HTTP: the fuzz
 * target calls it. */
const char *srv_device_headers_parse(const char *device, const char *ts, const char *nonce,
                                     const char *sig, struct srv_dev_sig *s);
/* The signed message of docs/agent-protocol.md section 2 (malloc'd, its
 * length in *len), or NULL. */
char *srv_device_signed_message(const char *method, const char *path, const struct srv_dev_sig *s,
                                const uint8_t body_sha256[32], size_t *len);

/* ---- values and helpers (srv_device_util.c) ---------------------------- */
/* New ids are ke_b32_id_new's. */
int srv_device_id_ok(const char *s, const char *prefix);
int srv_device_volume_ok(const char *s);
int srv_device_key_id_ok(const char *s);
int srv_device_group_ok(const char *s);
/* SHA-256 of an enrolment token's text; -1 unless it has the token shape
 * (srv_ep_enroll_tokens.c). */
int srv_enroll_token_hash(const char *token, uint8_t hash[32]);
/* Ed25519 verification: 1 if `sig` is a valid signature of msg by pub. */
int srv_device_ed25519_ok(const uint8_t pub[SRV_DEV_PUB_LEN], const uint8_t *msg, size_t len,
                          const uint8_t sig[SRV_DEV_SIG_LEN]);

/* The manifest of an escrow key row as a JSON object (new reference), or
 * NULL if the stored text does not parse (logged: it was validated when
 * published). */
json_t *srv_device_manifest_json(const char *text);
/* The audit log's public key as a C2SP verifier key and its origin (the
 * key name), for enrolment answers.  0 or -1. */
int srv_device_log_key(char **vkey, const char **origin);
/* Sign a receipt (docs/agent-protocol.md section 4) with the log key;
 * *note malloc'd.  0 or -1. */
int srv_device_receipt(const char *device_id, const char *volume_id, const char *record_id,
                       const char *envelope_sha256, int64_t leaf_index, const char *created,
                       char **note);

#endif
