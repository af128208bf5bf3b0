/*
 * ke_merkle.c - RFC 9162 Merkle tree hash, inclusion and consistency proofs.
 *
 * All roots are computed with the same left-to-right "stack of perfect
 * subtrees" method: MTH of n leaves splits at the largest power of two
 * below n, so the tree is the right fold of the perfect subtrees given by
 * the binary digits of n, largest first.  That is O(n) hashing with
 * O(log n) memory, whatever the source of the leaves.
 */
#include "ke_merkle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Fetching "SHA256" by name costs more than hashing 65 bytes; fetch it once
 * per process.  The handle is read-only afterwards and kept until exit. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

static const EVP_MD *sha256(void)
{
  if (pthread_once(&sha256_once, sha256_fetch) != 0)
    return NULL;
  return sha256_md;
}

ke_rc ke_merkle_leaf_hash(uint8_t out[KE_MERKLE_HASH_LEN], const void *leaf, size_t len)
{
  static const uint8_t prefix = 0x00;
  const EVP_MD *md = sha256();
  EVP_MD_CTX *ctx;
  ke_rc rc = KE_ERR_INTERNAL;

  if (!md || (!leaf && len))
    return md ? KE_ERR_LENGTH : KE_ERR_INTERNAL;
  if (!(ctx = EVP_MD_CTX_new()))
    return KE_ERR_NOMEM;
  if (EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
      (len == 0 || EVP_DigestUpdate(ctx, leaf, len) == 1) &&
      EVP_DigestFinal_ex(ctx, out, NULL) == 1)
    rc = KE_OK;
  EVP_MD_CTX_free(ctx);
  return rc;
}

ke_rc ke_merkle_node_hash(uint8_t out[KE_MERKLE_HASH_LEN], const uint8_t left[KE_MERKLE_HASH_LEN],
                          const uint8_t right[KE_MERKLE_HASH_LEN])
{
  uint8_t buf[1 + 2 * KE_MERKLE_HASH_LEN];
  const EVP_MD *md = sha256();

  if (!md)
    return KE_ERR_INTERNAL;
  /* Copy first: out may alias left or right. */
  buf[0] = 0x01;
  memcpy(buf + 1, left, KE_MERKLE_HASH_LEN);
  memcpy(buf + 1 + KE_MERKLE_HASH_LEN, right, KE_MERKLE_HASH_LEN);
  return EVP_Digest(buf, sizeof buf, out, NULL, md, NULL) == 1 ? KE_OK : KE_ERR_INTERNAL;
}

ke_rc ke_merkle_empty_root(uint8_t out[KE_MERKLE_HASH_LEN])
{
  const EVP_MD *md = sha256();

  if (!md)
    return KE_ERR_INTERNAL;
  return EVP_Digest("", 0, out, NULL, md, NULL) == 1 ? KE_OK : KE_ERR_INTERNAL;
}

/* ---- streaming ------------------------------------------------------------ */

void ke_merkle_stream_init(ke_merkle_stream *s) { memset(s, 0, sizeof *s); }

ke_rc ke_merkle_stream_push(ke_merkle_stream *s, const uint8_t leaf_hash[KE_MERKLE_HASH_LEN])
{
  uint64_t c;
  ke_rc rc;

  if (s->size >= KE_MERKLE_MAX_SIZE || s->depth >= KE_MERKLE_MAX_PATH)
    return KE_ERR_LENGTH;
  memcpy(s->stack[s->depth++], leaf_hash, KE_MERKLE_HASH_LEN);
  s->size++;
  /* Each trailing zero bit of the new size completes one perfect subtree:
   * merge the two topmost entries that many times. */
  for (c = s->size; (c & 1) == 0; c >>= 1) {
    if (s->depth < 2)
      return KE_ERR_INTERNAL;
    rc =
      ke_merkle_node_hash(s->stack[s->depth - 2], s->stack[s->depth - 2], s->stack[s->depth - 1]);
    if (rc)
      return rc;
    s->depth--;
  }
  return KE_OK;
}

