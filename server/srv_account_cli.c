/*
 * srv_account_cli.c - the escrowd commands of the accounts work:
 *   escrowd bootstrap-admin --user NAME [--password-file FILE]
 *   escrowd routes [--json]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_audit.h"
#include "srv_auth.h"
#include "srv_migrate.h"
#include "srv_rows.h"
#include "srv_serve.h"

/* ---- bootstrap-admin ------------------------------------------------------ */

struct srv_bootstrap {
  const char *name;
  struct srv_pwhash pw;
  int generated;
  int had_users;
};

static enum srv_db_status srv_bootstrap_txn(struct srv_db *db, void *cls)
{
  struct srv_bootstrap *b = cls;
  const char *users;
  enum srv_db_status st;
  PGresult *res;
  json_t *d;

  /* SERIALIZABLE: of two bootstraps racing on an empty database, one
   * fails to commit, retries, and then finds the other's admin. */
  if (!(res = srv_db_exec(db, SRV_STMT_USER_COUNT, NULL, &st)))
    return st;
  users = srv_row_text(res, "users");
  b->had_users = !users || strcmp(users, "0") != 0;
  PQclear(res);
  if (b->had_users)
    return SRV_DB_ABORT;
  if (!(res = srv_account_user_insert(db, b->name, "admin", 0, &b->pw, b->generated, &st)))
    return st;
  PQclear(res);
  d = json_pack("{s:s,s:s}", "role", "admin", "password", b->generated ? "generated" : "given");
  return srv_audit_success(db, NULL, "user.bootstrap", "user", b->name, d);
}

/* The database must have this release's schema: same check as serve (also
 * for escrowd maintenance). */
int srv_cli_schema_ok(const struct srv_config *cfg, const char *cmd)
{
  struct srv_migration_set set;
  char err[1024];
  PGconn *conn;
  int version = 0, rc = SRV_EXIT_FAILURE;
  enum srv_schema_state st;

  if (srv_migrations_load(cfg->schema_dir, &set, err, sizeof err)) {
    fprintf(stderr, "escrowd %s: %s\n", cmd, err);
    return SRV_EXIT_USAGE;
  }
  conn = srv_db_connect(cfg->db_dsn, cfg->db_password_file, cfg->db_connect_timeout,
                        cfg->db_statement_timeout_ms, err, sizeof err);
  if (!conn) {
    fprintf(stderr, "escrowd %s: cannot connect to the database: %s\n", cmd, err);
  } else {
    st = srv_schema_check(conn, &set, &version, err, sizeof err);
    if (st == SRV_SCHEMA_CURRENT || st == SRV_SCHEMA_AHEAD)
      rc = SRV_EXIT_OK;
    else if (st == SRV_SCHEMA_BEHIND || st == SRV_SCHEMA_MISMATCH) {
      fprintf(stderr,
              "escrowd %s: the database schema is not this release's "
              "(%s); run escrowd migrate first\n",
              cmd, err);
      rc = SRV_EXIT_SCHEMA;
    } else {
      fprintf(stderr, "escrowd %s: %s\n", cmd, err);
    }
    PQfinish(conn);
  }
  srv_migrations_free(&set);
  return rc;
}

static int srv_read_password_file(const char *path, char *out, size_t outlen)
{
  FILE *f = fopen(path, "r");
  size_t n;
  int c;

  if (!f) {
    fprintf(stderr, "escrowd bootstrap-admin: cannot open %s\n", path);
    return -1;
  }
  if (!fgets(out, (int)outlen, f)) {
    fclose(f);
    fprintf(stderr, "escrowd bootstrap-admin: %s is empty\n", path);
    return -1;
  }
  n = strcspn(out, "\r\n");
  /* A line that filled the buffer without its end is too long. */
  if (out[n] == '\0' && (c = fgetc(f)) != EOF) {
    fclose(f);
    ke_wipe(out, outlen);
    fprintf(stderr, "escrowd bootstrap-admin: the password in %s is too long\n", path);
    return -1;
  }
  fclose(f);
  out[n] = '\0';
  return 0;
}

