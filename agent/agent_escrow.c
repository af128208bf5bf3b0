/*
 * agent_escrow.c - seal, upload, verify the receipt, record (see
 * agent_escrow.h).
 */
#include "agent_escrow.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "agent_logview.h"
#include "ke_crypto.h"
#include "ke_json_spec.h"
#include "ke_secret.h"
#include "ke_util.h"

#define RECEIPT_LABEL "keyescrow-v1-receipt"

int agent_key_type_valid(const char *s)
{
  return s && (!strcmp(s, "bitlocker") || !strcmp(s, "filevault") || !strcmp(s, "luks") ||
               !strcmp(s, "other"));
}

/* Split `text` (ending in "\n") into at most `max` lines in place. */
static size_t split_lines(char *text, char **lines, size_t max)
{
  size_t n = 0;
  char *p = text;

  while (*p) {
    char *nl = strchr(p, '\n');
    if (!nl || n == max)
      return max + 1;
    *nl = '\0';
    lines[n++] = p;
    p = nl + 1;
  }
  return n;
}

int agent_receipt_check(const ke_note_verifier *logkey, const char *receipt, const char *device_id,
                        const char *volume_id, const char *record_id,
                        const char *envelope_sha256_hex, json_int_t leaf_index,
                        char when[KE_TIME_LEN + 1])
{
  char *text = NULL, *lines[8];
  size_t textlen = 0, n;
  char leaf[32];
  const char *why = NULL;
  ke_rc k;

  when[0] = '\0';
  k = ke_note_open_statement(logkey, receipt, strlen(receipt), RECEIPT_LABEL, &text, &textlen);
  if (k) {
    agent_err("volume %s: the receipt does not verify against the pinned log key %s (%s); "
              "the key is NOT counted as escrowed",
              volume_id, logkey->name, ke_rc_str(k));
    return AGENT_BADANSWER;
  }
  snprintf(leaf, sizeof leaf, "%lld", (long long)leaf_index);
  n = split_lines(text, lines, 7);
  if (n != 7)
    why = "it does not have exactly 7 lines";
  else if (strcmp(lines[1], device_id) != 0)
    why = "it names another device";
  else if (strcmp(lines[2], volume_id) != 0)
    why = "it names another volume";
  else if (strcmp(lines[3], record_id) != 0)
    why = "its record id differs from the answer's";
  else if (strcmp(lines[4], envelope_sha256_hex) != 0)
    why = "it is for another envelope";
  else if (strcmp(lines[5], leaf) != 0)
    why = "its audit leaf index differs from the answer's";
  else if (!ke_time_valid(lines[6]))
    why = "its time is malformed";
  if (!why)
    snprintf(when, KE_TIME_LEN + 1, "%s", lines[6]);
  free(text);
  if (why) {
    agent_err("volume %s: the receipt is signed but wrong: %s; the key is NOT counted as "
              "escrowed",
              volume_id, why);
    return AGENT_BADANSWER;
  }
  return AGENT_OK;
}

static int b64_field(json_t *o, const char *key, const uint8_t *b, size_t len)
{
  char *s = ke_b64url_encode(b, len);
  int rc;

  if (!s)
    return agent_oom();
  rc = agent_jset_str(o, key, s);
  free(s);
  return rc;
}

/* The verifier to upload, in base64url (NULL on failure, logged by the
 * caller).  A machine-generated secret gets v1, which is deterministic.
 * Any other gets v2 (scrypt, random salt); when the pending upload or the
 * record under the escrow key in use already holds a v2 verifier of this
 * very secret, those bytes are reused, so that escrowing the same secret
 * again is recognised below as the same envelope and record, not a new
 * one.  A new record always gets a new salt.  One scrypt per candidate. */
static const char *same_key_verifier(agent_ctx *c, const json_t *o)
{
  agent_vol v = agent_vol_read(o);
  return v.escrow_fingerprint && !strcmp(v.escrow_fingerprint, c->fpr_hex) ? v.verifier : NULL;
}

