/*
 * escrowctl key register - create (once) the helpdesk client key that
 * signs retrieval requests, and upload its public half to the server
 * (PUT /v1/client-key).  The key file is an Ed25519 key in the note key
 * format (ke_note_key_save: mode 0600, never replaced); the server audits
 * its fingerprint, SHA-256 of the raw public key.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_audit.h"
#include "ctl_cmd.h"
#include "ctl_config.h"
#include "ctl_http.h"
#include "ctl_open.h"
#include "ke_note.h"
#include "ke_util.h"

const char ctl_usage_key_register[] =
  "usage: escrowctl key register [--client-key FILE] [--password-file F]\n"
  "\n"
  "Creates your client key (once; an existing key file is reused) and\n"
  "registers its public key with the server.  Retrieval requests (escrowctl\n"
  "retrieve) are signed with it.  Replacing a key registered before needs\n"
  "your password (asked on the terminal, or --password-file), and custodians\n"
  "who pinned your old key refuse the new one until they re-pin it: read them\n"
  "`escrowctl key show`.\n"
  "\n"
  "  --client-key FILE   the key file (default: client-key in escrowctl's\n"
  "                      configuration directory, ~/.config/escrowctl)\n"
  "  --password-file F   your account password (first line), for a replacement\n"
  "  --server URL, --cacert PEM   as for every online command\n";

#define CTL_CLIENT_KEY_NAME "escrowctl-client"

int ctl_client_key_path(char *out, size_t outlen, const char *given)
{
  char dir[4096];
  int n;

  if (given) {
    n = snprintf(out, outlen, "%s", given);
  } else {
    if (ctl_config_dir(dir, sizeof dir) != CTL_OK)
      return CTL_FAIL;
    if (ctl_audit_config_dir() != CTL_OK)
      return CTL_FAIL;
    n = snprintf(out, outlen, "%s/client-key", dir);
  }
  if (n < 0 || (size_t)n >= outlen)
    return ctl_err(CTL_USAGE, "the client key path is too long");
  return CTL_OK;
}

typedef struct key_opts {
  ctl_http_target t;
  const char *file, *password_file;
} key_opts;

/* PUT the key; when the server says a replacement needs the password (or
 * --password-file was given), send it with the key, once. */
static int put_key(ctl_http *h, const key_opts *o, json_t *body, json_t **ans)
{
  long status = 0;
  ke_buf pw = {0};
  int rc, asked = 0;

  for (;;) {
    json_decref(*ans);
    *ans = NULL;
    if ((rc = ctl_http_call_status(h, "PUT", "/v1/client-key", body, &status, ans)))
      return rc;
    if (status >= 200 && status <= 299)
      break;
    const char *code = ctl_jstr(json_object_get(*ans, "error"), "code");
    if (status != 403 || asked || !code || strcmp(code, "reauthentication_required") != 0 ||
        json_object_get(body, "password"))
      return ctl_http_report(h, status, *ans);
    /* A key is registered already: replacing it needs the password. */
    if (!o->password_file && !ctl_interactive())
      return ctl_err(CTL_USAGE, "a client key is registered already: replacing it needs your "
                                "password (--password-file)");
    if ((rc = ctl_passphrase(&pw, o->password_file,
                             "Your password (to replace your client "
                             "key): ",
                             0)))
      return rc;
    rc = json_object_set_new(body, "password", json_stringn(pw.p, pw.len)) ? CTL_FAIL : CTL_OK;
    ke_buf_free(&pw);
    if (rc) {
      ctl_errf("the password is not valid UTF-8");
      return rc;
    }
    asked = 1;
  }
  return CTL_OK;
}

int ctl_cmd_key_register(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    CTL_HTTP_OPTIONS,
    {"client-key", required_argument, 0, CTL_OPT_ARG(key_opts, file)},
    {"password-file", required_argument, 0, CTL_OPT_ARG(key_opts, password_file)},
    CTL_OPT_END,
  };
  key_opts o = {0};
  char path[4200], *b64 = NULL;
  ke_note_key *k = NULL;
  ke_note_verifier v;
  ctl_http *h = NULL;
  json_t *body = NULL, *ans = NULL;
  int rc, created = 0;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, NULL)))
    return rc;
  if ((rc = ctl_client_key_path(path, sizeof path, o.file)))
    return rc;
  if (ke_note_key_load_or_create(&k, path, CTL_CLIENT_KEY_NAME, &created) != KE_OK)
    return ctl_err(CTL_FAIL,
                   "cannot load or create the client key %s (it must be yours, mode "
                   "0600)",
                   path);
  ke_note_key_verifier(k, &v);
  if (!(b64 = ke_b64url_encode(v.pub, sizeof v.pub)) ||
      !(body = json_pack("{s:s}", "public_key", b64))) {
    rc = ctl_oom();
    goto out;
  }
  if ((rc = ctl_http_open(&h, &o.t, 1)) || (rc = put_key(h, &o, body, &ans)))
    goto out;
  printf("%s client key %s\n%s; fingerprint %s\n", created ? "created" : "reused", path,
         json_is_true(json_object_get(ans, "replaced")) ? "registered, replacing your old key"
                                                        : "registered",
         ctl_jstr(ans, "fingerprint") ?: "?");
  if (json_is_true(json_object_get(ans, "replaced")))
    printf("custodians who pinned your old key (%s) will refuse your requests until they "
           "re-pin: read them `escrowctl key show`\n",
           ctl_jstr(ans, "old_fingerprint") ?: "?");
out:
  json_decref(ans);
  json_decref(body);
  free(b64);
  ctl_http_free(h);
  ke_note_key_free(k);
  return rc;
}

const char ctl_usage_key_show[] =
  "usage: escrowctl key show [--client-key FILE]\n"
  "\n"
  "Prints your client key's fingerprint (SHA-256 of the public key) in full\n"
  "and in groups, for custodians to pin with `escrowctl pin add` after\n"
  "checking it with you out of band.  Nothing is sent to the server.\n"
  "\n"
  "  --client-key FILE   the key file (default: client-key in escrowctl's\n"
  "                      configuration directory)\n";

int ctl_cmd_key_show(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"client-key", required_argument, 0, CTL_OPT_ARG(key_opts, file)},
    CTL_OPT_END,
  };
  key_opts o = {0};
  char path[4200], hex[65], groups[80];
  uint8_t fpr[32];
  unsigned int fl = 0;
  ke_note_key *k = NULL;
  ke_note_verifier v;
  int rc;

  if ((rc = ctl_getopt(cmd, argc, argv, opts, ctl_http_on_opt, &o, NULL)))
    return rc;
  if ((rc = ctl_client_key_path(path, sizeof path, o.file)))
    return rc;
  if (ke_note_key_load(&k, path) != KE_OK)
    return ctl_err(CTL_FAIL, "cannot load the client key %s (run `escrowctl key register` first)",
                   path);
  ke_note_key_verifier(k, &v);
  ke_note_key_free(k);
  if (EVP_Digest(v.pub, sizeof v.pub, fpr, &fl, EVP_sha256(), NULL) != 1 || fl != 32)
    return ctl_err(CTL_FAIL, "cannot hash the public key");
  ke_hex_encode(hex, fpr, sizeof fpr);
  ctl_hex_groups(groups, fpr);
  printf("%s\n%s\n", hex, groups);
  return CTL_OK;
}
