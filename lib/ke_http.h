/*
 * ke_http.h - the common core of keyescrow's HTTP clients (escrowctl and
 * escrow-agent), over libcurl.
 *
 * What every client must do the same way lives here, so that it cannot
 * drift between them: the base URL check (https://, or plain http:// to a
 * loopback host only), the transfer settings (TLS peer and host name always
 * verified, a pinned CA replaces the system store and never weakens the
 * check, an optional SPKI pin on top, TLS 1.2 or later, no redirects, only http/https, timeouts), the
 * answer accumulated under a size cap, and the keyescrow JSON error
 * ({"error":{"code","message"}}) with the status classes of the API.
 *
 * Nothing here prints: each client words its own messages and exit codes.
 */
#ifndef KE_HTTP_H
#define KE_HTTP_H

#include <stddef.h>

#include <jansson.h>

#include "ke_util.h"

/* ---- base URL ------------------------------------------------------------ */
typedef enum ke_http_url_rc {
  KE_HTTP_URL_OK = 0,
  KE_HTTP_URL_SCHEME, /* neither https:// nor http:// */
  KE_HTTP_URL_CLEAR,  /* http:// to a host that is not loopback, not allowed */
  KE_HTTP_URL_CHAR,   /* a control character, space, '?' or '#' */
} ke_http_url_rc;

/* Is the URL's host a loopback address (127.x, [::1], localhost)?  Only
 * there is plain http:// harmless. */
int ke_http_host_is_loopback(const char *url);
/* Check a server's base URL.  allow_http: accept http:// to any host (an
 * explicit test-setup switch of the caller).  On KE_HTTP_URL_OK, *len is the
 * length without trailing slashes (the base every path is appended to). */
ke_http_url_rc ke_http_url_check(const char *server, int allow_http, size_t *len);

/* ---- transfers ------------------------------------------------------------ */
/* One reusable connection (a libcurl easy handle: kept-alive connections
 * and TLS sessions carry over from one request to the next). */
typedef struct ke_http ke_http;

/* KE_OK, KE_ERR_INTERNAL (libcurl cannot be initialised) or KE_ERR_NOMEM. */
ke_rc ke_http_new(ke_http **out);
void ke_http_free(ke_http *h);

typedef struct ke_http_req {
  const char *method;         /* "GET", "POST", "PUT", "DELETE", ... */
  const char *base;           /* base URL, checked by ke_http_url_check */
  const char *path;           /* starts with '/'; query already encoded */
  const char *payload;        /* NUL-terminated body or NULL (sent empty
                                * for a method other than GET) */
  const char *const *headers; /* NULL-terminated "Name: value" lines, or
                                * NULL; the copies made are wiped after */
  const char *cacert;         /* pinned CA file: that CA alone is trusted
                                * (libcurl's compiled-in CA bundle and CA
                                * directory are switched off, SSL_CERT_FILE,
                                * SSL_CERT_DIR and CURL_CA_BUNDLE are not
                                * read).  NULL = the system store. */
  long connect_timeout_s;
  long timeout_s;         /* whole transfer */
  size_t max_response;    /* cap on the answer body, in bytes */
  const char *user_agent; /* NULL = none */
  const char *pin_sha256; /* NULL, or SPKI pins in libcurl's form
                                * ("sha256//B64[;sha256//B64...]", as made by
                                * ke_http_pin_parse): the server's public key
                                * must be one of them, on top of the CA
                                * check.  Refused (KE_ERR_FORMAT) for a plain
                                * http:// base, where it would mean nothing. */
} ke_http_req;

/* Parse the argument of --pin-sha256: one or more base64 SHA-256 digests of
 * a server's SubjectPublicKeyInfo (as `openssl pkey -pubin -outform der |
 * openssl dgst -sha256 -binary | base64` prints), each optionally prefixed
 * "sha256//", separated by ';'.  *out (malloc'd) is libcurl's
 * "sha256//B64;sha256//B64" form.  KE_ERR_FORMAT for anything else (a
 * digest that is not exactly 32 bytes of canonical base64, an empty list,
 * more than KE_HTTP_MAX_PINS pins), KE_ERR_NOMEM. */
#define KE_HTTP_MAX_PINS 16
ke_rc ke_http_pin_parse(const char *in, char **out);

typedef struct ke_http_resp {
  long status;      /* HTTP status, 0 if none */
  long retry_after; /* seconds of a Retry-After header, or -1 */
  char *body;       /* NUL terminated when non-NULL (malloc) */
  size_t len, cap;
} ke_http_resp;

/* Room for libcurl's error descriptions (its CURL_ERROR_SIZE). */
#define KE_HTTP_ERRLEN 256

/* One exchange.  KE_OK with resp filled (any status); otherwise
 *   KE_ERR_LENGTH: the answer was larger than r->max_response,
 *   KE_ERR_IO:     a transport failure (resolve, connect, TLS, timeout),
 *   KE_ERR_NOMEM, KE_ERR_FORMAT (path does not start with '/'),
 * and err (may be NULL) holds libcurl's description.  resp is always to be
 * released with ke_http_resp_free. */
ke_rc ke_http_perform(ke_http *h, const ke_http_req *r, ke_http_resp *resp, char *err,
                      size_t errlen);
/* Wipe and free the body (answers can carry key material). */
void ke_http_resp_free(ke_http_resp *resp);

/* ---- answers --------------------------------------------------------------- */
typedef enum ke_http_class {
  KE_HTTP_SUCCESS, /* 2xx */
  KE_HTTP_DENIED,  /* 401, 403: not logged in, expired, not allowed */
  KE_HTTP_REFUSED, /* any other 4xx: the request itself was refused */
  KE_HTTP_FAILED,  /* 5xx and anything else: the server failed */
} ke_http_class;
ke_http_class ke_http_classify(long status);

/* The answer's body as a JSON object (a new reference), or NULL when it is
 * empty or not a JSON object (an error body that is not JSON is absent). */
json_t *ke_http_error_json(const ke_http_resp *resp);
/* The code and message of a keyescrow error object (borrowed from err;
 * NULL when absent or err is NULL). */
void ke_http_error_fields(const json_t *err, const char **code, const char **msg);

#endif
