/*
 * srv_ep_drills.c - backup-integrity drills (docs/protocol.md section 9):
 * POST /v1/drills (auditor), GET /v1/drills/{id} (auditor, custodian),
 * GET /v1/drills/{id}/parts (auditor) and GET /v1/drills/{id}/status
 * (auditor, custodian).
 *
 * As for retrievals, the client chooses the drill id and signs, with its
 * registered client key, a statement naming it, the selection, its
 * one-time key E and a nonce (lib/ke_drill.h); the server verifies it and
 * snapshots the selected active records into drill_records, so that
 * rotations during the drill do not change what is tested.  That request
 * does not name the records; the statement custodians act on does, and the
 * auditor signs it once the snapshot exists (srv_ep_drills_sign.c).  GET
 * shows it, with each record's escrow.store event and leaf index for the
 * custodian's log proof.  The server relays; it never holds e, a P_i or a
 * secret.
 *
 * Status [?wait=S&since=N]: the drill view without its records, answered
 * when the number of custodians whose batch is stored differs from
 * `since`, the drill closes or S seconds (<= 300) pass; the connection is
 * suspended meanwhile (srv_longpoll.h), as for GET /v1/retrievals/{id}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_drill.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_drill.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_DC_MODE_MSG "mode: \"full\", or \"canary\" with selection canary:N"
struct srv_dc_body {
  const char *drill_id, *selection, *nonce, *mode;
  ke_point E;
  uint8_t signature[64];
  const json_t *canaries; /* checked by srv_drill_canaries_parse */
};
static const struct ke_jfield srv_dc_fields[] = {
  KE_JF_STR(struct srv_dc_body, drill_id, KE_DRILL_ID_LEN, KE_DRILL_ID_LEN, ke_drill_id_ok,
            "drill_id: \"drl-\" and 26 characters of a-z2-7, chosen by the client"),
  KE_JF_STR(struct srv_dc_body, selection, 1, 80, ke_drill_selection_ok,
            "selection: all, sample:N or group:G"),
  KE_JF_POINT(struct srv_dc_body, E, "E: base64url of a compressed P-256 point"),
  KE_JF_STR(struct srv_dc_body, nonce, 22, 22, NULL,
            "nonce: 22 base64url characters (16 random bytes)"),
  KE_JF_B64_FIXED(struct srv_dc_body, signature, "signature: base64url of an Ed25519 signature"),
  KE_JF_STR_OPT(struct srv_dc_body, mode, 1, 8, ke_drill_mode_ok, SRV_DC_MODE_MSG),
  KE_JF_ANY_OPT(struct srv_dc_body, canaries, NULL),
  KE_JF_END};
const struct ke_jspec srv_ep_drills_create_body = KE_JSPEC(struct srv_dc_body, srv_dc_fields, 0);

struct srv_dc {
  struct srv_request *req;
  struct srv_dc_body b;
  const char *mode;
  char *canaries; /* canary mode: the checked canaries (srv_drill_canaries_parse) */
  char e_hex[2 * KE_POINT_LEN + 1], sig_hex[129];
  struct srv_ep_fail fail;
  long long count;
};

static enum srv_db_status srv_dc_txn(struct srv_db *db, void *cls)
{
  struct srv_dc *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r;
  const char *sel = s->b.selection;
  char stmt[KE_DRILL_STMT_MAX], exp[16], *e64;
  struct srv_client_key ck;
  int found;
  size_t n;

  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK)
    return st;
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "No client key is registered for you: run escrowctl key register");
  /* The statement names E in base64url as the client sent it (the decoding
   * is canonical: 33 bytes have one spelling). */
  if (!(e64 = ke_b64url_encode(s->b.E.b, KE_POINT_LEN)))
    return SRV_DB_ERROR;
  n = ke_drill_statement(stmt, s->b.drill_id, sel, e64, s->b.nonce);
  free(e64);
  if (!n || !srv_device_ed25519_ok(ck.pub, (const uint8_t *)stmt, n, s->b.signature))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE,
                       "The drill signature does not verify with your registered client key");
  snprintf(exp, sizeof exp, "%u", srv_drill_expiry());
  const char *p9[9] = {s->b.drill_id, p->id,          sel,     s->e_hex, s->b.nonce,
                       s->sig_hex,    ck.fingerprint, s->mode, exp};
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_INSERT, p9, &st)))
    return st;
  int dup = PQntuples(r) == 0;
  PQclear(r);
  if (dup)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "A drill with this id exists already");
  if (s->canaries) {
    if ((st = srv_drill_canaries_insert(db, s->req, s->b.drill_id, s->canaries, &s->count)) !=
        SRV_DB_OK)
      return st;
    if (s->count != atoll(sel + 7))
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                         "canaries: each must be sealed to the current escrow key");
  } else {
    const char *p4[4] = {s->b.drill_id, strncmp(sel, "group:", 6) == 0 ? sel + 6 : NULL,
                         strncmp(sel, "sample:", 7) == 0 ? sel + 7 : NULL,
                         srv_principal_scope(srv_request_principal(s->req))};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_SNAPSHOT, p4, &st)))
      return st;
    s->count = srv_row_text(r, "n") ? strtoll(srv_row_text(r, "n"), NULL, 10) : 0;
    PQclear(r);
  }
  if (s->count == 0)
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND,
                       "No active escrow record matches the selection");
  return srv_audit_success(db, s->req, "drill.create", "drill", s->b.drill_id,
                           json_pack("{s:s,s:I,s:s,s:s}", "selection", sel, "records",
                                     (json_int_t)s->count, "client_key", ck.fingerprint, "mode",
                                     s->mode));
}

