/*
 * test_crypto.c - libescrow edge cases and validation rules, plus random
 * end-to-end runs of the threshold protocol:
 *   encodings (hex, strict base64url), secret memory, scalar and point
 *   validation, index rules, envelope binding and length limits, share
 *   sealing, and a 3-of-5 ceremony -> seal -> parts with DLEQ -> combine
 *   -> open round trip where every 2-subset must fail.
 */
#include <openssl/err.h>

#include "ke_internal.h"
#include "ke_test.h"

static ke_scalar scalar_hex(const char *h)
{
  ke_scalar s;
  memset(&s, 0, sizeof s);
  CHECK_RC(ke_hex_decode(s.b, sizeof s.b, h), KE_OK);
  return s;
}

/* ---- encodings ------------------------------------------------------------- */
static void test_hex(void)
{
  uint8_t b[4] = {0x00, 0x9f, 0xA0, 0xff}, d[4];
  char h[9];
  ke_hex_encode(h, b, 4);
  CHECK(strcmp(h, "009fa0ff") == 0);
  CHECK_RC(ke_hex_decode(d, 4, "009FA0fF"), KE_OK);
  CHECK_BYTES(d, b, 4);
  CHECK_RC(ke_hex_decode(d, 4, "009fa0f"), KE_ERR_FORMAT);    /* short */
  CHECK_RC(ke_hex_decode(d, 4, "009fa0ff00"), KE_ERR_FORMAT); /* long */
  CHECK_RC(ke_hex_decode(d, 4, "009fa0fg"), KE_ERR_FORMAT);
  CHECK_RC(ke_hex_decode(d, 4, "009fa0f "), KE_ERR_FORMAT);
  CHECK_RC(ke_hex_decode(d, 1, ":0"), KE_ERR_FORMAT); /* ':' follows '9' */
  CHECK_RC(ke_hex_decode(d, 1, "@0"), KE_ERR_FORMAT); /* '@' precedes 'A' */
  CHECK_RC(ke_hex_decode(d, 1, "`0"), KE_ERR_FORMAT); /* '`' precedes 'a' */
  CHECK_RC(ke_hex_decode(d, 1, "G0"), KE_ERR_FORMAT);
  uint8_t *p;
  size_t n;
  CHECK_RC(ke_hex_decode_alloc(&p, &n, "abc"), KE_ERR_FORMAT);
  CHECK(p == NULL);
  CHECK_RC(ke_hex_decode_alloc(&p, &n, "00ff"), KE_OK);
  CHECK(n == 2 && p && p[0] == 0 && p[1] == 0xff);
  free(p);
  CHECK_RC(ke_hex_decode_alloc(&p, &n, ""), KE_OK);
  CHECK(n == 0);
  free(p);
  /* Every byte value round-trips. */
  uint8_t all[256], back[256];
  char allh[513];
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)i;
  ke_hex_encode(allh, all, 256);
  CHECK_RC(ke_hex_decode(back, 256, allh), KE_OK);
  CHECK_BYTES(back, all, 256);
}

static void b64_ok(const char *plain, const char *enc)
{
  size_t pl = strlen(plain);
  char *e = ke_b64url_encode((const uint8_t *)plain, pl);
  CHECK(e && strcmp(e, enc) == 0);
  free(e);
  uint8_t *d = NULL;
  size_t dl = 0;
  CHECK_RC(ke_b64url_decode(&d, &dl, enc, 0), KE_OK);
  CHECK(dl == pl && d && memcmp(d, plain, pl) == 0);
  free(d);
}

static void b64_bad(const char *enc, ke_rc want)
{
  uint8_t *d = (uint8_t *)1;
  size_t dl = 99;
  CHECK_RC(ke_b64url_decode(&d, &dl, enc, 0), want);
  CHECK(d == NULL && dl == 0);
}