static char *upload_verifier(agent_ctx *c, const agent_escrow_req *r)
{
  json_t *vol = agent_volume(c, r->volume_id);
  const char *cand[2] = {same_key_verifier(c, json_object_get(vol, "upload")),
                         agent_vol_read(vol).record_id ? same_key_verifier(c, vol) : NULL};
  uint8_t ver[KE_VERIFIER_MAX];
  size_t len = 0;
  char *b64 = NULL;
  ke_rc k = KE_ERR_AUTH;

  if (r->generated) {
    len = KE_VERIFIER_V1_LEN;
    k = ke_verifier(ver, r->secret, r->secret_len, c->device_id, r->volume_id);
  }
  for (int i = 0; !r->generated && !r->fresh && k && i < 2; i++) {
    if (!cand[i] || (i == 1 && cand[0] && strcmp(cand[0], cand[1]) == 0) ||
        ke_verifier_decode(ver, &len, cand[i]) != KE_OK || len != KE_VERIFIER_V2_LEN)
      continue;
    k = ke_verifier_check(ver, len, r->secret, r->secret_len, c->device_id, r->volume_id);
  }
  if (k && !r->generated) {
    len = KE_VERIFIER_V2_LEN;
    k = ke_verifier_v2(ver, r->secret, r->secret_len, c->device_id, r->volume_id);
  }
  if (k == KE_OK)
    b64 = ke_b64url_encode(ver, len);
  ke_wipe(ver, sizeof ver);
  return b64;
}

/* The request names a valid volume and key, and a secret fit to escrow. */
static int req_check(const agent_escrow_req *r)
{
  const char *why;

  if (!agent_volume_id_valid(r->volume_id) || !agent_key_id_valid(r->key_id) ||
      !agent_key_type_valid(r->key_type)) {
    agent_err("invalid volume id, key id or key type for volume %s", r->volume_id);
    return AGENT_USAGE;
  }
  if (r->secret_len < KE_SECRET_MIN || r->secret_len > KE_SECRET_MAX) {
    agent_err("volume %s: the secret is %zu bytes; only %d..%d can be escrowed", r->volume_id,
              r->secret_len, KE_SECRET_MIN, KE_SECRET_MAX);
    return AGENT_FAIL;
  }
  why = ke_secret_weak_reason(r->secret, r->secret_len);
  if (why && !r->force) {
    agent_err("volume %s: refusing a secret that looks low in entropy: %s (--force escrows "
              "it anyway)",
              r->volume_id, why);
    return AGENT_FAIL;
  }
  if (why)
    agent_warn("volume %s: escrowing a secret that looks low in entropy (%s)", r->volume_id, why);
  return AGENT_OK;
}

/* 1 if o (the pending upload or the volume) holds this verifier, sealed to
 * the escrow key in use. */
static int same_upload(agent_ctx *c, const json_t *o, const char *ver_b64)
{
  const char *v = same_key_verifier(c, o);
  return v && strcmp(v, ver_b64) == 0;
}

/* up's "envelope": `reuse`, or a new one sealed to the escrow key in use. */
static int put_envelope(agent_ctx *c, const agent_escrow_req *r, json_t *up, const char *reuse)
{
  uint8_t *env = NULL;
  size_t envlen = 0;
  ke_rc k;
  int rc;

  if (reuse)
    return agent_jset_str(up, "envelope", reuse);
  k =
    ke_envelope_seal(&env, &envlen, c->manifest->pub.fingerprint, &c->manifest->pub.commitments[0],
                     c->device_id, r->volume_id, r->secret, r->secret_len);
  if (k) {
    agent_err("volume %s: sealing failed: %s", r->volume_id, ke_rc_str(k));
    return AGENT_FAIL;
  }
  rc = b64_field(up, "envelope", env, envlen);
  free(env);
  return rc;
}

