/*
 * srv_http.c - libmicrohttpd daemon, request lifecycle and replies.
 */
#include "srv_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ke_json.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_auth.h"
#include "srv_conn.h"
#include "srv_forwarded.h"
#include "srv_metrics.h"
#include "srv_routes.h"

#define SRV_METHOD_MAX 16
#define SRV_PATH_LOG_MAX 256
#define SRV_CLIENT_ID_MAX 64
/* An oversize chunked body is read and dropped up to this many times the
 * limit before the connection is closed without an answer. */
#define SRV_DISCARD_FACTOR 8
/* Seconds a client is asked to wait after a 503 (database down or busy,
 * audit log unavailable): long enough for a failover or a restart of
 * PostgreSQL, short enough that an agent's retry is not needlessly late. */
#define SRV_RETRY_AFTER_S "5"
/* RFC 6797; two years, as Mozilla's guidelines recommend. */
#define SRV_HSTS "max-age=63072000"

struct srv_http {
  struct MHD_Daemon *daemon;
  const struct srv_route_table *routes;
  size_t max_body;
  unsigned port;
  int tls;
  char *tls_cert; /* PEM text; MHD keeps pointers to these */
  char *tls_key;
  int draining; /* set once by srv_http_shutdown; read by the workers */
};

struct srv_request {
  struct srv_http *http;
  struct MHD_Connection *conn;
  struct srv_conn *sc; /* srv_conn.c's state of the connection, or NULL */
  const struct srv_route *route;
  const char *pattern; /* matched path pattern, also on 405; NULL on 404 */
  size_t label;
  enum srv_route_match match;
  char allow[64];
  struct srv_route_params params;
  char id[33];
  char client_id[SRV_CLIENT_ID_MAX + 1];
  char method[SRV_METHOD_MAX + 1];
  char path[SRV_PATH_LOG_MAX + 1];
  char remote[INET6_ADDRSTRLEN]; /* the client (behind trusted proxies) */
  char peer[INET6_ADDRSTRLEN];   /* the TCP peer */
  struct timespec start;
  char *body;
  size_t body_len, body_cap;
  size_t bytes_in; /* including bytes dropped after the limit */
  int too_large;
  json_t *json;
  unsigned status; /* 0 until a response is queued */
  int replied;
  struct srv_principal principal; /* set by srv_auth_authenticate */
  size_t nextra;                  /* srv_reply_header() */
  struct {
    char name[40];
    char value[120];
  } extra[4];
};

/* ---- accessors ---------------------------------------------------------- */

struct MHD_Connection *srv_request_connection(struct srv_request *req) { return req->conn; }
const char *srv_request_id(const struct srv_request *req) { return req->id; }
const char *srv_request_method(const struct srv_request *req) { return req->method; }
const struct srv_route *srv_request_route(const struct srv_request *req) { return req->route; }
const json_t *srv_request_json(const struct srv_request *req) { return req->json; }

const char *srv_request_param(const struct srv_request *req, const char *name)
{
  for (size_t i = 0; i < req->params.count; i++)
    if (strlen(name) == req->params.name_lens[i] &&
        strncmp(req->params.names[i], name, req->params.name_lens[i]) == 0)
      return req->params.values[i];
  return NULL;
}

