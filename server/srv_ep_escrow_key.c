/*
 * srv_ep_escrow_key.c - the escrow public keys agents seal to:
 *   GET  /v1/escrow-key [?fingerprint=HEX]   public: the current manifest
 *                                            (or that one), with its state
 *   GET  /v1/escrow-keys                     public: every key, no manifests
 *   POST /v1/escrow-key                      admin:
 *        {"manifest": {...}, "state"?: "current"|"accepted"}  publish
 *        {"fingerprint": HEX, "state": "current"|"accepted"|"retired"}
 *
 * A published manifest is parsed with ke_manifest_parse (which recomputes
 * every public share and the fingerprint) and stored as ke_manifest_write
 * renders it, so nothing unvalidated is ever served.  Exactly one key is
 * current; making another current moves the old one to accepted, so
 * agents that have not pinned the new key yet can still escrow under the
 * old one.  Retired keys take no new uploads; their records stay and open
 * with the old shares.  A key is never deleted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"
#include "ke_log.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"

struct srv_ek_get {
  const char *fpr; /* NULL: current */
  json_t *out;
};

static enum srv_db_status srv_ek_get_txn(struct srv_db *db, void *cls)
{
  struct srv_ek_get *g = cls;
  const char *p1[1] = {g->fpr};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, g->fpr ? SRV_STMT_ESCROW_KEY_GET : SRV_STMT_ESCROW_KEY_CURRENT,
                            g->fpr ? p1 : NULL, &st);
  json_t *m;

  json_decref(g->out);
  g->out = NULL;
  if (!r)
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return SRV_DB_OK;
  }
  /* fingerprint, manifest, state, created, state_changed */
  m = srv_device_manifest_json(PQgetvalue(r, 0, 1));
  if (m)
    g->out = json_pack("{s:s,s:s,s:s,s:s,s:o}", "fingerprint", PQgetvalue(r, 0, 0), "state",
                       PQgetvalue(r, 0, 2), "created", PQgetvalue(r, 0, 3), "state_changed",
                       PQgetvalue(r, 0, 4), "manifest", m);
  PQclear(r);
  return g->out ? SRV_DB_OK : SRV_DB_ERROR;
}

static int srv_ek_fpr_ok(const char *s)
{
  return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

enum MHD_Result srv_ep_escrow_key_get(struct srv_request *req)
{
  struct srv_ek_get g = {srv_request_query(req, "fingerprint"), NULL};
  enum srv_db_status st;

  if (g.fpr && !srv_ek_fpr_ok(g.fpr))
    return srv_ep_bad(req, "fingerprint: 64 lower-case hex digits");
  st = srv_db_txn(SRV_DB_READ_ONLY, srv_ek_get_txn, &g);
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (!g.out)
    return srv_reply_error(req, g.fpr ? SRV_ERR_NOT_FOUND : SRV_ERR_NO_ESCROW_KEY,
                           g.fpr ? "No escrow key with this fingerprint" : NULL);
  return srv_reply_json(req, MHD_HTTP_OK, g.out);
}

static enum srv_db_status srv_ek_list_txn(struct srv_db *db, void *cls)
{
  json_t **list = cls;
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_LIST, NULL, &st);

  json_decref(*list);
  *list = NULL;
  if (!r)
    return st;
  *list = json_array();
  for (int i = 0; *list && i < PQntuples(r); i++) {
    /* fingerprint, state, threshold, shares, created, state_changed, created_by */
    json_t *k = json_pack("{s:s,s:s,s:i,s:i,s:s,s:s,s:s}", "fingerprint", PQgetvalue(r, i, 0),
                          "state", PQgetvalue(r, i, 1), "threshold",
                          atoi(PQgetvalue(r, i, 2)), "shares", atoi(PQgetvalue(r, i, 3)),
                          "created", PQgetvalue(r, i, 4), "state_changed",
                          PQgetvalue(r, i, 5), "created_by", PQgetvalue(r, i, 6));
    if (!k || json_array_append_new(*list, k)) {
      json_decref(*list);
      *list = NULL;
    }
  }
  PQclear(r);
  return *list ? SRV_DB_OK : SRV_DB_ERROR;
}

