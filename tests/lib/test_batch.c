/*
 * test_batch.c - a custodian's batch of parts (ke_part_batch_*, drills):
 * every part opens with ke_part_open and its proof verifies, on one thread
 * and on several; no two parts share a nonce; a part opened as another
 * record's, or under another index, fails; the wrong share, an invalid R
 * or an invalid E is refused, and a failing record is named.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_test.h"

#define T 3
#define N 5
#define NREC 70 /* > 16 per thread for 4 jobs: really several threads */

static const char ctxid[] = "drl-abcdefghijklmnopqrstuvwxyz";

static void check_all(const ke_escrow_pub *pub, unsigned idx, uint8_t (*parts)[KE_PART_LEN],
                      const ke_point *R, const char *const *pids, const ke_scalar *e,
                      const ke_point *E)
{
  ke_dleq p;
  for (size_t i = 0; i < NREC; i++) {
    CHECK_RC(ke_part_open(&p, parts[i], KE_PART_LEN, e, E, pids[i], idx), KE_OK);
    CHECK_RC(ke_dleq_verify(&p, idx, &pub->public_shares[idx - 1], &R[i], (const uint8_t *)ctxid,
                            strlen(ctxid)),
             KE_OK);
    /* another record's R, another record's id, another index */
    CHECK_RC(ke_dleq_verify(&p, idx, &pub->public_shares[idx - 1], &R[(i + 1) % NREC],
                            (const uint8_t *)ctxid, strlen(ctxid)),
             KE_ERR_PROOF);
    CHECK_RC(ke_part_open(&p, parts[i], KE_PART_LEN, e, E, pids[(i + 1) % NREC], idx), KE_ERR_AUTH);
    CHECK_RC(ke_part_open(&p, parts[i], KE_PART_LEN, e, E, pids[i], idx % N + 1), KE_ERR_AUTH);
    /* nonces (bytes 36..47) never repeat under the batch's key */
    for (size_t j = 0; j < i; j++)
      CHECK(memcmp(parts[i] + 3 + KE_POINT_LEN, parts[j] + 3 + KE_POINT_LEN, KE_NONCE_LEN) ||
            memcmp(parts[i] + 3, parts[j] + 3, KE_POINT_LEN));
  }
}

int main(void)
{
  ke_escrow_pub *pub = calloc(1, sizeof *pub), *other = calloc(1, sizeof *other);
  ke_scalar *d = ke_secure_alloc(N * sizeof *d), *d2 = ke_secure_alloc(N * sizeof *d2), e, k;
  ke_point E, R[NREC], badR[NREC];
  char ids[NREC][64];
  const char *pids[NREC];
  uint8_t(*parts)[KE_PART_LEN] = calloc(NREC, KE_PART_LEN);
  ke_part_batch *b = NULL;
  size_t failed = 99;

  if (ke_init() != KE_OK || !pub || !other || !d || !d2 || !parts)
    return 2;
  CHECK_RC(ke_ceremony(pub, d, T, N), KE_OK);
  CHECK_RC(ke_ceremony(other, d2, T, N), KE_OK);
  CHECK_RC(ke_scalar_random(&e), KE_OK);
  CHECK_RC(ke_point_mul_base(&E, &e), KE_OK);
  for (size_t i = 0; i < NREC; i++) {
    CHECK_RC(ke_scalar_random(&k), KE_OK);
    CHECK_RC(ke_point_mul_base(&R[i], &k), KE_OK);
    snprintf(ids[i], sizeof ids[i], "%s/rec-%026zu", ctxid, i);
    pids[i] = ids[i];
  }
  for (unsigned jobs = 1; jobs <= 4; jobs += 3)
    for (unsigned idx = 1; idx <= N; idx += 2) {
      memset(parts, 0, NREC * KE_PART_LEN);
      CHECK_RC(ke_part_batch_all(parts, NREC, R, pids, idx, &d[idx - 1],
                                 &pub->public_shares[idx - 1], &E, (const uint8_t *)ctxid,
                                 strlen(ctxid), jobs, &failed),
               KE_OK);
      check_all(pub, idx, parts, R, pids, &e, &E);
    }

  /* The wrong share (another key's, or another index's) is refused up front. */
  CHECK_RC(ke_part_batch_new(&b, 1, &d2[0], &pub->public_shares[0], &E, NULL, 0), KE_ERR_PROOF);
  CHECK(b == NULL);
  CHECK_RC(ke_part_batch_new(&b, 1, &d[1], &pub->public_shares[0], &E, NULL, 0), KE_ERR_PROOF);
  CHECK_RC(ke_part_batch_all(parts, NREC, R, pids, 2, &d[0], &pub->public_shares[1], &E, NULL, 0, 2,
                             &failed),
           KE_ERR_PROOF);
  CHECK(failed == SIZE_MAX); /* the batch, not a record */
  /* Bad index, bad E. */
  CHECK_RC(ke_part_batch_new(&b, 0, &d[0], &pub->public_shares[0], &E, NULL, 0),
           KE_ERR_INVALID_INDEX);
  {
    ke_point bad = E;
    bad.b[0] = 0x04;
    CHECK_RC(ke_part_batch_new(&b, 1, &d[0], &pub->public_shares[0], &bad, NULL, 0),
             KE_ERR_INVALID_POINT);
  }
  /* An invalid R at record 53 is named, and nothing is left in out. */
  memcpy(badR, R, sizeof badR);
  memset(badR[53].b + 1, 0xff, KE_POINT_LEN - 1); /* x >= p */
  CHECK_RC(ke_part_batch_all(parts, NREC, badR, pids, 1, &d[0], &pub->public_shares[0], &E, NULL, 0,
                             4, &failed),
           KE_ERR_INVALID_POINT);
  CHECK(failed == 53);
  {
    static const uint8_t zero[KE_PART_LEN];
    for (size_t i = 0; i < NREC; i++)
      CHECK(memcmp(parts[i], zero, KE_PART_LEN) == 0);
  }
  /* One batch, part by part: a missing part id is refused. */
  CHECK_RC(ke_part_batch_new(&b, 3, &d[2], &pub->public_shares[2], &E, (const uint8_t *)ctxid,
                             strlen(ctxid)),
           KE_OK);
  CHECK_RC(ke_part_batch_make(b, parts[0], &R[0], NULL), KE_ERR_FORMAT);
  CHECK_RC(ke_part_batch_make(b, parts[0], &R[0], pids[0]), KE_OK);
  ke_part_batch_free(b);

  ke_secure_free(d, N * sizeof *d);
  ke_secure_free(d2, N * sizeof *d2);
  free(pub);
  free(other);
  free(parts);
  return ke_test_result("test_batch");
}