static void test_b64url(void)
{
  /* RFC 4648 section 10, without padding. */
  b64_ok("", "");
  b64_ok("f", "Zg");
  b64_ok("fo", "Zm8");
  b64_ok("foo", "Zm9v");
  b64_ok("foob", "Zm9vYg");
  b64_ok("fooba", "Zm9vYmE");
  b64_ok("foobar", "Zm9vYmFy");
  /* The URL alphabet: 62 is '-', 63 is '_'. */
  uint8_t hi[3] = {0xfb, 0xef, 0xff};
  char *e = ke_b64url_encode(hi, 3);
  CHECK(e && strcmp(e, "--__") == 0);
  free(e);

  b64_bad("Zg==", KE_ERR_FORMAT); /* padding */
  b64_bad("Zg=", KE_ERR_FORMAT);
  b64_bad("Zm9vYg==", KE_ERR_FORMAT);
  b64_bad("Z", KE_ERR_FORMAT); /* impossible length */
  b64_bad("Zm9vY", KE_ERR_FORMAT);
  b64_bad("Zh", KE_ERR_FORMAT); /* non-canonical: unused bits set */
  b64_bad("Zm9", KE_ERR_FORMAT);
  b64_bad("Zm+v", KE_ERR_FORMAT); /* standard alphabet, not URL */
  b64_bad("Zm/v", KE_ERR_FORMAT);
  b64_bad("Zm v", KE_ERR_FORMAT); /* whitespace */
  b64_bad("Zm9v\n", KE_ERR_FORMAT);
  b64_bad("Zm9\x80", KE_ERR_FORMAT);
  b64_bad("Zm9.", KE_ERR_FORMAT);

  /* Every byte value through encode/decode, and the secure variant. */
  uint8_t all[256];
  for (int i = 0; i < 256; i++)
    all[i] = (uint8_t)i;
  for (size_t len = 0; len <= 256; len += 37) {
    char *s = ke_b64url_encode(all, len);
    CHECK(s != NULL);
    if (!s)
      continue;
    uint8_t *d = NULL;
    size_t dl = 0;
    CHECK_RC(ke_b64url_decode(&d, &dl, s, 1), KE_OK);
    CHECK(dl == len && d && memcmp(d, all, len) == 0);
    ke_secure_free(d, dl);
    free(s);
  }

  uint8_t fx[3];
  CHECK_RC(ke_b64url_decode_fixed(fx, 3, "Zm9v"), KE_OK);
  CHECK(memcmp(fx, "foo", 3) == 0);
  CHECK_RC(ke_b64url_decode_fixed(fx, 3, "Zm9vYg"), KE_ERR_LENGTH);
  CHECK_RC(ke_b64url_decode_fixed(fx, 2, "Zm9v"), KE_ERR_LENGTH);
  CHECK_RC(ke_b64url_decode_fixed(fx, 3, "Zm9="), KE_ERR_FORMAT);
  CHECK_RC(ke_b64url_decode_fixed(fx, 3, "Zm+v"), KE_ERR_FORMAT);
}

static void test_memory_random(void)
{
  for (size_t len = 0; len <= 70000; len = len * 3 + 1) {
    uint8_t *p = ke_secure_alloc(len);
    CHECK(p != NULL);
    if (!p)
      continue;
    size_t zero = 1;
    for (size_t i = 0; i < len; i++)
      zero &= p[i] == 0;
    CHECK(zero);
    memset(p, 0x5a, len);
    ke_secure_free(p, len);
  }
  ke_secure_free(NULL, 10);
  CHECK(ke_ct_eq("abc", "abc", 3) == 1);
  CHECK(ke_ct_eq("abc", "abd", 3) == 0);

  uint8_t a[32], b[32];
  CHECK_RC(ke_random(a, sizeof a), KE_OK);
  CHECK_RC(ke_random(b, sizeof b), KE_OK);
  CHECK(memcmp(a, b, 32) != 0);
  ke_scalar s;
  CHECK_RC(ke_scalar_random(&s), KE_OK);
  CHECK(ke_scalar_valid(s.b));

  /* Every rc has its own text. */
  for (int i = KE_OK; i <= KE_ERR_INTERNAL; i++)
    for (int j = i + 1; j <= KE_ERR_INTERNAL; j++)
      CHECK(strcmp(ke_rc_str((ke_rc)i), ke_rc_str((ke_rc)j)) != 0);
}

