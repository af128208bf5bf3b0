/*
 * ke_envelope.c - the escrow envelope (ECIES over P-256 with HKDF-SHA256
 * and AES-256-GCM) and the verifier.
 *
 *   envelope = "KE" 01 | fingerprint(32) | R(33) | nonce(12) | ct | tag(16)
 *   key      = HKDF-SHA256(ikm = x(S), salt = R | Q, info = "keyescrow-v1-wrap")
 *   AAD      = the 80 header bytes | device_id | 00 | volume_id
 *
 * The same wrap (with another label) seals custodian parts, so the key
 * derivation and the sender half live here as shared helpers.
 */
#include "ke_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

ke_rc ke_wrap_key(uint8_t key[KE_KEY_LEN], const ke_point *S, const ke_point *R, const ke_point *Q,
                  const char *label)
{
  uint8_t salt[2 * KE_POINT_LEN];
  memcpy(salt, R->b, KE_POINT_LEN);
  memcpy(salt + KE_POINT_LEN, Q->b, KE_POINT_LEN);
  /* x(S) is the 32 bytes after the prefix of the compressed encoding. */
  return ke_hkdf_sha256(key, KE_KEY_LEN, S->b + 1, KE_SCALAR_LEN, salt, sizeof salt,
                        (const uint8_t *)label, strlen(label));
}

ke_rc ke_wrap_sender(ke_point *R, ke_point *S, const ke_scalar *k, const ke_point *Q)
{
  /* R = k*G, S = k*Q: the two products the wrap needs, each validated. */
  ke_rc rc = ke_point_mul(S, k, Q);
  if (!rc)
    rc = ke_point_mul_base(R, k);
  if (rc)
    ke_wipe(S, sizeof *S);
  return rc;
}

ke_rc ke_bind_ids(uint8_t **out, size_t *outlen, const uint8_t *prefix, size_t plen,
                  const char *device_id, const char *volume_id)
{
  size_t dl = strlen(device_id), vl = strlen(volume_id);
  if (plen > SIZE_MAX / 4 || dl > SIZE_MAX / 4 || vl > SIZE_MAX / 4)
    return KE_ERR_LENGTH;
  size_t n = plen + dl + 1 + vl;
  uint8_t *a = malloc(n);
  if (!a)
    return KE_ERR_NOMEM;
  memcpy(a, prefix, plen);
  memcpy(a + plen, device_id, dl);
  a[plen + dl] = 0x00;
  memcpy(a + plen + dl + 1, volume_id, vl);
  *out = a;
  *outlen = n;
  return KE_OK;
}

ke_rc ke_envelope_parse(ke_envelope *env, const uint8_t *buf, size_t len)
{
  if (!env || !buf)
    return KE_ERR_FORMAT;
  memset(env, 0, sizeof *env);
  if (len < KE_ENV_HDR_LEN + KE_SECRET_MIN + KE_TAG_LEN ||
      len > KE_ENV_HDR_LEN + KE_SECRET_MAX + KE_TAG_LEN)
    return KE_ERR_LENGTH;
  if (buf[0] != 'K' || buf[1] != 'E' || buf[2] != 0x01)
    return KE_ERR_FORMAT;
  ke_rc rc = ke_point_parse(&env->R, buf + 3 + KE_FPR_LEN, KE_POINT_LEN);
  if (rc)
    return rc;
  memcpy(env->fingerprint, buf + 3, KE_FPR_LEN);
  memcpy(env->nonce, buf + 3 + KE_FPR_LEN + KE_POINT_LEN, KE_NONCE_LEN);
  env->bytes = buf;
  env->len = len;
  return KE_OK;
}

ke_rc ke_envelope_seal_det(uint8_t **out, size_t *outlen, const uint8_t fpr[KE_FPR_LEN],
                           const ke_point *Q, const char *device_id, const char *volume_id,
                           const uint8_t *secret, size_t secret_len, const ke_scalar *k,
                           const uint8_t nonce[KE_NONCE_LEN])
{
  if (!out || !outlen || !fpr || !Q || !k || !nonce)
    return KE_ERR_INTERNAL;
  *out = NULL;
  *outlen = 0;
  if (!device_id || !volume_id)
    return KE_ERR_FORMAT;
  if (!secret || secret_len < KE_SECRET_MIN || secret_len > KE_SECRET_MAX)
    return KE_ERR_LENGTH;
  ke_point R, S;
  uint8_t key[KE_KEY_LEN];
  uint8_t *aad = NULL, *env = NULL;
  size_t aadlen = 0, n = KE_ENV_HDR_LEN + secret_len + KE_TAG_LEN;
  ke_rc rc = ke_wrap_sender(&R, &S, k, Q);
  if (rc)
    goto out;
  if ((rc = ke_wrap_key(key, &S, &R, Q, KE_LABEL_WRAP)))
    goto out;
  env = malloc(n);
  if (!env) {
    rc = KE_ERR_NOMEM;
    goto out;
  }
  env[0] = 'K';
  env[1] = 'E';
  env[2] = 0x01;
  memcpy(env + 3, fpr, KE_FPR_LEN);
  memcpy(env + 3 + KE_FPR_LEN, R.b, KE_POINT_LEN);
  memcpy(env + 3 + KE_FPR_LEN + KE_POINT_LEN, nonce, KE_NONCE_LEN);
  if ((rc = ke_bind_ids(&aad, &aadlen, env, KE_ENV_HDR_LEN, device_id, volume_id)))
    goto out;
  rc = ke_aead_seal(env + KE_ENV_HDR_LEN, env + KE_ENV_HDR_LEN + secret_len, key, nonce, aad,
                    aadlen, secret, secret_len);
out:
  ke_wipe(key, sizeof key);
  ke_wipe(&S, sizeof S);
  free(aad);
  if (rc) {
    free(env);
    return rc;
  }
  *out = env;
  *outlen = n;
  return KE_OK;
}

