/*
 * srv_ep_drills_sign.c - the signed drill statement (docs/protocol.md
 * section 9, "Statement") and the drill's status long-poll:
 *
 *   POST /v1/drills/{id}/statement (auditor)
 *        {"mode": "full"|"canary", "records_sha256": "<hex>",
 *         "expires": "YYYY-MM-DDTHH:MM:SSZ", "signature": "<base64url>"}
 *   GET  /v1/drills/{id}/status[?wait=S&since=N] (auditor, custodian)
 *
 * The statement is signed by the auditor after the snapshot exists, since
 * it names the records: the server rebuilds the text from the drill it
 * holds (id, selection, E, and the record count and list digest it computes
 * from drill_records itself) and the posted mode and expiry, and verifies
 * the signature over that with the auditor's registered client key.  A
 * signature over another record list, E or selection does not verify.  The
 * server cannot make such a statement itself: custodians verify it with the
 * auditor's key as they pinned it, never with the key the server shows.
 *
 * Status: the drill view without its records, answered when the number of
 * custodians whose batch is stored differs from `since`, the drill closes
 * or S seconds (<= 300) pass; the connection is suspended meanwhile
 * (srv_longpoll.h), as for GET /v1/retrievals/{id}.
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
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"

#define SRV_DRILL_EXPIRY_MAX (31L * 86400) /* a statement lives at most 31 days */
#define SRV_DRILL_WAIT_MAX 300

json_t *srv_drill_signed_view(json_t *view, const PGresult *s)
{
  uint8_t sig[64], key[32];
  char *s64 = NULL, *k64 = NULL, mode[8] = "";
  const char *m;

  if (!view)
    return NULL;
  if (!s || PQntuples(s) != 1) {
    if (json_object_set_new(view, "signed", json_false())) {
      json_decref(view);
      return NULL;
    }
    return view;
  }
  /* The mode is the statement's own line: what the auditor signed. */
  if ((m = strstr(PQgetvalue(s, 0, 0), "\nmode=")) != NULL)
    sscanf(m + 6, "%7[a-z]", mode);
  if (ke_hex_decode(sig, sizeof sig, PQgetvalue(s, 0, 1)) != KE_OK ||
      ke_hex_decode(key, sizeof key, PQgetvalue(s, 0, 2)) != KE_OK ||
      !(s64 = ke_b64url_encode(sig, sizeof sig)) || !(k64 = ke_b64url_encode(key, sizeof key)) ||
      json_object_update_new(view, json_pack("{s:b,s:s,s:s,s:s,s:s,s:s}", "signed", 1,
                                             "statement", PQgetvalue(s, 0, 0),
                                             "statement_signature", s64, "auditor_key", k64,
                                             "expires", PQgetvalue(s, 0, 3), "mode", mode))) {
    json_decref(view);
    view = NULL;
  }
  free(s64);
  free(k64);
  return view;
}

/* ---- POST /v1/drills/{id}/statement ----------------------------------------- */
struct srv_ds {
  struct srv_request *req;
  const char *id, *mode, *rsha, *expires;
  uint8_t sig[64];
  char sig_hex[129];
  struct srv_ep_fail fail;
};

/* The record list digest of the snapshot, computed here (never taken from
 * the client): hex into out. */
static enum srv_db_status srv_ds_digest(struct srv_db *db, const char *id, char out[65],
                                        size_t *nrec)
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DRILL_DIGEST_ROWS, p1, &st);
  int n = r ? PQntuples(r) : 0;
  ke_drill_recref *refs = n ? calloc((size_t)n, sizeof *refs) : NULL;
  uint8_t (*sha)[32] = n ? calloc((size_t)n, 32) : NULL, d[32];

  if (!r)
    return st;
  st = SRV_DB_ERROR;
  if (!refs || !sha)
    goto out;
  for (int i = 0; i < n; i++) {
    if (ke_hex_decode(sha[i], 32, PQgetvalue(r, i, 1)) != KE_OK)
      goto out;
    refs[i].record_id = PQgetvalue(r, i, 0);
    refs[i].envelope_sha256 = sha[i];
  }
  if (ke_drill_records_digest(d, refs, (size_t)n) != 0)
    goto out;
  ke_hex_encode(out, d, sizeof d);
  *nrec = (size_t)n;
  st = SRV_DB_OK;
