/*
 * ctl_cmd_drill_file.c - a drill's offline round trip (docs/protocol.md
 * section 9.7), for custodians whose share never touches a networked
 * machine, as `approve --export` / `part` / `approve --import` are for
 * retrievals:
 *
 *   drill approve DRILL --export FILE   (online) the drill, checked as for an
 *                                       online approval, as a drill file
 *   drill part --drill FILE --share S --out BATCH
 *                                       (offline) the batch of parts
 *   drill approve DRILL --import BATCH  (online) its upload
 *
 * `drill part` trusts nothing of the drill file it cannot check: the
 * escrow key's parameters are authenticated by the fingerprint the share
 * file's AAD binds, every R it answers for is the R inside the listed
 * envelope (ke_drillfile_parse), and the drill's statement - E, the record
 * list digest, selection, mode, expiry - must verify with the auditor's key
 * as pinned on this offline machine (ctl_drill_check_statement), so a
 * tampered file gets parts for nothing, and a drill under a foreign E gets
 * none.  The escrow events were proven in the log by `--export` online.
 * The parts are made by the same function as online (ctl_drill_parts).
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_drill.h"

int ctl_drill_export(const ctl_drill *d, const char *path)
{
  ke_drillfile f = {0};
  char *text = NULL;
  size_t len = 0;
  int rc = CTL_FAIL;

  memcpy(f.drill_id, d->id, sizeof f.drill_id);
  snprintf(f.selection, sizeof f.selection, "%s", d->selection);
  snprintf(f.mode, sizeof f.mode, "%s", d->mode);
  snprintf(f.expires, sizeof f.expires, "%s", d->expires);
  if (!d->is_signed || d->stmt_len >= sizeof f.statement)
    goto out;
  memcpy(f.statement, d->statement, d->stmt_len + 1);
  memcpy(f.signature, d->stmt_sig, sizeof f.signature);
  memcpy(f.auditor_key, d->auditor_key, sizeof f.auditor_key);
  f.E = d->E;
  f.escrow_key = d->keys[d->rec[0].key];
  if (strlen(d->auditor) > KE_DRILLFILE_AUDITOR_MAX || d->nrec > KE_DRILLFILE_RECORDS_MAX ||
      !(f.rec = calloc(d->nrec, sizeof *f.rec)))
    goto out;
  memcpy(f.auditor, d->auditor, strlen(d->auditor) + 1);
  for (size_t i = 0; i < d->nrec; i++) {
    const ctl_drill_rec *r = &d->rec[i];
    ke_drillfile_rec *fr = &f.rec[i];
    if (strlen(r->device) > KE_LABEL_MAX || strlen(r->volume) > KE_LABEL_MAX ||
        r->envlen > KE_ENV_MAX_LEN ||
        ke_envelope_sha256(fr->envelope_sha256, r->envelope, r->envlen) != KE_OK)
      goto out;
    memcpy(fr->record_id, r->id, sizeof fr->record_id);
    memcpy(fr->device, r->device, strlen(r->device) + 1);
    memcpy(fr->volume, r->volume, strlen(r->volume) + 1);
    memcpy(fr->envelope, r->envelope, r->envlen);
    fr->envelope_len = r->envlen;
    fr->R = r->env.R;
  }
  f.nrec = d->nrec;
  if (ke_drillfile_write(&text, &len, &f) != KE_OK)
    goto out;
  if (!(rc = ctl_write_text(path, text, len, 0644, 0)))
    ctl_notef("drill %s: %zu record(s) written to %s; make the parts with `escrowctl drill "
              "part --drill %s` where the share is, then `escrowctl drill approve %s --import "
              "BATCH`",
              d->id, d->nrec, path, path, d->id);
  ke_drillfile_free(&f);
  return rc;
out:
  ctl_errf("the drill cannot be written as a drill file");
  ke_drillfile_free(&f);
  return rc;
}

int ctl_drill_load_batch(ke_drillbatch *b, const char *path, const char *id)
{
  memset(b, 0, sizeof *b);
  CTL_LOAD(ke_drillbatch_parse, b, path, KE_DRILLFILE_MAX, 0, "batch file");
  if (strcmp(b->drill_id, id) != 0) {
    ctl_errf("%s is a batch of drill %s, not of %s", path, b->drill_id, id);
    ke_drillbatch_free(b);
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_drill_batch_matches(const ctl_drill *d, const ke_drillbatch *b)
{
  /* The batch's record ids are distinct (ke_drillbatch_parse): as many as
   * the drill has records, each one of them, is all of them. */
  if (b->nparts != d->nrec)
    return ctl_err(CTL_FAIL,
                   "the batch has %zu part(s) but the drill %zu record(s): one part for "
                   "every record, no more, no less",
                   b->nparts, d->nrec);
  for (size_t i = 0; i < b->nparts; i++) {
    size_t j = 0;
    while (j < d->nrec && strcmp(d->rec[j].id, b->parts[i].record_id) != 0)
      j++;
    if (j == d->nrec)
      return ctl_err(CTL_FAIL, "the batch has a part for record %s, which is not in the drill",
                     b->parts[i].record_id);
  }
  return CTL_OK;
}

