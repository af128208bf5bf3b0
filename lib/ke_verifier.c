/*
 * ke_verifier.c - the versioned verifier (see ke_crypto.h and
 * docs/protocol.md "Verifier").
 *
 * v1 (the 32-byte HMAC of ke_envelope.c) lets whoever holds the database
 * test a guess with one HMAC: harmless for a 128-bit machine-generated key,
 * fatal for a passphrase a person chose.  v2 makes each guess cost one
 * scrypt at N >= 2^17 under a per-record random salt, so neither a GPU
 * dictionary run nor a table shared across records pays off.  The format
 * carries its parameters: raising the default later leaves old records
 * verifiable, and the parser's floor keeps anyone from storing a cheap v2.
 */
#include "ke_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define KV_MAGIC0 'K'
#define KV_MAGIC1 'V'
#define KV_VERSION 2
#define KV_HDR_LEN 6 /* magic(2) version log2n r p */

ke_rc ke_verifier_parse(ke_verifier_info *out, const uint8_t *buf, size_t len)
{
  if (!out || !buf)
    return KE_ERR_INTERNAL;
  memset(out, 0, sizeof *out);
  if (len == KE_VERIFIER_V1_LEN) {
    out->version = 1;
    return KE_OK;
  }
  if (len != KE_VERIFIER_V2_LEN)
    return KE_ERR_LENGTH;
  if (buf[0] != KV_MAGIC0 || buf[1] != KV_MAGIC1 || buf[2] != KV_VERSION)
    return KE_ERR_FORMAT;
  unsigned log2n = buf[3], r = buf[4], p = buf[5];
  if (log2n < KE_VERIFIER_V2_LOG2N_MIN || log2n > KE_VERIFIER_V2_LOG2N_MAX || r < 1 ||
      r > KE_VERIFIER_V2_R_MAX || p < 1 || p > KE_VERIFIER_V2_P_MAX ||
      log2n >= 16 * r || /* RFC 7914: N < 2^(128 r / 8), so r = 1 is out */
      128 * (uint64_t)r * ((uint64_t)1 << log2n) > KE_VERIFIER_V2_MEM_MAX)
    return KE_ERR_FORMAT;
  out->version = 2;
  out->log2n = log2n;
  out->r = r;
  out->p = p;
  memcpy(out->salt, buf + KV_HDR_LEN, KE_VERIFIER_SALT_LEN);
  return KE_OK;
}

ke_rc ke_verifier_decode(uint8_t out[KE_VERIFIER_MAX], size_t *len, const char *b64)
{
  uint8_t *b = NULL;
  size_t n = 0;
  ke_verifier_info info;
  ke_rc rc;

  if (!out || !len)
    return KE_ERR_INTERNAL;
  *len = 0;
  /* 72 characters encode 54 bytes: refuse anything longer before decoding. */
  if (!b64 || strlen(b64) > (KE_VERIFIER_MAX * 4 + 2) / 3)
    return KE_ERR_LENGTH;
  if ((rc = ke_b64url_decode(&b, &n, b64, 0)))
    return rc;
  if (!(rc = ke_verifier_parse(&info, b, n))) {
    memcpy(out, b, n);
    *len = n;
  }
  free(b);
  return rc;
}