out:
  free(refs);
  free(sha);
  PQclear(r);
  return st;
}

static enum srv_db_status srv_ds_txn(struct srv_db *db, void *cls)
{
  struct srv_ds *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r, *d;
  char stmt[KE_DRILL_SIGNED_MAX], digest[65], obj[64], *e64 = NULL;
  uint8_t e[33];
  struct srv_client_key ck;
  int found;
  size_t n, nrec = 0;

  if ((st = srv_drill_lock_get(db, s->id, &s->fail, &d)) != SRV_DB_OK)
    return st;
  int mine = strcmp(p->id, PQgetvalue(d, 0, SRV_DC_AUDITOR_ID)) == 0;
  int open = strcmp(PQgetvalue(d, 0, SRV_DC_STATE), "open") == 0;
  if (!mine || !open) {
    PQclear(d);
    return srv_ep_fail(&s->fail, mine ? SRV_ERR_CONFLICT : SRV_ERR_FORBIDDEN,
                       mine ? "The drill is done" : "Only the auditor who started the drill "
                                                    "signs its statement");
  }
  /* The mode was fixed when the drill was created (a canary drill's
   * snapshot holds canaries only): the signed one must be that one. */
  if (strcmp(s->mode, PQgetvalue(d, 0, SRV_DC_MODE)) != 0) {
    PQclear(d);
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "The statement's mode is not the drill's");
  }
  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK || !found) {
    PQclear(d);
    return st != SRV_DB_OK ? st
                           : srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                                         "No client key is registered for you");
  }
  if ((st = srv_ds_digest(db, s->id, digest, &nrec)) != SRV_DB_OK) {
    PQclear(d);
    return st;
  }
  if (strcmp(digest, s->rsha) != 0) {
    PQclear(d);
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "records_sha256 is not the digest of the drill's "
                                            "snapshot");
  }
  n = ke_hex_decode(e, sizeof e, PQgetvalue(d, 0, SRV_DC_E)) == KE_OK &&
              (e64 = ke_b64url_encode(e, sizeof e))
          ? ke_drill_signed_statement(stmt, s->id, PQgetvalue(d, 0, SRV_DC_SELECTION), s->mode,
                                      e64, nrec, digest, s->expires)
          : 0;
  free(e64);
  PQclear(d);
  if (!n || !ke_drill_signature_ok(ck.pub, stmt, n, s->sig))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE, "The statement signature does not verify with "
                                                 "your registered client key");
  {
    const char *p5[5] = {s->id, stmt, s->sig_hex, ck.pub_hex, s->expires};
    if (!(r = srv_db_exec(db, SRV_STMT_DRILL_SIGN, p5, &st)))
      return st;
    int done = PQntuples(r) == 1;
    PQclear(r);
    if (!done)
      return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "The drill's statement is signed already");
  }
  snprintf(obj, sizeof obj, "drill:%s", s->id);
  json_t *dt = json_pack("{s:s,s:s,s:I,s:s,s:s}", "mode", s->mode, "records_sha256", digest,
                         "records", (json_int_t)nrec, "expires", s->expires, "client_key", ck.fingerprint);
  struct srv_audit_event ev = {"drill.sign", obj, "success", dt, NULL};
  st = dt ? srv_audit_append(db, s->req, &ev) : SRV_DB_ERROR;
  json_decref(dt);
  return st;
}

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

enum MHD_Result srv_ep_drills_statement(struct srv_request *req)
{
  const json_t *b = srv_request_json(req);
  const char *sig = srv_device_str(b, "signature");
  struct srv_ds s;
  enum srv_db_status st;

