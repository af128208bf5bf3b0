/*
 * escrowctl request new - the requester's side of an offline opening: a
 * request file naming the envelope (custodians answer for the R inside it
 * only) and carrying the escrow key's public parameters (so that custodians
 * and `open` need no manifest), and a fresh one-time key E = e*G to which
 * the parts are sealed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl_cmd.h"

const char ctl_usage_request_new[] =
  "usage: escrowctl request new --manifest M --envelope FILE --device D --volume V\n"
  "                             --id ID --out REQ --key-out KEY [--fingerprint HEX]\n"
  "\n"
  "Writes the request file REQ (public: give it to the custodians) and the\n"
  "one-time requester key KEY (secret, mode 0600: keep it until `open`; never\n"
  "standard output), and prints the confirmation code on stdout.  Each\n"
  "custodian's `part` shows the same code: compare it with them out of band\n"
  "before they contribute.  They also see the envelope's SHA-256 (shown here\n"
  "too), which they compare with the escrow record of the device.  Device and\n"
  "volume must be the ones the envelope was sealed for, or `open` fails.\n"
  "Existing files are never overwritten.\n"
  "\n"
  "  --manifest M       the escrow key manifest; the envelope must be sealed to it\n"
  "  --envelope FILE    the envelope, base64url as written by `seal`\n"
  "  --device D         device id        --volume V   volume id\n"
  "  --id ID            request id, 1..128 of A-Z a-z 0-9 . _ : -\n"
  "  --out REQ          the request file to write\n"
  "  --key-out KEY      the requester key file to write\n"
  "  --fingerprint HEX  also require the manifest to have this fingerprint\n";

typedef struct request_opts {
  const char *manifest, *envelope, *device, *volume, *id, *out, *key_out;
  ctl_hex32 pin;
} request_opts;

static int check_opts(const request_opts *o)
{
  int rc = CTL_REQUIRED({"--manifest", o->manifest}, {"--envelope", o->envelope},
                        {"--device", o->device}, {"--volume", o->volume}, {"--id", o->id},
                        {"--out", o->out}, {"--key-out", o->key_out});

  if (rc)
    return rc;
  if (!ke_id_valid(o->id))
    return ctl_err(CTL_USAGE, "--id must be 1..%d characters of A-Z a-z 0-9 . _ : -", KE_ID_MAX);
  if (!ke_label_valid(o->device, KE_LABEL_MAX) || !ke_label_valid(o->volume, KE_LABEL_MAX))
    return ctl_err(CTL_USAGE,
                   "--device and --volume are 1..%d bytes of UTF-8 without control or "
                   "invisible format characters",
                   KE_LABEL_MAX);
  if (strcmp(o->key_out, "-") == 0)
    return ctl_err(CTL_USAGE, "--key-out: the requester key is secret and is never written to "
                              "standard output; name a file");
  return CTL_OK;
}

/* The envelope file: base64url, surrounding whitespace ignored. */
static int load_envelope(ke_request *r, const char *path, const ke_manifest *m)
{
  ke_buf b;
  uint8_t *raw = NULL;
  size_t len = 0;
  ke_envelope env;
  int rc = ctl_read(&b, path, 2 * KE_ENV_MAX_LEN, 0, "envelope");
  if (rc)
    return rc;
  char *s = b.p;
  while (*s && isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  ke_rc k = ke_b64url_decode(&raw, &len, s, 0);
  ke_buf_free(&b);
  if (k)
    return ctl_err(CTL_FAIL, "%s: not unpadded base64url (%s)", path, ke_rc_str(k));
  if ((k = len > KE_ENV_MAX_LEN ? KE_ERR_LENGTH : ke_envelope_parse(&env, raw, len))) {
    rc = ctl_err(CTL_FAIL, "%s: not a valid envelope: %s", path, ke_rc_str(k));
  } else if (memcmp(env.fingerprint, m->pub.fingerprint, KE_FPR_LEN) != 0) {
    rc = ctl_err(CTL_FAIL, "%s: the envelope is sealed to another escrow key than the manifest's",
                 path);
  } else if ((k = ke_envelope_sha256(r->envelope_sha256, raw, len))) {
    rc = ctl_err(CTL_FAIL, "%s: %s", path, ke_rc_str(k));
  } else {
    memcpy(r->envelope, raw, len);
    r->envelope_len = len;
    r->R = env.R;
    memcpy(r->fingerprint, env.fingerprint, KE_FPR_LEN);
    r->pub = m->pub;
  }
  free(raw);
  return rc;
}

int ctl_cmd_request_new(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"manifest", required_argument, 0, CTL_OPT_ARG(request_opts, manifest)},
    {"envelope", required_argument, 0, CTL_OPT_ARG(request_opts, envelope)},
    {"device", required_argument, 0, CTL_OPT_ARG(request_opts, device)},
    {"volume", required_argument, 0, CTL_OPT_ARG(request_opts, volume)},
    {"id", required_argument, 0, CTL_OPT_ARG(request_opts, id)},
    {"out", required_argument, 0, CTL_OPT_ARG(request_opts, out)},
    {"key-out", required_argument, 0, CTL_OPT_ARG(request_opts, key_out)},
    {"fingerprint", required_argument, 0, CTL_OPT_HEX32(request_opts, pin)},
    CTL_OPT_END,
  };
  request_opts o = {0};
  int rc;
  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, NULL)))
    return rc;
  if ((rc = check_opts(&o)))
    return rc;
  if ((rc = ctl_new_file(o.out)) || (rc = ctl_new_file(o.key_out)))
    return rc;
  ke_manifest *m = calloc(1, sizeof *m);
  ke_request *r = calloc(1, sizeof *r);
  ke_reqkey *key = ke_secure_alloc(sizeof *key);
  char *text = NULL;
  size_t len = 0;
  ke_rc k = KE_OK;
  if (!m || !r || !key) {
    rc = ctl_oom();
  }
  if (!rc && !(rc = ctl_load_manifest(m, o.manifest, CTL_HEX32(o.pin))))
    rc = load_envelope(r, o.envelope, m);
  if (!rc) {
    memcpy(r->request_id, o.id, strlen(o.id) + 1);
    memcpy(r->device, o.device, strlen(o.device) + 1);
    memcpy(r->volume, o.volume, strlen(o.volume) + 1);
    memcpy(key->request_id, o.id, strlen(o.id) + 1);
    if (!(k = ke_scalar_random(&key->e)) && !(k = ke_point_mul_base(&key->E, &key->e)) &&
        !(k = ke_time_rfc3339(r->created, time(NULL)))) {
      r->E = key->E;
      ke_sas(r->code, r->request_id, &r->E, &r->R);
      k = ke_reqkey_write(&text, &len, key);
    }
    if (k)
      rc = ctl_err(CTL_FAIL, "cannot create the requester key: %s", ke_rc_str(k));
  }
  /* The key first: a request without its key would be useless. */
  if (!rc)
    rc = ctl_write_text(o.key_out, text, len, 0600, 1);
  if (!rc) {
    if ((k = ke_request_write(&text, &len, r))) {
      rc = ctl_err(CTL_FAIL, "cannot write the request: %s", ke_rc_str(k));
    } else {
      rc = ctl_write_text(o.out, text, len, 0644, 0);
    }
    if (rc)
      unlink(o.key_out);
  }
  if (!rc) {
    char dg[80];
    ctl_hex_groups(dg, r->envelope_sha256);
    ctl_notef("Request %s for device \"%s\", volume \"%s\" written to %s; keep %s "
              "secret until `escrowctl open`.\nEnvelope SHA-256 (custodians compare it "
              "with the escrow record): %s\nConfirmation code:",
              r->request_id, r->device, r->volume, o.out, o.key_out, dg);
    printf("%s\n", r->code);
  }
  ke_secure_free(key, sizeof *key);
  free(r);
  free(m);
  return rc;
}
