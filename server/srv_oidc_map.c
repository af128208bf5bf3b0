/*
 * srv_oidc_map.c - claims to roles, MFA, names and local-login rules
 * (srv_oidc_map.h).
 */
#include "srv_oidc_map.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_util.h"

#define SRV_MAP_MAX 64 /* entries of any one list */

struct srv_map_entry {
  char *value;
  char role[16];
  int index;
  char scope[2200]; /* "" = every group */
};

static struct {
  char *claim;
  struct srv_map_entry map[SRV_MAP_MAX];
  size_t nmap;
  char *mfa_roles[8], *amr[SRV_MAP_MAX], *acr[SRV_MAP_MAX];
  size_t nmfa_roles, namr, nacr;
  char *local_users[SRV_MAP_MAX], *local_off[8];
  size_t nlocal_users, nlocal_off;
  int local_users_set;
} srv_map;

/* Split a comma-separated list into trimmed, non-empty copies. */
static int srv_map_list(const char *s, char **out, size_t max, size_t *n)
{
  *n = 0;
  while (s && *s) {
    size_t len = strcspn(s, ","), b = 0, e = len;
    while (b < e && (s[b] == ' ' || s[b] == '\t'))
      b++;
    while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'))
      e--;
    if (e > b) {
      if (*n == max || !(out[*n] = strndup(s + b, e - b)))
        return -1;
      (*n)++;
    }
    s += len + (s[len] == ',');
  }
  return 0;
}

static int srv_map_is_role(const char *r)
{
  static const char *roles[] = {"admin", "helpdesk", "auditor", "custodian"};
  for (size_t i = 0; i < 4; i++)
    if (strcmp(r, roles[i]) == 0)
      return 1;
  return 0;
}

/* The scope of an entry: patterns separated by '|' (in the config, where
 * ',' separates entries), stored as "a,b" as the users table takes it. */
static int srv_map_scope_parse(const char *in, char *out, size_t n)
{
  size_t count = 0, o = 0;

  for (const char *p = in;; p += strcspn(p, "|") + 1) {
    size_t len = strcspn(p, "|");
    if (len < 1 || len > 64 || ++count > 32 ||
        strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._*-") < len ||
        o + len + 2 > n)
      return -1;
    if (o)
      out[o++] = ',';
    memcpy(out + o, p, len);
    o += len;
    out[o] = '\0';
    if (!p[len])
      return 0;
  }
}

/* VALUE=ROLE[#INDEX][@PATTERN|PATTERN...] */
static int srv_map_entry_parse(char *item, struct srv_map_entry *e, char *err, size_t errlen)
{
  char *eq = strrchr(item, '='), *hash, *at, *end = NULL;
  long idx = 0;

  if (!eq || eq == item) {
    snprintf(err, errlen, "oidc_role_map: \"%s\" is not VALUE=ROLE[#INDEX][@GROUPS]", item);
    return -1;
  }
  *eq = '\0';
  e->scope[0] = '\0';
  if ((at = strchr(eq + 1, '@'))) {
    *at = '\0';
    if (srv_map_scope_parse(at + 1, e->scope, sizeof e->scope) != 0) {
      snprintf(err, errlen,
               "oidc_role_map: \"%s\": the groups after @ are patterns of [A-Za-z0-9._*-] "
               "separated by |",
               item);
      return -1;
    }
  }
  if ((hash = strchr(eq + 1, '#'))) {
    *hash = '\0';
    idx = strtol(hash + 1, &end, 10);
  }
  if (!srv_map_is_role(eq + 1) || strlen(eq + 1) >= sizeof e->role ||
      (strcmp(eq + 1, "custodian") == 0) != (hash != NULL) ||
      (hash && (!end || *end || idx < 1 || idx > 255))) {
    snprintf(err, errlen,
             "oidc_role_map: \"%s\": the role is admin, helpdesk, auditor or custodian#INDEX "
             "(1..255)",
             eq + 1);
    return -1;
  }
  if (e->scope[0] && strcmp(eq + 1, "helpdesk") != 0 && strcmp(eq + 1, "auditor") != 0) {
    snprintf(err, errlen,
             "oidc_role_map: \"%s\": only helpdesk and auditor bindings take device groups", item);
    return -1;
  }
  snprintf(e->role, sizeof e->role, "%s", eq + 1);
  e->index = (int)idx;
  e->value = item; /* owned from here */
  return 0;
}

