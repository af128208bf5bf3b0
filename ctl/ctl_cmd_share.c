/*
 * escrowctl share verify - unseal a share with its passphrase and check it
 * against the manifest's Feldman commitments (d_i*G == Q_i), printing
 * nothing of the share.  Custodians run it after the ceremony and before
 * they are ever needed, so a forgotten passphrase is found early.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"

const char ctl_usage_share_verify[] =
  "usage: escrowctl share verify --manifest M --share S [--passphrase-file PATH]\n"
  "                              [--fingerprint HEX]\n"
  "\n"
  "Checks that the share in S, unsealed with its passphrase, belongs to the\n"
  "escrow key of manifest M.  Exit 0 if it does, 1 otherwise (wrong passphrase,\n"
  "another key, a share that does not match the commitments, no passphrase:\n"
  "without a terminal, --passphrase-file is needed).\n"
  "\n"
  "  --manifest M            the escrow key manifest (escrow-key.json)\n"
  "  --share S               the custodian's share file\n"
  "  --passphrase-file PATH  read the passphrase from PATH (one trailing newline\n"
  "                          stripped) instead of asking on the terminal\n"
  "  --fingerprint HEX       also require the manifest to have this fingerprint\n";

typedef struct share_opts {
  const char *manifest, *share, *passfile;
  ctl_hex32 pin;
} share_opts;

int ctl_cmd_share_verify(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"manifest", required_argument, 0, CTL_OPT_ARG(share_opts, manifest)},
    {"share", required_argument, 0, CTL_OPT_ARG(share_opts, share)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(share_opts, passfile)},
    {"fingerprint", required_argument, 0, CTL_OPT_HEX32(share_opts, pin)},
    CTL_OPT_END,
  };
  share_opts o = {0};
  ke_sharefile sf;
  int rc;
  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--manifest", o.manifest}, {"--share", o.share})))
    return rc;
  ke_manifest *m = calloc(1, sizeof *m);
  ke_scalar *d = ke_secure_alloc(sizeof *d);
  if (!m || !d) {
    rc = ctl_oom();
  } else if (!(rc = ctl_load_manifest(m, o.manifest, CTL_HEX32(o.pin))) &&
             !(rc = ctl_load_share(&sf, o.share)) &&
             !(rc =
                 ctl_check_share(&sf, &m->pub, sf.index <= m->pub.n ? m->names[sf.index - 1] : NULL,
                                 "the manifest's escrow key")) &&
             !(rc = ctl_unseal_share(d, &sf, &m->pub, o.passfile))) {
    char fpr[2 * KE_FPR_LEN + 1];
    ke_hex_encode(fpr, m->pub.fingerprint, KE_FPR_LEN);
    printf("ok: the share of custodian %u (%s) belongs to escrow key %s\n", sf.index, sf.name, fpr);
  }
  ke_secure_free(d, sizeof *d);
  free(m);
  return rc;
}
