/*
 * escrow-agent status - tell a person (or monitoring, with --json) whether
 * every volume is escrowed and verified, and when.
 *
 * A volume is OK when its record has a receipt that verifies now against the
 * pinned log key, it is sealed to the escrow key in use, nothing is pending
 * (upload, rotation, unfinished keyslot work), the last check-in found no
 * mismatch and no failed unlock check, and it was verified (receipt or
 * check-in) within two check-in intervals.  Reads only; takes no lock.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_cmd.h"
#include "agent_escrow.h"
#include "agent_state.h"

const char agent_usage_status[] =
  "usage: escrow-agent status [--json]\n"
  "\n"
  "One line per volume: escrowed?, record id, when, last verified, audit leaf\n"
  "index and what needs attention.  Exit status 0 only if at least one volume\n"
  "exists and every volume is escrowed and verified; 6 otherwise.\n"
  "\n"
  "  --json   the same as a JSON object\n";

enum { O_JSON = 256 };

static int on_opt(void *ctx, int opt, const char *arg)
{
  (void)arg;
  if (opt != O_JSON)
    return AGENT_USAGE;
  *(int *)ctx = 1;
  return AGENT_OK;
}

/* Append one problem to the volume's list. */
static int problem(json_t *list, const char *text)
{
  return json_array_append_new(list, json_string(text)) ? AGENT_FAIL : AGENT_OK;
}

static json_t *volume_report(agent_ctx *c, const char *vid, const json_t *vol,
                             long long max_age)
{
  json_t *probs = json_array(), *r;
  const char *rec = agent_jstr(vol, "record_id"), *receipt = agent_jstr(vol, "receipt");
  const char *sealed_to = agent_jstr(vol, "escrow_fingerprint");
  const char *unlock = agent_jstr(vol, "unlock_check"), *rot = agent_jstr(vol, "rotate");
  const json_t *pend = json_object_get(vol, "pending");
  long long verified = agent_time_parse(agent_jstr(vol, "last_verified"));
  char when[KE_TIME_LEN + 1], msg[160];
  int escrowed = 0, bad = !probs;

  if (rec && receipt) {
    escrowed = agent_receipt_check(&c->logkey, receipt, c->device_id, vid, rec,
                                   agent_jstr(vol, "envelope_sha256") ?
                                     agent_jstr(vol, "envelope_sha256") : "",
                                   agent_jint(vol, "leaf_index", -1), when) == AGENT_OK;
    if (!escrowed)
      bad |= problem(probs, "the stored receipt does not verify");
  } else {
    bad |= problem(probs, "not escrowed");
  }
  if (json_object_get(vol, "upload"))
    bad |= problem(probs, "upload pending (next check-in retries)");
  if (pend) {
    snprintf(msg, sizeof msg, "%s pending at step %s", agent_jstr(pend, "op") ?
             agent_jstr(pend, "op") : "operation", agent_jstr(pend, "step") ?
             agent_jstr(pend, "step") : "?");
    bad |= problem(probs, msg);
  }
  if (rot) {
    snprintf(msg, sizeof msg, "rotation requested (%s)", rot);
    bad |= problem(probs, msg);
  }
  if (escrowed && (!sealed_to || strcmp(sealed_to, c->fpr_hex) != 0))
    bad |= problem(probs, "sealed to an escrow key no longer in use");
  if (json_is_false(json_object_get(vol, "verifier_match")))
    bad |= problem(probs, "the server's record does not match the current key");
  if (unlock && !strcmp(unlock, "failed"))
    bad |= problem(probs, "the escrowed key no longer unlocks the volume");
  if (escrowed && (verified < 0 || (long long)time(NULL) - verified > max_age))
    bad |= problem(probs, "not verified recently (is the check-in timer running?)");
  r = json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:s?, s:s?, s:s?, s:O?, s:s?, s:o}",
                "volume_id", vid, "provider", agent_jstr(vol, "provider"), "key_type",
                agent_jstr(vol, "key_type"), "key_id", agent_jstr(vol, "key_id"), "escrowed",
                escrowed, "record_id", rec, "escrowed_at", agent_jstr(vol, "escrowed"),
                "last_verified", agent_jstr(vol, "last_verified"), "verifier_match",
                json_object_get(vol, "verifier_match"), "unlock_check", unlock, "problems",
                probs);
  if (r && json_object_get(vol, "leaf_index"))
    bad |= agent_jset_int(r, "leaf_index", agent_jint(vol, "leaf_index", -1));
  if (r && agent_jset(r, "ok", json_boolean(json_array_size(probs) == 0)))
    bad = 1;
  if (bad) {
    json_decref(r);
    return NULL;
  }
  return r;
}

