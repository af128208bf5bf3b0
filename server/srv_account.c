/*
 * srv_account.c - names, passwords, tokens and row helpers of the account
 * endpoints (see srv_account.h).
 */
#include "srv_account.h"
#include "srv_ep.h"
#include "srv_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ke_crypto.h"
#include "ke_util.h"

struct srv_auth_settings srv_auth_cfg = {
  28800, 31536000, 5, 20, 900, 60, 15, 900, 100, 2, 2592000,
};

int srv_account_name_ok(const char *name)
{
  size_t n = strlen(name);

  if (n < 1 || n > SRV_NAME_MAX || !(name[0] >= 'a' && name[0] <= 'z'))
    return 0;
  for (size_t i = 1; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return 1;
}

int srv_account_token_name_ok(const char *name)
{
  size_t n = strlen(name);

  if (n < 1 || n > SRV_TOKEN_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || !strchr(" ._:@-", c)))
      return 0;
  }
  return 1;
}

const char *srv_account_password_problem(const char *pw)
{
  size_t n = strlen(pw), chars = 0;

  /* Length is counted in characters (UTF-8 continuation bytes skipped):
   * jansson already guarantees valid UTF-8 without NUL. */
  for (size_t i = 0; i < n; i++)
    chars += ((unsigned char)pw[i] & 0xC0) != 0x80;
  if (chars < SRV_PASSWORD_MIN)
    return "password must have at least 12 characters";
  if (n > SRV_PASSWORD_MAX)
    return "password must have at most 1024 bytes";
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f)
      return "password must not contain control characters";
  return NULL;
}

static int srv_scrypt(uint8_t out[32], const char *pw, const uint8_t salt[16], unsigned n,
                      unsigned r, unsigned p)
{
  ke_scrypt_params prm = {n, r, p};

  return ke_scrypt(out, 32, pw, strlen(pw), salt, 16, prm) == KE_OK ? 0 : -1;
}

int srv_account_hash_password(struct srv_pwhash *out, const char *pw)
{
  out->n = 1u << srv_auth_cfg.scrypt_log2n;
  out->r = 8;
  out->p = 1;
  if (ke_random(out->salt, sizeof out->salt) != KE_OK)
    return -1;
  return srv_scrypt(out->hash, pw, out->salt, out->n, out->r, out->p);
}

int srv_account_pw_current(const struct srv_pwhash *h)
{
  return h->n == 1u << srv_auth_cfg.scrypt_log2n && h->r == 8 && h->p == 1;
}

int srv_account_check_password(const struct srv_pwhash *h, const char *pw)
{
  uint8_t got[32];
  int ok;

  if (!h) {
    /* Same work as a real check; the result is thrown away. */
    static const uint8_t salt[16] = "keyescrow-dummy";
    (void)srv_scrypt(got, pw, salt, 1u << srv_auth_cfg.scrypt_log2n, 8, 1);
    ke_wipe(got, sizeof got);
    return 0;
  }
  ok = srv_scrypt(got, pw, h->salt, h->n, h->r, h->p) == 0 && ke_ct_eq(got, h->hash, sizeof got);
  ke_wipe(got, sizeof got);
  return ok;
}

int srv_account_generate_password(char out[SRV_GEN_PASSWORD_LEN + 1])
{
  /* No 0/O/1/l/I: read aloud or copied from a screen without mistakes. */
  static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const unsigned na = sizeof alphabet - 1; /* 56 */
  size_t i = 0;

  while (i < SRV_GEN_PASSWORD_LEN) {
    uint8_t b[32];
    if (ke_random(b, sizeof b) != KE_OK)
      return -1;
    /* Rejection sampling keeps every character uniform. */
    for (size_t k = 0; k < sizeof b && i < SRV_GEN_PASSWORD_LEN; k++)
      if (b[k] < 224)
        out[i++] = alphabet[b[k] % na];
    ke_wipe(b, sizeof b);
  }
  out[i] = '\0';
  return 0;
}

static int srv_sha256(uint8_t out[32], const void *in, size_t len)
{
  unsigned int outlen = 0;

  return EVP_Digest(in, len, out, &outlen, EVP_sha256(), NULL) == 1 && outlen == 32 ? 0 : -1;
}

int srv_account_new_token(char kind, char out[SRV_TOKEN_TEXT_MAX + 1], uint8_t hash[32])
{
  uint8_t rnd[32];
  char *b64;
  int rc = -1;

  if (ke_random(rnd, sizeof rnd) != KE_OK)
    return -1;
  b64 = ke_b64url_encode(rnd, sizeof rnd);
  ke_wipe(rnd, sizeof rnd);
  if (!b64)
    return -1;
  /* A recognisable prefix lets secret scanners find leaked tokens. */
  if (snprintf(out, SRV_TOKEN_TEXT_MAX + 1, "ke%c_%s", kind, b64) < SRV_TOKEN_TEXT_MAX + 1)
    rc = srv_sha256(hash, out, strlen(out));
  ke_wipe(b64, strlen(b64));
  free(b64);
  return rc;
}

int srv_account_token_hash(const char *token, uint8_t hash[32])
{
  size_t n = strlen(token);

  if (n != 47 || token[0] != 'k' || token[1] != 'e' || token[3] != '_')
    return -1;
  for (size_t i = 4; i < n; i++) {
    char c = token[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return -1;
  }
  return srv_sha256(hash, token, n);
}

void srv_pwhash_params(struct srv_pwhash_params *out, const struct srv_pwhash *pw)
{
  srv_bytea_param(out->salt, pw->salt, sizeof pw->salt);
  srv_bytea_param(out->hash, pw->hash, sizeof pw->hash);
  snprintf(out->n, sizeof out->n, "%u", pw->n);
  snprintf(out->r, sizeof out->r, "%u", pw->r);
  snprintf(out->p, sizeof out->p, "%u", pw->p);
}

PGresult *srv_account_user_insert(struct srv_db *db, const char *name, const char *role, int cidx,
                                  const struct srv_pwhash *pw, int generated,
                                  enum srv_db_status *st)
{
  char cidx_s[16];
  struct srv_pwhash_params h;
  const char *params[9] = {name, role, cidx ? cidx_s : NULL,        h.salt, h.hash, h.n,
                           h.r,  h.p,  generated ? "true" : "false"};

  PGresult *r;

  snprintf(cidx_s, sizeof cidx_s, "%d", cidx);
  srv_pwhash_params(&h, pw);
  r = srv_db_exec(db, SRV_STMT_USER_INSERT, params, st);
  ke_wipe(&h, sizeof h);
  return r;
}

int srv_account_body_password(struct srv_request *req, const char *password,
                              char gen[SRV_GEN_PASSWORD_LEN + 1], struct srv_pwhash *pw,
                              int *generated, enum MHD_Result *ret)
{
  const char *problem;

  gen[0] = '\0';
  *generated = 0;
  if (password && (problem = srv_account_password_problem(password))) {
    *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST, problem);
    return 1;
  }
  /* None given: a generated one, to be replaced at the next login. */
  if (!password && srv_account_generate_password(gen) != 0) {
    *ret = srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    return 1;
  }
  *generated = !password;
  if (srv_account_hash_password(pw, password ? password : gen) != 0) {
    ke_wipe(gen, SRV_GEN_PASSWORD_LEN + 1);
    *ret = srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
    return 1;
  }
  return 0;
}
