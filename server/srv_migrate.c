/*
 * srv_migrate.c - `escrowd migrate` and the schema check used by serve.
 */
#include "srv_migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ke_cli.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_db.h"
#include "srv_rows.h"

/* "keyescrw" as a bigint: the advisory lock every migrator takes. */
#define SRV_MIGRATE_LOCK_KEY "7738135744463434615"
#define SRV_MIGRATE_LOCK_WAIT "300s"
#define SRV_MIGRATION_MAX_BYTES (4L << 20)

static const char srv_version_table_sql[] =
  "CREATE TABLE IF NOT EXISTS keyescrow_schema_version ("
  " version integer PRIMARY KEY CHECK (version > 0),"
  " name text NOT NULL,"
  " sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
  " applied_at timestamptz NOT NULL DEFAULT now(),"
  " applied_by name NOT NULL DEFAULT current_user)";

/* NNN_name.sql with NNN three digits and name in [a-z0-9_]. */
static int srv_migration_name(const char *file, int *version, char *name, size_t namelen)
{
  size_t n = strlen(file);

  if (n < 9 || strcmp(file + n - 4, ".sql") != 0)
    return -1;
  for (int i = 0; i < 3; i++)
    if (!isdigit((unsigned char)file[i]))
      return -1;
  if (file[3] != '_')
    return -1;
  for (size_t i = 4; i < n - 4; i++)
    if (!(islower((unsigned char)file[i]) || isdigit((unsigned char)file[i]) || file[i] == '_'))
      return -1;
  if (n - 4 >= namelen)
    return -1;
  *version = (file[0] - '0') * 100 + (file[1] - '0') * 10 + (file[2] - '0');
  memcpy(name, file, n - 4);
  name[n - 4] = '\0';
  return *version > 0 ? 0 : -1;
}

static int srv_migration_read(const char *dir, const char *file, struct srv_migration *m, char *err,
                              size_t errlen)
{
  char path[4096];
  unsigned char md[32];
  unsigned int mdlen = 0;
  ke_buf b;
  ke_io_err e;

  snprintf(path, sizeof path, "%s/%s", dir, file);
  if (ke_read_file(&b, path, SRV_MIGRATION_MAX_BYTES, 0, &e) != KE_OK) {
    if (e.step == KE_IO_OPEN)
      snprintf(err, errlen, "cannot open %s: %s", path, strerror(e.err));
    else
      snprintf(err, errlen, "cannot read %s (or larger than 4 MiB)", path);
    return -1;
  }
  m->sql = b.p;
  if (strlen(m->sql) != b.len) {
    snprintf(err, errlen, "%s contains a NUL byte", path);
    return -1;
  }
  if (EVP_Digest(m->sql, b.len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
    snprintf(err, errlen, "SHA-256 failed");
    return -1;
  }
  ke_hex_encode(m->sha256, md, sizeof md);
  return 0;
}

void srv_migrations_free(struct srv_migration_set *set)
{
  for (size_t i = 0; set->m && i < set->n; i++)
    free(set->m[i].sql);
  free(set->m);
  set->m = NULL;
  set->n = 0;
}

static int srv_migration_cmp(const void *a, const void *b)
{
  return ((const struct srv_migration *)a)->version - ((const struct srv_migration *)b)->version;
}

int srv_migrations_load(const char *dir, struct srv_migration_set *set, char *err, size_t errlen)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t cap = 0;

  set->m = NULL;
  set->n = 0;
  if (!d) {
    snprintf(err, errlen, "cannot open schema_dir %s: %s", dir, strerror(errno));
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    struct srv_migration m;
    size_t n = strlen(e->d_name);

    if (n < 4 || strcmp(e->d_name + n - 4, ".sql") != 0)
      continue; /* README and the like */
    memset(&m, 0, sizeof m);
    if (srv_migration_name(e->d_name, &m.version, m.name, sizeof m.name)) {
      snprintf(err, errlen,
               "%s/%s: migration files must be named NNN_name.sql "
               "(NNN from 001, name in [a-z0-9_])",
               dir, e->d_name);
      goto fail;
    }
    if (set->n == cap) {
      struct srv_migration *nm;
      cap = cap ? cap * 2 : 16;
      nm = realloc(set->m, cap * sizeof *nm);
      if (!nm) {
        snprintf(err, errlen, "out of memory");
        goto fail;
      }
      set->m = nm;
    }
    if (srv_migration_read(dir, e->d_name, &m, err, errlen)) {
      free(m.sql);
      goto fail;
    }
    set->m[set->n++] = m;
  }
  closedir(d);
  d = NULL;
  if (set->n)
    qsort(set->m, set->n, sizeof *set->m, srv_migration_cmp);
  for (size_t i = 0; i < set->n; i++) {
    /* A gap or a duplicate is a mistake in the release: refuse it rather
     * than guess which file was meant. */
    if (set->m[i].version != (int)i + 1) {
      snprintf(err, errlen,
               "schema_dir %s: expected migration %03zu, found %s "
               "(numbers must run 001, 002, ... without gaps or duplicates)",
               dir, i + 1, set->m[i].name);
      goto fail;
    }
  }
  if (set->n == 0) {
    snprintf(err, errlen, "schema_dir %s holds no NNN_name.sql migration", dir);
    goto fail;
  }
  return 0;
fail:
  if (d)
    closedir(d);
  srv_migrations_free(set);
  return -1;
}

