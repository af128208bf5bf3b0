/*
 * ke_crypto.h - keyescrow version-1 cryptography (docs/protocol.md, the
 * byte-exact specification).  Curve P-256; points travel as 33-byte SEC1
 * compressed encodings, scalars as 32-byte big-endian.
 *
 * Contract for every function:
 *  - inputs that come from outside are validated here (points on the curve
 *    and not infinity, scalars in [1, n-1], indices in [1, 255] and distinct,
 *    lengths in range); callers never need to pre-check;
 *  - secret scalars are only ever used in single-term multiplications
 *    (EC_POINT_mul with one of g_scalar / p_scalar), never in the two-term
 *    variable-time form, and arithmetic mod n on them is constant time
 *    (fixed-width code, not BIGNUM arithmetic: see ke_internal.h);
 *  - secret points (S = d*R, the parts P_i) are decoded and combined with
 *    OpenSSL temporaries in the secure heap, and cleared;
 *  - every intermediate secret is wiped before return, on every path;
 *  - `*_det` variants take the randomness as arguments and exist only so
 *    known-answer tests can reproduce the vectors byte for byte.
 */
#ifndef KE_CRYPTO_H
#define KE_CRYPTO_H

#include "ke_util.h"

#define KE_POINT_LEN 33
#define KE_SCALAR_LEN 32
#define KE_FPR_LEN 32
#define KE_NONCE_LEN 12
#define KE_TAG_LEN 16
#define KE_ENV_HDR_LEN 80 /* "KE" 01 | fpr(32) | R(33) | nonce(12) */
#define KE_SECRET_MIN 16
#define KE_SECRET_MAX 1024
#define KE_MAX_SHARES 255
#define KE_DLEQ_LEN (KE_POINT_LEN + 2 * KE_SCALAR_LEN)           /* P | c | s = 97 */
#define KE_PART_HDR_LEN 48                                       /* "KP" 01 | Re(33) | nonce(12) */
#define KE_PART_LEN (KE_PART_HDR_LEN + KE_DLEQ_LEN + KE_TAG_LEN) /* 161 */
#define KE_SHARE_SEALED_LEN (KE_SCALAR_LEN + KE_TAG_LEN)         /* 48 */
#define KE_SAS_LEN 8                                             /* base32 characters */
#define KE_VERIFIER_LEN 32
#define KE_KEY_LEN 32 /* AES-256-GCM key */

typedef struct {
  uint8_t b[KE_POINT_LEN];
} ke_point; /* always validated */
typedef struct {
  uint8_t b[KE_SCALAR_LEN];
} ke_scalar; /* in [1, n-1]      */

/* ---- points and scalars ------------------------------------------------ */
/* Validate a SEC1 compressed encoding: exactly 33 bytes, prefix 02/03,
 * x < p, on the curve, not infinity (the single byte 00 is refused). */
ke_rc ke_point_parse(ke_point *out, const uint8_t *buf, size_t len);
/* Exactly 32 bytes, value in [1, n-1]. */
ke_rc ke_scalar_parse(ke_scalar *out, const uint8_t *buf, size_t len);
ke_rc ke_scalar_random(ke_scalar *out);                                   /* uniform in [1, n-1] */
ke_rc ke_point_mul_base(ke_point *out, const ke_scalar *k);               /* k*G */
ke_rc ke_point_mul(ke_point *out, const ke_scalar *k, const ke_point *p); /* k*P */
ke_rc ke_point_generator(ke_point *g); /* G itself: the base of DLEQs about k*G */

/* ---- escrow key (Shamir + Feldman) -------------------------------------- */
typedef struct ke_escrow_pub {
  uint8_t t, n;                          /* 1 <= t <= n <= 255 */
  ke_point commitments[KE_MAX_SHARES];   /* C_0..C_{t-1}; Q = C_0 */
  ke_point public_shares[KE_MAX_SHARES]; /* Q_i at [i-1], i = 1..n */
  uint8_t fingerprint[KE_FPR_LEN];
} ke_escrow_pub;

