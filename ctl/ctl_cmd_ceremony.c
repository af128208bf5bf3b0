/*
 * escrowctl ceremony - create the escrow key, offline.
 *
 * Order matters: every check that can fail without secrets (arguments,
 * existing files) runs before the passphrases are asked, and every
 * passphrase is known before the key exists, so a typo never leaves a key
 * half written.  d and the coefficients never leave ke_ceremony(); the shares
 * live in locked memory until each is sealed, and are wiped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_cmd.h"

const char ctl_usage_ceremony[] =
  "usage: escrowctl ceremony --threshold T --shares N --custodian NAME ... --out DIR\n"
  "                          [--passphrase-file I=PATH ...]\n"
  "\n"
  "Creates a P-256 escrow key split into N Shamir shares, any T of which open an\n"
  "envelope.  Writes DIR/escrow-key.json (the public manifest, mode 0644) and\n"
  "DIR/custodian-<i>.share.json (custodian i's share sealed under their\n"
  "passphrase, mode 0600), and prints the key's fingerprint on stdout.  Existing\n"
  "files are never overwritten.  Run it on an offline machine.\n"
  "\n"
  "  --threshold T            custodians needed to open (1 <= T <= N)\n"
  "  --shares N               number of custodians (N <= 255)\n"
  "  --custodian NAME         custodian names, in index order 1..N (N times)\n"
  "  --out DIR                output directory (created 0700 if missing)\n"
  "  --passphrase-file I=PATH custodian I's passphrase from PATH (one trailing\n"
  "                           newline is stripped); custodians without one are\n"
  "                           asked twice on the terminal.  12..1024 bytes,\n"
  "                           and not guessable (dictionary words, names,\n"
  "                           keyboard patterns are refused).\n"
  "  --scrypt-n N             scrypt cost of the share files (default 131072;\n"
  "                           a power of two >= 1024; lower values make stolen\n"
  "                           share files cheaper to attack: for tests only)\n";

#define MANIFEST_NAME "escrow-key.json"

typedef struct ceremony_opts {
  unsigned t, n, scrypt_n, ncust;
  const char *names[KE_MAX_SHARES];
  const char *passfiles[KE_MAX_SHARES]; /* by index - 1 */
  const char *out;
} ceremony_opts;

enum { O_T = 256, O_N, O_CUST, O_PASS, O_SCRYPT };

static int on_opt(void *ctx, int opt, const char *arg)
{
  ceremony_opts *o = ctx;
  unsigned i;
  switch (opt) {
    case O_T: return ctl_parse_uint(&o->t, arg, "--threshold", 1, KE_MAX_SHARES);
    case O_N: return ctl_parse_uint(&o->n, arg, "--shares", 1, KE_MAX_SHARES);
    case O_SCRYPT:
      return ctl_parse_uint(&o->scrypt_n, arg, "--scrypt-n", KE_SCRYPT_N_MIN, KE_SCRYPT_N_MAX);
    case O_CUST:
      if (o->ncust == KE_MAX_SHARES)
        return ctl_err(CTL_USAGE, "more than %d --custodian", KE_MAX_SHARES);
      if (!ke_label_valid(arg, KE_NAME_MAX))
        return ctl_err(CTL_USAGE,
                       "custodian names are 1..%d bytes of UTF-8 without control "
                       "characters",
                       KE_NAME_MAX);
      o->names[o->ncust++] = arg;
      return CTL_OK;
    case O_PASS: {
      const char *eq = strchr(arg, '=');
      char num[8];
      if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof num || !eq[1])
        return ctl_err(CTL_USAGE, "--passphrase-file takes I=PATH");
      memcpy(num, arg, (size_t)(eq - arg));
      num[eq - arg] = '\0';
      int rc =
        ctl_parse_uint(&i, num, "the custodian index of --passphrase-file", 1, KE_MAX_SHARES);
      if (rc)
        return rc;
      if (o->passfiles[i - 1])
        return ctl_err(CTL_USAGE, "two --passphrase-file for custodian %u", i);
      o->passfiles[i - 1] = eq + 1;
      return CTL_OK;
    }
  }
  return CTL_USAGE;
}

static int check_opts(const ceremony_opts *o)
{
  int rc = CTL_REQUIRED({"--threshold", o->t}, {"--shares", o->n}, {"--out", o->out});

  if (rc)
    return rc;
  if (o->t > o->n)
    return ctl_err(CTL_USAGE, "--threshold %u is larger than --shares %u", o->t, o->n);
  if (o->ncust != o->n)
    return ctl_err(CTL_USAGE, "%u --custodian names for %u shares", o->ncust, o->n);
  for (unsigned i = 0; i < o->n; i++)
    for (unsigned j = 0; j < i; j++)
      if (strcmp(o->names[i], o->names[j]) == 0)
        return ctl_err(CTL_USAGE, "custodians %u and %u have the same name", j + 1, i + 1);
  for (unsigned i = o->n; i < KE_MAX_SHARES; i++)
    if (o->passfiles[i])
      return ctl_err(CTL_USAGE, "--passphrase-file for custodian %u, but there are %u", i + 1,
                     o->n);
  return CTL_OK;
}

static void share_path(char *buf, size_t len, const char *dir, unsigned i)
{
  snprintf(buf, len, "%s/custodian-%u.share.json", dir, i);
}

