/*
 * srv_retrieval.c - helpers shared by the retrieval endpoints.
 */
#include "srv_retrieval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_files.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_device.h"
#include "srv_longpoll.h"
#include "srv_rows.h"
#include "srv_mail.h"
#include "srv_webhook.h"

static unsigned srv_ret_expiry_s = SRV_RET_EXPIRY_DEFAULT;

void srv_ret_init(const struct srv_config *cfg)
{
  if (cfg->retrieval_expiry)
    srv_ret_expiry_s = cfg->retrieval_expiry;
}

unsigned srv_ret_expiry(void) { return srv_ret_expiry_s; }

static const char *srv_ret_hook_title(const char *event)
{
  static const char *const t[][2] = {
    {"request.created", "Recovery key retrieval request: custodians needed"},
    {"part.added", "Retrieval request: a custodian contributed"},
    {"request.completed", "Retrieval request complete: no further part needed"},
    {"key.disclosed", "Recovery key disclosed to its requester"},
    {"request.expired", "Retrieval request expired"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(event, t[i][0]) == 0)
      return t[i][1];
  return event;
}

/* RET_NOTIFY_INFO */
struct srv_ret_info {
  const char *hostname, *volume_id, *name, *reason, *ticket;
  int64_t age, threshold, parts;
};
static const struct srv_col srv_ret_info_cols[] = {SRV_COL_TEXT(struct srv_ret_info, hostname),
                                                   SRV_COL_TEXT(struct srv_ret_info, volume_id),
                                                   SRV_COL_TEXT(struct srv_ret_info, name),
                                                   SRV_COL_TEXT(struct srv_ret_info, reason),
                                                   SRV_COL_TEXT(struct srv_ret_info, ticket),
                                                   SRV_COL_INT64(struct srv_ret_info, age),
                                                   SRV_COL_INT64(struct srv_ret_info, threshold),
                                                   SRV_COL_INT64(struct srv_ret_info, parts),
                                                   SRV_COL_END};

/* The webhooks of `event`, with its chat form when a chat URL wants one:
 * the facts are read from the request's row (public metadata only). */
static enum srv_db_status srv_ret_webhooks(struct srv_db *db, const char *event, const char *id,
                                           const json_t *p)
{
  const char *p1[1] = {id};
  char age[32], parts[48];
  enum srv_db_status st;
  struct srv_ret_info i;
  PGresult *r;

  if (!srv_webhook_wants_chat())
    return srv_webhook_enqueue(db, event, p, NULL);
  if (!(r = srv_db_exec(db, SRV_STMT_RET_NOTIFY_INFO, p1, &st)))
    return st;
  if (PQntuples(r) != 1 || srv_row_read(r, 0, srv_ret_info_cols, &i) != 0) {
    PQclear(r);
    return SRV_DB_ERROR;
  }
  snprintf(age, sizeof age, "%lld min", (long long)i.age / 60);
  snprintf(parts, sizeof parts, "%lld of %lld", (long long)i.parts, (long long)i.threshold);
  ke_chat_fact f[] = {{"Request", id},       {"Device", i.hostname}, {"Volume", i.volume_id},
                      {"Requester", i.name}, {"Reason", i.reason},   {"Ticket", i.ticket},
                      {"Age", age},          {"Parts", parts}};
  struct srv_webhook_chat chat = {srv_ret_hook_title(event), f, sizeof f / sizeof f[0]};
  st = srv_webhook_enqueue(db, event, p, &chat);
  PQclear(r);
  return st;
}

enum srv_db_status srv_ret_hook(struct srv_db *db, const char *event, const char *id,
                                const char *device, const char *volume, long long parts,
                                long long needed)
{
  json_t *p =
    json_pack("{s:s,s:s?,s:s?}", "request_id", id, "device_id", device, "volume_id", volume);
  enum srv_db_status st;

  if (!p)
    return SRV_DB_ERROR;
  if (parts >= 0 && (json_object_set_new(p, "parts", json_integer(parts)) ||
                     json_object_set_new(p, "needed", json_integer(needed)))) {
    json_decref(p);
    return SRV_DB_ERROR;
  }
  st = srv_ret_webhooks(db, event, id, p);
  json_decref(p);
  return st == SRV_DB_OK ? srv_mail_enqueue(db, event, id) : st;
}

enum srv_db_status srv_ret_lock(struct srv_db *db, struct srv_request *req, const char *id,
                                char state[16])
{
  const char *p1[1] = {id};
  enum srv_db_status st;
  PGresult *r;

  state[0] = '\0';
  if ((st = srv_ret_expire(db, req)) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_LOCK, p1, &st)))
    return st;
  snprintf(state, 16, "%s", srv_row_text(r, "state") ?: "");
  PQclear(r);
  return SRV_DB_OK;
}

