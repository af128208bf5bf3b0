/*
 * ctl_http.c - libcurl client of escrowctl (see ctl_http.h).
 */
#include "ctl_http.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ctl_config.h"
#include "ke_http.h"
#include "ke_json.h"
#include "ke_util.h"

/* A drill's snapshot is the biggest answer: 100,000 records, each with
 * its envelope and its escrow event (the exact audit leaf the custodian
 * proves), are about 130 MB.  Anything past this is not a keyescrow
 * server talking. */
#define CTL_HTTP_MAX_RESPONSE (256u * 1024 * 1024)
#define CTL_HTTP_CONNECT_TIMEOUT 10L
#define CTL_HTTP_DEFAULT_TIMEOUT 120L

struct ctl_http {
  ke_http *conn;
  char *server;
  char *cacert;
  char *pin;  /* libcurl's "sha256//..." form, or NULL */
  char *auth; /* "Authorization: Bearer ..." or NULL; wiped when freed */
  long timeout;
};

int ctl_http_opt(ctl_http_target *t, int opt, const char *arg)
{
  if (opt == CTL_HTTP_OPT_SERVER)
    t->server = arg;
  else if (opt == CTL_HTTP_OPT_CACERT)
    t->cacert = arg;
  else if (opt == CTL_HTTP_OPT_PIN)
    t->pin = arg;
  else
    return 0;
  return 1;
}

int ctl_http_on_opt(void *target, int opt, const char *arg)
{
  return ctl_http_opt(target, opt, arg) ? CTL_OK : CTL_USAGE;
}

/* Check the base URL and store it without trailing slashes. */
static int set_server(ctl_http *h, const char *server)
{
  size_t n = 0;
  const char *allow = getenv("ESCROWCTL_ALLOW_HTTP");

  switch (ke_http_url_check(server, allow && strcmp(allow, "1") == 0, &n)) {
    case KE_HTTP_URL_OK: break;
    case KE_HTTP_URL_SCHEME:
      return ctl_err(CTL_USAGE,
                     "the server must be an https:// (or loopback http://) URL, not "
                     "\"%s\"",
                     server);
    case KE_HTTP_URL_CLEAR:
      return ctl_err(CTL_USAGE,
                     "refusing plain http:// to %s: the bearer token would cross the "
                     "network in clear (use https://, or set ESCROWCTL_ALLOW_HTTP=1 for a test "
                     "setup)",
                     server);
    default:
      return ctl_err(CTL_USAGE, "the server URL contains a character it must not: \"%s\"", server);
  }
  h->server = strndup(server, n);
  return h->server ? CTL_OK : CTL_FAIL;
}

static int set_token(ctl_http *h, const char *token)
{
  static const char pre[] = "Authorization: Bearer ";
  size_t n = strlen(token);

  /* A token is printable ASCII without spaces: anything else would let a
   * bad file inject other headers. */
  for (size_t i = 0; i < n; i++)
    if (token[i] <= ' ' || token[i] >= 0x7f)
      return ctl_err(CTL_USAGE, "the API token contains characters a token never has");
  h->auth = malloc(sizeof pre + n);
  if (!h->auth)
    return CTL_FAIL;
  memcpy(h->auth, pre, sizeof pre - 1);
  memcpy(h->auth + sizeof pre - 1, token, n + 1);
  return CTL_OK;
}

static int http_new(ctl_http **out)
{
  ctl_http *h;
  const char *t = getenv("ESCROWCTL_TIMEOUT");

  ke_rc krc;

  *out = NULL;
  h = calloc(1, sizeof *h);
  if (!h)
    return ctl_oom();
  if ((krc = ke_http_new(&h->conn)) != KE_OK) {
    free(h);
    return ctl_err(CTL_FAIL, krc == KE_ERR_NOMEM ? "out of memory" : "cannot initialise libcurl");
  }
  h->timeout = CTL_HTTP_DEFAULT_TIMEOUT;
  if (t && *t) {
    char *end;
    long v = strtol(t, &end, 10);
    if (*end || v < 1 || v > 86400) {
      ctl_errf("ESCROWCTL_TIMEOUT must be seconds in [1, 86400]");
      ctl_http_free(h);
      return CTL_USAGE;
    }
    h->timeout = v;
  }
  *out = h;
  return CTL_OK;
}

int ctl_http_open_explicit(ctl_http **out, const char *server, const char *cacert,
                           const char *token)
{
  ctl_http *h;
  int rc = http_new(&h);

  if (rc)
    return rc;
  rc = set_server(h, server);
  if (!rc && cacert && !(h->cacert = strdup(cacert)))
    rc = CTL_FAIL;
  if (!rc && token)
    rc = set_token(h, token);
  if (rc) {
    ctl_http_free(h);
    return rc;
  }
  *out = h;
  return CTL_OK;
}

