/*
 * test_verifier.c - the versioned verifier (v1 HMAC, v2 scrypt) and the
 * low-entropy rules (ke_secret.h): the parser's every refusal, check and
 * recompute-like for both forms, the cost floor, and the estimator on the
 * review's four examples and on real machine-generated key formats.  The
 * byte-exact vectors are in tests/vectors (test_kat, "verifier_v2").
 *
 * Each v2 computation is one scrypt at N = 2^17 (128 MiB, ~0.4 s): the
 * test makes as few as it can.
 */
#include <string.h>

#include "ke_crypto.h"
#include "ke_secret.h"
#include "ke_test.h"

static const char DEV[] = "dev-test", VOL[] = "vol-1";
static const uint8_t SECRET[] = "an operator typed this secret";

/* ---- the parser --------------------------------------------------------------- */
static void v2_bytes(uint8_t b[KE_VERIFIER_V2_LEN], unsigned log2n, unsigned r, unsigned p)
{
  memset(b, 0xa5, KE_VERIFIER_V2_LEN);
  b[0] = 'K';
  b[1] = 'V';
  b[2] = 2;
  b[3] = (uint8_t)log2n;
  b[4] = (uint8_t)r;
  b[5] = (uint8_t)p;
}

static void test_parse(void)
{
  ke_verifier_info info;
  uint8_t b[KE_VERIFIER_V2_LEN + 1];

  memset(b, 0, sizeof b);
  CHECK_RC(ke_verifier_parse(&info, b, 32), KE_OK);
  CHECK(info.version == 1);
  for (size_t len = 0; len <= sizeof b; len++)
    if (len != 32 && len != KE_VERIFIER_V2_LEN)
      CHECK_RC(ke_verifier_parse(&info, b, len), KE_ERR_LENGTH);
  v2_bytes(b, 17, 8, 1);
  CHECK_RC(ke_verifier_parse(&info, b, KE_VERIFIER_V2_LEN), KE_OK);
  CHECK(info.version == 2 && info.log2n == 17 && info.r == 8 && info.p == 1);
  CHECK(info.salt[0] == 0xa5 && info.salt[15] == 0xa5);
  /* Bad magic or version. */
  for (int i = 0; i < 3; i++) {
    v2_bytes(b, 17, 8, 1);
    b[i] ^= 1;
    CHECK_RC(ke_verifier_parse(&info, b, KE_VERIFIER_V2_LEN), KE_ERR_FORMAT);
  }
  /* Below the floor, above the caps, r = 1 (RFC 7914: N < 2^(16 r)), over
   * 256 MiB: all refused, so nobody can store or hand out a cheap v2. */
  static const unsigned bad[][3] = {
    {16, 8, 1},  {10, 8, 1}, {0, 8, 1},  {21, 8, 1},  {255, 8, 1}, {17, 0, 1},  {17, 1, 1},
    {17, 17, 1}, {17, 8, 0}, {17, 8, 5}, {19, 16, 1}, {20, 8, 1},  {18, 16, 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v2_bytes(b, bad[i][0], bad[i][1], bad[i][2]);
    CHECK_RC(ke_verifier_parse(&info, b, KE_VERIFIER_V2_LEN), KE_ERR_FORMAT);
  }
  static const unsigned good[][3] = {{18, 8, 1}, {20, 2, 1}, {17, 16, 4}, {17, 2, 1}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    v2_bytes(b, good[i][0], good[i][1], good[i][2]);
    CHECK_RC(ke_verifier_parse(&info, b, KE_VERIFIER_V2_LEN), KE_OK);
  }
}

static void test_decode(void)
{
  uint8_t out[KE_VERIFIER_MAX], b[KE_VERIFIER_V2_LEN];
  size_t len = 99;
  char *s;

  v2_bytes(b, 17, 8, 1);
  CHECK((s = ke_b64url_encode(b, sizeof b)) != NULL && strlen(s) == 72);
  CHECK_RC(ke_verifier_decode(out, &len, s), KE_OK);
  CHECK(len == KE_VERIFIER_V2_LEN && memcmp(out, b, len) == 0);
  free(s);
  CHECK((s = ke_b64url_encode(b, 32)) != NULL);
  CHECK_RC(ke_verifier_decode(out, &len, s), KE_OK);
  CHECK(len == 32);
  free(s);
  v2_bytes(b, 16, 8, 1);
  CHECK((s = ke_b64url_encode(b, sizeof b)) != NULL);
  CHECK_RC(ke_verifier_decode(out, &len, s), KE_ERR_FORMAT);
  CHECK(len == 0);
  free(s);
  CHECK_RC(ke_verifier_decode(out, &len, "not base64!"), KE_ERR_FORMAT);
  CHECK_RC(ke_verifier_decode(out, &len, NULL), KE_ERR_LENGTH);
  char longer[200];
  memset(longer, 'A', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  CHECK_RC(ke_verifier_decode(out, &len, longer), KE_ERR_LENGTH);
}

/* ---- compute, check, recompute ----------------------------------------------- */
static void test_v1_v2(void)
{
  uint8_t v1[KE_VERIFIER_LEN], v2[KE_VERIFIER_V2_LEN], again[KE_VERIFIER_MAX];
  size_t len = 0;
  ke_verifier_info info;
  size_t sl = sizeof SECRET - 1;

  /* v1: the old records keep working. */
  CHECK_RC(ke_verifier(v1, SECRET, sl, DEV, VOL), KE_OK);
  CHECK_RC(ke_verifier_check(v1, sizeof v1, SECRET, sl, DEV, VOL), KE_OK);
  CHECK_RC(ke_verifier_check(v1, sizeof v1, SECRET, sl - 1, DEV, VOL), KE_ERR_AUTH);
  CHECK_RC(ke_verifier_like(again, &len, v1, sizeof v1, SECRET, sl, DEV, VOL), KE_OK);
  CHECK(len == 32 && memcmp(again, v1, 32) == 0);

  /* v2 with the defaults: N = 2^17, r = 8, p = 1, a random salt. */
  CHECK_RC(ke_verifier_v2(v2, SECRET, sl, DEV, VOL), KE_OK);
  CHECK_RC(ke_verifier_parse(&info, v2, sizeof v2), KE_OK);
  CHECK(info.version == 2 && info.log2n == KE_VERIFIER_V2_LOG2N && info.log2n >= 17 &&
        info.r == 8 && info.p == 1);
  /* Recomputed like the stored one: the same bytes (what check-in sends). */
  CHECK_RC(ke_verifier_like(again, &len, v2, sizeof v2, SECRET, sl, DEV, VOL), KE_OK);
  CHECK(len == sizeof v2 && memcmp(again, v2, len) == 0);
  /* Another secret, device or volume does not match (one scrypt each). */
  CHECK_RC(ke_verifier_check(v2, sizeof v2, (const uint8_t *)"an operator typed this secreT", sl,
                             DEV, VOL),
           KE_ERR_AUTH);
  CHECK_RC(ke_verifier_check(v2, sizeof v2, SECRET, sl, "dev-other", VOL), KE_ERR_AUTH);
  /* A tampered output byte is a mismatch; tampered parameters either do
   * not parse or give another output. */
  v2[KE_VERIFIER_V2_LEN - 1] ^= 1;
  CHECK_RC(ke_verifier_check(v2, sizeof v2, SECRET, sl, DEV, VOL), KE_ERR_AUTH);
  v2[KE_VERIFIER_V2_LEN - 1] ^= 1;
  v2[3] = 16;
  CHECK_RC(ke_verifier_check(v2, sizeof v2, SECRET, sl, DEV, VOL), KE_ERR_FORMAT);
  /* Two v2 of one secret differ (the salt): a table cannot be shared. */
  uint8_t v2b[KE_VERIFIER_V2_LEN];
  CHECK_RC(ke_verifier_v2(v2b, SECRET, sl, DEV, VOL), KE_OK);
  CHECK(memcmp(v2b + 6, v2 + 6, KE_VERIFIER_SALT_LEN) != 0);
  /* Length rules as for v1. */
  CHECK_RC(ke_verifier_v2(v2b, SECRET, 15, DEV, VOL), KE_ERR_LENGTH);
  CHECK_RC(ke_verifier_v2(v2b, SECRET, sl, NULL, VOL), KE_ERR_FORMAT);
  /* _det refuses what the parser refuses, before any scrypt. */
  CHECK_RC(ke_verifier_v2_det(v2b, SECRET, sl, DEV, VOL, v2 + 6, 16, 8, 1), KE_ERR_FORMAT);
  CHECK_RC(ke_verifier_v2_det(v2b, SECRET, sl, DEV, VOL, v2 + 6, 17, 1, 1), KE_ERR_FORMAT);
}

/* ---- the estimator ------------------------------------------------------------- */
static int weak(const char *s)
{
  return ke_secret_weak_reason((const uint8_t *)s, strlen(s)) != NULL;
}

static void test_estimator(void)
{
  /* The review's four, and relatives. */
  CHECK(weak("P@ssw0rd123456789"));
  CHECK(weak("iloveyou12345678"));
  CHECK(weak("qwertyuiopasdfgh"));
  CHECK(weak("correct horse battery staple"));
  CHECK(weak("correct-horse-battery-staple"));
  CHECK(weak("CorrectHorseBatteryStaple"));
  CHECK(weak("Tr0ub4dor&3Tr0ub4dor&3"));
  CHECK(weak("purple monkey dishwasher elephant"));
  CHECK(weak("1qaz2wsx3edc4rfv5tgb"));
  CHECK(weak("Summer2024!Summer2024!"));
  /* Machine-generated keys pass: a BitLocker recovery password (8 blocks,
   * each 11 * a 16-bit value), a FileVault personal recovery key, the
   * agent's LUKS passphrase format, random base64 and hex. */
  CHECK(!weak("541772-440143-582263-513117-171534-587862-296956-456676"));
  CHECK(!weak("630630-336336-076956-113795-093731-311608-197208-014729"));
  CHECK(!weak("AU2A-PHMK-WBGX-PWKX-M3X3-VAPY"));
  CHECK(!weak("9AM3-4JKL-KBAV-F4WN-P36Y-6WAS"));
  CHECK(!weak("7WMF7-U3CFO-ELOYN-NALIS-TLJTN-PWQME-NVD4N-C3R6K"));
  CHECK(!weak("4TWo7l-IB0SE-_hZo7N8fA"));
  CHECK(!weak("876a5c6a2331200428123bdc8417987e"));
  CHECK(!weak("wmB5EMAJl7q7q7fniMd1"));
  /* Random binary secrets go by the statistical estimate only.  32 random
   * bytes score far above the line (16 are refused about once in 2000:
   * repeats pull the estimate of so short a string under 64 bits). */
  uint8_t rnd[32];
  for (int i = 0; i < 50; i++) {
    CHECK_RC(ke_random(rnd, sizeof rnd), KE_OK);
    CHECK(ke_secret_weak_reason(rnd, sizeof rnd) == NULL);
  }
  /* The reason never quotes the secret. */
  const char *why = ke_secret_weak_reason((const uint8_t *)"iloveyou12345678", 16);
  CHECK(why && !strstr(why, "iloveyou"));
}

static void test_passphrase_rule(void)
{
  CHECK(ke_passphrase_weak_reason("short", 5) != NULL);
  CHECK(ke_passphrase_weak_reason("elevenchars", 11) != NULL);
  CHECK(ke_passphrase_weak_reason("correct horse battery staple", 28) != NULL);
  CHECK(ke_passphrase_weak_reason("P@ssw0rd123456789", 17) != NULL);
  CHECK(ke_passphrase_weak_reason("a good passphrase", 17) != NULL);
  CHECK(ke_passphrase_weak_reason("pass-1-0a1b2c3d4e5f6a7b8c9d0e1f", 31) == NULL);
  CHECK(ke_passphrase_weak_reason("vortex quarry mistletoe bivouac", 31) == NULL);
  CHECK(ke_passphrase_weak_reason("Xq7#vL2!pR9z", 12) == NULL);
}

int main(void)
{
  CHECK_RC(ke_init(), KE_OK);
  test_parse();
  test_decode();
  test_v1_v2();
  test_estimator();
  test_passphrase_rule();
  return ke_test_result("test_verifier");
}
