/*
 * srv_http.h - the HTTP layer of escrowd on top of libmicrohttpd.
 *
 * A request goes through: route match (srv_routes) -> body accumulation with
 * a size limit -> JSON parsing for routes that take JSON -> the handler ->
 * completion (metrics + one JSON access-log line).  Handlers answer through
 * the srv_reply_* functions only, so every response carries X-Request-Id and
 * every error has the registry's JSON shape.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>

#include "srv_config.h"
#include "srv_error.h"

struct srv_request;
struct ke_jspec;
struct srv_qspec;

typedef enum MHD_Result (*srv_handler)(struct srv_request *req);

/* Who may call a route: srv_auth.c enforces it before the handler runs, so
 * every route states its policy in one place, the route table. */
#define SRV_ROLE_PUBLIC 0u
#define SRV_ROLE_AGENT (1u << 0)
#define SRV_ROLE_ADMIN (1u << 1)
#define SRV_ROLE_HELPDESK (1u << 2)
#define SRV_ROLE_CUSTODIAN (1u << 3)
#define SRV_ROLE_AUDITOR (1u << 4)
/* Every human role (e.g. logout). */
#define SRV_ROLE_USERS (SRV_ROLE_ADMIN | SRV_ROLE_HELPDESK | SRV_ROLE_CUSTODIAN | SRV_ROLE_AUDITOR)

enum srv_body {
  SRV_BODY_NONE = 0, /* a body, if any, is read (within the limit) and ignored */
  SRV_BODY_JSON,     /* Content-Type application/json, a JSON object */
};

struct srv_route {
  const char *method;  /* "GET", "POST", ... (HEAD is served by GET routes) */
  const char *pattern; /* "/v1/devices/{id}": {name} matches one segment */
  srv_handler handler;
  unsigned roles; /* SRV_ROLE_* bitmask; SRV_ROLE_PUBLIC = anyone */
  enum srv_body body;
  /* The members the body may have (lib/ke_json_spec.h) and the query
   * parameters (srv_ep.h), when the route has them: the handler parses
   * with exactly these (srv_ep_body, srv_ep_query check it), and the fuzz
   * target drives them all from this table. */
  const struct ke_jspec *body_spec;
  const struct srv_qspec *query_spec;
};

struct srv_route_table {
  const struct srv_route *routes;
  size_t count;
};

/* ---- request accessors (valid inside a handler) ---------------------- */
struct MHD_Connection *srv_request_connection(struct srv_request *req);
const char *srv_request_id(const struct srv_request *req);
const char *srv_request_method(const struct srv_request *req);
const struct srv_route *srv_request_route(const struct srv_request *req);
/* Value of a {name} path segment, or NULL. */
const char *srv_request_param(const struct srv_request *req, const char *name);
/* Query-string argument, or NULL. */
const char *srv_request_query(struct srv_request *req, const char *name);
/* The parsed body of a SRV_BODY_JSON route (borrowed). */
const json_t *srv_request_json(const struct srv_request *req);
const char *srv_request_body(const struct srv_request *req, size_t *len);
/* The client's IP address as text ("" if unknown). */
const char *srv_request_remote(const struct srv_request *req);
/* A request header, or NULL. */
const char *srv_request_header(struct srv_request *req, const char *name);

/* ---- replies: each queues exactly one response ------------------------ */
/* Takes ownership of `body`. */
enum MHD_Result srv_reply_json(struct srv_request *req, unsigned status, json_t *body);
/* THE way errors leave the server.  `message` NULL = the registry default. */
enum MHD_Result srv_reply_error(struct srv_request *req, enum srv_error_code code,
                                const char *message);
/* Add a header (copied) to the reply this request will get: call before
 * the srv_reply_* function.  At most 4 per request; 0 on success. */
int srv_reply_header(struct srv_request *req, const char *name, const char *value);
/* Copies `len` bytes. */
enum MHD_Result srv_reply_text(struct srv_request *req, unsigned status, const char *content_type,
                               const char *text, size_t len);
/* A body produced while it is sent (chunked): `read` is called for the
 * next bytes as the client takes them, `done` once at the end (also if the
 * reply cannot be queued: it always owns cls).  For answers too large to
 * build in memory first, such as a 100,000-device report. */
enum MHD_Result srv_reply_stream(struct srv_request *req, unsigned status, const char *content_type,
                                 MHD_ContentReaderCallback read, MHD_ContentReaderFreeCallback done,
                                 void *cls);

/* ---- the daemon -------------------------------------------------------- */
struct srv_http;

/* Starts listening and serving.  `routes` must outlive the daemon.
 * Returns NULL (after logging why) on failure. */
struct srv_http *srv_http_start(const struct srv_config *cfg, const struct srv_route_table *routes);
/* The bound TCP port (useful with port = 0). */
unsigned srv_http_port(const struct srv_http *h);
/* Refuse new connections from now on (each is closed as it is accepted). */
void srv_http_drain(struct srv_http *h);
/* Drain, wait up to `timeout_s` for in-flight
 * requests, then stop every thread and free everything. */
void srv_http_shutdown(struct srv_http *h, unsigned timeout_s);

#endif