ke_rc ke_merkle_stream_root(const ke_merkle_stream *s, uint8_t out[KE_MERKLE_HASH_LEN])
{
  uint8_t r[KE_MERKLE_HASH_LEN];
  size_t i;
  ke_rc rc;

  if (s->size == 0)
    return ke_merkle_empty_root(out);
  if (s->depth == 0 || s->depth > KE_MERKLE_MAX_PATH)
    return KE_ERR_INTERNAL;
  memcpy(r, s->stack[s->depth - 1], KE_MERKLE_HASH_LEN);
  for (i = s->depth - 1; i > 0; i--)
    if ((rc = ke_merkle_node_hash(r, s->stack[i - 1], r)))
      return rc;
  memcpy(out, r, KE_MERKLE_HASH_LEN);
  return KE_OK;
}

ke_rc ke_merkle_root(uint8_t out[KE_MERKLE_HASH_LEN], const uint8_t *leaf_hashes, uint64_t n)
{
  ke_merkle_stream s;
  uint64_t i;
  ke_rc rc;

  if (n > KE_MERKLE_MAX_SIZE)
    return KE_ERR_INVALID_INDEX;
  if (n && !leaf_hashes)
    return KE_ERR_LENGTH;
  ke_merkle_stream_init(&s);
  for (i = 0; i < n; i++)
    if ((rc = ke_merkle_stream_push(&s, leaf_hashes + i * KE_MERKLE_HASH_LEN)))
      return rc;
  return ke_merkle_stream_root(&s, out);
}

/* ---- sources ---------------------------------------------------------------- */

static ke_rc array_leaves(void *ctx, uint64_t start, uint64_t count, uint8_t *out)
{
  const ke_merkle_array *a = ctx;

  if (start > a->n || count > a->n - start)
    return KE_ERR_INVALID_INDEX;
  memcpy(out, a->hashes + start * KE_MERKLE_HASH_LEN, count * KE_MERKLE_HASH_LEN);
  return KE_OK;
}

void ke_merkle_array_source(ke_merkle_source *src, ke_merkle_array *arr)
{
  src->leaves = array_leaves;
  src->ctx = arr;
}

ke_rc ke_merkle_range_root(uint8_t out[KE_MERKLE_HASH_LEN], const ke_merkle_source *src,
                           uint64_t start, uint64_t end)
{
  ke_merkle_stream s;
  uint8_t *buf;
  uint64_t pos, count, i;
  ke_rc rc = KE_OK;

  if (!src || !src->leaves)
    return KE_ERR_INTERNAL;
  if (start >= end || end > KE_MERKLE_MAX_SIZE)
    return KE_ERR_INVALID_INDEX;
  if (!(buf = malloc((size_t)KE_MERKLE_CHUNK * KE_MERKLE_HASH_LEN)))
    return KE_ERR_NOMEM;
  ke_merkle_stream_init(&s);
  for (pos = start; pos < end && rc == KE_OK; pos += count) {
    count = end - pos < KE_MERKLE_CHUNK ? end - pos : KE_MERKLE_CHUNK;
    rc = src->leaves(src->ctx, pos, count, buf);
    for (i = 0; i < count && rc == KE_OK; i++)
      rc = ke_merkle_stream_push(&s, buf + i * KE_MERKLE_HASH_LEN);
  }
  free(buf);
  return rc ? rc : ke_merkle_stream_root(&s, out);
}

/* ---- plans ------------------------------------------------------------------ */

/* Largest power of two strictly below n; n >= 2. */
static uint64_t split_point(uint64_t n)
{
  uint64_t k = 1;

  while (k < n - k) /* k < n/2 without overflow: keep doubling */
    k <<= 1;
  return k;
}

static ke_rc plan_add(ke_merkle_plan *p, uint64_t start, uint64_t end)
{
  if (p->len >= KE_MERKLE_MAX_PATH)
    return KE_ERR_INTERNAL;
  p->range[p->len].start = start;
  p->range[p->len].end = end;
  p->len++;
  return KE_OK;
}

