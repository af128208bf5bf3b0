/*
 * ke_sharekey.c - a custodian's share d_i sealed under their passphrase.
 *
 *   key    = scrypt(passphrase, salt(16), N, r, p, 32)
 *   sealed = AES-256-GCM(key, nonce, d_i) = ct(32) | tag(16)
 *   AAD    = "keyescrow-v1-share" | escrow fingerprint(32) | index(1)
 *
 * The AAD ties a share to its escrow key and custodian slot: a share file
 * copied into another slot or onto another key does not open.
 */
#include "ke_internal.h"

#include <string.h>

#define KE_SHARE_AAD_LEN (sizeof(KE_LABEL_SHARE) - 1 + KE_FPR_LEN + 1)

static void share_aad(uint8_t aad[KE_SHARE_AAD_LEN], const uint8_t fpr[KE_FPR_LEN], unsigned index)
{
  size_t ll = sizeof(KE_LABEL_SHARE) - 1;
  memcpy(aad, KE_LABEL_SHARE, ll);
  memcpy(aad + ll, fpr, KE_FPR_LEN);
  aad[ll + KE_FPR_LEN] = (uint8_t)index;
}

/* Shared argument checks.  An empty passphrase is refused: it would leave
 * the share protected by nothing but the file's permissions. */
static ke_rc check_args(const char *pass, size_t passlen, const uint8_t *salt, const uint8_t *nonce,
                        const uint8_t *fpr, unsigned index)
{
  if (!salt || !nonce || !fpr)
    return KE_ERR_INTERNAL;
  if (!pass || passlen == 0)
    return KE_ERR_LENGTH;
  if (index < 1 || index > KE_MAX_SHARES)
    return KE_ERR_INVALID_INDEX;
  return KE_OK;
}

ke_rc ke_share_seal(uint8_t out[KE_SHARE_SEALED_LEN], const char *pass, size_t passlen,
                    const uint8_t salt[16], const uint8_t nonce[KE_NONCE_LEN],
                    ke_scrypt_params params, const uint8_t fpr[KE_FPR_LEN], unsigned index,
                    const ke_scalar *d)
{
  if (!out || !d)
    return KE_ERR_INTERNAL;
  memset(out, 0, KE_SHARE_SEALED_LEN);
  ke_rc rc = check_args(pass, passlen, salt, nonce, fpr, index);
  if (rc)
    return rc;
  if (!ke_scalar_valid(d->b))
    return KE_ERR_INVALID_SCALAR;
  uint8_t key[KE_KEY_LEN], aad[KE_SHARE_AAD_LEN];
  share_aad(aad, fpr, index);
  if ((rc = ke_scrypt(key, sizeof key, pass, passlen, salt, 16, params)) == KE_OK)
    rc = ke_aead_seal(out, out + KE_SCALAR_LEN, key, nonce, aad, sizeof aad, d->b, KE_SCALAR_LEN);
  ke_wipe(key, sizeof key);
  if (rc)
    memset(out, 0, KE_SHARE_SEALED_LEN);
  return rc;
}

ke_rc ke_share_unseal(ke_scalar *d, const uint8_t *sealed, size_t len, const char *pass,
                      size_t passlen, const uint8_t salt[16], const uint8_t nonce[KE_NONCE_LEN],
                      ke_scrypt_params params, const uint8_t fpr[KE_FPR_LEN], unsigned index)
{
  if (!d)
    return KE_ERR_INTERNAL;
  memset(d, 0, sizeof *d);
  ke_rc rc = check_args(pass, passlen, salt, nonce, fpr, index);
  if (rc)
    return rc;
  if (!sealed || len != KE_SHARE_SEALED_LEN)
    return KE_ERR_LENGTH;
  uint8_t key[KE_KEY_LEN], aad[KE_SHARE_AAD_LEN];
  share_aad(aad, fpr, index);
  if ((rc = ke_scrypt(key, sizeof key, pass, passlen, salt, 16, params)) == KE_OK)
    rc = ke_aead_open(d->b, key, nonce, aad, sizeof aad, sealed, KE_SCALAR_LEN,
                      sealed + KE_SCALAR_LEN);
  ke_wipe(key, sizeof key);
  /* Authentic but out of range can only come from a broken sealer. */
  if (rc == KE_OK && !ke_scalar_valid(d->b))
    rc = KE_ERR_INVALID_SCALAR;
  if (rc)
    ke_wipe(d, sizeof *d);
  return rc;
}