ke_rc ke_verifier_v2_det(uint8_t out[KE_VERIFIER_V2_LEN], const uint8_t *secret, size_t secret_len,
                         const char *device_id, const char *volume_id,
                         const uint8_t salt[KE_VERIFIER_SALT_LEN], unsigned log2n, unsigned r,
                         unsigned p)
{
  ke_verifier_info info;
  if (!out || !salt)
    return KE_ERR_INTERNAL;
  if (!device_id || !volume_id)
    return KE_ERR_FORMAT;
  if (!secret || secret_len < KE_SECRET_MIN || secret_len > KE_SECRET_MAX)
    return KE_ERR_LENGTH;
  if (log2n > 255 || r > 255 || p > 255)
    return KE_ERR_FORMAT;
  out[0] = KV_MAGIC0;
  out[1] = KV_MAGIC1;
  out[2] = KV_VERSION;
  out[3] = (uint8_t)log2n;
  out[4] = (uint8_t)r;
  out[5] = (uint8_t)p;
  memcpy(out + KV_HDR_LEN, salt, KE_VERIFIER_SALT_LEN);
  ke_rc rc = ke_verifier_parse(&info, out, KE_VERIFIER_V2_LEN);
  if (rc) {
    ke_wipe(out, KE_VERIFIER_V2_LEN);
    return rc;
  }
  /* S = label | salt | device | 00 | volume: the label separates this use
   * of scrypt from the share files'; device and volume bind the verifier
   * to its record, as in v1. */
  uint8_t pre[sizeof KE_LABEL_SCRYPT_VERIFIER - 1 + KE_VERIFIER_SALT_LEN], *s = NULL;
  size_t ll = sizeof KE_LABEL_SCRYPT_VERIFIER - 1, sl = 0;
  memcpy(pre, KE_LABEL_SCRYPT_VERIFIER, ll);
  memcpy(pre + ll, salt, KE_VERIFIER_SALT_LEN);
  if ((rc = ke_bind_ids(&s, &sl, pre, sizeof pre, device_id, volume_id)))
    return rc;
  ke_scrypt_params prm = {(uint64_t)1 << log2n, r, p};
  rc = ke_scrypt(out + KV_HDR_LEN + KE_VERIFIER_SALT_LEN, 32, (const char *)secret, secret_len, s,
                 sl, prm);
  free(s);
  if (rc)
    ke_wipe(out, KE_VERIFIER_V2_LEN);
  return rc;
}

ke_rc ke_verifier_v2(uint8_t out[KE_VERIFIER_V2_LEN], const uint8_t *secret, size_t secret_len,
                     const char *device_id, const char *volume_id)
{
  uint8_t salt[KE_VERIFIER_SALT_LEN];
  if (!out)
    return KE_ERR_INTERNAL;
  if (ke_random(salt, sizeof salt) != KE_OK)
    return KE_ERR_RANDOM;
  return ke_verifier_v2_det(out, secret, secret_len, device_id, volume_id, salt,
                            KE_VERIFIER_V2_LOG2N, KE_VERIFIER_V2_R, KE_VERIFIER_V2_P);
}

ke_rc ke_verifier_like(uint8_t out[KE_VERIFIER_MAX], size_t *outlen, const uint8_t *stored,
                       size_t stored_len, const uint8_t *secret, size_t secret_len,
                       const char *device_id, const char *volume_id)
{
  ke_verifier_info info;
  ke_rc rc;

  if (!out || !outlen)
    return KE_ERR_INTERNAL;
  *outlen = 0;
  if ((rc = ke_verifier_parse(&info, stored, stored_len)))
    return rc;
  if (info.version == 1)
    rc = ke_verifier(out, secret, secret_len, device_id, volume_id);
  else
    rc = ke_verifier_v2_det(out, secret, secret_len, device_id, volume_id, info.salt, info.log2n,
                            info.r, info.p);
  if (!rc)
    *outlen = stored_len;
  return rc;
}

ke_rc ke_verifier_check(const uint8_t *stored, size_t stored_len, const uint8_t *secret,
                        size_t secret_len, const char *device_id, const char *volume_id)
{
  uint8_t got[KE_VERIFIER_MAX];
  size_t n = 0;
  ke_rc rc =
    ke_verifier_like(got, &n, stored, stored_len, secret, secret_len, device_id, volume_id);
  if (!rc)
    rc = n == stored_len && CRYPTO_memcmp(got, stored, n) == 0 ? KE_OK : KE_ERR_AUTH;
  ke_wipe(got, sizeof got);
  return rc;
}