/* 1 if r has status `want`; else 0 with the error of `what` in err, r cleared. */
static int srv_pg_ok(PGconn *conn, PGresult *r, ExecStatusType want, const char *what, char *err,
                     size_t errlen)
{
  if (PQresultStatus(r) == want)
    return 1;
  const char *m = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
  snprintf(err, errlen, "%s: %.*s", what, (int)strcspn(m, "\n"), m);
  PQclear(r);
  return 0;
}

/* The rows of keyescrow_schema_version this file reads. */
struct srv_schema_row {
  int present;
  int64_t version;
  const char *name, *sha256, *applied_at, *applied_by;
};
static const struct srv_col srv_schema_present_cols[] = {
  SRV_COL_BOOL(struct srv_schema_row, present), SRV_COL_END};
static const struct srv_col srv_schema_row_cols[] = {
  SRV_COL_INT64(struct srv_schema_row, version), SRV_COL_TEXT(struct srv_schema_row, name),
  SRV_COL_TEXT(struct srv_schema_row, sha256), SRV_COL_END};
static const struct srv_col srv_schema_status_cols[] = {
  SRV_COL_INT64(struct srv_schema_row, version), SRV_COL_TEXT(struct srv_schema_row, applied_at),
  SRV_COL_TEXT(struct srv_schema_row, applied_by), SRV_COL_END};

enum srv_schema_state srv_schema_check(PGconn *conn, const struct srv_migration_set *set,
                                       int *db_version, char *err, size_t errlen)
{
  PGresult *r;
  enum srv_schema_state st = SRV_SCHEMA_CURRENT;
  struct srv_schema_row row = {0};
  int rows;
  size_t known = 0; /* applied rows that are files of `set` */

  *db_version = 0;
  r = PQexecParams(conn, "SELECT to_regclass('keyescrow_schema_version') IS NOT NULL AS present", 0,
                   NULL, NULL, NULL, NULL, 0);
  if (!srv_pg_ok(conn, r, PGRES_TUPLES_OK, "reading the schema version", err, errlen))
    return SRV_SCHEMA_ERROR;
  if (srv_row_read(r, 0, srv_schema_present_cols, &row) != 0 || !row.present) {
    PQclear(r);
    snprintf(err, errlen, "the database has no keyescrow schema yet (version 0, need %zu)", set->n);
    return SRV_SCHEMA_BEHIND;
  }
  PQclear(r);
  r = PQexecParams(conn,
                   "SELECT version, name, sha256 FROM keyescrow_schema_version "
                   "ORDER BY version",
                   0, NULL, NULL, NULL, NULL, 0);
  if (!srv_pg_ok(conn, r, PGRES_TUPLES_OK, "reading keyescrow_schema_version", err, errlen))
    return SRV_SCHEMA_ERROR;
  rows = PQntuples(r);
  for (int i = 0; i < rows; i++) {
    int v = srv_row_read(r, i, srv_schema_row_cols, &row) == 0 ? (int)row.version : 0;
    if (v > *db_version)
      *db_version = v;
    if (v < 1 || (size_t)v > set->n) {
      st = SRV_SCHEMA_AHEAD;
      continue;
    }
    known++;
    if (strcmp(row.sha256, set->m[v - 1].sha256) != 0 ||
        strcmp(row.name, set->m[v - 1].name) != 0) {
      snprintf(err, errlen,
               "migration %s was applied with sha256 %s but the file in "
               "schema_dir now has %s: applied migrations must never be edited",
               row.name, row.sha256, set->m[v - 1].sha256);
      PQclear(r);
      return SRV_SCHEMA_MISMATCH;
    }
  }
  PQclear(r);
  /* version is the primary key, so `known` counts distinct files. */
  if (known < set->n) {
    snprintf(err, errlen,
             "the database schema is at version %d but schema_dir has %zu "
             "migrations (%zu applied)",
             *db_version, set->n, known);
    return SRV_SCHEMA_BEHIND;
  }
  return st;
}

