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
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

static int srv_ek_fpr_ok(const char *s)
{
  return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

#define SRV_EK_FPR_MSG "fingerprint: 64 lower-case hex digits"

struct srv_ek_query {
  const char *fingerprint; /* NULL: current */
};
static const struct srv_qfield srv_ek_query_fields[] = {
  SRV_QF_STR(struct srv_ek_query, fingerprint, 64, 64, srv_ek_fpr_ok, SRV_EK_FPR_MSG), SRV_QF_END};
const struct srv_qspec srv_ep_escrow_key_get_query =
  SRV_QSPEC(struct srv_ek_query, srv_ek_query_fields);

static const struct srv_jcol srv_ek_cols[] = {
  SRV_JCOL("fingerprint", SRV_CT_TEXT), SRV_JCOL("state", SRV_CT_TEXT),
  SRV_JCOL("created", SRV_CT_TIME),     SRV_JCOL("state_changed", SRV_CT_TIME),
  SRV_JCOL("manifest", SRV_CT_JSON),    SRV_JCOL_END};
/* The list leaves the manifests out. */
static const struct srv_jcol srv_ek_list_cols[] = {
  SRV_JCOL("fingerprint", SRV_CT_TEXT), SRV_JCOL("state", SRV_CT_TEXT),
  SRV_JCOL("threshold", SRV_CT_INT64),  SRV_JCOL("shares", SRV_CT_INT64),
  SRV_JCOL("created", SRV_CT_TIME),     SRV_JCOL("state_changed", SRV_CT_TIME),
  SRV_JCOL("created_by", SRV_CT_TEXT),  SRV_JCOL_END};

struct srv_ek_get {
  const char *fpr; /* NULL: current */
  json_t *out;     /* NULL: no such key */
};

static enum srv_db_status srv_ek_get_txn(struct srv_db *db, void *cls)
{
  struct srv_ek_get *g = cls;
  const char *p1[1] = {g->fpr};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, g->fpr ? SRV_STMT_ESCROW_KEY_GET : SRV_STMT_ESCROW_KEY_CURRENT,
                            g->fpr ? p1 : NULL, &st);

  json_decref(g->out);
  g->out = NULL;
  if (!r)
    return st;
  if (PQntuples(r) == 1 && !(g->out = srv_row_json(r, 0, srv_ek_cols)))
    st = SRV_DB_ERROR; /* srv_db_exec left SRV_DB_OK */
  PQclear(r);
  return st;
}

enum MHD_Result srv_ep_escrow_key_get(struct srv_request *req)
{
  struct srv_ek_query q;
  struct srv_ek_get g = {0};
  enum srv_db_status st;
  enum MHD_Result ret;

  if (srv_ep_query(req, &srv_ep_escrow_key_get_query, &q, &ret))
    return ret;
  g.fpr = q.fingerprint;
  if ((st = srv_db_txn(SRV_DB_READ_ONLY, srv_ek_get_txn, &g)) != SRV_DB_OK)
    return srv_ep_db_error(req, st);
  if (!g.out)
    return srv_reply_error(req, g.fpr ? SRV_ERR_NOT_FOUND : SRV_ERR_NO_ESCROW_KEY,
                           g.fpr ? "No escrow key with this fingerprint" : NULL);
  return srv_reply_json(req, MHD_HTTP_OK, g.out);
}

enum MHD_Result srv_ep_escrow_keys_list(struct srv_request *req)
{
  return srv_ep_list(req, SRV_STMT_ESCROW_KEY_LIST, NULL, srv_ek_list_cols, "escrow_keys");
}

/* ---- POST ------------------------------------------------------------------- */

static int srv_ek_state_ok(const char *s)
{
  return !strcmp(s, "current") || !strcmp(s, "accepted") || !strcmp(s, "retired");
}

/* Publish (manifest, state?) or change a state (fingerprint, state): which
 * one is the handler's check, after the members' own. */
struct srv_ek_body {
  const char *state;
  const json_t *manifest;
  const char *fingerprint;
};
static const struct ke_jfield srv_ek_fields[] = {
  KE_JF_STR_OPT(struct srv_ek_body, state, 1, 16, srv_ek_state_ok,
                "state: current, accepted or retired"),
  KE_JF_OBJECT_OPT(struct srv_ek_body, manifest, "manifest must be the escrow-key.json object"),
  KE_JF_STR_OPT(struct srv_ek_body, fingerprint, 64, 64, srv_ek_fpr_ok, SRV_EK_FPR_MSG), KE_JF_END};
const struct ke_jspec srv_ep_escrow_key_post_body = KE_JSPEC(struct srv_ek_body, srv_ek_fields, 0);

enum srv_ek_outcome {
  SRV_EK_CREATED,
  SRV_EK_CHANGED,
  SRV_EK_SAME,
  SRV_EK_NOT_FOUND,
  SRV_EK_LAST_CURRENT
};

struct srv_ek_post {
  struct srv_request *req;
  char fpr[SRV_HEX_SHA256];
  const char *state; /* wanted */
  char *manifest;    /* canonical text, NULL for a state change */
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
  json_t *d;

  e->old_state[0] = e->demoted[0] = '\0';
  if (!(r = srv_db_exec(db, SRV_STMT_ESCROW_KEY_LOCK, p1, &st)))
    return st;
  snprintf(e->old_state, sizeof e->old_state, "%s", srv_row_text(r, "state") ?: "");
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
    snprintf(e->demoted, sizeof e->demoted, "%s", srv_row_text(r, "fingerprint") ?: "");
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
  d =
    json_pack("{s:s,s:s?,s:s?}", "state", e->state, "previous_state",
              e->old_state[0] ? e->old_state : NULL, "demoted", e->demoted[0] ? e->demoted : NULL);
  if (d && e->manifest) {
    json_object_set_new(d, "threshold", json_integer(atoi(e->t)));
    json_object_set_new(d, "shares", json_integer(atoi(e->n)));
  }
  return srv_audit_success(
    db, e->req, e->manifest && !e->old_state[0] ? "escrow_key.publish" : "escrow_key.state",
    "escrow_key", e->fpr, d);
}

/* Validate and render the "manifest" member.  NULL or what is wrong. */
static const char *srv_ek_manifest(struct srv_ek_post *e, const json_t *m, char *why, size_t whylen)
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
  struct srv_ek_body b;
  struct srv_ek_post e = {.req = req};
  enum srv_db_status st;
  enum MHD_Result ret;
  char why[200];
  const char *bad;
  json_t *out;

  if (srv_ep_body(req, &srv_ep_escrow_key_post_body, &b, &ret))
    return ret;
  if (!b.manifest == !b.fingerprint)
    return srv_ep_bad(req, "give either manifest (to publish) or fingerprint and "
                           "state (to change a key's state)");
  e.state = b.state;
  if (b.manifest) {
    if (!e.state)
      e.state = "current";
    if (strcmp(e.state, "retired") == 0)
      return srv_ep_bad(req, "a new key is published as current or accepted");
    if ((bad = srv_ek_manifest(&e, b.manifest, why, sizeof why)) != NULL) {
      free(e.manifest);
      return srv_reply_error(req, SRV_ERR_INVALID_MANIFEST, bad);
    }
  } else {
    if (!e.state)
      return srv_ep_bad(req, "state is required with fingerprint");
    memcpy(e.fpr, b.fingerprint, sizeof e.fpr);
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
