/*
 * srv_ep_device_keys.c - PUT /v1/devices/{id}/keys/{volume}: escrow one
 * sealed recovery key (docs/agent-protocol.md section 4).
 *
 * Agent route: the dispatcher has verified the device's request signature
 * and that {id} is that device.  Here: every field is validated, the
 * envelope must parse and name the current or an accepted escrow key, and
 * the device's signature over envelope || device || 0x00 || volume must
 * verify.  Then one transaction, under the device's row lock, stores the
 * nonce, supersedes the volume's current record (it stays in history),
 * inserts the new one and appends escrow.store.  After commit the event's
 * leaf index is learnt and the receipt signed with the log key.
 *
 * The same envelope again (same SHA-256, device and volume) changes nothing
 * and answers 200 with the original record, leaf index and receipt; it
 * appends no audit event, since nothing happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ke_crypto.h"
#include "ke_files.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_audit.h"
#include "srv_audit_int.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

/* base64url of the largest envelope: ceil(1120 * 4 / 3) */
#define SRV_DK_ENV_B64_MAX 1494

static int srv_dk_key_type_ok(const char *s)
{
  return !strcmp(s, "bitlocker") || !strcmp(s, "filevault") || !strcmp(s, "luks") ||
         !strcmp(s, "other");
}

/* v1 (32 bytes) or v2 (54 bytes, scrypt parameters at or above the floor):
 * both are stored as sent, the server never recomputes them. */
static int srv_dk_verifier_ok(const char *s)
{
  uint8_t v[KE_VERIFIER_MAX];
  size_t n;

  return ke_verifier_decode(v, &n, s) == KE_OK;
}

struct srv_dk_body {
  const char *key_type, *key_id, *verifier;
  uint8_t signature[SRV_DEV_SIG_LEN];
  const char *envelope;
};
static const struct ke_jfield srv_dk_fields[] = {
  KE_JF_STR(struct srv_dk_body, key_type, 1, 16, srv_dk_key_type_ok,
            "key_type: bitlocker, filevault, luks or other"),
  KE_JF_STR(struct srv_dk_body, key_id, 1, SRV_DEV_KEY_ID_MAX, srv_device_key_id_ok,
            "key_id: 1 to 128 printable ASCII characters"),
  KE_JF_STR(struct srv_dk_body, verifier, 1, 4 * KE_VERIFIER_MAX, srv_dk_verifier_ok,
            "verifier: a v1 (32 bytes) or v2 (54 bytes) verifier in base64url"),
  KE_JF_B64_FIXED(struct srv_dk_body, signature, "signature: 64 bytes in base64url"),
  KE_JF_STR(struct srv_dk_body, envelope, 0, SRV_DK_ENV_B64_MAX, NULL,
            "envelope: a keyescrow envelope in base64url"),
  KE_JF_END};
const struct ke_jspec srv_ep_device_keys_put_body = KE_JSPEC(struct srv_dk_body, srv_dk_fields, 0);

struct srv_dk {
  struct srv_request *req;
  const char *device, *volume, *key_type, *key_id;
  char env_param[2 * KE_ENV_MAX_LEN + 3];
  char verifier[2 * KE_VERIFIER_MAX + 3], sig[2 * SRV_DEV_SIG_LEN + 3];
  char sha[SRV_HEX_SHA256], fpr[SRV_HEX_SHA256];
  char id[SRV_DEV_ID_LEN + 1];
  char state[16], created[32], key_state[16];
  char superseded[SRV_DEV_ID_LEN + 1];
  int64_t leaf_index; /* -1 unknown */
  int is_new;         /* 0: the same envelope again */
  struct srv_ep_fail fail;
};

/* READ COMMITTED, ordered by the device's row lock.  SERIALIZABLE made
 * uploads of unrelated devices fail: its predicate locks follow the plan,
 * and on a never-analysed database the supersede scans the device_id-only
 * index and the nonce clean-up all of a device's nonces, so the locks are
 * promoted to pages and to the whole escrow_records relation
 * (bench/README.md).  Here nothing depends on the plan:
 *   - DEVICE_LOCK first: every later statement takes a fresh snapshot
 *     after it, so it sees whatever an earlier upload or check-in of the
 *     same device committed, and none runs meanwhile.  Only this device's
 *     rows are read or written below, so devices never wait on each other.
 *   - the nonce is single-use by its primary key (INSERT .. ON CONFLICT is
 *     atomic at any isolation level), not by what a snapshot saw;
 *   - one current record per volume: escrow_records_current is a unique
 *     index, and the device lock keeps two uploads of a volume from both
 *     superseding; a retrieval or drill disclosing the current record
 *     meanwhile row-locks it, and RECORD_SUPERSEDE then re-reads the new
 *     version (active or disclosed, so superseded or rotated as it must);
 *   - the escrow key's state is read once: a key retired concurrently is
 *     the same as a retirement just after this upload, which is allowed
 *     (retired keys keep their records);
 *   - the audit event is an INSERT into audit_queue, sequenced after commit
 *     under the audit_head row lock (srv_audit.c), as before.
 * The upload is acknowledged only after COMMIT, so nothing acknowledged is
 * lost; a commit whose outcome is unknown is not replayed (srv_db_txn). */
