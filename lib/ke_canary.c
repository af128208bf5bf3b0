/*
 * ke_canary.c - canary records (ke_canary.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ke_canary.h"
#include "ke_drill.h"
#include "ke_util.h"

#define KE_CANARY_MSG_MAX 160

/* HMAC-SHA256(e, label | [ctr] | drill | 00 | record) */
static ke_rc ke_canary_mac(uint8_t out[32], const ke_scalar *e, const char *label, int ctr,
                           const char *drill_id, const char *record_id)
{
  char pid[KE_DRILL_PART_ID_MAX];
  uint8_t msg[KE_CANARY_MSG_MAX];
  size_t n = strlen(label), len = 0;

  /* The part id checks both ids (closed character sets, fixed lengths). */
  if (!ke_drill_part_id(pid, drill_id, record_id))
    return KE_ERR_FORMAT;
  memcpy(msg, label, n);
  if (ctr >= 0)
    msg[n++] = (uint8_t)ctr;
  memcpy(msg + n, drill_id, KE_DRILL_ID_LEN);
  n += KE_DRILL_ID_LEN;
  msg[n++] = 0;
  memcpy(msg + n, record_id, KE_DRILL_ID_LEN);
  n += KE_DRILL_ID_LEN;
  if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, e->b, KE_SCALAR_LEN, msg, n, out, 32, &len) ||
      len != 32)
    return KE_ERR_INTERNAL;
  return KE_OK;
}

ke_rc ke_canary_derive(ke_scalar *r, uint8_t secret[KE_CANARY_SECRET_LEN], const ke_scalar *e,
                       const char *drill_id, const char *record_id)
{
  uint8_t h[32];
  char hex[2 * sizeof h + 1];
  ke_rc rc = KE_ERR_INTERNAL;

  if (!r || !secret || !e)
    return KE_ERR_INTERNAL;
  /* Rejection sampling: a value outside [1, n-1] (odds 2^-32) takes the
   * next counter. */
  for (int ctr = 0; ctr < 256; ctr++) {
    if ((rc = ke_canary_mac(h, e, "keyescrow-v1-canary-r", ctr, drill_id, record_id)))
      break;
    if ((rc = ke_scalar_parse(r, h, sizeof h)) == KE_OK)
      break;
  }
  if (!rc && !(rc = ke_canary_mac(h, e, "keyescrow-v1-canary-secret", -1, drill_id, record_id))) {
    ke_hex_encode(hex, h, sizeof h);
    memcpy(secret, hex, KE_CANARY_SECRET_LEN);
  }
  OPENSSL_cleanse(h, sizeof h);
  OPENSSL_cleanse(hex, sizeof hex);
  return rc;
}

static ke_rc ke_canary_context(uint8_t *ctx, size_t *len, const char *drill_id,
                               const char *record_id)
{
  static const char label[] = "keyescrow-v1-canary";
  char pid[KE_DRILL_PART_ID_MAX];
  size_t n = sizeof label - 1;

  if (!ke_drill_part_id(pid, drill_id, record_id))
    return KE_ERR_FORMAT;
  memcpy(ctx, label, n);
  memcpy(ctx + n, drill_id, KE_DRILL_ID_LEN);
  n += KE_DRILL_ID_LEN;
  ctx[n++] = 0;
  memcpy(ctx + n, record_id, KE_DRILL_ID_LEN);
  *len = n + KE_DRILL_ID_LEN;
  return KE_OK;
}

ke_rc ke_canary_seal(uint8_t **env, size_t *envlen, uint8_t verifier[KE_VERIFIER_LEN],
                     uint8_t proof[KE_DLEQ_LEN], const ke_scalar *e, const uint8_t fpr[KE_FPR_LEN],
                     const ke_point *Q, const char *drill_id, const char *record_id)
{
  ke_scalar *r = ke_secure_alloc(sizeof *r);
  uint8_t *secret = ke_secure_alloc(KE_CANARY_SECRET_LEN), nonce[KE_NONCE_LEN], ctx[96];
  ke_dleq pr;
  ke_point R, g;
  size_t clen = 0;
  ke_rc rc = KE_ERR_NOMEM;

  *env = NULL;
  if (!r || !secret)
    goto out;
  if ((rc = ke_canary_derive(r, secret, e, drill_id, record_id)) ||
      (rc = ke_random(nonce, sizeof nonce)) ||
      (rc = ke_envelope_seal_det(env, envlen, fpr, Q, KE_CANARY_DEVICE, record_id, secret,
                                 KE_CANARY_SECRET_LEN, r, nonce)) ||
      (rc = ke_verifier(verifier, secret, KE_CANARY_SECRET_LEN, KE_CANARY_DEVICE, record_id)) ||
      (rc = ke_point_mul_base(&R, r)) || (rc = ke_point_generator(&g)) ||
      (rc = ke_canary_context(ctx, &clen, drill_id, record_id)) ||
      (rc = ke_dleq_prove(&pr, 1, r, &R, &g, ctx, clen)))
    goto out;
  ke_dleq_encode(proof, &pr);
out:
  if (rc) {
    free(*env);
    *env = NULL;
  }
  OPENSSL_cleanse(&pr, sizeof pr);
  ke_secure_free(r, sizeof *r);
  ke_secure_free(secret, KE_CANARY_SECRET_LEN);
  return rc;
}

ke_rc ke_canary_verify(const uint8_t *proof, size_t len, const ke_point *R, const char *drill_id,
                       const char *record_id)
{
  uint8_t ctx[96];
  size_t clen = 0;
  ke_dleq pr;
  ke_point g;
  ke_rc rc;

  if (!proof || !R)
    return KE_ERR_INTERNAL;
  if ((rc = ke_dleq_decode(&pr, proof, len)) || (rc = ke_point_generator(&g)) ||
      (rc = ke_canary_context(ctx, &clen, drill_id, record_id)))
    return rc;
  /* With base G the equation forces P = R; say so explicitly. */
  if (!ke_ct_eq(pr.P.b, R->b, KE_POINT_LEN))
    return KE_ERR_PROOF;
  return ke_dleq_verify(&pr, 1, R, &g, ctx, clen);
}