int srv_ret_id_ok(const char *s) { return srv_device_id_ok(s, "req-"); }

/* RET_EXPIRE */
struct srv_ret_expired {
  const char *id, *record_id;
};
static const struct srv_col srv_ret_expired_cols[] = {
  SRV_COL_TEXT(struct srv_ret_expired, id), SRV_COL_TEXT(struct srv_ret_expired, record_id),
  SRV_COL_END};

enum srv_db_status srv_ret_expire(struct srv_db *db, struct srv_request *req)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_EXPIRE, NULL, &st);

  if (!r)
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    char obj[64];
    struct srv_ret_expired e;
    json_t *d = srv_row_read(r, i, srv_ret_expired_cols, &e) == 0
                  ? json_pack("{s:s}", "record", e.record_id)
                  : NULL;
    struct srv_audit_event ev = {"retrieval.expire", obj, "success", d, "system"};

    snprintf(obj, sizeof obj, "retrieval:%s", d ? e.id : "");
    st = d ? srv_audit_append(db, req, &ev) : SRV_DB_ERROR;
    json_decref(d);
    if (st == SRV_DB_OK)
      st = srv_ret_hook(db, "request.expired", e.id, NULL, NULL, -1, 0);
    if (st != SRV_DB_OK) {
      PQclear(r);
      return st;
    }
    /* Waking before commit is harmless: a woken waiter re-reads, and the
     * re-check tick covers a rollback. */
    srv_longpoll_notify(e.id);
  }
  PQclear(r);
  return SRV_DB_OK;
}

static enum srv_db_status srv_ret_expire_fn(struct srv_db *db, void *req)
{
  return srv_ret_expire(db, req);
}

static enum srv_db_status srv_ret_due_fn(struct srv_db *db, void *due)
{
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_RET_EXPIRE_DUE, NULL, &st);
  const char *v;

  if (!r)
    return st;
  v = srv_row_text(r, "due");
  *(int *)due = v && v[0] == 't';
  PQclear(r);
  return SRV_DB_OK;
}

enum srv_db_status srv_ret_expire_due(struct srv_request *req)
{
  int due = 0;
  enum srv_db_status st = srv_db_txn(SRV_DB_READ_ONLY, srv_ret_due_fn, &due);

  if (st != SRV_DB_OK || !due)
    return st;
  return srv_db_txn(SRV_DB_SERIALIZABLE, srv_ret_expire_fn, req);
}

int srv_ret_in_scope(struct srv_db *db, struct srv_request *req, const char *id,
                     enum srv_db_status *st)
{
  const char *scope = srv_principal_scope(srv_request_principal(req));
  const char *p2[2] = {id, scope};
  PGresult *r;
  int ok;

  *st = SRV_DB_OK;
  if (!scope)
    return 1;
  if (!(r = srv_db_exec(db, SRV_STMT_RET_IN_SCOPE, p2, st)))
    return 0;
  ok = strcmp(srv_row_text(r, "ok") ?: "f", "t") == 0;
  PQclear(r);
  return ok;
}

enum srv_db_status srv_ret_get(struct srv_db *db, const char *id, PGresult **res)
{
  const char *p[1] = {id};
  enum srv_db_status st;

  *res = srv_db_exec(db, SRV_STMT_RET_GET, p, &st);
  return *res ? SRV_DB_OK : st;
}

int srv_ret_is_requester(const struct srv_request *req, const PGresult *r)
{
  const struct srv_principal *p = srv_request_principal(req);

  const char *id = srv_row_text(r, "requester_id");

  return p->kind == SRV_PRINCIPAL_USER && id && strcmp(p->id, id) == 0;
}

