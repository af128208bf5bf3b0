/*
 * ke_shamir.c - the escrow key: Shamir sharing with Feldman commitments,
 * the key fingerprint, share checks, Lagrange coefficients and the
 * threshold combination S = sum(lambda_i * P_i).
 *
 * Secret values here are the polynomial coefficients a_j and the shares
 * d_i = f(i).  They live in secure BN_FLG_CONSTTIME BIGNUMs, meet G only in
 * single-term multiplications, and f(i) is evaluated with masked modular
 * additions only (ke_bn_mod_add / ke_bn_mod_mul_public; see ke_internal.h):
 * BN_mod_mul(acc, i) would reveal through the length of acc * i whether it
 * exceeds 2^256.  Indices, commitments, public shares and Lagrange
 * coefficients are public.  The parts P_i and their sum S = d R are
 * secret: any t of the P_i open the envelope.
 */
#include "ke_internal.h"

#include <string.h>

static int params_ok(unsigned t, unsigned n) { return t >= 1 && t <= n && n <= KE_MAX_SHARES; }

void ke_escrow_fingerprint(uint8_t out[KE_FPR_LEN], const ke_escrow_pub *pub)
{
  /* A void contract: on the (never expected) failure the fingerprint is all
   * zero bytes, which matches no pin, so nothing is trusted by accident. */
  memset(out, 0, KE_FPR_LEN);
  if (!pub || !params_ok(pub->t, pub->n))
    return;
  uint8_t tn[2] = {pub->t, pub->n};
  ke_buf parts[3] = {
    {KE_LABEL_ESCROW_KEY, strlen(KE_LABEL_ESCROW_KEY)},
    {tn, 2},
    {pub->commitments, (size_t)pub->t * KE_POINT_LEN},
  };
  if (ke_sha256(out, parts, 3) != KE_OK)
    memset(out, 0, KE_FPR_LEN);
}

ke_rc ke_escrow_pub_from_commitments(ke_escrow_pub *pub, unsigned t, unsigned n,
                                     const ke_point *commitments)
{
  if (!pub || !commitments)
    return KE_ERR_INTERNAL;
  memset(pub, 0, sizeof *pub);
  if (!params_ok(t, n))
    return KE_ERR_THRESHOLD;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  ke_rc rc = KE_ERR_NOMEM;
  BN_CTX *ctx = BN_CTX_new();
  EC_POINT *c[KE_MAX_SHARES] = {0};
  EC_POINT *acc = EC_POINT_new(g);
  if (!ctx || !acc)
    goto out;
  for (unsigned j = 0; j < t; j++)
    if ((rc = ke_ec_decode(&c[j], commitments[j].b, KE_POINT_LEN, ctx)))
      goto out;
  /* Q_i = sum_j i^j C_j, by Horner: ((C_{t-1} i + C_{t-2}) i + ...) + C_0.
   * i is small and public, so double-and-add is both safe and cheap. */
  for (unsigned i = 1; i <= n; i++) {
    rc = KE_ERR_INTERNAL;
    if (EC_POINT_copy(acc, c[t - 1]) != 1)
      goto out;
    for (unsigned j = t - 1; j-- > 0;) {
      if ((rc = ke_ec_mul_small(acc, i, acc, ctx)))
        goto out;
      if (EC_POINT_add(g, acc, acc, c[j], ctx) != 1) {
        rc = KE_ERR_INTERNAL;
        goto out;
      }
    }
    /* Infinity here means commitments built to cancel out: refuse them. */
    if ((rc = ke_ec_encode(&pub->public_shares[i - 1], acc, ctx)))
      goto out;
  }
  pub->t = (uint8_t)t;
  pub->n = (uint8_t)n;
  memcpy(pub->commitments, commitments, (size_t)t * sizeof(ke_point));
  ke_escrow_fingerprint(pub->fingerprint, pub);
  rc = KE_OK;
out:
  for (unsigned j = 0; j < KE_MAX_SHARES; j++)
    EC_POINT_free(c[j]);
  EC_POINT_free(acc);
  BN_CTX_free(ctx);
  if (rc)
    memset(pub, 0, sizeof *pub);
  return rc;
}

ke_rc ke_share_check(const ke_escrow_pub *pub, unsigned index, const ke_scalar *d)
{
  if (!pub || !d)
    return KE_ERR_INTERNAL;
  if (!params_ok(pub->t, pub->n))
    return KE_ERR_THRESHOLD;
  if (index < 1 || index > pub->n)
    return KE_ERR_INVALID_INDEX;
  ke_point q;
  ke_rc rc = ke_point_mul_base(&q, d); /* validates d, single-term */
  if (rc)
    return rc;
  return ke_ct_eq(q.b, pub->public_shares[index - 1].b, KE_POINT_LEN) ? KE_OK : KE_ERR_PROOF;
}

