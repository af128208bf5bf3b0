/*
 * ke_internal.h - helpers shared by the libescrow crypto modules.  Not part
 * of the public contract (ke_crypto.h / ke_util.h); tests may use it.
 *
 * Secret scalars live in BIGNUMs from ke_bn_secret(): secure heap (once
 * ke_init() has run), BN_FLG_CONSTTIME, freed with BN_clear_free().  They
 * meet points only in ke_ec_mul_base() / ke_ec_mul(), the single-term forms
 * (OpenSSL computes them with a fixed-window method or a Montgomery
 * ladder, without branches or table indices that depend on the scalar),
 * and other scalars only in ke_mod_n_add() and ke_mod_n_mul_public():
 * fixed-width limb arithmetic of our own with a masked reduction, checked
 * under valgrind with the secrets marked undefined (tests/lib/test_ct.c).
 * OpenSSL's BN_mod_mul / BN_mod_sub / BN_mod_add are not used on secrets:
 * they branch on signs and comparisons (BN_ucmp exits at the first
 * differing word), and the lengths of their intermediate results depend on
 * the values.  Converting a secret to a BIGNUM (BN_bin2bn) still reveals
 * whether its top 64-bit word is zero, an event of probability 2^-64.
 *
 * Secret points (S = d*R, a custodian's P_i = d_i*R) are decoded with
 * ke_point_parse_secret(): secure BN_CTX, EC_POINT_clear_free.
 */
#ifndef KE_INTERNAL_H
#define KE_INTERNAL_H

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "ke_crypto.h"

/* Domain-separation labels (docs/protocol.md, section 1 "Conventions"). */
#define KE_LABEL_ESCROW_KEY "keyescrow-v1-escrow-key"
#define KE_LABEL_WRAP "keyescrow-v1-wrap"
#define KE_LABEL_PARTIAL "keyescrow-v1-partial"
#define KE_LABEL_VERIFIER "keyescrow-v1-verifier"
#define KE_LABEL_DLEQ "keyescrow-v1-dleq"
#define KE_LABEL_SHARE "keyescrow-v1-share"
#define KE_LABEL_SAS "keyescrow-v1-sas"
#define KE_LABEL_SCRYPT_VERIFIER "keyescrow-v1-scrypt-verifier"

/* ---- curve (ke_ec.c) ----------------------------------------------------- */
/* The order n of P-256, big-endian. */
extern const uint8_t ke_order_be[KE_SCALAR_LEN];
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
/* Arithmetic mod n on 32-byte big-endian values in [0, n-1] (either input
 * may be secret), in constant time: fixed loops over 8 limbs, and the
 * reduction is a subtraction of n kept or dropped by a mask.  Outputs may
 * alias inputs.  r = a + b mod n: */
void ke_mod_n_add(uint8_t r[KE_SCALAR_LEN], const uint8_t a[KE_SCALAR_LEN],
                  const uint8_t b[KE_SCALAR_LEN]);
/* r = k*x mod n for a PUBLIC k (any 256-bit value) and a secret x, by
 * double-and-add: the branches follow the bits of k only. */
void ke_mod_n_mul_public(uint8_t r[KE_SCALAR_LEN], const uint8_t k[KE_SCALAR_LEN],
                         const uint8_t x[KE_SCALAR_LEN]);
/* ke_point_parse for a point that is itself secret (S, P_i): the same
 * rules, but OpenSSL's temporaries are in the secure heap and wiped. */
ke_rc ke_point_parse_secret(ke_point *out, const uint8_t *buf, size_t len);
/* Encoding of the SHA-256 digest reduced mod n (for Fiat-Shamir). */
ke_rc ke_scalar_from_hash(BIGNUM *out, const uint8_t digest[32], BN_CTX *ctx);

/* ---- the secret arithmetic of the protocol ---------------------------------- */
/* The DLEQ response s = w - c*d mod n (ke_dleq.c), computed as w + (n - c) d
 * with the functions above.  KE_ERR_INVALID_SCALAR if c is 0 (c is public;
 * the prover then draws a new w).  w and d in [1, n-1]. */
ke_rc ke_dleq_response(uint8_t s[KE_SCALAR_LEN], const uint8_t w[KE_SCALAR_LEN],
                       const uint8_t c[KE_SCALAR_LEN], const uint8_t d[KE_SCALAR_LEN]);
/* out = f(x) = sum_j coef[j] x^j mod n by Horner (ke_shamir.c), for a
 * public x in 1..255 and secret coefficients in [1, n-1], t >= 1. */
void ke_shamir_eval(uint8_t out[KE_SCALAR_LEN], const ke_scalar *coef, unsigned t, unsigned x);

/* ---- the prover and the part seal, split for batches (ke_batch.c) ------- */
/* DLEQ proof with nonce w once d (also as the secret BIGNUM db) is known to
 * match Q_i and R is decoded to r; pt is scratch.  ke_dleq.c. */
ke_rc ke_dleq_prove_core(ke_dleq *out, unsigned index, const ke_scalar *d, const BIGNUM *db,
                         const ke_point *Qi, const ke_point *R, const EC_POINT *r,
                         const uint8_t *context, size_t context_len, const ke_scalar *w,
                         EC_POINT *pt, BN_CTX *ctx);
/* Seal a proof under an already derived part key whose sender point is Re
 * (ke_part.c): header, AAD and AES-256-GCM of ke_part_seal. */
ke_rc ke_part_seal_key(uint8_t out[KE_PART_LEN], const uint8_t key[KE_KEY_LEN], const ke_point *Re,
                       const uint8_t nonce[KE_NONCE_LEN], const char *request_id, unsigned index,
                       const ke_dleq *proof);

/* ---- hashing (ke_kdf.c) ---------------------------------------------------- */
typedef struct ke_buf {
  const void *p;
  size_t len;
} ke_buf;
/* SHA-256 over the concatenation of count pieces. */
ke_rc ke_sha256(uint8_t out[32], const ke_buf *parts, size_t count);

/* ---- ECIES-style wrap shared by envelopes and parts (ke_envelope.c) ------- */
/* key = HKDF-SHA256(ikm = x(S), salt = R || Q, info = label). */
ke_rc ke_wrap_key(uint8_t key[KE_KEY_LEN], const ke_point *S, const ke_point *R, const ke_point *Q,
                  const char *label);
/* Sender side: fresh R = k*G and S = k*Q for a secret k. */
ke_rc ke_wrap_sender(ke_point *R, ke_point *S, const ke_scalar *k, const ke_point *Q);

#endif
