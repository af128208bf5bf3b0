/*
 * srv_ep_retrievals_create.c - POST /v1/retrievals (helpdesk).
 *
 * The client chooses the request id ("req-" + 26 base32) and signs, with
 * its registered client key, the statement of lib/ke_retrieval.h: the id,
 * how it named the record (device [+ volume] or Key ID prefix, or one
 * record by its id), its one-time key E, reason, ticket and a nonce.  The
 * server checks the signature against the caller's own client key,
 * resolves the name to exactly one current record (409 with the
 * candidates' metadata otherwise; a record id to that record, older ones
 * too), stores the request with its expiry and answers with the request
 * file (docs/protocol.md 5.3) that custodians work from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_retrieval.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_longpoll.h"
#include "srv_retrieval.h"
#include "srv_routes.h"
#include "srv_rows.h"

/* The spec bounds the lengths. */
static int srv_rc_text_ok(const char *s) { return srv_text_ok(s, 1, SIZE_MAX); }
static int srv_rc_ascii_ok(const char *s) { return srv_ascii_ok(s, SIZE_MAX); }
static int srv_rc_nonce_ok(const char *s) { return ke_b64url_chars(s, KE_RETRIEVAL_NONCE_LEN); }
static int srv_rc_record_ok(const char *s) { return ke_b32_id_ok(s, "rec-"); }
static int srv_rc_point_ok(const char *s)
{
  uint8_t e[KE_POINT_LEN];
  ke_point E;

  return ke_b64url_decode_fixed(e, sizeof e, s) == KE_OK &&
         ke_point_parse(&E, e, sizeof e) == KE_OK;
}

struct srv_rc_body {
  const char *request_id, *device, *volume, *key_id, *record, *E, *reason, *ticket, *nonce;
  uint8_t signature[KE_RETRIEVAL_SIG_LEN];
};
#define SRV_RCF(m, opt, lo, hi, chk, msg) \
  KE_JF_(struct srv_rc_body, m, KE_JT_STR, opt, lo, hi, 0, chk, msg)
static const struct ke_jfield srv_rc_fields[] = {
  SRV_RCF(request_id, 0, SRV_RET_ID_LEN, SRV_RET_ID_LEN, srv_ret_id_ok,
          "request_id: \"req-\" and 26 characters of a-z2-7, chosen by the client"),
  SRV_RCF(device, KE_JF_OPTIONAL, 1, SRV_DEV_HOST_MAX, srv_rc_text_ok,
          "device: a device id or hostname"),
  SRV_RCF(volume, KE_JF_OPTIONAL, 1, SRV_DEV_VOLUME_MAX, srv_device_volume_ok,
          "volume: [A-Za-z0-9._:-]{1,128}"),
  SRV_RCF(key_id, KE_JF_OPTIONAL, 4, KE_RETRIEVAL_KEYID_MAX, srv_rc_ascii_ok,
          "key_id: a Key ID prefix of 4 to 64 printable characters"),
  SRV_RCF(record, KE_JF_OPTIONAL, KE_RETRIEVAL_RECORD_LEN, KE_RETRIEVAL_RECORD_LEN,
          srv_rc_record_ok, "record: a record id, \"rec-\" and 26 characters of a-z2-7"),
  SRV_RCF(E, 0, 1, 64, srv_rc_point_ok, "E: base64url of a compressed P-256 point"),
  SRV_RCF(reason, 0, 1, KE_RETRIEVAL_REASON_MAX, srv_rc_text_ok, "reason: 1 to 500 bytes of text"),
  SRV_RCF(ticket, 0, 1, KE_RETRIEVAL_TICKET_MAX, srv_rc_ascii_ok,
          "ticket: 1 to 128 printable ASCII characters"),
  SRV_RCF(nonce, 0, KE_RETRIEVAL_NONCE_LEN, KE_RETRIEVAL_NONCE_LEN, srv_rc_nonce_ok,
          "nonce: 22 base64url characters (16 random bytes)"),
  KE_JF_B64_FIXED(struct srv_rc_body, signature, "signature: base64url of an Ed25519 signature"),
  KE_JF_END};
const struct ke_jspec srv_ep_retrievals_create_body =
  KE_JSPEC(struct srv_rc_body, srv_rc_fields, 0);

struct srv_rc {
  struct srv_request *req;
  struct srv_rc_body b;
  ke_retrieval_fields f;
  ke_point E;
  char e_hex[2 * KE_POINT_LEN + 1], sig_hex[2 * KE_RETRIEVAL_SIG_LEN + 1], *pat;
  struct srv_ep_fail fail;
  json_t *out;
};

