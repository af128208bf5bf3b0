/*
 * escrow-agent checkin - the daily timer (agent-protocol section 5).
 *
 *  1. finish whatever an interrupted run left pending (rotations, uploads);
 *  2. per volume, read the current key from its provider, recompute the
 *     verifier and (where the provider can) prove that the escrowed key still
 *     unlocks the volume;
 *  3. send that to the server, record its verdicts;
 *  4. adopt an announced escrow key only if its fingerprint is pinned here;
 *  5. re-escrow a volume whose key drifted, whose verifier the server does
 *     not match, or that is sealed to an older escrow key; rotate a volume
 *     the server asks to (disclosed or requested).
 * A volume the agent cannot fix alone (a stdin secret, an unpinned key, a
 * failed unlock check) makes the exit status 6, and the log says what an
 * operator has to do.
 */
#include <stdlib.h>
#include <string.h>

#include "agent_cmd.h"
#include "agent_logview.h"
#include "agent_provider.h"
#include "agent_state.h"
#include "ke_util.h"

const char agent_usage_checkin[] =
  "usage: escrow-agent checkin\n"
  "\n"
  "Run daily by escrow-agent.timer.  Finishes interrupted rotations and uploads,\n"
  "recomputes each volume's verifier from its current key, checks that the\n"
  "escrowed key still unlocks the volume (LUKS keyslot check, FileVault\n"
  "validaterecovery, BitLocker protector present), reports to the server,\n"
  "re-escrows on drift or a new pinned escrow key, and rotates when the server\n"
  "asks (the key was disclosed, or an administrator requested it).\n";

#define MAX_VOLUMES 64

typedef struct vol_check {
  const char *volume_id;
  agent_secret cur;
  const char *unlock;
  int drift; /* the provider's key is not the escrowed one */
} vol_check;

static int worse(int rc, int now)
{
  /* Keep the first real failure; attention only if nothing failed. */
  if (rc && rc != AGENT_ATTENTION)
    return rc;
  return now ? now : rc;
}

/* The verifier of the current key in the form of the volume's record (v1,
 * or v2 with the record's salt and parameters), so that the server
 * compares like with like.  A record without a readable verifier is
 * compared as v1, and then mismatches. */
static ke_rc checkin_verifier(uint8_t out[KE_VERIFIER_MAX], size_t *len, agent_ctx *c,
                              const char *vid, const json_t *vol, const agent_secret *cur)
{
  uint8_t st[KE_VERIFIER_MAX];
  size_t sl = 0;
  const char *ver = agent_vol_read(vol).verifier;

  if (ver && ke_verifier_decode(st, &sl, ver) == KE_OK)
    return ke_verifier_like(out, len, st, sl, cur->p, cur->len, c->device_id, vid);
  *len = KE_VERIFIER_V1_LEN;
  return ke_verifier(out, cur->p, cur->len, c->device_id, vid);
}

static int collect(agent_ctx *c, vol_check *vc, size_t *n, json_t *arr)
{
  const char *vid;
  json_t *vol;
  int rc = AGENT_OK;

  *n = 0;
  json_object_foreach (json_object_get(c->st, "volumes"), vid, vol) {
    agent_vol vs = agent_vol_read(vol);
    const agent_provider *p = agent_provider_find(vs.provider);
    vol_check *v = &vc[*n];
    json_t *e;

    if (!vs.record_id)
      continue; /* never escrowed: nothing to check in */
    if (*n == MAX_VOLUMES) {
      agent_warn("more than %d volumes; checking in the first %d", MAX_VOLUMES, MAX_VOLUMES);
      break;
    }
    memset(v, 0, sizeof *v);
    v->volume_id = vid;
    v->unlock = "unsupported";
    if (!p) {
      agent_err("volume %s: unknown provider in the state", vid);
      rc = worse(rc, AGENT_FAIL);
    } else if (p->current(c, NULL, vid, vol, &v->cur)) {
      agent_err("volume %s: cannot read its current key; reporting the unlock check as "
                "failed",
                vid);
      v->unlock = "failed";
      rc = worse(rc, AGENT_ATTENTION);
    } else if (v->cur.p) {
      v->unlock = p->unlock_check(c, vid, vol, &v->cur);
    }
    e = json_pack("{s:s, s:s, s:s}", "volume_id", vid, "record_id", vs.record_id, "unlock_check",
                  v->unlock);
    if (!e || json_array_append_new(arr, e) != 0)
      return agent_oom();
    if (v->cur.p) {
      uint8_t ver[KE_VERIFIER_MAX];
      size_t vl = 0;
      char *b64 = NULL;
      if (checkin_verifier(ver, &vl, c, vid, vol, &v->cur) != KE_OK ||
          !(b64 = ke_b64url_encode(ver, vl)) || agent_jset_str(e, "verifier", b64)) {
        free(b64);
        agent_err("volume %s: cannot compute the verifier", vid);
        return AGENT_FAIL;
      }
      v->drift = !vs.verifier || strcmp(b64, vs.verifier) != 0;
      if (v->drift)
        agent_warn("volume %s: the current key (%s) is not the escrowed one; re-escrowing it", vid,
                   v->cur.key_id);
      free(b64);
    }
    if (agent_jset_str(vol, "unlock_check", v->unlock))
      return AGENT_FAIL;
    if (!strcmp(v->unlock, "failed")) {
      agent_err("volume %s: the escrowed key does NOT unlock the volume any more", vid);
      /* Drift with a readable current key is fixed below by re-escrowing
       * it; otherwise an operator has to look. */
      if (!(v->drift && v->cur.p))
        rc = worse(rc, AGENT_ATTENTION);
    }
    (*n)++;
  }
  return rc;
}

