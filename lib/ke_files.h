/*
 * ke_files.h - the JSON files of keyescrow version 1 (docs/protocol.md):
 *
 *   escrow-key.json            the public escrow manifest       ke_manifest
 *   custodian-<i>.share.json   one custodian's sealed share     ke_sharefile
 *   request file               one retrieval, offline           ke_request
 *   requester key file         the one-time key e of a request  ke_reqkey
 *   part file                  one custodian's sealed part      ke_partfile
 *
 * Parsers are strict: the top level must be an object with exactly the
 * documented fields (an unknown or missing field is an error), "version" must
 * be 1, binary fields are base64url of exactly the right length, points are
 * validated with ke_point_parse, indices are range checked, and every value
 * that follows from others is recomputed and compared (a manifest's public
 * shares, public key and fingerprint; a request's confirmation code, and the
 * R and fingerprint inside its envelope).  On failure the rc says what kind
 * of error it was and `err` (may be NULL) names the field, e.g.
 * `field "commitments"[1]: invalid point`.  Error texts never contain values.
 *
 * The structures have fixed sizes and own no memory, so they need no free
 * function; ke_reqkey holds a secret scalar and should live in
 * ke_secure_alloc() memory (ke_wipe it otherwise).  Writers return a
 * NUL-terminated JSON text ending in a newline, malloc'd (ke_reqkey_write:
 * in ke_secure_alloc memory, release with ke_secure_free(out, outlen + 1)).
 */
#ifndef KE_FILES_H
#define KE_FILES_H

#include <time.h>

#include "ke_crypto.h"
#include "ke_retrieval.h"

#define KE_FILE_VERSION 1
#define KE_FILE_MAX (256 * 1024) /* parsers refuse larger inputs */
#define KE_NAME_MAX 64           /* custodian name, bytes of UTF-8 */
#define KE_ID_MAX 128            /* request id: [A-Za-z0-9._:-]{1,128} */
#define KE_LABEL_MAX 256         /* device and volume ids, bytes of UTF-8 */
#define KE_TIME_LEN 20           /* "YYYY-MM-DDTHH:MM:SSZ" */
#define KE_SALT_LEN 16
#define KE_ENV_MAX_LEN (KE_ENV_HDR_LEN + KE_SECRET_MAX + KE_TAG_LEN)
/* Bounds on a share file's scrypt parameters, so that a hostile file cannot
 * make `share verify` allocate gigabytes or run for minutes.  The memory
 * scrypt needs is about 128 * r * (N + p) bytes. */
#define KE_SCRYPT_N_MIN 1024
#define KE_SCRYPT_N_MAX (1u << 20)
#define KE_SCRYPT_R_MAX 32
#define KE_SCRYPT_P_MAX 16
#define KE_SCRYPT_MEM_MAX (256u * 1024 * 1024)

typedef struct ke_ferr {
  char msg[160];
} ke_ferr;

/* ---- escrow manifest ------------------------------------------------------ */
typedef struct ke_manifest {
  ke_escrow_pub pub;                          /* fully recomputed */
  char names[KE_MAX_SHARES][KE_NAME_MAX + 1]; /* custodian i at [i-1] */
  char created[KE_TIME_LEN + 1];
} ke_manifest;

ke_rc ke_manifest_parse(ke_manifest *m, const char *json, size_t len, ke_ferr *err);
ke_rc ke_manifest_write(char **out, size_t *outlen, const ke_manifest *m);

/* ---- share file ------------------------------------------------------------ */
typedef struct ke_sharefile {
  unsigned index;
  char name[KE_NAME_MAX + 1];
  uint8_t fingerprint[KE_FPR_LEN];
  ke_scrypt_params kdf;
  uint8_t salt[KE_SALT_LEN];
  uint8_t nonce[KE_NONCE_LEN];
  uint8_t sealed[KE_SHARE_SEALED_LEN];
} ke_sharefile;

ke_rc ke_sharefile_parse(ke_sharefile *s, const char *json, size_t len, ke_ferr *err);
ke_rc ke_sharefile_write(char **out, size_t *outlen, const ke_sharefile *s);
/* Seal d_index under a passphrase into a new share file structure (fresh
 * salt and nonce).  `s->name` is taken from `name`. */
ke_rc ke_sharefile_seal(ke_sharefile *s, const char *pass, size_t passlen, ke_scrypt_params kdf,
                        const uint8_t fpr[KE_FPR_LEN], unsigned index, const char *name,
                        const ke_scalar *d);
