/*
 * ke_internal.h - helpers shared by the libescrow crypto modules.  Not part
 * of the public contract (ke_crypto.h / ke_util.h); tests may use it.
 *
 * Secret scalars live in BIGNUMs from ke_bn_secret(): secure heap,
 * BN_FLG_CONSTTIME, freed with BN_clear_free().  They are multiplied only
 * through ke_ec_mul_base() / ke_ec_mul(), the single-term forms that
 * OpenSSL implements in constant time.
 */
#ifndef KE_INTERNAL_H
#define KE_INTERNAL_H

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "ke_crypto.h"

#define KE_KEY_LEN 32                  /* AES-256-GCM key */

/* Domain-separation labels (DESIGN.md "Cryptography (version 1)"). */
#define KE_LABEL_ESCROW_KEY "keyescrow-v1-escrow-key"
#define KE_LABEL_WRAP "keyescrow-v1-wrap"
#define KE_LABEL_PARTIAL "keyescrow-v1-partial"
#define KE_LABEL_VERIFIER "keyescrow-v1-verifier"
#define KE_LABEL_DLEQ "keyescrow-v1-dleq"
#define KE_LABEL_SHARE "keyescrow-v1-share"
#define KE_LABEL_SAS "keyescrow-v1-sas"

/* ---- curve (ke_ec.c) ----------------------------------------------------- */
/* The P-256 group, created once and read-only afterwards (safe to share
 * between threads).  NULL only if OpenSSL itself failed. */
const EC_GROUP *ke_ec_group(void);
/* Constant time: 1 if the 32-byte big-endian value is in [1, n-1]. */
int ke_scalar_valid(const uint8_t b[KE_SCALAR_LEN]);
/* Secret BIGNUM from 32 bytes (secure heap, BN_FLG_CONSTTIME); NULL on
 * allocation failure.  Free with BN_clear_free(). */
BIGNUM *ke_bn_secret(const uint8_t b[KE_SCALAR_LEN]);
/* An empty secret BIGNUM for results of arithmetic on secrets. */
BIGNUM *ke_bn_secret_new(void);
/* Validate and decode a compressed point (the rules of ke_point_parse). */
ke_rc ke_ec_decode(EC_POINT **out, const uint8_t *buf, size_t len, BN_CTX *ctx);
/* Encode; the point at infinity is KE_ERR_INVALID_POINT. */
ke_rc ke_ec_encode(ke_point *out, const EC_POINT *p, BN_CTX *ctx);
/* r = k*G and r = k*P with a secret k: single-term, constant time. */
ke_rc ke_ec_mul_base(EC_POINT *r, const BIGNUM *k, BN_CTX *ctx);
ke_rc ke_ec_mul(EC_POINT *r, const BIGNUM *k, const EC_POINT *p, BN_CTX *ctx);
/* r = i*P for a small PUBLIC i (1..255) by double-and-add; much cheaper
 * than a full multiplication when rebuilding public shares. */
ke_rc ke_ec_mul_small(EC_POINT *r, unsigned i, const EC_POINT *p, BN_CTX *ctx);
/* Encoding of the SHA-256 digest reduced mod n (for Fiat-Shamir). */
ke_rc ke_scalar_from_hash(BIGNUM *out, const uint8_t digest[32], BN_CTX *ctx);

/* ---- hashing (ke_kdf.c) ---------------------------------------------------- */
typedef struct ke_buf { const void *p; size_t len; } ke_buf;
/* SHA-256 over the concatenation of count pieces. */
ke_rc ke_sha256(uint8_t out[32], const ke_buf *parts, size_t count);

/* ---- ECIES-style wrap shared by envelopes and parts (ke_envelope.c) ------- */
/* key = HKDF-SHA256(ikm = x(S), salt = R || Q, info = label). */
ke_rc ke_wrap_key(uint8_t key[KE_KEY_LEN], const ke_point *S, const ke_point *R,
                  const ke_point *Q, const char *label);
/* Sender side: fresh R = k*G and S = k*Q for a secret k. */
ke_rc ke_wrap_sender(ke_point *R, ke_point *S, const ke_scalar *k, const ke_point *Q);
/* AES-256-GCM; ct has ptlen bytes, tag 16. */
ke_rc ke_aead_seal(uint8_t *ct, uint8_t tag[KE_TAG_LEN], const uint8_t key[KE_KEY_LEN],
                   const uint8_t nonce[KE_NONCE_LEN], const uint8_t *aad, size_t aadlen,
                   const uint8_t *pt, size_t ptlen);
/* KE_ERR_AUTH if the tag does not verify; pt is wiped in that case. */
ke_rc ke_aead_open(uint8_t *pt, const uint8_t key[KE_KEY_LEN],
                   const uint8_t nonce[KE_NONCE_LEN], const uint8_t *aad, size_t aadlen,
                   const uint8_t *ct, size_t ctlen, const uint8_t tag[KE_TAG_LEN]);

#endif
