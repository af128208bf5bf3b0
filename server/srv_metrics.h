/*
 * srv_metrics.h - Prometheus metrics of escrowd (text exposition 0.0.4).
 *
 * Counters are updated with relaxed atomics from every worker thread; the
 * render takes a snapshot that may be a few increments apart across series,
 * which Prometheus tolerates.
 */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stddef.h>

#include "srv_http.h"

enum srv_metrics_db {
  SRV_METRICS_DB_CONNECT,       /* connection attempts that failed */
  SRV_METRICS_DB_CONNECTION,    /* statements that failed on a lost connection */
  SRV_METRICS_DB_SERIALIZATION, /* 40001/40P01 seen (each retried or given up) */
  SRV_METRICS_DB_QUERY,         /* any other statement error */
  SRV_METRICS_DB_KINDS_
};

/* Connections escrowd itself closed (srv_conn.c). */
enum srv_metrics_cut {
  SRV_METRICS_CUT_DEADLINE, /* request not complete within request_deadline */
  SRV_METRICS_CUT_EVICTED,  /* dropped to make room under per_ip_connection_limit */
  SRV_METRICS_CUT_REFUSED,  /* new connection over per_ip_connection_limit */
  SRV_METRICS_CUT_KINDS_
};

/* Labels are the distinct patterns of `table`, plus "unmatched".  0 = ok. */
int srv_metrics_init(const struct srv_route_table *table);
void srv_metrics_free(void);

/* Index of the label for `pattern` (NULL or unknown = "unmatched"). */
size_t srv_metrics_label(const char *pattern);
void srv_metrics_request_begin(void);
void srv_metrics_request_end(size_t label, unsigned status, double seconds);
long srv_metrics_in_flight(void);
void srv_metrics_db_error(enum srv_metrics_db kind);
void srv_metrics_db_reconnect(void);
/* srv_db_txn() gave up on a transaction after max_retries attempts. */
void srv_metrics_db_gave_up(void);
void srv_metrics_connection_cut(enum srv_metrics_cut reason);
/* A tracked connection opened (+1) or closed (-1). */
void srv_metrics_connection_open(int delta);

/* A retrieval request got its T-th part `seconds` after its creation. */
void srv_metrics_time_to_key(double seconds);

/* The exposition text, malloc'd; NULL on allocation failure. */
char *srv_metrics_render(size_t *len);

#endif
