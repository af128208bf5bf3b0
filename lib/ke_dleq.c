/*
 * ke_dleq.c - Chaum-Pedersen proof that log_G(Q_i) = log_R(P_i).
 *
 *   prover:   P = d R;  A = w G;  B = w R;
 *             c = SHA-256("keyescrow-v1-dleq" | Q_i | R | P | A | B | i | ctx) mod n
 *             s = w - c d mod n
 *   verifier: A' = s G + c Q_i;  B' = s R + c P;  accept iff c == H(... A' B' ...)
 *
 * s is computed as w + (n - c) d mod n (ke_dleq_response): n - c is public,
 * so the product is a double-and-add driven by public bits whose only
 * operation on d and w is a masked modular addition (see ke_internal.h).
 * The obvious BN_mod_sub(w, c d) branches on whether w < c d, which would
 * leak one inequality about d_i with every proof.
 *
 * Range rule: c and s travel as 32-byte big-endian values and must lie in
 * [1, n-1], like every other scalar.  An honest prover never emits 0 (it
 * draws a new w if c or s would be 0, an event of probability ~2^-256), so
 * refusing 0 costs nothing and keeps a single scalar rule on the wire;
 * values >= n are refused so that each proof has exactly one encoding.
 */
#include "ke_internal.h"

#include <string.h>

/* c = H(label | Qi | R | P | A | B | index | context) mod n, as a BIGNUM. */
static ke_rc challenge(BIGNUM *c, const ke_point *Qi, const ke_point *R, const ke_point *P,
                       const ke_point *A, const ke_point *B, unsigned index, const uint8_t *context,
                       size_t context_len, BN_CTX *ctx)
{
  uint8_t idx = (uint8_t)index, h[32];
  ke_buf parts[8] = {
    {KE_LABEL_DLEQ, strlen(KE_LABEL_DLEQ)},
    {Qi->b, KE_POINT_LEN},
    {R->b, KE_POINT_LEN},
    {P->b, KE_POINT_LEN},
    {A->b, KE_POINT_LEN},
    {B->b, KE_POINT_LEN},
    {&idx, 1},
    {context, context_len},
  };
  ke_rc rc = ke_sha256(h, parts, 8);
  if (rc == KE_OK)
    rc = ke_scalar_from_hash(c, h, ctx);
  return rc;
}

ke_rc ke_dleq_response(uint8_t s[KE_SCALAR_LEN], const uint8_t w[KE_SCALAR_LEN],
                       const uint8_t c[KE_SCALAR_LEN], const uint8_t d[KE_SCALAR_LEN])
{
  /* n - c by schoolbook subtraction on the public c; c = 0 (for which n - c
   * would not be a residue) is the prover's cue to draw a new w. */
  uint8_t nc[KE_SCALAR_LEN], t[KE_SCALAR_LEN];
  unsigned borrow = 0, c_nonzero = 0, nc_nonzero = 0;
  for (int i = KE_SCALAR_LEN - 1; i >= 0; i--) {
    unsigned v = (unsigned)ke_order_be[i] - c[i] - borrow;
    nc[i] = (uint8_t)v;
    borrow = (v >> 8) & 1;
    c_nonzero |= c[i];
    nc_nonzero |= nc[i];
  }
  /* c = 0 retries; c >= n never comes from a hash reduced mod n. */
  if (!c_nonzero || borrow || !nc_nonzero)
    return KE_ERR_INVALID_SCALAR;
  ke_mod_n_mul_public(t, nc, d);
  ke_mod_n_add(s, w, t);
  ke_wipe(t, sizeof t);
  return KE_OK;
}

static ke_rc check_args(unsigned index, const uint8_t *context, size_t context_len)
{
  if (index < 1 || index > KE_MAX_SHARES)
    return KE_ERR_INVALID_INDEX;
  if (!context && context_len)
    return KE_ERR_FORMAT;
  return KE_OK;
}

