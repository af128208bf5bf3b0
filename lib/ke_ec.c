/*
 * ke_ec.c - P-256 points and scalars.
 *
 * Points cross every API boundary as validated 33-byte compressed encodings
 * (ke_point), scalars as 32-byte big-endian values in [1, n-1] (ke_scalar).
 * Inside, EC_POINT / BIGNUM are used; every secret BIGNUM comes from the
 * secure heap, carries BN_FLG_CONSTTIME and is cleared on free.
 */
#include "ke_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

const uint8_t ke_order_be[KE_SCALAR_LEN] = {
  0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
  0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
};

static CRYPTO_ONCE ke_group_once = CRYPTO_ONCE_STATIC_INIT;
static EC_GROUP *ke_group;

static void ke_group_init(void) { ke_group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1); }

/* The group is never modified after creation: EC_POINT_mul and friends take
 * it const, so one instance serves every thread.  It lives until exit. */
const EC_GROUP *ke_ec_group(void)
{
  if (!CRYPTO_THREAD_run_once(&ke_group_once, ke_group_init))
    return NULL;
  return ke_group;
}

int ke_scalar_valid(const uint8_t b[KE_SCALAR_LEN])
{
  /* b < n iff b - n borrows out of the top byte; b != 0 iff some byte is
   * non-zero.  Both without data-dependent branches: b may be a share. */
  unsigned borrow = 0, acc = 0;
  for (int i = KE_SCALAR_LEN - 1; i >= 0; i--) {
    unsigned d = (unsigned)b[i] - ke_order_be[i] - borrow;
    borrow = (d >> 8) & 1;
    acc |= b[i];
  }
  unsigned nonzero = (acc + 0xFF) >> 8;
  return (int)(borrow & nonzero);
}

BIGNUM *ke_bn_secret_new(void)
{
  BIGNUM *x = BN_secure_new();
  if (x)
    BN_set_flags(x, BN_FLG_CONSTTIME);
  return x;
}

BIGNUM *ke_bn_secret(const uint8_t b[KE_SCALAR_LEN])
{
  BIGNUM *x = ke_bn_secret_new();
  if (!x)
    return NULL;
  if (!BN_bin2bn(b, KE_SCALAR_LEN, x)) {
    BN_clear_free(x);
    return NULL;
  }
  BN_set_flags(x, BN_FLG_CONSTTIME);
  return x;
}

ke_rc ke_ec_decode(EC_POINT **out, const uint8_t *buf, size_t len, BN_CTX *ctx)
{
  *out = NULL;
  /* Length and prefix first: OpenSSL would accept the single byte 00
   * (infinity) and 65-byte uncompressed forms, which v1 never uses. */
  if (!buf || len != KE_POINT_LEN || (buf[0] != 0x02 && buf[0] != 0x03))
    return KE_ERR_INVALID_POINT;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  EC_POINT *p = EC_POINT_new(g);
  if (!p)
    return KE_ERR_NOMEM;
  /* oct2point refuses x >= p and an x with no square root (not on the
   * curve); the explicit checks below keep that promise independent of
   * OpenSSL internals, and the re-encoding check refuses any alternative
   * spelling of the same point. */
  uint8_t again[KE_POINT_LEN];
  /* A refused point is an ordinary outcome, not an OpenSSL failure: drop
   * what OpenSSL queued for it so that no stale error confuses later TLS
   * or logging code on this thread. */
  ERR_set_mark();
  if (EC_POINT_oct2point(g, p, buf, len, ctx) != 1 || EC_POINT_is_at_infinity(g, p) ||
      EC_POINT_is_on_curve(g, p, ctx) != 1 ||
      EC_POINT_point2oct(g, p, POINT_CONVERSION_COMPRESSED, again, sizeof again, ctx) !=
        KE_POINT_LEN ||
      memcmp(again, buf, KE_POINT_LEN) != 0) {
    ERR_pop_to_mark();
    EC_POINT_clear_free(p);
    return KE_ERR_INVALID_POINT;
  }
  ERR_clear_last_mark();
  *out = p;
  return KE_OK;
}

ke_rc ke_ec_encode(ke_point *out, const EC_POINT *p, BN_CTX *ctx)
{
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  if (EC_POINT_is_at_infinity(g, p))
    return KE_ERR_INVALID_POINT;
  if (EC_POINT_point2oct(g, p, POINT_CONVERSION_COMPRESSED, out->b, KE_POINT_LEN, ctx) !=
      KE_POINT_LEN)
    return KE_ERR_INTERNAL;
  return KE_OK;
}

ke_rc ke_ec_mul_base(EC_POINT *r, const BIGNUM *k, BN_CTX *ctx)
{
  const EC_GROUP *g = ke_ec_group();
  if (!g || EC_POINT_mul(g, r, k, NULL, NULL, ctx) != 1)
    return KE_ERR_INTERNAL;
  return KE_OK;
}

