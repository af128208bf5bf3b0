/*
 * srv_metrics.c - request counters, latency histograms, database errors.
 */
#include "srv_metrics.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef KE_VERSION
#define KE_VERSION "0.0.0"
#endif

#define SRV_STATUS_MIN 100
#define SRV_STATUS_MAX 599
#define SRV_NSTATUS (SRV_STATUS_MAX - SRV_STATUS_MIN + 2) /* + "0" (no reply) */

static const double srv_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
#define SRV_NBUCKETS (sizeof srv_buckets / sizeof srv_buckets[0])
/* Time to key is people's time: seconds (a policy custodian) to hours. */
static const double srv_ttk_buckets[] = {1,   5,    15,   30,   60,    120,   300,  600,
                                         900, 1800, 3600, 7200, 14400, 28800, 86400};
#define SRV_TTK_NBUCKETS (sizeof srv_ttk_buckets / sizeof srv_ttk_buckets[0])

struct srv_label_stats {
  uint64_t status[SRV_NSTATUS];
  uint64_t bucket[SRV_NBUCKETS + 1]; /* last = above every bound */
  uint64_t sum_us;
  uint64_t count;
};

static struct {
  const char **labels; /* nlabels entries; the last is "unmatched" */
  size_t nlabels;
  struct srv_label_stats *stats;
  long in_flight;
  long connections_open;
  uint64_t db[SRV_METRICS_DB_KINDS_];
  uint64_t db_reconnects;
  uint64_t db_gave_up;
  uint64_t cut[SRV_METRICS_CUT_KINDS_];
  uint64_t ttk_bucket[SRV_TTK_NBUCKETS + 1]; /* time to the T-th part */
  uint64_t ttk_sum_ms, ttk_count;
  double start_time;
} srv_m;

static const char *const srv_db_kind_names[SRV_METRICS_DB_KINDS_] = {"connect", "connection_lost",
                                                                     "serialization", "query"};
static const char *const srv_cut_names[SRV_METRICS_CUT_KINDS_] = {
  "request_deadline", "per_ip_evicted", "per_ip_refused"};

#define SRV_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define SRV_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

int srv_metrics_init(const struct srv_route_table *table)
{
  struct timespec ts;

  srv_m.labels = calloc(table->count + 1, sizeof *srv_m.labels);
  srv_m.stats = calloc(table->count + 1, sizeof *srv_m.stats);
  if (!srv_m.labels || !srv_m.stats) {
    srv_metrics_free();
    return -1;
  }
  srv_m.nlabels = 0;
  for (size_t i = 0; i < table->count; i++) {
    size_t j;
    for (j = 0; j < srv_m.nlabels; j++)
      if (strcmp(srv_m.labels[j], table->routes[i].pattern) == 0)
        break;
    if (j == srv_m.nlabels)
      srv_m.labels[srv_m.nlabels++] = table->routes[i].pattern;
  }
  srv_m.labels[srv_m.nlabels++] = "unmatched";
  clock_gettime(CLOCK_REALTIME, &ts);
  srv_m.start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  return 0;
}

void srv_metrics_free(void)
{
  free(srv_m.labels);
  free(srv_m.stats);
  memset(&srv_m, 0, sizeof srv_m);
}

size_t srv_metrics_label(const char *pattern)
{
  if (srv_m.nlabels == 0)
    return 0;
  for (size_t i = 0; pattern && i + 1 < srv_m.nlabels; i++)
    if (strcmp(srv_m.labels[i], pattern) == 0)
      return i;
  return srv_m.nlabels - 1;
}

void srv_metrics_request_begin(void) { SRV_ADD(&srv_m.in_flight, 1); }
long srv_metrics_in_flight(void) { return SRV_LOAD(&srv_m.in_flight); }
void srv_metrics_db_reconnect(void) { SRV_ADD(&srv_m.db_reconnects, 1); }
void srv_metrics_db_gave_up(void) { SRV_ADD(&srv_m.db_gave_up, 1); }
void srv_metrics_connection_cut(enum srv_metrics_cut reason) { SRV_ADD(&srv_m.cut[reason], 1); }
void srv_metrics_connection_open(int delta) { SRV_ADD(&srv_m.connections_open, delta); }

