/*
 * ctl_evidence_check.c - the log checks of `report verify-evidence`
 * (ctl_evidence.h), on parsed files: every proof of proofs.json against the
 * bundle's checkpoint, and the reports' rows against the proven events.
 * Apart from reading files, so that tests/fuzz/fuzz_ctl_evidence.c can
 * feed it hostile JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl_evidence.h"
#include "ctl_util.h"
#include "ke_merkle.h"

/* The leaf (base64 in ev's "leaf") parsed, when it is entry `index` of
 * cp's tree by ev's "inclusion_path"; NULL otherwise. */
static json_t *proven(const json_t *ev, json_int_t index, const ke_note_checkpoint *cp)
{
  const char *b64 = ctl_jstr(ev, "leaf");
  uint8_t *leaf = NULL, lh[KE_MERKLE_HASH_LEN];
  ke_merkle_path *p = calloc(1, sizeof *p);
  json_t *j = NULL;
  size_t len = 0;

  if (p && b64 && index >= 0 && (leaf = malloc(strlen(b64) + 1)) &&
      ke_note_b64_decode(leaf, strlen(b64), &len, b64, strlen(b64)) == KE_OK &&
      ke_note_path_decode(p, json_object_get(ev, "inclusion_path")) == KE_OK &&
      ke_merkle_leaf_hash(lh, leaf, len) == KE_OK &&
      ke_merkle_verify_inclusion(lh, (uint64_t)index, cp->size, p, cp->root) == KE_OK)
    j = json_loadb((const char *)leaf, len, JSON_REJECT_DUPLICATES, NULL);
  free(p);
  free(leaf);
  return j;
}

static int same(const json_t *o, const char *key, const char *want)
{
  const char *v = ctl_jstr(o, key);
  return v && strcmp(v, want) == 0;
}

/* One event of proofs.json: a retrieval.create event of its retrieval, at
 * its leaf, in the checkpoint's tree. */
static int check_event(const json_t *ev, const ke_note_checkpoint *cp)
{
  const char *id = ctl_jstr(ev, "retrieval_id");
  json_int_t idx = json_integer_value(json_object_get(ev, "leaf_index"));
  json_t *j = id ? proven(ev, idx, cp) : NULL;
  char obj[200];
  int ok;

  snprintf(obj, sizeof obj, "retrieval:%s", id ? id : "");
  ok = j && same(j, "action", "retrieval.create") && same(j, "object", obj);
  json_decref(j);
  if (!ok)
    return ctl_err(CTL_FAIL,
                   "proofs.json: the event of retrieval %s at leaf %lld is not proven in the "
                   "checkpoint's log (tree size %llu)",
                   id ? id : "?", (long long)idx, (unsigned long long)cp->size);
  return CTL_OK;
}

/* drills.json against proofs.json's drill events: each event proven and
 * of a listed drill, each listed drill's drill.create among them. */
static int check_drills(const json_t *drills, const json_t *proofs, const ke_note_checkpoint *cp)
{
  const json_t *dl = json_object_get(drills, "drills"),
               *evs = json_object_get(proofs, "drill_events");
  json_t *created = json_object(), *listed = json_object(), *d, *e;
  size_t i;
  int bad = 0;

  if (!created || !listed) {
    json_decref(created);
    json_decref(listed);
    return ctl_oom();
  }
  json_array_foreach (dl, i, d)
    if (ctl_jstr(d, "id"))
      json_object_set_new(listed, ctl_jstr(d, "id"), json_true());
  json_array_foreach (evs, i, e) {
    const char *id = ctl_jstr(e, "drill_id"), *act = ctl_jstr(e, "action");
    json_int_t idx = json_integer_value(json_object_get(e, "leaf_index"));
    json_t *j = id && act ? proven(e, idx, cp) : NULL;
    char obj[200];
    snprintf(obj, sizeof obj, "drill:%s", id ? id : "");
    if (!j || !same(j, "action", act) || !same(j, "object", obj) || !json_object_get(listed, id)) {
      ctl_errf("proofs.json: the %s event of drill %s at leaf %lld is not proven in the log, or "
               "drills.json does not list the drill",
               act ? act : "?", id ? id : "?", (long long)idx);
      bad = 1;
    } else if (strcmp(act, "drill.create") == 0) {
      json_object_set_new(created, id, json_true());
    }
    json_decref(j);
  }
  json_array_foreach (dl, i, d) {
    const char *id = ctl_jstr(d, "id");
    if (!id || !json_object_get(created, id)) {
      ctl_errf("drills.json: drill %s (entry %zu) has no proven drill.create event in the log",
               id ? id : "?", i + 1);
      bad = 1;
    }
  }
  json_decref(created);
  json_decref(listed);
  if (!bad && json_array_size(dl))
    printf("%zu drill(s), each created in the log\n", json_array_size(dl));
  return bad ? CTL_FAIL : CTL_OK;
}