ke_rc ke_ec_mul(EC_POINT *r, const BIGNUM *k, const EC_POINT *p, BN_CTX *ctx)
{
  const EC_GROUP *g = ke_ec_group();
  if (!g || EC_POINT_mul(g, r, NULL, p, k, ctx) != 1)
    return KE_ERR_INTERNAL;
  return KE_OK;
}

ke_rc ke_ec_mul_small(EC_POINT *r, unsigned i, const EC_POINT *p, BN_CTX *ctx)
{
  const EC_GROUP *g = ke_ec_group();
  if (!g || i == 0 || i > KE_MAX_SHARES)
    return KE_ERR_INTERNAL;
  EC_POINT *acc = EC_POINT_new(g);
  if (!acc)
    return KE_ERR_NOMEM;
  ke_rc rc = KE_ERR_INTERNAL;
  if (EC_POINT_set_to_infinity(g, acc) != 1)
    goto out;
  /* Left-to-right double-and-add over the 8 bits of i (public). */
  for (int bit = 7; bit >= 0; bit--) {
    if (EC_POINT_dbl(g, acc, acc, ctx) != 1)
      goto out;
    if (((i >> bit) & 1) && EC_POINT_add(g, acc, acc, p, ctx) != 1)
      goto out;
  }
  if (EC_POINT_copy(r, acc) != 1)
    goto out;
  rc = KE_OK;
out:
  EC_POINT_free(acc);
  return rc;
}

/* ---- arithmetic mod n on 32-byte values -------------------------------- */
/* 8 limbs of 32 bits, least significant first; sums and differences are
 * carried in 64 bits, so C gives the carries without branches. */
