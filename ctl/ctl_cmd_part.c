/*
 * escrowctl part - one custodian's contribution to a request.
 *
 * A custodian is never a blind Diffie-Hellman oracle: the R answered for is
 * the one inside the request's envelope (ke_request_parse refuses a request
 * whose R differs from it), sealed to the escrow key of the share.  The
 * request carries that key's public parameters, authenticated by the share
 * itself (its fingerprint is in the share's AAD, and d_i*G must equal Q_i
 * rebuilt from the commitments), so no manifest is needed.
 *
 * What nothing offline can check is which device the envelope belongs to:
 * device and volume in a request are the requester's words, and a request
 * could name "harmless-laptop" for the envelope of the CEO's laptop.  So the
 * envelope is shown by its SHA-256, the name escrow records, receipts and
 * audit entries use, and --envelope-sha256 makes part refuse any other.
 *
 * A request exported by `approve --export` carries its requester's signed
 * statement over the id and E ("requester", verified by ke_request_parse);
 * part checks that key against this machine's pins exactly as approve does
 * (ctl_requester.h), so an air-gapped custodian is no easier to fool than
 * an online one.  A request without it (made offline by `escrowctl
 * request`) is said to be unsigned, loudly.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_open.h"
#include "ctl_requester.h"

const char ctl_usage_part[] =
  "usage: escrowctl part --request REQ --share S --out PART [--envelope-sha256 HEX]\n"
  "                      [--passphrase-file PATH] [--yes] [--manifest M]\n"
  "                      [--fingerprint HEX] [--pin-requester FPR]\n"
  "\n"
  "Writes to PART this custodian's partial decryption of the envelope inside\n"
  "request REQ, with its proof, sealed to the requester's one-time key.  First\n"
  "it shows on stderr the request id, the envelope's SHA-256, the device and\n"
  "volume as the request names them, the escrow key and the confirmation code,\n"
  "and asks on the terminal whether they were checked (unless --yes):\n"
  "  - the confirmation code: the requester reads it to you out of band;\n"
  "  - the envelope SHA-256: it must be the digest in the escrow record of the\n"
  "    device you mean to open (its escrow receipt, the server's record or the\n"
  "    audit log entry).  Offline nothing else ties an envelope to a device: a\n"
  "    request can name any device for any envelope.  Given the digest as\n"
  "    --envelope-sha256, part refuses any other envelope.\n"
  "Without a terminal, --yes is required: it says both were checked.\n"
  "\n"
  "  --request REQ            the request file\n"
  "  --share S                this custodian's share file (of the request's key)\n"
  "  --out PART               the part file to write (never overwritten)\n"
  "  --envelope-sha256 HEX    the envelope digest of the escrow record; refuse\n"
  "                           a request for any other envelope\n"
  "  --passphrase-file PATH   read the passphrase from PATH instead of the terminal\n"
  "  --yes                    the code and the digest were checked; do not ask\n"
  "  --manifest M             also require the escrow key of manifest M, and its\n"
  "                           name for this custodian\n"
  "  --fingerprint HEX        also require the escrow key to have this fingerprint\n"
  "  --pin-requester FPR      the requester's client key fingerprint, confirmed with\n"
  "                           them out of band: pin it when none is pinned here\n"
  "\n"
  "A request exported by `approve --export` carries the requester's signature\n"
  "over it: part verifies it and requires the key pinned for the requester on\n"
  "this machine (`escrowctl pin add`); a changed key is refused.\n";

typedef struct part_opts {
  const char *request, *manifest, *share, *out, *passfile, *pin_requester;
  ctl_hex32 pin, digest;
  int yes;
} part_opts;

/* Show the request and get the custodian's go-ahead. */
static int confirm(const part_opts *o, const ke_request *r, const ke_sharefile *s)
{
  char fpr[2 * KE_FPR_LEN + 1], dg[80];
  ke_hex_encode(fpr, r->fingerprint, KE_FPR_LEN);
  ctl_hex_groups(dg, r->envelope_sha256);
  dg[39] = '\0'; /* two lines of eight groups */
  ctl_notef("Request %s asks custodian %u (%s) to open this envelope:\n"
            "  envelope SHA-256   %s\n"
            "                     %s\n"
            "                     %s\n"
            "  device             %s\n"
            "  volume             %s\n"
            "                     (device and volume as named by the request: not "
            "verified offline)\n"
            "  escrow key         %s\n"
            "  request created    %s\n"
            "  confirmation code  %s",
            r->request_id, s->index, s->name, dg, dg + 40,
            o->digest.set ? "(matches --envelope-sha256)"
                          : "(compare it with the escrow record of the device)",
            r->device, r->volume, fpr, r->created, r->code);
  if (o->yes) {
    if (!o->digest.set)
      ctl_notef("warning: --yes without --envelope-sha256: nothing here shows that this "
                "envelope is the device's; compare its SHA-256 with the escrow record");
    return CTL_OK;
  }
  if (!ctl_interactive())
    return ctl_err(CTL_USAGE, "not a terminal: check the confirmation code with the requester and "
                              "the envelope SHA-256 with the escrow record, then pass --yes");
  if (!ctl_confirm(o->digest.set
                     ? "Does the requester read you the same confirmation code? [y/N] "
                     : "Do the confirmation code (read by the requester) and the envelope "
                       "SHA-256 (in the escrow record) match? [y/N] "))
    return ctl_err(CTL_FAIL, "not confirmed; no part written");
  return CTL_OK;
}