/* A report's own checkpoint: signed by the log key, the one its audit
 * section names, consistent with the bundle's; and its audit event
 * (report.<name>) at its leaf in the bundle's checkpoint. */
static int check_pin(const char *file, const json_t *rep, const json_t *pin,
                     const ke_note_verifier *vk, const ke_note_checkpoint *cp)
{
  const json_t *a = json_object_get(rep, "audit");
  const char *note = ctl_jstr(a, "checkpoint"), *root = ctl_jstr(a, "root");
  json_int_t idx = json_integer_value(json_object_get(a, "leaf_index"));
  char action[64], *r64 = NULL;
  ke_note_checkpoint rcp;
  ke_merkle_path *p = calloc(1, sizeof *p);
  json_t *ev = NULL;
  int ok;

  snprintf(action, sizeof action, "report.%.*s", (int)(strcspn(file, ".")), file);
  ok = p && note && root && ke_note_checkpoint_open(vk, note, strlen(note), &rcp) == KE_OK &&
       (long long)rcp.size == ctl_jint(a, "tree_size") &&
       (r64 = ke_note_b64_encode(rcp.root, sizeof rcp.root)) && strcmp(r64, root) == 0 &&
       rcp.size <= cp->size;
  if (ok && rcp.size && rcp.size < cp->size)
    ok = ke_note_path_decode(p, json_object_get(pin, "consistency_path")) == KE_OK &&
         ke_merkle_verify_consistency(rcp.size, cp->size, rcp.root, cp->root, p) == KE_OK;
  else if (ok && rcp.size == cp->size)
    ok = CRYPTO_memcmp(rcp.root, cp->root, sizeof rcp.root) == 0;
  free(p);
  free(r64);
  if (!ok)
    return ctl_err(CTL_FAIL,
                   "%s: the checkpoint the report names is not signed by the log key or not "
                   "consistent with the bundle's (tree size %llu)",
                   file, (unsigned long long)cp->size);
  ev = json_integer_value(json_object_get(pin, "leaf_index")) == idx ? proven(pin, idx, cp) : NULL;
  ok = ev && same(ev, "action", action);
  json_decref(ev);
  if (!ok)
    return ctl_err(CTL_FAIL, "%s: its audit event (%s, leaf %lld) is not proven in the log", file,
                   action, (long long)idx);
  return CTL_OK;
}

/* Rows of retrievals.json against the proven events, both ways. */
static int check_retrievals(const json_t *ret, const json_t *proofs, const ke_note_checkpoint *cp)
{
  const json_t *rows = json_object_get(ret, "retrievals"), *evs = json_object_get(proofs, "events");
  json_t *seen = json_object(), *r, *e;
  size_t i;
  int bad = 0;

  if (!seen)
    return ctl_oom();
  json_array_foreach (evs, i, e) {
    if (check_event(e, cp))
      bad = 1;
    else
      json_object_set(seen, ctl_jstr(e, "retrieval_id"), e);
  }
  json_array_foreach (rows, i, r) {
    const char *id = ctl_jstr(r, "retrieval_id");
    if (!id || !json_object_get(seen, id)) {
      ctl_errf("retrievals.json: retrieval %s (row %zu) has no proven event in the log",
               id ? id : "?", i + 1);
      bad = 1;
    } else {
      json_object_del(seen, id);
    }
  }
  {
    const char *id;
    json_object_foreach (seen, id, e) {
      ctl_errf("retrievals.json: the log has retrieval %s (leaf %lld) but the report does not "
               "list it",
               id, ctl_jint(e, "leaf_index"));
      bad = 1;
    }
  }
  json_decref(seen);
  if (!bad)
    printf("%zu retrieval(s), each at its leaf in the log of tree size %llu\n",
           json_array_size(rows), (unsigned long long)cp->size);
  return bad ? CTL_FAIL : CTL_OK;
}

int ctl_evidence_check_log(const json_t *cov, const json_t *ret, const json_t *drills,
                           const json_t *proofs, const ke_note_verifier *vk,
                           const ke_note_checkpoint *cp)
{
  const json_t *pins = json_object_get(proofs, "reports");
  int bad;

  if (ctl_jint(proofs, "tree_size") != (long long)cp->size)
    return ctl_err(CTL_FAIL, "proofs.json: proofs for tree size %lld, not the checkpoint's %llu",
                   ctl_jint(proofs, "tree_size"), (unsigned long long)cp->size);
  /* Every check runs, so that the assessor sees everything wrong. */
  bad = check_pin("coverage.json", cov, json_object_get(pins, "coverage.json"), vk, cp) != 0;
  bad |= check_pin("retrievals.json", ret, json_object_get(pins, "retrievals.json"), vk, cp) != 0;
  bad |= check_retrievals(ret, proofs, cp) != CTL_OK;
  bad |= check_drills(drills, proofs, cp) != CTL_OK;
  return bad ? CTL_FAIL : CTL_OK;
}
