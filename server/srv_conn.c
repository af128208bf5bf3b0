/*
 * srv_conn.c - the HTTP layer's defences below routing (see srv_conn.h):
 * request deadline, per-address limit and TLS session tickets on top of
 * libmicrohttpd's connection notifications; one answer to the header-block
 * errors libmicrohttpd 0.9.x answers twice; unambiguous framing; the check
 * of tls_priorities.
 */
#include "srv_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <openssl/rand.h>

#include "ke_log.h"
#include "srv_error.h"
#include "srv_http.h"
#include "srv_metrics.h"

/* A connection idle or with an incomplete request for this long may be
 * closed to make room for a new connection from the same address.  Long
 * enough for any honest client to send its request line after connecting. */
#define SRV_CONN_EVICT_GRACE_MS 1000
/* How often the sweep thread looks for requests past the deadline. */
#define SRV_CONN_SWEEP_MS 250

struct srv_conn {
  struct srv_conn *prev, *next;
  int fd;
  unsigned char addr[16]; /* IPv4 (4 bytes) or IPv6 address of the TCP peer */
  size_t addr_len;
  struct timespec since; /* the connection's opening or the previous answer */
  int complete;          /* the current request is complete (handler called) */
  int seen;              /* escrowd's handler has seen the current request */
  int cut;               /* shut down by us: no longer counted */
  pthread_t owner;       /* the libmicrohttpd thread that serves it */
  struct MHD_Connection *conn;
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int running, stop;
  struct srv_conn *head;
  unsigned deadline_s;
  unsigned per_ip_limit;
  int tls;
  int mhd_double_error;      /* libmicrohttpd < 1.0: see srv_conn_answer_mhd_error() */
  gnutls_datum_t ticket_key; /* master key; GnuTLS rotates the keys it derives */
} sc;

