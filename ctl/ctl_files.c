/*
 * ctl_files.c - loading keyescrow files for escrowctl commands, with the
 * checks that tie them together (share <-> manifest, pinned fingerprint).
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_util.h"

/* `fpr` (`what` in the error) must match the --fingerprint pin, if any. */
static int pin_check(const uint8_t *pin, const uint8_t *fpr, const char *path, const char *what)
{
  char have[2 * KE_FPR_LEN + 1];
  if (!pin || memcmp(pin, fpr, KE_FPR_LEN) == 0)
    return CTL_OK;
  ke_hex_encode(have, fpr, KE_FPR_LEN);
  return ctl_err(CTL_FAIL, "%s: %s %s is not the pinned --fingerprint; refusing", path, what, have);
}

int ctl_load_manifest(ke_manifest *m, const char *path, const uint8_t *pin)
{
  CTL_LOAD(ke_manifest_parse, m, path, KE_FILE_MAX, 0, "manifest");
  return pin_check(pin, m->pub.fingerprint, path, "escrow key fingerprint");
}

int ctl_load_share(ke_sharefile *s, const char *path)
{
  CTL_LOAD(ke_sharefile_parse, s, path, KE_FILE_MAX, 0, "share file");
  return CTL_OK;
}

int ctl_load_request(ke_request *r, const char *path, const uint8_t *pin)
{
  CTL_LOAD(ke_request_parse, r, path, KE_FILE_MAX, 0, "request file");
  return pin_check(pin, r->fingerprint, path, "the request's escrow key");
}

int ctl_load_reqkey(ke_reqkey *k, const char *path)
{
  CTL_LOAD(ke_reqkey_parse, k, path, KE_FILE_MAX, 1, "requester key file");
  return CTL_OK;
}

int ctl_load_part(ke_partfile *p, const char *path)
{
  ke_buf b;
  ke_ferr e = {""};
  int rc = ctl_read(&b, path, KE_FILE_MAX, 0, "part file");
  if (rc)
    return rc;
  ke_rc k = ke_partfile_parse(p, b.p, b.len, &e);
  /* Which custodian sent a broken part is worth knowing: ask them again. */
  unsigned hint = k ? ke_partfile_index_hint(b.p, b.len) : 0;
  ke_buf_free(&b);
  if (!k)
    return CTL_OK;
  if (hint)
    ctl_errf("custodian %u: %s: %s", hint, path, e.msg[0] ? e.msg : ke_rc_str(k));
  else
    ctl_errf("%s: %s", path, e.msg[0] ? e.msg : ke_rc_str(k));
  return CTL_FAIL;
}

int ctl_check_share(const ke_sharefile *s, const ke_escrow_pub *pub, const char *name,
                    const char *whose)
{
  if (memcmp(s->fingerprint, pub->fingerprint, KE_FPR_LEN) != 0) {
    char fpr[2 * KE_FPR_LEN + 1];
    ke_hex_encode(fpr, s->fingerprint, KE_FPR_LEN);
    return ctl_err(CTL_FAIL,
                   "the share file belongs to another escrow key (%s), not to %s; "
                   "refusing",
                   fpr, whose);
  }
  if (s->index > pub->n)
    return ctl_err(CTL_FAIL, "share index %u is not in this escrow key (1..%u)", s->index, pub->n);
  if (name && strcmp(s->name, name) != 0)
    return ctl_err(CTL_FAIL, "the share file names custodian %u \"%s\", the manifest \"%s\"",
                   s->index, s->name, name);
  return CTL_OK;
}

int ctl_unseal_share(ke_scalar *d, const ke_sharefile *s, const ke_escrow_pub *pub,
                     const char *passfile)
{
  char prompt[KE_NAME_MAX + 64];
  ke_buf pass;
  snprintf(prompt, sizeof prompt, "Passphrase of custodian %u (%s)", s->index, s->name);
  int rc = ctl_passphrase(&pass, passfile, prompt, 0);
  if (rc)
    return rc;
  ke_rc k = ke_sharefile_unseal(d, s, pass.p, pass.len);
  ke_buf_free(&pass);
  if (k == KE_ERR_AUTH)
    return ctl_err(CTL_FAIL, "wrong passphrase, or the share file was altered");
  if (k)
    return ctl_err(CTL_FAIL, "cannot unseal the share: %s", ke_rc_str(k));
  /* The AAD binds the share file's fingerprint and index, so having
   * unsealed, they are the ceremony's; d_i*G == Q_i then ties the share to
   * the commitments of pub. */
  if ((k = ke_share_check(pub, s->index, d)) != KE_OK) {
    ke_wipe(d, sizeof *d);
    return ctl_err(CTL_FAIL,
                   "the share of custodian %u does not match the escrow key's "
                   "commitments (%s)",
                   s->index, ke_rc_str(k));
  }
  return CTL_OK;
}

int ctl_write_text(const char *path, char *text, size_t len, mode_t mode, int secure)
{
  int rc = CTL_FAIL;
  if (secure && strcmp(path, "-") == 0)
    ctl_errf("not writing a secret to standard output: name a file (mode 0600)");
  else
    rc = ctl_write(path, text, len, mode);
  if (secure) {
    ke_secure_free(text, len + 1);
  } else {
    ke_wipe(text, len);
    free(text);
  }
  return rc;
}