/* What a request may name (RET_FIND): the candidates of an ambiguous one,
 * and the one record a request is for. */
static const struct srv_jcol srv_rc_candidate_cols[] = {
  {"record_id", "id", SRV_CT_TEXT, 0}, SRV_JCOL("device_id", SRV_CT_TEXT),
  SRV_JCOL("hostname", SRV_CT_TEXT),   SRV_JCOL("volume_id", SRV_CT_TEXT),
  SRV_JCOL("key_type", SRV_CT_TEXT),   SRV_JCOL("key_id", SRV_CT_TEXT),
  SRV_JCOL("state", SRV_CT_TEXT),      SRV_JCOL_END};

struct srv_rc_record {
  const char *id, *device_id, *volume_id, *state, *envelope_sha256, *envelope, *manifest;
};
static const struct srv_col srv_rc_record_cols[] = {
  SRV_COL_TEXT(struct srv_rc_record, id),
  SRV_COL_TEXT(struct srv_rc_record, device_id),
  SRV_COL_TEXT(struct srv_rc_record, volume_id),
  SRV_COL_TEXT(struct srv_rc_record, state),
  SRV_COL_TEXT(struct srv_rc_record, envelope_sha256),
  SRV_COL_TEXT(struct srv_rc_record, envelope),
  SRV_COL_TEXT(struct srv_rc_record, manifest),
  SRV_COL_END};

/* The one current record the request names: SRV_DB_OK with *r holding it
 * (PQclear it), or the refusal (none, or several: their candidates). */
static enum srv_db_status srv_rc_find(struct srv_db *db, struct srv_rc *s, PGresult **r)
{
  /* Only records of devices in the requester's scope exist for it. */
  const char *scope = srv_principal_scope(srv_request_principal(s->req));
  const char *p4[4] = {s->f.device, s->f.volume, s->pat, scope}, *p2[2] = {s->f.record, scope};
  enum srv_db_status st;
  json_t *candidates;

  if (s->f.record)
    *r = srv_db_exec(db, SRV_STMT_RET_FIND_RECORD, p2, &st);
  else
    *r = srv_db_exec(db, SRV_STMT_RET_FIND, p4, &st);
  if (!*r)
    return st;
  if (PQntuples(*r) == 1)
    return SRV_DB_OK;
  if (PQntuples(*r) == 0) {
    PQclear(*r);
    return srv_ep_fail(&s->fail, SRV_ERR_NOT_FOUND,
                       s->f.record ? "No escrow record has this id"
                                   : "No current escrow record matches");
  }
  candidates = srv_rows_json(*r, srv_rc_candidate_cols);
  PQclear(*r);
  if (!candidates)
    return SRV_DB_ERROR;
  json_array_remove(candidates, 20); /* RET_FIND's 21st row only says there are more */
  return srv_ep_fail_extra(&s->fail, SRV_ERR_CONFLICT,
                           "More than one current escrow record matches: name one (see "
                           "candidates)",
                           json_pack("{s:o}", "candidates", candidates));
}

/* The confirmation code (from the request's E and the envelope's R) and
 * the record's threshold.  0 or -1. */
static int srv_rc_code(const struct srv_rc *s, const struct srv_rc_record *rec,
                       char code[KE_SAS_LEN + 1], char thr[8])
{
  uint8_t *env = NULL;
  size_t envlen;
  ke_envelope pe;
  json_t *m;

  if (ke_hex_decode_alloc(&env, &envlen, rec->envelope) != KE_OK ||
      ke_envelope_parse(&pe, env, envlen) != KE_OK) {
    free(env);
    return -1;
  }
  free(env);
  ke_sas(code, s->f.id, &s->E, &pe.R);
  m = json_loads(rec->manifest, 0, NULL);
  snprintf(thr, 8, "%lld", (long long)json_integer_value(json_object_get(m, "threshold")));
  json_decref(m);
  return 0;
}

/* Store the request, with the names as signed and the key that signed:
 * custodians verify the signature themselves (schema 013).  Then its audit
 * event and its hook. */
