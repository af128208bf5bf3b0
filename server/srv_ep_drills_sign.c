/*
 * srv_ep_drills_sign.c - the signed drill statement (docs/protocol.md
 * section 9, "Statement"):
 *
 *   POST /v1/drills/{id}/statement (auditor)
 *        {"mode": "full"|"canary", "records_sha256": "<hex>",
 *         "expires": "YYYY-MM-DDTHH:MM:SSZ", "signature": "<base64url>"}
 *
 * The statement is signed by the auditor after the snapshot exists, since
 * it names the records: the server rebuilds the text from the drill it
 * holds (id, selection, E, and the record count and list digest it computes
 * from drill_records itself) and the posted mode and expiry, and verifies
 * the signature over that with the auditor's registered client key.  A
 * signature over another record list, E or selection does not verify.  The
 * server cannot make such a statement itself: custodians verify it with the
 * auditor's key as they pinned it, never with the key the server shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_drill.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_drill.h"
#include "srv_ep.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_DRILL_EXPIRY_MAX (31L * 86400) /* a statement lives at most 31 days */

/* DRILL_SIGNED's members of the view, after "signed": true. */
static const struct srv_jcol srv_ds_view_cols[] = {
  SRV_JCOL("statement", SRV_CT_TEXT),
  {"statement_signature", "statement_sig", SRV_CT_BYTEA, SRV_COL_B64},
  {"auditor_key", NULL, SRV_CT_BYTEA, SRV_COL_B64},
  SRV_JCOL("expires", SRV_CT_TIME),
  SRV_JCOL_END};

json_t *srv_drill_signed_view(json_t *view, const PGresult *s)
{
  char mode[8] = "";
  const char *text, *m;
  int is_signed = s && PQntuples(s) == 1;

  if (!view)
    return NULL;
  /* The mode is the statement's own line: what the auditor signed. */
  if (is_signed && (text = srv_row_text(s, "statement")) && (m = strstr(text, "\nmode=")))
    sscanf(m + 6, "%7[a-z]", mode);
  if (json_object_set_new(view, "signed", json_boolean(is_signed)) ||
      (is_signed && (json_object_update_new(view, srv_row_json(s, 0, srv_ds_view_cols)) ||
                     json_object_set_new(view, "mode", json_string(mode))))) {
    json_decref(view);
    return NULL;
  }
  return view;
}

/* ---- POST /v1/drills/{id}/statement ----------------------------------------- */
/* An expiry in the future, at most SRV_DRILL_EXPIRY_MAX away. */
static int srv_ds_expiry_ok(const char *t)
{
  struct tm tm;
  time_t when, now = time(NULL);

  memset(&tm, 0, sizeof tm);
  if (!ke_drill_expires_ok(t) || sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon,
                                        &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  when = timegm(&tm);
  return when > now && when - now <= SRV_DRILL_EXPIRY_MAX;
}

struct srv_ds_body {
  const char *mode, *expires;
  uint8_t records_sha256[32], signature[64];
};
static const struct ke_jfield srv_ds_fields[] = {
  KE_JF_STR(struct srv_ds_body, mode, 1, 8, ke_drill_mode_ok, "mode: full or canary"),
  KE_JF_HEX_FIXED(struct srv_ds_body, records_sha256, "records_sha256: 64 lower-case hex digits"),
  KE_JF_STR(struct srv_ds_body, expires, KE_DRILL_EXPIRES_LEN, KE_DRILL_EXPIRES_LEN,
            srv_ds_expiry_ok,
            "expires: YYYY-MM-DDTHH:MM:SSZ, in the future, at most 31 days ahead"),
  KE_JF_B64_FIXED(struct srv_ds_body, signature, "signature: base64url of an Ed25519 signature"),
  KE_JF_END};
const struct ke_jspec srv_ep_drills_statement_body = KE_JSPEC(struct srv_ds_body, srv_ds_fields, 0);

struct srv_ds {
  struct srv_request *req;
  const char *id;
  struct srv_ds_body b;
  char rsha[65], sig_hex[129];
  struct srv_ep_fail fail;
};

/* The record list digest of the snapshot, computed here (never taken from
 * the client): hex into out. */
struct srv_ds_ref {
  const char *record_id;
  uint8_t envelope_sha256[32];
};
static const struct srv_col srv_ds_ref_cols[] = {SRV_COL_TEXT(struct srv_ds_ref, record_id),
                                                 SRV_COL_BYTEA(struct srv_ds_ref, envelope_sha256),
                                                 SRV_COL_END};

static enum srv_db_status srv_ds_digest(struct srv_db *db, const char *id, char out[65],
                                        size_t *nrec)
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DRILL_DIGEST_ROWS, p1, &st);
  int n = r ? PQntuples(r) : 0, i = 0;
  ke_drill_recref *refs = n ? calloc((size_t)n, sizeof *refs) : NULL;
  struct srv_ds_ref *rows = n ? calloc((size_t)n, sizeof *rows) : NULL;
  uint8_t d[32];

  if (!r)
    return st;
  for (; refs && rows && i < n && srv_row_read(r, i, srv_ds_ref_cols, &rows[i]) == 0; i++)
    refs[i] = (ke_drill_recref){rows[i].record_id, rows[i].envelope_sha256};
  st = n && i == n && ke_drill_records_digest(d, refs, (size_t)n) == 0 ? SRV_DB_OK : SRV_DB_ERROR;
  if (st == SRV_DB_OK)
    ke_hex_encode(out, d, sizeof d);
  *nrec = (size_t)n;
  free(refs);
  free(rows);
  PQclear(r);
  return st;
}

