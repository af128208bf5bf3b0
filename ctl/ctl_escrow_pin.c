/*
 * ctl_escrow_pin.c - the pinned escrow-key fingerprints (ctl_escrow_pin.h).
 */
#include "ctl_escrow_pin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl_audit.h"
#include "ctl_util.h"
#include "ke_util.h"

/* Does the list `s` (HEX separated by ',', spaces or newlines) hold fpr?
 * 1 yes, 0 no, -1 a malformed entry. */
static int list_has(const char *s, const uint8_t fpr[KE_FPR_LEN])
{
  int found = 0;

  while (*s) {
    size_t n = strcspn(s, ", \t\r\n");
    uint8_t b[KE_FPR_LEN];
    char hex[65];
    if (n) {
      if (n != 64)
        return -1;
      memcpy(hex, s, 64);
      hex[64] = '\0';
      if (ke_hex_decode(b, sizeof b, hex) != KE_OK)
        return -1;
      found |= CRYPTO_memcmp(b, fpr, KE_FPR_LEN) == 0;
    }
    s += n;
    if (*s)
      s++;
  }
  return found;
}

int ctl_escrow_pin_check(const char *arg, const uint8_t fpr[KE_FPR_LEN], const char *what)
{
  const char *env = getenv("ESCROWCTL_ESCROW_FINGERPRINT"), *from;
  char path[4200], hex[65];
  ke_buf b = {0};
  int r, rc;

  ke_hex_encode(hex, fpr, KE_FPR_LEN);
  if (arg) {
    from = "--escrow-fingerprint";
    r = list_has(arg, fpr);
  } else if (env && *env) {
    from = "$ESCROWCTL_ESCROW_FINGERPRINT";
    r = list_has(env, fpr);
  } else {
    if ((rc = ctl_audit_default_path(path, sizeof path, CTL_ESCROW_PIN_FILE)))
      return rc;
    if (!ctl_exists(path)) {
      ctl_notef("warning: no escrow-key fingerprint is pinned; %s uses escrow key %s as the "
                "server says.  Check it out of band and pin it (--escrow-fingerprint, "
                "$ESCROWCTL_ESCROW_FINGERPRINT or `escrowctl escrow-key pin`)",
                what, hex);
      return CTL_OK;
    }
    if ((rc = ctl_read(&b, path, 64 * 1024, 0, "pinned escrow fingerprints")))
      return rc;
    from = path;
    r = list_has(b.p, fpr);
    ke_buf_free(&b);
  }
  if (r < 0)
    return ctl_err(CTL_FAIL, "the escrow-key fingerprints in %s are not all 64 hex digits", from);
  if (r == 0)
    return ctl_err(CTL_FAIL,
                   "ESCROW KEY NOT PINNED: %s is under escrow key %s, which is not a "
                   "fingerprint pinned in %s: refusing",
                   what, hex, from);
  return CTL_OK;
}

int ctl_escrow_pin_add(const char *hex)
{
  uint8_t fpr[KE_FPR_LEN];
  char path[4200], line[66];
  ke_buf b = {0};
  int rc, fd;

  if ((rc = ctl_parse_hex32(fpr, hex, "FINGERPRINT")))
    return rc;
  if ((rc = ctl_audit_config_dir()) ||
      (rc = ctl_audit_default_path(path, sizeof path, CTL_ESCROW_PIN_FILE)))
    return rc;
  fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    ctl_errf("cannot open %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return CTL_FAIL;
  }
  if ((rc = ctl_read(&b, path, 64 * 1024, 0, "pinned escrow fingerprints")))
    goto out;
  if (list_has(b.p, fpr) > 0) {
    printf("escrow key %s is pinned already\n", hex);
    goto out;
  }
  ke_hex_encode(line, fpr, KE_FPR_LEN);
  line[64] = '\n';
  line[65] = '\0';
  if (write(fd, line, 65) != 65 || fsync(fd) != 0) {
    rc = ctl_err(CTL_FAIL, "cannot write %s: %s", path, strerror(errno));
    goto out;
  }
  printf("pinned escrow key %.64s in %s\n", line, path);
out:
  ke_buf_free(&b);
  close(fd);
  return rc;
}