int srv_oidc_map_init(const struct srv_config *cfg, char *err, size_t errlen)
{
  char *items[SRV_MAP_MAX];
  size_t n = 0;

  srv_oidc_map_free();
  if (!(srv_map.claim = strdup(cfg->oidc_role_claim ? cfg->oidc_role_claim : "groups")) ||
      srv_map_list(cfg->oidc_role_map, items, SRV_MAP_MAX, &n) != 0) {
    snprintf(err, errlen, "oidc_role_map: at most %d entries", SRV_MAP_MAX);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    if (srv_map_entry_parse(items[i], &srv_map.map[srv_map.nmap], err, errlen) != 0) {
      for (size_t j = i; j < n; j++)
        free(items[j]);
      return -1;
    }
    srv_map.nmap++;
  }
  if (cfg->oidc_issuer && !srv_map.nmap) {
    snprintf(err, errlen, "oidc_role_map is required with oidc_issuer (no role, no login)");
    return -1;
  }
  if (strcmp(cfg->oidc_mfa_roles ? cfg->oidc_mfa_roles : "", "-") != 0 &&
      srv_map_list(cfg->oidc_mfa_roles, srv_map.mfa_roles, 8, &srv_map.nmfa_roles) != 0) {
    snprintf(err, errlen, "oidc_mfa_roles: a list of roles");
    return -1;
  }
  for (size_t i = 0; i < srv_map.nmfa_roles; i++)
    if (!srv_map_is_role(srv_map.mfa_roles[i])) {
      snprintf(err, errlen, "oidc_mfa_roles: \"%s\" is not a role", srv_map.mfa_roles[i]);
      return -1;
    }
  if (srv_map_list(cfg->oidc_mfa_amr, srv_map.amr, SRV_MAP_MAX, &srv_map.namr) != 0 ||
      srv_map_list(cfg->oidc_mfa_acr, srv_map.acr, SRV_MAP_MAX, &srv_map.nacr) != 0 ||
      srv_map_list(cfg->local_login_users, srv_map.local_users, SRV_MAP_MAX,
                   &srv_map.nlocal_users) != 0 ||
      srv_map_list(cfg->local_login_disabled_roles, srv_map.local_off, 8, &srv_map.nlocal_off) !=
        0) {
    snprintf(err, errlen, "oidc_mfa_amr, oidc_mfa_acr, local_login_*: at most %d entries",
             SRV_MAP_MAX);
    return -1;
  }
  if (cfg->oidc_issuer && srv_map.nmfa_roles && !srv_map.namr && !srv_map.nacr) {
    snprintf(err, errlen, "oidc_mfa_roles needs oidc_mfa_amr or oidc_mfa_acr");
    return -1;
  }
  for (size_t i = 0; i < srv_map.nlocal_off; i++)
    if (!srv_map_is_role(srv_map.local_off[i])) {
      snprintf(err, errlen, "local_login_disabled_roles: \"%s\" is not a role",
               srv_map.local_off[i]);
      return -1;
    }
  srv_map.local_users_set = cfg->local_login_users != NULL;
  return 0;
}

static void srv_map_free_list(char **l, size_t *n)
{
  for (size_t i = 0; i < *n; i++)
    free(l[i]);
  *n = 0;
}

void srv_oidc_map_free(void)
{
  for (size_t i = 0; i < srv_map.nmap; i++)
    free(srv_map.map[i].value);
  srv_map.nmap = 0;
  free(srv_map.claim);
  srv_map.claim = NULL;
  srv_map_free_list(srv_map.mfa_roles, &srv_map.nmfa_roles);
  srv_map_free_list(srv_map.amr, &srv_map.namr);
  srv_map_free_list(srv_map.acr, &srv_map.nacr);
  srv_map_free_list(srv_map.local_users, &srv_map.nlocal_users);
  srv_map_free_list(srv_map.local_off, &srv_map.nlocal_off);
  srv_map.local_users_set = 0;
}

/* Does claim `c` (a string or an array of strings) hold `v`? */
static int srv_map_claim_has(const json_t *c, const char *v)
{
  const json_t *x;
  size_t i;

  if (json_is_string(c))
    return strcmp(json_string_value(c), v) == 0;
  json_array_foreach (c, i, x)
    if (json_is_string(x) && strcmp(json_string_value(x), v) == 0)
      return 1;
  return 0;
}

