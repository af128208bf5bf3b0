/*
 * escrowctl share attest - custodian health: prove to escrowd, without
 * revealing it, that this custodian still holds their share of the current
 * escrow key (docs/protocol.md "Share attestation").
 *
 * The share is checked against the manifest and unsealed here; the server
 * sends a one-time challenge; the proof (ke_attest_prove: a Schnorr proof
 * of knowledge of d_i, bound to the key and the challenge) goes back and
 * the server verifies it against Q_i of the custodian account's index.
 * Only multiples of the generator are ever computed with d_i.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_http.h"
#include "ke_attest.h"

const char ctl_usage_share_attest[] =
  "usage: escrowctl share attest --manifest M --share S [--passphrase-file PATH]\n"
  "\n"
  "Proves to the server that you (a custodian) hold your share of the current\n"
  "escrow key, answering a one-time challenge; the share never leaves this\n"
  "machine.  The server records the attestation (audited), and the coverage\n"
  "report shows each share's last one.  Exit 0 if accepted, 1 if the share\n"
  "does not belong to the server's current key or to your account.\n"
  "\n"
  "  --manifest M            the escrow key manifest (escrow-key.json)\n"
  "  --share S               your share file\n"
  "  --passphrase-file PATH  read the passphrase from PATH instead of asking\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct attest_opts {
  ctl_http_target t;
  const char *manifest, *share, *passfile;
} attest_opts;

/* The proof for the server's challenge `ch`, as a request body. */
static int attest_body(json_t **body, const json_t *ch, const ke_manifest *m,
                       const ke_sharefile *sf, const ke_scalar *d)
{
  const char *fpr_hex = ctl_jstr(ch, "fingerprint");
  const char *nonce_b64 = ctl_jstr(ch, "nonce");
  const json_t *id = json_object_get(ch, "challenge_id");
  uint8_t fpr[KE_FPR_LEN], nonce[KE_ATTEST_NONCE_LEN], raw[KE_DLEQ_LEN];
  ke_dleq proof;
  char *b64;

  if (!fpr_hex || !nonce_b64 || !json_is_integer(id) ||
      ke_hex_decode(fpr, sizeof fpr, fpr_hex) != KE_OK ||
      ke_b64url_decode_fixed(nonce, sizeof nonce, nonce_b64) != KE_OK)
    return ctl_err(CTL_NET, "the server's challenge is malformed");
  if (!ke_ct_eq(fpr, m->pub.fingerprint, KE_FPR_LEN))
    return ctl_err(CTL_FAIL,
                   "the server's current escrow key is %s, not the manifest's: this "
                   "share cannot attest for it",
                   fpr_hex);
  if (ctl_jint(ch, "index") != (json_int_t)sf->index)
    ctl_notef("your account holds share %lld, this file is share %u: the server will "
              "refuse it",
              ctl_jint(ch, "index"), sf->index);
  if (ke_attest_prove(&proof, sf->index, d, &m->pub.public_shares[sf->index - 1], fpr, nonce) !=
      KE_OK)
    return ctl_err(CTL_FAIL, "making the proof failed");
  ke_dleq_encode(raw, &proof);
  if (!(b64 = ke_b64url_encode(raw, sizeof raw)) ||
      !(*body = json_pack("{s:O,s:s}", "challenge_id", id, "proof", b64))) {
    free(b64);
    return ctl_oom();
  }
  free(b64);
  return CTL_OK;
}

int ctl_cmd_share_attest(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"manifest", required_argument, 0, CTL_OPT_ARG(attest_opts, manifest)},
    {"share", required_argument, 0, CTL_OPT_ARG(attest_opts, share)},
    {"passphrase-file", required_argument, 0, CTL_OPT_ARG(attest_opts, passfile)},
    CTL_HTTP_OPTIONS,
    CTL_OPT_END,
  };
  attest_opts o = {0};
  ke_sharefile sf;
  ctl_http *h = NULL;
  json_t *ch = NULL, *body = NULL, *ans = NULL;
  ke_manifest *m = NULL;
  ke_scalar *d = NULL;
  long status = 0;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--manifest", o.manifest}, {"--share", o.share})))
    return rc;
  m = calloc(1, sizeof *m);
  d = ke_secure_alloc(sizeof *d);
  if (!m || !d) {
    rc = ctl_oom();
    goto out;
  }
  if ((rc = ctl_load_manifest(m, o.manifest, NULL)) || (rc = ctl_load_share(&sf, o.share)) ||
      (rc = ctl_check_share(&sf, &m->pub, sf.index <= m->pub.n ? m->names[sf.index - 1] : NULL,
                            "the manifest's escrow key")) ||
      (rc = ctl_unseal_share(d, &sf, &m->pub, o.passfile)))
    goto out;
  if ((rc = ctl_http_open(&h, &o.t, 1)) ||
      (rc = ctl_http_call(h, "POST", "/v1/attestations/challenge", NULL, &ch)) ||
      (rc = attest_body(&body, ch, m, &sf, d)))
    goto out;
  if ((rc = ctl_http_call_status(h, "POST", "/v1/attestations", body, &status, &ans)))
    goto out;
  if (status == 400) {
    rc = ctl_err(CTL_FAIL, "the server rejected the proof: this is not your share of the current "
                           "escrow key");
  } else if (status / 100 != 2) {
    rc = ctl_http_report(h, status, ans);
  } else {
    printf("ok: share %lld of escrow key %s attested at %s\n", ctl_jint(ans, "index"),
           ctl_jstr(ans, "fingerprint"), ctl_jstr(ans, "created"));
  }
out:
  json_decref(ch);
  json_decref(body);
  json_decref(ans);
  ctl_http_free(h);
  if (d)
    ke_secure_free(d, sizeof *d);
  free(m);
  return rc;
}