/* ---- scalars and points ------------------------------------------------------- */
#define N_HEX "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"
#define NM1_HEX "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550"
#define G_HEX "036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"

static void test_scalars(void)
{
  ke_scalar s, out;
  uint8_t b[33];
  memset(b, 0, sizeof b);
  CHECK_RC(ke_scalar_parse(&out, b, 32), KE_ERR_INVALID_SCALAR); /* 0 */
  b[31] = 1;
  CHECK_RC(ke_scalar_parse(&out, b, 32), KE_OK); /* 1 */
  CHECK_RC(ke_scalar_parse(&out, b, 31), KE_ERR_INVALID_SCALAR);
  CHECK_RC(ke_scalar_parse(&out, b, 33), KE_ERR_INVALID_SCALAR);
  s = scalar_hex(N_HEX);
  CHECK_RC(ke_scalar_parse(&out, s.b, 32), KE_ERR_INVALID_SCALAR); /* n */
  s = scalar_hex(NM1_HEX);
  CHECK_RC(ke_scalar_parse(&out, s.b, 32), KE_OK); /* n - 1 */
  s = scalar_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632552");
  CHECK_RC(ke_scalar_parse(&out, s.b, 32), KE_ERR_INVALID_SCALAR); /* n + 1 */
  memset(s.b, 0xff, 32);
  CHECK_RC(ke_scalar_parse(&out, s.b, 32), KE_ERR_INVALID_SCALAR);
  s = scalar_hex("fffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
  CHECK_RC(ke_scalar_parse(&out, s.b, 32), KE_OK); /* < n, top byte ff */

  /* 1*G = G and (n-1)*G = -G: same x, other y parity. */
  uint8_t g[KE_POINT_LEN];
  CHECK_RC(ke_hex_decode(g, sizeof g, G_HEX), KE_OK);
  ke_point P;
  memset(s.b, 0, 32);
  s.b[31] = 1;
  CHECK_RC(ke_point_mul_base(&P, &s), KE_OK);
  CHECK_BYTES(P.b, g, KE_POINT_LEN);
  s = scalar_hex(NM1_HEX);
  CHECK_RC(ke_point_mul_base(&P, &s), KE_OK);
  CHECK(P.b[0] == 0x02 && memcmp(P.b + 1, g + 1, 32) == 0);
  /* Multiplication refuses out-of-range scalars. */
  s = scalar_hex(N_HEX);
  CHECK_RC(ke_point_mul_base(&P, &s), KE_ERR_INVALID_SCALAR);
  memset(s.b, 0, 32);
  CHECK_RC(ke_point_mul_base(&P, &s), KE_ERR_INVALID_SCALAR);
  /* 2*G via mul(2, G) equals mul_base(2). */
  ke_point G, P2;
  CHECK_RC(ke_point_parse(&G, g, sizeof g), KE_OK);
  s.b[31] = 2;
  CHECK_RC(ke_point_mul_base(&P, &s), KE_OK);
  CHECK_RC(ke_point_mul(&P2, &s, &G), KE_OK);
  CHECK_BYTES(P.b, P2.b, KE_POINT_LEN);
}

static void test_points(void)
{
  ke_point p;
  uint8_t b[65];
  /* x = 1 has no y on P-256 (1 - 3 + b is a non-residue), either prefix. */
  memset(b, 0, sizeof b);
  b[0] = 0x02;
  b[32] = 0x01;
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  b[0] = 0x03;
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  b[32] = 0x02; /* x = 2: also off the curve */
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  /* x = p (and so x >= p) */
  CHECK_RC(
    ke_hex_decode(b, 33, "02ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"),
    KE_OK);
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  /* x = p + 5 would alias the valid x = 5 if reduced mod p */
  CHECK_RC(
    ke_hex_decode(b, 33, "02ffffffff00000001000000000000000000000001000000000000000000000004"),
    KE_OK);
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  /* G with other prefixes and lengths */
  CHECK_RC(ke_hex_decode(b, 33, G_HEX), KE_OK);
  CHECK_RC(ke_point_parse(&p, b, 33), KE_OK);
  CHECK_RC(ke_point_parse(&p, b, 32), KE_ERR_INVALID_POINT);
  CHECK_RC(ke_point_parse(&p, b, 34), KE_ERR_INVALID_POINT);
  b[0] = 0x05;
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  b[0] = 0x00;
  CHECK_RC(ke_point_parse(&p, b, 1), KE_ERR_INVALID_POINT);
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  CHECK_RC(ke_point_parse(&p, NULL, 33), KE_ERR_INVALID_POINT);
  /* The 65-byte uncompressed form of G is refused: v1 is compressed only. */
  CHECK_RC(ke_hex_decode(b, 65,
                         "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                         "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"),
           KE_OK);
  CHECK_RC(ke_point_parse(&p, b, 65), KE_ERR_INVALID_POINT);
  /* Refusals leave nothing on OpenSSL's error queue (it would confuse
   * TLS code that runs later on the same thread). */
  ERR_clear_error();
  memset(b, 0, sizeof b);
  b[0] = 0x02;
  b[32] = 0x01;
  CHECK_RC(ke_point_parse(&p, b, 33), KE_ERR_INVALID_POINT);
  CHECK(ERR_peek_error() == 0);
}

/* ---- the protocol ---------------------------------------------------------------- */
static ke_escrow_pub pub;

static void test_ceremony_rules(void)
{
  ke_scalar sh[255];
  CHECK_RC(ke_ceremony(&pub, sh, 0, 3), KE_ERR_THRESHOLD);
  CHECK_RC(ke_ceremony(&pub, sh, 4, 3), KE_ERR_THRESHOLD);
  CHECK_RC(ke_ceremony(&pub, sh, 2, 256), KE_ERR_THRESHOLD);
  CHECK_RC(ke_ceremony(&pub, sh, 1, 1), KE_OK);
  CHECK(pub.t == 1 && pub.n == 1);
  CHECK_BYTES(pub.public_shares[0].b, pub.commitments[0].b, KE_POINT_LEN); /* Q_1 = Q */
  CHECK_RC(ke_share_check(&pub, 1, &sh[0]), KE_OK);
  /* The largest N, and the index rules of ke_share_check at its edges. */
  CHECK_RC(ke_ceremony(&pub, sh, 2, 255), KE_OK);
  CHECK_RC(ke_share_check(&pub, 255, &sh[254]), KE_OK);
  CHECK_RC(ke_share_check(&pub, 1, &sh[0]), KE_OK);
  CHECK_RC(ke_share_check(&pub, 0, &sh[0]), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_share_check(&pub, 256, &sh[0]), KE_ERR_INVALID_INDEX);
  /* A zero coefficient is refused in the deterministic ceremony. */
  ke_scalar coef[2];
  memset(coef, 0, sizeof coef);
  coef[0].b[31] = 7;
  CHECK_RC(ke_ceremony_det(&pub, sh, 2, 3, coef), KE_ERR_INVALID_SCALAR);
  /* Commitments must be valid points. */
  ke_point bad[2];
  memset(bad, 0, sizeof bad);
  CHECK_RC(ke_escrow_pub_from_commitments(&pub, 2, 3, bad), KE_ERR_INVALID_POINT);
  ke_wipe(sh, sizeof sh);
}

static void test_index_rules(void)
{
  ke_scalar l;
  ke_point S, parts[3];
  uint8_t ok[3] = {1, 2, 3}, zero[3] = {1, 0, 3}, dup[3] = {2, 5, 2};
  CHECK_RC(ke_lagrange(&l, ok, 3, 0), KE_OK);
  CHECK_RC(ke_lagrange(&l, ok, 3, 3), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_lagrange(&l, zero, 3, 0), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_lagrange(&l, dup, 3, 1), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_lagrange(&l, ok, 0, 0), KE_ERR_THRESHOLD);
  /* lambda for {1} alone is 1; for {1,2}: lambda_1 = 2, lambda_2 = -1. */
  CHECK_RC(ke_lagrange(&l, ok, 1, 0), KE_OK);
  ke_scalar one;
  memset(&one, 0, sizeof one);
  one.b[31] = 1;
  CHECK_BYTES(l.b, one.b, 32);
  CHECK_RC(ke_lagrange(&l, ok, 2, 1), KE_OK);
  ke_scalar nm1 = scalar_hex(NM1_HEX);
  CHECK_BYTES(l.b, nm1.b, 32);

  uint8_t g[KE_POINT_LEN];
  CHECK_RC(ke_hex_decode(g, sizeof g, G_HEX), KE_OK);
  for (int i = 0; i < 3; i++)
    CHECK_RC(ke_point_parse(&parts[i], g, sizeof g), KE_OK);
  CHECK_RC(ke_combine(&S, zero, parts, 3), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_combine(&S, dup, parts, 3), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_combine(&S, ok, parts, 0), KE_ERR_THRESHOLD);
  /* All parts equal G: sum of lambdas is 1, so S = G. */
  CHECK_RC(ke_combine(&S, ok, parts, 3), KE_OK);
  CHECK_BYTES(S.b, g, KE_POINT_LEN);
  /* A part that is not a point is refused. */
  parts[1].b[0] = 0x00;
  CHECK_RC(ke_combine(&S, ok, parts, 3), KE_ERR_INVALID_POINT);
}

static void test_envelope_rules(void)
{
  ke_scalar sh[5];
  CHECK_RC(ke_ceremony(&pub, sh, 3, 5), KE_OK);
  const ke_point *Q = &pub.commitments[0];
  uint8_t secret[1025];
  CHECK_RC(ke_random(secret, sizeof secret), KE_OK);
  uint8_t *env = NULL;
  size_t envlen = 0;
  /* Secret length limits. */
  CHECK_RC(ke_envelope_seal(&env, &envlen, pub.fingerprint, Q, "d", "v", secret, 15),
           KE_ERR_LENGTH);
  CHECK(env == NULL);
  CHECK_RC(ke_envelope_seal(&env, &envlen, pub.fingerprint, Q, "d", "v", secret, 1025),
           KE_ERR_LENGTH);
  CHECK_RC(ke_verifier((uint8_t[32]){0}, secret, 15, "d", "v"), KE_ERR_LENGTH);

  /* d = f(0) from three shares, to open directly with S = d*R. */
  static const size_t lens[] = {16, 17, 100, 1024};
  for (size_t li = 0; li < 4; li++) {
    size_t len = lens[li];
    CHECK_RC(ke_envelope_seal(&env, &envlen, pub.fingerprint, Q, "dev-1", "vol-1", secret, len),
             KE_OK);
    CHECK(envlen == KE_ENV_HDR_LEN + len + KE_TAG_LEN);
    if (!env)
      continue;
    ke_envelope e;
    CHECK_RC(ke_envelope_parse(&e, env, envlen), KE_OK);
    CHECK_BYTES(e.fingerprint, pub.fingerprint, KE_FPR_LEN);
    /* Parts from custodians 1, 2, 4 and the combination. */
    uint8_t idx[3] = {1, 2, 4};
    ke_point parts[3], S;
    for (int j = 0; j < 3; j++)
      CHECK_RC(ke_point_mul(&parts[j], &sh[idx[j] - 1], &e.R), KE_OK);
    CHECK_RC(ke_combine(&S, idx, parts, 3), KE_OK);
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &S, "dev-1", "vol-1"), KE_OK);
    CHECK(ptlen == len && pt && memcmp(pt, secret, len) == 0);
    ke_secure_free(pt, ptlen);
    /* Swapped records are caught: another device or volume fails. */
    ERR_clear_error();
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &S, "dev-2", "vol-1"), KE_ERR_AUTH);
    CHECK(ERR_peek_error() == 0);
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &S, "dev-1", "vol-2"), KE_ERR_AUTH);
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &S, "dev-1vol-1", ""), KE_ERR_AUTH);
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &S, "dev-", "1vol-1"), KE_ERR_AUTH);
    CHECK(pt == NULL);
    /* A wrong S or Q fails. */
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &parts[0], "dev-1", "vol-1"), KE_ERR_AUTH);
    CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, &pub.commitments[1], &S, "dev-1", "vol-1"),
             KE_ERR_AUTH);
    /* Any flipped bit in the fingerprint, nonce, ciphertext or tag fails. */
    size_t pos[] = {3, 3 + KE_FPR_LEN + KE_POINT_LEN, KE_ENV_HDR_LEN, envlen - 1};
    for (size_t k = 0; k < 4; k++) {
      env[pos[k]] ^= 0x10;
      CHECK_RC(ke_envelope_parse(&e, env, envlen), KE_OK);
      CHECK_RC(ke_envelope_open(&pt, &ptlen, &e, Q, &S, "dev-1", "vol-1"), KE_ERR_AUTH);
      env[pos[k]] ^= 0x10;
    }
    /* Header rules of the parser. */
    env[0] = 'X';
    CHECK_RC(ke_envelope_parse(&e, env, envlen), KE_ERR_FORMAT);
    env[0] = 'K';
    env[2] = 0x02;
    CHECK_RC(ke_envelope_parse(&e, env, envlen), KE_ERR_FORMAT);
    env[2] = 0x01;
    env[3 + KE_FPR_LEN] = 0x04;
    CHECK_RC(ke_envelope_parse(&e, env, envlen), KE_ERR_INVALID_POINT);
    free(env);
    env = NULL;
  }
  /* Parser length limits: 80 + {16..1024} + 16. */
  uint8_t *raw = calloc(1, KE_ENV_HDR_LEN + 1025 + KE_TAG_LEN);
  if (raw) {
    ke_envelope e;
    CHECK_RC(ke_envelope_parse(&e, raw, KE_ENV_HDR_LEN + 15 + KE_TAG_LEN), KE_ERR_LENGTH);
    CHECK_RC(ke_envelope_parse(&e, raw, KE_ENV_HDR_LEN + 1025 + KE_TAG_LEN), KE_ERR_LENGTH);
    CHECK_RC(ke_envelope_parse(&e, raw, 0), KE_ERR_LENGTH);
    CHECK_RC(ke_envelope_parse(&e, raw, KE_ENV_HDR_LEN + 16 + KE_TAG_LEN), KE_ERR_FORMAT);
    free(raw);
  }
  ke_wipe(sh, sizeof sh);
}