enum MHD_Result srv_ep_escrow_keys_list(struct srv_request *req)
{
  json_t *list = NULL;
  enum srv_db_status st = srv_db_txn(SRV_DB_READ_ONLY, srv_ek_list_txn, &list);

  if (st != SRV_DB_OK) {
    json_decref(list);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, json_pack("{s:o}", "escrow_keys", list));
}

/* ---- POST ------------------------------------------------------------------- */

enum srv_ek_outcome { SRV_EK_CREATED, SRV_EK_CHANGED, SRV_EK_SAME, SRV_EK_NOT_FOUND,
                      SRV_EK_LAST_CURRENT };

struct srv_ek_post {
  struct srv_request *req;
  char fpr[SRV_HEX_SHA256];
  const char *state;     /* wanted */
  char *manifest;        /* canonical text, NULL for a state change */
  char t[8], n[8];
  char old_state[16];
  char demoted[SRV_HEX_SHA256]; /* the previous current key, "" if none moved */
  enum srv_ek_outcome out;
};

static enum srv_db_status srv_ek_post_txn(struct srv_db *db, void *cls)
{
  struct srv_ek_post *e = cls;
  const struct srv_principal *me = srv_request_principal(e->req);
  const char *p1[1] = {e->fpr};
  enum srv_db_status st;
  PGresult *r;
  char object[96];
  json_t *d;
  struct srv_audit_event ev;

  e->old_state[0] = e->demoted[0] = '\0';
  if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_LOCK, p1, &st)))
    return st;
  if (PQntuples(r) == 1)
    snprintf(e->old_state, sizeof e->old_state, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  if (!e->old_state[0] && !e->manifest) {
    e->out = SRV_EK_NOT_FOUND;
    return SRV_DB_ABORT;
  }
  if (strcmp(e->old_state, e->state) == 0) {
    e->out = SRV_EK_SAME; /* nothing changes, nothing to audit */
    return SRV_DB_OK;
  }
  if (strcmp(e->old_state, "current") == 0) {
    /* Only by making another key current: agents always need one. */
    e->out = SRV_EK_LAST_CURRENT;
    return SRV_DB_ABORT;
  }
  if (strcmp(e->state, "current") == 0) {
    if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_DEMOTE, NULL, &st)))
      return st;
    if (PQntuples(r) == 1)
      snprintf(e->demoted, sizeof e->demoted, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  if (e->old_state[0]) {
    const char *p2[2] = {e->fpr, e->state};
    if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_SET_STATE, p2, &st)))
      return st;
    e->out = SRV_EK_CHANGED;
  } else {
    const char *p6[6] = {e->fpr, e->manifest, e->t, e->n, e->state, me->actor};
    if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_INSERT, p6, &st)))
      return st;
    e->out = SRV_EK_CREATED;
  }
  PQclear(r);
  d = json_pack("{s:s,s:s?,s:s?}", "state", e->state, "previous_state",
                e->old_state[0] ? e->old_state : NULL, "demoted",
                e->demoted[0] ? e->demoted : NULL);
  if (d && e->manifest) {
    json_object_set_new(d, "threshold", json_integer(atoi(e->t)));
    json_object_set_new(d, "shares", json_integer(atoi(e->n)));
  }
  if (!d)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "escrow_key:%s", e->fpr);
  ev = (struct srv_audit_event){e->manifest && !e->old_state[0] ? "escrow_key.publish"
                                                                  : "escrow_key.state",
                                object, "success", d, NULL};
  st = srv_audit_append(db, e->req, &ev);
  json_decref(d);
  return st;
}