static long long srv_conn_ms(const struct timespec *a, const struct timespec *b)
{
  return (long long)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void srv_conn_addr_text(const struct srv_conn *c, char *buf, size_t len)
{
  if (!inet_ntop(c->addr_len == 4 ? AF_INET : AF_INET6, c->addr, buf, (socklen_t)len))
    buf[0] = '\0';
}

/* Close a tracked connection from outside libmicrohttpd's thread: the fd
 * stays open (and cannot be reused) until the CLOSED notification removes
 * the entry under sc.mu, and shutdown() makes the owning thread see EOF and
 * close the connection the normal way.  Caller holds sc.mu. */
static void srv_conn_cut(struct srv_conn *c, enum srv_metrics_cut kind, const char *why)
{
  char ip[INET6_ADDRSTRLEN];

  c->cut = 1;
  srv_metrics_connection_cut(kind);
  shutdown(c->fd, SHUT_RDWR);
  srv_conn_addr_text(c, ip, sizeof ip);
  ke_log(KE_LOG_INFO, "connection closed", json_pack("{s:s,s:s}", "reason", why, "remote", ip));
}

/* Enforce per_ip_connection_limit for the new connection `n`.  Caller
 * holds sc.mu. */
static void srv_conn_limit(struct srv_conn *n, const struct timespec *now)
{
  struct srv_conn *victim = NULL;
  unsigned count = 0;

  for (struct srv_conn *c = sc.head; c; c = c->next) {
    if (c->cut || c->addr_len != n->addr_len || memcmp(c->addr, n->addr, n->addr_len) != 0)
      continue;
    count++;
    if (c != n && !c->complete && srv_conn_ms(&c->since, now) >= SRV_CONN_EVICT_GRACE_MS &&
        (!victim || srv_conn_ms(&c->since, &victim->since) > 0))
      victim = c;
  }
  if (count <= sc.per_ip_limit)
    return;
  if (victim)
    srv_conn_cut(victim, SRV_METRICS_CUT_EVICTED,
                 "per_ip_connection_limit: oldest incomplete request dropped");
  else
    srv_conn_cut(n, SRV_METRICS_CUT_REFUSED, "per_ip_connection_limit");
}

static void srv_conn_started(struct MHD_Connection *conn, void **socket_context)
{
  const union MHD_ConnectionInfo *ci;
  struct srv_conn *c = calloc(1, sizeof *c);
  const struct sockaddr *sa;

  *socket_context = c;
  if (!c)
    return; /* untracked: libmicrohttpd's own timeout still applies */
  c->conn = conn;
  c->owner = pthread_self();
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  c->fd = ci ? ci->connect_fd : -1;
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  sa = ci ? ci->client_addr : NULL;
  if (sa && sa->sa_family == AF_INET) {
    memcpy(c->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    c->addr_len = 4;
  } else if (sa && sa->sa_family == AF_INET6) {
    memcpy(c->addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    c->addr_len = 16;
  }
  clock_gettime(CLOCK_MONOTONIC, &c->since);
  if (sc.tls) {
    /* libmicrohttpd 0.9.75 has no option for session tickets, but the
     * GnuTLS session exists (before the handshake) when this runs. */
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (ci && ci->tls_session &&
        gnutls_session_ticket_enable_server(ci->tls_session, &sc.ticket_key) != GNUTLS_E_SUCCESS)
      ke_logf(KE_LOG_WARN, "cannot enable TLS session tickets on a connection");
  }
  srv_metrics_connection_open(1);
  pthread_mutex_lock(&sc.mu);
  c->next = sc.head;
  if (sc.head)
    sc.head->prev = c;
  sc.head = c;
  if (sc.per_ip_limit && c->fd >= 0 && c->addr_len)
    srv_conn_limit(c, &c->since);
  pthread_mutex_unlock(&sc.mu);
}

void srv_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
  struct srv_conn *c = *socket_context;

  (void)cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    srv_conn_started(conn, socket_context);
    return;
  }
  if (!c)
    return;
  /* libmicrohttpd closes the fd only after this returns. */
  pthread_mutex_lock(&sc.mu);
  if (c->prev)
    c->prev->next = c->next;
  else
    sc.head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  pthread_mutex_unlock(&sc.mu);
  srv_metrics_connection_open(-1);
  *socket_context = NULL;
  free(c);
}

struct srv_conn *srv_conn_of(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci =
    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

void srv_conn_set_complete(struct srv_conn *c, int complete)
{
  if (!c)
    return;
  pthread_mutex_lock(&sc.mu);
  c->complete = complete;
  if (!complete) {
    c->seen = 0;
    clock_gettime(CLOCK_MONOTONIC, &c->since);
  }
  pthread_mutex_unlock(&sc.mu);
}

void srv_conn_set_seen(struct srv_conn *c)
{
  if (!c)
    return;
  pthread_mutex_lock(&sc.mu);
  c->seen = 1;
  pthread_mutex_unlock(&sc.mu);
}

/* ---- libmicrohttpd 0.9.75: errors found in the header block -------------
 *
 * When libmicrohttpd itself refuses a request after reading its headers (an
 * unparsable or oversized Content-Length, HTTP/1.1 without Host), its state
 * machine in 0.9.x overwrites the error state and builds the status line
 * and headers a second time (fixed upstream in 1.0.0, commit f1bfbe71,
 * "fixed handling of various errors automatically detected by MHD code").
 * escrowd's handler never runs for such a request, and no API hook exists
 * between the header parser and that bug; the only moment escrowd gets
 * control is the log message libmicrohttpd writes, in its own thread,
 * before it builds any answer.  escrowd then answers itself (one JSON error,
 * Connection: close) and shuts the socket for writing, so libmicrohttpd's
 * doubled answer can never be sent: its send fails and it closes.
 *
 * The connection is found without guessing: it is the only one of this
 * thread whose header block is received (libmicrohttpd reports its size)
 * while escrowd's handler has not seen the request.  With none or several
 * such connections escrowd does nothing (libmicrohttpd's answer goes out). */
static struct srv_conn *srv_conn_parsing_headers(void)
{
  struct srv_conn *found = NULL;
  pthread_t self = pthread_self();

  for (struct srv_conn *c = sc.head; c; c = c->next) {
    if (c->cut || c->seen || c->complete || !pthread_equal(c->owner, self) ||
        !MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE))
      continue;
    if (found)
      return NULL;
    found = c;
  }
  return found;
}

static size_t srv_conn_error_text(char *buf, size_t len, enum srv_error_code code,
                                  const char *message)
{
  const struct srv_error_info *info = srv_error_info(code);
  json_t *body = srv_error_json(code, message);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  unsigned char rnd[16];
  char id[33];
  int n;

  json_decref(body);
  if (!text || RAND_bytes(rnd, sizeof rnd) != 1) {
    free(text);
    return 0;
  }
  for (size_t i = 0; i < sizeof rnd; i++)
    snprintf(id + 2 * i, 3, "%02x", rnd[i]);
  n =
    snprintf(buf, len,
             "HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
             "X-Request-Id: %s\r\nX-Content-Type-Options: nosniff\r\n"
             "Cache-Control: no-store\r\n%sContent-Length: %zu\r\n\r\n%s",
             info->http_status, info->http_status == 413 ? "Content Too Large" : "Bad Request", id,
             sc.tls ? "Strict-Transport-Security: max-age=63072000\r\n" : "", strlen(text), text);
  free(text);
  return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

int srv_conn_answer_mhd_error(const char *mhd_message)
{
  static const struct {
    const char *prefix;
    enum srv_error_code code;
    const char *message;
  } known[] = {
    {"Failed to parse `Content-Length' header", SRV_ERR_BAD_REQUEST,
     "The Content-Length header is not a decimal number"},
    {"Too large value of 'Content-Length' header", SRV_ERR_PAYLOAD_TOO_LARGE, NULL},
    {"Received HTTP/1.1 request without `Host' header", SRV_ERR_BAD_REQUEST,
     "An HTTP/1.1 request needs a Host header"},
  };
  /* libmicrohttpd's own messages about the answer escrowd replaced. */
  static __thread int answered;
  struct srv_conn *c;
  char buf[1024], ip[INET6_ADDRSTRLEN];
  size_t i, n;

  if (!sc.mhd_double_error)
    return 0;
  if (answered && strncmp(mhd_message, "Error processing request", 24) == 0)
    return 1;
  if (answered && strncmp(mhd_message, "Failed to send the response headers", 35) == 0) {
    answered = 0;
    return 1;
  }
  answered = 0;
  for (i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strncmp(mhd_message, known[i].prefix, strlen(known[i].prefix)) == 0)
      break;
  if (i == sizeof known / sizeof known[0])
    return 0;
  n = srv_conn_error_text(buf, sizeof buf, known[i].code, known[i].message);
  pthread_mutex_lock(&sc.mu);
  c = n ? srv_conn_parsing_headers() : NULL;
  if (c) {
    const union MHD_ConnectionInfo *ci =
      sc.tls ? MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION) : NULL;
    /* Nothing has been sent for this request yet, and the previous answer
     * on the connection is out (libmicrohttpd reads a request only after
     * that): the socket takes these few hundred bytes at once. */
    if (ci && ci->tls_session)
      (void)gnutls_record_send(ci->tls_session, buf, n);
    else if (!sc.tls)
      (void)send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c->fd, SHUT_WR);
    c->seen = 1;
    answered = 1;
    srv_conn_addr_text(c, ip, sizeof ip);
    ke_log(KE_LOG_INFO, "request refused before routing",
           json_pack("{s:s,s:s}", "error", srv_error_info(known[i].code)->code, "remote", ip));
  }
  pthread_mutex_unlock(&sc.mu);
  return c != NULL;
}

