/*
 * ke_merkle.h - RFC 9162 (section 2.1) Merkle tree hashing and proofs for
 * the audit log.  Pure computation: no I/O, no global mutable state beyond a
 * once-initialised digest handle, so it is safe to use from many threads.
 *
 *   leaf hash = SHA-256(0x00 || leaf)
 *   node hash = SHA-256(0x01 || left || right)
 *   root of the empty tree = SHA-256("")
 *
 * A tree is described by its leaf hashes only.  Proof generation reads leaf
 * hashes through a ke_merkle_source callback, so the server can stream them
 * from PostgreSQL instead of holding the whole log in memory.  A proof needs
 * the roots of O(log n) disjoint ranges of the tree (its "plan"); the plan
 * functions expose those ranges so that a caller with a cache of subtree
 * roots can answer them itself and only fall back to ke_merkle_range_root().
 *
 * Sizes and indices are uint64_t and may not exceed KE_MERKLE_MAX_SIZE.
 * Errors: an index or size out of range is KE_ERR_INVALID_INDEX, a proof of
 * the wrong length KE_ERR_LENGTH, and a proof that does not verify
 * KE_ERR_PROOF.  Errors returned by a source callback are passed through.
 */
#ifndef KE_MERKLE_H
#define KE_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "ke_util.h"

#define KE_MERKLE_HASH_LEN 32
/* Largest tree size accepted anywhere (inclusive): 2^63. */
#define KE_MERKLE_MAX_SIZE (UINT64_C(1) << 63)
/* Capacity of a path: an inclusion path for a tree of up to 2^63 leaves has
 * at most 63 entries and a consistency path at most 64. */
#define KE_MERKLE_MAX_PATH 64
/* Leaves requested from a source per callback, at most. */
#define KE_MERKLE_CHUNK 4096

/* A proof, ordered from the leaf (or the older tree) up to the root, as in
 * RFC 9162. */
typedef struct ke_merkle_path {
  size_t len;
  uint8_t hash[KE_MERKLE_MAX_PATH][KE_MERKLE_HASH_LEN];
} ke_merkle_path;

/* ---- hashing ---------------------------------------------------------- */
ke_rc ke_merkle_leaf_hash(uint8_t out[KE_MERKLE_HASH_LEN], const void *leaf, size_t len);
ke_rc ke_merkle_node_hash(uint8_t out[KE_MERKLE_HASH_LEN], const uint8_t left[KE_MERKLE_HASH_LEN],
                          const uint8_t right[KE_MERKLE_HASH_LEN]);
ke_rc ke_merkle_empty_root(uint8_t out[KE_MERKLE_HASH_LEN]);
/* Root over `n` leaf hashes stored back to back (n * 32 bytes).  O(n)
 * hashing, O(log n) extra memory; n = 0 gives the empty root. */
ke_rc ke_merkle_root(uint8_t out[KE_MERKLE_HASH_LEN], const uint8_t *leaf_hashes, uint64_t n);

/* ---- streaming ---------------------------------------------------------
 * Push leaf hashes in order; the root of the tree made of the leaves pushed
 * so far can be read at any point.  A verifier recomputes a log page by
 * page this way, and checks an older tree head on the way past it.  Plain
 * struct: no allocation, copy it freely. */
typedef struct ke_merkle_stream {
  uint64_t size;                                         /* leaves pushed  */
  size_t depth;                                          /* stack entries  */
  uint8_t stack[KE_MERKLE_MAX_PATH][KE_MERKLE_HASH_LEN]; /* perfect subtrees,
                                                            largest first */
} ke_merkle_stream;

void ke_merkle_stream_init(ke_merkle_stream *s);
/* KE_ERR_LENGTH once the stream already holds KE_MERKLE_MAX_SIZE leaves. */
ke_rc ke_merkle_stream_push(ke_merkle_stream *s, const uint8_t leaf_hash[KE_MERKLE_HASH_LEN]);
ke_rc ke_merkle_stream_root(const ke_merkle_stream *s, uint8_t out[KE_MERKLE_HASH_LEN]);

