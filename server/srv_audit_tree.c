/*
 * srv_audit_tree.c - the tree head and proofs, from stored subtree hashes.
 *
 * A proof is the roots of the O(log n) ranges of ke_merkle's plan.  Each
 * range [s, e) starts at a multiple of the smallest power of two >= e - s,
 * so it splits into perfect, aligned subtrees of decreasing size (the binary
 * digits of e - s), whose hashes the sequencer stored in audit_tree when
 * they completed (level 0 = the leaf hashes).  One query fetches all of
 * them; folding them from the right gives the range root (RFC 9162 2.1.1).
 * So a proof costs O(log^2 n) small rows, never a scan of the leaves, and
 * never reads audit_log: a leaf edited there does not spoil the proofs that
 * let a verifier name it.
 */
#include "srv_audit_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"

/* At most 64 ranges of at most 64 subtrees each. */
#define SRV_AUDIT_MAX_NODES (KE_MERKLE_MAX_PATH * 64)

struct srv_audit_nodes {
  size_t n;
  uint8_t level[SRV_AUDIT_MAX_NODES];
  uint64_t idx[SRV_AUDIT_MAX_NODES];
  uint8_t hash[SRV_AUDIT_MAX_NODES][KE_MERKLE_HASH_LEN];
};

static int64_t srv_audit_col_i64(PGresult *r, int row, int col, int *ok)
{
  char *end;
  long long v;

  if (PQgetisnull(r, row, col)) {
    *ok = 0;
    return 0;
  }
  v = strtoll(PQgetvalue(r, row, col), &end, 10);
  if (*end)
    *ok = 0;
  return v;
}

/* A bytea column that must hold exactly one hash. */
static int srv_audit_col_hash(PGresult *r, int row, int col, uint8_t out[KE_MERKLE_HASH_LEN])
{
  uint8_t *b;
  size_t n;

  if (PQgetisnull(r, row, col) || srv_audit_bytea_parse(PQgetvalue(r, row, col), &b, &n))
    return -1;
  if (n != KE_MERKLE_HASH_LEN) {
    free(b);
    return -1;
  }
  memcpy(out, b, n);
  free(b);
  return 0;
}

enum srv_db_status srv_audit_head_read(struct srv_db *db, struct srv_audit_head *h)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_AUDIT_HEAD, NULL, &st);
  int ok = 1;

  if (!r)
    return st;
  if (PQntuples(r) == 1)
    h->size = srv_audit_col_i64(r, 0, 0, &ok);
  if (PQntuples(r) != 1 || !ok || h->size < 0 || srv_audit_col_hash(r, 0, 1, h->root)) {
    ke_logf(KE_LOG_ERROR, "audit_head is missing or malformed");
    st = SRV_DB_ABORT;
  }
  PQclear(r);
  return st;
}

/* Append the aligned perfect subtrees of [s, e) to `nodes`. */
static int srv_audit_split(struct srv_audit_nodes *nodes, uint64_t s, uint64_t e)
{
  while (s < e) {
    uint64_t len = e - s, k = 1;
    unsigned level = 0;

    while (k <= len / 2) {
      k <<= 1;
      level++;
    }
    if (s % k != 0 || nodes->n >= SRV_AUDIT_MAX_NODES)
      return -1; /* not a plan range: ke_merkle guarantees it is */
    nodes->level[nodes->n] = (uint8_t)level;
    nodes->idx[nodes->n] = s >> level;
    nodes->n++;
    s += k;
  }
  return 0;
}

static char *srv_audit_array(const struct srv_audit_nodes *nodes, int levels)
{
  size_t cap = nodes->n * 22 + 3, len = 1;
  char *out = malloc(cap);

  if (!out)
    return NULL;
  out[0] = '{';
  for (size_t i = 0; i < nodes->n; i++)
    len += (size_t)snprintf(out + len, cap - len, "%s%" PRIu64, i ? "," : "",
                            levels ? (uint64_t)nodes->level[i] : nodes->idx[i]);
  snprintf(out + len, cap - len, "}");
  return out;
}