enum MHD_Result srv_ep_drills_create(struct srv_request *req)
{
  struct srv_dc s;
  enum srv_db_status st;
  enum MHD_Result ret;
  const char *why;
  int canary;

  memset(&s, 0, sizeof s);
  s.req = req;
  if (srv_ep_body(req, &srv_ep_drills_create_body, &s.b, &ret))
    return ret;
  /* The mode is also in the signed selection: canary:N is a canary drill. */
  s.mode = s.b.mode ? s.b.mode : "full";
  canary = strcmp(s.mode, "canary") == 0;
  if (canary != (strncmp(s.b.selection, "canary:", 7) == 0))
    return srv_ep_bad(req, SRV_DC_MODE_MSG);
  why = canary ? srv_drill_canaries_parse(s.b.canaries, s.b.drill_id, atoll(s.b.selection + 7),
                                          &s.canaries)
        : s.b.canaries ? "canaries: only in a canary drill"
                       : NULL;
  if (why)
    return srv_ep_bad(req, why);
  ke_hex_encode(s.e_hex, s.b.E.b, KE_POINT_LEN);
  ke_hex_encode(s.sig_hex, s.b.signature, sizeof s.b.signature);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_dc_txn, &s);
  free(s.canaries);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  if (canary)
    srv_drill_canary_leaves(s.b.drill_id);
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:s,s:I,s:s,s:s}", "drill_id", s.b.drill_id, "selection",
                                  s.b.selection, "records", (json_int_t)s.count, "state", "open",
                                  "mode", s.mode));
}

#define SRV_DRILL_WAIT_MAX 300

/* What a GET reads besides the drill (d): RECORDS its records (r), the
 * escrow keys (k) and the signed statement (s); PARTS its parts (r);
 * STATUS the signed statement. */
enum srv_dg_what { SRV_DG_RECORDS, SRV_DG_PARTS, SRV_DG_STATUS };
struct srv_dg {
  const char *id;
  enum srv_dg_what what;
  PGresult *d, *r, *k, *s;
  const char *scope; /* the caller's (srv_principal_scope): NULL, every group */
};

static void srv_dg_clear(struct srv_dg *s)
{
  PQclear(s->d);
  PQclear(s->r);
  PQclear(s->k);
  PQclear(s->s);
  s->d = s->r = s->k = s->s = NULL;
}

static enum srv_db_status srv_dg_txn(struct srv_db *db, void *cls)
{
  struct srv_dg *s = cls;
  const char *p1[1] = {s->id};
  enum srv_db_status st;

  srv_dg_clear(s);
  if (!srv_drill_in_scope(db, s->id, s->scope, &st))
    return st; /* s->d stays NULL: a 404 */
  if (!(s->d = srv_db_exec(db, SRV_STMT_DRILL_GET, p1, &st)))
    return st;
  if (PQntuples(s->d) != 1)
    return SRV_DB_OK;
  if (s->what != SRV_DG_STATUS &&
      !(s->r = srv_db_exec(
          db, s->what == SRV_DG_PARTS ? SRV_STMT_DRILL_PARTS : SRV_STMT_DRILL_RECORDS, p1, &st)))
    return st;
  if (s->what == SRV_DG_RECORDS && !(s->k = srv_db_exec(db, SRV_STMT_DRILL_KEYS, p1, &st)))
    return st;
  if (s->what != SRV_DG_PARTS && !(s->s = srv_db_exec(db, SRV_STMT_DRILL_SIGNED, p1, &st)))
    return st;
  return SRV_DB_OK;
}

