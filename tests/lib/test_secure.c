/*
 * test_secure.c - the hardening of libescrow's secret handling:
 *   ke_init() and OpenSSL's secure heap (secret BIGNUMs and small
 *   ke_secure_alloc blocks land there; a full heap never makes
 *   ke_secure_alloc fail), the constant-time arithmetic mod n (against
 *   OpenSSL's BIGNUM results on edge and random values), the DLEQ response
 *   and the Shamir evaluation built on it, and the text rule for labels
 *   (no C0/C1 controls, no bidi or zero-width format characters).
 */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "ke_files.h"
#include "ke_internal.h"
#include "ke_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

/* ---- secure heap ------------------------------------------------------------ */
static void test_secure_heap(void)
{
  CHECK(!CRYPTO_secure_malloc_initialized());
  CHECK_RC(ke_init(), KE_OK);
  CHECK(CRYPTO_secure_malloc_initialized());
  CHECK_RC(ke_init(), KE_OK); /* idempotent */

  /* Secret BIGNUMs are backed by the heap now. */
  uint8_t one[KE_SCALAR_LEN] = {0};
  one[KE_SCALAR_LEN - 1] = 7;
  size_t before = CRYPTO_secure_used();
  BIGNUM *x = ke_bn_secret(one);
  CHECK(x && BN_get_flags(x, BN_FLG_SECURE) && BN_get_flags(x, BN_FLG_CONSTTIME));
  CHECK(CRYPTO_secure_used() > before);
  BN_clear_free(x);
  CHECK(CRYPTO_secure_used() == before);

  /* Small blocks come from the heap (except under ASan, where plain
   * calloc keeps overflow detection); large ones never do. */
  uint8_t *small = ke_secure_alloc(100), *large = ke_secure_alloc(KE_SECURE_SMALL + 1);
  CHECK(small && large);
#ifdef ASAN
  CHECK(small && !CRYPTO_secure_allocated(small));
#else
  CHECK(small && CRYPTO_secure_allocated(small));
#endif
  CHECK(large && !CRYPTO_secure_allocated(large));
  int zero = 1;
  for (size_t i = 0; small && i < 100; i++)
    zero &= small[i] == 0;
  CHECK(zero);
  if (small)
    memset(small, 0xA5, 100);
  ke_secure_free(small, 100);
  ke_secure_free(large, KE_SECURE_SMALL + 1);

  /* Fill the heap completely, largest blocks first (it is a buddy
   * allocator), then ask for a small block: it must still be granted. */
  void *fill[512];
  size_t nfill = 0;
  for (size_t sz = KE_SECURE_HEAP_SIZE; sz >= 16; sz /= 2) {
    void *p;
    while (nfill < 512 && (p = OPENSSL_secure_malloc(sz)) != NULL)
      fill[nfill++] = p;
  }
  ERR_clear_error();
  CHECK(nfill > 0 && nfill < 512);
  CHECK(OPENSSL_secure_malloc(16) == NULL); /* really full */
  ERR_clear_error();
  uint8_t *p = ke_secure_alloc(64);
  CHECK(p != NULL);
  CHECK(p && !CRYPTO_secure_allocated(p));
  zero = 1;
  for (size_t i = 0; p && i < 64; i++)
    zero &= p[i] == 0;
  CHECK(zero);
  if (p)
    memset(p, 0x5A, 64);        /* writable */
  CHECK(ERR_peek_error() == 0); /* a full heap leaves no error behind */
  ke_secure_free(p, 64);
  for (size_t i = 0; i < nfill; i++)
    OPENSSL_secure_free(fill[i]);
  p = ke_secure_alloc(64);
#ifndef ASAN
  CHECK(p && CRYPTO_secure_allocated(p)); /* and the heap is used again */
#endif
  ke_secure_free(p, 64);
}

/* ---- arithmetic mod n ------------------------------------------------------- */
static BIGNUM *order;
static BN_CTX *bnctx;

static void bn_bytes(uint8_t out[KE_SCALAR_LEN], const BIGNUM *x)
{
  CHECK(BN_bn2binpad(x, out, KE_SCALAR_LEN) == KE_SCALAR_LEN);
}

