/*
 * srv_drill_canary.c - the snapshot of a canary drill (docs/protocol.md
 * section 9, "Canary drills"; lib/ke_canary.h): POST /v1/drills with mode
 * "canary" and selection "canary:N" carries N canaries, envelopes the
 * auditor sealed to the current escrow key, each with its verifier and a
 * proof of knowledge of its R.
 *
 * The proof is what keeps a canary drill harmless: no record id, device or
 * envelope of a real record can be passed off as a canary, since nobody
 * knows the discrete log of a real envelope's R (the agent forgot it).  The
 * schema adds that a canary's id is no escrow record's.  Each canary is
 * audited as escrow.store (with "canary": the drill), so that it is in the
 * signed log like any escrowed envelope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_canary.h"
#include "ke_log.h"
#include "ke_crypto.h"
#include "ke_drill.h"
#include "ke_util.h"
#include "ke_json_spec.h"
#include "srv_audit.h"
#include "srv_drill.h"
#include "srv_rows.h"

/* A canary's members; their values are checked in the order of the messages. */
struct srv_dcan {
  const json_t *record_id, *envelope, *verifier, *proof;
};
static const struct ke_jfield srv_dcan_fields[] = {
  KE_JF_ANY_OPT(struct srv_dcan, record_id, NULL), KE_JF_ANY_OPT(struct srv_dcan, envelope, NULL),
  KE_JF_ANY_OPT(struct srv_dcan, verifier, NULL), KE_JF_ANY_OPT(struct srv_dcan, proof, NULL),
  KE_JF_END};
static const struct ke_jspec srv_dcan_spec = KE_JSPEC(struct srv_dcan, srv_dcan_fields, 0);

/* One canary of the body: NULL and its hex fields appended to `batch`, or
 * the 400 message. */
static const char *srv_dcan_one(const json_t *it, const char *id, json_t *batch)
{
  struct srv_dcan c;
  const char *rid, *e64, *v64, *p64, *why = NULL;
  uint8_t *env = NULL, ver[KE_VERIFIER_LEN], proof[KE_DLEQ_LEN];
  char pid[KE_DRILL_PART_ID_MAX], *ehex = NULL;
  char vhex[2 * KE_VERIFIER_LEN + 1], phex[2 * KE_DLEQ_LEN + 1];
  size_t envlen = 0, k;
  ke_envelope pe;

  if (json_object_size(it) != 4 || ke_json_spec_parse(it, &srv_dcan_spec, &c, NULL) != 0)
    return "canaries: each {record_id, envelope, verifier, proof}";
  rid = json_string_value(c.record_id), e64 = json_string_value(c.envelope);
  v64 = json_string_value(c.verifier), p64 = json_string_value(c.proof);
  if (!ke_drill_part_id(pid, id, rid))
    return "canaries: record_id is \"rec-\" and 26 characters of a-z2-7, chosen by the client";
  if (!e64 || ke_b64url_decode(&env, &envlen, e64, 0) != KE_OK ||
      ke_envelope_parse(&pe, env, envlen) != KE_OK)
    why = "canaries: envelope is base64url of an envelope (KE 01 ...)";
  else if (!v64 || ke_b64url_decode_fixed(ver, sizeof ver, v64) != KE_OK)
    why = "canaries: verifier is 32 bytes in base64url";
  else if (!p64 || ke_b64url_decode_fixed(proof, sizeof proof, p64) != KE_OK ||
           ke_canary_verify(proof, sizeof proof, &pe.R, id, rid) != KE_OK)
    why = "canaries: proof does not prove knowledge of the envelope's R for this drill and "
          "record";
  for (k = 0; !why && k < json_array_size(batch); k++)
    if (strcmp(json_string_value(json_object_get(json_array_get(batch, k), "record_id")), rid) == 0)
      why = "canaries: each record_id at most once";
  if (!why && !(ehex = malloc(2 * envlen + 1)))
    why = "out of memory";
  if (!why) {
    ke_hex_encode(ehex, env, envlen);
    ke_hex_encode(vhex, ver, sizeof ver);
    ke_hex_encode(phex, proof, sizeof proof);
    if (json_array_append_new(batch, json_pack("{s:s,s:s,s:s,s:s}", "record_id", rid, "envelope",
                                               ehex, "verifier", vhex, "proof", phex)))
      why = "out of memory";
  }
  free(env);
  free(ehex);
  return why;
}