void srv_metrics_time_to_key(double seconds)
{
  size_t b;

  for (b = 0; b < SRV_TTK_NBUCKETS && seconds > srv_ttk_buckets[b]; b++)
    ;
  SRV_ADD(&srv_m.ttk_bucket[b], 1);
  SRV_ADD(&srv_m.ttk_sum_ms, (uint64_t)(seconds * 1e3));
  SRV_ADD(&srv_m.ttk_count, 1);
}

static void srv_render_time_to_key(FILE *f)
{
  uint64_t cum = 0;

  fputs("# HELP escrowd_retrieval_time_to_key_seconds From a retrieval request's creation "
        "to its T-th part (the moment the requester can open the key).\n"
        "# TYPE escrowd_retrieval_time_to_key_seconds histogram\n",
        f);
  for (size_t b = 0; b < SRV_TTK_NBUCKETS; b++) {
    cum += SRV_LOAD(&srv_m.ttk_bucket[b]);
    fprintf(f, "escrowd_retrieval_time_to_key_seconds_bucket{le=\"%g\"} %llu\n", srv_ttk_buckets[b],
            (unsigned long long)cum);
  }
  cum += SRV_LOAD(&srv_m.ttk_bucket[SRV_TTK_NBUCKETS]);
  fprintf(f,
          "escrowd_retrieval_time_to_key_seconds_bucket{le=\"+Inf\"} %llu\n"
          "escrowd_retrieval_time_to_key_seconds_sum %.3f\n"
          "escrowd_retrieval_time_to_key_seconds_count %llu\n",
          (unsigned long long)cum, (double)SRV_LOAD(&srv_m.ttk_sum_ms) / 1e3,
          (unsigned long long)SRV_LOAD(&srv_m.ttk_count));
}

void srv_metrics_db_error(enum srv_metrics_db kind)
{
  if ((unsigned)kind < SRV_METRICS_DB_KINDS_)
    SRV_ADD(&srv_m.db[kind], 1);
}

void srv_metrics_request_end(size_t label, unsigned status, double seconds)
{
  struct srv_label_stats *s;
  size_t b, si;

  SRV_ADD(&srv_m.in_flight, -1);
  if (!srv_m.stats || label >= srv_m.nlabels)
    return;
  s = &srv_m.stats[label];
  si = (status >= SRV_STATUS_MIN && status <= SRV_STATUS_MAX) ? status - SRV_STATUS_MIN + 1 : 0;
  SRV_ADD(&s->status[si], 1);
  for (b = 0; b < SRV_NBUCKETS && seconds > srv_buckets[b]; b++)
    ;
  SRV_ADD(&s->bucket[b], 1);
  SRV_ADD(&s->sum_us, (uint64_t)(seconds * 1e6));
  SRV_ADD(&s->count, 1);
}