/* The pending upload of the request (NULL on failure, logged). */
static json_t *make_upload(agent_ctx *c, const agent_escrow_req *r, const char *reuse,
                           const char *ver_b64)
{
  json_t *up = json_object();
  char *sealed = NULL;

  if (!up) {
    agent_err("out of memory");
    return NULL;
  }
  if (put_envelope(c, r, up, reuse) || agent_jset_str(up, "verifier", ver_b64) ||
      agent_jset_str(up, "key_type", r->key_type) || agent_jset_str(up, "key_id", r->key_id) ||
      agent_jset_str(up, "escrow_fingerprint", c->fpr_hex) ||
      (r->keep && (agent_local_seal(c, r->volume_id, r->secret, r->secret_len, &sealed) ||
                   agent_jset_str(up, "secret", sealed))) ||
      (r->extra && agent_jset(up, "extra", json_deep_copy(r->extra)))) {
    json_decref(up);
    up = NULL;
  }
  free(sealed);
  return up;
}

int agent_escrow(agent_ctx *c, const agent_escrow_req *r)
{
  char *ver_b64;
  json_t *vol, *up, *old_up;
  const char *reuse = NULL;
  int rc;

  if ((rc = req_check(r)))
    return rc;
  if (!(ver_b64 = upload_verifier(c, r))) {
    agent_err("volume %s: cannot compute the verifier", r->volume_id);
    return AGENT_FAIL;
  }
  rc = AGENT_FAIL;
  if (!(vol = agent_volume_make(c, r->volume_id, r->provider)) ||
      agent_jset_str(vol, "provider", r->provider))
    goto out;
  /* The same secret under the same escrow key: send the envelope already
   * pending or stored, so the server answers with the record it has. */
  old_up = json_object_get(vol, "upload");
  if (r->fresh)
    reuse = NULL;
  else if (old_up && same_upload(c, old_up, ver_b64))
    reuse = agent_vol_read(old_up).envelope;
  else if (agent_vol_read(vol).record_id && same_upload(c, vol, ver_b64))
    reuse = agent_vol_read(vol).envelope;
  if (!(up = make_upload(c, r, reuse, ver_b64)) || agent_jset(vol, "upload", up))
    goto out;
  /* Durable before the first byte leaves: see agent_escrow.h. */
  if (!(rc = agent_state_save(c)))
    rc = agent_escrow_resume(c, r->volume_id);
out:
  free(ver_b64);
  return rc;
}

/* Move the verified upload into the volume's record. */
static int record(json_t *vol, json_t *up, const char *record_id, json_int_t leaf,
                  const char *receipt, const char *sha_hex, const char *when)
{
  const char *k;
  json_t *v;
  char now[KE_TIME_LEN + 1];
  agent_vol u = agent_vol_read(up);

  agent_now(now);
  json_object_foreach (json_object_get(up, "extra"), k, v) {
    if (agent_jset(vol, k, json_deep_copy(v)))
      return AGENT_FAIL;
  }
  if (agent_jset_str(vol, "record_id", record_id) || agent_jset_int(vol, "leaf_index", leaf) ||
      agent_jset_str(vol, "receipt", receipt) || agent_jset_str(vol, "escrowed", when) ||
      agent_jset_str(vol, "envelope", u.envelope) ||
      agent_jset_str(vol, "envelope_sha256", sha_hex) ||
      agent_jset_str(vol, "verifier", u.verifier) || agent_jset_str(vol, "key_type", u.key_type) ||
      agent_jset_str(vol, "key_id", u.key_id) ||
      agent_jset_str(vol, "escrow_fingerprint", u.escrow_fingerprint) ||
      agent_jset_str(vol, "secret", u.secret) || agent_jset_str(vol, "last_verified", now))
    return AGENT_FAIL;
  /* A new record sealed to the key in use answers an escrow key change. */
  u = agent_vol_read(vol);
  if (u.rotate && !strcmp(u.rotate, "escrow_key_changed"))
    json_object_del(vol, "rotate");
  /* Results of earlier check-ins were about the previous record. */
  json_object_del(vol, "verifier_match");
  json_object_del(vol, "unlock_check");
  json_object_del(vol, "upload");
  return AGENT_OK;
}

