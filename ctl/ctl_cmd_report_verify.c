/*
 * escrowctl report verify-evidence - the assessor's offline check of an
 * evidence bundle (ctl_evidence.h).  Nothing is asked of any server: the
 * bundle carries its checkpoint and proofs, and the assessor brings the
 * log key and the auditor's fingerprint, checked out of band.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl_audit.h"
#include "ctl_cmd.h"
#include "ctl_evidence.h"

const char ctl_usage_report_verify_evidence[] =
  "usage: escrowctl report verify-evidence DIR [--previous DIR] [--log-key VKEY]\n"
  "                                        [--pin-auditor FPR]\n"
  "\n"
  "Checks an evidence bundle offline: the auditor's signature of manifest.json\n"
  "(made by the client key whose fingerprint is FPR, when given), every\n"
  "file's SHA-256, the checkpoint's signature by the audit log key, the\n"
  "consistency proof from the previous bundle's checkpoint, and that every\n"
  "retrieval the report lists (and every drill of drills.json) is in the log\n"
  "at the leaf proofs.json gives, and the other way round.  Every failure names the file or the "
  "entry.\n"
  "\n"
  "  --previous DIR     the previous bundle (its checkpoint must be the one\n"
  "                     this bundle's consistency proof starts from)\n"
  "  --log-key VKEY     the audit log key (default: $ESCROWCTL_LOG_KEY or the\n"
  "                     pinned one)\n"
  "  --pin-auditor FPR  the auditor's client key fingerprint (64 hex digits)\n";

typedef struct vf_opts {
  const char *previous, *log_key, *pin;
} vf_opts;

/* dir/name, parsed (JSON files) or raw. */
static int load(const char *dir, const char *name, ke_buf *raw, json_t **json)
{
  char path[4200];
  int rc;

  snprintf(path, sizeof path, "%s/%s", dir, name);
  if ((rc = ctl_read(raw, path, CTL_EVIDENCE_MAX, 0, name)))
    return rc;
  if (json && (!(*json = json_loadb(raw->p, raw->len, JSON_REJECT_DUPLICATES, NULL)) ||
               !json_is_object(*json)))
    return ctl_err(CTL_FAIL, "%s: not a JSON object", path);
  return CTL_OK;
}

/* manifest.sig over manifest.json, by the key it names (pinned if asked). */
static int check_signature(const char *dir, const ke_buf *raw, const json_t *man, const char *pin)
{
  const json_t *a = json_object_get(man, "auditor");
  const char *pub64 = ctl_jstr(a, "public_key");
  uint8_t pub[KE_NOTE_PUB_LEN], sig[KE_NOTE_SIG_LEN], *msg = NULL;
  char hex[65];
  ke_buf s = {0};
  size_t mlen;
  int rc;

  if (!pub64 || ke_b64url_decode_fixed(pub, sizeof pub, pub64) != KE_OK)
    return ctl_err(CTL_FAIL, "manifest.json: no auditor public key");
  if ((rc = ctl_evidence_hash(hex, pub, sizeof pub)))
    return rc;
  if (pin && strcasecmp(pin, hex) != 0)
    return ctl_err(CTL_FAIL, "manifest.json: signed by the client key %s, not the pinned %s", hex,
                   pin);
  if ((rc = load(dir, "manifest.sig", &s, NULL)))
    return rc;
  if (s.len && s.p[s.len - 1] == '\n')
    s.p[--s.len] = '\0';
  rc = CTL_FAIL;
  if (ke_b64url_decode_fixed(sig, sizeof sig, s.p) != KE_OK)
    ctl_errf("manifest.sig: not a signature");
  else if (!(msg = ctl_evidence_message(raw->p, raw->len, &mlen)))
    rc = ctl_oom();
  else if (ke_note_verify_raw(pub, msg, mlen, sig) != KE_OK)
    ctl_errf("manifest.sig: the signature of manifest.json does not verify with the auditor "
             "key %s",
             hex);
  else
    rc = CTL_OK;
  if (!rc)
    printf("manifest.json signed by the client key %s%s\n", hex, pin ? " (pinned)" : "");
  free(msg);
  ke_buf_free(&s);
  return rc;
}

