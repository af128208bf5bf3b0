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

/* The volume's line of the table. */
static void print_row(const char *vid, const json_t *vol, const agent_vol *v, int escrowed,
                      const json_t *probs)
{
  char leaf[24] = "-";
  size_t k;
  json_t *p;

  if (json_object_get(vol, "leaf_index"))
    snprintf(leaf, sizeof leaf, "%lld", (long long)v->leaf_index);
  printf("%-24s %-9s %-8s %-30s %-20s %-20s %7s  ", vid, v->provider ?: "-",
         escrowed ? "yes" : "NO", v->record_id ?: "-", v->escrowed ?: "-",
         v->last_verified ?: "never", leaf);
  json_array_foreach (probs, k, p)
    printf("%s%s", k ? "; " : "", json_string_value(p));
  printf("%s\n", json_array_size(probs) ? "" : "ok");
}

static json_t *volume_report(agent_ctx *c, const char *vid, const json_t *vol, long long max_age,
                             int table)
{
  json_t *probs = json_array(), *r;
  agent_vol v = agent_vol_read(vol);
  const json_t *pend = json_object_get(vol, "pending");
  agent_pend pd = agent_pend_read(pend);
  long long verified = agent_time_parse(v.last_verified);
  char when[KE_TIME_LEN + 1], msg[160];
  int escrowed = 0, bad = !probs;

  if (v.record_id && v.receipt) {
    escrowed = agent_receipt_check(&c->logkey, v.receipt, c->device_id, vid, v.record_id,
                                   v.envelope_sha256 ?: "", v.leaf_index, when) == AGENT_OK;
    if (!escrowed)
      bad |= problem(probs, "the stored receipt does not verify");
  } else {
    bad |= problem(probs, "not escrowed");
  }
  if (json_object_get(vol, "upload"))
    bad |= problem(probs, "upload pending (next check-in retries)");
  if (pend) {
    snprintf(msg, sizeof msg, "%s pending at step %s", pd.op ?: "operation", pd.step ?: "?");
    bad |= problem(probs, msg);
  }
  if (v.rotate) {
    snprintf(msg, sizeof msg, "rotation requested (%s)", v.rotate);
    bad |= problem(probs, msg);
  }
  if (escrowed && (!v.escrow_fingerprint || strcmp(v.escrow_fingerprint, c->fpr_hex) != 0))
    bad |= problem(probs, "sealed to an escrow key no longer in use");
  if (json_is_false(json_object_get(vol, "verifier_match")))
    bad |= problem(probs, "the server's record does not match the current key");
  if (v.unlock_check && !strcmp(v.unlock_check, "failed"))
    bad |= problem(probs, "the escrowed key no longer unlocks the volume");
  if (escrowed && (verified < 0 || (long long)time(NULL) - verified > max_age))
    bad |= problem(probs, "not verified recently (is the check-in timer running?)");
  r = json_pack("{s:s, s:s?, s:s?, s:s?, s:b, s:s?, s:s?, s:s?, s:O?, s:s?, s:o}", "volume_id", vid,
                "provider", v.provider, "key_type", v.key_type, "key_id", v.key_id, "escrowed",
                escrowed, "record_id", v.record_id, "escrowed_at", v.escrowed, "last_verified",
                v.last_verified, "verifier_match", json_object_get(vol, "verifier_match"),
                "unlock_check", v.unlock_check, "problems", probs);
  if (r && json_object_get(vol, "leaf_index"))
    bad |= agent_jset_int(r, "leaf_index", v.leaf_index);
  if (r && agent_jset(r, "ok", json_boolean(json_array_size(probs) == 0)))
    bad = 1;
  if (bad) {
    json_decref(r);
    return NULL;
  }
  if (table)
    print_row(vid, vol, &v, escrowed, probs);
  return r;
}

int agent_cmd_status(const ke_cli_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"json", no_argument, 0, O_JSON},
    AGENT_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  agent_common common;
  agent_ctx c;
  int as_json = 0, rc, all_ok = 1;
  json_t *rep = NULL, *vols, *vol;
  const char *vid;
  agent_st s;
  long long interval;

  agent_common_init(&common);
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, on_opt, &as_json)))
    return rc;
  if ((rc = agent_ctx_open(&c, &common, AGENT_OPEN_READONLY)))
    goto out;
  ke_json_spec_parse(c.st, &agent_st_spec, &s, NULL);
  interval = (long long)s.checkin_interval;
  rep = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:[]}", "device_id", c.device_id, "server", s.server,
                  "escrow_fingerprint", c.fpr_hex, "last_checkin", s.last_checkin, "unpinned",
                  s.unpinned, "volumes");
  if (!rep)
    goto oom;
  if (!as_json)
    printf("device %s  server %s\nescrow key %s%s\nlast check-in %s\n\n%-24s %-9s %-8s %-30s "
           "%-20s %-20s %7s  %s\n",
           c.device_id, s.server, c.fpr_hex,
           s.unpinned ? "  (server announces an UNPINNED key)" : "", s.last_checkin ?: "never",
           "VOLUME", "PROVIDER", "ESCROWED", "RECORD", "WHEN", "LAST VERIFIED", "LEAF", "STATE");
  vols = json_object_get(rep, "volumes");
  json_object_foreach (json_object_get(c.st, "volumes"), vid, vol) {
    json_t *r = volume_report(&c, vid, vol, 2 * interval, !as_json);
    if (!r || json_array_append_new(vols, r) != 0)
      goto oom;
    all_ok &= json_is_true(json_object_get(r, "ok"));
  }
  all_ok &= json_array_size(vols) > 0 && !s.unpinned;
  if (agent_jset(rep, "ok", json_boolean(all_ok)))
    goto oom;
  if (as_json) {
    char *text = json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text)
      goto oom;
    printf("%s\n", text);
    free(text);
  } else if (json_array_size(vols) == 0) {
    printf("(no volume escrowed yet: run escrow-agent escrow or escrow-agent luks add)\n");
  }
  rc = all_ok ? AGENT_OK : AGENT_ATTENTION;
  goto out;
oom:
  rc = agent_oom();
out:
  json_decref(rep);
  agent_ctx_close(&c);
  return rc;
}