/* The recursions of RFC 9162 produce siblings from the root down; proofs
 * list them from the leaf up. */
static void plan_reverse(ke_merkle_plan *p)
{
  size_t i, j;
  ke_merkle_range t;

  for (i = 0, j = p->len; i + 1 < j; i++, j--) {
    t = p->range[i];
    p->range[i] = p->range[j - 1];
    p->range[j - 1] = t;
  }
}

/* RFC 9162 2.1.3.1, PATH(m, D[n]), unrolled. */
ke_rc ke_merkle_inclusion_plan(ke_merkle_plan *out, uint64_t index, uint64_t size)
{
  uint64_t lo = 0, hi = size, k;
  ke_rc rc;

  out->len = 0;
  if (size > KE_MERKLE_MAX_SIZE || index >= size)
    return KE_ERR_INVALID_INDEX;
  while (hi - lo > 1) {
    k = split_point(hi - lo);
    if (index < lo + k) {
      rc = plan_add(out, lo + k, hi);
      hi = lo + k;
    } else {
      rc = plan_add(out, lo, lo + k);
      lo += k;
    }
    if (rc)
      return rc;
  }
  plan_reverse(out);
  return KE_OK;
}

/* RFC 9162 2.1.4.1, SUBPROOF(m, D[n], b), unrolled. */
ke_rc ke_merkle_consistency_plan(ke_merkle_plan *out, uint64_t from, uint64_t to)
{
  uint64_t lo = 0, hi = to, m = from, k;
  int b = 1;
  ke_rc rc;

  out->len = 0;
  if (to > KE_MERKLE_MAX_SIZE || from > to)
    return KE_ERR_INVALID_INDEX;
  if (from == 0 || from == to)
    return KE_OK;
  for (;;) {
    if (m == hi - lo) {
      /* The old tree is a whole subtree here; the verifier knows its root
       * already only when it is the complete old tree (b). */
      if (!b && (rc = plan_add(out, lo, hi)))
        return rc;
      break;
    }
    k = split_point(hi - lo);
    if (m <= k) {
      rc = plan_add(out, lo + k, hi);
      hi = lo + k;
    } else {
      rc = plan_add(out, lo, lo + k);
      m -= k;
      lo += k;
      b = 0;
    }
    if (rc)
      return rc;
  }
  plan_reverse(out);
  return KE_OK;
}

/* ---- proofs ----------------------------------------------------------------- */

/* The proof for a plan that was just made; rc says how making it went. */
static ke_rc path_from_plan(ke_merkle_path *out, const ke_merkle_source *src,
                            const ke_merkle_plan *plan, ke_rc rc)
{
  out->len = 0;
  for (size_t i = 0; !rc && i < plan->len; i++)
    rc = ke_merkle_range_root(out->hash[i], src, plan->range[i].start, plan->range[i].end);
  if (!rc)
    out->len = plan->len;
  return rc;
}

ke_rc ke_merkle_inclusion_proof(ke_merkle_path *out, const ke_merkle_source *src, uint64_t index,
                                uint64_t size)
{
  ke_merkle_plan plan;
  return path_from_plan(out, src, &plan, ke_merkle_inclusion_plan(&plan, index, size));
}

ke_rc ke_merkle_consistency_proof(ke_merkle_path *out, const ke_merkle_source *src, uint64_t from,
                                  uint64_t to)
{
  ke_merkle_plan plan;
  return path_from_plan(out, src, &plan, ke_merkle_consistency_plan(&plan, from, to));
}

/* ---- verification ------------------------------------------------------------ */

static int hash_eq(const uint8_t a[KE_MERKLE_HASH_LEN], const uint8_t b[KE_MERKLE_HASH_LEN])
{
  return CRYPTO_memcmp(a, b, KE_MERKLE_HASH_LEN) == 0;
}

