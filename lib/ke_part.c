/*
 * ke_part.c - a custodian's part sealed to the requester's one-time key E,
 * and the short confirmation code (SAS) that binds E to the request.
 *
 *   part = "KP" 01 | Re(33) | nonce(12) | ct(97) | tag(16)      (161 bytes)
 *   key  = HKDF-SHA256(x(k E), salt = Re | E, info = "keyescrow-v1-partial")
 *   AAD  = the 48 header bytes | request_id | index (1 byte)
 *   pt   = P_i | c | s (ke_dleq_encode)
 *
 * The server relays parts but never holds P_i: only the holder of e can
 * open them, and the AAD stops a part being replayed into another request
 * or under another index.
 */
#include "ke_internal.h"

#include <stdlib.h>
#include <string.h>

/* AAD = hdr(48) | request_id | index, malloc'd. */
static ke_rc part_aad(uint8_t **aad, size_t *aadlen, const uint8_t *hdr, const char *request_id,
                      unsigned index)
{
  size_t rl = strlen(request_id);
  if (rl > SIZE_MAX / 2)
    return KE_ERR_LENGTH;
  uint8_t *a = malloc(KE_PART_HDR_LEN + rl + 1);
  if (!a)
    return KE_ERR_NOMEM;
  memcpy(a, hdr, KE_PART_HDR_LEN);
  memcpy(a + KE_PART_HDR_LEN, request_id, rl);
  a[KE_PART_HDR_LEN + rl] = (uint8_t)index;
  *aad = a;
  *aadlen = KE_PART_HDR_LEN + rl + 1;
  return KE_OK;
}

static ke_rc check_args(const char *request_id, unsigned index)
{
  if (!request_id)
    return KE_ERR_FORMAT;
  if (index < 1 || index > KE_MAX_SHARES)
    return KE_ERR_INVALID_INDEX;
  return KE_OK;
}

ke_rc ke_part_seal_key(uint8_t out[KE_PART_LEN], const uint8_t key[KE_KEY_LEN], const ke_point *Re,
                       const uint8_t nonce[KE_NONCE_LEN], const char *request_id, unsigned index,
                       const ke_dleq *proof)
{
  uint8_t pt[KE_DLEQ_LEN];
  uint8_t *aad = NULL;
  size_t aadlen = 0;
  ke_rc rc;

  memset(out, 0, KE_PART_LEN);
  if ((rc = check_args(request_id, index)))
    return rc;
  /* The proof's scalars must be in range (an honest prover never makes
   * anything else); its P came from our own multiplication or passed the
   * strict parser, so nothing malformed is ever sealed. */
  if (!ke_scalar_valid(proof->c.b) || !ke_scalar_valid(proof->s.b))
    return KE_ERR_INVALID_SCALAR;
  ke_dleq_encode(pt, proof);
  out[0] = 'K';
  out[1] = 'P';
  out[2] = 0x01;
  memcpy(out + 3, Re->b, KE_POINT_LEN);
  memcpy(out + 3 + KE_POINT_LEN, nonce, KE_NONCE_LEN);
  if ((rc = part_aad(&aad, &aadlen, out, request_id, index)) == KE_OK)
    rc = ke_aead_seal(out + KE_PART_HDR_LEN, out + KE_PART_HDR_LEN + KE_DLEQ_LEN, key, nonce, aad,
                      aadlen, pt, sizeof pt);
  ke_wipe(pt, sizeof pt);
  free(aad);
  if (rc)
    memset(out, 0, KE_PART_LEN);
  return rc;
}

ke_rc ke_part_seal_det(uint8_t out[KE_PART_LEN], const ke_point *E, const char *request_id,
                       unsigned index, const ke_dleq *proof, const ke_scalar *k,
                       const uint8_t nonce[KE_NONCE_LEN])
{
  if (!out || !E || !proof || !k || !nonce)
    return KE_ERR_INTERNAL;
  memset(out, 0, KE_PART_LEN);
  ke_rc rc = check_args(request_id, index);
  if (rc)
    return rc;
  /* Round-trip the proof through its strict parser: a P handed in from
   * outside is checked to be a valid point before it is sealed. */
  uint8_t pt[KE_DLEQ_LEN];
  ke_dleq chk;
  ke_dleq_encode(pt, proof);
  rc = ke_dleq_decode(&chk, pt, sizeof pt);
  ke_wipe(pt, sizeof pt);
  ke_wipe(&chk, sizeof chk);
  if (rc)
    return rc;
  ke_point Re, S;
  uint8_t key[KE_KEY_LEN];
  if ((rc = ke_wrap_sender(&Re, &S, k, E)) == KE_OK &&
      (rc = ke_wrap_key(key, &S, &Re, E, KE_LABEL_PARTIAL)) == KE_OK)
    rc = ke_part_seal_key(out, key, &Re, nonce, request_id, index, proof);
  ke_wipe(key, sizeof key);
  ke_wipe(&S, sizeof S);
  return rc;
}

