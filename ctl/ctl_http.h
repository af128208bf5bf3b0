/*
 * ctl_http.h - escrowctl's HTTP client (libcurl) for every online command.
 *
 * One ctl_http is one server: its base URL, the CA certificate to pin (for
 * https://, verification of the peer and host name is always on), and the
 * bearer token.  Requests and answers are JSON; a server error
 * ({"error":{"code","message"}}) is printed as a clear message and mapped to
 * an exit code, so a command can simply `if ((rc = ctl_http_call(...)))
 * goto out;`.
 *
 * Where the server, CA and token come from, first match wins:
 *   server: the argument (--server) > $ESCROWCTL_SERVER > the stored login
 *   cacert: the argument (--cacert) > $ESCROWCTL_CACERT > the stored login
 *           (only when the server is the stored one) > the system store.
 *           A pinned CA is the only CA trusted: not the system store, nor
 *           what SSL_CERT_FILE, SSL_CERT_DIR or CURL_CA_BUNDLE name.
 *   pin:    the argument (--pin-sha256) > $ESCROWCTL_PIN_SHA256 > the stored
 *           login (only when the server is the stored one) > none.  The
 *           server's public key must then match a pin, on top of the CA.
 *   token:  $ESCROWCTL_TOKEN (API tokens for automation) > the stored login
 *           (only when the server is the stored one)
 * Plain http:// is accepted only for loopback hosts (a bearer token must
 * never cross a network in clear), unless $ESCROWCTL_ALLOW_HTTP=1.
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <jansson.h>

#include "ctl_util.h"

/* Exit codes of online commands, beside CTL_OK, CTL_FAIL (the server
 * refused the request: bad input, not found, conflict, rate limit) and
 * CTL_USAGE. */
enum {
  CTL_NET = 4,  /* server unreachable, TLS failure, timeout, 5xx, bad answer */
  CTL_AUTH = 5, /* 401 (not logged in, token expired or revoked) or 403 */
};

typedef struct ctl_http ctl_http;

/* Long options every online command accepts, and their handler: put
 * CTL_HTTP_OPTIONS in the option array, and call ctl_http_opt() from the
 * ctl_opt_fn for the two codes below. */
#define CTL_HTTP_OPT_SERVER 0x1001
#define CTL_HTTP_OPT_CACERT 0x1002
#define CTL_HTTP_OPT_PIN 0x1003
#define CTL_HTTP_OPTIONS                                   \
  {"server", required_argument, 0, CTL_HTTP_OPT_SERVER},   \
    {"cacert", required_argument, 0, CTL_HTTP_OPT_CACERT}, \
  {                                                        \
    "pin-sha256", required_argument, 0, CTL_HTTP_OPT_PIN   \
  }
typedef struct ctl_http_target {
  const char *server; /* NULL = environment / stored login */
  const char *cacert;
  const char *pin;   /* --pin-sha256 as given */
  const char *token; /* a token read from a file (custodian serve --token-file);
                       * NULL = $ESCROWCTL_TOKEN or the stored login */
} ctl_http_target;
/* Returns 1 if `opt` was one of the three (and records arg), else 0. */
int ctl_http_opt(ctl_http_target *t, int opt, const char *arg);
/* The ctl_opt_fn of a command whose options struct starts with its
 * ctl_http_target and whose other options are all CTL_OPT_ARG/SET. */
int ctl_http_on_opt(void *target, int opt, const char *arg);

/* Open a client for `t` (may be NULL).  need_token: fail with CTL_AUTH and
 * "not logged in" when no token is available.  CTL_OK or an exit code
 * (printed). */
int ctl_http_open(ctl_http **out, const ctl_http_target *t, int need_token);
/* Explicit server, CA (NULL = system store) and token (NULL = none), with
 * no environment or stored login involved (used by `login`). */
int ctl_http_open_explicit(ctl_http **out, const char *server, const char *cacert,
                           const char *token);
void ctl_http_free(ctl_http *h);
/* Pin the server's public key (the --pin-sha256 syntax of ke_http_pin_parse;
 * NULL = no pin).  CTL_OK, or CTL_USAGE (printed) for a malformed pin. */
int ctl_http_set_pin(ctl_http *h, const char *pin);
/* The pins in use, in libcurl's "sha256//..." form, or NULL. */
const char *ctl_http_pin(const ctl_http *h);

/* The server's base URL and the CA in use (NULL = system store). */
const char *ctl_http_server(const ctl_http *h);
const char *ctl_http_cacert(const ctl_http *h);

/* method, path ("/v1/users", with any query string already encoded), an
 * optional JSON request body (borrowed), and *out (may be NULL) receiving
 * the JSON answer of a 2xx (NULL when the answer had no body).  Non-2xx
 * answers are printed and mapped: 401/403 -> CTL_AUTH, other 4xx ->
 * CTL_FAIL, 5xx and transport failures -> CTL_NET. */
int ctl_http_call(ctl_http *h, const char *method, const char *path, const json_t *body,
                  json_t **out);

/* ctl_http_open(t, need a token) + ctl_http_call + ctl_http_free: one call
 * of a command. */
int ctl_http_do(const ctl_http_target *t, const char *method, const char *path, const json_t *body,
                json_t **out);

/* --json: an answer indented, keys sorted, on stdout.  CTL_FAIL if it
 * cannot be formatted. */
int ctl_print_json(const json_t *ans);

/* GET returning the raw body of a 2xx (e.g. a text/plain checkpoint), NUL
 * terminated.  Errors are mapped as above.  *status (may be NULL) gets the
 * HTTP status when there was one. */
int ctl_http_get_raw(ctl_http *h, const char *path, ke_buf *out, long *status);

/* Like the two above but a non-2xx is not printed: *status tells, and
 * *out is the parsed error object if it was JSON (for callers that expect
 * some statuses, e.g. 404).  Transport failures are still printed. */
int ctl_http_call_status(ctl_http *h, const char *method, const char *path, const json_t *body,
                         long *status, json_t **out);

/* Print a non-2xx answer (err: its parsed body or NULL) as ctl_http_call
 * does, and return the mapped exit code. */
int ctl_http_report(ctl_http *h, long status, const json_t *err);

/* Percent-encode one path segment or query value into out (NUL terminated).
 * CTL_USAGE (printed) if it does not fit. */
int ctl_http_escape(char *out, size_t outlen, const char *s);

#endif