/* Validate and render the "manifest" member.  NULL or what is wrong. */
static const char *srv_ek_manifest(struct srv_ek_post *e, const json_t *m, char *why,
                                   size_t whylen)
{
  char *text = json_dumps(m, JSON_COMPACT);
  ke_manifest *mf = malloc(sizeof *mf);
  ke_ferr err;
  size_t len;
  ke_rc rc;

  if (!text || !mf) {
    free(text);
    free(mf);
    return "out of memory";
  }
  rc = ke_manifest_parse(mf, text, strlen(text), &err);
  free(text);
  if (rc != KE_OK) {
    snprintf(why, whylen, "manifest: %s", err.msg);
    free(mf);
    return why;
  }
  if (ke_manifest_write(&e->manifest, &len, mf) != KE_OK) {
    free(mf);
    return "out of memory";
  }
  ke_hex_encode(e->fpr, mf->pub.fingerprint, KE_FPR_LEN);
  snprintf(e->t, sizeof e->t, "%u", (unsigned)mf->pub.t);
  snprintf(e->n, sizeof e->n, "%u", (unsigned)mf->pub.n);
  free(mf);
  return NULL;
}

enum MHD_Result srv_ep_escrow_key_post(struct srv_request *req)
{
  static const char *const allowed[] = {"manifest", "fingerprint", "state", NULL};
  const json_t *body = srv_request_json(req);
  const json_t *m = json_object_get(body, "manifest");
  const char *fpr = srv_device_str(body, "fingerprint");
  struct srv_ek_post e;
  enum srv_db_status st;
  enum MHD_Result ret;
  char why[200];
  const char *bad;
  json_t *out;

  if (srv_account_unknown_member(req, body, allowed, &ret))
    return ret;
  memset(&e, 0, sizeof e);
  e.req = req;
  e.state = srv_device_str(body, "state");
  if (json_object_get(body, "state") &&
      (!e.state || (strcmp(e.state, "current") && strcmp(e.state, "accepted") &&
                    strcmp(e.state, "retired"))))
    return srv_ep_bad(req, "state: current, accepted or retired");
  if ((m != NULL) == (json_object_get(body, "fingerprint") != NULL))
    return srv_ep_bad(req, "give either manifest (to publish) or fingerprint and "
                               "state (to change a key's state)");
  if (m) {
    if (!json_is_object(m))
      return srv_ep_bad(req, "manifest must be the escrow-key.json object");
    if (!e.state)
      e.state = "current";
    if (strcmp(e.state, "retired") == 0)
      return srv_ep_bad(req, "a new key is published as current or accepted");
    if ((bad = srv_ek_manifest(&e, m, why, sizeof why)) != NULL) {
      free(e.manifest);
      return srv_reply_error(req, SRV_ERR_INVALID_MANIFEST, bad);
    }
  } else {
    if (!srv_ek_fpr_ok(fpr))
      return srv_ep_bad(req, "fingerprint: 64 lower-case hex digits");
    if (!e.state)
      return srv_ep_bad(req, "state is required with fingerprint");
    memcpy(e.fpr, fpr, sizeof e.fpr);
  }
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_ek_post_txn, &e);
  free(e.manifest);
  if (st == SRV_DB_ABORT && e.out == SRV_EK_NOT_FOUND)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No escrow key with this fingerprint");
  if (st == SRV_DB_ABORT && e.out == SRV_EK_LAST_CURRENT)
    return srv_reply_error(req, SRV_ERR_CONFLICT,
                           "This is the current escrow key: make another key current first");
  if (st != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  out = json_pack("{s:s,s:s,s:s?,s:s?,s:b}", "fingerprint", e.fpr, "state", e.state,
                  "previous_state", e.old_state[0] ? e.old_state : NULL, "demoted",
                  e.demoted[0] ? e.demoted : NULL, "changed", e.out != SRV_EK_SAME);
  return srv_reply_json(req, e.out == SRV_EK_CREATED ? MHD_HTTP_CREATED : MHD_HTTP_OK, out);
}