ke_rc ke_part_seal(uint8_t out[KE_PART_LEN], const ke_point *E, const char *request_id,
                   unsigned index, const ke_dleq *proof)
{
  ke_scalar k;
  uint8_t nonce[KE_NONCE_LEN];
  ke_rc rc = ke_scalar_random(&k);
  if (rc == KE_OK)
    rc = ke_random(nonce, sizeof nonce);
  if (rc == KE_OK)
    rc = ke_part_seal_det(out, E, request_id, index, proof, &k, nonce);
  ke_wipe(&k, sizeof k);
  return rc;
}

ke_rc ke_part_open(ke_dleq *out, const uint8_t *buf, size_t len, const ke_scalar *e,
                   const ke_point *E, const char *request_id, unsigned index)
{
  if (!out || !e || !E)
    return KE_ERR_INTERNAL;
  memset(out, 0, sizeof *out);
  ke_rc rc = check_args(request_id, index);
  if (rc)
    return rc;
  if (!buf || len != KE_PART_LEN)
    return KE_ERR_LENGTH;
  if (buf[0] != 'K' || buf[1] != 'P' || buf[2] != 0x01)
    return KE_ERR_FORMAT;
  ke_point Re, Ev, S;
  if ((rc = ke_point_parse(&Re, buf + 3, KE_POINT_LEN)) ||
      (rc = ke_point_parse(&Ev, E->b, KE_POINT_LEN)))
    return rc;
  /* S = e * Re: e is the requester's secret, single-term. */
  if ((rc = ke_point_mul(&S, e, &Re)))
    return rc;
  uint8_t key[KE_KEY_LEN], pt[KE_DLEQ_LEN];
  uint8_t *aad = NULL;
  size_t aadlen = 0;
  if ((rc = ke_wrap_key(key, &S, &Re, &Ev, KE_LABEL_PARTIAL)) ||
      (rc = part_aad(&aad, &aadlen, buf, request_id, index)))
    goto out;
  if ((rc = ke_aead_open(pt, key, buf + 3 + KE_POINT_LEN, aad, aadlen, buf + KE_PART_HDR_LEN,
                         KE_DLEQ_LEN, buf + KE_PART_HDR_LEN + KE_DLEQ_LEN)))
    goto out;
  /* Authentic, but made by a custodian: validate like any outside input. */
  rc = ke_dleq_decode(out, pt, sizeof pt);
out:
  ke_wipe(key, sizeof key);
  ke_wipe(pt, sizeof pt);
  ke_wipe(&S, sizeof S);
  free(aad);
  return rc;
}

void ke_sas(char out[KE_SAS_LEN + 1], const char *request_id, const ke_point *E, const ke_point *R)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"; /* RFC 4648 */
  /* The code is printed for people to compare: on any failure it is the
   * empty string, which no correct code can ever equal. */
  out[0] = '\0';
  if (!request_id || !E || !R)
    return;
  uint8_t h[32];
  ke_buf parts[4] = {
    {KE_LABEL_SAS, strlen(KE_LABEL_SAS)},
    {request_id, strlen(request_id)},
    {E->b, KE_POINT_LEN},
    {R->b, KE_POINT_LEN},
  };
  if (ke_sha256(h, parts, 4) != KE_OK)
    return;
  /* First 40 bits, five at a time, most significant first. */
  uint64_t v =
    (uint64_t)h[0] << 32 | (uint64_t)h[1] << 24 | (uint64_t)h[2] << 16 | (uint64_t)h[3] << 8 | h[4];
  for (int i = 0; i < KE_SAS_LEN; i++)
    out[i] = alphabet[(v >> (35 - 5 * i)) & 31];
  out[KE_SAS_LEN] = '\0';
}