const char *srv_drill_canaries_parse(const json_t *arr, const char *id, long long want,
                                     char **batch)
{
  json_t *b = json_array();
  const json_t *it;
  const char *why = NULL;
  size_t i;

  *batch = NULL;
  if (!b)
    return "out of memory";
  if (!json_is_array(arr) || (long long)json_array_size(arr) != want)
    why = "canaries: exactly N of them for selection canary:N";
  json_array_foreach (arr, i, it) {
    if (why || (why = srv_dcan_one(it, id, b)))
      break;
  }
  if (!why && !(*batch = json_dumps(b, JSON_COMPACT)))
    why = "out of memory";
  json_decref(b);
  return why;
}

struct srv_dcan_row {
  const char *record_id, *envelope_sha256, *escrow_fingerprint;
};
static const struct srv_col srv_dcan_cols[] = {
  SRV_COL_TEXT(struct srv_dcan_row, record_id), SRV_COL_TEXT(struct srv_dcan_row, envelope_sha256),
  SRV_COL_TEXT(struct srv_dcan_row, escrow_fingerprint), SRV_COL_END};

enum srv_db_status srv_drill_canaries_insert(struct srv_db *db, struct srv_request *req,
                                             const char *id, const char *batch, long long *n)
{
  const char *p2[2] = {id, batch};
  enum srv_db_status st;
  PGresult *r;

  *n = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_CANARY_INSERT, p2, &st)))
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    struct srv_dcan_row c;
    json_t *d = srv_row_read(r, i, srv_dcan_cols, &c) != 0
                  ? NULL
                  : json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "device", KE_CANARY_DEVICE,
                              "volume", c.record_id, "key_type", "other", "key_id", "canary",
                              "envelope_sha256", c.envelope_sha256, "escrow_fingerprint",
                              c.escrow_fingerprint, "escrow_key_state", "current", "canary", id);
    if (!d) {
      PQclear(r);
      return SRV_DB_ERROR;
    }
    if ((st = srv_audit_success(db, req, "escrow.store", "record", c.record_id, d)) != SRV_DB_OK) {
      PQclear(r);
      return st;
    }
  }
  *n = PQntuples(r);
  PQclear(r);
  return SRV_DB_OK;
}

struct srv_dcl {
  const char *id;
  char leaf[24];
};

static enum srv_db_status srv_dcl_txn(struct srv_db *db, void *cls)
{
  struct srv_dcl *l = cls;
  const char *p2[2] = {l->id, l->leaf};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DRILL_CANARY_LEAVES, p2, &st);

  PQclear(r);
  return r ? SRV_DB_OK : st;
}

void srv_drill_canary_leaves(const char *id)
{
  struct srv_dcl l = {id, ""};
  int64_t last = -1;

  /* The answer does not wait for more: a canary without its leaf yet only
   * makes custodians who prove it in the log wait (they retry). */
  if (srv_audit_sequence_mine(&last) != 0 || last < 0) {
    ke_log(KE_LOG_WARN, "canary drill created but its audit events are not sequenced yet",
           json_pack("{s:s}", "drill", id));
    return;
  }
  snprintf(l.leaf, sizeof l.leaf, "%lld", (long long)last);
  if (srv_db_txn(SRV_DB_SERIALIZABLE, srv_dcl_txn, &l) != SRV_DB_OK)
    ke_log(KE_LOG_WARN, "could not store the leaf indices of a canary drill",
           json_pack("{s:s}", "drill", id));
}