/* Edge values below n, and random ones (some with leading zero words). */
static void value(uint8_t out[KE_SCALAR_LEN], int which)
{
  BIGNUM *x = BN_new();
  switch (which) {
    case 0: BN_zero(x); break;
    case 1: BN_one(x); break;
    case 2: BN_sub(x, order, BN_value_one()); break; /* n - 1 */
    case 3:
      BN_sub(x, order, BN_value_one());
      BN_sub_word(x, 1);
      break;
    case 4: BN_rshift1(x, order); break; /* (n-1)/2 */
    case 5:
      BN_rshift1(x, order);
      BN_add_word(x, 1);
      break; /* (n+1)/2 */
    case 6: BN_set_bit(x, 192); break;
    case 7: BN_set_word(x, 255); break;
    default:
      BN_rand_range(x, order);
      if (which % 5 == 0)
        BN_rshift(x, x, 64 * (unsigned)(which % 3 + 1));
  }
  bn_bytes(out, x);
  BN_free(x);
}

static void test_mod_n(void)
{
  uint8_t a[KE_SCALAR_LEN], b[KE_SCALAR_LEN], r[KE_SCALAR_LEN], want[KE_SCALAR_LEN];
  BIGNUM *x = BN_new(), *y = BN_new(), *z = BN_new();
  for (int i = 0; i < 40; i++)
    for (int j = 0; j < 40; j++) {
      value(a, i);
      value(b, j);
      BN_bin2bn(a, KE_SCALAR_LEN, x);
      BN_bin2bn(b, KE_SCALAR_LEN, y);
      BN_mod_add(z, x, y, order, bnctx);
      bn_bytes(want, z);
      ke_mod_n_add(r, a, b);
      CHECK_BYTES(r, want, KE_SCALAR_LEN);
      /* k is any public 256-bit value, also >= n. */
      if (j == 39)
        memset(b, 0xFF, sizeof b);
      BN_bin2bn(b, KE_SCALAR_LEN, y);
      BN_mod_mul(z, y, x, order, bnctx);
      bn_bytes(want, z);
      ke_mod_n_mul_public(r, b, a);
      CHECK_BYTES(r, want, KE_SCALAR_LEN);
      memcpy(r, a, sizeof r); /* the output may alias the secret input */
      ke_mod_n_mul_public(r, b, r);
      CHECK_BYTES(r, want, KE_SCALAR_LEN);
    }
  BN_free(x);
  BN_free(y);
  BN_free(z);
}

static void test_dleq_response(void)
{
  uint8_t w[KE_SCALAR_LEN], c[KE_SCALAR_LEN], d[KE_SCALAR_LEN], s[KE_SCALAR_LEN];
  uint8_t want[KE_SCALAR_LEN];
  BIGNUM *bw = BN_new(), *bc = BN_new(), *bd = BN_new(), *t = BN_new();
  for (int i = 1; i < 30; i++) {
    value(w, i == 1 ? 2 : i);
    value(c, (i * 7) % 30 ? (i * 7) % 30 : 1);
    value(d, (i * 11) % 30 ? (i * 11) % 30 : 2);
    if (!ke_scalar_valid(w) || !ke_scalar_valid(c) || !ke_scalar_valid(d))
      continue;
    BN_bin2bn(w, KE_SCALAR_LEN, bw);
    BN_bin2bn(c, KE_SCALAR_LEN, bc);
    BN_bin2bn(d, KE_SCALAR_LEN, bd);
    BN_mod_mul(t, bc, bd, order, bnctx);
    BN_mod_sub(t, bw, t, order, bnctx);
    bn_bytes(want, t);
    CHECK_RC(ke_dleq_response(s, w, c, d), KE_OK);
    CHECK_BYTES(s, want, KE_SCALAR_LEN);
  }
  memset(c, 0, sizeof c);
  CHECK_RC(ke_dleq_response(s, w, c, d), KE_ERR_INVALID_SCALAR); /* c = 0 */
  memcpy(c, ke_order_be, sizeof c);
  CHECK_RC(ke_dleq_response(s, w, c, d), KE_ERR_INVALID_SCALAR); /* c = n */
  memset(c, 0xFF, sizeof c);
  CHECK_RC(ke_dleq_response(s, w, c, d), KE_ERR_INVALID_SCALAR); /* c > n */
  BN_free(bw);
  BN_free(bc);
  BN_free(bd);
  BN_free(t);
}