static enum srv_db_status srv_dk_txn(struct srv_db *db, void *cls)
{
  struct srv_dk *k = cls;
  enum srv_db_status st;
  PGresult *r;
  int replayed = 0;
  json_t *d;
  const char *v, *p4[4] = {k->device, k->volume, k->fpr, k->sha};
  const char *p1[1] = {k->device}, *p3[3] = {k->device, k->volume, k->id};
  const char *p10[10] = {k->id,        k->device, k->volume, k->key_type, k->key_id,
                         k->env_param, k->sha,    k->fpr,    k->verifier, k->sig};

  k->superseded[0] = '\0';
  k->leaf_index = -1;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_LOCK, p1, &st)))
    return st;
  st = PQntuples(r) == 1 ? SRV_DB_OK : SRV_DB_ERROR; /* authenticated: it exists */
  PQclear(r);
  if (st != SRV_DB_OK)
    return st;
  if ((st = srv_device_nonce_use(db, k->req, k->device, &replayed)) != SRV_DB_OK)
    return replayed ? srv_ep_fail(&k->fail, SRV_ERR_REPLAYED_REQUEST, NULL) : st;
  if (!(r = srv_db_exec(db, SRV_STMT_RECORD_PRECHECK, p4, &st)))
    return st;
  /* Always one row: the record's columns are NULL unless this envelope was
   * escrowed before. */
  snprintf(k->key_state, sizeof k->key_state, "%s", (v = srv_row_text(r, "key_state")) ? v : "");
  snprintf(k->id, sizeof k->id, "%s", (v = srv_row_text(r, "id")) ? v : "");
  if (k->id[0]) {
    snprintf(k->state, sizeof k->state, "%s", srv_row_text(r, "state"));
    k->leaf_index = (v = srv_row_text(r, "leaf_index")) ? strtoll(v, NULL, 10) : -1;
    snprintf(k->created, sizeof k->created, "%s", srv_row_text(r, "created"));
  }
  PQclear(r);
  if (k->id[0]) {
    k->is_new = 0; /* the nonce is kept: this request cannot be replayed */
    return SRV_DB_OK;
  }
  if (strcmp(k->key_state, "current") != 0 && strcmp(k->key_state, "accepted") != 0)
    return srv_ep_fail(&k->fail, SRV_ERR_UNKNOWN_ESCROW_KEY, NULL);
  if (ke_b32_id_new(k->id, "rec-") != KE_OK)
    return SRV_DB_ERROR;
  if (!(r = srv_db_exec(db, SRV_STMT_RECORD_SUPERSEDE, p3, &st)))
    return st;
  if (PQntuples(r) == 1)
    snprintf(k->superseded, sizeof k->superseded, "%s", srv_row_text(r, "id"));
  PQclear(r);
  if (!(r = srv_db_exec(db, SRV_STMT_RECORD_INSERT, p10, &st)))
    return st;
  snprintf(k->created, sizeof k->created, "%s", srv_row_text(r, "created"));
  PQclear(r);
  snprintf(k->state, sizeof k->state, "active");
  d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s?}", "device", k->device, "volume", k->volume,
                "key_type", k->key_type, "key_id", k->key_id, "envelope_sha256", k->sha,
                "escrow_fingerprint", k->fpr, "escrow_key_state", k->key_state, "superseded",
                k->superseded[0] ? k->superseded : NULL);
  k->is_new = 1;
  return srv_audit_success(db, k->req, "escrow.store", "record", k->id, d);
}

/* Remember the leaf index with the record (so that an idempotent re-upload
 * can answer it), or find it for a record whose first answer was lost
 * between commit and that update.  The escrow event's exact text is
 * answered with the receipt so that the agent can prove its inclusion in a
 * checkpoint it holds consistent with the last it saw
 * (docs/agent-protocol.md section 4). */
enum srv_dk_leaf_mode { SRV_DK_FIND, SRV_DK_STORE, SRV_DK_TEXT };
struct srv_dk_leaf {
  const char *id;
  int64_t leaf;
  enum srv_dk_leaf_mode mode; /* STORE and TEXT read the leaf's text too */
  char *text;                 /* malloc'd; NULL when not found */
};