/* Run one parameterless statement; 0 = ok. */
static int srv_sql(PGconn *conn, const char *sql, char *err, size_t errlen)
{
  PGresult *r = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);

  if (PQresultStatus(r) != PGRES_TUPLES_OK &&
      !srv_pg_ok(conn, r, PGRES_COMMAND_OK, sql, err, errlen))
    return -1;
  PQclear(r);
  return 0;
}

/* Apply migration `m` in one transaction together with its version row. */
static int srv_migration_apply(PGconn *conn, const struct srv_migration *m, char *err,
                               size_t errlen)
{
  char ver[16];
  const char *params[3] = {ver, m->name, m->sha256};
  PGresult *r;
  int ok;

  snprintf(ver, sizeof ver, "%d", m->version);
  if (srv_sql(conn, "BEGIN", err, errlen))
    return -1;
  /* The file is trusted release content holding several statements, which
   * only the simple-query protocol (PQexec) runs; it never contains
   * outside input.  Files must not contain BEGIN/COMMIT themselves. */
  r = PQexec(conn, m->sql);
  ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK ||
       PQresultStatus(r) == PGRES_EMPTY_QUERY;
  if (!ok) {
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
    const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    snprintf(err, errlen, "%s failed: %s%s%s%s%s", m->name, msg ? msg : PQerrorMessage(conn),
             detail ? " (" : "", detail ? detail : "", detail ? ")" : "",
             pos ? " near character " : "");
    if (pos)
      snprintf(err + strlen(err), errlen - strlen(err), "%s", pos);
    PQclear(r);
    srv_sql(conn, "ROLLBACK", err + strlen(err), 0);
    return -1;
  }
  PQclear(r);
  r = PQexecParams(conn,
                   "INSERT INTO keyescrow_schema_version (version, name, sha256) "
                   "VALUES ($1::int4, $2, $3)",
                   3, NULL, params, NULL, NULL, 0);
  if (!srv_pg_ok(conn, r, PGRES_COMMAND_OK, "recording the migration", err, errlen)) {
    srv_sql(conn, "ROLLBACK", err + strlen(err), 0);
    return -1;
  }
  PQclear(r);
  return srv_sql(conn, "COMMIT", err, errlen);
}

static void srv_migrate_print_status(PGconn *conn, const struct srv_migration_set *set)
{
  PGresult *r = PQexecParams(conn,
                             "SELECT version, to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS')"
                             " AS applied_at, applied_by FROM keyescrow_schema_version"
                             " ORDER BY version",
                             0, NULL, NULL, NULL, NULL, 0);
  int rows = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
  struct srv_schema_row a;

  printf("%-32s %-10s %s\n", "migration", "state", "applied");
  for (size_t i = 0; i < set->n; i++) {
    int found = 0;
    for (int j = 0; j < rows && !found; j++)
      found = srv_row_read(r, j, srv_schema_status_cols, &a) == 0 && a.version == set->m[i].version;
    printf("%-32s %-10s %s%s%s\n", set->m[i].name, found ? "applied" : "pending",
           found ? a.applied_at : "", found ? " by " : "", found ? a.applied_by : "");
  }
  PQclear(r);
}