/* The server's answer to an escrow; members it may add later are its own. */
typedef struct escrow_answer {
  const char *record_id, *receipt, *escrow_event;
  int64_t leaf_index;
} escrow_answer;
static const struct ke_jfield answer_fields[] = {
  KE_JF_STR(escrow_answer, record_id, 1, AGENT_ID_MAX, agent_record_id_valid, NULL),
  KE_JF_STR(escrow_answer, receipt, 0, INT64_MAX, NULL, NULL),
  KE_JF_INT(escrow_answer, leaf_index, 0, INT64_MAX, NULL),
  KE_JF_STR(escrow_answer, escrow_event, 0, INT64_MAX, NULL, NULL), KE_JF_END};
static const struct ke_jspec answer_spec = KE_JSPEC(escrow_answer, answer_fields, KE_JS_OPEN);

int agent_escrow_resume(agent_ctx *c, const char *volume_id)
{
  json_t *vol = agent_volume(c, volume_id), *up = json_object_get(vol, "upload");
  json_t *body = NULL;
  agent_vol u = agent_vol_read(up);
  uint8_t *env = NULL, sig[AGENT_SIG_LEN], hash[32];
  size_t envlen = 0;
  char sha_hex[65], target[300], what[200], when[KE_TIME_LEN + 1];
  char *sig_b64 = NULL;
  ke_envelope parsed;
  agent_reply rep = {0};
  escrow_answer a;
  int rc = AGENT_FAIL;

  if (!up)
    return AGENT_OK;
  if (!u.envelope || !u.verifier || ke_b64url_decode(&env, &envlen, u.envelope, 0) != KE_OK ||
      ke_envelope_parse(&parsed, env, envlen) != KE_OK) {
    agent_err("volume %s: the pending upload in the state is damaged; escrow the volume "
              "again",
              volume_id);
    goto out;
  }
  if (EVP_Digest(env, envlen, hash, NULL, EVP_sha256(), NULL) != 1 ||
      agent_sign_envelope(c->key, env, envlen, c->device_id, volume_id, sig) != KE_OK ||
      !(sig_b64 = ke_b64url_encode(sig, sizeof sig))) {
    agent_err("volume %s: cannot sign the envelope", volume_id);
    goto out;
  }
  ke_hex_encode(sha_hex, hash, sizeof hash);
  body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "envelope", u.envelope, "verifier", u.verifier,
                   "signature", sig_b64, "key_type", u.key_type ? u.key_type : "other", "key_id",
                   u.key_id ? u.key_id : volume_id);
  if (!body) {
    agent_err("out of memory");
    goto out;
  }
  snprintf(target, sizeof target, "/v1/devices/%s/keys/%s", c->device_id, volume_id);
  snprintf(what, sizeof what, "escrow of volume %s", volume_id);
  rc = agent_http_call(c->http, c->key, c->device_id, "PUT", target, body, what, &rep);
  if (rc) {
    agent_err("volume %s is NOT escrowed; the upload stays pending and the next run or "
              "check-in sends it again",
              volume_id);
    goto out;
  }
  agent_crash_point("after-upload");
  if (ke_json_spec_parse(rep.json, &answer_spec, &a, NULL)) {
    agent_err("volume %s: the server's answer lacks a valid record_id, leaf_index, "
              "receipt or escrow_event; the key is NOT counted as escrowed",
              volume_id);
    rc = AGENT_BADANSWER;
    goto out;
  }
  if ((rc = agent_receipt_check(&c->logkey, a.receipt, c->device_id, volume_id, a.record_id,
                                sha_hex, a.leaf_index, when)) ||
      (rc = agent_logview_check(c, volume_id, a.record_id, sha_hex, a.leaf_index, a.escrow_event)))
    goto out;
  if ((rc = record(vol, up, a.record_id, a.leaf_index, a.receipt, sha_hex, when)) ||
      (rc = agent_state_save(c)))
    goto out;
  agent_info("volume %s escrowed: record %s (%s), audit leaf %lld, receipt verified, "
             "event proven in the log",
             volume_id, a.record_id, rep.status == 201 ? "new" : "already stored",
             (long long)a.leaf_index);
out:
  agent_reply_free(&rep);
  json_decref(body);
  free(env);
  free(sig_b64);
  return rc;
}
