/*
 * test_merkle.c - RFC 9162 Merkle tree: the shared vectors byte for byte,
 * then random trees of up to 10,000 leaves checked against a separate,
 * literal implementation of the RFC's recursive definitions.
 *
 * usage: test_merkle VECTORS.json      (env KE_TEST_SEED picks the RNG seed)
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ke_test.h"
#include "ke_merkle.h"

#define H KE_MERKLE_HASH_LEN
#define BIG 10000

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rnd(void) /* splitmix64: reproducible from the printed seed */
{
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

static int hex_to_bytes(uint8_t *out, size_t n, const char *hex)
{
  size_t i;
  unsigned v;

  if (strlen(hex) != 2 * n)
    return -1;
  for (i = 0; i < n; i++) {
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

/* ---- reference implementation -------------------------------------------------
 * Written from the RFC text, sharing nothing with ke_merkle.c but SHA-256:
 * MTH, PATH and SUBPROOF recursively, with perfect subtrees memoised in a
 * level table so roots of any prefix cost O(log n). */
static uint8_t *ref_level[15]; /* level l: BIG >> l nodes over aligned blocks */
static uint8_t *ref_leaves;

static void sha(uint8_t out[H], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                uint8_t prefix)
{
  EVP_MD_CTX *c = EVP_MD_CTX_new();

  REQUIRE(c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
          EVP_DigestUpdate(c, &prefix, 1) == 1 && EVP_DigestUpdate(c, a, alen) == 1 &&
          EVP_DigestUpdate(c, b, blen) == 1 && EVP_DigestFinal_ex(c, out, NULL) == 1);
  EVP_MD_CTX_free(c);
}

static void ref_build(void)
{
  size_t l, i, n = BIG;

  ref_level[0] = ref_leaves;
  for (l = 1; l < 15; l++) {
    n /= 2;
    ref_level[l] = malloc(n ? n * H : 1);
    REQUIRE(ref_level[l]);
    for (i = 0; i < n; i++)
      sha(ref_level[l] + i * H, ref_level[l - 1] + 2 * i * H, H, ref_level[l - 1] + (2 * i + 1) * H,
          H, 0x01);
  }
}

static uint64_t ref_k(uint64_t n) /* largest power of two < n */
{
  uint64_t k = 1;
  while (2 * k < n)
    k *= 2;
  return k;
}

/* MTH(D[lo:hi]) */
static void ref_mth(uint8_t out[H], uint64_t lo, uint64_t hi)
{
  uint64_t n = hi - lo, k, l;
  uint8_t a[H], b[H];

  if (n == 0) {
    REQUIRE(EVP_Digest("", 0, out, NULL, EVP_sha256(), NULL) == 1);
    return;
  }
  if ((n & (n - 1)) == 0 && lo % n == 0) { /* memoised perfect subtree */
    for (l = 0; (UINT64_C(1) << l) < n; l++)
      ;
    memcpy(out, ref_level[l] + (lo >> l) * H, H);
    return;
  }
  if (n == 1) {
    memcpy(out, ref_leaves + lo * H, H);
    return;
  }
  k = ref_k(n);
  ref_mth(a, lo, lo + k);
  ref_mth(b, lo + k, hi);
  sha(out, a, H, b, H, 0x01);
}

/* PATH(m, D[lo:hi]) appended leaf-first */
static void ref_path(ke_merkle_path *p, uint64_t m, uint64_t lo, uint64_t hi)
{
  uint64_t n = hi - lo, k;

  if (n <= 1)
    return;
  k = ref_k(n);
  if (m < k) {
    ref_path(p, m, lo, lo + k);
    ref_mth(p->hash[p->len++], lo + k, hi);
  } else {
    ref_path(p, m - k, lo + k, hi);
    ref_mth(p->hash[p->len++], lo, lo + k);
  }
}

/* SUBPROOF(m, D[lo:hi], b) */
static void ref_subproof(ke_merkle_path *p, uint64_t m, uint64_t lo, uint64_t hi, int b)
{
  uint64_t n = hi - lo, k;

  if (m == n) {
    if (!b)
      ref_mth(p->hash[p->len++], lo, hi);
    return;
  }
  k = ref_k(n);
  if (m <= k) {
    ref_subproof(p, m, lo, lo + k, b);
    ref_mth(p->hash[p->len++], lo + k, hi);
  } else {
    ref_subproof(p, m - k, lo + k, hi, 0);
    ref_mth(p->hash[p->len++], lo, lo + k);
  }
}

static int path_eq(const ke_merkle_path *a, const ke_merkle_path *b)
{
  return a->len == b->len && memcmp(a->hash, b->hash, a->len * H) == 0;
}

/* ---- the shared vectors ------------------------------------------------------- */

static void load_path(ke_merkle_path *p, const json_t *arr)
{
  size_t i;

  REQUIRE(json_is_array(arr) && json_array_size(arr) <= KE_MERKLE_MAX_PATH);
  p->len = json_array_size(arr);
  for (i = 0; i < p->len; i++)
    REQUIRE(hex_to_bytes(p->hash[i], H, json_string_value(json_array_get(arr, i))) == 0);
}

static void test_vectors(const char *file)
{
  json_error_t err;
  json_t *doc = json_load_file(file, 0, &err), *trees, *t, *e;
  uint8_t roots[16][H], leaves[16 * H], root[H], lh[H];
  ke_merkle_path want, got;
  ke_merkle_array arr;
  ke_merkle_source src;
  ke_merkle_stream st;
  size_t ti, i, j, n, proofs = 0;
  uint64_t idx, from;

  REQUIRE(doc);
  trees = json_object_get(doc, "merkle");
  REQUIRE(json_is_array(trees) && json_array_size(trees) > 0 && json_array_size(trees) <= 16);
  json_array_foreach (trees, ti, t) {
    n = json_array_size(json_object_get(t, "leaves"));
    REQUIRE(n <= 16 && (uint64_t)json_integer_value(json_object_get(t, "size")) == n);
    /* The vector files list the trees by growing size 0, 1, 2, ...: the root
     * of size `from` is roots[from]. */
    REQUIRE(ti == n);
    ke_merkle_stream_init(&st);
    for (i = 0; i < n; i++) {
      const char *leaf = json_string_value(json_array_get(json_object_get(t, "leaves"), i));
      REQUIRE(leaf);
      CHECK_RC(ke_merkle_leaf_hash(leaves + i * H, leaf, strlen(leaf)), KE_OK);
      CHECK_RC(ke_merkle_stream_push(&st, leaves + i * H), KE_OK);
    }
    REQUIRE(hex_to_bytes(roots[n], H, json_string_value(json_object_get(t, "root"))) == 0);
    CHECK_RC(ke_merkle_root(root, leaves, n), KE_OK);
    CHECK(memcmp(root, roots[n], H) == 0);
    CHECK_RC(ke_merkle_stream_root(&st, root), KE_OK);
    CHECK(memcmp(root, roots[n], H) == 0);
    arr.hashes = leaves;
    arr.n = n;
    ke_merkle_array_source(&src, &arr);
    json_array_foreach (json_object_get(t, "inclusion"), j, e) {
      idx = (uint64_t)json_integer_value(json_object_get(e, "index"));
      load_path(&want, json_object_get(e, "path"));
      CHECK_RC(ke_merkle_inclusion_proof(&got, &src, idx, n), KE_OK);
      CHECK(path_eq(&got, &want));
      CHECK_RC(ke_merkle_verify_inclusion(leaves + idx * H, idx, n, &want, roots[n]), KE_OK);
      proofs++;
    }
    json_array_foreach (json_object_get(t, "consistency"), j, e) {
      from = (uint64_t)json_integer_value(json_object_get(e, "from"));
      REQUIRE(from <= n);
      load_path(&want, json_object_get(e, "path"));
      CHECK_RC(ke_merkle_consistency_proof(&got, &src, from, n), KE_OK);
      CHECK(path_eq(&got, &want));
      CHECK_RC(ke_merkle_verify_consistency(from, n, roots[from], roots[n], &want), KE_OK);
      proofs++;
    }
  }
  /* size 0: the empty root */
  CHECK_RC(ke_merkle_empty_root(lh), KE_OK);
  CHECK(memcmp(lh, roots[0], H) == 0);
  CHECK(proofs > 40);
  json_decref(doc);
}

/* ---- random trees ------------------------------------------------------------- */

/* A source that also counts what it was asked, to check the work is O(n). */
typedef struct counting {
  ke_merkle_array arr;
  uint64_t served;
  int fail_at_call; /* > 0: that call returns KE_ERR_IO */
  int calls;
} counting;

static ke_rc counting_leaves(void *ctx, uint64_t start, uint64_t count, uint8_t *out)
{
  counting *c = ctx;

  if (++c->calls == c->fail_at_call)
    return KE_ERR_IO;
  if (count == 0 || count > KE_MERKLE_CHUNK || start + count > c->arr.n)
    return KE_ERR_INTERNAL;
  c->served += count;
  memcpy(out, c->arr.hashes + start * H, count * H);
  return KE_OK;
}

static void flip_bit(uint8_t *b, size_t len)
{
  uint64_t bit = rnd_below(len * 8);
  b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* Proofs for (index, size): byte-identical to the reference, verify, and
 * fail with any single flipped bit or wrong parameter. */
static void check_inclusion(const ke_merkle_source *src, counting *cnt, uint64_t idx, uint64_t size)
{
  ke_merkle_path got, want, bad;
  uint8_t root[H], leaf[H], x[H];
  size_t i;

  ref_mth(root, 0, size);
  want.len = 0;
  ref_path(&want, idx, 0, size);
  cnt->served = 0;
  CHECK_RC(ke_merkle_inclusion_proof(&got, src, idx, size), KE_OK);
  CHECK(path_eq(&got, &want));
  CHECK(cnt->served < size); /* every leaf but idx, once */
  memcpy(leaf, ref_leaves + idx * H, H);
  CHECK_RC(ke_merkle_verify_inclusion(leaf, idx, size, &got, root), KE_OK);
  for (i = 0; i < got.len; i++) {
    bad = got;
    flip_bit(bad.hash[i], H);
    CHECK(ke_merkle_verify_inclusion(leaf, idx, size, &bad, root) == KE_ERR_PROOF);
  }
  memcpy(x, leaf, H);
  flip_bit(x, H);
  CHECK(ke_merkle_verify_inclusion(x, idx, size, &got, root) == KE_ERR_PROOF);
  memcpy(x, root, H);
  flip_bit(x, H);
  CHECK(ke_merkle_verify_inclusion(leaf, idx, size, &got, x) == KE_ERR_PROOF);
  if (idx + 1 < size)
    CHECK(ke_merkle_verify_inclusion(leaf, idx + 1, size, &got, root) != KE_OK);
  if (idx > 0)
    CHECK(ke_merkle_verify_inclusion(leaf, idx - 1, size, &got, root) != KE_OK);
  /* (A different size can accept the same path: sizes are bound by the
   * signed checkpoint, not by the proof.) */
  if (got.len > 0) {
    bad = got;
    bad.len--;
    CHECK_RC(ke_merkle_verify_inclusion(leaf, idx, size, &bad, root), KE_ERR_LENGTH);
  }
  bad = got;
  memcpy(bad.hash[bad.len++], root, H);
  CHECK_RC(ke_merkle_verify_inclusion(leaf, idx, size, &bad, root), KE_ERR_LENGTH);
}

static void check_consistency(const ke_merkle_source *src, counting *cnt, uint64_t from,
                              uint64_t to)
{
  ke_merkle_path got, want, bad;
  uint8_t r1[H], r2[H], x[H];
  size_t i;

  ref_mth(r1, 0, from);
  ref_mth(r2, 0, to);
  want.len = 0;
  if (from > 0 && from < to)
    ref_subproof(&want, from, 0, to, 1);
  cnt->served = 0;
  CHECK_RC(ke_merkle_consistency_proof(&got, src, from, to), KE_OK);
  CHECK(path_eq(&got, &want));
  CHECK(cnt->served <= to);
  CHECK_RC(ke_merkle_verify_consistency(from, to, r1, r2, &got), KE_OK);
  for (i = 0; i < got.len; i++) {
    bad = got;
    flip_bit(bad.hash[i], H);
    CHECK(ke_merkle_verify_consistency(from, to, r1, r2, &bad) == KE_ERR_PROOF);
  }
  memcpy(x, r1, H);
  flip_bit(x, H);
  CHECK(ke_merkle_verify_consistency(from, to, x, r2, &got) == KE_ERR_PROOF);
  memcpy(x, r2, H);
  flip_bit(x, H);
  /* An empty old tree is consistent with every tree, so the new root is not
   * constrained then. */
  CHECK(ke_merkle_verify_consistency(from, to, r1, x, &got) == (from ? KE_ERR_PROOF : KE_OK));
  if (from > 0 && from < to) {
    CHECK(ke_merkle_verify_consistency(from + 1, to, r1, r2, &got) != KE_OK);
    CHECK(ke_merkle_verify_consistency(from - 1, to, r1, r2, &got) != KE_OK);
    bad = got;
    bad.len--;
    CHECK_RC(ke_merkle_verify_consistency(from, to, r1, r2, &bad), KE_ERR_LENGTH);
  }
}

static void test_random(void)
{
  counting cnt;
  ke_merkle_source src;
  ke_merkle_stream st;
  uint8_t root[H], want[H];
  uint64_t i, a, b, size;
  int round;

  ref_leaves = malloc((size_t)BIG * H);
  REQUIRE(ref_leaves);
  for (i = 0; i < BIG; i++) {
    char leaf[64];
    int n = snprintf(leaf, sizeof leaf, "{\"seq\":%" PRIu64 "}", i);
    REQUIRE(ke_merkle_leaf_hash(ref_leaves + i * H, leaf, (size_t)n) == KE_OK);
  }
  ref_build();
  memset(&cnt, 0, sizeof cnt);
  cnt.arr.hashes = ref_leaves;
  cnt.arr.n = BIG;
  src.leaves = counting_leaves;
  src.ctx = &cnt;

  /* Roots of every prefix, streamed, against the reference. */
  ke_merkle_stream_init(&st);
  for (i = 0; i <= BIG; i++) {
    if (i > 0)
      REQUIRE(ke_merkle_stream_push(&st, ref_leaves + (i - 1) * H) == KE_OK);
    if (i < 300 || i % 97 == 0 || i == BIG) {
      CHECK_RC(ke_merkle_stream_root(&st, root), KE_OK);
      ref_mth(want, 0, i);
      CHECK(memcmp(root, want, H) == 0);
    }
  }
  CHECK_RC(ke_merkle_root(root, ref_leaves, BIG), KE_OK);
  CHECK(memcmp(root, want, H) == 0);

  /* Every (index, size) and (from, to) of the small trees. */
  for (size = 1; size <= 40; size++)
    for (i = 0; i <= size; i++) {
      if (i < size)
        check_inclusion(&src, &cnt, i, size);
      check_consistency(&src, &cnt, i, size);
    }
  /* Random pairs up to 10,000, with powers of two and their neighbours
   * over-represented since that is where the algorithms branch. */
  for (round = 0; round < 400; round++) {
    size = round % 4 == 0 ? (UINT64_C(1) << rnd_below(14)) + rnd_below(3) : 1 + rnd_below(BIG);
    if (size > BIG)
      size = BIG;
    a = rnd_below(size);
    check_inclusion(&src, &cnt, a, size);
    b = round % 5 == 0 ? (UINT64_C(1) << rnd_below(13)) : rnd_below(size + 1);
    if (b > size)
      b = size;
    check_consistency(&src, &cnt, b, size);
  }
  /* Range roots, aligned or not. */
  for (round = 0; round < 50; round++) {
    a = rnd_below(BIG);
    b = a + 1 + rnd_below(BIG - a);
    CHECK_RC(ke_merkle_range_root(root, &src, a, b), KE_OK);
    ref_mth(want, a, b);
    CHECK(memcmp(root, want, H) == 0);
  }
  /* Errors of the source come back unchanged, for every call position. */
  for (round = 1; round <= 3; round++) {
    ke_merkle_path p;
    cnt.calls = 0;
    cnt.fail_at_call = round;
    CHECK_RC(ke_merkle_inclusion_proof(&p, &src, 5000, BIG), KE_ERR_IO);
    cnt.calls = 0;
    CHECK_RC(ke_merkle_consistency_proof(&p, &src, 3000, BIG), KE_ERR_IO);
  }
  cnt.fail_at_call = 0;
  for (i = 1; i < 15; i++)
    free(ref_level[i]);
  free(ref_leaves);
}

/* ---- argument validation and the largest trees ---------------------------------- */

static void test_limits(void)
{
  const uint64_t max = KE_MERKLE_MAX_SIZE;
  uint8_t leaves[3 * H], h[H], e[H];
  ke_merkle_array arr = {leaves, 3};
  ke_merkle_source src;
  ke_merkle_path p;
  ke_merkle_plan plan;
  ke_merkle_stream st;
  size_t i;

  memset(leaves, 7, sizeof leaves);
  ke_merkle_array_source(&src, &arr);
  CHECK_RC(ke_merkle_inclusion_proof(&p, &src, 3, 3), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_inclusion_proof(&p, &src, 0, 0), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_consistency_proof(&p, &src, 3, 2), KE_ERR_INVALID_INDEX);
  /* asking the array for more leaves than it has */
  CHECK_RC(ke_merkle_inclusion_proof(&p, &src, 0, 4), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_range_root(h, &src, 2, 2), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_range_root(h, &src, 2, 1), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_inclusion_plan(&plan, 0, max + 1), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_inclusion_plan(&plan, max, max), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_consistency_plan(&plan, 1, max + 1), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_root(h, leaves, max + 1), KE_ERR_INVALID_INDEX);
  p.len = 0;
  CHECK_RC(ke_merkle_verify_inclusion(h, 5, 5, &p, h), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_verify_inclusion(h, 0, UINT64_MAX, &p, h), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_verify_consistency(6, 5, h, h, &p), KE_ERR_INVALID_INDEX);
  CHECK_RC(ke_merkle_verify_consistency(1, UINT64_MAX, h, h, &p), KE_ERR_INVALID_INDEX);
  /* a path longer than it can possibly be */
  p.len = KE_MERKLE_MAX_PATH + 1000;
  CHECK_RC(ke_merkle_verify_inclusion(h, 0, 3, &p, h), KE_ERR_LENGTH);
  CHECK_RC(ke_merkle_verify_consistency(1, 3, h, h, &p), KE_ERR_LENGTH);

  /* size 1, index 0: the leaf hash is the root, with an empty path */
  p.len = 0;
  CHECK_RC(ke_merkle_verify_inclusion(leaves, 0, 1, &p, leaves), KE_OK);
  CHECK_RC(ke_merkle_verify_inclusion(leaves, 0, 1, &p, h), KE_ERR_PROOF);
  /* from = to: equal roots and no path; from = 0: the old root is the
   * empty tree's */
  CHECK_RC(ke_merkle_empty_root(e), KE_OK);
  memset(h, 1, H);
  CHECK_RC(ke_merkle_verify_consistency(3, 3, h, h, &p), KE_OK);
  CHECK_RC(ke_merkle_verify_consistency(3, 3, h, e, &p), KE_ERR_PROOF);
  CHECK_RC(ke_merkle_verify_consistency(0, 3, e, h, &p), KE_OK);
  CHECK_RC(ke_merkle_verify_consistency(0, 0, e, e, &p), KE_OK);
  CHECK_RC(ke_merkle_verify_consistency(0, 3, h, h, &p), KE_ERR_PROOF);
  p.len = 1;
  CHECK_RC(ke_merkle_verify_consistency(3, 3, h, h, &p), KE_ERR_LENGTH);
  CHECK_RC(ke_merkle_verify_consistency(0, 3, e, h, &p), KE_ERR_LENGTH);

  /* The largest trees: plans have the predicted lengths and verification
   * of random paths fails cleanly instead of overflowing. */
  CHECK_RC(ke_merkle_inclusion_plan(&plan, max - 1, max), KE_OK);
  CHECK(plan.len == 63);
  CHECK(plan.range[62].start == 0 && plan.range[62].end == max / 2);
  CHECK(plan.range[0].start == max - 2 && plan.range[0].end == max - 1);
  CHECK_RC(ke_merkle_inclusion_plan(&plan, 0, max - 1), KE_OK);
  CHECK(plan.len == 63);
  /* 2^63 - 1 to 2^63 is the longest consistency path there is */
  CHECK_RC(ke_merkle_consistency_plan(&plan, max - 1, max), KE_OK);
  CHECK(plan.len == KE_MERKLE_MAX_PATH);
  CHECK_RC(ke_merkle_consistency_plan(&plan, 3, max - 1), KE_OK);
  CHECK(plan.len <= KE_MERKLE_MAX_PATH);
  CHECK_RC(ke_merkle_consistency_plan(&plan, max / 2 + 1, max - 1), KE_OK);
  CHECK(plan.len <= KE_MERKLE_MAX_PATH);
  for (i = 0; i < 200; i++) {
    uint64_t size = 1 + rnd_below(max), idx = rnd_below(size), m = 1 + rnd_below(size);
    CHECK_RC(ke_merkle_inclusion_plan(&plan, idx, size), KE_OK);
    p.len = plan.len;
    memset(p.hash, (int)i, sizeof p.hash);
    CHECK_RC(ke_merkle_verify_inclusion(h, idx, size, &p, h), KE_ERR_PROOF);
    CHECK_RC(ke_merkle_consistency_plan(&plan, m, size), KE_OK);
    p.len = plan.len;
    CHECK_RC(ke_merkle_verify_consistency(m, size, h, e, &p), KE_ERR_PROOF);
  }
  /* a full stream refuses more */
  ke_merkle_stream_init(&st);
  st.size = max;
  CHECK_RC(ke_merkle_stream_push(&st, h), KE_ERR_LENGTH);
  /* leaf hash of nothing is SHA-256(0x00) */
  CHECK_RC(ke_merkle_leaf_hash(h, "", 0), KE_OK);
  {
    static const uint8_t zero = 0;
    REQUIRE(EVP_Digest(&zero, 1, e, NULL, EVP_sha256(), NULL) == 1);
    CHECK(memcmp(h, e, H) == 0);
  }
}

int main(int argc, char **argv)
{
  const char *seed = getenv("KE_TEST_SEED");

  if (argc != 2) {
    fprintf(stderr, "usage: %s VECTORS.json\n", argv[0]);
    return 2;
  }
  rng_state = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL);
  printf("seed %" PRIu64 " (set KE_TEST_SEED to repeat)\n", rng_state);
  test_vectors(argv[1]);
  test_random();
  test_limits();
  return ke_test_result("merkle");
}
