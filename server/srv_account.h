/*
 * srv_account.h - what the account endpoints share: name and password
 * rules, scrypt password hashes, bearer tokens, and reading rows.
 */
#ifndef SRV_ACCOUNT_H
#define SRV_ACCOUNT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "srv_db.h"
#include "srv_http.h"

#define SRV_NAME_MAX 63       /* user names: ^[a-z][a-z0-9._-]{0,62}$ */
#define SRV_TOKEN_NAME_MAX 64 /* token names: ^[A-Za-z0-9][A-Za-z0-9 ._:@-]{0,63}$ */
#define SRV_PASSWORD_MIN 12
#define SRV_PASSWORD_MAX 1024
#define SRV_TOKEN_TEXT_MAX 64 /* "ke<k>_" + base64url(32 bytes) = 47 */
#define SRV_GEN_PASSWORD_LEN 24

/* The auth settings (srv_auth_init), shared by the endpoints. */
struct srv_auth_settings {
  unsigned session_lifetime, api_token_max_lifetime;
  unsigned max_failures, max_address_failures, failure_window, lockout;
  unsigned scrypt_log2n;
  unsigned max_delay, account_max_failures, account_delay, known_source_lifetime;
};
extern struct srv_auth_settings srv_auth_cfg;

int srv_account_name_ok(const char *name);
int srv_account_token_name_ok(const char *name);
/* NULL if acceptable, else why not (for a 400 message). */
const char *srv_account_password_problem(const char *pw);

/* One stored password hash, as in the users table. */
struct srv_pwhash {
  uint8_t salt[16];
  uint8_t hash[32];
  unsigned n, r, p;
};

/* A hash as the five statement parameters salt, hash, n, r, p (in that
 * order, as every statement that stores one takes them). */
struct srv_pwhash_params {
  char salt[35], hash[67], n[16], r[16], p[16];
};
void srv_pwhash_params(struct srv_pwhash_params *out, const struct srv_pwhash *pw);

/* New hash with a fresh salt and the configured cost.  0 on success. */
int srv_account_hash_password(struct srv_pwhash *out, const char *pw);
/* 1 if `h` was made with the configured cost (else the login rehashes). */
int srv_account_pw_current(const struct srv_pwhash *h);
/* 1 if `pw` matches.  Always runs scrypt (pass h = NULL for an unknown or
 * unusable account: a dummy hash of the same cost is checked, so timing does
 * not reveal whether the account exists). */
int srv_account_check_password(const struct srv_pwhash *h, const char *pw);
/* A random password of SRV_GEN_PASSWORD_LEN characters (about 120 bits). */
int srv_account_generate_password(char out[SRV_GEN_PASSWORD_LEN + 1]);

/* A new bearer token "ke<kind>_<base64url(32 random bytes)>" (kind 's' for
 * login sessions, 'a' for API tokens) and its SHA-256.  0 on success. */
int srv_account_new_token(char kind, char out[SRV_TOKEN_TEXT_MAX + 1], uint8_t hash[32]);
/* SHA-256 of a presented token; -1 if it cannot be one of ours. */
int srv_account_token_hash(const char *token, uint8_t hash[32]);

/* INSERT the account `name` with its password hash (SRV_STMT_USER_INSERT;
 * cidx 0: no custodian index; generated: the password must be changed at
 * the first login).  The RETURNING row (PQclear it), or NULL and *st. */
PGresult *srv_account_user_insert(struct srv_db *db, const char *name, const char *role, int cidx,
                                  const struct srv_pwhash *pw, int generated,
                                  enum srv_db_status *st);

/* The password of a request that sets one (POST /v1/users, a reset): the
 * body's "password" member, checked against the rules, or, when NULL, a
 * generated one written to gen (*generated = 1); hashed into *pw.
 * 0, or 1 when the request was answered (*ret).  gen is wiped on failure;
 * on success the caller returns it once and wipes it. */
int srv_account_body_password(struct srv_request *req, const char *password,
                              char gen[SRV_GEN_PASSWORD_LEN + 1], struct srv_pwhash *pw,
                              int *generated, enum MHD_Result *ret);

/* `escrowd bootstrap-admin --user NAME [--password-file F]`: the first admin
 * of a database without users (refused otherwise); exit code. */
int srv_account_bootstrap_main(const struct srv_config *cfg, int argc, char **argv);
/* The database has this release's schema (escrowd bootstrap-admin,
 * maintenance): SRV_EXIT_OK, or the exit code after printing why. */
int srv_cli_schema_ok(const struct srv_config *cfg, const char *cmd);
/* `escrowd routes [--json]`: the route table with each route's roles. */
int srv_auth_routes_main(const struct srv_route_table *table, int argc, char **argv);

#endif