const char *srv_request_query(struct srv_request *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *srv_request_body(const struct srv_request *req, size_t *len)
{
  *len = req->body_len;
  return req->body;
}

const char *srv_request_remote(const struct srv_request *req) { return req->remote; }

const char *srv_request_header(struct srv_request *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const struct srv_principal *srv_request_principal(const struct srv_request *req)
{
  return &req->principal;
}

int srv_reply_header(struct srv_request *req, const char *name, const char *value)
{
  size_t i = req->nextra;

  if (i >= sizeof req->extra / sizeof req->extra[0] || strlen(name) >= sizeof req->extra[i].name ||
      strlen(value) >= sizeof req->extra[i].value)
    return -1;
  strcpy(req->extra[i].name, name);
  strcpy(req->extra[i].value, value);
  req->nextra++;
  return 0;
}

/* ---- replies ------------------------------------------------------------ */

static enum MHD_Result srv_queue(struct srv_request *req, unsigned status,
                                 struct MHD_Response *resp, const char *content_type)
{
  enum MHD_Result ret;

  if (!resp)
    return MHD_NO;
  if (req->replied) {
    /* A handler bug: answering twice would corrupt the stream. */
    ke_log(KE_LOG_ERROR, "second reply to one request", json_pack("{s:s}", "request_id", req->id));
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) == MHD_NO ||
      MHD_add_response_header(resp, "X-Request-Id", req->id) == MHD_NO ||
      MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_NO ||
      MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_NO ||
      (status == MHD_HTTP_METHOD_NOT_ALLOWED && req->allow[0] &&
       MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow) == MHD_NO) ||
      (status == MHD_HTTP_SERVICE_UNAVAILABLE &&
       MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, SRV_RETRY_AFTER_S) == MHD_NO) ||
      (req->http->tls && MHD_add_response_header(resp, MHD_HTTP_HEADER_STRICT_TRANSPORT_SECURITY,
                                                 SRV_HSTS) == MHD_NO)) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  for (size_t i = 0; i < req->nextra; i++)
    if (MHD_add_response_header(resp, req->extra[i].name, req->extra[i].value) == MHD_NO) {
      MHD_destroy_response(resp);
      return MHD_NO;
    }
  ret = MHD_queue_response(req->conn, status, resp);
  MHD_destroy_response(resp);
  if (ret == MHD_YES) {
    req->status = status;
    req->replied = 1;
    srv_conn_set_complete(req->sc, 1); /* answered: no deadline any more */
  }
  return ret;
}

enum MHD_Result srv_reply_text(struct srv_request *req, unsigned status, const char *content_type,
                               const char *text, size_t len)
{
  struct MHD_Response *resp =
    MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
  return srv_queue(req, status, resp, content_type);
}

enum MHD_Result srv_reply_stream(struct srv_request *req, unsigned status, const char *content_type,
                                 MHD_ContentReaderCallback read, MHD_ContentReaderFreeCallback done,
                                 void *cls)
{
  /* 64 KiB blocks: large enough for few calls, small enough to stay hot. */
  struct MHD_Response *resp =
    MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read, cls, done);

  if (!resp) {
    done(cls);
    return MHD_NO;
  }
  return srv_queue(req, status, resp, content_type);
}

enum MHD_Result srv_reply_json(struct srv_request *req, unsigned status, json_t *body)
{
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  struct MHD_Response *resp;

  json_decref(body);
  if (!text) {
    static const char oom[] =
      "{\"error\":{\"code\":\"internal_error\",\"message\":\"Internal server error\"}}";
    resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    return srv_queue(req, MHD_HTTP_INTERNAL_SERVER_ERROR, resp, "application/json");
  }
  resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
  if (!resp)
    free(text);
  return srv_queue(req, status, resp, "application/json");
}

enum MHD_Result srv_reply_error(struct srv_request *req, enum srv_error_code code,
                                const char *message)
{
  return srv_reply_json(req, srv_error_info(code)->http_status, srv_error_json(code, message));
}

/* ---- request lifecycle -------------------------------------------------- */

static int srv_id_char_ok(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == ':';
}

/* Every X-Forwarded-For header line, joined with commas in arrival order. */
struct srv_xff {
  char buf[1024];
  size_t n;
  int overflow; /* too long to judge: the peer's address is kept */
};

static enum MHD_Result srv_xff_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
  struct srv_xff *x = cls;
  size_t len = value ? strlen(value) : 0;

  (void)kind;
  if (!key || strcasecmp(key, "X-Forwarded-For") != 0)
    return MHD_YES;
  if (x->n + len + 2 > sizeof x->buf) {
    x->overflow = 1;
    return MHD_NO;
  }
  if (x->n)
    x->buf[x->n++] = ',';
  memcpy(x->buf + x->n, value, len);
  x->n += len;
  x->buf[x->n] = '\0';
  return MHD_YES;
}

