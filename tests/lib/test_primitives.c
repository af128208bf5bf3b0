/*
 * test_primitives.c - published vectors for the primitives under libescrow,
 * run through libescrow's own wrappers (the same EVP calls the protocol
 * code makes): RFC 5869 HKDF-SHA256 cases 1-3, RFC 7914 scrypt (N=16 and
 * N=1024), the AES-256-GCM cases 13/14 of the GCM specification, and
 * SHA-256 over split input.
 */
#include "ke_internal.h"
#include "ke_test.h"

static void hex(uint8_t *out, size_t len, const char *h)
{
  if (ke_hex_decode(out, len, h) != KE_OK) {
    fprintf(stderr, "bad test hex %s\n", h);
    ke_test_failures++;
  }
}

static void seq(uint8_t *out, size_t len, uint8_t start)
{
  for (size_t i = 0; i < len; i++)
    out[i] = (uint8_t)(start + i);
}

static void test_hkdf(void)
{
  uint8_t ikm[80], salt[80], info[80], okm[82], want[82];

  /* RFC 5869 A.1 */
  memset(ikm, 0x0b, 22);
  seq(salt, 13, 0x00);
  seq(info, 10, 0xf0);
  hex(want, 42,
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
      "34007208d5b887185865");
  CHECK_RC(ke_hkdf_sha256(okm, 42, ikm, 22, salt, 13, info, 10), KE_OK);
  CHECK_BYTES(okm, want, 42);

  /* RFC 5869 A.2 */
  seq(ikm, 80, 0x00);
  seq(salt, 80, 0x60);
  seq(info, 80, 0xb0);
  hex(want, 82,
      "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
      "cc30c58179ec3e87c14c01d5c1f3434f1d87");
  CHECK_RC(ke_hkdf_sha256(okm, 82, ikm, 80, salt, 80, info, 80), KE_OK);
  CHECK_BYTES(okm, want, 82);

  /* RFC 5869 A.3: empty salt and info */
  memset(ikm, 0x0b, 22);
  hex(want, 42,
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
      "9d201395faa4b61a96c8");
  CHECK_RC(ke_hkdf_sha256(okm, 42, ikm, 22, NULL, 0, NULL, 0), KE_OK);
  CHECK_BYTES(okm, want, 42);

  /* Limits: L <= 255*32, non-empty IKM. */
  CHECK_RC(ke_hkdf_sha256(okm, 0, ikm, 22, NULL, 0, NULL, 0), KE_ERR_LENGTH);
  CHECK_RC(ke_hkdf_sha256(okm, 42, ikm, 0, NULL, 0, NULL, 0), KE_ERR_LENGTH);
  uint8_t *big = malloc(255 * 32 + 1);
  CHECK(big != NULL);
  if (big) {
    CHECK_RC(ke_hkdf_sha256(big, 255 * 32, ikm, 22, NULL, 0, NULL, 0), KE_OK);
    CHECK_RC(ke_hkdf_sha256(big, 255 * 32 + 1, ikm, 22, NULL, 0, NULL, 0), KE_ERR_LENGTH);
    free(big);
  }
}

static void test_scrypt(void)
{
  uint8_t dk[64], want[64];

  /* RFC 7914 section 12, first vector. */
  hex(want, 64,
      "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
      "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  CHECK_RC(ke_scrypt(dk, 64, "", 0, NULL, 0, (ke_scrypt_params){16, 1, 1}), KE_OK);
  CHECK_BYTES(dk, want, 64);

  /* Second vector. */
  hex(want, 64,
      "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
      "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  CHECK_RC(
    ke_scrypt(dk, 64, "password", 8, (const uint8_t *)"NaCl", 4, (ke_scrypt_params){1024, 8, 16}),
    KE_OK);
  CHECK_BYTES(dk, want, 64);

  /* Parameter validation. */
  static const uint8_t salt[16];
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){0, 8, 1}), KE_ERR_LENGTH);
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){1, 8, 1}), KE_ERR_LENGTH);
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){1000, 8, 1}), KE_ERR_LENGTH);
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){16, 0, 1}), KE_ERR_LENGTH);
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){16, 1, 0}), KE_ERR_LENGTH);
  /* 2^24 * 128 * 8 bytes = 16 GiB: refused before any allocation. */
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){1u << 24, 8, 1}), KE_ERR_LENGTH);
  CHECK_RC(ke_scrypt(dk, 32, "pw", 2, salt, 16, (ke_scrypt_params){(uint64_t)1 << 40, 1, 1}),
           KE_ERR_LENGTH);
}

static void test_gcm_sha(void)
{
  /* GCM specification (McGrew & Viega), test cases 13 and 14. */
  static const uint8_t key[32], nonce[12], zero[16];
  uint8_t ct[16], tag[16], want_ct[16], want_tag[16], pt[16];
  hex(want_tag, 16, "530f8afbc74536b9a963b4f1c4cb738b");
  CHECK_RC(ke_aead_seal(ct, tag, key, nonce, NULL, 0, zero, 0), KE_OK);
  CHECK_BYTES(tag, want_tag, 16);
  hex(want_ct, 16, "cea7403d4d606b6e074ec5d3baf39d18");
  hex(want_tag, 16, "d0d1c8a799996bf0265b98b5d48ab919");
  CHECK_RC(ke_aead_seal(ct, tag, key, nonce, NULL, 0, zero, 16), KE_OK);
  CHECK_BYTES(ct, want_ct, 16);
  CHECK_BYTES(tag, want_tag, 16);
  CHECK_RC(ke_aead_open(pt, key, nonce, NULL, 0, ct, 16, tag), KE_OK);
  CHECK_BYTES(pt, zero, 16);
  /* Any change to ciphertext, tag or AAD is caught, and no plaintext leaks. */
  tag[0] ^= 1;
  memset(pt, 0xAA, sizeof pt);
  CHECK_RC(ke_aead_open(pt, key, nonce, NULL, 0, ct, 16, tag), KE_ERR_AUTH);
  CHECK_BYTES(pt, zero, 16);
  tag[0] ^= 1;
  CHECK_RC(ke_aead_open(pt, key, nonce, (const uint8_t *)"x", 1, ct, 16, tag), KE_ERR_AUTH);

  /* SHA-256("abc"), FIPS 180-2, fed in pieces. */
  uint8_t h[32], want[32];
  hex(want, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  ke_buf parts[3] = {{"a", 1}, {"", 0}, {"bc", 2}};
  CHECK_RC(ke_sha256(h, parts, 3), KE_OK);
  CHECK_BYTES(h, want, 32);
}

int main(void)
{
  test_hkdf();
  test_scrypt();
  test_gcm_sha();
  return ke_test_result("test_primitives");
}