/* The escrow key part of the answer. */
static int escrow_key_answer(agent_ctx *c, const json_t *ans)
{
  const char *fpr = json_string_value(json_object_get(ans, "escrow_fingerprint"));
  const json_t *man = json_object_get(ans, "escrow_key");
  int rc;

  if (!fpr || strlen(fpr) != 2 * KE_FPR_LEN) {
    agent_err("the check-in answer has no valid escrow_fingerprint");
    return AGENT_BADANSWER;
  }
  if (strcmp(fpr, c->fpr_hex) == 0) {
    json_object_del(c->st, "unpinned");
    return AGENT_OK;
  }
  if (!agent_fpr_pinned(c, fpr)) {
    agent_err("the server announces escrow key %s, which is NOT pinned on this device: the "
              "agent keeps sealing to %s. If the new key is genuine, pin it: escrow-agent pin "
              "--escrow-fingerprint %s",
              fpr, c->fpr_hex, fpr);
    if (agent_jset_str(c->st, "unpinned", fpr))
      return AGENT_FAIL;
    return AGENT_ATTENTION;
  }
  if (!json_is_object(man)) {
    agent_warn("the server announces escrow key %s but sent no manifest; keeping %s for now", fpr,
               c->fpr_hex);
    return AGENT_OK;
  }
  if ((rc = agent_adopt_manifest(c, man)))
    return rc;
  if (strcmp(c->fpr_hex, fpr) != 0) {
    agent_err("the announced manifest has fingerprint %s, not the announced %s", c->fpr_hex, fpr);
    return AGENT_BADANSWER;
  }
  json_object_del(c->st, "unpinned");
  agent_info("now sealing to the pinned escrow key %s", fpr);
  return AGENT_OK;
}

static int apply_answer(agent_ctx *c, const json_t *ans)
{
  size_t i;
  const char *k;
  json_t *e;
  char now[KE_TIME_LEN + 1];
  json_int_t interval = json_integer_value(json_object_get(ans, "checkin_interval"));

  agent_now(now);
  if (interval >= 60 && interval <= 30 * 86400 &&
      agent_jset_int(c->st, "checkin_interval", interval))
    return AGENT_FAIL;
  json_array_foreach (json_object_get(ans, "volumes"), i, e) {
    const char *vid = json_string_value(json_object_get(e, "volume_id"));
    json_t *vol = agent_volume(c, vid), *m = json_object_get(e, "verifier_match");
    if (!vol)
      continue;
    if (agent_jset_str(vol, "last_checked", now) ||
        (json_is_boolean(m) && agent_jset(vol, "verifier_match", json_boolean(json_is_true(m)))))
      return AGENT_FAIL;
    /* true: the server's record is the device's current key.  null: the
     * volume sent no verifier (stdin) and the server confirms that the
     * record is its current one, which is all that can be verified. */
    if (json_is_null(m))
      json_object_del(vol, "verifier_match");
    if ((json_is_true(m) || json_is_null(m)) &&
        strcmp(agent_vol_read(vol).unlock_check ?: "", "failed") != 0 &&
        agent_jset_str(vol, "last_verified", now))
      return AGENT_FAIL;
    if (json_is_false(m))
      agent_warn("volume %s: the server's record does not match the current key; "
                 "re-escrowing",
                 vid);
  }
  /* The answer's rotate list is the server's whole wish list: a request it
   * no longer makes (the record was replaced meanwhile) is dropped.
   * Interrupted rotations are not lost by this: they live in "pending". */
  json_object_foreach (json_object_get(c->st, "volumes"), k, e)
    json_object_del(e, "rotate");
  json_array_foreach (json_object_get(ans, "rotate"), i, e) {
    const char *vid = json_string_value(json_object_get(e, "volume_id"));
    const char *reason = json_string_value(json_object_get(e, "reason"));
    json_t *vol = agent_volume(c, vid);
    if (!vol || !reason ||
        (strcmp(reason, "disclosed") && strcmp(reason, "requested") &&
         strcmp(reason, "escrow_key_changed"))) {
      agent_warn("ignoring a rotate request for an unknown volume or reason");
      continue;
    }
    agent_info("volume %s: the server asks for rotation (%s)", vid, reason);
    if (agent_jset_str(vol, "rotate", reason))
      return AGENT_FAIL;
  }
  return AGENT_OK;
}