static struct srv_request *srv_request_new(struct srv_http *h, struct MHD_Connection *conn,
                                           const char *url, const char *method)
{
  struct srv_request *req = calloc(1, sizeof *req);
  unsigned char rnd[16];
  const union MHD_ConnectionInfo *ci;
  const char *cid;

  if (!req)
    return NULL;
  req->http = h;
  req->conn = conn;
  req->sc = srv_conn_of(conn);
  srv_conn_set_seen(req->sc);
  clock_gettime(CLOCK_MONOTONIC, &req->start);
  if (RAND_bytes(rnd, sizeof rnd) != 1) {
    free(req);
    return NULL;
  }
  for (size_t i = 0; i < sizeof rnd; i++)
    snprintf(req->id + 2 * i, 3, "%02x", rnd[i]);
  snprintf(req->method, sizeof req->method, "%s", method);
  snprintf(req->path, sizeof req->path, "%s", url);
  /* A caller's own correlation id is logged beside ours, never instead of
   * it: ours is unforgeable, and only a safe alphabet is kept. */
  cid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
  if (cid) {
    size_t n = strlen(cid), i;
    for (i = 0; i < n && i < SRV_CLIENT_ID_MAX && srv_id_char_ok(cid[i]); i++)
      req->client_id[i] = cid[i];
    if (i != n)
      req->client_id[0] = '\0';
  }
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci && ci->client_addr) {
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, req->peer,
                sizeof req->peer);
    else if (sa->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, req->peer,
                sizeof req->peer);
  }
  /* The client as the trusted proxies name it (srv_forwarded.c), else the
   * TCP peer.  Every X-Forwarded-For line counts, in order: a proxy may add
   * its own line after one the client sent (HAProxy does), and only the
   * lines at the end are the proxies'. */
  memcpy(req->remote, req->peer, sizeof req->remote);
  if (srv_forwarded_enabled()) {
    struct srv_xff x = {{0}, 0, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, srv_xff_collect, &x);
    if (x.n && !x.overflow)
      srv_forwarded_client(req->remote, req->peer, x.buf);
  }
  srv_metrics_request_begin();
  return req;
}

static const char *srv_toe_name(enum MHD_RequestTerminationCode toe)
{
  switch (toe) {
    case MHD_REQUEST_TERMINATED_COMPLETED_OK: return "completed";
    case MHD_REQUEST_TERMINATED_WITH_ERROR: return "error";
    case MHD_REQUEST_TERMINATED_TIMEOUT_REACHED: return "timeout";
    case MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN: return "shutdown";
    case MHD_REQUEST_TERMINATED_READ_ERROR: return "read_error";
    case MHD_REQUEST_TERMINATED_CLIENT_ABORT: return "client_abort";
    default: return "unknown";
  }
}

static void srv_request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                                  enum MHD_RequestTerminationCode toe)
{
  struct srv_request *req = *con_cls;
  struct timespec now;
  double secs;

  (void)cls;
  (void)conn;
  if (!req)
    return;
  *con_cls = NULL;
  clock_gettime(CLOCK_MONOTONIC, &now);
  secs =
    (double)(now.tv_sec - req->start.tv_sec) + (double)(now.tv_nsec - req->start.tv_nsec) / 1e9;
  srv_metrics_request_end(req->label, req->status, secs);
  /* The next request on this connection starts its deadline now. */
  srv_conn_set_complete(req->sc, 0);
  if (ke_log_enabled(KE_LOG_INFO)) {
    json_t *f =
      json_pack("{s:s,s:s,s:s,s:s,s:i,s:f,s:I,s:s,s:s}", "request_id", req->id, "method",
                req->method, "path", req->path, "route", req->pattern ? req->pattern : "unmatched",
                "status", (int)req->status, "duration_ms", secs * 1000.0, "bytes_in",
                (json_int_t)req->bytes_in, "remote", req->remote, "termination", srv_toe_name(toe));
    if (f && req->client_id[0])
      json_object_set_new(f, "client_request_id", json_string(req->client_id));
    if (f && strcmp(req->peer, req->remote) != 0)
      json_object_set_new(f, "proxy", json_string(req->peer));
    /* json_pack fails on a path that is not UTF-8: log without it. */
    if (!f)
      f = json_pack("{s:s,s:i,s:s}", "request_id", req->id, "status", (int)req->status,
                    "termination", srv_toe_name(toe));
    ke_log(KE_LOG_INFO, "request", f);
  }
  json_decref(req->json);
  /* A body may hold a password (POST /v1/login, /v1/users). */
  if (req->body)
    OPENSSL_cleanse(req->body, req->body_len);
  free(req->body);
  free(req);
}