  memset(&s, 0, sizeof s);
  s.req = req;
  s.id = srv_request_param(req, "id");
  s.mode = srv_device_str(b, "mode");
  s.rsha = srv_device_str(b, "records_sha256");
  s.expires = srv_device_str(b, "expires");
  if (!ke_drill_id_ok(s.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (!ke_drill_mode_ok(s.mode))
    return srv_ep_bad(req, "mode: full or canary");
  if (!s.rsha || strlen(s.rsha) != 64 || strspn(s.rsha, "0123456789abcdef") != 64)
    return srv_ep_bad(req, "records_sha256: 64 lower-case hex digits");
  if (!srv_ds_expiry_ok(s.expires))
    return srv_ep_bad(req, "expires: YYYY-MM-DDTHH:MM:SSZ, in the future, at most 31 days "
                               "ahead");
  if (!sig || ke_b64url_decode_fixed(s.sig, sizeof s.sig, sig) != KE_OK)
    return srv_ep_bad(req, "signature: base64url of an Ed25519 signature");
  ke_hex_encode(s.sig_hex, s.sig, sizeof s.sig);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_ds_txn, &s);
  if (st != SRV_DB_OK)
    return srv_ep_txn_reply(req, st, &s.fail);
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:s,s:s,s:s}", "drill_id", s.id, "mode", s.mode, "expires",
                                  s.expires));
}

/* ---- GET /v1/drills/{id}/status --------------------------------------------- */
struct srv_dst {
  const char *id;
  PGresult *d, *s;
};

static enum srv_db_status srv_dst_txn(struct srv_db *db, void *cls)
{
  struct srv_dst *x = cls;
  const char *p1[1] = {x->id};
  enum srv_db_status st;

  PQclear(x->d);
  PQclear(x->s);
  x->d = x->s = NULL;
  if (!(x->d = srv_db_exec(db, SRV_STMT_DRILL_GET, p1, &st)))
    return st;
  if (PQntuples(x->d) == 1 && !(x->s = srv_db_exec(db, SRV_STMT_DRILL_SIGNED, p1, &st)))
    return st;
  return SRV_DB_OK;
}

static int srv_dst_uint(const char *v, long max, long *out)
{
  size_t n = v ? strlen(v) : 0;

  if (n == 0 || n > 9 || strspn(v, "0123456789") != n)
    return 0;
  *out = strtol(v, NULL, 10);
  return *out <= max;
}

enum MHD_Result srv_ep_drills_status(struct srv_request *req)
{
  struct srv_dst x = {srv_request_param(req, "id"), NULL, NULL};
  int64_t since = -1;
  int64_t deadline = 0;
  int resumed = srv_longpoll_resumed(req, &since, &deadline);
  enum srv_db_status st;
  long wait = 0, v;

  if (!ke_drill_id_ok(x.id))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (!resumed) {
    const char *w = srv_request_query(req, "wait"), *sc = srv_request_query(req, "since");
    if (w && !srv_dst_uint(w, SRV_DRILL_WAIT_MAX, &wait))
      return srv_ep_bad(req, "wait: 0 to 300 seconds");
    if (sc) {
      if (!srv_dst_uint(sc, 255, &v))
        return srv_ep_bad(req, "since: a number of custodians, 0 to 255");
      since = v;
    }
    deadline = srv_longpoll_deadline(wait);
  }
  for (int tries = 0;; tries++) {
    uint64_t seq = srv_longpoll_seq();
    int64_t n;
    int sp;

    if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_dst_txn, &x)) != SRV_DB_OK) {
      PQclear(x.d);
      PQclear(x.s);
      return srv_ep_db_error(req, st);
    }
    if (PQntuples(x.d) != 1) {
      PQclear(x.d);
      PQclear(x.s);
      return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
    }
    json_t *idx = json_loads(PQgetvalue(x.d, 0, SRV_DC_INDICES), 0, NULL);
    n = (int64_t)json_array_size(idx);
    json_decref(idx);
    if (since < 0)
      since = n;
    if (n != since || strcmp(PQgetvalue(x.d, 0, SRV_DC_STATE), "open") != 0 ||
        srv_longpoll_expired(deadline) || srv_longpoll_stopping() || tries >= 3)
      break;
    PQclear(x.d);
    PQclear(x.s);
    x.d = x.s = NULL;
    sp = srv_longpoll_suspend(req, x.id, since, deadline, seq);
    if (sp == 0)
      return MHD_YES;
    if (sp < 0)
      deadline = 0; /* cap reached: answer now */
  }
  json_t *view = srv_drill_signed_view(srv_drill_view(x.d), x.s);
  PQclear(x.d);
  PQclear(x.s);
  if (!view)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "drill", view));
}
