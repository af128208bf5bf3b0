/*
 * srv_migrate.h - schema migrations: schema/NNN_name.sql, applied in order.
 *
 * Each file runs in its own transaction together with the row recording it
 * in keyescrow_schema_version (version, name, sha256 of the file).  A
 * session advisory lock serialises concurrent migrators; the second one
 * finds the work done.  An applied file that changed on disk is refused.
 */
#ifndef SRV_MIGRATE_H
#define SRV_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "srv_config.h"

struct srv_migration {
  int version;
  char name[96];   /* "001_init" */
  char sha256[65]; /* hex of the file bytes */
  char *sql;
};

struct srv_migration_set {
  struct srv_migration *m; /* sorted by version: m[i].version == i + 1 */
  size_t n;
};

/* Read and check every NNN_name.sql of `dir`.  0 = ok. */
int srv_migrations_load(const char *dir, struct srv_migration_set *set, char *err, size_t errlen);
void srv_migrations_free(struct srv_migration_set *set);

enum srv_schema_state {
  SRV_SCHEMA_CURRENT,  /* every file applied, nothing unknown */
  SRV_SCHEMA_AHEAD,    /* every file applied, plus newer ones (newer release) */
  SRV_SCHEMA_BEHIND,   /* some files not applied yet */
  SRV_SCHEMA_MISMATCH, /* an applied file differs from the one on disk */
  SRV_SCHEMA_ERROR,    /* could not be read (see err) */
};

/* Compare the database reached through `conn` with `set`. *db_version is the
 * highest applied version (0 for an empty database). */
enum srv_schema_state srv_schema_check(PGconn *conn, const struct srv_migration_set *set,
                                       int *db_version, char *err, size_t errlen);

/* `escrowd migrate [--status]`: returns the process exit code. */
int srv_migrate_main(const struct srv_config *cfg, int status_only);

#endif