static int srv_body_append(struct srv_request *req, const char *data, size_t len)
{
  size_t max = req->http->max_body;

  req->bytes_in += len;
  if (req->too_large || len > max - req->body_len) {
    req->too_large = 1;
    return -1;
  }
  if (req->body_len + len + 1 > req->body_cap) {
    size_t cap = req->body_cap ? req->body_cap : 4096;
    char *nb;
    while (cap < req->body_len + len + 1)
      cap *= 2;
    if (cap > max + 1)
      cap = max + 1;
    nb = realloc(req->body, cap);
    if (!nb)
      return -2;
    req->body = nb;
    req->body_cap = cap;
  }
  memcpy(req->body + req->body_len, data, len);
  req->body_len += len;
  req->body[req->body_len] = '\0';
  return 0;
}

static int srv_content_type_is_json(struct MHD_Connection *conn)
{
  const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  size_t n = strlen("application/json");

  if (!ct || strncasecmp(ct, "application/json", n) != 0)
    return 0;
  ct += n;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

static enum MHD_Result srv_dispatch(struct srv_request *req)
{
  /* The request is complete: the deadline no longer applies (a handler
   * may wait, e.g. a long-poll). */
  srv_conn_set_complete(req->sc, 1);
  if (req->match == SRV_ROUTE_NOT_FOUND)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, NULL);
  if (req->match == SRV_ROUTE_BAD_METHOD)
    return srv_reply_error(req, SRV_ERR_METHOD_NOT_ALLOWED, NULL);
  {
    /* Authorization happens here and nowhere else: the route's roles
     * decide, before the body is even parsed. */
    enum MHD_Result ret;
    if (!srv_auth_authenticate(req, &req->principal, &ret))
      return ret;
  }
  if (req->route->body == SRV_BODY_JSON) {
    char err[200], msg[256];
    if (!srv_content_type_is_json(req->conn))
      return srv_reply_error(req, SRV_ERR_UNSUPPORTED_MEDIA_TYPE, NULL);
    if (ke_json_parse_object(&req->json, req->body ? req->body : "", req->body_len, err,
                             sizeof err) != KE_JSON_OK) {
      snprintf(msg, sizeof msg, "The request body is not a valid JSON object: %s", err);
      return srv_reply_error(req, SRV_ERR_MALFORMED_JSON, msg);
    }
  }
  return req->route->handler(req);
}

static enum MHD_Result srv_access(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
  struct srv_http *h = cls;
  struct srv_request *req = *con_cls;
  (void)version;
  if (!req) {
    const char *cl;

    req = srv_request_new(h, conn, url, method);
    if (!req)
      return MHD_NO;
    *con_cls = req;
    req->match = srv_routes_match(h->routes, method, url, &req->route, &req->pattern, &req->params,
                                  req->allow, sizeof req->allow);
    req->label = srv_metrics_label(req->pattern);
    {
      enum MHD_Result ret;
      if (!srv_framing_ok(req, &ret))
        return ret;
    }
    /* Refuse an announced oversize body before reading a byte of it.  Sent
     * before routing on purpose: the limit protects the transport, whatever
     * the path. */
    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
      char *end;
      unsigned long long n;
      errno = 0;
      n = strtoull(cl, &end, 10);
      if (errno || *end || n > h->max_body)
        return srv_reply_error(req, SRV_ERR_PAYLOAD_TOO_LARGE, NULL);
    }
    /* Unknown paths and wrong methods are answered at once; the body, if
     * any, is never read and MHD closes the connection afterwards. */
    if (req->match != SRV_ROUTE_FOUND)
      return srv_dispatch(req);
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    size_t n = *upload_data_size;
    int rc;

    *upload_data_size = 0;
    if (req->replied)
      return MHD_YES;
    rc = srv_body_append(req, upload_data, n);
    /* A chunked (unannounced) body over the limit: libmicrohttpd cannot
     * answer in the middle of an upload, so the rest is read and dropped,
     * never buffered, and 413 goes out at its end.  A client that keeps
     * sending far past the limit is cut off instead. */
    if (rc == -1 && req->bytes_in / SRV_DISCARD_FACTOR > req->http->max_body)
      return MHD_NO;
    if (rc == -2)
      return MHD_NO;
    return MHD_YES;
  }
  if (req->replied)
    return MHD_YES;
  if (req->too_large)
    return srv_reply_error(req, SRV_ERR_PAYLOAD_TOO_LARGE, NULL);
  return srv_dispatch(req);
}