static void test_shamir_eval(void)
{
  ke_scalar coef[6];
  uint8_t got[KE_SCALAR_LEN], want[KE_SCALAR_LEN];
  BIGNUM *acc = BN_new(), *a = BN_new(), *xb = BN_new();
  for (int trial = 0; trial < 6; trial++) {
    for (int j = 0; j < 6; j++) {
      value(coef[j].b, j == 0 && trial < 3 ? 2 + trial : 8 + trial * 6 + j);
      if (!ke_scalar_valid(coef[j].b))
        coef[j].b[KE_SCALAR_LEN - 1] = 1;
    }
    for (unsigned t = 1; t <= 6; t++)
      for (unsigned x = 1; x <= 255; x += 37) {
        /* f(x) = sum a_j x^j by plain BIGNUM arithmetic. */
        BN_zero(acc);
        BN_set_word(xb, x);
        for (unsigned j = t; j-- > 0;) {
          BN_bin2bn(coef[j].b, KE_SCALAR_LEN, a);
          BN_mod_mul(acc, acc, xb, order, bnctx);
          BN_mod_add(acc, acc, a, order, bnctx);
        }
        bn_bytes(want, acc);
        ke_shamir_eval(got, coef, t, x);
        CHECK_BYTES(got, want, KE_SCALAR_LEN);
      }
  }
  BN_free(acc);
  BN_free(a);
  BN_free(xb);
}

/* ---- the text rule ---------------------------------------------------------- */
static int text_ok(const char *s)
{
  return ke_text_valid((const uint8_t *)s, strlen(s)) && ke_label_valid(s, KE_LABEL_MAX);
}

static void test_text_rule(void)
{
  static const char *const good[] = {
    "laptop-17",
    "C:",
    "Jürgen's MacBook",
    "\xe6\x97\xa5\xe6\x9c\xac", /* 日本 */
    "\xf0\x9f\x94\x91 key",
    "x\xc2\xa0y", /* emoji; NO-BREAK SPACE */
    "\xe2\x80\x90",
    "\xef\xbf\xbd",                     /* U+2010 hyphen, U+FFFD */
    "\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a", /* Arabic letters */
  };
  static const char *const bad[] = {
    "a\tb",
    "a\x7f",
    "\xc2\x80",
    "x\xc2\x85y",
    "\xc2\x9f",                   /* C0, DEL, C1 */
    "harmless\xe2\x80\xaelaptop", /* U+202E RLO */
    "\xe2\x80\xaa",
    "\xe2\x80\xab",
    "\xe2\x80\xac",
    "\xe2\x80\xad", /* U+202A..D */
    "\xe2\x81\xa6",
    "\xe2\x81\xa7",
    "\xe2\x81\xa8",
    "\xe2\x81\xa9", /* U+2066..9 */
    "\xe2\x80\x8e",
    "\xe2\x80\x8f",
    "\xd8\x9c", /* LRM, RLM, ALM */
    "a\xe2\x80\x8b"
    "b",
    "\xe2\x80\x8c",
    "\xe2\x80\x8d", /* ZWSP, ZWNJ, ZWJ */
    "\xe2\x81\xa0",
    "\xef\xbb\xbf",
    "x\xc2\xad", /* WJ, BOM, SOFT HYPHEN */
    "\xe2\x80\xa8",
    "\xe2\x80\xa9", /* LINE/PARAGRAPH SEP */
    "\xe2\x81\xaa",
    "\xe2\x81\xaf",
    "\xef\xbf\xb9", /* U+206A, U+206F, U+FFF9 */
    "\xdb\x9d",
    "\xd8\x80",
    "\xe1\xa0\x8e", /* U+06DD, U+0600, U+180E */
    "\xf3\xa0\x80\x81",
    "\xf3\xa0\x81\xbf", /* U+E0001, U+E007F tags */
    "\xf0\x9d\x85\xb3",
    "\xf0\x93\x90\xb0", /* U+1D173, U+13430 */
    "\xc0\xaf",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80", /* overlong, surrogate, >10FFFF */
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    if (!text_ok(good[i])) {
      fprintf(stderr, "good label %zu refused\n", i);
      CHECK(0);
    }
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (ke_text_valid((const uint8_t *)bad[i], strlen(bad[i]))) {
      fprintf(stderr, "bad label %zu accepted\n", i);
      CHECK(0);
    }
}

int main(void)
{
  test_secure_heap();
  order = BN_new();
  bnctx = BN_CTX_new();
  BN_bin2bn(ke_order_be, KE_SCALAR_LEN, order);
  test_mod_n();
  test_dleq_response();
  test_shamir_eval();
  test_text_rule();
  BN_free(order);
  BN_CTX_free(bnctx);
  return ke_test_result("test_secure");
}
