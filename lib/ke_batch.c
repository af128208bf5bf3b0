/*
 * ke_batch.c - one custodian's parts for a whole batch of records (drills).
 *
 * A drill asks each custodian for a part of every record it snapshots, so
 * the per-part work is what a drill costs.  ke_part_seal + ke_dleq_prove do
 * everything from scratch for each part; here what does not depend on the
 * record is done once per batch:
 *
 *   - d_i is checked against Q_i (d_i G == Q_i) and converted once;
 *   - ONE sender key pair (k, Re = k G) seals every part of the batch to E:
 *     the part key HKDF(x(k E), Re | E, "keyescrow-v1-partial") is derived
 *     once, and each part gets its own nonce (a random base XOR a counter,
 *     so no nonce repeats under the key) and its own AAD (part id | index).
 *     The bytes are exactly ke_part_seal's format and open with
 *     ke_part_open unchanged; sharing a sender key only tells the requester,
 *     who can open all of them anyway, that the parts came together.
 *
 * What stays per record is what the proof needs: R decoded and validated,
 * P = d R, A = w G, B = w R with a fresh w, the challenge and the response.
 * Each part is still a complete, independent DLEQ proof (docs/protocol.md
 * 4.1): the auditor can name any single bad part.
 *
 * A batch is used by one thread at a time; threads each make their own.
 */
#include "ke_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ke_part_batch {
  unsigned index;
  ke_scalar d;
  ke_point Qi, Re;
  uint8_t key[KE_KEY_LEN];
  uint8_t nonce[KE_NONCE_LEN];
  uint64_t count;
  uint8_t *context;
  size_t context_len;
  BIGNUM *db;
  BN_CTX *ctx;
  EC_POINT *pt;
};

void ke_part_batch_free(ke_part_batch *b)
{
  if (!b)
    return;
  BN_clear_free(b->db);
  EC_POINT_clear_free(b->pt);
  BN_CTX_free(b->ctx);
  free(b->context);
  ke_secure_free(b, sizeof *b); /* wipes d and the part key */
}

ke_rc ke_part_batch_new(ke_part_batch **out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                        const ke_point *E, const uint8_t *context, size_t context_len)
{
  ke_part_batch *b;
  ke_point chk, S;
  ke_scalar k;
  ke_rc rc;

  if (!out || !d || !Qi || !E || (!context && context_len))
    return KE_ERR_INTERNAL;
  *out = NULL;
  if (index < 1 || index > KE_MAX_SHARES)
    return KE_ERR_INVALID_INDEX;
  if (!ke_scalar_valid(d->b))
    return KE_ERR_INVALID_SCALAR;
  if (!ke_ec_group())
    return KE_ERR_INTERNAL;
  if (!(b = ke_secure_alloc(sizeof *b)))
    return KE_ERR_NOMEM;
  memset(b, 0, sizeof *b);
  b->index = index;
  b->d = *d;
  b->Qi = *Qi;
  rc = KE_ERR_NOMEM;
  b->context_len = context_len;
  if (!(b->context = malloc(context_len ? context_len : 1)) || !(b->ctx = BN_CTX_secure_new()) ||
      !(b->db = ke_bn_secret(d->b)) || !(b->pt = EC_POINT_new(ke_ec_group())))
    goto fail;
  if (context_len)
    memcpy(b->context, context, context_len);
  /* The wrong share is refused here, once, with the obvious cause. */
  if ((rc = ke_ec_mul_base(b->pt, b->db, b->ctx)) || (rc = ke_ec_encode(&chk, b->pt, b->ctx)))
    goto fail;
  if (!ke_ct_eq(chk.b, Qi->b, KE_POINT_LEN)) {
    rc = KE_ERR_PROOF;
    goto fail;
  }
  /* The batch's sender key: E is validated by ke_wrap_sender. */
  if ((rc = ke_scalar_random(&k)) || (rc = ke_wrap_sender(&b->Re, &S, &k, E)) ||
      (rc = ke_wrap_key(b->key, &S, &b->Re, E, KE_LABEL_PARTIAL)) ||
      (rc = ke_random(b->nonce, sizeof b->nonce)))
    goto fail;
  ke_wipe(&k, sizeof k);
  ke_wipe(&S, sizeof S);
  *out = b;
  return KE_OK;
fail:
  ke_wipe(&k, sizeof k);
  ke_wipe(&S, sizeof S);
  ke_part_batch_free(b);
  return rc;
}

ke_rc ke_part_batch_make(ke_part_batch *b, uint8_t out[KE_PART_LEN], const ke_point *R,
                         const char *part_id)
{
  uint8_t nonce[KE_NONCE_LEN];
  EC_POINT *r = NULL;
  ke_dleq proof;
  ke_scalar w;
  ke_rc rc;

  if (!b || !out || !R)
    return KE_ERR_INTERNAL;
  memset(out, 0, KE_PART_LEN);
  if (!part_id)
    return KE_ERR_FORMAT;
  /* 2^32 parts under one key is far beyond any drill (100,000 records) and
   * far below where random-base nonces would be a concern. */
  if (b->count >= UINT64_C(1) << 32)
    return KE_ERR_LENGTH;
  if ((rc = ke_ec_decode(&r, R->b, KE_POINT_LEN, b->ctx)))
    return rc;
  rc = KE_ERR_RANDOM;
  for (int attempt = 0; attempt < 4; attempt++) {
    if ((rc = ke_scalar_random(&w)))
      break;
    rc = ke_dleq_prove_core(&proof, b->index, &b->d, b->db, &b->Qi, R, r, b->context,
                            b->context_len, &w, b->pt, b->ctx);
    if (rc != KE_ERR_INVALID_SCALAR)
      break; /* a zero c or s (probability ~2^-256) draws a new w */
  }
  if (rc == KE_OK) {
    /* nonce = base XOR the part's counter in the last 8 bytes. */
    memcpy(nonce, b->nonce, sizeof nonce);
    for (int i = 0; i < 8; i++)
      nonce[KE_NONCE_LEN - 1 - i] ^= (uint8_t)(b->count >> (8 * i));
    b->count++;
    rc = ke_part_seal_key(out, b->key, &b->Re, nonce, part_id, b->index, &proof);
  }
  ke_wipe(&proof, sizeof proof);
  ke_wipe(&w, sizeof w);
  EC_POINT_free(r);
  return rc;
}