/* Every listed file's hash, and every expected file listed. */
static int check_hashes(const char *dir, const json_t *man)
{
  const json_t *files = json_object_get(man, "files");
  int bad = 0;

  for (size_t i = 0; i < sizeof ctl_evidence_files / sizeof *ctl_evidence_files; i++) {
    const char *name = ctl_evidence_files[i], *want = ctl_jstr(files, name);
    char hex[65];
    ke_buf b = {0};
    if (!want) {
      ctl_errf("manifest.json lists no hash of %s", name);
      bad = 1;
    } else if (load(dir, name, &b, NULL) || ctl_evidence_hash(hex, b.p, b.len)) {
      bad = 1;
    } else if (strcasecmp(hex, want) != 0) {
      ctl_errf("%s: SHA-256 %s, but manifest.json says %s", name, hex, want);
      bad = 1;
    }
    ke_buf_free(&b);
  }
  if (json_object_size(files) != sizeof ctl_evidence_files / sizeof *ctl_evidence_files) {
    ctl_errf("manifest.json lists files this format does not have");
    bad = 1;
  }
  return bad ? CTL_FAIL : CTL_OK;
}

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

/* The manifest's checkpoint, by the log key. */
static int check_checkpoint(const json_t *man, const ke_note_verifier *vk, const char *vtext,
                            ke_note_checkpoint *cp)
{
  const char *note = ctl_jstr(man, "checkpoint");

  if (!note || ke_note_checkpoint_open(vk, note, strlen(note), cp) != KE_OK)
    return ctl_err(CTL_FAIL,
                   "manifest.json: the checkpoint does not verify with the log key %s "
                   "(another log's, or forged)",
                   vtext);
  printf("checkpoint of tree size %llu signed by the log key\n", (unsigned long long)cp->size);
  return CTL_OK;
}

/* "previous" against the previous bundle's manifest, and its proof. */
static int check_previous(const char *dir, const json_t *man, const ke_note_verifier *vk,
                          const ke_note_checkpoint *cp)
{
  const json_t *prev = json_object_get(man, "previous");
  const char *pnote = ctl_jstr(prev, "checkpoint"), *onote;
  ke_note_checkpoint pc;
  ke_merkle_path *p = NULL;
  json_t *pman = NULL;
  ke_buf raw = {0};
  int rc;

  if ((rc = load(dir, "manifest.json", &raw, &pman)))
    goto out;
  rc = CTL_FAIL;
  onote = ctl_jstr(pman, "checkpoint");
  if (!pnote || !onote || strcmp(pnote, onote) != 0) {
    ctl_errf("manifest.json: its previous checkpoint is not the one of %s/manifest.json", dir);
    goto out;
  }
  if (ke_note_checkpoint_open(vk, onote, strlen(onote), &pc) != KE_OK) {
    ctl_errf("%s/manifest.json: the checkpoint does not verify with the log key", dir);
    goto out;
  }
  if (!(p = calloc(1, sizeof *p))) {
    rc = ctl_oom();
    goto out;
  }
  if (pc.size > cp->size ||
      (pc.size == cp->size && CRYPTO_memcmp(pc.root, cp->root, sizeof pc.root) != 0) ||
      (pc.size && pc.size < cp->size &&
       (ke_note_path_decode(p, json_object_get(prev, "consistency_path")) != KE_OK ||
        ke_merkle_verify_consistency(pc.size, cp->size, pc.root, cp->root, p) != KE_OK))) {
    ctl_errf("manifest.json: FORKED LOG: the checkpoint (tree size %llu) is not consistent with "
             "the previous bundle's (tree size %llu)",
             (unsigned long long)cp->size, (unsigned long long)pc.size);
    goto out;
  }
  printf("consistent with the previous bundle's checkpoint (tree size %llu)\n",
         (unsigned long long)pc.size);
  rc = CTL_OK;
out:
  free(p);
  json_decref(pman);
  ke_buf_free(&raw);
  return rc;
}