/* The prover once d, Q_i and R are decoded and checked (ke_internal.h). */
ke_rc ke_dleq_prove_core(ke_dleq *out, unsigned index, const ke_scalar *d, const BIGNUM *db,
                         const ke_point *Qi, const ke_point *R, const EC_POINT *r,
                         const uint8_t *context, size_t context_len, const ke_scalar *w,
                         EC_POINT *pt, BN_CTX *ctx)
{
  ke_point A, B;
  ke_rc rc = KE_ERR_NOMEM;
  BIGNUM *wb = ke_bn_secret(w->b), *c = BN_new();

  memset(out, 0, sizeof *out);
  if (!wb || !c)
    goto out;
  /* Single-term multiplications only: d and w are secret. */
  if ((rc = ke_ec_mul(pt, db, r, ctx)) || (rc = ke_ec_encode(&out->P, pt, ctx)) ||
      (rc = ke_ec_mul_base(pt, wb, ctx)) || (rc = ke_ec_encode(&A, pt, ctx)) ||
      (rc = ke_ec_mul(pt, wb, r, ctx)) || (rc = ke_ec_encode(&B, pt, ctx)))
    goto out;
  if ((rc = challenge(c, Qi, R, &out->P, &A, &B, index, context, context_len, ctx)))
    goto out;
  rc = KE_ERR_INTERNAL;
  if (BN_bn2binpad(c, out->c.b, KE_SCALAR_LEN) != KE_SCALAR_LEN)
    goto out;
  /* A c of 0 makes this w unusable (KE_ERR_INVALID_SCALAR: retried). */
  if ((rc = ke_dleq_response(out->s.b, w->b, out->c.b, d->b)))
    goto out;
  /* c or s of 0 cannot be sent (see the range rule): this w is unusable. */
  rc = ke_scalar_valid(out->c.b) && ke_scalar_valid(out->s.b) ? KE_OK : KE_ERR_INVALID_SCALAR;
out:
  if (rc)
    memset(out, 0, sizeof *out);
  ke_wipe(&A, sizeof A);
  ke_wipe(&B, sizeof B);
  BN_clear_free(wb);
  BN_free(c);
  return rc;
}

ke_rc ke_dleq_prove_det(ke_dleq *out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                        const ke_point *R, const uint8_t *context, size_t context_len,
                        const ke_scalar *w)
{
  if (!out || !d || !Qi || !R || !w)
    return KE_ERR_INTERNAL;
  memset(out, 0, sizeof *out);
  ke_rc rc = check_args(index, context, context_len);
  if (rc)
    return rc;
  if (!ke_scalar_valid(d->b) || !ke_scalar_valid(w->b))
    return KE_ERR_INVALID_SCALAR;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  ke_point chk;
  rc = KE_ERR_NOMEM;
  BN_CTX *ctx = BN_CTX_secure_new();
  BIGNUM *db = ke_bn_secret(d->b);
  EC_POINT *r = NULL, *pt = EC_POINT_new(g);
  if (!ctx || !db || !pt)
    goto out;
  if ((rc = ke_ec_decode(&r, R->b, KE_POINT_LEN, ctx)))
    goto out;
  /* A custodian holding the wrong share would only produce a proof that
   * fails later; say so here, where the cause is obvious.  (Q_i need not
   * be decoded: d G is, and must encode to exactly Q_i's bytes.) */
  if ((rc = ke_ec_mul_base(pt, db, ctx)) || (rc = ke_ec_encode(&chk, pt, ctx)))
    goto out;
  if (!ke_ct_eq(chk.b, Qi->b, KE_POINT_LEN)) {
    rc = KE_ERR_PROOF;
    goto out;
  }
  rc = ke_dleq_prove_core(out, index, d, db, Qi, R, r, context, context_len, w, pt, ctx);
out:
  EC_POINT_free(r);
  EC_POINT_clear_free(pt);
  BN_clear_free(db);
  BN_CTX_free(ctx);
  return rc;
}

ke_rc ke_dleq_prove(ke_dleq *out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                    const ke_point *R, const uint8_t *context, size_t context_len)
{
  ke_scalar w;
  ke_rc rc = KE_ERR_RANDOM;
  for (int attempt = 0; attempt < 4; attempt++) {
    if ((rc = ke_scalar_random(&w)))
      break;
    rc = ke_dleq_prove_det(out, index, d, Qi, R, context, context_len, &w);
    if (rc != KE_ERR_INVALID_SCALAR || !ke_scalar_valid(d->b))
      break; /* retry only for a zero c or s, never for a bad d */
  }
  ke_wipe(&w, sizeof w);
  return rc;
}