/* Rotate, re-escrow or report one volume after the answer. */
static int act(agent_ctx *c, vol_check *v, int unpinned)
{
  json_t *vol = agent_volume(c, v->volume_id);
  agent_vol vs = agent_vol_read(vol);
  const agent_provider *p = agent_provider_find(vs.provider);
  const char *rot = vs.rotate;
  int old_key = !vs.escrow_fingerprint || strcmp(vs.escrow_fingerprint, c->fpr_hex) != 0;
  int mismatch = json_is_false(json_object_get(vol, "verifier_match"));
  agent_escrow_req r;
  int rc;

  if (!p)
    return AGENT_FAIL;
  if (rot && strcmp(rot, "escrow_key_changed") != 0) {
    if (!p->rotate) {
      agent_err("volume %s must be rotated (%s), which needs an operator: change the secret, "
                "then run escrow-agent escrow --provider %s --volume %s",
                v->volume_id, rot, p->name, v->volume_id);
      return AGENT_ATTENTION;
    }
    return p->rotate(c, v->volume_id, rot);
  }
  if (rot && !old_key && unpinned)
    return AGENT_ATTENTION; /* waits for the pin; already logged */
  if (!(v->drift || mismatch || old_key || rot))
    return AGENT_OK;
  if (!v->cur.p) {
    agent_err("volume %s must be escrowed again (%s), which needs an operator: run "
              "escrow-agent escrow --provider %s --volume %s",
              v->volume_id, old_key || rot ? "new escrow key" : "record mismatch", p->name,
              v->volume_id);
    return AGENT_ATTENTION;
  }
  agent_provider_req(&r, p, &v->cur, 0);
  r.fresh = mismatch;
  if ((rc = agent_escrow(c, &r)))
    return rc;
  json_object_del(vol, "rotate");
  return agent_state_save(c);
}

int agent_cmd_checkin(const ke_cli_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    AGENT_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  agent_common common;
  agent_ctx c;
  vol_check *vc = NULL;
  size_t n = 0;
  json_t *body = NULL, *arr;
  agent_reply rep = {0};
  const char *vid;
  json_t *vol;
  char target[200], now[KE_TIME_LEN + 1];
  agent_st st;
  int rc, result = AGENT_OK;

  agent_common_init(&common);
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, NULL, NULL)))
    return rc;
  if ((rc = agent_ctx_open(&c, &common, AGENT_OPEN_NET)))
    goto out;
  /* 1. Interrupted work first, so that what is reported is current. */
  json_object_foreach (json_object_get(c.st, "volumes"), vid, vol) {
    const agent_provider *p = agent_provider_find(agent_vol_read(vol).provider);
    json_t *pend = json_object_get(vol, "pending");
    /* A pending rotation is finished by rotating on (stdin has none). */
    if (p && p->rotate && pend)
      result = worse(result, p->rotate(&c, vid, agent_pend_read(pend).reason));
    if (json_object_get(agent_volume(&c, vid), "upload"))
      result = worse(result, agent_escrow_resume(&c, vid));
  }
  /* 2. and 3. */
  if (!(vc = calloc(MAX_VOLUMES, sizeof *vc)) || !(arr = json_array()) ||
      !(body = json_pack("{s:s, s:o}", "agent_version", KE_VERSION, "volumes", arr))) {
    rc = agent_oom();
    goto out;
  }
  result = worse(result, collect(&c, vc, &n, arr));
  ke_json_spec_parse(c.st, &agent_st_spec, &st, NULL);
  if (st.unpinned && agent_jset_str(body, "escrow_key", "unpinned")) {
    rc = AGENT_FAIL;
    goto out;
  }
  snprintf(target, sizeof target, "/v1/devices/%s/checkin", c.device_id);
  if ((rc = agent_http_call(c.http, c.key, c.device_id, "POST", target, body, "check-in", &rep)))
    goto out;
  agent_now(now);
  if ((rc = agent_jset_str(c.st, "last_checkin", now)) || (rc = apply_answer(&c, rep.json)))
    goto out;
  /* 4. (and the log still extends the checkpoint saved: agent_logview.h) */
  result = worse(result, escrow_key_answer(&c, rep.json));
  result = worse(result, agent_logview_check(&c, NULL, NULL, NULL, -1, NULL));
  if ((rc = agent_state_save(&c)))
    goto out;
  /* 5. */
  ke_json_spec_parse(c.st, &agent_st_spec, &st, NULL); /* the answer may have changed it */
  for (size_t i = 0; i < n; i++)
    result = worse(result, act(&c, &vc[i], st.unpinned != NULL));
  rc = result;
  if (!rc)
    agent_info("check-in done: %zu volume%s verified", n, n == 1 ? "" : "s");
out:
  for (size_t i = 0; vc && i < n; i++)
    agent_secret_free(&vc[i].cur);
  free(vc);
  json_decref(body);
  agent_reply_free(&rep);
  agent_ctx_close(&c);
  return rc;
}
