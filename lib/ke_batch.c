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

ke_rc ke_part_batch_new(ke_part_batch **out, unsigned index, const ke_scalar *d,
                        const ke_point *Qi, const ke_point *E, const uint8_t *context,
                        size_t context_len)
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
  if (!(b->context = malloc(context_len ? context_len : 1)) ||
      !(b->ctx = BN_CTX_secure_new()) || !(b->db = ke_bn_secret(d->b)) ||
      !(b->pt = EC_POINT_new(ke_ec_group())))
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
/* Parts are independent, so a batch splits into contiguous slices, one per
 * thread, each with its own ke_part_batch (own sender key, BN_CTX and
 * scratch).  A custodian's machine has cores to spare, and a drill over
 * the whole fleet is 100,000 records: the wall time is what a person
 * waits for. */
struct ke_batch_slice {
  unsigned index;
  const ke_scalar *d;
  const ke_point *Qi, *E, *R;
  const uint8_t *context;
  size_t context_len, from, to, failed;
  const char *const *part_ids;
  uint8_t (*out)[KE_PART_LEN];
  ke_rc rc;
};

static void *ke_batch_slice_run(void *arg)
{
  struct ke_batch_slice *s = arg;
  ke_part_batch *b = NULL;

  s->failed = s->from;
  if ((s->rc = ke_part_batch_new(&b, s->index, s->d, s->Qi, s->E, s->context,
                                 s->context_len)) != KE_OK)
    return NULL;
  for (size_t i = s->from; i < s->to; i++) {
    if ((s->rc = ke_part_batch_make(b, s->out[i], &s->R[i], s->part_ids[i])) != KE_OK) {
      s->failed = i;
      break;
    }
  }
  ke_part_batch_free(b);
  return NULL;
}

ke_rc ke_part_batch_all(uint8_t (*out)[KE_PART_LEN], size_t count, const ke_point *R,
                        const char *const *part_ids, unsigned index, const ke_scalar *d,
                        const ke_point *Qi, const ke_point *E, const uint8_t *context,
                        size_t context_len, unsigned jobs, size_t *failed)
{
  struct ke_batch_slice sl[KE_BATCH_JOBS_MAX];
  pthread_t th[KE_BATCH_JOBS_MAX];
  int started[KE_BATCH_JOBS_MAX] = {0};
  ke_rc rc = KE_OK;

  if (failed)
    *failed = 0;
  if (!out || (!R && count) || (!part_ids && count))
    return KE_ERR_INTERNAL;
  if (jobs < 1)
    jobs = 1;
  if (jobs > KE_BATCH_JOBS_MAX)
    jobs = KE_BATCH_JOBS_MAX;
  /* A thread costs more than a few parts: keep at least 16 per thread. */
  if (jobs > count / 16)
    jobs = count / 16 ? (unsigned)(count / 16) : 1;
  for (unsigned j = 0; j < jobs; j++) {
    sl[j] = (struct ke_batch_slice){ index, d, Qi, E, R, context, context_len,
                                     count * j / jobs, count * (j + 1) / jobs, 0,
                                     part_ids, out, KE_OK };
    /* Slice 0 runs on the calling thread; the rest get their own, and if
     * one cannot be made its slice runs here too. */
    if (j > 0 && pthread_create(&th[j], NULL, ke_batch_slice_run, &sl[j]) == 0)
      started[j] = 1;
  }
  ke_batch_slice_run(&sl[0]);
  for (unsigned j = 1; j < jobs; j++) {
    if (started[j])
      pthread_join(th[j], NULL);
    else
      ke_batch_slice_run(&sl[j]);
  }
  /* The first failure in record order is the one reported. */
  for (unsigned j = 0; j < jobs; j++)
    if (sl[j].rc != KE_OK) {
      rc = sl[j].rc;
      if (failed)
        *failed = sl[j].failed;
      break;
    }
  if (rc != KE_OK)
    memset(out, 0, count * KE_PART_LEN);
  return rc;
}
