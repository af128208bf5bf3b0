/*
 * test_attest.c - share attestation proofs (ke_attest.h): a real share's
 * proof verifies, and every other combination is refused: another share
 * (wrong d or wrong index), another key, another nonce, a tampered proof,
 * and a proof made for an envelope's R instead of G.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_attest.h"
#include "ke_test.h"

#define T 3
#define N 5

int main(void)
{
  ke_escrow_pub *pub = calloc(1, sizeof *pub), *other = calloc(1, sizeof *other);
  ke_scalar *d = ke_secure_alloc(N * sizeof *d), *d2 = ke_secure_alloc(N * sizeof *d2);
  uint8_t nonce[KE_ATTEST_NONCE_LEN], nonce2[KE_ATTEST_NONCE_LEN], raw[KE_DLEQ_LEN];
  ke_dleq p, q;
  ke_point g, r;
  ke_scalar one, k;

  if (!pub || !other || !d || !d2)
    return 2;
  CHECK_RC(ke_ceremony(pub, d, T, N), KE_OK);
  CHECK_RC(ke_ceremony(other, d2, T, N), KE_OK);
  CHECK_RC(ke_random(nonce, sizeof nonce), KE_OK);
  memcpy(nonce2, nonce, sizeof nonce);
  nonce2[0] ^= 1;

  for (unsigned i = 1; i <= N; i++) {
    const ke_point *Qi = &pub->public_shares[i - 1];
    CHECK_RC(ke_attest_prove(&p, i, &d[i - 1], Qi, pub->fingerprint, nonce), KE_OK);
    CHECK_RC(ke_attest_verify(&p, i, Qi, pub->fingerprint, nonce), KE_OK);
    /* the proof is P = Q_i: nothing but the public share is revealed */
    CHECK_BYTES(p.P.b, Qi->b, KE_POINT_LEN);
    CHECK_RC(ke_attest_verify(&p, i, Qi, pub->fingerprint, nonce2), KE_ERR_PROOF);
    CHECK_RC(ke_attest_verify(&p, i, Qi, other->fingerprint, nonce), KE_ERR_PROOF);
    /* another custodian's real share, checked as share i */
    unsigned j = i % N + 1;
    CHECK_RC(ke_attest_prove(&q, j, &d[j - 1], &pub->public_shares[j - 1], pub->fingerprint, nonce),
             KE_OK);
    CHECK_RC(ke_attest_verify(&q, i, Qi, pub->fingerprint, nonce), KE_ERR_PROOF);
    /* a share of another key with the same index */
    /* ... which cannot even be proven for this Q_i (the prover checks d*G) */
    CHECK_RC(ke_attest_prove(&q, i, &d2[i - 1], Qi, pub->fingerprint, nonce), KE_ERR_PROOF);
    CHECK_RC(
      ke_attest_prove(&q, i, &d2[i - 1], &other->public_shares[i - 1], pub->fingerprint, nonce),
      KE_OK);
    CHECK_RC(ke_attest_verify(&q, i, Qi, pub->fingerprint, nonce), KE_ERR_PROOF);
  }
  /* A tampered response. */
  CHECK_RC(ke_attest_prove(&p, 1, &d[0], &pub->public_shares[0], pub->fingerprint, nonce), KE_OK);
  ke_dleq_encode(raw, &p);
  raw[KE_DLEQ_LEN - 1] ^= 1;
  CHECK_RC(ke_dleq_decode(&q, raw, sizeof raw), KE_OK);
  CHECK(ke_attest_verify(&q, 1, &pub->public_shares[0], pub->fingerprint, nonce) != KE_OK);
  /* A DLEQ for another R (what a retrieval part is) is not an attestation,
   * even with the attestation's context. */
  memset(&one, 0, sizeof one);
  one.b[KE_SCALAR_LEN - 1] = 1;
  CHECK_RC(ke_point_mul_base(&g, &one), KE_OK);
  CHECK_RC(ke_scalar_random(&k), KE_OK);
  CHECK_RC(ke_point_mul_base(&r, &k), KE_OK);
  CHECK_RC(ke_dleq_prove(&q, 1, &d[0], &pub->public_shares[0], &r, (const uint8_t *)"x", 1), KE_OK);
  CHECK(ke_attest_verify(&q, 1, &pub->public_shares[0], pub->fingerprint, nonce) != KE_OK);
  ke_secure_free(d, N * sizeof *d);
  ke_secure_free(d2, N * sizeof *d2);
  free(pub);
  free(other);
  return ke_test_result("test_attest");
}