int srv_migrate_main(const struct srv_config *cfg, int status_only)
{
  struct srv_migration_set set;
  char err[1024];
  PGconn *conn = NULL;
  int rc = 1, db_version = 0, applied = 0;
  enum srv_schema_state st;

  if (srv_migrations_load(cfg->schema_dir, &set, err, sizeof err)) {
    ke_log(KE_LOG_ERROR, "cannot load migrations", json_pack("{s:s}", "reason", err));
    return 2;
  }
  /* No statement timeout: a migration may legitimately build big indexes. */
  conn = srv_db_connect(cfg->db_owner_dsn, cfg->db_owner_password_file, cfg->db_connect_timeout, 0,
                        err, sizeof err);
  if (!conn) {
    ke_log(KE_LOG_ERROR, "cannot connect as the schema owner (db_owner_dsn)",
           json_pack("{s:s}", "reason", err));
    goto out;
  }
  if (status_only) {
    st = srv_schema_check(conn, &set, &db_version, err, sizeof err);
    srv_migrate_print_status(conn, &set);
    rc = (st == SRV_SCHEMA_CURRENT || st == SRV_SCHEMA_AHEAD) ? 0 : 3;
    if (rc)
      fprintf(stderr, "%s\n", err);
    goto out;
  }
  /* Serialise migrators.  Two escrowd instances starting together both get
   * here; the second waits, then finds nothing left to do. */
  if (srv_sql(conn, "SET lock_timeout = '" SRV_MIGRATE_LOCK_WAIT "'", err, sizeof err) ||
      srv_sql(conn, "SELECT pg_advisory_lock(" SRV_MIGRATE_LOCK_KEY ")", err, sizeof err) ||
      srv_sql(conn, "SET lock_timeout = 0", err, sizeof err) ||
      srv_sql(conn, srv_version_table_sql, err, sizeof err)) {
    ke_log(KE_LOG_ERROR, "cannot take the migration lock", json_pack("{s:s}", "reason", err));
    goto out;
  }
  st = srv_schema_check(conn, &set, &db_version, err, sizeof err);
  if (st == SRV_SCHEMA_ERROR || st == SRV_SCHEMA_MISMATCH) {
    ke_log(KE_LOG_ERROR, "refusing to migrate", json_pack("{s:s}", "reason", err));
    rc = 3;
    goto out;
  }
  if (st == SRV_SCHEMA_AHEAD)
    ke_log(KE_LOG_WARN,
           "the database has migrations newer than schema_dir (a newer "
           "release migrated it); nothing to do",
           json_pack("{s:i,s:i}", "db_version", db_version, "schema_dir_version", (int)set.n));
  for (size_t i = (size_t)(st == SRV_SCHEMA_BEHIND ? 0 : set.n); i < set.n; i++) {
    char ver[16];
    const char *p[1] = {ver};
    PGresult *r;
    int done;

    snprintf(ver, sizeof ver, "%d", set.m[i].version);
    r = PQexecParams(conn, "SELECT 1 FROM keyescrow_schema_version WHERE version = $1::int4", 1,
                     NULL, p, NULL, NULL, 0);
    done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    if (done)
      continue;
    if (srv_migration_apply(conn, &set.m[i], err, sizeof err)) {
      ke_log(KE_LOG_ERROR, "migration failed; the database is left at the last good version",
             json_pack("{s:s,s:s}", "migration", set.m[i].name, "reason", err));
      goto out;
    }
    applied++;
    ke_log(KE_LOG_INFO, "migration applied",
           json_pack("{s:s,s:s}", "migration", set.m[i].name, "sha256", set.m[i].sha256));
  }
  ke_log(KE_LOG_INFO, applied ? "database migrated" : "database already up to date",
         json_pack("{s:i,s:i}", "applied", applied, "version", (int)set.n));
  rc = 0;
out:
  if (conn)
    PQfinish(conn); /* which releases the advisory lock as well */
  srv_migrations_free(&set);
  return rc;
}