ke_rc ke_envelope_seal(uint8_t **out, size_t *outlen, const uint8_t fpr[KE_FPR_LEN],
                       const ke_point *Q, const char *device_id, const char *volume_id,
                       const uint8_t *secret, size_t secret_len)
{
  ke_scalar k;
  uint8_t nonce[KE_NONCE_LEN];
  ke_rc rc = ke_scalar_random(&k);
  if (rc == KE_OK)
    rc = ke_random(nonce, sizeof nonce);
  if (rc == KE_OK)
    rc = ke_envelope_seal_det(out, outlen, fpr, Q, device_id, volume_id, secret, secret_len, &k,
                              nonce);
  ke_wipe(&k, sizeof k);
  return rc;
}

ke_rc ke_envelope_open(uint8_t **secret, size_t *secret_len, const ke_envelope *env,
                       const ke_point *Q, const ke_point *S, const char *device_id,
                       const char *volume_id)
{
  if (!secret || !secret_len || !env || !Q || !S)
    return KE_ERR_INTERNAL;
  *secret = NULL;
  *secret_len = 0;
  if (!device_id || !volume_id)
    return KE_ERR_FORMAT;
  /* Re-validate from the bytes: the struct may have been filled by hand. */
  ke_envelope e;
  ke_point q, s;
  ke_rc rc;
  if ((rc = ke_envelope_parse(&e, env->bytes, env->len)) ||
      (rc = ke_point_parse(&q, Q->b, KE_POINT_LEN)) ||
      (rc = ke_point_parse_secret(&s, S->b, KE_POINT_LEN)))
    return rc;
  uint8_t key[KE_KEY_LEN];
  uint8_t *aad = NULL;
  size_t aadlen = 0, ctlen = e.len - KE_ENV_HDR_LEN - KE_TAG_LEN;
  uint8_t *pt = NULL;
  if ((rc = ke_wrap_key(key, &s, &e.R, &q, KE_LABEL_WRAP)))
    goto out;
  if ((rc = ke_bind_ids(&aad, &aadlen, e.bytes, KE_ENV_HDR_LEN, device_id, volume_id)))
    goto out;
  pt = ke_secure_alloc(ctlen);
  if (!pt) {
    rc = KE_ERR_NOMEM;
    goto out;
  }
  rc = ke_aead_open(pt, key, e.nonce, aad, aadlen, e.bytes + KE_ENV_HDR_LEN, ctlen,
                    e.bytes + KE_ENV_HDR_LEN + ctlen);
out:
  ke_wipe(key, sizeof key);
  ke_wipe(&s, sizeof s);
  free(aad);
  if (rc) {
    ke_secure_free(pt, ctlen);
    return rc;
  }
  *secret = pt;
  *secret_len = ctlen;
  return KE_OK;
}

ke_rc ke_envelope_sha256(uint8_t out[32], const uint8_t *env, size_t len)
{
  if (!out || (!env && len))
    return KE_ERR_INTERNAL;
  ke_buf part = {env, len};
  return ke_sha256(out, &part, 1);
}

ke_rc ke_verifier(uint8_t out[KE_VERIFIER_LEN], const uint8_t *secret, size_t secret_len,
                  const char *device_id, const char *volume_id)
{
  if (!out)
    return KE_ERR_INTERNAL;
  if (!device_id || !volume_id)
    return KE_ERR_FORMAT;
  if (!secret || secret_len < KE_SECRET_MIN || secret_len > KE_SECRET_MAX)
    return KE_ERR_LENGTH;
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!mac)
    return KE_ERR_INTERNAL;
  EVP_MAC_CTX *m = EVP_MAC_CTX_new(mac);
  EVP_MAC_free(mac);
  if (!m)
    return KE_ERR_NOMEM;
  OSSL_PARAM params[2] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
    OSSL_PARAM_construct_end(),
  };
  static const uint8_t zero = 0x00;
  size_t outl = 0;
  ke_rc rc = KE_ERR_INTERNAL;
  if (EVP_MAC_init(m, secret, secret_len, params) != 1 ||
      EVP_MAC_update(m, (const uint8_t *)KE_LABEL_VERIFIER, strlen(KE_LABEL_VERIFIER)) != 1 ||
      EVP_MAC_update(m, (const uint8_t *)device_id, strlen(device_id)) != 1 ||
      EVP_MAC_update(m, &zero, 1) != 1 ||
      EVP_MAC_update(m, (const uint8_t *)volume_id, strlen(volume_id)) != 1 ||
      EVP_MAC_final(m, out, &outl, KE_VERIFIER_LEN) != 1 || outl != KE_VERIFIER_LEN)
    goto out;
  rc = KE_OK;
out:
  EVP_MAC_CTX_free(m); /* cleanses the keyed state */
  if (rc)
    ke_wipe(out, KE_VERIFIER_LEN);
  return rc;
}