/* Fresh ceremony: random polynomial of degree t-1.  `shares` must have room
 * for n scalars (d_i at [i-1]); allocate it with ke_secure_alloc().  The
 * coefficients are wiped before return. */
ke_rc ke_ceremony(ke_escrow_pub *pub, ke_scalar *shares, unsigned t, unsigned n);
ke_rc ke_ceremony_det(ke_escrow_pub *pub, ke_scalar *shares, unsigned t, unsigned n,
                      const ke_scalar *coefficients /* t */);
/* Rebuild pub (public shares and fingerprint) from t, n and commitments. */
ke_rc ke_escrow_pub_from_commitments(ke_escrow_pub *pub, unsigned t, unsigned n,
                                     const ke_point *commitments);
/* fingerprint = SHA-256("keyescrow-v1-escrow-key" | t | N | C_0 | ... ). */
void ke_escrow_fingerprint(uint8_t out[KE_FPR_LEN], const ke_escrow_pub *pub);
/* Is d*G == Q_index?  KE_OK, KE_ERR_PROOF on mismatch, KE_ERR_INVALID_INDEX. */
ke_rc ke_share_check(const ke_escrow_pub *pub, unsigned index, const ke_scalar *d);

/* ---- envelope ------------------------------------------------------------ */
typedef struct ke_envelope {
  uint8_t fingerprint[KE_FPR_LEN];
  ke_point R;
  uint8_t nonce[KE_NONCE_LEN];
  const uint8_t *bytes; /* the whole envelope (borrowed) */
  size_t len;           /* total length; ciphertext = len - 80 - 16 */
} ke_envelope;

/* Parse and validate (magic, version, R on the curve, secret length 16..1024). */
ke_rc ke_envelope_parse(ke_envelope *env, const uint8_t *buf, size_t len);
/* Seal `secret` to the escrow key.  *out is malloc'd. */
ke_rc ke_envelope_seal(uint8_t **out, size_t *outlen, const uint8_t fpr[KE_FPR_LEN],
                       const ke_point *Q, const char *device_id, const char *volume_id,
                       const uint8_t *secret, size_t secret_len);
ke_rc ke_envelope_seal_det(uint8_t **out, size_t *outlen, const uint8_t fpr[KE_FPR_LEN],
                           const ke_point *Q, const char *device_id, const char *volume_id,
                           const uint8_t *secret, size_t secret_len, const ke_scalar *k,
                           const uint8_t nonce[KE_NONCE_LEN]);
/* Open with S = d*R (from ke_combine, or d*R directly in tests).  *secret is
 * in ke_secure_alloc() memory: release with ke_secure_free(*secret, *len).
 * The device and volume must be the ones sealed in (AAD), else KE_ERR_AUTH. */
ke_rc ke_envelope_open(uint8_t **secret, size_t *secret_len, const ke_envelope *env,
                       const ke_point *Q, const ke_point *S, const char *device_id,
                       const char *volume_id);

/* AES-256-GCM (also the agent's local sealing); ct has ptlen bytes, tag 16. */
ke_rc ke_aead_seal(uint8_t *ct, uint8_t tag[KE_TAG_LEN], const uint8_t key[KE_KEY_LEN],
                   const uint8_t nonce[KE_NONCE_LEN], const uint8_t *aad, size_t aadlen,
                   const uint8_t *pt, size_t ptlen);
/* KE_ERR_AUTH if the tag does not verify; pt is wiped in that case. */
ke_rc ke_aead_open(uint8_t *pt, const uint8_t key[KE_KEY_LEN], const uint8_t nonce[KE_NONCE_LEN],
                   const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
                   const uint8_t tag[KE_TAG_LEN]);

/* prefix | device_id | 00 | volume_id, malloc'd: the envelope's AAD (prefix
 * = its header) and what a device signs over it (prefix = all of it). */