static void u256_load(uint32_t w[8], const uint8_t b[KE_SCALAR_LEN])
{
  for (int i = 0; i < 8; i++) {
    const uint8_t *p = b + KE_SCALAR_LEN - 4 * (i + 1);
    w[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  }
}

static void u256_store(uint8_t b[KE_SCALAR_LEN], const uint32_t w[8])
{
  for (int i = 0; i < 8; i++) {
    uint8_t *p = b + KE_SCALAR_LEN - 4 * (i + 1);
    p[0] = (uint8_t)(w[i] >> 24);
    p[1] = (uint8_t)(w[i] >> 16);
    p[2] = (uint8_t)(w[i] >> 8);
    p[3] = (uint8_t)w[i];
  }
}

/* r = a + b mod n for a, b < n: add, subtract n, keep the difference when
 * the sum reached n (a carry out of 2^256, or no borrow), chosen by mask. */
static void u256_mod_add(uint32_t r[8], const uint32_t a[8], const uint32_t b[8],
                         const uint32_t n[8])
{
  uint32_t sum[8], diff[8];
  uint64_t carry = 0, borrow = 0;
  for (int i = 0; i < 8; i++) {
    carry += (uint64_t)a[i] + b[i];
    sum[i] = (uint32_t)carry;
    carry >>= 32;
  }
  for (int i = 0; i < 8; i++) {
    uint64_t d = (uint64_t)sum[i] - n[i] - borrow;
    diff[i] = (uint32_t)d;
    borrow = d >> 63;
  }
  uint32_t mask = 0u - (uint32_t)(carry | (borrow ^ 1));
  for (int i = 0; i < 8; i++)
    r[i] = (diff[i] & mask) | (sum[i] & ~mask);
  ke_wipe(sum, sizeof sum);
  ke_wipe(diff, sizeof diff);
}

void ke_mod_n_add(uint8_t r[KE_SCALAR_LEN], const uint8_t a[KE_SCALAR_LEN],
                  const uint8_t b[KE_SCALAR_LEN])
{
  uint32_t n[8], x[8], y[8];
  u256_load(n, ke_order_be);
  u256_load(x, a);
  u256_load(y, b);
  u256_mod_add(x, x, y, n);
  u256_store(r, x);
  ke_wipe(x, sizeof x);
  ke_wipe(y, sizeof y);
}

void ke_mod_n_mul_public(uint8_t r[KE_SCALAR_LEN], const uint8_t k[KE_SCALAR_LEN],
                         const uint8_t x[KE_SCALAR_LEN])
{
  uint32_t n[8], acc[8] = {0}, xv[8];
  u256_load(n, ke_order_be);
  u256_load(xv, x);
  /* Left to right over the 256 bits of k: acc = 2 acc, then acc += x where
   * k has a one.  Branching on k is fine, k is public. */
  for (int bit = 255; bit >= 0; bit--) {
    u256_mod_add(acc, acc, acc, n);
    if ((k[KE_SCALAR_LEN - 1 - bit / 8] >> (bit % 8)) & 1)
      u256_mod_add(acc, acc, xv, n);
  }
  u256_store(r, acc);
  ke_wipe(acc, sizeof acc);
  ke_wipe(xv, sizeof xv);
}

ke_rc ke_scalar_from_hash(BIGNUM *out, const uint8_t digest[32], BN_CTX *ctx)
{
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  BIGNUM *h = BN_bin2bn(digest, 32, NULL);
  if (!h)
    return KE_ERR_NOMEM;
  int ok = BN_nnmod(out, h, EC_GROUP_get0_order(g), ctx);
  BN_free(h);
  return ok == 1 ? KE_OK : KE_ERR_INTERNAL;
}

/* ---- public API -------------------------------------------------------- */

static ke_rc point_parse(ke_point *out, const uint8_t *buf, size_t len, int secret)
{
  if (!out)
    return KE_ERR_INTERNAL;
  /* Decoding computes y from x: for a secret point the square root and its
   * temporaries are secret too, so they live in the secure heap. */
  BN_CTX *ctx = secret ? BN_CTX_secure_new() : BN_CTX_new();
  if (!ctx)
    return KE_ERR_NOMEM;
  EC_POINT *p = NULL;
  ke_rc rc = ke_ec_decode(&p, buf, len, ctx);
  if (rc == KE_OK)
    memcpy(out->b, buf, KE_POINT_LEN);
  EC_POINT_clear_free(p);
  BN_CTX_free(ctx); /* clears every BIGNUM it handed out */
  return rc;
}

ke_rc ke_point_parse(ke_point *out, const uint8_t *buf, size_t len)
{
  return point_parse(out, buf, len, 0);
}

ke_rc ke_point_parse_secret(ke_point *out, const uint8_t *buf, size_t len)
{
  return point_parse(out, buf, len, 1);
}

ke_rc ke_scalar_parse(ke_scalar *out, const uint8_t *buf, size_t len)
{
  if (!out)
    return KE_ERR_INTERNAL;
  if (!buf || len != KE_SCALAR_LEN || !ke_scalar_valid(buf))
    return KE_ERR_INVALID_SCALAR;
  memcpy(out->b, buf, KE_SCALAR_LEN);
  return KE_OK;
}

ke_rc ke_scalar_random(ke_scalar *out)
{
  if (!out)
    return KE_ERR_INTERNAL;
  /* Rejection sampling: uniform over [1, n-1].  n is within 2^-32 of 2^256,
   * so a retry essentially never happens; the bound only guards a broken
   * generator. */
  for (int tries = 0; tries < 64; tries++) {
    if (ke_random(out->b, KE_SCALAR_LEN) != KE_OK) {
      ke_wipe(out->b, KE_SCALAR_LEN);
      return KE_ERR_RANDOM;
    }
    if (ke_scalar_valid(out->b))
      return KE_OK;
  }
  ke_wipe(out->b, KE_SCALAR_LEN);
  return KE_ERR_RANDOM;
}

/* k*G or k*P for a scalar that may be secret. */
static ke_rc point_mul(ke_point *out, const ke_scalar *k, const ke_point *p)
{
  if (!out || !k)
    return KE_ERR_INTERNAL;
  if (!ke_scalar_valid(k->b))
    return KE_ERR_INVALID_SCALAR;
  const EC_GROUP *g = ke_ec_group();
  if (!g)
    return KE_ERR_INTERNAL;
  ke_rc rc = KE_ERR_NOMEM;
  BN_CTX *ctx = BN_CTX_secure_new();
  BIGNUM *kb = ke_bn_secret(k->b);
  EC_POINT *in = NULL, *r = EC_POINT_new(g);
  if (!ctx || !kb || !r)
    goto out;
  if (p) {
    if ((rc = ke_ec_decode(&in, p->b, KE_POINT_LEN, ctx)))
      goto out;
    rc = ke_ec_mul(r, kb, in, ctx);
  } else {
    rc = ke_ec_mul_base(r, kb, ctx);
  }
  if (rc == KE_OK)
    rc = ke_ec_encode(out, r, ctx);
out:
  EC_POINT_clear_free(r);
  EC_POINT_clear_free(in);
  BN_clear_free(kb);
  BN_CTX_free(ctx);
  return rc;
}

ke_rc ke_point_mul_base(ke_point *out, const ke_scalar *k) { return point_mul(out, k, NULL); }

ke_rc ke_point_generator(ke_point *g)
{
  ke_scalar one;

  memset(&one, 0, sizeof one);
  one.b[KE_SCALAR_LEN - 1] = 1;
  return ke_point_mul_base(g, &one);
}

ke_rc ke_point_mul(ke_point *out, const ke_scalar *k, const ke_point *p)
{
  if (!p)
    return KE_ERR_INVALID_POINT;
  return point_mul(out, k, p);
}