/* A fresh 3-of-5 escrow key, a sealed secret, and the full retrieval. */
static void test_round_trip(void)
{
  ke_scalar *sh = ke_secure_alloc(5 * sizeof(ke_scalar));
  CHECK(sh != NULL);
  if (!sh)
    return;
  CHECK_RC(ke_ceremony(&pub, sh, 3, 5), KE_OK);
  for (unsigned i = 1; i <= 5; i++) {
    CHECK_RC(ke_share_check(&pub, i, &sh[i - 1]), KE_OK);
    CHECK_RC(ke_share_check(&pub, i % 5 + 1, &sh[i - 1]), KE_ERR_PROOF);
  }
  ke_scalar tweak = sh[0];
  tweak.b[31] ^= 1;
  CHECK_RC(ke_share_check(&pub, 1, &tweak), KE_ERR_PROOF);
  static ke_escrow_pub pub2;
  CHECK_RC(ke_escrow_pub_from_commitments(&pub2, 3, 5, pub.commitments), KE_OK);
  CHECK_BYTES(pub2.fingerprint, pub.fingerprint, KE_FPR_LEN);
  CHECK_BYTES(pub2.public_shares, pub.public_shares, 5 * sizeof(ke_point));

  const ke_point *Q = &pub.commitments[0];
  const char *dev = "laptop-17", *vol = "luks-root", *rid = "req-42";
  uint8_t secret[48], *env = NULL;
  size_t envlen = 0;
  CHECK_RC(ke_random(secret, sizeof secret), KE_OK);
  CHECK_RC(ke_envelope_seal(&env, &envlen, pub.fingerprint, Q, dev, vol, secret, sizeof secret),
           KE_OK);
  if (!env)
    goto out;
  uint8_t ver[KE_VERIFIER_LEN], ver2[KE_VERIFIER_LEN];
  CHECK_RC(ke_verifier(ver, secret, sizeof secret, dev, vol), KE_OK);
  ke_envelope e;
  CHECK_RC(ke_envelope_parse(&e, env, envlen), KE_OK);

  /* Requester: one-time key. */
  ke_scalar ekey;
  ke_point E;
  CHECK_RC(ke_scalar_random(&ekey), KE_OK);
  CHECK_RC(ke_point_mul_base(&E, &ekey), KE_OK);
  char sas[KE_SAS_LEN + 1];
  ke_sas(sas, rid, &E, &e.R);
  CHECK(strlen(sas) == KE_SAS_LEN && strspn(sas, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") == 8);

  /* Every custodian contributes a sealed part; the requester opens and
   * verifies each against the public share. */
  ke_point P[5];
  const uint8_t *ctx = (const uint8_t *)rid;
  for (unsigned i = 1; i <= 5; i++) {
    ke_dleq pr, got;
    uint8_t part[KE_PART_LEN];
    CHECK_RC(ke_dleq_prove(&pr, i, &sh[i - 1], &pub.public_shares[i - 1], &e.R, ctx, strlen(rid)),
             KE_OK);
    CHECK_RC(ke_part_seal(part, &E, rid, i, &pr), KE_OK);
    CHECK_RC(ke_part_open(&got, part, sizeof part, &ekey, &E, rid, i), KE_OK);
    CHECK_BYTES(&got, &pr, sizeof got);
    CHECK_RC(ke_dleq_verify(&got, i, &pub.public_shares[i - 1], &e.R, ctx, strlen(rid)), KE_OK);
    /* Verified against the wrong custodian's Q_i, it fails. */
    CHECK_RC(ke_dleq_verify(&got, i, &pub.public_shares[i % 5], &e.R, ctx, strlen(rid)),
             KE_ERR_PROOF);
    /* A custodian with the wrong share cannot produce a proof. */
    CHECK_RC(ke_dleq_prove(&pr, i, &sh[i % 5], &pub.public_shares[i - 1], &e.R, ctx, strlen(rid)),
             KE_ERR_PROOF);
    CHECK_RC(ke_dleq_prove(&pr, 0, &sh[i - 1], &pub.public_shares[i - 1], &e.R, ctx, strlen(rid)),
             KE_ERR_INVALID_INDEX);
    CHECK_RC(ke_part_seal(part, &E, rid, 256, &got), KE_ERR_INVALID_INDEX);
    P[i - 1] = got.P;
  }

  /* The reference S from all five parts; that it is d*R shows in the
   * envelope opening with it below. */
  ke_point Strue;
  uint8_t all[5] = {1, 2, 3, 4, 5};
  CHECK_RC(ke_combine(&Strue, all, P, 5), KE_OK);
  /* Every 3-, 4- and 5-subset opens; every 1- and 2-subset does not. */
  int opened = 0, refused = 0;
  for (unsigned mask = 1; mask < 32; mask++) {
    uint8_t idx[5];
    ke_point sub[5], S;
    size_t cnt = 0;
    for (unsigned i = 0; i < 5; i++)
      if (mask & (1u << i)) {
        idx[cnt] = (uint8_t)(i + 1);
        sub[cnt++] = P[i];
      }
    CHECK_RC(ke_combine(&S, idx, sub, cnt), KE_OK);
    uint8_t *pt = NULL;
    size_t ptlen = 0;
    ke_rc rc = ke_envelope_open(&pt, &ptlen, &e, Q, &S, dev, vol);
    if (cnt >= 3) {
      CHECK_BYTES(S.b, Strue.b, KE_POINT_LEN);
      CHECK_RC(rc, KE_OK);
      CHECK(ptlen == sizeof secret && pt && memcmp(pt, secret, sizeof secret) == 0);
      if (rc == KE_OK) {
        CHECK_RC(ke_verifier(ver2, pt, ptlen, dev, vol), KE_OK);
        CHECK_BYTES(ver2, ver, KE_VERIFIER_LEN);
      }
      opened++;
    } else {
      CHECK(memcmp(S.b, Strue.b, KE_POINT_LEN) != 0);
      CHECK_RC(rc, KE_ERR_AUTH);
      refused++;
    }
    ke_secure_free(pt, ptlen);
  }
  CHECK(opened == 16 && refused == 15);
  free(env);
out:
  ke_secure_free(sh, 5 * sizeof(ke_scalar));
}

static void test_share_sealing(void)
{
  ke_scalar d, got;
  uint8_t salt[16], nonce[KE_NONCE_LEN], fpr[KE_FPR_LEN], sealed[KE_SHARE_SEALED_LEN];
  CHECK_RC(ke_scalar_random(&d), KE_OK);
  CHECK_RC(ke_random(salt, sizeof salt), KE_OK);
  CHECK_RC(ke_random(nonce, sizeof nonce), KE_OK);
  CHECK_RC(ke_random(fpr, sizeof fpr), KE_OK);
  ke_scrypt_params prm = {1024, 8, 1}; /* small: this is about the format */
  CHECK_RC(ke_share_seal(sealed, "pass phrase", 11, salt, nonce, prm, fpr, 3, &d), KE_OK);
  CHECK_RC(
    ke_share_unseal(&got, sealed, sizeof sealed, "pass phrase", 11, salt, nonce, prm, fpr, 3),
    KE_OK);
  CHECK_BYTES(got.b, d.b, 32);
  CHECK_RC(
    ke_share_unseal(&got, sealed, sizeof sealed, "pass phrasf", 11, salt, nonce, prm, fpr, 3),
    KE_ERR_AUTH);
  ke_scrypt_params other = {2048, 8, 1};
  CHECK_RC(
    ke_share_unseal(&got, sealed, sizeof sealed, "pass phrase", 11, salt, nonce, other, fpr, 3),
    KE_ERR_AUTH);
  CHECK_RC(
    ke_share_unseal(&got, sealed, sizeof sealed - 1, "pass phrase", 11, salt, nonce, prm, fpr, 3),
    KE_ERR_LENGTH);
  CHECK_RC(
    ke_share_unseal(&got, sealed, sizeof sealed, "pass phrase", 11, salt, nonce, prm, fpr, 0),
    KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_share_seal(sealed, "", 0, salt, nonce, prm, fpr, 3, &d), KE_ERR_LENGTH);
  memset(d.b, 0, 32);
  CHECK_RC(ke_share_seal(sealed, "pw", 2, salt, nonce, prm, fpr, 3, &d), KE_ERR_INVALID_SCALAR);
}

int main(void)
{
  test_hex();
  test_b64url();
  test_memory_random();
  test_scalars();
  test_points();
  test_ceremony_rules();
  test_index_rules();
  test_envelope_rules();
  test_round_trip();
  test_share_sealing();
  return ke_test_result("test_crypto");
}
