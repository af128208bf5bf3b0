/*
 * bench_drill.c RECORDS CUSTODIANS - time the custodians' side of a drill:
 * for every record and custodian, P_i = d_i*R with its DLEQ proof (context:
 * the drill id) sealed to the auditor's one-time key with the AAD id
 * "<drill>/<record>", exactly the loop of `escrowctl drill approve` once
 * the share is unsealed (the one scrypt unseal per custodian is not part
 * of it: it is a fixed cost, tuned to be slow on purpose).  The auditor
 * then opens and checks every part (not timed), so a broken batch cannot
 * be fast.  Prints "parts N seconds S".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_crypto.h"
#include "ke_drill.h"
#include "ke_util.h"

static double bench_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  unsigned nrec = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
  unsigned ncust = argc > 2 ? (unsigned)atoi(argv[2]) : 3;
  const char *drill = "drl-abcdefghijklmnopqrstuvwxyz";
  ke_escrow_pub *pub = calloc(1, sizeof *pub);
  ke_scalar *d = ke_secure_alloc(5 * sizeof *d), e;
  ke_point E, *R = calloc(nrec, sizeof *R);
  uint8_t (*parts)[KE_PART_LEN] = calloc((size_t)nrec * ncust, KE_PART_LEN);
  char (*pid)[KE_DRILL_PART_ID_MAX] = calloc(nrec, KE_DRILL_PART_ID_MAX);
  ke_dleq proof;
  double t0, t1;

  if (nrec < 1 || ncust < 1 || ncust > 5 || !pub || !d || !R || !parts || !pid ||
      ke_ceremony(pub, d, 3, 5) != KE_OK || ke_scalar_random(&e) != KE_OK ||
      ke_point_mul_base(&E, &e) != KE_OK) {
    fprintf(stderr, "bench-drill: setup failed\n");
    return 1;
  }
  /* The records' R: the ephemeral points of real envelopes. */
  for (unsigned r = 0; r < nrec; r++) {
    ke_scalar k;
    char rid[40];
    snprintf(rid, sizeof rid, "rec-%026u", r);
    for (char *c = rid + 4; *c; c++)
      *c = "abcdefghij"[*c - '0'];
    if (ke_scalar_random(&k) != KE_OK || ke_point_mul_base(&R[r], &k) != KE_OK ||
        !ke_drill_part_id(pid[r], drill, rid))
      return 1;
  }
  t0 = bench_now();
  for (unsigned c = 0; c < ncust; c++)
    for (unsigned r = 0; r < nrec; r++)
      if (ke_dleq_prove(&proof, c + 1, &d[c], &pub->public_shares[c], &R[r],
                        (const uint8_t *)drill, strlen(drill)) != KE_OK ||
          ke_part_seal(parts[(size_t)c * nrec + r], &E, pid[r], c + 1, &proof) != KE_OK)
        return 1;
  t1 = bench_now();
  for (unsigned c = 0; c < ncust; c++)
    for (unsigned r = 0; r < nrec; r++)
      if (ke_part_open(&proof, parts[(size_t)c * nrec + r], KE_PART_LEN, &e, &E, pid[r],
                       c + 1) != KE_OK ||
          ke_dleq_verify(&proof, c + 1, &pub->public_shares[c], &R[r], (const uint8_t *)drill,
                         strlen(drill)) != KE_OK) {
        fprintf(stderr, "bench-drill: a part does not verify\n");
        return 1;
      }
  printf("parts %u seconds %.6f\n", nrec * ncust, t1 - t0);
  ke_secure_free(d, 5 * sizeof *d);
  free(pub);
  free(R);
  free(parts);
  free(pid);
  return 0;
}