int ctl_http_open(ctl_http **out, const ctl_http_target *t, int need_token)
{
  ctl_login login;
  int found = 0, rc;
  const char *server = t ? t->server : NULL, *cacert = t ? t->cacert : NULL;
  const char *pin = t ? t->pin : NULL;
  const char *token = t && t->token ? t->token : getenv("ESCROWCTL_TOKEN");
  int same;

  *out = NULL;
  if (!server)
    server = getenv("ESCROWCTL_SERVER");
  if (!cacert)
    cacert = getenv("ESCROWCTL_CACERT");
  if (!pin)
    pin = getenv("ESCROWCTL_PIN_SHA256");
  if ((rc = ctl_login_load(&login, &found)))
    return rc;
  if (!server && found)
    server = login.server;
  if (!server)
    return ctl_err(CTL_USAGE, "no server: log in first (escrowctl login --server URL --user NAME) "
                              "or give --server");
  /* The stored token and CA belong to the stored server only: never send
   * one server's token to another. */
  same = found && strcmp(server, login.server) == 0;
  if (!cacert && same)
    cacert = login.cacert;
  if (!pin && same)
    pin = login.pin;
  if (!token && same)
    token = login.token;
  if (!token && need_token) {
    ctl_errf("not logged in to %s: run escrowctl login --server URL --user NAME (or set "
             "ESCROWCTL_TOKEN)",
             server);
    ctl_login_free(&login);
    return CTL_AUTH;
  }
  if (same && token == login.token && login.expires && login.expires <= (int64_t)time(NULL)) {
    ctl_errf("the login to %s expired; run escrowctl login again", server);
    ctl_login_free(&login);
    return CTL_AUTH;
  }
  rc = ctl_http_open_explicit(out, server, cacert, token);
  if (!rc && (rc = ctl_http_set_pin(*out, pin))) {
    ctl_http_free(*out);
    *out = NULL;
  }
  ctl_login_free(&login);
  return rc;
}

void ctl_http_free(ctl_http *h)
{
  if (!h)
    return;
  ke_http_free(h->conn);
  if (h->auth) {
    ke_wipe(h->auth, strlen(h->auth));
    free(h->auth);
  }
  free(h->server);
  free(h->cacert);
  free(h->pin);
  free(h);
}

int ctl_http_set_pin(ctl_http *h, const char *pin)
{
  char *p = NULL;
  ke_rc krc;

  if (pin && (krc = ke_http_pin_parse(pin, &p)) != KE_OK) {
    if (krc == KE_ERR_NOMEM)
      return ctl_oom();
    return ctl_err(CTL_USAGE,
                   "--pin-sha256 must be the base64 SHA-256 of the server's public key "
                   "(SubjectPublicKeyInfo), optionally as sha256//B64, several separated by ';'");
  }
  if (p && strncmp(h->server, "https://", 8) != 0) {
    /* A pin is checked in the TLS handshake: over plain http:// it would
     * protect nothing while seeming to. */
    free(p);
    return ctl_err(CTL_USAGE, "--pin-sha256 needs an https:// server, not %s", h->server);
  }
  free(h->pin);
  h->pin = p;
  return CTL_OK;
}

const char *ctl_http_pin(const ctl_http *h) { return h->pin; }

const char *ctl_http_server(const ctl_http *h) { return h->server; }
const char *ctl_http_cacert(const ctl_http *h) { return h->cacert; }

/* One exchange.  Returns CTL_OK with the answer in resp (any status), or
 * CTL_NET (printed) on a transport failure; resp is to be freed with
 * ke_http_resp_free either way. */
static int perform(ctl_http *h, const char *method, const char *path, const json_t *body,
                   ke_http_resp *resp)
{
  const char *hdrs[4];
  size_t nh = 0;
  char *payload = NULL;
  char err[KE_HTTP_ERRLEN];
  ke_http_req r = {
    .method = method,
    .base = h->server,
    .path = path,
    .headers = hdrs,
    .cacert = h->cacert,
    .pin_sha256 = h->pin,
    .connect_timeout_s = CTL_HTTP_CONNECT_TIMEOUT,
    .timeout_s = h->timeout,
    .max_response = CTL_HTTP_MAX_RESPONSE,
  };
  ke_rc krc;

  memset(resp, 0, sizeof *resp);
  if (path[0] != '/')
    return ctl_err(CTL_FAIL, "internal error: request path must start with /");
  if (body && !(payload = json_dumps(body, JSON_COMPACT)))
    return ctl_oom();
  r.payload = payload;
  hdrs[nh++] = "Accept: application/json, text/plain";
  if (payload)
    hdrs[nh++] = "Content-Type: application/json";
  if (h->auth)
    hdrs[nh++] = h->auth;
  hdrs[nh] = NULL;
  krc = ke_http_perform(h->conn, &r, resp, err, sizeof err);
  if (payload) {
    ke_wipe(payload, strlen(payload));
    free(payload);
  }
  if (krc == KE_OK)
    return CTL_OK;
  if (krc == KE_ERR_NOMEM)
    return ctl_oom();
  if (krc == KE_ERR_LENGTH)
    ctl_errf("%s: the answer is larger than %u bytes", h->server, CTL_HTTP_MAX_RESPONSE);
  else
    ctl_errf("cannot reach %s: %s", h->server, err);
  return CTL_NET;
}