static enum srv_db_status srv_rc_insert(struct srv_db *db, struct srv_rc *s,
                                        const struct srv_client_key *ck,
                                        const struct srv_rc_record *rec, const char *code,
                                        const char *thr)
{
  const struct srv_principal *p = srv_request_principal(s->req);
  char expiry[16];
  enum srv_db_status st;
  PGresult *r;
  json_t *d;

  snprintf(expiry, sizeof expiry, "%u", srv_ret_expiry());
  {
    const char *p17[17] = {s->f.id,     rec->id,    p->id,       s->e_hex,        s->f.reason,
                           s->f.ticket, s->f.nonce, s->sig_hex,  ck->fingerprint, code,
                           thr,         expiry,     s->f.device, s->f.volume,     s->f.key_id,
                           ck->pub_hex, s->f.record};
    if (!(r = srv_db_exec(db, SRV_STMT_RET_INSERT, p17, &st)))
      return st == SRV_DB_CONSTRAINT
               ? srv_ep_fail(&s->fail, SRV_ERR_CONFLICT, "A request with this id exists already")
               : st;
  }
  PQclear(r);
  d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "record", rec->id, "record_state",
                rec->state, "device", rec->device_id, "volume", rec->volume_id, "reason",
                s->f.reason, "ticket", s->f.ticket, "client_key", ck->fingerprint,
                "envelope_sha256", rec->envelope_sha256, "confirmation_code", code);
  st = srv_audit_success(db, s->req, "retrieval.create", "retrieval", s->f.id, d);
  if (st == SRV_DB_OK)
    st =
      srv_ret_hook(db, "request.created", s->f.id, rec->device_id, rec->volume_id, 0, atoll(thr));
  return st;
}

static enum srv_db_status srv_rc_txn(struct srv_db *db, void *cls)
{
  struct srv_rc *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  enum srv_db_status st;
  PGresult *r;
  char stmt[KE_RETRIEVAL_STMT_MAX], code[KE_SAS_LEN + 1], thr[8];
  struct srv_client_key ck;
  struct srv_rc_record rec;
  int found;
  size_t n;

  json_decref(s->out);
  s->out = NULL;
  if ((st = srv_client_key_get(db, p->id, &ck, &found)) != SRV_DB_OK)
    return st;
  if (!found)
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "No client key is registered for you: run escrowctl key register");
  n = ke_retrieval_statement(stmt, &s->f);
  if (!n || !srv_device_ed25519_ok(ck.pub, (const uint8_t *)stmt, n, s->b.signature))
    return srv_ep_fail(&s->fail, SRV_ERR_BAD_SIGNATURE,
                       "The request signature does not verify with your registered client key");
  if ((st = srv_rc_find(db, s, &r)) != SRV_DB_OK)
    return st;
  if (srv_row_read(r, 0, srv_rc_record_cols, &rec) != 0 || srv_rc_code(s, &rec, code, thr) != 0)
    st = SRV_DB_ERROR;
  else
    st = srv_rc_insert(db, s, &ck, &rec, code, thr);
  PQclear(r);
  if (st != SRV_DB_OK)
    return st;
  if ((st = srv_ret_get(db, s->f.id, &r)) != SRV_DB_OK)
    return st;
  if (PQntuples(r) == 1)
    s->out = srv_ret_answer(r);
  PQclear(r);
  return s->out ? SRV_DB_OK : SRV_DB_ERROR;
}

/* The record is named by device (and volume), by Key ID prefix or by its
 * id: the handler checks which, after the members' own checks. */
enum MHD_Result srv_ep_retrievals_create(struct srv_request *req)
{
  struct srv_rc s = {.req = req};
  const struct srv_rc_body *b = &s.b;
  uint8_t e[KE_POINT_LEN];
  enum srv_db_status st;
  enum MHD_Result ret;

  if (srv_ep_body(req, &srv_ep_retrievals_create_body, &s.b, &ret))
    return ret;
  if (!!b->device + !!b->key_id + !!b->record != 1)
    return srv_ep_bad(req, "name the record by device (and volume), by key_id or by record: "
                           "exactly one");
  if (b->volume && !b->device)
    return srv_ep_bad(req, "volume needs device");
  s.f = (ke_retrieval_fields){b->request_id, b->device, b->volume, b->key_id, b->E,
                              b->reason,     b->ticket, b->nonce,  b->record};
  /* srv_rc_point_ok passed: this decodes */
  if (ke_b64url_decode_fixed(e, sizeof e, b->E) != KE_OK || ke_point_parse(&s.E, e, sizeof e))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  ke_hex_encode(s.e_hex, e, sizeof e);
  ke_hex_encode(s.sig_hex, b->signature, sizeof b->signature);
  if (b->key_id && !(s.pat = srv_like_prefix(b->key_id + strspn(b->key_id, "{"))))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  st = srv_ret_expire_due(req);
  if (st == SRV_DB_OK)
    st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_rc_txn, &s);
  free(s.pat);
  if (st != SRV_DB_OK) {
    json_decref(s.out);
    return srv_ep_txn_reply(req, st, &s.fail);
  }
  srv_longpoll_notify("retrievals"); /* custodians waiting on the queue */
  return srv_reply_json(req, MHD_HTTP_CREATED, s.out);
}