/* Percent-decoding of the path and of query arguments: libmicrohttpd's
 * default (%HH) except that %00 is left as the three characters "%00".  A
 * decoded NUL would silently cut the string short for every handler, e.g.
 * "/ui/a.js%00.txt" would be served as "/ui/a.js"; left encoded, such a
 * name simply fails validation. */
static size_t srv_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
  char *w = s;
  (void)cls;
  (void)conn;
  for (const char *r = s; *r;) {
    int hi = r[0] == '%' ? ke_hex_digit(r[1]) : -1;
    int lo = hi >= 0 ? ke_hex_digit(r[2]) : -1;
    if (lo >= 0 && (hi | lo) != 0) {
      *w++ = (char)(hi * 16 + lo);
      r += 3;
    } else {
      *w++ = *r++;
    }
  }
  *w = '\0';
  return (size_t)(w - s);
}

/* libmicrohttpd's own diagnostics, as JSON lines. */
static void srv_mhd_log(void *cls, const char *fmt, va_list ap)
  __attribute__((format(printf, 2, 0)));
static void srv_mhd_log(void *cls, const char *fmt, va_list ap)
{
  char buf[512];
  size_t n;

  (void)cls;
  if (srv_conn_answer_mhd_error(fmt))
    return; /* answered by escrowd and logged: the message would mislead */
  vsnprintf(buf, sizeof buf, fmt, ap);
  n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  ke_log(KE_LOG_WARN, buf, json_pack("{s:s}", "source", "libmicrohttpd"));
}

static char *srv_read_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;

  if (!f)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1L << 20) &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      buf = NULL;
    } else {
      buf[n] = '\0';
    }
  }
  fclose(f);
  return buf;
}

static void srv_http_free(struct srv_http *h)
{
  if (!h)
    return;
  if (h->tls_key) {
    OPENSSL_cleanse(h->tls_key, strlen(h->tls_key));
    free(h->tls_key);
  }
  free(h->tls_cert);
  free(h);
}

/* TLS from the configuration, when it has a certificate: the files read
 * and the priorities checked before the daemon starts.  0 or -1 (logged). */
static int srv_http_tls(struct srv_http *h, const struct srv_config *cfg, unsigned *flags)
{
  if (!cfg->tls_cert_file)
    return 0;
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    ke_logf(KE_LOG_ERROR, "this libmicrohttpd has no TLS support: unset tls_cert_file "
                          "and terminate TLS in a reverse proxy");
    return -1;
  }
  h->tls_cert = srv_read_file(cfg->tls_cert_file);
  h->tls_key = srv_read_file(cfg->tls_key_file);
  if (!h->tls_cert || !h->tls_key) {
    ke_log(KE_LOG_ERROR, "cannot read TLS certificate or key",
           json_pack("{s:s,s:s}", "tls_cert_file", cfg->tls_cert_file, "tls_key_file",
                     cfg->tls_key_file));
    return -1;
  }
  if (!srv_tls_priorities_ok(cfg->tls_priorities))
    return -1;
  *flags |= MHD_USE_TLS;
  h->tls = 1;
  return 0;
}

/* Accept policy: while draining, a new connection is closed as soon as it
 * is accepted, so a client fails fast instead of waiting in the backlog. */
static enum MHD_Result srv_http_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
  const struct srv_http *h = cls;

  (void)addr;
  (void)len;
  return __atomic_load_n(&h->draining, __ATOMIC_ACQUIRE) ? MHD_NO : MHD_YES;
}