/* Who asked: the signature is verified already; the key must be pinned. */
static int check_requester(const part_opts *o, const ke_request *r)
{
  if (!r->has_requester) {
    /* Ids of this shape are the server's (online requests, which are always
     * signed): such a file without a signature had it stripped. */
    const char *id = r->request_id;
    if (ke_b32_id_ok(id, "req-"))
      return ctl_err(CTL_FAIL,
                     "request %s is an online request without its requester's signature: "
                     "the file was altered after `escrowctl approve --export`; refusing",
                     id);
    ctl_notef("warning: this request carries no signature of its requester (a request made "
              "offline with `escrowctl request`): only the confirmation code, read to you by "
              "the requester, ties it to them.");
    if (o->pin_requester)
      return ctl_err(CTL_FAIL, "--pin-requester given, but the request is unsigned: refusing");
    return CTL_OK;
  }
  ctl_requester_show(r, NULL);
  return ctl_requester_check(r, o->pin_requester, NULL);
}

/* Shared with `approve` (ctl_open.h). */
int ctl_part_compute(ke_partfile *pf, const ke_request *r, unsigned index, const ke_scalar *d)
{
  ke_dleq *proof = ke_secure_alloc(sizeof *proof);
  size_t idlen = strlen(r->request_id);
  ke_rc k;

  if (!proof)
    return ctl_oom();
  k = ke_dleq_prove(proof, index, d, &r->pub.public_shares[index - 1], &r->R,
                    (const uint8_t *)r->request_id, idlen);
  if (!k)
    k = ke_part_seal(pf->part, &r->E, r->request_id, index, proof);
  ke_secure_free(proof, sizeof *proof);
  if (k)
    return ctl_err(CTL_FAIL, "cannot make the part: %s", ke_rc_str(k));
  memcpy(pf->request_id, r->request_id, idlen + 1);
  pf->index = index;
  return CTL_OK;
}

int ctl_part_make(ke_partfile *pf, const ke_request *r, const ke_sharefile *s, const char *passfile)
{
  ke_scalar *d = ke_secure_alloc(sizeof *d);
  int rc = d ? CTL_OK : ctl_oom();

  if (!rc && !(rc = ctl_unseal_share(d, s, &r->pub, passfile)))
    rc = ctl_part_compute(pf, r, s->index, d);
  ke_secure_free(d, sizeof *d);
  return rc;
}

/* Every check that needs no passphrase, before anything is shown. */
static int check_inputs(const part_opts *o, const ke_request *r, ke_manifest *m,
                        const ke_sharefile *sf)
{
  int rc = CTL_OK;
  const char *name = NULL;
  if (o->manifest) {
    if ((rc = ctl_load_manifest(m, o->manifest, CTL_HEX32(o->pin))))
      return rc;
    if (memcmp(r->fingerprint, m->pub.fingerprint, KE_FPR_LEN) != 0)
      return ctl_err(CTL_FAIL, "the request's envelope is sealed to another escrow key than the "
                               "manifest's; refusing");
    if (sf->index <= m->pub.n)
      name = m->names[sf->index - 1];
  }
  if ((rc = ctl_check_share(sf, &r->pub, name, "the request's escrow key")))
    return rc;
  if (o->digest.set && !ke_ct_eq(o->digest.b, r->envelope_sha256, 32)) {
    char want[80], have[80];
    ctl_hex_groups(want, o->digest.b);
    ctl_hex_groups(have, r->envelope_sha256);
    return ctl_err(CTL_FAIL,
                   "the request's envelope is not the pinned one; refusing.\n"
                   "  pinned (--envelope-sha256)  %s\n  in the request              %s\n"
                   "This request would open another envelope than the escrow record you "
                   "checked, whatever device it names.",
                   want, have);
  }
  return CTL_OK;
}

int ctl_cmd_part(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"request", required_argument, 0, CTL_OPT_ARG(part_opts, request)},
    {"manifest", required_argument, 0, CTL_OPT_ARG(part_opts, manifest)},
    {"share", required_argument, 0, CTL_OPT_ARG(part_opts, share)},
    {"out", required_argument, 0, CTL_OPT_ARG(part_opts, out)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(part_opts, passfile)},
    {"yes", no_argument, 0, CTL_OPT_SET(part_opts, yes)},
    {"fingerprint", required_argument, 0, CTL_OPT_HEX32(part_opts, pin)},
    {"envelope-sha256", required_argument, 0, CTL_OPT_HEX32(part_opts, digest)},
    {"pin-requester", required_argument, 0, CTL_OPT_ARG(part_opts, pin_requester)},
    CTL_OPT_END,
  };
  part_opts o = {0};
  ke_sharefile sf;
  ke_partfile pf;
  int rc;
  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--request", o.request}, {"--share", o.share}, {"--out", o.out})))
    return rc;
  if ((rc = ctl_new_file(o.out)))
    return rc;
  ke_manifest *m = calloc(1, sizeof *m);
  ke_request *r = calloc(1, sizeof *r);
  if (!m || !r) {
    rc = ctl_oom();
  } else if (!(rc = ctl_load_request(r, o.request, CTL_HEX32(o.pin))) &&
             !(rc = ctl_load_share(&sf, o.share)) && !(rc = check_inputs(&o, r, m, &sf)) &&
             !(rc = check_requester(&o, r)) && !(rc = confirm(&o, r, &sf)) &&
             !(rc = ctl_part_make(&pf, r, &sf, o.passfile))) {
    char *text = NULL;
    size_t len = 0;
    ke_rc k = ke_partfile_write(&text, &len, &pf);
    if (k) {
      rc = ctl_err(CTL_FAIL, "cannot write the part: %s", ke_rc_str(k));
    } else if (!(rc = ctl_write_text(o.out, text, len, 0644, 0))) {
      ctl_notef("Part of custodian %u for request %s written to %s.", pf.index, pf.request_id,
                o.out);
    }
  }
  free(r);
  free(m);
  return rc;
}