void ke_shamir_eval(uint8_t out[KE_SCALAR_LEN], const ke_scalar *coef, unsigned t, unsigned x)
{
  /* Horner: acc = (...(a_{t-1} x + a_{t-2}) x + ...) x + a_0.  x is public
   * and small; acc and the coefficients are secret and only ever pass
   * through the constant-time ke_mod_n_* (a BIGNUM product acc * x would
   * reveal through its length whether it exceeds 2^256). */
  uint8_t xb[KE_SCALAR_LEN] = {0}, acc[KE_SCALAR_LEN];
  xb[KE_SCALAR_LEN - 1] = (uint8_t)x;
  memcpy(acc, coef[t - 1].b, KE_SCALAR_LEN);
  for (unsigned j = t - 1; j-- > 0;) {
    ke_mod_n_mul_public(acc, xb, acc);
    ke_mod_n_add(acc, acc, coef[j].b);
  }
  memcpy(out, acc, KE_SCALAR_LEN);
  ke_wipe(acc, sizeof acc);
}

ke_rc ke_ceremony_det(ke_escrow_pub *pub, ke_scalar *shares, unsigned t, unsigned n,
                      const ke_scalar *coefficients)
{
  if (!pub || !shares || !coefficients)
    return KE_ERR_INTERNAL;
  if (!params_ok(t, n))
    return KE_ERR_THRESHOLD;
  for (unsigned j = 0; j < t; j++)
    if (!ke_scalar_valid(coefficients[j].b))
      return KE_ERR_INVALID_SCALAR;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  ke_rc rc = KE_ERR_NOMEM;
  ke_point commit[KE_MAX_SHARES];
  BN_CTX *ctx = BN_CTX_secure_new();
  BIGNUM *a[KE_MAX_SHARES] = {0};
  EC_POINT *pt = EC_POINT_new(g);
  if (!ctx || !pt)
    goto out;
  for (unsigned j = 0; j < t; j++) {
    if (!(a[j] = ke_bn_secret(coefficients[j].b)))
      goto out;
    if ((rc = ke_ec_mul_base(pt, a[j], ctx)) || (rc = ke_ec_encode(&commit[j], pt, ctx)))
      goto out;
    rc = KE_ERR_NOMEM;
  }
  /* Q_i follow from the commitments; each d_i is then checked against its
   * Q_i below, so a ceremony can only succeed self-consistently. */
  if ((rc = ke_escrow_pub_from_commitments(pub, t, n, commit)))
    goto out;
  for (unsigned i = 1; i <= n; i++) {
    ke_shamir_eval(shares[i - 1].b, coefficients, t, i);
    if (!ke_scalar_valid(shares[i - 1].b)) {
      rc = KE_ERR_INVALID_SCALAR; /* f(i) == 0: probability ~2^-256 */
      goto out;
    }
    if ((rc = ke_share_check(pub, i, &shares[i - 1]))) {
      rc = KE_ERR_INTERNAL;
      goto out;
    }
  }
  rc = KE_OK;
out:
  for (unsigned j = 0; j < KE_MAX_SHARES; j++)
    BN_clear_free(a[j]);
  EC_POINT_clear_free(pt);
  BN_CTX_free(ctx);
  if (rc) {
    ke_wipe(shares, (size_t)n * sizeof(ke_scalar));
    memset(pub, 0, sizeof *pub);
  }
  return rc;
}

ke_rc ke_ceremony(ke_escrow_pub *pub, ke_scalar *shares, unsigned t, unsigned n)
{
  if (!pub || !shares)
    return KE_ERR_INTERNAL;
  if (!params_ok(t, n))
    return KE_ERR_THRESHOLD;
  ke_scalar *coef = ke_secure_alloc((size_t)t * sizeof(ke_scalar));
  if (!coef)
    return KE_ERR_NOMEM;
  ke_rc rc = KE_ERR_RANDOM;
  /* A retry is only needed if some f(i) is zero, which never happens in
   * practice; the bound keeps a broken generator from looping forever. */
  for (int attempt = 0; attempt < 4; attempt++) {
    for (unsigned j = 0; j < t; j++)
      if ((rc = ke_scalar_random(&coef[j])))
        goto out;
    rc = ke_ceremony_det(pub, shares, t, n, coef);
    if (rc != KE_ERR_INVALID_SCALAR)
      break;
  }
out:
  ke_secure_free(coef, (size_t)t * sizeof(ke_scalar));
  return rc;
}

/* ---- combination ----------------------------------------------------------- */

