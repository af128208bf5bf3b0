/*
 * srv_ep_attest.c - custodian health: share attestation (custodians only,
 * by the route table; docs/protocol.md "Share attestation"):
 *   POST /v1/attestations/challenge  a one-time challenge for the caller's
 *                                    share of the current escrow key:
 *                                    {"challenge_id","nonce","fingerprint",
 *                                     "index","expires"}
 *   POST /v1/attestations            {"challenge_id","proof"}: the proof
 *                                    of knowledge of d_i (ke_attest_*)
 *
 * The share index is the custodian account's (custodian_index), never the
 * caller's say.  Q_i comes from the stored manifest of the challenge's key,
 * parsed and recomputed by ke_manifest_parse.  A challenge is taken once:
 * a proof that fails burns it too, so guesses cost a round trip each and
 * every attempt is audited (custodian.attest, success or failure).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_attest.h"
#include "ke_files.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

/* ---- challenge -------------------------------------------------------------- */
struct srv_at_ch {
  struct srv_request *req;
  char index[8], nonce_hex[2 + 2 * KE_ATTEST_NONCE_LEN + 1];
  json_t *out;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_at_ch_txn(struct srv_db *db, void *cls)
{
  struct srv_at_ch *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *params[3] = {p->name, s->index, s->nonce_hex};
  enum srv_db_status st;
  PGresult *r;

  json_decref(s->out);
  s->out = NULL;
  if (!(r = srv_db_exec(db, SRV_STMT_ATTEST_CHALLENGE_NEW, params, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return srv_ep_fail(&s->fail, SRV_ERR_NO_ESCROW_KEY, NULL);
  }
  s->out = json_pack("{s:I,s:s,s:s,s:i}", "challenge_id",
                     (json_int_t)strtoll(srv_row_text(r, "id"), NULL, 10), "fingerprint",
                     srv_row_text(r, "fingerprint"), "expires", srv_row_text(r, "expires"), "index",
                     p->custodian_index);
  PQclear(r);
  return s->out ? SRV_DB_OK : SRV_DB_ERROR;
}

enum MHD_Result srv_ep_attest_challenge(struct srv_request *req)
{
  const struct srv_principal *p = srv_request_principal(req);
  uint8_t nonce[KE_ATTEST_NONCE_LEN];
  struct srv_at_ch s;
  enum MHD_Result ret;
  char *b64;

  if (p->custodian_index < 1 || p->custodian_index > 255)
    return srv_reply_error(req, SRV_ERR_FORBIDDEN, "this account holds no share index");
  memset(&s, 0, sizeof s);
  s.req = req;
  snprintf(s.index, sizeof s.index, "%d", p->custodian_index);
  if (ke_random(nonce, sizeof nonce) != KE_OK)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  memcpy(s.nonce_hex, "\\x", 2);
  ke_hex_encode(s.nonce_hex + 2, nonce, sizeof nonce);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_at_ch_txn, &s, &s.fail, &ret)) {
    json_decref(s.out);
    return ret;
  }
  if (!(b64 = ke_b64url_encode(nonce, sizeof nonce)) ||
      json_object_set_new(s.out, "nonce", json_string(b64))) {
    free(b64);
    json_decref(s.out);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  free(b64);
  return srv_reply_json(req, MHD_HTTP_CREATED, s.out);
}

/* ---- proof ------------------------------------------------------------------ */
struct srv_at_body {
  int64_t challenge_id;
  uint8_t proof[KE_DLEQ_LEN];
};
/* Open: the handler checks the member count (the whole body's message). */
static const struct ke_jfield srv_at_fields[] = {
  KE_JF_INT(struct srv_at_body, challenge_id, 1, INT64_MAX,
            "body: {\"challenge_id\": N, \"proof\": base64url}"),
  KE_JF_B64_FIXED(struct srv_at_body, proof, "proof: a DLEQ proof P | c | s (97 bytes, base64url)"),
  KE_JF_END};
const struct ke_jspec srv_ep_attest_body = KE_JSPEC(struct srv_at_body, srv_at_fields, KE_JS_OPEN);

struct srv_at {
  struct srv_request *req;
  char id[24];
  ke_dleq proof;
  int verdict; /* 0 unknown challenge, 1 verified, -1 rejected */
  char created[32], fpr[KE_FPR_LEN * 2 + 1];
  int index;
  struct srv_ep_fail fail;
};

/* Does the proof hold for the challenge row (index, fpr, nonce hex,
 * manifest)?  KE_OK or why not. */
static ke_rc srv_at_check(const struct srv_at *s, const PGresult *r, int *index)
{
  ke_manifest *m = calloc(1, sizeof *m);
  uint8_t fpr[KE_FPR_LEN], nonce[KE_ATTEST_NONCE_LEN];
  const char *text = srv_row_text(r, "manifest");
  ke_ferr err;
  ke_rc rc;

  *index = atoi(srv_row_text(r, "share_index"));
  if (!m)
    return KE_ERR_INTERNAL;
  if ((rc = ke_manifest_parse(m, text, strlen(text), &err)) == KE_OK &&
      (rc = ke_hex_decode(fpr, sizeof fpr, srv_row_text(r, "fingerprint"))) == KE_OK &&
      (rc = ke_hex_decode(nonce, sizeof nonce, srv_row_text(r, "nonce"))) == KE_OK) {
    if (*index < 1 || *index > m->pub.n || !ke_ct_eq(fpr, m->pub.fingerprint, sizeof fpr))
      rc = KE_ERR_INVALID_INDEX;
    else
      rc = ke_attest_verify(&s->proof, (unsigned)*index, &m->pub.public_shares[*index - 1], fpr,
                            nonce);
  }
  free(m);
  return rc;
}

static enum srv_db_status srv_at_txn(struct srv_db *db, void *cls)
{
  struct srv_at *s = cls;
  const struct srv_principal *p = srv_request_principal(s->req);
  const char *take[2] = {s->id, p->name};
  enum srv_db_status st;
  struct srv_audit_event ev;
  char obj[48];
  json_t *d;
  PGresult *r;
  ke_rc rc;

  s->verdict = 0;
  if (!(r = srv_db_exec(db, SRV_STMT_ATTEST_CHALLENGE_TAKE, take, &st)))
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return srv_ep_fail(&s->fail, SRV_ERR_CONFLICT,
                       "no such challenge for you, or it was used or has expired");
  }
  rc = srv_at_check(s, r, &s->index);
  snprintf(s->fpr, sizeof s->fpr, "%s", srv_row_text(r, "fingerprint"));
  PQclear(r);
  s->verdict = rc == KE_OK ? 1 : -1;
  if (s->verdict > 0) {
    char idx[8];
    const char *ins[4] = {s->id, s->fpr, idx, p->name};
    snprintf(idx, sizeof idx, "%d", s->index);
    if (!(r = srv_db_exec(db, SRV_STMT_ATTEST_INSERT, ins, &st)))
      return st;
    snprintf(s->created, sizeof s->created, "%s", srv_row_text(r, "created"));
    PQclear(r);
  }
  snprintf(obj, sizeof obj, "share:%d", s->index);
  d = json_pack("{s:s,s:I,s:s}", "fingerprint", s->fpr, "challenge_id",
                (json_int_t)strtoll(s->id, NULL, 10), "result",
                s->verdict > 0 ? "verified" : ke_rc_str(rc));
  if (!d)
    return SRV_DB_ERROR;
  ev = (struct srv_audit_event){"custodian.attest", obj, s->verdict > 0 ? "success" : "failure", d,
                                NULL};
  st = srv_audit_append(db, s->req, &ev);
  json_decref(d);
  return st;
}

enum MHD_Result srv_ep_attest(struct srv_request *req)
{
  struct srv_at_body b;
  struct srv_at s;
  struct ke_jerr err;
  enum MHD_Result ret;

  memset(&s, 0, sizeof s);
  s.req = req;
  if (json_object_size(srv_request_json(req)) != 2)
    return srv_ep_bad(req, srv_at_fields[0].error);
  if (srv_ep_body_parse(req, &srv_ep_attest_body, &b, &err) != 0)
    return srv_ep_body_reply(req, &err);
  if (ke_dleq_decode(&s.proof, b.proof, sizeof b.proof) != KE_OK)
    return srv_ep_bad(req, srv_at_fields[1].error);
  snprintf(s.id, sizeof s.id, "%lld", (long long)b.challenge_id);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_at_txn, &s, &s.fail, &ret))
    return ret;
  if (s.verdict < 0)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "the proof does not hold: this is not the share of this account "
                           "for the current escrow key");
  return srv_reply_json(req, MHD_HTTP_CREATED,
                        json_pack("{s:b,s:i,s:s,s:s}", "attested", 1, "index", s.index,
                                  "fingerprint", s.fpr, "created", s.created));
}