/* READ COMMITTED for STORE: one UPDATE by primary key, guarded by
 * "leaf_index IS NULL" and row-locked, so concurrent stores of the same
 * (correct) index cannot disagree; under SERIALIZABLE its read of the
 * primary key's page conflicted with other devices' inserts there.  FIND
 * and TEXT only read (REPEATABLE READ READ ONLY). */
static enum srv_db_status srv_dk_leaf_txn(struct srv_db *db, void *cls)
{
  struct srv_dk_leaf *l = cls;
  char leaf[24];
  const char *p2[2] = {l->id, leaf};
  enum srv_db_status st;
  PGresult *r;

  snprintf(leaf, sizeof leaf, "%lld", (long long)l->leaf);
  if (l->mode == SRV_DK_STORE) {
    /* A crash that loses this update costs srv_dk_find_leaf() once. */
    if (!(r = srv_db_exec(db, SRV_STMT_ASYNC_COMMIT, NULL, &st)))
      return st;
    PQclear(r);
  }
  if (l->mode != SRV_DK_TEXT) {
    r = srv_db_exec(db, l->mode ? SRV_STMT_RECORD_SET_LEAF : SRV_STMT_RECORD_FIND_LEAF, p2, &st);
    if (!r)
      return st;
    if (l->mode == SRV_DK_FIND)
      l->leaf = PQntuples(r) == 1 ? strtoll(srv_row_text(r, "seq"), NULL, 10) : -1;
    PQclear(r);
  }
  if (l->mode != SRV_DK_FIND) {
    /* The event's text rides along: one transaction per escrow, not two. */
    const char *p1[1] = {leaf};
    if (!(r = srv_db_exec(db, SRV_STMT_AUDIT_LEAF_TEXT, p1, &st)))
      return st;
    free(l->text);
    l->text = PQntuples(r) == 1 ? strdup(srv_row_text(r, "leaf")) : NULL;
    PQclear(r);
  }
  return SRV_DB_OK;
}

static int srv_dk_find_leaf(struct srv_dk *k)
{
  struct srv_dk_leaf l = {k->id, -1, SRV_DK_FIND, NULL};

  /* Its event may still wait in the queue: sequence what is there first. */
  if (srv_audit_sequence_batch() < 0)
    return -1;
  if (srv_db_txn(SRV_DB_READ_ONLY, srv_dk_leaf_txn, &l) != SRV_DB_OK || l.leaf < 0)
    return -1;
  k->leaf_index = l.leaf;
  l.mode = SRV_DK_STORE;
  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_dk_leaf_txn, &l) != SRV_DB_OK)
    ke_log(KE_LOG_WARN, "could not store a record's leaf index",
           json_pack("{s:s}", "record", k->id));
  free(l.text);
  return 0;
}

/* Check the envelope and the device's signature over it into k.  NULL or
 * the message; *code is set for errors that have their own code. */
static const char *srv_dk_validate(struct srv_dk *k, const struct srv_dk_body *b,
                                   enum srv_error_code *code)
{
  uint8_t *env = NULL, *msg = NULL, ver[KE_VERIFIER_MAX], pub[SRV_DEV_PUB_LEN], h[32];
  size_t envlen = 0, msglen = 0, verlen = 0;
  unsigned hl = 0;
  ke_envelope e;
  int ok;

  *code = SRV_ERR_BAD_REQUEST;
  if (ke_b64url_decode(&env, &envlen, b->envelope, 0) != KE_OK)
    return srv_dk_fields[4].error;
  *code = SRV_ERR_INVALID_ENVELOPE;
  if (ke_envelope_parse(&e, env, envlen) != KE_OK) {
    free(env);
    return "The envelope does not parse (magic, version, point or length)";
  }
  /* The device signs envelope || device_id || 0x00 || volume_id. */
  if (srv_device_request_key(k->req, pub) != 0 ||
      ke_bind_ids(&msg, &msglen, env, envlen, k->device, k->volume) != KE_OK) {
    free(env);
    *code = SRV_ERR_INTERNAL;
    return "internal";
  }
  ok = srv_device_ed25519_ok(pub, msg, msglen, b->signature);
  free(msg);
  if (!ok) {
    free(env);
    *code = SRV_ERR_INVALID_ENVELOPE_SIGNATURE;
    return "The device signature over envelope || device || 0x00 || volume does not verify";
  }
  if (EVP_Digest(env, envlen, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32 ||
      ke_verifier_decode(ver, &verlen, b->verifier) != KE_OK) {
    free(env);
    *code = SRV_ERR_INTERNAL;
    return "internal";
  }
  ke_hex_encode(k->sha, h, sizeof h);
  ke_hex_encode(k->fpr, e.fingerprint, KE_FPR_LEN);
  srv_bytea_param(k->env_param, env, envlen);
  srv_bytea_param(k->verifier, ver, verlen);
  srv_bytea_param(k->sig, b->signature, SRV_DEV_SIG_LEN);
  free(env);
  return NULL;
}

/* After the commit: the leaf index (learnt for a new record, or for a
 * re-upload whose first answer was lost before it was), then the answer:
 * record, leaf index, the signed receipt and the escrow event's text. */
static enum MHD_Result srv_dk_answer(struct srv_request *req, struct srv_dk *k)
{
  char *note = NULL, *event = NULL;
  json_t *out;