static void *srv_conn_sweep(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&sc.mu);
  while (!sc.stop) {
    struct timespec now, until;
    long long limit = (long long)sc.deadline_s * 1000;

    clock_gettime(CLOCK_MONOTONIC, &now);
    for (struct srv_conn *c = sc.head; c; c = c->next)
      if (!c->cut && !c->complete && c->fd >= 0 && srv_conn_ms(&c->since, &now) >= limit)
        srv_conn_cut(c, SRV_METRICS_CUT_DEADLINE, "request_deadline");
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += SRV_CONN_SWEEP_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&sc.cv, &sc.mu, &until);
  }
  pthread_mutex_unlock(&sc.mu);
  return NULL;
}

int srv_conn_start(const struct srv_config *cfg)
{
  int err;

  pthread_mutex_init(&sc.mu, NULL);
  pthread_cond_init(&sc.cv, NULL);
  sc.deadline_s = cfg->request_deadline;
  sc.per_ip_limit = cfg->per_ip_connection_limit;
  sc.tls = cfg->tls_cert_file != NULL;
  /* The doubled error answer is a 0.9.x bug (see above). */
  sc.mhd_double_error = strncmp(MHD_get_version(), "0.", 2) == 0;
  sc.stop = 0;
  if (sc.tls && gnutls_session_ticket_key_generate(&sc.ticket_key) != GNUTLS_E_SUCCESS) {
    ke_logf(KE_LOG_ERROR, "cannot generate the TLS session ticket key");
    return -1;
  }
  err = pthread_create(&sc.thread, NULL, srv_conn_sweep, NULL);
  if (err) {
    ke_log(KE_LOG_ERROR, "cannot start the request deadline thread",
           json_pack("{s:s}", "reason", strerror(err)));
    srv_conn_stop();
    return -1;
  }
  sc.running = 1;
  return 0;
}

