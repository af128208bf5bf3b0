/*
 * ke_attest.c - share attestation proofs (ke_attest.h): ke_dleq with R = G.
 */
#include <string.h>

#include "ke_attest.h"

static const char ke_attest_label[] = "keyescrow-v1-attest";
#define KE_ATTEST_CTX_LEN (sizeof ke_attest_label - 1 + KE_FPR_LEN + KE_ATTEST_NONCE_LEN)

static void ke_attest_context(uint8_t ctx[KE_ATTEST_CTX_LEN], const uint8_t fpr[KE_FPR_LEN],
                              const uint8_t nonce[KE_ATTEST_NONCE_LEN])
{
  size_t n = sizeof ke_attest_label - 1;

  memcpy(ctx, ke_attest_label, n);
  memcpy(ctx + n, fpr, KE_FPR_LEN);
  memcpy(ctx + n + KE_FPR_LEN, nonce, KE_ATTEST_NONCE_LEN);
}

ke_rc ke_attest_prove(ke_dleq *out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                      const uint8_t fpr[KE_FPR_LEN], const uint8_t nonce[KE_ATTEST_NONCE_LEN])
{
  uint8_t ctx[KE_ATTEST_CTX_LEN];
  ke_point g;
  ke_rc rc;

  if (!out || !d || !Qi || !fpr || !nonce)
    return KE_ERR_INTERNAL;
  if ((rc = ke_point_generator(&g)))
    return rc;
  ke_attest_context(ctx, fpr, nonce);
  return ke_dleq_prove(out, index, d, Qi, &g, ctx, sizeof ctx);
}

ke_rc ke_attest_verify(const ke_dleq *proof, unsigned index, const ke_point *Qi,
                       const uint8_t fpr[KE_FPR_LEN], const uint8_t nonce[KE_ATTEST_NONCE_LEN])
{
  uint8_t ctx[KE_ATTEST_CTX_LEN];
  ke_point g;
  ke_rc rc;

  if (!proof || !Qi || !fpr || !nonce)
    return KE_ERR_INTERNAL;
  if ((rc = ke_point_generator(&g)))
    return rc;
  /* With R = G the DLEQ equation forces P = Q_i; say so explicitly. */
  if (!ke_ct_eq(proof->P.b, Qi->b, KE_POINT_LEN))
    return KE_ERR_PROOF;
  ke_attest_context(ctx, fpr, nonce);
  return ke_dleq_verify(proof, index, Qi, &g, ctx, sizeof ctx);
}