/* ---- drill part ----------------------------------------------------------------- */
const char ctl_usage_drill_part[] =
  "usage: escrowctl drill part --drill FILE --share S --out BATCH\n"
  "                            [--passphrase-file P] [--yes]\n"
  "Offline: make this custodian's batch of parts for the drill file FILE\n"
  "(written by `escrowctl drill approve DRILL --export FILE`): one unseal of\n"
  "the share, one part per record, sealed to the auditor's one-time key.\n"
  "Upload BATCH (never overwritten) with `escrowctl drill approve DRILL\n"
  "--import BATCH`.  The drill's statement must verify with the auditor's\n"
  "client key as pinned on this machine (`escrowctl pin add AUDITOR\n"
  "FINGERPRINT`, after checking it with them).  Shows the drill id, its\n"
  "auditor, its size and the confirmation code, and asks on the terminal\n"
  "whether the auditor read you the same code (unless --yes).\n";

typedef struct dpart_opts {
  const char *drill, *share, *out, *passfile;
  int yes;
} dpart_opts;

/* The drill file as the ctl_drill that ctl_drill_parts takes: one escrow
 * key, records with their parsed envelopes. */
static int dpart_load(ctl_drill *d, const char *path)
{
  ke_drillfile f;
  int rc = CTL_FAIL;

  memset(d, 0, sizeof *d);
  CTL_LOAD(ke_drillfile_parse, &f, path, KE_DRILLFILE_MAX, 0, "drill file");
  memcpy(d->id, f.drill_id, sizeof d->id);
  snprintf(d->auditor, sizeof d->auditor, "%s", f.auditor);
  snprintf(d->selection, sizeof d->selection, "%s", f.selection);
  snprintf(d->state, sizeof d->state, "open");
  snprintf(d->mode, sizeof d->mode, "%s", f.mode);
  snprintf(d->expires, sizeof d->expires, "%s", f.expires);
  memcpy(d->stmt_sig, f.signature, sizeof d->stmt_sig);
  memcpy(d->auditor_key, f.auditor_key, sizeof d->auditor_key);
  d->is_signed = 1;
  d->E = f.E;
  if (!(d->keys = calloc(1, sizeof *d->keys)) || !(d->rec = calloc(f.nrec, sizeof *d->rec)))
    goto out;
  d->keys[0] = f.escrow_key;
  d->nkeys = 1;
  for (size_t i = 0; i < f.nrec; i++) {
    ctl_drill_rec *r = &d->rec[i];
    d->nrec = i + 1;
    memcpy(r->id, f.rec[i].record_id, sizeof r->id);
    memcpy(r->envelope_sha256, f.rec[i].envelope_sha256, sizeof r->envelope_sha256);
    r->leaf_index = -1;
    r->key = 0;
    /* Parsed already by ke_drillfile_parse: this cannot fail. */
    if (!(r->envelope = malloc(f.rec[i].envelope_len)))
      goto out;
    memcpy(r->envelope, f.rec[i].envelope, f.rec[i].envelope_len);
    r->envlen = f.rec[i].envelope_len;
    if (ke_envelope_parse(&r->env, r->envelope, r->envlen) != KE_OK)
      goto out;
  }
  rc = CTL_OK;
out:
  ke_drillfile_free(&f);
  if (rc) {
    ctl_errf("cannot load the drill file %s", path);
    ctl_drill_free(d);
  }
  return rc;
}

int ctl_cmd_drill_part(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"drill", required_argument, 0, CTL_OPT_ARG(dpart_opts, drill)},
    {"share", required_argument, 0, CTL_OPT_ARG(dpart_opts, share)},
    {"out", required_argument, 0, CTL_OPT_ARG(dpart_opts, out)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(dpart_opts, passfile)},
    {"yes", no_argument, 0, CTL_OPT_SET(dpart_opts, yes)},
    CTL_OPT_END,
  };
  dpart_opts o = {0};
  ctl_drill d = {0};
  ke_sharefile sf;
  ke_drillbatch b = {0};
  char *text = NULL;
  size_t len = 0;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--drill", o.drill}, {"--share", o.share}, {"--out", o.out})))
    return rc;
  if ((rc = ctl_new_file(o.out)))
    return rc;
  if ((rc = ctl_load_share(&sf, o.share)) || (rc = dpart_load(&d, o.drill)) ||
      (rc = ctl_drill_check_share(&d, &sf)))
    goto out;
  rc = ctl_drill_check_statement(&d);
  ctl_drill_show(&d);
  if (rc || (rc = ctl_drill_confirm(&d, o.yes)) || (rc = ctl_drill_parts(&d, &sf, o.passfile, &b)))
    goto out;
  if (ke_drillbatch_write(&text, &len, &b) != KE_OK) {
    rc = ctl_err(CTL_FAIL, "cannot write the batch");
  } else if (!(rc = ctl_write_text(o.out, text, len, 0644, 0))) {
    ctl_notef("drill %s: %zu part(s) of custodian %u written to %s; upload them with "
              "`escrowctl drill approve %s --import %s`",
              d.id, b.nparts, b.index, o.out, d.id, o.out);
  }
out:
  ke_drillbatch_free(&b);
  ctl_drill_free(&d);
  return rc;
}
