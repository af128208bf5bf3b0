/*
 * escrowctl part - one custodian's contribution to a request.
 *
 * A custodian is never a blind Diffie-Hellman oracle: the R answered for is
 * the one inside the request's envelope (ke_request_parse refuses a request
 * whose R differs from it), and that envelope must be sealed to the escrow key
 * of the manifest and of the share.  The custodian sees what is being opened
 * and the confirmation code, which binds the request id, E and R, and
 * confirms it with the requester out of band.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"

const char ctl_usage_part[] =
  "usage: escrowctl part --request REQ --manifest M --share S --out PART\n"
  "                      [--passphrase-file PATH] [--yes] [--fingerprint HEX]\n"
  "\n"
  "Shows the device, volume, request id and confirmation code of request REQ on\n"
  "stderr, asks on the terminal whether the code matches the one the requester\n"
  "reads out (unless --yes), then unseals the share S, checks it against the\n"
  "manifest M, and writes to PART the partial decryption of the request's\n"
  "envelope with its proof, sealed to the requester's one-time key.\n"
  "Without a terminal, --yes is required: it says the code was checked.\n"
  "\n"
  "  --request REQ          the request file\n"
  "  --manifest M           the escrow key manifest\n"
  "  --share S              this custodian's share file\n"
  "  --out PART             the part file to write (never overwritten)\n"
  "  --passphrase-file PATH read the passphrase from PATH instead of the terminal\n"
  "  --yes                  the confirmation code was checked; do not ask\n"
  "  --fingerprint HEX      also require the manifest to have this fingerprint\n";

typedef struct part_opts {
  const char *request, *manifest, *share, *out, *passfile;
  uint8_t pin[KE_FPR_LEN];
  int pinned, yes;
} part_opts;

enum { O_REQ = 256, O_MANIFEST, O_SHARE, O_OUT, O_PASS, O_YES, O_FPR };

static int on_opt(void *ctx, int opt, const char *arg)
{
  part_opts *o = ctx;
  switch (opt) {
  case O_REQ: o->request = arg; return CTL_OK;
  case O_MANIFEST: o->manifest = arg; return CTL_OK;
  case O_SHARE: o->share = arg; return CTL_OK;
  case O_OUT: o->out = arg; return CTL_OK;
  case O_PASS: o->passfile = arg; return CTL_OK;
  case O_YES: o->yes = 1; return CTL_OK;
  case O_FPR: o->pinned = 1; return ctl_parse_fpr(o->pin, arg);
  }
  return CTL_USAGE;
}

/* Show the request and get the custodian's go-ahead. */
static int confirm(const part_opts *o, const ke_request *r, const ke_sharefile *s)
{
  char fpr[2 * KE_FPR_LEN + 1];
  ke_hex_encode(fpr, r->fingerprint, KE_FPR_LEN);
  ctl_notef("Request %s asks custodian %u (%s) to open:\n"
            "  device             %s\n"
            "  volume             %s\n"
            "  escrow key         %s\n"
            "  request created    %s\n"
            "  confirmation code  %s",
            r->request_id, s->index, s->name, r->device, r->volume, fpr, r->created,
            r->code);
  if (o->yes)
    return CTL_OK;
  if (!ctl_interactive()) {
    ctl_errf("not a terminal: check the confirmation code with the requester, then "
             "pass --yes");
    return CTL_USAGE;
  }
  if (!ctl_confirm("Does the requester read you the same confirmation code? [y/N] ")) {
    ctl_errf("not confirmed; no part written");
    return CTL_FAIL;
  }
  return CTL_OK;
}

static int make_part(ke_partfile *pf, const ke_request *r, const ke_manifest *m,
                     const ke_sharefile *s, const char *passfile)
{
  ke_scalar *d = ke_secure_alloc(sizeof *d);
  ke_dleq *proof = ke_secure_alloc(sizeof *proof);
  int rc = (d && proof) ? CTL_OK : CTL_FAIL;
  if (rc)
    ctl_errf("out of memory");
  if (!rc)
    rc = ctl_unseal_share(d, s, m, passfile);
  if (!rc) {
    size_t idlen = strlen(r->request_id);
    ke_rc k = ke_dleq_prove(proof, s->index, d, &m->pub.public_shares[s->index - 1], &r->R,
                            (const uint8_t *)r->request_id, idlen);
    if (!k)
      k = ke_part_seal(pf->part, &r->E, r->request_id, s->index, proof);
    if (k) {
      ctl_errf("cannot make the part: %s", ke_rc_str(k));
      rc = CTL_FAIL;
    }
    memcpy(pf->request_id, r->request_id, idlen + 1);
    pf->index = s->index;
  }
  ke_secure_free(proof, sizeof *proof);
  ke_secure_free(d, sizeof *d);
  return rc;
}

int ctl_cmd_part(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    { "request", required_argument, 0, O_REQ },
    { "manifest", required_argument, 0, O_MANIFEST },
    { "share", required_argument, 0, O_SHARE },
    { "out", required_argument, 0, O_OUT },
    { "passphrase-file", required_argument, 0, O_PASS },
    { "yes", no_argument, 0, O_YES },
    { "fingerprint", required_argument, 0, O_FPR },
    { "help", no_argument, 0, 'h' },
    { 0, 0, 0, 0 },
  };
  part_opts o;
  ke_sharefile sf;
  ke_partfile pf;
  int rc;
  memset(&o, 0, sizeof o);
  if ((rc = ctl_getopt(cmd, argc, argv, opts, on_opt, &o, NULL)))
    return rc;
  if (!o.request)
    return ctl_missing_opt("--request");
  if (!o.manifest)
    return ctl_missing_opt("--manifest");
  if (!o.share)
    return ctl_missing_opt("--share");
  if (!o.out)
    return ctl_missing_opt("--out");
  if (ctl_exists(o.out)) {
    ctl_errf("%s already exists; not overwriting it", o.out);
    return CTL_FAIL;
  }
  ke_manifest *m = calloc(1, sizeof *m);
  ke_request *r = calloc(1, sizeof *r);
  if (!m || !r) {
    ctl_errf("out of memory");
    rc = CTL_FAIL;
  }
  if (!rc)
    rc = ctl_load_manifest(m, o.manifest, o.pinned ? o.pin : NULL);
  if (!rc)
    rc = ctl_load_request(r, o.request);
  if (!rc)
    rc = ctl_load_share(&sf, o.share);
  if (!rc && memcmp(r->fingerprint, m->pub.fingerprint, KE_FPR_LEN) != 0) {
    ctl_errf("the request's envelope is sealed to another escrow key than the "
             "manifest's; refusing");
    rc = CTL_FAIL;
  }
  if (!rc)
    rc = confirm(&o, r, &sf);
  if (!rc)
    rc = make_part(&pf, r, m, &sf, o.passfile);
  if (!rc) {
    char *text = NULL;
    size_t len = 0;
    ke_rc k = ke_partfile_write(&text, &len, &pf);
    if (k) {
      ctl_errf("cannot write the part: %s", ke_rc_str(k));
      rc = CTL_FAIL;
    } else if (!(rc = ctl_write_text(o.out, text, len, 0644, 0))) {
      ctl_notef("Part of custodian %u for request %s written to %s.", pf.index,
                pf.request_id, o.out);
    }
  }
  free(r);
  free(m);
  return rc;
}