ke_rc ke_bind_ids(uint8_t **out, size_t *outlen, const uint8_t *prefix, size_t plen,
                  const char *device_id, const char *volume_id);

/* SHA-256 of the whole envelope: the name under which escrow records,
 * receipts, requests and custodians refer to one envelope. */
ke_rc ke_envelope_sha256(uint8_t out[32], const uint8_t *env, size_t len);

/* verifier = HMAC-SHA256(secret, "keyescrow-v1-verifier" | device | 00 | volume) */
ke_rc ke_verifier(uint8_t out[KE_VERIFIER_LEN], const uint8_t *secret, size_t secret_len,
                  const char *device_id, const char *volume_id);

/* ---- versioned verifiers (ke_verifier.c; docs/protocol.md "Verifier") ---- */
/* A stored verifier is one of
 *   v1  32 bytes: the HMAC above.  Only for machine-generated secrets
 *       (LUKS, BitLocker, FileVault keys: 128 bits or more of entropy).
 *   v2  54 bytes: "KV" 02 | log2(N) | r | p | salt(16) | V(32), with
 *       V = scrypt(P = secret,
 *                  S = "keyescrow-v1-scrypt-verifier" | salt | device | 00 | volume,
 *                  N, r, p, dkLen = 32).
 *       For every secret a person may have chosen: each guess costs one
 *       scrypt.  Accepted parameters: log2(N) 17..20, r 2..16 (RFC 7914
 *       wants N < 2^(16 r)), p 1..4 and 128 * r * N at most 256 MiB, so
 *       that nobody (a hostile server handing one to a drill) can make a
 *       check cost more than that. */
#define KE_VERIFIER_V1_LEN KE_VERIFIER_LEN
#define KE_VERIFIER_V2_LEN 54
#define KE_VERIFIER_MAX KE_VERIFIER_V2_LEN
#define KE_VERIFIER_SALT_LEN 16
#define KE_VERIFIER_V2_LOG2N_MIN 17
#define KE_VERIFIER_V2_LOG2N_MAX 20
#define KE_VERIFIER_V2_R_MAX 16
#define KE_VERIFIER_V2_P_MAX 4
#define KE_VERIFIER_V2_MEM_MAX ((uint64_t)256 << 20)
/* The parameters of new v2 verifiers: N = 2^17, r = 8, p = 1 (128 MiB). */
#define KE_VERIFIER_V2_LOG2N 17
#define KE_VERIFIER_V2_R 8
#define KE_VERIFIER_V2_P 1

typedef struct ke_verifier_info {
  unsigned version;                   /* 1 or 2 */
  unsigned log2n, r, p;               /* v2 only */
  uint8_t salt[KE_VERIFIER_SALT_LEN]; /* v2 only */
} ke_verifier_info;

/* Strict parser of a stored verifier: KE_ERR_LENGTH for a length that is
 * neither form, KE_ERR_FORMAT for a bad magic, version or parameters. */
ke_rc ke_verifier_parse(ke_verifier_info *out, const uint8_t *buf, size_t len);
/* base64url (no padding) of either form, parsed: the wire field. */
ke_rc ke_verifier_decode(uint8_t out[KE_VERIFIER_MAX], size_t *len, const char *b64);
/* A new v2 verifier with a fresh random salt and the default parameters. */
ke_rc ke_verifier_v2(uint8_t out[KE_VERIFIER_V2_LEN], const uint8_t *secret, size_t secret_len,
                     const char *device_id, const char *volume_id);
/* The same with salt and parameters given (known-answer tests); the
 * parameters must be acceptable to ke_verifier_parse. */
ke_rc ke_verifier_v2_det(uint8_t out[KE_VERIFIER_V2_LEN], const uint8_t *secret, size_t secret_len,
                         const char *device_id, const char *volume_id,
                         const uint8_t salt[KE_VERIFIER_SALT_LEN], unsigned log2n, unsigned r,
                         unsigned p);