/* The output directory exists (or is created) and none of the files does. */
static int prepare_out(const ceremony_opts *o)
{
  char path[4096];
  struct stat st;
  if (mkdir(o->out, 0700) != 0 && errno != EEXIST)
    return ctl_err(CTL_FAIL, "cannot create %s: %s", o->out, strerror(errno));
  if (stat(o->out, &st) != 0 || !S_ISDIR(st.st_mode))
    return ctl_err(CTL_FAIL, "%s is not a directory", o->out);
  snprintf(path, sizeof path, "%s/%s", o->out, MANIFEST_NAME);
  for (unsigned i = 0; i <= o->n; i++) {
    if (i)
      share_path(path, sizeof path, o->out, i);
    if (ctl_exists(path))
      return ctl_err(CTL_FAIL, "%s already exists; use an empty directory", path);
  }
  return CTL_OK;
}

/* Seal and write every share file, then the manifest; on failure remove
 * what was written, so that a ceremony either happened or did not. */
static int write_files(const ceremony_opts *o, const ke_manifest *m, const ke_scalar *shares,
                       ke_buf *pass)
{
  char path[4096];
  unsigned written = 0;
  int rc = CTL_OK;
  ke_scrypt_params kdf = KE_SCRYPT_DEFAULT;
  if (o->scrypt_n)
    kdf.N = o->scrypt_n;
  for (unsigned i = 1; !rc && i <= o->n; i++) {
    ke_sharefile sf;
    char *text = NULL;
    size_t len = 0;
    ke_rc k = ke_sharefile_seal(&sf, pass[i - 1].p, pass[i - 1].len, kdf, m->pub.fingerprint, i,
                                o->names[i - 1], &shares[i - 1]);
    if (!k)
      k = ke_sharefile_write(&text, &len, &sf);
    if (k) {
      rc = ctl_err(CTL_FAIL, "cannot seal the share of custodian %u: %s", i, ke_rc_str(k));
      break;
    }
    share_path(path, sizeof path, o->out, i);
    if (!(rc = ctl_write_text(path, text, len, 0600, 0)))
      written = i;
  }
  if (!rc) {
    char *text = NULL;
    size_t len = 0;
    ke_rc k = ke_manifest_write(&text, &len, m);
    snprintf(path, sizeof path, "%s/%s", o->out, MANIFEST_NAME);
    if (k) {
      rc = ctl_err(CTL_FAIL, "cannot write the manifest: %s", ke_rc_str(k));
    } else {
      rc = ctl_write_text(path, text, len, 0644, 0);
    }
  }
  for (unsigned i = 1; rc && i <= written; i++) {
    share_path(path, sizeof path, o->out, i);
    unlink(path);
  }
  return rc;
}

int ctl_cmd_ceremony(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"threshold", required_argument, 0, O_T},
    {"shares", required_argument, 0, O_N},
    {"custodian", required_argument, 0, O_CUST | CTL_OPT_MULTI},
    {"out", required_argument, 0, CTL_OPT_ARG(ceremony_opts, out)},
    {"passphrase-file", required_argument, 0, O_PASS | CTL_OPT_MULTI},
    {"scrypt-n", required_argument, 0, O_SCRYPT},
    CTL_OPT_END,
  };
  ceremony_opts o = {0};
  ke_buf pass[KE_MAX_SHARES];
  ke_manifest *m = NULL;
  ke_scalar *shares = NULL;
  int rc;
  memset(pass, 0, sizeof pass);
  if ((rc = ctl_getopt(cmd, argc, argv, opts, on_opt, &o, NULL)))
    return rc;
  if (o.scrypt_n && (o.scrypt_n & (o.scrypt_n - 1)))
    return ctl_err(CTL_USAGE, "--scrypt-n must be a power of two");
  if (o.scrypt_n && o.scrypt_n < KE_SCRYPT_DEFAULT.N)
    ctl_notef("\n*** WARNING: --scrypt-n %u is below the default %llu. A stolen share file\n"
              "*** will be %llu times cheaper to attack by guessing its passphrase.\n"
              "*** Use this for tests only, never for a real escrow key.\n",
              o.scrypt_n, (unsigned long long)KE_SCRYPT_DEFAULT.N,
              (unsigned long long)KE_SCRYPT_DEFAULT.N / o.scrypt_n);
  if ((rc = check_opts(&o)) || (rc = prepare_out(&o)))
    return rc;
  for (unsigned i = 0; !rc && i < o.n; i++) {
    char prompt[KE_NAME_MAX + 64];
    snprintf(prompt, sizeof prompt, "New passphrase for custodian %u (%s)", i + 1, o.names[i]);
    rc = ctl_passphrase(&pass[i], o.passfiles[i], prompt, CTL_PASS_NEW_SHARE);
  }
  m = calloc(1, sizeof *m);
  shares = ke_secure_alloc(o.n * sizeof *shares);
  if (!rc && (!m || !shares)) {
    rc = ctl_oom();
  }
  ke_rc k = KE_OK;
  if (!rc && (k = ke_ceremony(&m->pub, shares, o.t, o.n)) == KE_OK)
    k = ke_time_rfc3339(m->created, time(NULL));
  if (!rc && k)
    rc = ctl_err(CTL_FAIL, "key generation failed: %s", ke_rc_str(k));
  for (unsigned i = 0; !rc && i < o.n; i++)
    memcpy(m->names[i], o.names[i], strlen(o.names[i]) + 1);
  if (!rc)
    rc = write_files(&o, m, shares, pass);
  if (!rc) {
    char fpr[2 * KE_FPR_LEN + 1];
    ke_hex_encode(fpr, m->pub.fingerprint, KE_FPR_LEN);
    ctl_notef("Escrow key: %u of %u custodians, written to %s/. Give each custodian "
              "their custodian-<i>.share.json; publish %s and pin the fingerprint:",
              o.t, o.n, o.out, MANIFEST_NAME);
    printf("%s\n", fpr);
  }
  ke_secure_free(shares, o.n * sizeof *shares);
  for (unsigned i = 0; i < o.n; i++)
    ke_buf_free(&pass[i]);
  free(m);
  return rc;
}