ke_rc ke_dleq_verify(const ke_dleq *proof, unsigned index, const ke_point *Qi, const ke_point *R,
                     const uint8_t *context, size_t context_len)
{
  if (!proof || !Qi || !R)
    return KE_ERR_INTERNAL;
  ke_rc rc = check_args(index, context, context_len);
  if (rc)
    return rc;
  if (!ke_scalar_valid(proof->c.b) || !ke_scalar_valid(proof->s.b))
    return KE_ERR_INVALID_SCALAR;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  ke_point A, B;
  rc = KE_ERR_NOMEM;
  /* P_i is secret (t of them give S = d R): its decoding and c P_i use the
   * secure heap and are wiped. */
  BN_CTX *ctx = BN_CTX_secure_new();
  BIGNUM *c = BN_bin2bn(proof->c.b, KE_SCALAR_LEN, NULL);
  BIGNUM *s = BN_bin2bn(proof->s.b, KE_SCALAR_LEN, NULL);
  BIGNUM *c2 = BN_new();
  EC_POINT *q = NULL, *r = NULL, *p = NULL;
  EC_POINT *a = EC_POINT_new(g), *b = EC_POINT_new(g), *t = EC_POINT_new(g);
  if (!ctx || !c || !s || !c2 || !a || !b || !t)
    goto out;
  if ((rc = ke_ec_decode(&q, Qi->b, KE_POINT_LEN, ctx)) ||
      (rc = ke_ec_decode(&r, R->b, KE_POINT_LEN, ctx)) ||
      (rc = ke_ec_decode(&p, proof->P.b, KE_POINT_LEN, ctx)))
    goto out;
  /* Everything here is public: the two-term form is allowed. */
  rc = KE_ERR_INTERNAL;
  if (EC_POINT_mul(g, a, s, q, c, ctx) != 1 || EC_POINT_mul(g, b, NULL, r, s, ctx) != 1 ||
      EC_POINT_mul(g, t, NULL, p, c, ctx) != 1 || EC_POINT_add(g, b, b, t, ctx) != 1)
    goto out;
  /* An honest A or B is never infinity (w != 0): refuse rather than hash. */
  if (ke_ec_encode(&A, a, ctx) || ke_ec_encode(&B, b, ctx)) {
    rc = KE_ERR_PROOF;
    goto out;
  }
  if ((rc = challenge(c2, Qi, R, &proof->P, &A, &B, index, context, context_len, ctx)))
    goto out;
  uint8_t cb[KE_SCALAR_LEN];
  if (BN_bn2binpad(c2, cb, KE_SCALAR_LEN) != KE_SCALAR_LEN) {
    rc = KE_ERR_INTERNAL;
    goto out;
  }
  rc = ke_ct_eq(cb, proof->c.b, KE_SCALAR_LEN) ? KE_OK : KE_ERR_PROOF;
out:
  EC_POINT_free(q);
  EC_POINT_free(r);
  EC_POINT_clear_free(p);
  EC_POINT_free(a);
  EC_POINT_clear_free(b);
  EC_POINT_clear_free(t);
  BN_free(c);
  BN_free(s);
  BN_free(c2);
  BN_CTX_free(ctx);
  return rc;
}

void ke_dleq_encode(uint8_t out[KE_DLEQ_LEN], const ke_dleq *proof)
{
  memcpy(out, proof->P.b, KE_POINT_LEN);
  memcpy(out + KE_POINT_LEN, proof->c.b, KE_SCALAR_LEN);
  memcpy(out + KE_POINT_LEN + KE_SCALAR_LEN, proof->s.b, KE_SCALAR_LEN);
}

ke_rc ke_dleq_decode(ke_dleq *out, const uint8_t *buf, size_t len)
{
  if (!out)
    return KE_ERR_INTERNAL;
  memset(out, 0, sizeof *out);
  if (!buf || len != KE_DLEQ_LEN)
    return KE_ERR_LENGTH;
  ke_rc rc;
  if ((rc = ke_point_parse_secret(&out->P, buf, KE_POINT_LEN)) ||
      (rc = ke_scalar_parse(&out->c, buf + KE_POINT_LEN, KE_SCALAR_LEN)) ||
      (rc = ke_scalar_parse(&out->s, buf + KE_POINT_LEN + KE_SCALAR_LEN, KE_SCALAR_LEN))) {
    memset(out, 0, sizeof *out);
    return rc;
  }
  return KE_OK;
}