/* Recompute `stored` (either form) for `secret`: the same version, salt
 * and parameters, into out (*outlen bytes).  What check-in sends. */
ke_rc ke_verifier_like(uint8_t out[KE_VERIFIER_MAX], size_t *outlen, const uint8_t *stored,
                       size_t stored_len, const uint8_t *secret, size_t secret_len,
                       const char *device_id, const char *volume_id);
/* Does `secret` match `stored`?  KE_OK, KE_ERR_AUTH if not (compared in
 * constant time), or the error of ke_verifier_parse. */
ke_rc ke_verifier_check(const uint8_t *stored, size_t stored_len, const uint8_t *secret,
                        size_t secret_len, const char *device_id, const char *volume_id);

/* ---- DLEQ (Chaum-Pedersen) ----------------------------------------------- */
typedef struct ke_dleq {
  ke_point P; /* P_i = d_i * R */
  ke_scalar c;
  ke_scalar s;
} ke_dleq;

ke_rc ke_dleq_prove(ke_dleq *out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                    const ke_point *R, const uint8_t *context, size_t context_len);
ke_rc ke_dleq_prove_det(ke_dleq *out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                        const ke_point *R, const uint8_t *context, size_t context_len,
                        const ke_scalar *w);
/* KE_OK, KE_ERR_PROOF if the proof does not hold, KE_ERR_INVALID_SCALAR if
 * c or s is outside [1, n-1] (an honest prover never sends 0: it retries
 * with a new w), KE_ERR_INVALID_POINT / KE_ERR_INVALID_INDEX for bad input. */
ke_rc ke_dleq_verify(const ke_dleq *proof, unsigned index, const ke_point *Qi, const ke_point *R,
                     const uint8_t *context, size_t context_len);
/* Wire form P | c | s (97 bytes), and its strict parser. */
void ke_dleq_encode(uint8_t out[KE_DLEQ_LEN], const ke_dleq *proof);
ke_rc ke_dleq_decode(ke_dleq *out, const uint8_t *buf, size_t len);

/* ---- threshold combination ------------------------------------------------ */
/* Lagrange coefficient at 0 for indices[which] over the given index set. */
ke_rc ke_lagrange(ke_scalar *out, const uint8_t *indices, size_t count, size_t which);
/* S = sum lambda_i * P_i.  Indices must be distinct and in [1, 255]. */
ke_rc ke_combine(ke_point *S, const uint8_t *indices, const ke_point *parts, size_t count);

/* ---- sealed parts ----------------------------------------------------------- */
/* Seal (P_i, c, s) to the requester's one-time key E; out is KE_PART_LEN. */
ke_rc ke_part_seal(uint8_t out[KE_PART_LEN], const ke_point *E, const char *request_id,
                   unsigned index, const ke_dleq *proof);
ke_rc ke_part_seal_det(uint8_t out[KE_PART_LEN], const ke_point *E, const char *request_id,
                       unsigned index, const ke_dleq *proof, const ke_scalar *k,
                       const uint8_t nonce[KE_NONCE_LEN]);
/* Open with the requester's private key e (E = e*G).  Fails with KE_ERR_AUTH
 * for a part made for another request, index or key. */
ke_rc ke_part_open(ke_dleq *out, const uint8_t *buf, size_t len, const ke_scalar *e,
                   const ke_point *E, const char *request_id, unsigned index);

/* ---- batches of parts (drills; ke_batch.c) ---------------------------------- */
/* One custodian's parts for many records, all to one requester key E and
 * with one proof context (the drill id).  Each part is exactly what
 * ke_dleq_prove + ke_part_seal make (request id = part_id) and opens with
 * ke_part_open; the batch checks d against Q_i once (KE_ERR_PROOF if it is
 * not the share of Q_i) and seals every part under one sender key.  One
 * thread at a time per batch. */