/* ---- a whole batch on several threads -------------------------------------- */
/* Parts are independent, so the records are handed out in small chunks to
 * a few threads, each with its own ke_part_batch (own sender key, BN_CTX
 * and scratch).  Chunks rather than fixed halves: a thread that starts
 * late (a virtual CPU that was parked, a busy core) just takes fewer, and
 * the batch never waits on a straggler's whole share.  A custodian's
 * machine has cores to spare, and a drill over the whole fleet is 100,000
 * records: the wall time is what a person waits for. */
#define KE_BATCH_CHUNK 8

struct ke_batch_job {
  unsigned index;
  const ke_scalar *d;
  const ke_point *Qi, *E, *R;
  const uint8_t *context;
  size_t context_len, count;
  const char *const *part_ids;
  uint8_t (*out)[KE_PART_LEN];
  atomic_size_t next; /* the first record no thread has taken yet */
  atomic_int stop;    /* a thread failed: take no more */
};

struct ke_batch_worker {
  struct ke_batch_job *job;
  int first; /* worker 0, on the calling thread */
  ke_rc rc;
  size_t failed; /* the record that failed, or SIZE_MAX (rc != KE_OK) */
};

static void *ke_batch_worker_run(void *arg)
{
  struct ke_batch_worker *w = arg;
  struct ke_batch_job *j = w->job;
  ke_part_batch *b = NULL;
  size_t from;
  ke_rc rc;

  w->failed = SIZE_MAX;
  if ((rc = ke_part_batch_new(&b, j->index, j->d, j->Qi, j->E, j->context, j->context_len)) !=
      KE_OK) {
    /* Worker 0 speaks for the batch (a wrong share fails it there too);
     * another worker that cannot set up (memory) just leaves its chunks to
     * the others, like a thread that could not be created. */
    if (w->first) {
      w->rc = rc;
      atomic_store(&j->stop, 1);
    }
    return NULL;
  }
  while (!atomic_load(&j->stop) && (from = atomic_fetch_add(&j->next, KE_BATCH_CHUNK)) < j->count) {
    size_t to = from + KE_BATCH_CHUNK < j->count ? from + KE_BATCH_CHUNK : j->count;
    for (size_t i = from; i < to; i++)
      if ((w->rc = ke_part_batch_make(b, j->out[i], &j->R[i], j->part_ids[i])) != KE_OK) {
        w->failed = i;
        atomic_store(&j->stop, 1);
        break;
      }
    if (w->rc != KE_OK)
      break;
  }
  ke_part_batch_free(b);
  return NULL;
}

ke_rc ke_part_batch_all(uint8_t (*out)[KE_PART_LEN], size_t count, const ke_point *R,
                        const char *const *part_ids, unsigned index, const ke_scalar *d,
                        const ke_point *Qi, const ke_point *E, const uint8_t *context,
                        size_t context_len, unsigned jobs, size_t *failed)
{
  struct ke_batch_job job = {index, d, Qi, E, R, context, context_len, count, part_ids, out, 0, 0};
  struct ke_batch_worker w[KE_BATCH_JOBS_MAX];
  pthread_t th[KE_BATCH_JOBS_MAX];
  int started[KE_BATCH_JOBS_MAX] = {0};
  ke_rc rc = KE_OK;
  size_t first = SIZE_MAX;

  if (failed)
    *failed = 0;
  if (!out || (!R && count) || (!part_ids && count))
    return KE_ERR_INTERNAL;
  if (jobs < 1)
    jobs = 1;
  if (jobs > KE_BATCH_JOBS_MAX)
    jobs = KE_BATCH_JOBS_MAX;
  /* A thread costs a few parts' worth (its own sender key): not for tiny
   * batches. */
  if (jobs > count / 16)
    jobs = count / 16 ? (unsigned)(count / 16) : 1;
  atomic_init(&job.next, 0);
  atomic_init(&job.stop, 0);
  for (unsigned t = 0; t < jobs; t++) {
    w[t] = (struct ke_batch_worker){&job, t == 0, KE_OK, SIZE_MAX};
    /* Worker 0 is the calling thread; a thread that cannot be made just
     * leaves its chunks to the others. */
    if (t > 0 && pthread_create(&th[t], NULL, ke_batch_worker_run, &w[t]) == 0)
      started[t] = 1;
  }
  ke_batch_worker_run(&w[0]);
  for (unsigned t = 1; t < jobs; t++)
    if (started[t])
      pthread_join(th[t], NULL);
  /* The first failing record (in record order) is the one reported; a
   * failure of the batch itself (worker 0's setup) has no record. */
  for (unsigned t = 0; t < jobs; t++)
    if ((started[t] || t == 0) && w[t].rc != KE_OK && (rc == KE_OK || w[t].failed < first)) {
      rc = w[t].rc;
      first = w[t].failed;
    }
  if (rc == KE_OK && atomic_load(&job.next) < count)
    rc = KE_ERR_INTERNAL; /* cannot happen: worker 0 takes what is left */
  if (rc != KE_OK) {
    if (failed)
      *failed = first;
    memset(out, 0, count * KE_PART_LEN);
  }
  return rc;
}