static void print_table(const json_t *rep)
{
  size_t i;
  json_t *v;

  printf("device %s  server %s\nescrow key %s%s\nlast check-in %s\n\n",
         agent_jstr(rep, "device_id"), agent_jstr(rep, "server"),
         agent_jstr(rep, "escrow_fingerprint"),
         agent_jstr(rep, "unpinned") ? "  (server announces an UNPINNED key)" : "",
         agent_jstr(rep, "last_checkin") ? agent_jstr(rep, "last_checkin") : "never");
  printf("%-24s %-9s %-8s %-30s %-20s %-20s %7s  %s\n", "VOLUME", "PROVIDER", "ESCROWED",
         "RECORD", "WHEN", "LAST VERIFIED", "LEAF", "STATE");
  json_array_foreach(json_object_get(rep, "volumes"), i, v) {
    const json_t *probs = json_object_get(v, "problems");
    char leaf[24] = "-";
    if (json_object_get(v, "leaf_index"))
      snprintf(leaf, sizeof leaf, "%lld", (long long)agent_jint(v, "leaf_index", -1));
    printf("%-24s %-9s %-8s %-30s %-20s %-20s %7s  ", agent_jstr(v, "volume_id"),
           agent_jstr(v, "provider") ? agent_jstr(v, "provider") : "-",
           json_is_true(json_object_get(v, "escrowed")) ? "yes" : "NO",
           agent_jstr(v, "record_id") ? agent_jstr(v, "record_id") : "-",
           agent_jstr(v, "escrowed_at") ? agent_jstr(v, "escrowed_at") : "-",
           agent_jstr(v, "last_verified") ? agent_jstr(v, "last_verified") : "never", leaf);
    if (json_array_size(probs) == 0) {
      printf("ok\n");
    } else {
      size_t k;
      json_t *p;
      json_array_foreach(probs, k, p) {
        printf("%s%s", k ? "; " : "", json_string_value(p));
      }
      printf("\n");
    }
  }
  if (json_array_size(json_object_get(rep, "volumes")) == 0)
    printf("(no volume escrowed yet: run escrow-agent escrow or escrow-agent luks add)\n");
}

int agent_cmd_status(const ke_cli_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, 0, O_JSON },
    AGENT_COMMON_OPTIONS,
    { 0, 0, 0, 0 },
  };
  agent_common common;
  agent_ctx c;
  int as_json = 0, rc, all_ok = 1;
  json_t *rep = NULL, *vols, *vol;
  const char *vid;
  long long interval;

  agent_common_init(&common);
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, on_opt, &as_json)))
    return rc;
  if ((rc = agent_ctx_open(&c, &common, AGENT_OPEN_READONLY)))
    goto out;
  interval = (long long)agent_jint(c.st, "checkin_interval", 86400);
  rep = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:[]}", "device_id", c.device_id, "server",
                  agent_jstr(c.st, "server"), "escrow_fingerprint", c.fpr_hex, "last_checkin",
                  agent_jstr(c.st, "last_checkin"), "unpinned", agent_jstr(c.st, "unpinned"),
                  "volumes");
  if (!rep)
    goto oom;
  vols = json_object_get(rep, "volumes");
  json_object_foreach(json_object_get(c.st, "volumes"), vid, vol) {
    json_t *r = volume_report(&c, vid, vol, 2 * interval);
    if (!r || json_array_append_new(vols, r) != 0)
      goto oom;
    all_ok &= json_is_true(json_object_get(r, "ok"));
  }
  all_ok &= json_array_size(vols) > 0 && !agent_jstr(c.st, "unpinned");
  if (agent_jset(rep, "ok", json_boolean(all_ok)))
    goto oom;
  if (as_json) {
    char *s = json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
      goto oom;
    printf("%s\n", s);
    free(s);
  } else {
    print_table(rep);
  }
  rc = all_ok ? AGENT_OK : AGENT_ATTENTION;
  goto out;
oom:
  agent_err("out of memory");
  rc = AGENT_FAIL;
out:
  json_decref(rep);
  agent_ctx_close(&c);
  return rc;
}