/* RET_GET: what the request file is made of. */
struct srv_ret_row {
  const char *id, *manifest, *envelope, *e, *device_id, *volume_id, *created;
  /* the signed statement (schema 013): NULL before it */
  const char *name, *named_device, *named_volume, *named_key_id, *named_record, *reason, *ticket,
    *nonce;
  const char *key_public, *signature;
};
#define SRV_RET_COL(m) SRV_COL_TEXT(struct srv_ret_row, m)
#define SRV_RET_COL_NULL(m) SRV_COL_TEXT_NULL(struct srv_ret_row, m)
static const struct srv_col srv_ret_row_cols[] = {SRV_RET_COL(id),
                                                  SRV_RET_COL(manifest),
                                                  SRV_RET_COL(envelope),
                                                  SRV_RET_COL(e),
                                                  SRV_RET_COL(device_id),
                                                  SRV_RET_COL(volume_id),
                                                  SRV_RET_COL(created),
                                                  SRV_RET_COL_NULL(name),
                                                  SRV_RET_COL_NULL(named_device),
                                                  SRV_RET_COL_NULL(named_volume),
                                                  SRV_RET_COL_NULL(named_key_id),
                                                  SRV_RET_COL_NULL(named_record),
                                                  SRV_RET_COL_NULL(reason),
                                                  SRV_RET_COL_NULL(ticket),
                                                  SRV_RET_COL_NULL(nonce),
                                                  SRV_RET_COL_NULL(key_public),
                                                  SRV_RET_COL_NULL(signature),
                                                  SRV_COL_END};

/* The signed statement as stored (schema 013); not verified here: the
 * reader verifies it, with a key it pinned. */
static int srv_ret_requester(ke_retrieval_signed *s, const struct srv_ret_row *w)
{
  memset(s, 0, sizeof *s);
  snprintf(s->user, sizeof s->user, "%s", w->name ?: "");
  snprintf(s->device, sizeof s->device, "%s", w->named_device ?: "");
  snprintf(s->volume, sizeof s->volume, "%s", w->named_volume ?: "");
  snprintf(s->key_id, sizeof s->key_id, "%s", w->named_key_id ?: "");
  snprintf(s->record, sizeof s->record, "%s", w->named_record ?: "");
  snprintf(s->reason, sizeof s->reason, "%s", w->reason ?: "");
  snprintf(s->ticket, sizeof s->ticket, "%s", w->ticket ?: "");
  snprintf(s->nonce, sizeof s->nonce, "%s", w->nonce ?: "");
  if (ke_hex_decode(s->public_key, sizeof s->public_key, w->key_public) ||
      ke_hex_decode(s->signature, sizeof s->signature, w->signature ?: "") ||
      ke_retrieval_fingerprint(s->fingerprint, s->public_key) != 0)
    return -1;
  return 0;
}

/* The request file of row 0 (docs/protocol.md 5.3) as a JSON object; NULL
 * if the stored data does not make one (logged).  With the requester's
 * signed statement ("requester") when the row has its public key (requests
 * made since schema 013), exactly as stored: custodians verify it. */
static json_t *srv_ret_request_file(const PGresult *r)
{
  ke_manifest *m = calloc(1, sizeof *m);
  ke_request *q = calloc(1, sizeof *q);
  struct srv_ret_row w;
  uint8_t *env = NULL, e[KE_POINT_LEN];
  size_t envlen = 0, outlen = 0;
  char *out = NULL;
  ke_envelope pe;
  ke_ferr err;
  json_t *j = NULL;
  json_error_t je;

  if (!m || !q || srv_row_read(r, 0, srv_ret_row_cols, &w) != 0)
    goto out;
  if (ke_manifest_parse(m, w.manifest, strlen(w.manifest), &err) != KE_OK ||
      ke_hex_decode_alloc(&env, &envlen, w.envelope) != KE_OK || envlen > sizeof q->envelope ||
      ke_envelope_parse(&pe, env, envlen) != KE_OK || ke_hex_decode(e, sizeof e, w.e) != KE_OK ||
      ke_point_parse(&q->E, e, sizeof e) != KE_OK)
    goto bad;
  snprintf(q->request_id, sizeof q->request_id, "%s", w.id);
  snprintf(q->device, sizeof q->device, "%s", w.device_id);
  snprintf(q->volume, sizeof q->volume, "%s", w.volume_id);
  memcpy(q->fingerprint, pe.fingerprint, KE_FPR_LEN);
  q->pub = m->pub;
  q->R = pe.R;
  memcpy(q->envelope, env, envlen);
  q->envelope_len = envlen;
  if (ke_envelope_sha256(q->envelope_sha256, env, envlen) != KE_OK)
    goto out;
  ke_sas(q->code, q->request_id, &q->E, &q->R);
  snprintf(q->created, sizeof q->created, "%s", w.created);
  if (w.key_public && srv_ret_requester(&q->requester, &w) != 0)
    goto bad;
  q->has_requester = w.key_public != NULL;
  if (ke_request_write(&out, &outlen, q) != KE_OK)
    goto bad;
  j = json_loadb(out, outlen, 0, &je);
  goto out;
bad:
  ke_log(KE_LOG_ERROR, "stored retrieval data does not make a request file",
         json_pack("{s:s}", "retrieval", w.id));
out:
  free(out);
  free(env);
  free(q);
  free(m);
  return j;
}