int srv_oidc_map_role(const json_t *claims, struct srv_oidc_grant *g)
{
  const json_t *c = json_object_get(claims, srv_map.claim ? srv_map.claim : "groups");

  memset(g, 0, sizeof *g);
  for (size_t i = 0; i < srv_map.nmap; i++)
    if (srv_map_claim_has(c, srv_map.map[i].value)) {
      snprintf(g->role, sizeof g->role, "%s", srv_map.map[i].role);
      g->custodian_index = srv_map.map[i].index;
      snprintf(g->scope, sizeof g->scope, "%s", srv_map.map[i].scope);
      snprintf(g->matched, sizeof g->matched, "%s", srv_map.map[i].value);
      return 0;
    }
  return -1;
}

static int srv_map_in(char *const *l, size_t n, const char *v)
{
  for (size_t i = 0; v && i < n; i++)
    if (strcmp(l[i], v) == 0)
      return 1;
  return 0;
}

int srv_oidc_map_mfa_ok(const json_t *claims, const char *role)
{
  const json_t *amr = json_object_get(claims, "amr");
  const char *acr = json_string_value(json_object_get(claims, "acr"));

  if (!srv_map_in(srv_map.mfa_roles, srv_map.nmfa_roles, role))
    return 1;
  for (size_t i = 0; i < srv_map.namr && json_is_array(amr); i++) {
    /* "pwd+otp": every one of them (two factors named one by one) */
    int all = 1;
    for (const char *p = srv_map.amr[i]; all && *p;
         p += strcspn(p, "+") + (p[strcspn(p, "+")] != 0)) {
      char one[64];
      snprintf(one, sizeof one, "%.*s", (int)strcspn(p, "+"), p);
      all = srv_map_claim_has(amr, one);
    }
    if (all)
      return 1;
  }
  return srv_map_in(srv_map.acr, srv_map.nacr, acr);
}

void srv_oidc_person(char out[SRV_OIDC_PERSON_LEN + 1], const char *issuer, const char *subject)
{
  uint8_t h[32];
  unsigned n = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(c, issuer, strlen(issuer) + 1) == 1 && /* with its NUL */
           EVP_DigestUpdate(c, subject, strlen(subject)) == 1 &&
           EVP_DigestFinal_ex(c, h, &n) == 1 && n == 32;

  EVP_MD_CTX_free(c);
  memcpy(out, "oidc:", 5);
  if (!ok)
    memset(h, 0, sizeof h); /* never happens; an all-zero person matches no other */
  ke_hex_encode(out + 5, h, 20);
}

/* Lower-case, [a-z0-9._-], starting with a letter, at most 22 characters
 * (with a suffix of up to 41 it still fits the 63 of an account name). */
static void srv_map_fit_name(char *out, size_t n, const char *in)
{
  size_t o = 0;

  for (; in && *in && o + 1 < n && o < 22; in++) {
    char ch = *in >= 'A' && *in <= 'Z' ? (char)(*in - 'A' + 'a') : *in;
    if ((ch >= 'a' && ch <= 'z') || (o > 0 && ((ch >= '0' && ch <= '9') || strchr("._-", ch))))
      out[o++] = ch;
  }
  out[o] = '\0';
}

void srv_oidc_account_name(char out[64], const json_t *claims, const char *person, int attempt)
{
  const char *pu = json_string_value(json_object_get(claims, "preferred_username"));
  const char *em = json_string_value(json_object_get(claims, "email"));
  const char *nm = json_string_value(json_object_get(claims, "name"));
  char base[48] = "", local[256] = "";

  /* preferred_username, the e-mail's local part, or the display name
   * ("Ada Lovelace": "ada.lovelace"); none of them is trusted for more
   * than a readable name: the identity is (issuer, subject). */
  if (pu)
    snprintf(local, sizeof local, "%.*s", (int)strcspn(pu, "@"), pu);
  else if (em)
    snprintf(local, sizeof local, "%.*s", (int)strcspn(em, "@"), em);
  else if (nm)
    for (size_t i = 0; nm[i] && i + 1 < sizeof local; i++)
      local[i] = nm[i] == ' ' ? '.' : nm[i];
  srv_map_fit_name(base, sizeof base, local);
  if (!base[0])
    snprintf(base, sizeof base, "sso");
  if (attempt == 0)
    snprintf(out, 64, "%s", base);
  else /* "name-1a2b3c4d", then longer suffixes: the person is unique */
    snprintf(out, 64, "%s-%.*s", base, attempt > 9 ? 40 : 8 + 4 * (attempt - 1), person + 5);
}

int srv_local_login_allowed(const char *name, const char *role)
{
  if (srv_map.local_users_set)
    return srv_map_in(srv_map.local_users, srv_map.nlocal_users, name);
  return !srv_map_in(srv_map.local_off, srv_map.nlocal_off, role);
}
