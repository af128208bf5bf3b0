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
  "usage: escrowctl report verify-evidence [--previous DIR] [--log-key VKEY]\n"
  "                                        [--pin-auditor FPR] DIR\n"
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
  } else {
    bad |= ctl_evidence_check_log(cov, ret, drills, proofs, vk, &cp) != CTL_OK;
  }
  rc = bad ? CTL_FAIL : CTL_OK;
  if (!rc)
    printf("evidence bundle %s verifies (period %s to %s)\n", dir,
           ctl_jstr(json_object_get(man, "period"), "from") ?: "?",
           ctl_jstr(json_object_get(man, "period"), "to") ?: "?");
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