/* Unseal: KE_ERR_AUTH for a wrong passphrase or a tampered file. */
ke_rc ke_sharefile_unseal(ke_scalar *d, const ke_sharefile *s, const char *pass, size_t passlen);

/* ---- request file ----------------------------------------------------------- */
/* A request carries the escrow key's public parameters (t, N, commitments;
 * everything else of `pub` is recomputed and must hash to `fingerprint`), so
 * that `part` and `open` need no manifest: a custodian's share file pins the
 * fingerprint (its AAD binds it), the requester made the request.  `device`
 * and `volume` are the requester's words only: nothing offline ties them to
 * the envelope, which is why the envelope's SHA-256 is there to be compared
 * with the escrow record (docs/protocol.md, 5.3). */
typedef struct ke_request {
  char request_id[KE_ID_MAX + 1];
  char device[KE_LABEL_MAX + 1];
  char volume[KE_LABEL_MAX + 1];
  uint8_t fingerprint[KE_FPR_LEN]; /* the envelope's, and pub's */
  ke_escrow_pub pub;               /* rebuilt from t, N and the commitments */
  ke_point R;                      /* equal to the R inside the envelope */
  ke_point E;                      /* the requester's one-time public key */
  uint8_t envelope[KE_ENV_MAX_LEN];
  size_t envelope_len;         /* parses with ke_envelope_parse */
  uint8_t envelope_sha256[32]; /* ke_envelope_sha256 of the envelope */
  char code[KE_SAS_LEN + 1];   /* ke_sas(request_id, E, R) */
  char created[KE_TIME_LEN + 1];
  /* Optional "requester" (online requests; docs/protocol.md 5.3): the
   * requester's signed statement over request_id and E.  When present the
   * parser has verified the signature with requester.public_key, and a
   * given volume must be this request's; whose key it is, is for the
   * reader to check against a pin. */
  int has_requester;
  ke_retrieval_signed requester;
} ke_request;

ke_rc ke_request_parse(ke_request *r, const char *json, size_t len, ke_ferr *err);
/* Fills nothing in: R, fingerprint, pub, envelope_sha256 and code must
 * already be consistent with the envelope (the writer checks them like the
 * parser does). */
ke_rc ke_request_write(char **out, size_t *outlen, const ke_request *r);

/* ---- requester one-time key file --------------------------------------------- */
typedef struct ke_reqkey {
  char request_id[KE_ID_MAX + 1];
  ke_point E;
  ke_scalar e; /* secret; E = e*G is checked */
} ke_reqkey;

ke_rc ke_reqkey_parse(ke_reqkey *k, const char *json, size_t len, ke_ferr *err);
ke_rc ke_reqkey_write(char **out, size_t *outlen, const ke_reqkey *k);

/* ---- part file ----------------------------------------------------------------- */
typedef struct ke_partfile {
  char request_id[KE_ID_MAX + 1];
  unsigned index;
  uint8_t part[KE_PART_LEN]; /* ke_part_seal output, opened by ke_part_open */
} ke_partfile;

ke_rc ke_partfile_parse(ke_partfile *p, const char *json, size_t len, ke_ferr *err);
/* For naming a part file that does not parse: its "index" if the text is a
 * JSON object whose "index" is an integer in 1..255, else 0. */
unsigned ke_partfile_index_hint(const char *json, size_t len);
ke_rc ke_partfile_write(char **out, size_t *outlen, const ke_partfile *p);

/* ---- value rules shared with the server and the agent ---------------------------- */
int ke_id_valid(const char *s); /* request/drill id */
/* Strict UTF-8 text without control characters (C0 with NUL, DEL, C1) and
 * without invisible format characters (Unicode category Cf: bidi controls,
 * zero-width characters, BOM, soft hyphen, tags; and U+2028/U+2029). */
int ke_text_valid(const uint8_t *s, size_t len);
int ke_label_valid(const char *s, size_t max); /* 1..max bytes of ke_text_valid */
/* Current or given time as RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ". */
ke_rc ke_time_rfc3339(char out[KE_TIME_LEN + 1], time_t t);
int ke_time_valid(const char *s);
/* Make jansson wipe every block it frees (its parser keeps copies of string
 * tokens, e.g. a requester key, in freed memory otherwise).  Call once at
 * program start; blocks stay plain malloc() blocks, so free() remains right
 * for json_dumps() results. */
void ke_json_wipe_on_free(void);

#endif