/* Read drill s->id: 0, or 1 when answered (404 for an unknown drill). */
static int srv_dg_run(struct srv_request *req, struct srv_dg *s, enum MHD_Result *ret)
{
  enum srv_db_status st = SRV_DB_OK;

  s->scope = srv_principal_scope(srv_request_principal(req));
  if (ke_drill_id_ok(s->id) && (st = srv_db_txn(SRV_DB_READ_ONLY, srv_dg_txn, s)) == SRV_DB_OK &&
      s->d && PQntuples(s->d) == 1)
    return 0;
  srv_dg_clear(s);
  *ret = st != SRV_DB_OK ? srv_ep_db_error(req, st) : srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  return 1;
}

/* Each record with its escrow.store event and leaf index (null when not
 * sequenced), a canary's too: custodians can prove them in the log.  A
 * canary carries its proof of knowledge of R (lib/ke_canary.h). */
static const struct srv_jcol srv_dg_rec_cols[] = {
  SRV_JCOL("record_id", SRV_CT_TEXT),
  SRV_JCOL("device_id", SRV_CT_TEXT),
  SRV_JCOL("volume_id", SRV_CT_TEXT),
  SRV_JCOL("key_type", SRV_CT_TEXT),
  SRV_JCOL("fingerprint", SRV_CT_TEXT),
  {"envelope", NULL, SRV_CT_BYTEA, SRV_COL_B64},
  SRV_JCOL("envelope_sha256", SRV_CT_TEXT),
  {"R", "r_point", SRV_CT_BYTEA, SRV_COL_B64},
  {"verifier", NULL, SRV_CT_BYTEA, SRV_COL_B64},
  SRV_JCOL_NULL("leaf_index", SRV_CT_INT64),
  SRV_JCOL_NULL("escrow_event", SRV_CT_TEXT),
  {"canary_proof", NULL, SRV_CT_BYTEA, SRV_COL_B64 | SRV_COL_NULLABLE},
  SRV_JCOL_END};

static json_t *srv_dg_records(const PGresult *r)
{
  json_t *recs = srv_rows_json(r, srv_dg_rec_cols), *rec;
  size_t i;

  json_array_foreach (recs, i, rec) /* a real record has no canary_proof */
    if (json_is_null(json_object_get(rec, "canary_proof")))
      json_object_del(rec, "canary_proof");
  return recs;
}

enum MHD_Result srv_ep_drills_get(struct srv_request *req)
{
  struct srv_dg s = {srv_request_param(req, "id"), SRV_DG_RECORDS, NULL, NULL, NULL, NULL, NULL};
  enum MHD_Result ret;
  json_t *view, *recs, *keys;

  if (srv_dg_run(req, &s, &ret))
    return ret;
  view = srv_drill_signed_view(srv_drill_view(s.d), s.s);
  recs = srv_dg_records(s.r);
  keys = json_loads(srv_row_text(s.k, "escrow_keys"), 0, NULL);
  srv_dg_clear(&s);
  if (!view || !recs || !keys || json_array_size(recs) == 0) {
    json_decref(view);
    json_decref(recs);
    json_decref(keys);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  return srv_reply_json(
    req, MHD_HTTP_OK,
    json_pack("{s:o,s:o,s:o}", "drill", view, "records", recs, "escrow_keys", keys));
}

static const struct srv_jcol srv_dg_part_cols[] = {SRV_JCOL("custodian_index", SRV_CT_INT64),
                                                   SRV_JCOL("record_id", SRV_CT_TEXT),
                                                   {"part", NULL, SRV_CT_BYTEA, SRV_COL_B64},
                                                   SRV_JCOL_END};

enum MHD_Result srv_ep_drills_parts_get(struct srv_request *req)
{
  struct srv_dg s = {srv_request_param(req, "id"), SRV_DG_PARTS, NULL, NULL, NULL, NULL, NULL};
  enum MHD_Result ret;
  json_t *parts;

  if (srv_dg_run(req, &s, &ret))
    return ret;
  parts = srv_rows_json(s.r, srv_dg_part_cols);
  srv_dg_clear(&s);
  if (!parts)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:s,s:o}", "drill_id", s.id, "parts", parts));
}

