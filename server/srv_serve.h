/*
 * srv_serve.h - `escrowd serve`: start-up checks, the daemon, signals.
 */
#ifndef SRV_SERVE_H
#define SRV_SERVE_H

#include "srv_config.h"
#include "srv_http.h"

/* Exit codes shared by every escrowd command. */
#define SRV_EXIT_OK 0
#define SRV_EXIT_FAILURE 1 /* runtime failure (database unreachable, ...) */
#define SRV_EXIT_USAGE 2   /* bad command line or configuration */
#define SRV_EXIT_SCHEMA 3  /* the database schema is behind or was tampered with */

/* Serve `routes` until SIGTERM/SIGINT.  With `use_db` the schema and the
 * application role's privileges are checked first and workers get database
 * connections; without it (test daemons) no database is touched. */
int srv_serve_main(const struct srv_config *cfg, const struct srv_route_table *routes, int use_db);

#endif