void srv_conn_stop(void)
{
  if (sc.running) {
    pthread_mutex_lock(&sc.mu);
    sc.stop = 1;
    pthread_cond_signal(&sc.cv);
    pthread_mutex_unlock(&sc.mu);
    pthread_join(sc.thread, NULL);
    sc.running = 0;
  }
  if (sc.ticket_key.data) {
    gnutls_memset(sc.ticket_key.data, 0, sc.ticket_key.size);
    gnutls_free(sc.ticket_key.data);
    sc.ticket_key.data = NULL;
  }
}

/* ---- framing and TLS settings ------------------------------------------ */

/* The framing headers of a request: every line counts, so that a second
 * Content-Length (even an equal one) is seen. */
struct srv_framing {
  unsigned content_length, transfer_encoding;
  int chunked;    /* the (only) Transfer-Encoding is exactly "chunked" */
  int name_space; /* a header name holds a space or tab */
};

static enum MHD_Result srv_framing_count(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
  struct srv_framing *f = cls;

  (void)kind;
  if (!key)
    return MHD_YES;
  /* "Transfer-Encoding : chunked" is a header named "Transfer-Encoding "
   * to libmicrohttpd 0.9.75 (its strict mode forgets this RFC 7230 3.2.4
   * check), but chunked framing to a proxy that trims the name. */
  if (strpbrk(key, " \t"))
    f->name_space = 1;
  if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
    f->content_length++;
  } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
    f->transfer_encoding++;
    f->chunked = value && strcasecmp(value, "chunked") == 0;
  }
  return MHD_YES;
}

/* Request smuggling starts where two parsers frame one request
 * differently: libmicrohttpd prefers Transfer-Encoding and reads only the
 * first Content-Length, while a proxy in front may do otherwise.  Such a
 * request gets 400 and the connection is closed, so that nothing pipelined
 * after it is ever read.  Returns 1 when the framing is unambiguous. */
int srv_framing_ok(struct srv_request *req, enum MHD_Result *ret)
{
  struct srv_framing f = {0, 0, 0, 0};

  MHD_get_connection_values(srv_request_connection(req), MHD_HEADER_KIND, srv_framing_count, &f);
  if (!f.name_space && f.content_length <= 1 && f.transfer_encoding == 0)
    return 1;
  if (!f.name_space && f.content_length == 0 && f.transfer_encoding == 1 && f.chunked)
    return 1;
  srv_reply_header(req, MHD_HTTP_HEADER_CONNECTION, "close");
  *ret = srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                         "Ambiguous message framing: Content-Length with Transfer-Encoding, "
                         "a repeated one, a Transfer-Encoding other than chunked, or "
                         "whitespace in a header name");
  return 0;
}

/* A bad tls_priorities is named here: libmicrohttpd would only fail to
 * start, without saying why. */
int srv_tls_priorities_ok(const char *prio)
{
  gnutls_priority_t p;
  const char *errpos = NULL;

  if (gnutls_priority_init(&p, prio, &errpos) != GNUTLS_E_SUCCESS) {
    ke_log(KE_LOG_ERROR, "tls_priorities is not a valid GnuTLS priority string",
           json_pack("{s:s,s:s}", "tls_priorities", prio, "at", errpos ? errpos : ""));
    return 0;
  }
  gnutls_priority_deinit(p);
  return 1;
}