static enum srv_db_status srv_ds_txn(struct srv_db *db, void *cls)
{
  struct srv_ds *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r;
  struct srv_drill_row d;
  char stmt[KE_DRILL_SIGNED_MAX], digest[65], sel[80], *e64;
  struct srv_client_key ck;
  int found;
  size_t n, nrec = 0;

  if ((st = srv_drill_lock_get(db, s->id, srv_principal_scope(p), &s->fail, &r, &d)) != SRV_DB_OK)
    return st;
  int mine = strcmp(p->id, d.auditor_id) == 0, open = strcmp(d.state, "open") == 0;
  int same_mode = strcmp(s->b.mode, d.mode) == 0;
  snprintf(sel, sizeof sel, "%s", d.selection); /* at most 70 bytes (schema 014) */
  PQclear(r);
  if (!mine || !open)
    return srv_ep_fail(&s->fail, mine ? SRV_ERR_CONFLICT : SRV_ERR_FORBIDDEN,
                       mine ? "The drill is done"
                            : "Only the auditor who started the drill "
                              "signs its statement");
  /* The mode was fixed when the drill was created (a canary drill's
   * snapshot holds canaries only): the signed one must be that one. */
  if (!same_mode)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "The statement's mode is not the drill's");
  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK)
    return st;
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "No client key is registered for you");
  if ((st = srv_ds_digest(db, s->id, digest, &nrec)) != SRV_DB_OK)
    return st;
  if (strcmp(digest, s->rsha) != 0)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "records_sha256 is not the digest of the drill's snapshot");
  if (!(e64 = ke_b64url_encode(d.e_point, sizeof d.e_point)))
    return SRV_DB_ERROR;
  n = ke_drill_signed_statement(stmt, s->id, sel, s->b.mode, e64, nrec, digest, s->b.expires);
  free(e64);
  if (!n || !ke_drill_signature_ok(ck.pub, stmt, n, s->b.signature))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE,
                       "The statement signature does not verify with your registered client key");
  const char *p5[5] = {s->id, stmt, s->sig_hex, ck.pub_hex, s->b.expires};
  if (!(r = srv_db_exec(db, SRV_STMT_DRILL_SIGN, p5, &st)))
    return st;
  int done = PQntuples(r) == 1;
  PQclear(r);
  if (!done)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "The drill's statement is signed already");
  return srv_audit_success(db, s->req, "drill.sign", "drill", s->id,
                           json_pack("{s:s,s:s,s:I,s:s,s:s}", "mode", s->b.mode, "records_sha256",
                                     digest, "records", (json_int_t)nrec, "expires", s->b.expires,
                                     "client_key", ck.fingerprint));
}

enum MHD_Result srv_ep_drills_statement(struct srv_request *req)
{
  struct srv_ds s;
  enum srv_db_status st;
  enum MHD_Result ret;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  if (!ke_drill_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (srv_ep_body(req, &srv_ep_drills_statement_body, &s.b, &ret))
    return ret;
  ke_hex_encode(s.rsha, s.b.records_sha256, sizeof s.b.records_sha256);
  ke_hex_encode(s.sig_hex, s.b.signature, sizeof s.b.signature);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_ds_txn, &s);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  return srv_reply_json(
    req, MHD_HTTP_CREATED,
    json_pack("{s:s,s:s,s:s}", "drill_id", s.id, "mode", s.b.mode, "expires", s.b.expires));
}
