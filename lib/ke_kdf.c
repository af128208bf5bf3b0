/*
 * ke_kdf.c - the symmetric primitives under every v1 construction:
 * HKDF-SHA256 and scrypt (EVP_KDF), AES-256-GCM (EVP_CIPHER).
 *
 * They are thin on purpose: the published RFC 5869 / RFC 7914 vectors are
 * run through exactly these functions, so the KATs of the higher layers
 * rest on primitives that are themselves checked.
 */
#include "ke_internal.h"

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

/* Run OpenSSL's KDF `name` with `params` into out; out is wiped on failure
 * (the context clears its own copy of the key when freed). */
static ke_rc ke_kdf_derive(const char *name, uint8_t *out, size_t outlen, const OSSL_PARAM *params)
{
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, NULL);
  EVP_KDF_CTX *kctx;
  ke_rc rc;

  if (!kdf)
    return KE_ERR_INTERNAL;
  kctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (!kctx)
    return KE_ERR_NOMEM;
  rc = EVP_KDF_derive(kctx, out, outlen, params) == 1 ? KE_OK : KE_ERR_INTERNAL;
  EVP_KDF_CTX_free(kctx);
  if (rc)
    ke_wipe(out, outlen);
  return rc;
}

ke_rc ke_hkdf_sha256(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen,
                     const uint8_t *salt, size_t saltlen, const uint8_t *info, size_t infolen)
{
  /* RFC 5869: L <= 255 * HashLen. */
  if (!out || outlen == 0 || outlen > 255 * 32 || !ikm || ikmlen == 0 || (!salt && saltlen) ||
      (!info && infolen))
    return KE_ERR_LENGTH;
  OSSL_PARAM params[5], *p = params;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
  /* An absent salt is HashLen zero bytes (RFC 5869 2.2), which is also what
   * OpenSSL does when the parameter is not given. */
  if (saltlen)
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
  if (infolen)
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
  *p = OSSL_PARAM_construct_end();
  return ke_kdf_derive("HKDF", out, outlen, params);
}

/* Memory bound for scrypt: share files come from outside, and a file that
 * asks for more than this is refused rather than allowed to exhaust RAM. */
#define KE_SCRYPT_MAXMEM_CAP ((uint64_t)1 << 30)

ke_rc ke_scrypt(uint8_t *out, size_t outlen, const char *pass, size_t passlen, const uint8_t *salt,
                size_t saltlen, ke_scrypt_params params)
{
  if (!out || outlen == 0 || (!pass && passlen) || (!salt && saltlen))
    return KE_ERR_LENGTH;
  /* RFC 7914: N a power of two greater than 1; r, p positive.  The caps
   * keep the memory computation below free of overflow. */
  uint64_t N = params.N;
  if (N < 2 || (N & (N - 1)) || N > ((uint64_t)1 << 24) || params.r < 1 || params.r > 64 ||
      params.p < 1 || params.p > 64)
    return KE_ERR_LENGTH;
  /* OpenSSL needs 128*r*p bytes for B and 128*r*(N+2) for V. */
  uint64_t need = 128 * (uint64_t)params.r * (N + 2 + params.p);
  if (need > KE_SCRYPT_MAXMEM_CAP)
    return KE_ERR_LENGTH;
  uint64_t maxmem = need + 65536; /* explicit, never OpenSSL's 32 MiB default */
  uint32_t r = params.r, pp = params.p;

  static const char empty[1] = {0};
  OSSL_PARAM prm[7], *p = prm;
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                           (void *)(passlen ? pass : empty), passlen);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                           (void *)(saltlen ? (const void *)salt : empty), saltlen);
  *p++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &N);
  *p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
  *p++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &pp);
  *p++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
  *p = OSSL_PARAM_construct_end();
  return ke_kdf_derive("SCRYPT", out, outlen, prm);
}

/* AES-256-GCM either way (enc 1 seals, 0 opens): out gets len bytes, and
 * is wiped on any failure (never unauthenticated plaintext). */
static ke_rc aead(int enc, uint8_t *out, uint8_t tag[KE_TAG_LEN], const uint8_t key[KE_KEY_LEN],
                  const uint8_t nonce[KE_NONCE_LEN], const uint8_t *aad, size_t aadlen,
                  const uint8_t *in, size_t len)
{
  if (aadlen > INT_MAX || len > INT_MAX)
    return KE_ERR_LENGTH;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  if (!c)
    return KE_ERR_NOMEM;
  ke_rc rc = KE_ERR_INTERNAL;
  int n = 0;
  uint8_t fin[16]; /* GCM's Final writes nothing; a real buffer all the same */
  /* 12-byte nonce is the GCM default IV length: no IVLEN ctrl needed. */
  if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce, enc) != 1 ||
      (aadlen && EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) != 1) ||
      (len && (EVP_CipherUpdate(c, out, &n, in, (int)len) != 1 || (size_t)n != len)) ||
      (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, KE_TAG_LEN, tag) != 1))
    goto out;
  if (enc) {
    if (EVP_CipherFinal_ex(c, fin, &n) == 1 && n == 0 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, KE_TAG_LEN, tag) == 1)
      rc = KE_OK;
  } else {
    /* Final is where GCM compares the tag (in constant time).  A wrong tag
     * is an expected outcome: leave no OpenSSL error behind for it. */
    ERR_set_mark();
    rc = EVP_CipherFinal_ex(c, fin, &n) == 1 && n == 0 ? KE_OK : KE_ERR_AUTH;
    ERR_pop_to_mark();
  }
out:
  EVP_CIPHER_CTX_free(c); /* cleanses the key schedule */
  if (rc)
    ke_wipe(out, len);
  return rc;
}

ke_rc ke_aead_seal(uint8_t *ct, uint8_t tag[KE_TAG_LEN], const uint8_t key[KE_KEY_LEN],
                   const uint8_t nonce[KE_NONCE_LEN], const uint8_t *aad, size_t aadlen,
                   const uint8_t *pt, size_t ptlen)
{
  return aead(1, ct, tag, key, nonce, aad, aadlen, pt, ptlen);
}

ke_rc ke_aead_open(uint8_t *pt, const uint8_t key[KE_KEY_LEN], const uint8_t nonce[KE_NONCE_LEN],
                   const uint8_t *aad, size_t aadlen, const uint8_t *ct, size_t ctlen,
                   const uint8_t tag[KE_TAG_LEN])
{
  uint8_t t[KE_TAG_LEN];
  memcpy(t, tag, KE_TAG_LEN); /* the ctrl takes a non-const pointer */
  return aead(0, pt, t, key, nonce, aad, aadlen, ct, ctlen);
}

ke_rc ke_sha256(uint8_t out[32], const ke_buf *parts, size_t count)
{
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  if (!m)
    return KE_ERR_NOMEM;
  ke_rc rc = KE_ERR_INTERNAL;
  unsigned outl = 0;
  if (EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1)
    goto out;
  for (size_t i = 0; i < count; i++)
    if (parts[i].len && EVP_DigestUpdate(m, parts[i].p, parts[i].len) != 1)
      goto out;
  if (EVP_DigestFinal_ex(m, out, &outl) != 1 || outl != 32)
    goto out;
  rc = KE_OK;
out:
  EVP_MD_CTX_free(m);
  return rc;
}