int srv_account_bootstrap_main(const struct srv_config *cfg, int argc, char **argv)
{
  struct srv_bootstrap b;
  const char *file = NULL, *problem;
  char password[SRV_PASSWORD_MAX + 2];
  enum srv_db_status st;
  int rc;

  memset(&b, 0, sizeof b);
  for (int i = 0; i < argc; i++) {
    if ((strcmp(argv[i], "--user") == 0 || strcmp(argv[i], "--password-file") == 0) &&
        i + 1 < argc) {
      if (argv[i][2] == 'u')
        b.name = argv[++i];
      else
        file = argv[++i];
    } else {
      fprintf(stderr,
              "escrowd bootstrap-admin: unexpected argument '%s'\n"
              "usage: escrowd bootstrap-admin --user NAME [--password-file FILE]\n",
              argv[i]);
      return SRV_EXIT_USAGE;
    }
  }
  if (!b.name || !srv_account_name_ok(b.name)) {
    fprintf(stderr, "escrowd bootstrap-admin: --user NAME is required: 1 to 63 characters "
                    "a-z 0-9 . _ -, starting with a letter\n");
    return SRV_EXIT_USAGE;
  }
  if (file) {
    if (srv_read_password_file(file, password, sizeof password) != 0)
      return SRV_EXIT_USAGE;
    if ((problem = srv_account_password_problem(password))) {
      ke_wipe(password, sizeof password);
      fprintf(stderr, "escrowd bootstrap-admin: %s\n", problem);
      return SRV_EXIT_USAGE;
    }
  } else {
    if (srv_account_generate_password(password) != 0)
      return SRV_EXIT_FAILURE;
    b.generated = 1;
  }
  if ((rc = srv_cli_schema_ok(cfg, "bootstrap-admin")) != SRV_EXIT_OK) {
    ke_wipe(password, sizeof password);
    return rc;
  }
  srv_auth_init(cfg);
  if (srv_account_hash_password(&b.pw, password) != 0 || srv_db_init(cfg) != 0) {
    ke_wipe(password, sizeof password);
    return SRV_EXIT_FAILURE;
  }
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_bootstrap_txn, &b);
  srv_db_shutdown();
  ke_wipe(&b.pw, sizeof b.pw);
  if (st != SRV_DB_OK) {
    ke_wipe(password, sizeof password);
    if (st == SRV_DB_ABORT && b.had_users) {
      fprintf(stderr, "escrowd bootstrap-admin: refused: the database already has users "
                      "(bootstrap-admin only creates the first admin; use escrowctl user "
                      "add)\n");
      return SRV_EXIT_FAILURE;
    }
    fprintf(stderr,
            "escrowd bootstrap-admin: the database refused the new admin "
            "(status %d; see the log)\n",
            (int)st);
    return SRV_EXIT_FAILURE;
  }
  ke_log(KE_LOG_INFO, "first admin created", json_pack("{s:s}", "user", b.name));
  if (b.generated)
    printf("Created admin '%s'. One-time password (must be changed at the first login):\n"
           "%s\n",
           b.name, password);
  else
    printf("Created admin '%s' with the password from %s.\n", b.name, file);
  ke_wipe(password, sizeof password);
  return SRV_EXIT_OK;
}

/* ---- routes ----------------------------------------------------------------- */

int srv_auth_routes_main(const struct srv_route_table *table, int argc, char **argv)
{
  int as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
  json_t *list;

  if (argc > 1 || (argc == 1 && !as_json)) {
    fprintf(stderr, "usage: escrowd routes [--json]\n");
    return SRV_EXIT_USAGE;
  }
  list = json_array();
  for (size_t i = 0; list && i < table->count; i++) {
    const struct srv_route *r = &table->routes[i];
    json_t *roles = json_array();
    for (unsigned bit = 1; roles && bit && bit <= r->roles; bit <<= 1)
      if ((r->roles & bit) && srv_auth_role_name(bit))
        json_array_append_new(roles, json_string(srv_auth_role_name(bit)));
    if (!roles ||
        json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:b,s:b}", "method", r->method,
                                              "pattern", r->pattern, "roles", roles, "public",
                                              r->roles == SRV_ROLE_PUBLIC, "json_body",
                                              r->body == SRV_BODY_JSON))) {
      json_decref(list);
      list = NULL;
    }
  }
  if (!list)
    return SRV_EXIT_FAILURE;
  if (as_json) {
    char *s = json_dumps(list, JSON_INDENT(1));
    if (s)
      printf("%s\n", s);
    free(s);
  }
  for (size_t i = 0; !as_json && i < table->count; i++) {
    const struct srv_route *r = &table->routes[i];
    int n = 0;
    printf("%-7s %-40s", r->method, r->pattern);
    for (unsigned bit = 1; bit && bit <= r->roles; bit <<= 1)
      if ((r->roles & bit) && srv_auth_role_name(bit))
        printf("%s%s", n++ ? "," : " ", srv_auth_role_name(bit));
    printf("%s\n", n ? "" : " public");
  }
  json_decref(list);
  return SRV_EXIT_OK;
}
