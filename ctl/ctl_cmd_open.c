/*
 * escrowctl open - the requester opens the parts, verifies each proof
 * against Q_i of the request's escrow key (the request carries its
 * commitments; --manifest and --fingerprint pin it further), combines the
 * first T good ones and opens the envelope.  A bad part is named by its custodian index and never
 * used: one broken or hostile custodian can delay an opening, but cannot
 * make it produce a wrong secret.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_open.h"

const char ctl_usage_open[] =
  "usage: escrowctl open --request REQ --key KEY [--raw] [--out FILE]\n"
  "                      [--manifest M] [--fingerprint HEX] PART...\n"
  "\n"
  "Opens each part file with the requester key KEY and verifies its proof\n"
  "against the custodian's public share, which follows from the escrow key\n"
  "the request carries (the one `request new` took from the manifest).  A bad\n"
  "part (one that does not open, whose proof fails, made for another request,\n"
  "or a second part of the same custodian) is named by its custodian index on\n"
  "stderr and ignored.  With at least T good parts, the first T open the\n"
  "envelope and the secret is written to stdout (or --out FILE, mode 0600,\n"
  "never overwritten).\n"
  "\n"
  "Output: the secret's bytes exactly, followed by a newline if the secret is\n"
  "UTF-8 text without control characters (the newline `seal` strips from text\n"
  "input); --raw never adds the newline.\n"
  "\n"
  "  --request REQ      the request file\n"
  "  --key KEY          the requester key file written by `request new`\n"
  "  --raw              write the secret's bytes only\n"
  "  --out FILE         write the secret to FILE instead of stdout\n"
  "  --manifest M       also require the escrow key of manifest M\n"
  "  --fingerprint HEX  also require the escrow key to have this fingerprint\n"
  "\n"
  "exit status: 0 opened, 1 bad input or the envelope does not open (device or\n"
  "volume not the ones sealed in, or altered), 2 usage, 3 not enough good parts.\n";

typedef struct open_opts {
  const char *request, *key, *manifest, *out;
  ctl_hex32 pin;
  int raw;
} open_opts;

static int take_part(ctl_good_parts *g, const char *path, const ke_request *r, const ke_reqkey *key)
{
  ke_partfile pf;
  if (ctl_load_part(&pf, path) != CTL_OK) {
    ctl_notef("  part %s: ignored (not a valid part file)", path);
    return 0;
  }
  return ctl_open_take(g, &pf, path, r, key);
}

/* Shared with `retrieve` (ctl_open.h). */
int ctl_open_take(ctl_good_parts *g, const ke_partfile *pfp, const char *path, const ke_request *r,
                  const ke_reqkey *key)
{
  const ke_escrow_pub *pub = &r->pub;
  const ke_partfile pf = *pfp;
  ke_dleq *proof;
  unsigned i = pf.index;
  if (strcmp(pf.request_id, r->request_id) != 0) {
    ctl_errf("custodian %u: part %s is for request %s, not %s; ignored", i, path, pf.request_id,
             r->request_id);
    return 0;
  }
  if (i < 1 || i > pub->n) {
    ctl_errf("custodian %u: part %s: no such custodian in this escrow key (1..%u); "
             "ignored",
             i, path, pub->n);
    return 0;
  }
  for (size_t j = 0; j < g->count; j++)
    if (g->indices[j] == i) {
      ctl_errf("custodian %u: part %s is a second part of this custodian; ignored", i, path);
      return 0;
    }
  if (!(proof = ke_secure_alloc(sizeof *proof))) {
    ctl_errf("out of memory");
    return 0;
  }
  int good = 0;
  ke_rc k = ke_part_open(proof, pf.part, KE_PART_LEN, &key->e, &key->E, r->request_id, i);
  if (k) {
    ctl_errf("custodian %u: part %s does not open with this request's key (%s: made for "
             "another request, key or custodian, or altered); ignored",
             i, path, ke_rc_str(k));
  } else if ((k = ke_dleq_verify(proof, i, &pub->public_shares[i - 1], &r->R,
                                 (const uint8_t *)r->request_id, strlen(r->request_id))) != KE_OK) {
    ctl_errf("custodian %u: part %s: the proof of correct decryption does not verify "
             "(%s); ignored",
             i, path, ke_rc_str(k));
  } else {
    g->indices[g->count] = (uint8_t)i;
    g->P[g->count++] = proof->P;
    good = 1;
  }
  ke_secure_free(proof, sizeof *proof);
  return good;
}