typedef struct ke_part_batch ke_part_batch;
ke_rc ke_part_batch_new(ke_part_batch **out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                        const ke_point *E, const uint8_t *context, size_t context_len);
ke_rc ke_part_batch_make(ke_part_batch *b, uint8_t out[KE_PART_LEN], const ke_point *R,
                         const char *part_id);
void ke_part_batch_free(ke_part_batch *b);
/* Every part of a batch: out[i] for R[i] and part_ids[i], on up to `jobs`
 * threads (1..KE_BATCH_JOBS_MAX; fewer for small batches).  On failure
 * out is zeroed and *failed is the first failing record, or SIZE_MAX when
 * the batch itself failed (e.g. KE_ERR_PROOF: d is not the share of Q_i). */
#define KE_BATCH_JOBS_MAX 64
ke_rc ke_part_batch_all(uint8_t (*out)[KE_PART_LEN], size_t count, const ke_point *R,
                        const char *const *part_ids, unsigned index, const ke_scalar *d,
                        const ke_point *Qi, const ke_point *E, const uint8_t *context,
                        size_t context_len, unsigned jobs, size_t *failed);

/* ---- share sealing (inside a share file) ------------------------------------- */
typedef struct ke_scrypt_params {
  uint64_t N;
  uint32_t r, p;
} ke_scrypt_params;
/* N = 2^17 (OWASP's floor for scrypt): 128 MiB and about 0.4 s per try.
 * Share files carry their parameters, so files made under the old default
 * (N = 2^15) still open. */
#define KE_SCRYPT_DEFAULT ((ke_scrypt_params){131072, 8, 1})
/* key = scrypt(pass, salt, N, r, p, 32) with maxmem set explicitly;
 * AES-256-GCM(d), AAD = "keyescrow-v1-share" | fpr | index (1 byte).
 * An empty passphrase is refused (KE_ERR_LENGTH); a wrong passphrase, salt,
 * parameters, fingerprint or index gives KE_ERR_AUTH. */
ke_rc ke_share_seal(uint8_t out[KE_SHARE_SEALED_LEN], const char *pass, size_t passlen,
                    const uint8_t salt[16], const uint8_t nonce[KE_NONCE_LEN],
                    ke_scrypt_params params, const uint8_t fpr[KE_FPR_LEN], unsigned index,
                    const ke_scalar *d);
ke_rc ke_share_unseal(ke_scalar *d, const uint8_t *sealed, size_t len, const char *pass,
                      size_t passlen, const uint8_t salt[16], const uint8_t nonce[KE_NONCE_LEN],
                      ke_scrypt_params params, const uint8_t fpr[KE_FPR_LEN], unsigned index);

/* ---- confirmation code -------------------------------------------------------- */
/* SHA-256("keyescrow-v1-sas" | request_id | E | R), first 40 bits in RFC 4648
 * base32 (8 characters, upper case), NUL terminated. */
void ke_sas(char out[KE_SAS_LEN + 1], const char *request_id, const ke_point *E, const ke_point *R);

/* ---- primitives ---------------------------------------------------------------- */
/* The KDFs every construction above uses, exposed so the published RFC 5869
 * and RFC 7914 vectors exercise the very same calls (and for other modules
 * that need them).  ke_hkdf_sha256: outlen 1..8160, ikm non-empty, salt and
 * info may be empty.  ke_scrypt: N a power of two in [2, 2^24], r and p in
 * [1, 64], at most 1 GiB of memory (KE_ERR_LENGTH otherwise). */
ke_rc ke_hkdf_sha256(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen,
                     const uint8_t *salt, size_t saltlen, const uint8_t *info, size_t infolen);
ke_rc ke_scrypt(uint8_t *out, size_t outlen, const char *pass, size_t passlen, const uint8_t *salt,
                size_t saltlen, ke_scrypt_params params);

#endif
