/*
 * bench_drill.c RECORDS CUSTODIANS JOBS - time the custodians' side of a
 * drill: for every record and custodian, P_i = d_i*R with its DLEQ proof
 * (context: the drill id) sealed to the auditor's one-time key with the AAD
 * id "<drill>/<record>": ke_part_batch_all, exactly the call of `escrowctl
 * drill approve` once the share is unsealed (the one scrypt unseal per
 * custodian is not part of it: it is a fixed cost, slow on purpose), on
 * JOBS threads.  The auditor then opens and checks every part (not timed),
 * so a broken batch cannot be fast.
 * Prints "parts N seconds WALL cpu CPU jobs J".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_crypto.h"
#include "ke_drill.h"
#include "ke_util.h"

static double bench_clock(clockid_t id)
{
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  unsigned nrec = argc > 1 ? (unsigned)atoi(argv[1]) : 200;
  unsigned ncust = argc > 2 ? (unsigned)atoi(argv[2]) : 3;
  unsigned jobs = argc > 3 ? (unsigned)atoi(argv[3]) : 1;
  const char *drill = "drl-abcdefghijklmnopqrstuvwxyz";
  ke_escrow_pub *pub = calloc(1, sizeof *pub);
  ke_scalar *d = ke_secure_alloc(5 * sizeof *d), e;
  ke_point E, *R = calloc(nrec, sizeof *R);
  uint8_t(*parts)[KE_PART_LEN] = calloc((size_t)nrec * ncust, KE_PART_LEN);
  char(*pid)[KE_DRILL_PART_ID_MAX] = calloc(nrec, KE_DRILL_PART_ID_MAX);
  const char **pids = calloc(nrec, sizeof *pids);
  ke_dleq proof;
  double t0, t1, c0, c1;

  if (ke_init() != KE_OK || nrec < 1 || ncust < 1 || ncust > 5 || jobs < 1 || !pub || !d || !R ||
      !parts || !pid || !pids || ke_ceremony(pub, d, 3, 5) != KE_OK ||
      ke_scalar_random(&e) != KE_OK || ke_point_mul_base(&E, &e) != KE_OK) {
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
    pids[r] = pid[r];
  }
  t0 = bench_clock(CLOCK_MONOTONIC);
  c0 = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
  for (unsigned c = 0; c < ncust; c++)
    if (ke_part_batch_all(parts + (size_t)c * nrec, nrec, R, pids, c + 1, &d[c],
                          &pub->public_shares[c], &E, (const uint8_t *)drill, strlen(drill), jobs,
                          NULL) != KE_OK) {
      fprintf(stderr, "bench-drill: batch failed\n");
      return 1;
    }
  t1 = bench_clock(CLOCK_MONOTONIC);
  c1 = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
  for (unsigned c = 0; c < ncust; c++)
    for (unsigned r = 0; r < nrec; r++)
      if (ke_part_open(&proof, parts[(size_t)c * nrec + r], KE_PART_LEN, &e, &E, pid[r], c + 1) !=
            KE_OK ||
          ke_dleq_verify(&proof, c + 1, &pub->public_shares[c], &R[r], (const uint8_t *)drill,
                         strlen(drill)) != KE_OK) {
        fprintf(stderr, "bench-drill: a part does not verify\n");
        return 1;
      }
  printf("parts %u seconds %.6f cpu %.6f jobs %u\n", nrec * ncust, t1 - t0, c1 - c0, jobs);
  ke_secure_free(d, 5 * sizeof *d);
  free(pub);
  free(R);
  free(parts);
  free(pid);
  free(pids);
  return 0;
}