static ke_rc check_indices(const uint8_t *indices, size_t count)
{
  if (!indices || count == 0)
    return KE_ERR_THRESHOLD;
  if (count > KE_MAX_SHARES)
    return KE_ERR_INVALID_INDEX;
  uint8_t seen[256] = {0};
  for (size_t i = 0; i < count; i++) {
    if (indices[i] == 0 || seen[indices[i]])
      return KE_ERR_INVALID_INDEX;
    seen[indices[i]] = 1;
  }
  return KE_OK;
}

/* lambda_which = prod_{j != which} x_j / (x_j - x_which)  mod n.
 * Every input is public, so plain BIGNUMs and BN_mod_inverse are fine. */
static ke_rc lagrange_bn(BIGNUM *out, const uint8_t *indices, size_t count, size_t which,
                         BN_CTX *ctx)
{
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  const BIGNUM *order = EC_GROUP_get0_order(g);
  ke_rc rc = KE_ERR_NOMEM;
  BN_CTX_start(ctx);
  BIGNUM *num = BN_CTX_get(ctx), *den = BN_CTX_get(ctx), *tmp = BN_CTX_get(ctx);
  if (!tmp)
    goto out;
  rc = KE_ERR_INTERNAL;
  if (BN_one(num) != 1 || BN_one(den) != 1)
    goto out;
  for (size_t j = 0; j < count; j++) {
    if (j == which)
      continue;
    /* x_j - x_which as a non-negative residue mod n. */
    if (BN_set_word(tmp, indices[j]) != 1 || BN_mod_mul(num, num, tmp, order, ctx) != 1)
      goto out;
    if (BN_set_word(tmp, indices[j]) != 1 || BN_sub_word(tmp, indices[which]) != 1 ||
        BN_nnmod(tmp, tmp, order, ctx) != 1 || BN_mod_mul(den, den, tmp, order, ctx) != 1)
      goto out;
  }
  if (!BN_mod_inverse(den, den, order, ctx) || BN_mod_mul(out, num, den, order, ctx) != 1)
    goto out;
  rc = KE_OK;
out:
  BN_CTX_end(ctx);
  return rc;
}

ke_rc ke_lagrange(ke_scalar *out, const uint8_t *indices, size_t count, size_t which)
{
  if (!out)
    return KE_ERR_INTERNAL;
  ke_rc rc = check_indices(indices, count);
  if (rc)
    return rc;
  if (which >= count)
    return KE_ERR_INVALID_INDEX;
  BN_CTX *ctx = BN_CTX_new();
  BIGNUM *l = BN_new();
  rc = KE_ERR_NOMEM;
  if (ctx && l && (rc = lagrange_bn(l, indices, count, which, ctx)) == KE_OK)
    rc = BN_bn2binpad(l, out->b, KE_SCALAR_LEN) == KE_SCALAR_LEN ? KE_OK : KE_ERR_INTERNAL;
  BN_free(l);
  BN_CTX_free(ctx);
  return rc;
}

ke_rc ke_combine(ke_point *S, const uint8_t *indices, const ke_point *parts, size_t count)
{
  if (!S || !parts)
    return KE_ERR_INTERNAL;
  ke_rc rc = check_indices(indices, count);
  if (rc)
    return rc;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  rc = KE_ERR_NOMEM;
  /* The P_i and every partial sum are secret (t of the P_i give S = d R,
   * which opens the envelope): OpenSSL's temporaries are in the secure
   * heap and every point is cleared when freed. */
  BN_CTX *ctx = BN_CTX_secure_new();
  BIGNUM *l = BN_new();
  EC_POINT *acc = EC_POINT_new(g), *term = EC_POINT_new(g), *p = NULL;
  if (!ctx || !l || !acc || !term)
    goto out;
  rc = KE_ERR_INTERNAL;
  if (EC_POINT_set_to_infinity(g, acc) != 1)
    goto out;
  for (size_t i = 0; i < count; i++) {
    EC_POINT_clear_free(p);
    p = NULL;
    if ((rc = ke_ec_decode(&p, parts[i].b, KE_POINT_LEN, ctx)) ||
        (rc = lagrange_bn(l, indices, count, i, ctx)))
      goto out;
    /* lambda_i is public, P_i secret: the single-term form, the code path
     * OpenSSL also takes for secret scalars. */
    rc = KE_ERR_INTERNAL;
    if (EC_POINT_mul(g, term, NULL, p, l, ctx) != 1 || EC_POINT_add(g, acc, acc, term, ctx) != 1)
      goto out;
  }
  /* Infinity (parts that cancel) is refused by the encoder. */
  rc = ke_ec_encode(S, acc, ctx);
out:
  if (rc)
    ke_wipe(S, sizeof *S);
  EC_POINT_clear_free(p);
  EC_POINT_clear_free(acc);
  EC_POINT_clear_free(term);
  BN_free(l);
  BN_CTX_free(ctx);
  return rc;
}