struct srv_dst_query {
  int64_t wait, since; /* since -1: the current count */
};
static const struct srv_qfield srv_dst_fields[] = {
  SRV_QF_UINT(struct srv_dst_query, wait, 0, SRV_DRILL_WAIT_MAX, 0, "wait: 0 to 300 seconds"),
  SRV_QF_UINT(struct srv_dst_query, since, 0, 255, -1, "since: a number of custodians, 0 to 255"),
  SRV_QF_END};
const struct srv_qspec srv_ep_drills_status_query = SRV_QSPEC(struct srv_dst_query, srv_dst_fields);

enum MHD_Result srv_ep_drills_status(struct srv_request *req)
{
  struct srv_dg x = {srv_request_param(req, "id"), SRV_DG_STATUS, NULL, NULL, NULL, NULL, NULL};
  int64_t since = -1, deadline = 0;
  int resumed = srv_longpoll_resumed(req, &since, &deadline);
  struct srv_dst_query q;
  enum MHD_Result ret;

  if (!ke_drill_id_ok(x.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (!resumed) {
    if (srv_ep_query(req, &srv_ep_drills_status_query, &q, &ret))
      return ret;
    since = q.since;
    deadline = srv_longpoll_deadline(q.wait);
  }
  for (int tries = 0;; tries++) {
    uint64_t seq = srv_longpoll_seq();
    int sp;

    if (srv_dg_run(req, &x, &ret))
      return ret;
    json_t *idx = json_loads(srv_row_text(x.d, "custodian_indices"), 0, NULL);
    int64_t n = (int64_t)json_array_size(idx);
    const char *state = srv_row_text(x.d, "state");
    json_decref(idx);
    if (since < 0)
      since = n;
    if (n != since || !state || strcmp(state, "open") != 0 || srv_longpoll_expired(deadline) ||
        srv_longpoll_stopping() || tries >= 3)
      break;
    srv_dg_clear(&x);
    sp = srv_longpoll_suspend(req, x.id, since, deadline, seq);
    if (sp == 0)
      return MHD_YES;
    if (sp < 0)
      deadline = 0; /* cap reached: answer now */
  }
  json_t *view = srv_drill_signed_view(srv_drill_view(x.d), x.s);
  srv_dg_clear(&x);
  if (!view)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "drill", view));
}

/* What the handlers read of DRILL_GET (the view takes the rest). */
static const struct srv_col srv_drill_cols[] = {
  SRV_COL_TEXT(struct srv_drill_row, auditor_id),
  SRV_COL_TEXT_NULL(struct srv_drill_row, person),
  SRV_COL_TEXT(struct srv_drill_row, selection),
  SRV_COL_TEXT(struct srv_drill_row, state),
  SRV_COL_TEXT(struct srv_drill_row, mode),
  SRV_COL_TEXT(struct srv_drill_row, custodian_indices),
  SRV_COL_BYTEA(struct srv_drill_row, e_point),
  SRV_COL_INT64(struct srv_drill_row, records),
  SRV_COL_INT64(struct srv_drill_row, disclosed),
  SRV_COL_BOOL(struct srv_drill_row, expired),
  SRV_COL_BOOL(struct srv_drill_row, undisclosed),
  SRV_COL_END};

int srv_drill_in_scope(struct srv_db *db, const char *id, const char *scope, enum srv_db_status *st)
{
  const char *p2[2] = {id, scope};
  PGresult *r;
  int ok;

  *st = SRV_DB_OK;
  if (!scope)
    return 1;
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_IN_SCOPE, p2, st)))
    return 0;
  ok = strcmp(srv_row_text(r, "ok") ?: "f", "t") == 0;
  PQclear(r);
  return ok;
}

enum srv_db_status srv_drill_lock_get(struct srv_db *db, const char *id, const char *scope,
                                      struct srv_ep_fail *fail, PGresult **r,
                                      struct srv_drill_row *d)
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  int none;

  if (!(*r = srv_db_exec(db, SRV_STMT_DRILL_LOCK, p1, &st)))
    return st;
  none = PQntuples(*r) != 1;
  PQclear(*r);
  *r = NULL;
  if (!none && !srv_drill_in_scope(db, id, scope, &st)) {
    if (st != SRV_DB_OK)
      return st;
    none = 1;
  }
  if (none)
    return srv_ep_fail(fail, SRV_ERR_NOT_FOUND, "No such drill");
  if (!(*r = srv_db_exec(db, SRV_STMT_DRILL_GET, p1, &st)))
    return st;
  if (PQntuples(*r) == 1 && srv_row_read(*r, 0, srv_drill_cols, d) == 0)
    return SRV_DB_OK;
  PQclear(*r);
  *r = NULL;
  return SRV_DB_ERROR;
}