struct srv_http *srv_http_start(const struct srv_config *cfg, const struct srv_route_table *routes)
{
  struct srv_http *h = calloc(1, sizeof *h);
  struct addrinfo hints, *ai = NULL;
  char portstr[16];
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ITC | MHD_USE_ERROR_LOG;
  const union MHD_DaemonInfo *di;
  int gai;

  if (!h)
    return NULL;
  h->routes = routes;
  h->max_body = cfg->max_body_bytes;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(portstr, sizeof portstr, "%u", cfg->port);
  gai = getaddrinfo(cfg->listen_address, portstr, &hints, &ai);
  if (gai != 0) {
    ke_log(
      KE_LOG_ERROR, "listen_address is not a numeric IP address",
      json_pack("{s:s,s:s}", "listen_address", cfg->listen_address, "reason", gai_strerror(gai)));
    srv_http_free(h);
    return NULL;
  }
  if (ai->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (srv_http_tls(h, cfg, &flags) != 0)
    goto fail;
  if (srv_conn_start(cfg) != 0)
    goto fail;
  {
    struct MHD_OptionItem opts[] = {
      /* First, so that MHD's own messages already go through it. */
      {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)srv_mhd_log, NULL},
      {MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr},
      {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)cfg->threads, NULL},
      {MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)cfg->connection_timeout, NULL},
      {MHD_OPTION_CONNECTION_LIMIT, (intptr_t)cfg->connection_limit, NULL},
      /* per_ip_connection_limit is enforced by srv_conn.c, which can make
       * room by dropping a trickling connection; the request deadline too. */
      {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)srv_conn_notify, NULL},
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)srv_request_completed, h},
      /* Refuse sloppy HTTP: request smuggling through a proxy starts
       * with such ambiguities.  In 0.9.75 this refuses a space in the URI
       * and HTTP/1.1 without Host, but accepts bare LF and whitespace
       * before a header's colon; srv_framing_ok() refuses the latter. */
      {MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL},
      {MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL},
      {MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)srv_unescape, NULL},
      /* The TLS options must come last: they are cut off without TLS. */
      {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
      {MHD_OPTION_HTTPS_PRIORITIES, 0, cfg->tls_priorities},
      {MHD_OPTION_END, 0, NULL},
    };
    size_t nopts = sizeof opts / sizeof opts[0];
    if (!h->tls_cert)
      opts[nopts - 4].option = MHD_OPTION_END;
    h->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, srv_http_accept, h, srv_access, h,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  }
  if (!h->daemon) {
    ke_log(KE_LOG_ERROR, "cannot start the HTTP daemon (address in use? bad TLS files?)",
           json_pack("{s:s,s:i}", "listen_address", cfg->listen_address, "port", (int)cfg->port));
    goto fail;
  }
  di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = di ? di->port : cfg->port;
  freeaddrinfo(ai);
  return h;
fail:
  srv_conn_stop();
  freeaddrinfo(ai);
  srv_http_free(h);
  return NULL;
}

unsigned srv_http_port(const struct srv_http *h) { return h->port; }

void srv_http_drain(struct srv_http *h)
{
  if (h)
    __atomic_store_n(&h->draining, 1, __ATOMIC_RELEASE);
}

void srv_http_shutdown(struct srv_http *h, unsigned timeout_s)
{
  struct timespec start, now;

  if (!h)
    return;
  /* Stop taking connections.  Not with MHD_quiesce_daemon: in 0.9.75, with
   * a thread pool and epoll, it races each worker's own removal of the
   * listening socket from its epoll set and aborts the process ("Failed to
   * remove listen FD from epoll set", daemon.c:5531) - seen in CI on a
   * SIGTERM under load.  The accept policy refuses them instead. */
  srv_http_drain(h);
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    long inflight = srv_metrics_in_flight();
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (inflight <= 0)
      break;
    if (now.tv_sec - start.tv_sec >= (time_t)timeout_s) {
      ke_log(KE_LOG_WARN, "shutdown timeout: closing requests still in flight",
             json_pack("{s:I}", "in_flight", (json_int_t)inflight));
      break;
    }
    usleep(20000);
  }
  MHD_stop_daemon(h->daemon);
  srv_conn_stop();
  srv_http_free(h);
}