static enum srv_db_status srv_audit_fetch(struct srv_db *db, struct srv_audit_nodes *nodes)
{
  char *lv = srv_audit_array(nodes, 1), *ix = srv_audit_array(nodes, 0);
  const char *params[2] = {lv, ix};
  enum srv_db_status st = SRV_DB_ERROR;
  PGresult *r = NULL;

  if (nodes->n == 0) {
    free(lv);
    free(ix);
    return SRV_DB_OK;
  }
  if (lv && ix)
    r = srv_db_exec(db, SRV_STMT_AUDIT_NODES, params, &st);
  free(lv);
  free(ix);
  if (!r)
    return st;
  if ((size_t)PQntuples(r) != nodes->n)
    st = SRV_DB_ERROR;
  for (size_t i = 0; st == SRV_DB_OK && i < nodes->n; i++) {
    if (srv_audit_col_hash(r, (int)i, 0, nodes->hash[i]) != 0) {
      ke_log(
        KE_LOG_ERROR, "audit tree node missing or malformed (tampering or a bug)",
        json_pack("{s:i,s:I}", "level", (int)nodes->level[i], "index", (json_int_t)nodes->idx[i]));
      st = SRV_DB_ABORT;
    }
  }
  PQclear(r);
  return st;
}

/* Root of range i of `plan` from its nodes [from, to) in `nodes`. */
static ke_rc srv_audit_fold(const struct srv_audit_nodes *nodes, size_t from, size_t to,
                            uint8_t out[KE_MERKLE_HASH_LEN])
{
  memcpy(out, nodes->hash[to - 1], KE_MERKLE_HASH_LEN);
  for (size_t i = to - 1; i > from; i--) {
    ke_rc rc = ke_merkle_node_hash(out, nodes->hash[i - 1], out);
    if (rc != KE_OK)
      return rc;
  }
  return KE_OK;
}

static enum srv_db_status srv_audit_plan_roots(struct srv_db *db, const ke_merkle_plan *plan,
                                               ke_merkle_path *out)
{
  struct srv_audit_nodes *nodes = calloc(1, sizeof *nodes);
  size_t start[KE_MERKLE_MAX_PATH + 1];
  enum srv_db_status st = SRV_DB_ERROR;

  if (!nodes)
    return SRV_DB_ERROR;
  out->len = plan->len;
  for (size_t i = 0; i < plan->len; i++) {
    start[i] = nodes->n;
    if (srv_audit_split(nodes, plan->range[i].start, plan->range[i].end) != 0)
      goto out;
  }
  start[plan->len] = nodes->n;
  st = srv_audit_fetch(db, nodes);
  for (size_t i = 0; st == SRV_DB_OK && i < plan->len; i++)
    if (srv_audit_fold(nodes, start[i], start[i + 1], out->hash[i]) != KE_OK)
      st = SRV_DB_ERROR;
out:
  free(nodes);
  return st;
}

enum srv_db_status srv_audit_inclusion(struct srv_db *db, uint64_t index, uint64_t size,
                                       ke_merkle_path *out)
{
  ke_merkle_plan plan;
  return ke_merkle_inclusion_plan(&plan, index, size) ? SRV_DB_ERROR
                                                      : srv_audit_plan_roots(db, &plan, out);
}

enum srv_db_status srv_audit_consistency(struct srv_db *db, uint64_t from, uint64_t to,
                                         ke_merkle_path *out)
{
  ke_merkle_plan plan;
  return ke_merkle_consistency_plan(&plan, from, to) ? SRV_DB_ERROR
                                                     : srv_audit_plan_roots(db, &plan, out);
}

enum srv_db_status srv_audit_root_at(struct srv_db *db, uint64_t size,
                                     uint8_t out[KE_MERKLE_HASH_LEN])
{
  ke_merkle_plan plan;
  ke_merkle_path path;
  enum srv_db_status st;

  if (size == 0)
    return ke_merkle_empty_root(out) == KE_OK ? SRV_DB_OK : SRV_DB_ERROR;
  plan.len = 1;
  plan.range[0].start = 0;
  plan.range[0].end = size;
  st = srv_audit_plan_roots(db, &plan, &path);
  if (st == SRV_DB_OK)
    memcpy(out, path.hash[0], KE_MERKLE_HASH_LEN);
  return st;
}