/* Combine the first t parts and open the envelope.  *secret is secure. */
int ctl_open_envelope(uint8_t **secret, size_t *len, const ctl_good_parts *g, const ke_request *r)
{
  ke_envelope env;
  ke_point *S = ke_secure_alloc(sizeof *S);
  ke_rc k = S ? ke_envelope_parse(&env, r->envelope, r->envelope_len) : KE_ERR_NOMEM;
  if (!k)
    k = ke_combine(S, g->indices, g->P, r->pub.t);
  if (!k)
    k = ke_envelope_open(secret, len, &env, &r->pub.commitments[0], S, r->device, r->volume);
  ke_secure_free(S, sizeof *S);
  if (k == KE_ERR_AUTH)
    return ctl_err(CTL_FAIL,
                   "the envelope does not open: device \"%s\" and volume \"%s\" are not "
                   "the ones it was sealed for, or it was altered",
                   r->device, r->volume);
  if (k)
    return ctl_err(CTL_FAIL, "cannot open the envelope: %s", ke_rc_str(k));
  return CTL_OK;
}

static int load_all(const open_opts *o, ke_manifest *m, ke_request *r, ke_reqkey *key)
{
  const uint8_t *pin = CTL_HEX32(o->pin);
  int rc = o->manifest ? ctl_load_manifest(m, o->manifest, pin) : CTL_OK;
  if (rc || (rc = ctl_load_request(r, o->request, pin)) || (rc = ctl_load_reqkey(key, o->key)))
    return rc;
  if (o->manifest && memcmp(r->fingerprint, m->pub.fingerprint, KE_FPR_LEN) != 0)
    return ctl_err(CTL_FAIL, "the request's envelope is sealed to another escrow key than the "
                             "manifest's");
  if (strcmp(key->request_id, r->request_id) != 0 || memcmp(key->E.b, r->E.b, KE_POINT_LEN) != 0)
    return ctl_err(CTL_FAIL, "%s is the key of another request (%s)", o->key, key->request_id);
  return CTL_OK;
}

int ctl_cmd_open(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"request", required_argument, 0, CTL_OPT_ARG(open_opts, request)},
    {"key", required_argument, 0, CTL_OPT_ARG(open_opts, key)},
    {"manifest", required_argument, 0, CTL_OPT_ARG(open_opts, manifest)},
    {"raw", no_argument, 0, CTL_OPT_SET(open_opts, raw)},
    {"out", required_argument, 0, CTL_OPT_ARG(open_opts, out)},
    {"fingerprint", required_argument, 0, CTL_OPT_HEX32(open_opts, pin)},
    CTL_OPT_END,
  };
  open_opts o = {0};
  int first = 0, rc;
  if ((rc = ctl_getopt(cmd, argc, argv, opts, NULL, &o, &first)))
    return rc;
  if ((rc = CTL_REQUIRED({"--request", o.request}, {"--key", o.key})))
    return rc;
  if ((rc = ctl_new_file(o.out)))
    return rc;
  ke_manifest *m = o.manifest ? calloc(1, sizeof *m) : NULL;
  ke_request *r = calloc(1, sizeof *r);
  ke_reqkey *key = ke_secure_alloc(sizeof *key);
  ctl_good_parts *g = ke_secure_alloc(sizeof *g);
  uint8_t *secret = NULL;
  size_t len = 0;
  if ((o.manifest && !m) || !r || !key || !g) {
    rc = ctl_oom();
  }
  if (!rc)
    rc = load_all(&o, m, r, key);
  /* Every part is checked, so that each bad one is named, even past T. */
  for (int a = first; !rc && a < argc; a++)
    take_part(g, argv[a], r, key);
  if (!rc && g->count < r->pub.t) {
    unsigned missing = r->pub.t - (unsigned)g->count;
    rc = ctl_err(CTL_MISSING, "%zu good part%s of the %u needed: %u more missing", g->count,
                 g->count == 1 ? "" : "s", r->pub.t, missing);
  }
  if (!rc)
    rc = ctl_open_envelope(&secret, &len, g, r);
  if (!rc) {
    /* Written in one call, with the newline, from a locked copy. */
    int text = !o.raw && ke_text_valid(secret, len);
    uint8_t *buf = ke_secure_alloc(len + 1);
    if (!buf) {
      rc = ctl_oom();
    } else {
      memcpy(buf, secret, len);
      buf[len] = '\n';
      rc = ctl_write(o.out ? o.out : "-", buf, len + (size_t)text, 0600);
      ke_secure_free(buf, len + 1);
    }
  }
  ke_secure_free(secret, len);
  ke_secure_free(g, sizeof *g);
  ke_secure_free(key, sizeof *key);
  free(r);
  free(m);
  return rc;
}