  if (k->is_new) {
    struct srv_dk_leaf l = {k->id, -1, SRV_DK_STORE, NULL};
    if (srv_audit_sequence_mine(&k->leaf_index) != 0 || k->leaf_index < 0) {
      /* Stored and audited, but no index yet: a retry gets the receipt. */
      ke_log(KE_LOG_WARN, "escrow stored but its audit leaf is not sequenced yet",
             json_pack("{s:s,s:s}", "request_id", srv_request_id(req), "record", k->id));
      return srv_reply_error(req, SRV_ERR_DB_UNAVAILABLE, NULL);
    }
    l.leaf = k->leaf_index;
    if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_dk_leaf_txn, &l) != SRV_DB_OK)
      ke_log(KE_LOG_WARN, "could not store a record's leaf index",
             json_pack("{s:s}", "record", k->id));
    event = l.text;
  } else if (k->leaf_index < 0 && srv_dk_find_leaf(k) != 0) {
    return srv_reply_error(req, SRV_ERR_DB_UNAVAILABLE, NULL);
  }
  if (srv_device_receipt(k->device, k->volume, k->id, k->sha, k->leaf_index, k->created, &note) !=
      0) {
    free(event);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  ke_log(KE_LOG_INFO, k->is_new ? "escrow stored" : "escrow re-upload (unchanged)",
         json_pack("{s:s,s:s,s:s,s:s,s:I}", "request_id", srv_request_id(req), "device", k->device,
                   "volume", k->volume, "record", k->id, "leaf_index", (json_int_t)k->leaf_index));
  if (!event) {
    /* A re-upload (or a failed update before): read the event on its own. */
    struct srv_dk_leaf e = {k->id, k->leaf_index, SRV_DK_TEXT, NULL};
    if (srv_db_txn(SRV_DB_READ_ONLY, srv_dk_leaf_txn, &e) != SRV_DB_OK || !e.text) {
      free(e.text);
      free(note);
      return srv_reply_error(req, SRV_ERR_DB_UNAVAILABLE, NULL);
    }
    event = e.text;
  }
  out = json_pack("{s:s,s:s,s:I,s:s,s:s}", "record_id", k->id, "state", k->state, "leaf_index",
                  (json_int_t)k->leaf_index, "receipt", note, "escrow_event", event);
  free(event);
  free(note);
  return out ? srv_reply_json(req, k->is_new ? MHD_HTTP_CREATED : MHD_HTTP_OK, out)
             : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
}

enum MHD_Result srv_ep_device_keys_put(struct srv_request *req)
{
  struct srv_dk_body b;
  struct srv_dk *k;
  struct ke_jerr err;
  enum srv_error_code code;
  enum MHD_Result ret;
  const char *bad, *volume = srv_request_param(req, "volume");
  int parsed = srv_ep_body_parse(req, &srv_ep_device_keys_put_body, &b, &err);

  /* An unknown member is refused before the path's volume, the members
   * after it. */
  if (parsed != 0 && err.kind == KE_JE_UNKNOWN)
    return srv_ep_body_reply(req, &err);
  if (!srv_device_volume_ok(volume))
    return srv_ep_bad(req, "volume: 1 to 128 characters A-Z a-z 0-9 . _ : -");
  if (parsed != 0)
    return srv_ep_body_reply(req, &err);
  if (!(k = calloc(1, sizeof *k)))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  *k = (struct srv_dk){.req = req,
                       .device = srv_request_principal(req)->id,
                       .volume = volume,
                       .key_type = b.key_type,
                       .key_id = b.key_id};
  if ((bad = srv_dk_validate(k, &b, &code)) != NULL)
    ret = srv_reply_error(req, code, code == SRV_ERR_INTERNAL ? NULL : bad);
  else if (!srv_ep_txn(req, SRV_DB_READ_COMMITTED, srv_dk_txn, k, &k->fail, &ret))
    ret = srv_dk_answer(req, k);
  free(k);
  return ret;
}
