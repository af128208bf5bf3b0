/*
 * ctl_files.c - loading keyescrow files for escrowctl commands, with the
 * checks that tie them together (share <-> manifest, pinned fingerprint).
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_util.h"

/* One parser signature per file type would need casts between function
 * pointer types; a macro keeps the five loaders identical instead. */
#define CTL_LOAD(parse, out, path, secure, what)                         \
  do {                                                                   \
    ctl_buf b_;                                                          \
    ke_ferr e_;                                                          \
    int r_ = ctl_read(&b_, (path), KE_FILE_MAX, (secure), (what));       \
    if (r_)                                                              \
      return r_;                                                         \
    ke_rc k_ = parse((out), b_.p, b_.len, &e_);                          \
    ctl_buf_free(&b_);                                                   \
    if (k_) {                                                            \
      ctl_errf("%s: %s", (path), e_.msg);                                \
      return CTL_FAIL;                                                   \
    }                                                                    \
  } while (0)

int ctl_load_manifest(ke_manifest *m, const char *path, const uint8_t *pin)
{
  CTL_LOAD(ke_manifest_parse, m, path, 0, "manifest");
  if (pin && memcmp(pin, m->pub.fingerprint, KE_FPR_LEN) != 0) {
    char have[2 * KE_FPR_LEN + 1];
    ke_hex_encode(have, m->pub.fingerprint, KE_FPR_LEN);
    ctl_errf("%s: escrow key fingerprint %s is not the pinned --fingerprint; refusing",
             path, have);
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_load_share(ke_sharefile *s, const char *path)
{
  CTL_LOAD(ke_sharefile_parse, s, path, 0, "share file");
  return CTL_OK;
}

int ctl_load_request(ke_request *r, const char *path)
{
  CTL_LOAD(ke_request_parse, r, path, 0, "request file");
  return CTL_OK;
}

int ctl_load_reqkey(ke_reqkey *k, const char *path)
{
  CTL_LOAD(ke_reqkey_parse, k, path, 1, "requester key file");
  return CTL_OK;
}

int ctl_load_part(ke_partfile *p, const char *path)
{
  CTL_LOAD(ke_partfile_parse, p, path, 0, "part file");
  return CTL_OK;
}

int ctl_unseal_share(ke_scalar *d, const ke_sharefile *s, const ke_manifest *m,
                     const char *passfile)
{
  if (memcmp(s->fingerprint, m->pub.fingerprint, KE_FPR_LEN) != 0) {
    ctl_errf("the share file belongs to another escrow key (fingerprint differs from "
             "the manifest's)");
    return CTL_FAIL;
  }
  if (s->index > m->pub.n) {
    ctl_errf("share index %u is not in this escrow key (1..%u)", s->index, m->pub.n);
    return CTL_FAIL;
  }
  if (strcmp(s->name, m->names[s->index - 1]) != 0) {
    ctl_errf("the share file names custodian %u \"%s\", the manifest \"%s\"", s->index,
             s->name, m->names[s->index - 1]);
    return CTL_FAIL;
  }
  char prompt[KE_NAME_MAX + 64];
  ctl_buf pass;
  snprintf(prompt, sizeof prompt, "Passphrase of custodian %u (%s)", s->index, s->name);
  int rc = ctl_passphrase(&pass, passfile, prompt, 0);
  if (rc)
    return rc;
  ke_rc k = ke_sharefile_unseal(d, s, pass.p, pass.len);
  ctl_buf_free(&pass);
  if (k == KE_ERR_AUTH) {
    ctl_errf("wrong passphrase, or the share file was altered");
    return CTL_FAIL;
  }
  if (k) {
    ctl_errf("cannot unseal the share: %s", ke_rc_str(k));
    return CTL_FAIL;
  }
  if ((k = ke_share_check(&m->pub, s->index, d)) != KE_OK) {
    ke_wipe(d, sizeof *d);
    ctl_errf("the share of custodian %u does not match the manifest's commitments (%s)",
             s->index, ke_rc_str(k));
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_write_text(const char *path, char *text, size_t len, mode_t mode, int secure)
{
  int rc = ctl_write(path, text, len, mode);
  if (secure) {
    ke_secure_free(text, len + 1);
  } else {
    ke_wipe(text, len);
    free(text);
  }
  return rc;
}