/* ---- sources of leaf hashes ---------------------------------------------- */
typedef struct ke_merkle_source {
  /* Write the leaf hashes of leaves [start, start + count) to `out`
   * (count * 32 bytes); 1 <= count <= KE_MERKLE_CHUNK.  Return KE_OK, or any
   * error (for example KE_ERR_IO), which is handed back to the caller. */
  ke_rc (*leaves)(void *ctx, uint64_t start, uint64_t count, uint8_t *out);
  void *ctx;
} ke_merkle_source;

/* A source over an in-memory array of leaf hashes; asking for a leaf at or
 * beyond n is KE_ERR_INVALID_INDEX.  The array must outlive the source. */
typedef struct ke_merkle_array {
  const uint8_t *hashes; /* n * 32 bytes */
  uint64_t n;
} ke_merkle_array;
void ke_merkle_array_source(ke_merkle_source *src, ke_merkle_array *arr);

/* Root of the subtree over leaves [start, end) in the RFC 9162 sense, that
 * is MTH(D[start:end]); start < end. */
ke_rc ke_merkle_range_root(uint8_t out[KE_MERKLE_HASH_LEN], const ke_merkle_source *src,
                           uint64_t start, uint64_t end);

/* ---- proof plans ----------------------------------------------------------
 * The ranges whose roots form a proof, in path order: path.hash[i] is
 * MTH(D[range[i].start : range[i].end]).  Every range has a start that is a
 * multiple of the smallest power of two >= its length, so ranges that are
 * complete powers of two are stable forever and can be cached. */
typedef struct ke_merkle_range {
  uint64_t start, end;
} ke_merkle_range;
typedef struct ke_merkle_plan {
  size_t len;
  ke_merkle_range range[KE_MERKLE_MAX_PATH];
} ke_merkle_plan;

/* index < size <= KE_MERKLE_MAX_SIZE. */
ke_rc ke_merkle_inclusion_plan(ke_merkle_plan *out, uint64_t index, uint64_t size);
/* from <= to <= KE_MERKLE_MAX_SIZE; from = 0 and from = to give an empty
 * plan. */
ke_rc ke_merkle_consistency_plan(ke_merkle_plan *out, uint64_t from, uint64_t to);

/* ---- proofs ------------------------------------------------------------ */
/* Proof generation: the plan, then one ke_merkle_range_root() per range.
 * The source must hold at least `size` (`to`) leaves. */
ke_rc ke_merkle_inclusion_proof(ke_merkle_path *out, const ke_merkle_source *src, uint64_t index,
                                uint64_t size);
ke_rc ke_merkle_consistency_proof(ke_merkle_path *out, const ke_merkle_source *src, uint64_t from,
                                  uint64_t to);

/* RFC 9162 2.1.3.2: KE_OK if `path` proves that the leaf with hash
 * `leaf_hash` is at `index` in the tree of `size` leaves with root `root`. */
ke_rc ke_merkle_verify_inclusion(const uint8_t leaf_hash[KE_MERKLE_HASH_LEN], uint64_t index,
                                 uint64_t size, const ke_merkle_path *path,
                                 const uint8_t root[KE_MERKLE_HASH_LEN]);
/* RFC 9162 2.1.4.2: KE_OK if the tree of `to` leaves with root `to_root`
 * extends the tree of `from` leaves with root `from_root`.  from = to needs
 * an empty path and equal roots; from = 0 needs an empty path and from_root
 * equal to the empty root. */
ke_rc ke_merkle_verify_consistency(uint64_t from, uint64_t to,
                                   const uint8_t from_root[KE_MERKLE_HASH_LEN],
                                   const uint8_t to_root[KE_MERKLE_HASH_LEN],
                                   const ke_merkle_path *path);

#endif
