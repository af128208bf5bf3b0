/*
 * escrowctl seal - seal a secret to the escrow key of a pinned manifest,
 * exactly as the agent does, and write the envelope as base64url.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ke_secret.h"

const char ctl_usage_seal[] =
  "usage: escrowctl seal --manifest M --fingerprint HEX --device D --volume V\n"
  "                      [--in FILE] [--out FILE] [--raw] [--force]\n"
  "\n"
  "Reads a secret (16..1024 bytes) from stdin or FILE, seals it to the escrow key\n"
  "of manifest M, bound to device D and volume V, and writes the envelope as\n"
  "unpadded base64url and a newline to stdout (or to --out FILE, never\n"
  "overwritten).  The manifest must have the pinned fingerprint.\n"
  "\n"
  "Text input: if the input is UTF-8 text without control characters followed\n"
  "by one newline (\"\\n\" or \"\\r\\n\"), that newline is not part of the secret,\n"
  "so `echo SECRET | escrowctl seal ...` seals SECRET; `open` prints it back with\n"
  "a newline.  --raw seals the input bytes exactly.  A secret typed at a\n"
  "terminal is not echoed.\n"
  "\n"
  "A secret that looks low in entropy (one repeated byte, a repeated block, an\n"
  "arithmetic run like \"abcdef...\", or an estimated entropy below 64 bits) is\n"
  "refused unless --force is given.\n"
  "\n"
  "  --manifest M        the escrow key manifest\n"
  "  --fingerprint HEX   the pinned fingerprint of the escrow key (required)\n"
  "  --device D          device id, --volume V  volume id (bound into the envelope)\n"
  "  --in FILE           read the secret from FILE instead of stdin\n"
  "  --out FILE          write the envelope to FILE instead of stdout\n"
  "  --raw               keep a trailing newline as part of the secret\n"
  "  --force             seal a secret that looks low in entropy\n";

typedef struct seal_opts {
  const char *manifest, *device, *volume, *in, *out;
  ctl_hex32 pin;
  int raw, force;
} seal_opts;

static int read_secret(ke_buf *b, const seal_opts *o)
{
  /* Typed at a terminal, the secret is not echoed (one line, its newline
   * not part of it); anything else is read as it comes. */
  int tty = (!o->in || strcmp(o->in, "-") == 0) && ctl_interactive();
  int rc = tty ? ctl_secret_line(b, "Secret to seal (not echoed): ", KE_SECRET_MAX + 2)
               : ctl_read(b, o->in ? o->in : "-", KE_SECRET_MAX + 2, 1, "secret");
  if (rc)
    return rc;
  if (!o->raw && b->len && b->p[b->len - 1] == '\n') {
    size_t n = b->len - 1 - (b->len >= 2 && b->p[b->len - 2] == '\r');
    if (ke_text_valid((const uint8_t *)b->p, n)) {
      ke_wipe(b->p + n, b->len - n);
      b->len = n;
    }
  }
  if (b->len < KE_SECRET_MIN || b->len > KE_SECRET_MAX)
    return ctl_err(CTL_FAIL, "the secret must be %d..%d bytes", KE_SECRET_MIN, KE_SECRET_MAX);
  const char *why = ke_secret_weak_reason((const uint8_t *)b->p, b->len);
  if (why && !o->force)
    return ctl_err(CTL_FAIL,
                   "refusing a secret that looks low in entropy: %s (--force seals it "
                   "anyway)",
                   why);
  if (why)
    ctl_notef("warning: sealing a secret that looks low in entropy (%s)", why);
  return CTL_OK;
}

int ctl_cmd_seal(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"manifest", required_argument, 0, CTL_OPT_ARG(seal_opts, manifest)},
    {"fingerprint", required_argument, 0, CTL_OPT_HEX32(seal_opts, pin)},
    {"device", required_argument, 0, CTL_OPT_ARG(seal_opts, device)},
    {"volume", required_argument, 0, CTL_OPT_ARG(seal_opts, volume)},
    {"in", required_argument, 0, CTL_OPT_ARG(seal_opts, in)},
    {"out", required_argument, 0, CTL_OPT_ARG(seal_opts, out)},
    {"raw", no_argument, 0, CTL_OPT_SET(seal_opts, raw)},
    {"force", no_argument, 0, CTL_OPT_SET(seal_opts, force)},
    CTL_OPT_END,
  };
  seal_opts o = {0};
  ke_buf secret = {0};
  int rc;
  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, NULL)))
    return rc;
  if ((rc = CTL_REQUIRED({"--manifest", o.manifest}, {"--fingerprint", o.pin.set},
                         {"--device", o.device}, {"--volume", o.volume})))
    return rc;
  if (!ke_label_valid(o.device, KE_LABEL_MAX) || !ke_label_valid(o.volume, KE_LABEL_MAX))
    return ctl_err(CTL_USAGE,
                   "--device and --volume are 1..%d bytes of UTF-8 without control "
                   "characters",
                   KE_LABEL_MAX);
  ke_manifest *m = calloc(1, sizeof *m);
  if (!m)
    return ctl_oom();
  uint8_t *env = NULL;
  size_t envlen = 0;
  char *text = NULL;
  if (!(rc = ctl_load_manifest(m, o.manifest, o.pin.b)) && !(rc = read_secret(&secret, &o))) {
    ke_rc k = ke_envelope_seal(&env, &envlen, m->pub.fingerprint, &m->pub.commitments[0], o.device,
                               o.volume, (const uint8_t *)secret.p, secret.len);
    text = k ? NULL : ke_b64url_encode(env, envlen);
    if (k || !text)
      rc = ctl_err(CTL_FAIL, "sealing failed: %s", ke_rc_str(k ? k : KE_ERR_NOMEM));
  }
  ke_buf_free(&secret);
  if (!rc) {
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: written with its length */
    rc = ctl_write(o.out ? o.out : "-", text, n + 1, 0644);
  }
  free(text);
  free(env);
  free(m);
  return rc;
}