static void srv_render_requests(FILE *f)
{
  fputs("# HELP escrowd_http_requests_total HTTP requests by route pattern and status "
        "code (0 = connection closed before a response).\n"
        "# TYPE escrowd_http_requests_total counter\n",
        f);
  for (size_t l = 0; l < srv_m.nlabels; l++)
    for (size_t si = 0; si < SRV_NSTATUS; si++) {
      uint64_t v = SRV_LOAD(&srv_m.stats[l].status[si]);
      if (v)
        fprintf(f, "escrowd_http_requests_total{route=\"%s\",code=\"%zu\"} %llu\n", srv_m.labels[l],
                si ? si - 1 + SRV_STATUS_MIN : 0, (unsigned long long)v);
    }
  fputs("# HELP escrowd_http_request_duration_seconds Time from the first byte of a "
        "request to its completion.\n"
        "# TYPE escrowd_http_request_duration_seconds histogram\n",
        f);
  for (size_t l = 0; l < srv_m.nlabels; l++) {
    const struct srv_label_stats *s = &srv_m.stats[l];
    uint64_t cum = 0;
    for (size_t b = 0; b < SRV_NBUCKETS; b++) {
      cum += SRV_LOAD(&s->bucket[b]);
      fprintf(f, "escrowd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
              srv_m.labels[l], srv_buckets[b], (unsigned long long)cum);
    }
    cum += SRV_LOAD(&s->bucket[SRV_NBUCKETS]);
    fprintf(f, "escrowd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
            srv_m.labels[l], (unsigned long long)cum);
    fprintf(f, "escrowd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", srv_m.labels[l],
            (double)SRV_LOAD(&s->sum_us) / 1e6);
    fprintf(f, "escrowd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", srv_m.labels[l],
            (unsigned long long)SRV_LOAD(&s->count));
  }
}

char *srv_metrics_render(size_t *len)
{
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);

  if (!f)
    return NULL;
  srv_render_requests(f);
  fprintf(f,
          "# HELP escrowd_http_requests_in_flight Requests being received or handled.\n"
          "# TYPE escrowd_http_requests_in_flight gauge\n"
          "escrowd_http_requests_in_flight %ld\n",
          srv_metrics_in_flight());
  fprintf(f,
          "# HELP escrowd_http_connections_open Client connections open (until escrowd has closed "
          "them).\n"
          "# TYPE escrowd_http_connections_open gauge\n"
          "escrowd_http_connections_open %ld\n",
          SRV_LOAD(&srv_m.connections_open));
  srv_render_time_to_key(f);
  fputs("# HELP escrowd_db_errors_total PostgreSQL errors by kind.\n"
        "# TYPE escrowd_db_errors_total counter\n",
        f);
  for (size_t k = 0; k < SRV_METRICS_DB_KINDS_; k++)
    fprintf(f, "escrowd_db_errors_total{kind=\"%s\"} %llu\n", srv_db_kind_names[k],
            (unsigned long long)SRV_LOAD(&srv_m.db[k]));
  fprintf(f,
          "# HELP escrowd_db_reconnects_total Successful PostgreSQL (re)connections.\n"
          "# TYPE escrowd_db_reconnects_total counter\n"
          "escrowd_db_reconnects_total %llu\n"
          "# HELP escrowd_db_transactions_given_up_total Transactions abandoned after "
          "db_max_retries serialization failures or deadlocks (answered 503 db_conflict).\n"
          "# TYPE escrowd_db_transactions_given_up_total counter\n"
          "escrowd_db_transactions_given_up_total %llu\n",
          (unsigned long long)SRV_LOAD(&srv_m.db_reconnects),
          (unsigned long long)SRV_LOAD(&srv_m.db_gave_up));
  fputs("# HELP escrowd_http_connections_closed_total Connections escrowd closed itself, "
        "by reason.\n"
        "# TYPE escrowd_http_connections_closed_total counter\n",
        f);
  for (size_t k = 0; k < SRV_METRICS_CUT_KINDS_; k++)
    fprintf(f, "escrowd_http_connections_closed_total{reason=\"%s\"} %llu\n", srv_cut_names[k],
            (unsigned long long)SRV_LOAD(&srv_m.cut[k]));
  fprintf(f,
          "# HELP escrowd_build_info Version of the running escrowd.\n"
          "# TYPE escrowd_build_info gauge\n"
          "escrowd_build_info{version=\"%s\"} 1\n"
          "# HELP escrowd_start_time_seconds Start time of the process (Unix time).\n"
          "# TYPE escrowd_start_time_seconds gauge\n"
          "escrowd_start_time_seconds %.3f\n",
          KE_VERSION, srv_m.start_time);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}
