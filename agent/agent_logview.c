/*
 * agent_logview.c - the saved checkpoint and the proofs against it (see
 * agent_logview.h).
 */
#include "agent_logview.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ke_merkle.h"
#include "ke_note.h"

/* GET a public audit route; *path parsed from ans[key]. */
static int get_path(agent_ctx *c, const char *target, const char *key, ke_merkle_path *p)
{
  agent_reply rep = {0};
  int rc = agent_http_call(c->http, c->key, c->device_id, "GET", target, NULL, "audit proof", &rep);

  if (!rc && ke_note_path_decode(p, json_object_get(rep.json, key)) != KE_OK) {
    agent_err("the server's %s is malformed", key);
    rc = AGENT_BADANSWER;
  }
  agent_reply_free(&rep);
  return rc;
}

static int forked(const char *why, uint64_t got, uint64_t saved)
{
  agent_err("FORKED LOG VIEW: the server's checkpoint (tree size %llu) %s the one this agent "
            "saved (tree size %llu); refusing, and the escrow is NOT counted",
            (unsigned long long)got, why, (unsigned long long)saved);
  return AGENT_BADANSWER;
}

/* cp extends the saved checkpoint (if any). */
static int extends(agent_ctx *c, const ke_note_checkpoint *cp, int *newer)
{
  agent_st st;
  const char *text;
  ke_note_checkpoint saved;
  ke_merkle_path *p;
  char target[128];
  int rc;

  ke_json_spec_parse(c->st, &agent_st_spec, &st, NULL);
  text = st.audit_checkpoint;
  *newer = 1;
  if (!text)
    return AGENT_OK;
  if (ke_note_checkpoint_open(&c->logkey, text, strlen(text), &saved) != KE_OK) {
    agent_err("the saved audit checkpoint in the state does not verify with the pinned log "
              "key; the state is damaged");
    return AGENT_FAIL;
  }
  *newer = cp->size > saved.size;
  if (cp->size < saved.size)
    return forked("is older than (rolled back or forked from)", cp->size, saved.size);
  if (cp->size == saved.size)
    return CRYPTO_memcmp(cp->root, saved.root, KE_MERKLE_HASH_LEN) == 0
             ? AGENT_OK
             : forked("has another root than", cp->size, saved.size);
  if (saved.size == 0)
    return AGENT_OK;
  if (!(p = calloc(1, sizeof *p)))
    return AGENT_FAIL;
  snprintf(target, sizeof target, "/v1/audit/proof/consistency?from=%llu&to=%llu",
           (unsigned long long)saved.size, (unsigned long long)cp->size);
  rc = get_path(c, target, "consistency_path", p);
  if (!rc && ke_merkle_verify_consistency(saved.size, cp->size, saved.root, cp->root, p) != KE_OK)
    rc = forked("is not consistent with", cp->size, saved.size);
  free(p);
  return rc;
}

/* The event names this escrow (the server's own words for it). */
static int event_ok(agent_ctx *c, const char *volume_id, const char *record_id, const char *sha_hex,
                    const char *event)
{
  json_error_t je;
  json_t *ev = json_loads(event, JSON_REJECT_DUPLICATES, &je), *d = json_object_get(ev, "details");
  char obj[160];
  const char *want[] = {"action", "escrow.store", "object",          obj,    "device", c->device_id,
                        "volume", volume_id,      "envelope_sha256", sha_hex};
  int ok = ev != NULL;

  snprintf(obj, sizeof obj, "record:%s", record_id);
  for (int i = 0; ok && i < 10; i += 2) /* action and object, then the details */
    ok = !strcmp(json_string_value(json_object_get(i < 4 ? ev : d, want[i])) ?: "", want[i + 1]);
  json_decref(ev);
  if (!ok)
    agent_err("volume %s: the audit event the server answered is not this escrow; the key is "
              "NOT counted as escrowed",
              volume_id);
  return ok ? AGENT_OK : AGENT_BADANSWER;
}

static int included(agent_ctx *c, const ke_note_checkpoint *cp, const char *volume_id,
                    json_int_t leaf, const char *event)
{
  uint8_t lh[KE_MERKLE_HASH_LEN];
  ke_merkle_path *p;
  char target[160];
  int rc;

  if (leaf < 0 || (uint64_t)leaf >= cp->size) {
    agent_err("volume %s: the escrow event (leaf %lld) is not in the server's signed "
              "checkpoint (tree size %llu); the key is NOT counted as escrowed",
              volume_id, (long long)leaf, (unsigned long long)cp->size);
    return AGENT_BADANSWER;
  }
  if (!(p = calloc(1, sizeof *p)))
    return AGENT_FAIL;
  snprintf(target, sizeof target, "/v1/audit/proof/inclusion?index=%lld&size=%llu", (long long)leaf,
           (unsigned long long)cp->size);
  rc = get_path(c, target, "inclusion_path", p);
  if (!rc && (ke_merkle_leaf_hash(lh, event, strlen(event)) != KE_OK ||
              ke_merkle_verify_inclusion(lh, (uint64_t)leaf, cp->size, p, cp->root) != KE_OK)) {
    agent_err("volume %s: the escrow event's inclusion proof does not verify against the "
              "signed checkpoint (tree size %llu); the key is NOT counted as escrowed",
              volume_id, (unsigned long long)cp->size);
    rc = AGENT_BADANSWER;
  }
  free(p);
  return rc;
}

/* The server's checkpoint (fresh: one signed now), verified; its note is
 * in rep. */
static int get_checkpoint(agent_ctx *c, int fresh, agent_reply *rep, ke_note_checkpoint *cp)
{
  const char *note;
  int rc;

  agent_reply_free(rep);
  if ((rc = agent_http_call(c->http, c->key, c->device_id, "GET",
                            fresh ? "/v1/audit/checkpoint?fresh=1" : "/v1/audit/checkpoint", NULL,
                            "audit checkpoint", rep)))
    return rc;
  note = json_string_value(json_object_get(rep->json, "checkpoint"));
  if (!note || ke_note_checkpoint_open(&c->logkey, note, strlen(note), cp) != KE_OK) {
    agent_err("the server's audit checkpoint does not verify with the pinned log key %s",
              c->logkey.name);
    return AGENT_BADANSWER;
  }
  return AGENT_OK;
}

int agent_logview_check(agent_ctx *c, const char *volume_id, const char *record_id,
                        const char *sha_hex, json_int_t leaf, const char *event)
{
  agent_reply rep = {0};
  ke_note_checkpoint cp;
  int rc, newer = 0;

  if (event && (rc = event_ok(c, volume_id, record_id, sha_hex, event)))
    return rc;
  /* The latest checkpoint (signed every few seconds anyway) when it covers
   * the event: a fleet's check-ins do not each make the server sign one. */
  if ((rc = get_checkpoint(c, 0, &rep, &cp)) ||
      (event && leaf >= 0 && (uint64_t)leaf >= cp.size && (rc = get_checkpoint(c, 1, &rep, &cp))))
    goto out;
  if ((rc = extends(c, &cp, &newer)))
    goto out;
  if (event && (rc = included(c, &cp, volume_id, leaf, event)))
    goto out;
  if (newer)
    rc = agent_jset_str(c->st, "audit_checkpoint",
                        json_string_value(json_object_get(rep.json, "checkpoint")));
out:
  agent_reply_free(&rep);
  return rc;
}
