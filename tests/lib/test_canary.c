/*
 * test_canary.c - canary records (ke_canary.h): a canary opens, with T
 * custodians' d_i*R combined, to the secret derived from the drill key;
 * its R is r*G for the derived r; every custodian's part d_i*R equals
 * r*Q_i (computable from public values: a part for a canary discloses
 * nothing); the proof of knowledge of r holds for its drill and record
 * only, and for no other R (a real envelope cannot pass as a canary).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_canary.h"
#include "ke_test.h"

#define T 2
#define N 3

static const char drill[] = "drl-abcdefghijklmnopqrstuvwxyz";
static const char other_drill[] = "drl-zyxwvutsrqponmlkjihgfedcba";
static const char rid[] = "rec-aaaabbbbccccddddeeeeffff22";
static const char rid2[] = "rec-22223333444455556666777abc";

int main(void)
{
  ke_escrow_pub *pub = calloc(1, sizeof *pub);
  ke_scalar *d = ke_secure_alloc(N * sizeof *d), e, e2, r, r2;
  uint8_t *env = NULL, *env2 = NULL, *secret = NULL, ver[KE_VERIFIER_LEN], v2[KE_VERIFIER_LEN];
  uint8_t proof[KE_DLEQ_LEN], proof2[KE_DLEQ_LEN], sec[KE_CANARY_SECRET_LEN],
    sec2[KE_CANARY_SECRET_LEN];
  size_t envlen = 0, envlen2 = 0, slen = 0;
  ke_envelope pe, pe2;
  ke_point R, P[T], rQ, S;
  uint8_t idx[T] = {1, 3};

  if (!pub || !d)
    return 2;
  CHECK_RC(ke_ceremony(pub, d, T, N), KE_OK);
  CHECK_RC(ke_scalar_random(&e), KE_OK);
  CHECK_RC(ke_scalar_random(&e2), KE_OK);

  /* Derivation: deterministic in e, drill and record; anything else differs. */
  CHECK_RC(ke_canary_derive(&r, sec, &e, drill, rid), KE_OK);
  CHECK_RC(ke_canary_derive(&r2, sec2, &e, drill, rid), KE_OK);
  CHECK_BYTES(r.b, r2.b, KE_SCALAR_LEN);
  CHECK_BYTES(sec, sec2, KE_CANARY_SECRET_LEN);
  CHECK_RC(ke_canary_derive(&r2, sec2, &e2, drill, rid), KE_OK);
  CHECK(memcmp(r.b, r2.b, KE_SCALAR_LEN) != 0 && memcmp(sec, sec2, sizeof sec) != 0);
  CHECK_RC(ke_canary_derive(&r2, sec2, &e, drill, rid2), KE_OK);
  CHECK(memcmp(r.b, r2.b, KE_SCALAR_LEN) != 0);
  CHECK_RC(ke_canary_derive(&r2, sec2, &e, "drl-short", rid), KE_ERR_FORMAT);
  CHECK_RC(ke_canary_derive(&r2, sec2, &e, drill, "dev-aaaabbbbccccddddeeeeffff"), KE_ERR_FORMAT);
  for (size_t i = 0; i < sizeof sec; i++)
    CHECK((sec[i] >= '0' && sec[i] <= '9') || (sec[i] >= 'a' && sec[i] <= 'f'));

  /* The canary: R = r*G, its verifier, and it opens to its secret. */
  CHECK_RC(ke_canary_seal(&env, &envlen, ver, proof, &e, pub->fingerprint, &pub->commitments[0],
                          drill, rid),
           KE_OK);
  CHECK_RC(ke_envelope_parse(&pe, env, envlen), KE_OK);
  CHECK_RC(ke_point_mul_base(&R, &r), KE_OK);
  CHECK_BYTES(pe.R.b, R.b, KE_POINT_LEN);
  CHECK_BYTES(pe.fingerprint, pub->fingerprint, KE_FPR_LEN);
  for (unsigned i = 0; i < T; i++) {
    CHECK_RC(ke_point_mul(&P[i], &d[idx[i] - 1], &pe.R), KE_OK);
    /* the part is r*Q_i: the prover of r learns nothing from it */
    CHECK_RC(ke_point_mul(&rQ, &r, &pub->public_shares[idx[i] - 1]), KE_OK);
    CHECK_BYTES(P[i].b, rQ.b, KE_POINT_LEN);
  }
  CHECK_RC(ke_combine(&S, idx, P, T), KE_OK);
  CHECK_RC(ke_envelope_open(&secret, &slen, &pe, &pub->commitments[0], &S, KE_CANARY_DEVICE, rid),
           KE_OK);
  CHECK(slen == KE_CANARY_SECRET_LEN && secret && memcmp(secret, sec, slen) == 0);
  CHECK_RC(ke_verifier(v2, sec, sizeof sec, KE_CANARY_DEVICE, rid), KE_OK);
  CHECK_BYTES(ver, v2, KE_VERIFIER_LEN);
  /* bound to device "canary" and volume = the record id */
  {
    uint8_t *none = NULL;
    size_t nlen = 0;
    CHECK_RC(ke_envelope_open(&none, &nlen, &pe, &pub->commitments[0], &S, KE_CANARY_DEVICE, rid2),
             KE_ERR_AUTH);
    CHECK(none == NULL);
  }

  /* The proof: for this R, drill and record only. */
  CHECK_RC(ke_canary_verify(proof, sizeof proof, &pe.R, drill, rid), KE_OK);
  CHECK_RC(ke_canary_verify(proof, sizeof proof, &pe.R, drill, rid2), KE_ERR_PROOF);
  CHECK_RC(ke_canary_verify(proof, sizeof proof, &pe.R, other_drill, rid), KE_ERR_PROOF);
  CHECK(ke_canary_verify(proof, sizeof proof - 1, &pe.R, drill, rid) != KE_OK);
  memcpy(proof2, proof, sizeof proof);
  proof2[KE_DLEQ_LEN - 1] ^= 1;
  CHECK(ke_canary_verify(proof2, sizeof proof2, &pe.R, drill, rid) != KE_OK);
  /* A real envelope (random r, forgotten) with a canary's proof is refused. */
  CHECK_RC(ke_envelope_seal(&env2, &envlen2, pub->fingerprint, &pub->commitments[0], "dev-x",
                            "C:", (const uint8_t *)"a real recovery secret", 22),
           KE_OK);
  CHECK_RC(ke_envelope_parse(&pe2, env2, envlen2), KE_OK);
  CHECK_RC(ke_canary_verify(proof, sizeof proof, &pe2.R, drill, rid), KE_ERR_PROOF);

  if (secret)
    ke_secure_free(secret, slen);
  free(env);
  free(env2);
  ke_secure_free(d, N * sizeof *d);
  free(pub);
  return ke_test_result("test_canary");
}