/* Print a non-2xx answer and map it to an exit code. */
static int report_status(ctl_http *h, long status, const json_t *err, long retry_after)
{
  const char *code, *msg;
  char extra[96] = "";

  ke_http_error_fields(err, &code, &msg);

  if (status == 429 && retry_after >= 0)
    snprintf(extra, sizeof extra, "; retry in %ld s", retry_after);
  if (code && msg)
    ctl_errf("%s (HTTP %ld %s%s)", msg, status, code, extra);
  else
    ctl_errf("%s answered HTTP %ld without a keyescrow error%s", h->server, status, extra);
  if (status == 401)
    ctl_notef("  (log in again: escrowctl login --server %s --user NAME)", h->server);
  switch (ke_http_classify(status)) {
    case KE_HTTP_DENIED: return CTL_AUTH;
    case KE_HTTP_REFUSED: return CTL_FAIL;
    default: return CTL_NET;
  }
}

int ctl_http_report(ctl_http *h, long status, const json_t *err)
{
  return report_status(h, status, err, -1);
}

static int parse_json(ctl_http *h, const ke_http_resp *b, json_t **out)
{
  char err[160];

  *out = NULL;
  if (b->len == 0)
    return CTL_OK;
  if (ke_json_parse_object(out, b->body, b->len, err, sizeof err) != KE_JSON_OK)
    return ctl_err(CTL_NET, "%s sent an answer that is not a JSON object (%s)", h->server, err);
  return CTL_OK;
}

/* One JSON call.  A non-2xx is printed and mapped when report, else only
 * *status tells and *out is its error object (if it was JSON). */
static int call(ctl_http *h, const char *method, const char *path, const json_t *body, long *status,
                json_t **out, int report)
{
  ke_http_resp b;
  json_t *j = NULL;
  int rc;

  if (out)
    *out = NULL;
  rc = perform(h, method, path, body, &b);
  if (status)
    *status = rc ? 0 : b.status;
  if (!rc && ke_http_classify(b.status) == KE_HTTP_SUCCESS) {
    rc = parse_json(h, &b, &j);
  } else if (!rc) {
    j = ke_http_error_json(&b); /* an error body that is not JSON is absent */
    if (report) {
      rc = report_status(h, b.status, j, b.retry_after);
      json_decref(j);
      j = NULL;
    }
  }
  ke_http_resp_free(&b);
  if (out && !rc)
    *out = j;
  else
    json_decref(j);
  return rc;
}

int ctl_http_call_status(ctl_http *h, const char *method, const char *path, const json_t *body,
                         long *status, json_t **out)
{
  return call(h, method, path, body, status, out, 0);
}

int ctl_http_call(ctl_http *h, const char *method, const char *path, const json_t *body,
                  json_t **out)
{
  return call(h, method, path, body, NULL, out, 1);
}

int ctl_http_get_raw(ctl_http *h, const char *path, ke_buf *out, long *status)
{
  ke_http_resp b;
  int rc;

  memset(out, 0, sizeof *out);
  rc = perform(h, "GET", path, NULL, &b);
  if (status)
    *status = rc ? 0 : b.status;
  if (!rc && ke_http_classify(b.status) != KE_HTTP_SUCCESS) {
    json_t *j = ke_http_error_json(&b);
    rc = report_status(h, b.status, j, b.retry_after);
    json_decref(j);
  }
  if (!rc && !b.body) {
    /* An empty 2xx body is still a NUL-terminated string for the caller. */
    if (!(b.body = calloc(1, 1))) {
      rc = ctl_oom();
    }
    b.cap = b.body ? 1 : 0;
  }
  if (!rc) {
    /* The body moves to the caller (a plain malloc block, as ke_buf_free
     * expects of a buffer that is not secure). */
    out->p = b.body;
    out->len = b.len;
    out->cap = b.cap;
    out->secure = 0;
    b.body = NULL;
  }
  ke_http_resp_free(&b);
  return rc;
}

int ctl_http_escape(char *out, size_t outlen, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    int plain = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
    if (o + (plain ? 1 : 3) >= outlen)
      return ctl_err(CTL_USAGE, "argument too long: %.40s...", s);
    if (plain) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  if (outlen == 0)
    return CTL_USAGE;
  out[o] = '\0';
  return CTL_OK;
}

int ctl_http_do(const ctl_http_target *t, const char *method, const char *path, const json_t *body,
                json_t **out)
{
  ctl_http *h = NULL;
  int rc = ctl_http_open(&h, t, 1);

  if (!rc)
    rc = ctl_http_call(h, method, path, body, out);
  ctl_http_free(h);
  return rc;
}

int ctl_print_json(const json_t *ans)
{
  char *s = json_dumps(ans, JSON_INDENT(2) | JSON_SORT_KEYS);

  if (s)
    printf("%s\n", s);
  free(s);
  return s ? CTL_OK : CTL_FAIL;
}