ke_rc ke_merkle_verify_inclusion(const uint8_t leaf_hash[KE_MERKLE_HASH_LEN], uint64_t index,
                                 uint64_t size, const ke_merkle_path *path,
                                 const uint8_t root[KE_MERKLE_HASH_LEN])
{
  ke_merkle_plan plan;
  uint8_t r[KE_MERKLE_HASH_LEN];
  uint64_t fn, sn;
  size_t i;
  ke_rc rc;

  if ((rc = ke_merkle_inclusion_plan(&plan, index, size)))
    return rc;
  /* The length is fixed by (index, size); checking it first turns a
   * truncated or padded path into a precise error. */
  if (path->len != plan.len)
    return KE_ERR_LENGTH;
  fn = index;
  sn = size - 1;
  memcpy(r, leaf_hash, KE_MERKLE_HASH_LEN);
  for (i = 0; i < path->len; i++) {
    if (sn == 0)
      return KE_ERR_PROOF;
    if ((fn & 1) || fn == sn) {
      if ((rc = ke_merkle_node_hash(r, path->hash[i], r)))
        return rc;
      /* Step ii: climb past the levels where this node is a left child
       * with no right sibling. */
      while (fn != 0 && !(fn & 1)) {
        fn >>= 1;
        sn >>= 1;
      }
    } else if ((rc = ke_merkle_node_hash(r, r, path->hash[i]))) {
      return rc;
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && hash_eq(r, root) ? KE_OK : KE_ERR_PROOF;
}

ke_rc ke_merkle_verify_consistency(uint64_t from, uint64_t to,
                                   const uint8_t from_root[KE_MERKLE_HASH_LEN],
                                   const uint8_t to_root[KE_MERKLE_HASH_LEN],
                                   const ke_merkle_path *path)
{
  ke_merkle_plan plan;
  uint8_t fr[KE_MERKLE_HASH_LEN], sr[KE_MERKLE_HASH_LEN], empty[KE_MERKLE_HASH_LEN];
  const uint8_t *c;
  uint64_t fn, sn;
  size_t i, first;
  ke_rc rc;

  if ((rc = ke_merkle_consistency_plan(&plan, from, to)))
    return rc;
  if (path->len != plan.len)
    return KE_ERR_LENGTH;
  if (from == 0) {
    /* Every tree extends the empty one, but the old head must really be
     * the empty tree's. */
    if ((rc = ke_merkle_empty_root(empty)))
      return rc;
    return hash_eq(from_root, empty) ? KE_OK : KE_ERR_PROOF;
  }
  if (from == to)
    return hash_eq(from_root, to_root) ? KE_OK : KE_ERR_PROOF;
  if (path->len == 0)
    return KE_ERR_LENGTH;
  /* Step 2: when `from` is a power of two the old root is itself a node of
   * the new tree and the path starts one step higher. */
  first = 0;
  if ((from & (from - 1)) == 0) {
    c = from_root;
  } else {
    c = path->hash[0];
    first = 1;
  }
  fn = from - 1;
  sn = to - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  memcpy(fr, c, KE_MERKLE_HASH_LEN);
  memcpy(sr, c, KE_MERKLE_HASH_LEN);
  for (i = first; i < path->len; i++) {
    c = path->hash[i];
    if (sn == 0)
      return KE_ERR_PROOF;
    if ((fn & 1) || fn == sn) {
      if ((rc = ke_merkle_node_hash(fr, c, fr)) || (rc = ke_merkle_node_hash(sr, c, sr)))
        return rc;
      /* Step ii: climb past the levels where this node is a left child
       * with no right sibling. */
      while (fn != 0 && !(fn & 1)) {
        fn >>= 1;
        sn >>= 1;
      }
    } else if ((rc = ke_merkle_node_hash(sr, sr, c))) {
      return rc;
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && hash_eq(fr, from_root) && hash_eq(sr, to_root) ? KE_OK : KE_ERR_PROOF;
}