static int verify(const char *dir, const vf_opts *o, const ke_note_verifier *vk, const char *vtext)
{
  json_t *man = NULL, *ret = NULL, *proofs = NULL, *cov = NULL, *drills = NULL;
  ke_buf mraw = {0}, rraw = {0}, praw = {0}, craw = {0}, draw = {0};
  ke_note_checkpoint cp;
  int rc, bad;

  if ((rc = load(dir, "manifest.json", &mraw, &man)))
    goto out;
  if (!ctl_jstr(man, "format") || strcmp(ctl_jstr(man, "format"), CTL_EVIDENCE_FORMAT) != 0) {
    rc = ctl_err(CTL_FAIL, "manifest.json: not a %s manifest", CTL_EVIDENCE_FORMAT);
    goto out;
  }
  /* Go on past a failure, so that the assessor sees everything wrong. */
  bad = check_signature(dir, &mraw, man, o->pin) != CTL_OK;
  bad |= check_hashes(dir, man) != CTL_OK;
  if (check_checkpoint(man, vk, vtext, &cp)) {
    rc = CTL_FAIL;
    goto out;
  }
  if (o->previous)
    bad |= check_previous(o->previous, man, vk, &cp) != CTL_OK;
  else if (json_is_object(json_object_get(man, "previous")))
    ctl_notef("note: the bundle names a previous checkpoint; give --previous to check it");
  if (load(dir, "retrievals.json", &rraw, &ret) || load(dir, "proofs.json", &praw, &proofs) ||
      load(dir, "coverage.json", &craw, &cov) || load(dir, "drills.json", &draw, &drills)) {
    bad = 1;
  } else if (ctl_jint(proofs, "tree_size") != (long long)cp.size) {
    bad = ctl_err(CTL_FAIL, "proofs.json: proofs for tree size %lld, not the checkpoint's %llu",
                  ctl_jint(proofs, "tree_size"), (unsigned long long)cp.size) != 0;
  } else {
    const json_t *pins = json_object_get(proofs, "reports");
    bad |= check_pin("coverage.json", cov, json_object_get(pins, "coverage.json"), vk, &cp) != 0;
    bad |=
      check_pin("retrievals.json", ret, json_object_get(pins, "retrievals.json"), vk, &cp) != 0;
    bad |= check_retrievals(ret, proofs, &cp) != CTL_OK;
    bad |= check_drills(drills, proofs, &cp) != CTL_OK;
  }
  rc = bad ? CTL_FAIL : CTL_OK;
  if (!rc)
    printf("evidence bundle %s verifies\n", dir);
out:
  json_decref(man);
  json_decref(ret);
  json_decref(proofs);
  json_decref(cov);
  json_decref(drills);
  ke_buf_free(&craw);
  ke_buf_free(&draw);
  ke_buf_free(&mraw);
  ke_buf_free(&rraw);
  ke_buf_free(&praw);
  return rc;
}

int ctl_cmd_report_verify_evidence(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"previous", required_argument, 0, CTL_OPT_ARG(vf_opts, previous)},
    {"log-key", required_argument, 0, CTL_OPT_ARG(vf_opts, log_key)},
    {"pin-auditor", required_argument, 0, CTL_OPT_ARG(vf_opts, pin)},
    CTL_OPT_END,
  };
  vf_opts o = {0};
  ke_note_verifier vk;
  uint8_t fpr[32];
  char *vtext = NULL;
  int rc, pinned, first;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, &first)))
    return rc;
  if (first != argc - 1)
    return ctl_err(CTL_USAGE, "give the bundle's directory");
  if (o.pin && (rc = ctl_parse_hex32(fpr, o.pin, "--pin-auditor")))
    return rc;
  if ((rc = ctl_audit_log_key(&vk, &vtext, o.log_key, &pinned)))
    return rc;
  rc = verify(argv[first], &o, &vk, vtext);
  free(vtext);
  return rc;
}