/* The requester's client key as the custodian should judge it: the key that
 * signed, when it was registered, whether it is still the current one, and
 * every key the account ever had. */
static json_t *srv_ret_requester_key(const PGresult *r)
{
  const char *fpr = srv_row_text(r, "key_fpr") ?: "", *cur = srv_row_text(r, "key_current");
  json_t *h = json_loads(srv_row_text(r, "key_history") ?: "", 0, NULL), *e, *reg = json_null();
  size_t i;

  if (!json_is_array(h)) {
    json_decref(h);
    return NULL;
  }
  json_array_foreach (h, i, e)
    if (strcmp(json_string_value(json_object_get(e, "fingerprint")) ?: "", fpr) == 0)
      reg = json_object_get(e, "registered");
  return json_pack("{s:s,s:O,s:b,s:I,s:o}", "fingerprint", fpr, "registered", reg, "current",
                   cur && strcmp(cur, fpr) == 0, "keys", (json_int_t)json_array_size(h), "history",
                   h);
}

/* The status view of row 0: everything but the envelope; with the audit
 * leaf of the record's escrow.store event (escrow_event, its exact text),
 * so that a custodian can check its inclusion in the signed log, and the
 * requester's client key: fingerprint, registration, history
 * (requester_key). */
static const struct srv_jcol srv_ret_view_cols[] = {
  {"request_id", "id", SRV_CT_TEXT, 0},
  SRV_JCOL("state", SRV_CT_TEXT),
  SRV_JCOL("record_id", SRV_CT_TEXT),
  SRV_JCOL("record_state", SRV_CT_TEXT),
  SRV_JCOL_NULL("record_superseded_at", SRV_CT_TIME),
  SRV_JCOL("device_id", SRV_CT_TEXT),
  SRV_JCOL("hostname", SRV_CT_TEXT),
  SRV_JCOL("volume_id", SRV_CT_TEXT),
  SRV_JCOL("key_type", SRV_CT_TEXT),
  SRV_JCOL("key_id", SRV_CT_TEXT),
  {"requester", "name", SRV_CT_TEXT, 0},
  SRV_JCOL("reason", SRV_CT_TEXT),
  SRV_JCOL("ticket", SRV_CT_TEXT),
  {"confirmation_code", "code", SRV_CT_TEXT, 0},
  SRV_JCOL("envelope_sha256", SRV_CT_TEXT),
  SRV_JCOL_NULL("leaf_index", SRV_CT_INT64),
  {"parts", "nparts", SRV_CT_INT64, 0},
  {"needed", "threshold", SRV_CT_INT64, 0},
  {"custodians", "indices", SRV_CT_JSON, 0},
  {"age_seconds", "age", SRV_CT_INT64, 0},
  SRV_JCOL("created", SRV_CT_TIME),
  SRV_JCOL("expires", SRV_CT_TIME),
  {"escrow_event", "escrow_leaf", SRV_CT_TEXT, SRV_COL_NULLABLE},
  /* What policy custodians' rules look at: the server's word, unlike the
   * requester's account name, which the requester's key signs. */
  {"requester_role", "role", SRV_CT_TEXT, 0},
  {"requester_person", "person", SRV_CT_TEXT, SRV_COL_NULLABLE},
  {"device_group", "group_name", SRV_CT_TEXT, 0},
  SRV_JCOL_END};
/* After requester_key: the members keep the order clients have seen. */
static const struct srv_jcol srv_ret_view_tail[] = {SRV_JCOL("declines", SRV_CT_JSON),
                                                    SRV_JCOL_END};

json_t *srv_ret_answer(const PGresult *r)
{
  json_t *v = srv_row_json(r, 0, srv_ret_view_cols);
  json_t *k = v ? srv_ret_requester_key(r) : NULL;
  json_t *tail =
    k && !json_object_set_new(v, "requester_key", k) ? srv_row_json(r, 0, srv_ret_view_tail) : NULL;
  json_t *file = tail && !json_object_update(v, tail) ? srv_ret_request_file(r) : NULL;

  json_decref(tail);
  if (!file) {
    json_decref(v);
    return NULL;
  }
  return json_pack("{s:o,s:o}", "retrieval", v, "request", file);
}
