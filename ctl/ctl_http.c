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

#include <curl/curl.h>

#include "ctl_config.h"
#include "ke_json.h"
#include "ke_util.h"

/* Audit entry pages are the biggest answers; anything past this is not a
 * keyescrow server talking. */
#define CTL_HTTP_MAX_RESPONSE (64u * 1024 * 1024)
#define CTL_HTTP_CONNECT_TIMEOUT 10L
#define CTL_HTTP_DEFAULT_TIMEOUT 120L

struct ctl_http {
  CURL *curl;
  char *server;
  char *cacert;
  char *auth; /* "Authorization: Bearer ..." or NULL; wiped when freed */
  long timeout;
};

static int curl_ready;

static char *xstrdup(const char *s)
{
  return s ? strdup(s) : NULL;
}

int ctl_http_opt(ctl_http_target *t, int opt, const char *arg)
{
  if (opt == CTL_HTTP_OPT_SERVER)
    t->server = arg;
  else if (opt == CTL_HTTP_OPT_CACERT)
    t->cacert = arg;
  else
    return 0;
  return 1;
}

/* Is the URL's host a loopback address?  Only there is http:// harmless. */
static int host_is_loopback(const char *url)
{
  const char *h = strstr(url, "://");
  size_t n;

  if (!h)
    return 0;
  h += 3;
  if (*h == '[')
    return strncmp(h, "[::1]", 5) == 0;
  n = strcspn(h, ":/");
  if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
    return 1;
  return strncmp(h, "127.", 4) == 0 && n <= 15;
}

/* Check the base URL and store it without trailing slashes. */
static int set_server(ctl_http *h, const char *server)
{
  size_t n = strlen(server);
  const char *allow = getenv("ESCROWCTL_ALLOW_HTTP");

  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
    ctl_errf("the server must be an https:// (or loopback http://) URL, not \"%s\"", server);
    return CTL_USAGE;
  }
  if (strncmp(server, "http://", 7) == 0 && !host_is_loopback(server) &&
      !(allow && strcmp(allow, "1") == 0)) {
    ctl_errf("refusing plain http:// to %s: the bearer token would cross the network in "
             "clear (use https://, or set ESCROWCTL_ALLOW_HTTP=1 for a test setup)", server);
    return CTL_USAGE;
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)server[i] <= ' ' || server[i] == 0x7f || server[i] == '?' ||
        server[i] == '#') {
      ctl_errf("the server URL contains a character it must not: \"%s\"", server);
      return CTL_USAGE;
    }
  while (n > 8 && server[n - 1] == '/')
    n--;
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
    if (token[i] <= ' ' || token[i] >= 0x7f) {
      ctl_errf("the API token contains characters a token never has");
      return CTL_USAGE;
    }
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

  *out = NULL;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      ctl_errf("cannot initialise libcurl");
      return CTL_FAIL;
    }
    curl_ready = 1;
  }
  h = calloc(1, sizeof *h);
  if (!h || !(h->curl = curl_easy_init())) {
    free(h);
    ctl_errf("out of memory");
    return CTL_FAIL;
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
  if (!rc)
    rc = set_server(h, server);
  if (!rc && cacert && !(h->cacert = xstrdup(cacert)))
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
  const char *token = getenv("ESCROWCTL_TOKEN");
  int same;

  *out = NULL;
  if (!server)
    server = getenv("ESCROWCTL_SERVER");
  if (!cacert)
    cacert = getenv("ESCROWCTL_CACERT");
  if ((rc = ctl_login_load(&login, &found)))
    return rc;
  if (!server && found)
    server = login.server;
  if (!server) {
    ctl_errf("no server: log in first (escrowctl login --server URL --user NAME) or "
             "give --server");
    return CTL_USAGE;
  }
  /* The stored token and CA belong to the stored server only: never send
   * one server's token to another. */
  same = found && strcmp(server, login.server) == 0;
  if (!cacert && same)
    cacert = login.cacert;
  if (!token && same)
    token = login.token;
  if (!token && need_token) {
    ctl_errf("not logged in to %s: run escrowctl login --server URL --user NAME (or set "
             "ESCROWCTL_TOKEN)", server);
    ctl_login_free(&login);
    return CTL_AUTH;
  }
  if (same && token == login.token && login.expires &&
      login.expires <= (int64_t)time(NULL)) {
    ctl_errf("the login to %s expired; run escrowctl login again", server);
    ctl_login_free(&login);
    return CTL_AUTH;
  }
  rc = ctl_http_open_explicit(out, server, cacert, token);
  ctl_login_free(&login);
  return rc;
}

void ctl_http_free(ctl_http *h)
{
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  if (h->auth) {
    ke_wipe(h->auth, strlen(h->auth));
    free(h->auth);
  }
  free(h->server);
  free(h->cacert);
  free(h);
}

const char *ctl_http_server(const ctl_http *h) { return h->server; }
const char *ctl_http_cacert(const ctl_http *h) { return h->cacert; }

static size_t on_data(char *p, size_t size, size_t nmemb, void *cls)
{
  ctl_buf *b = cls;
  size_t n = size * nmemb;

  if (n > CTL_HTTP_MAX_RESPONSE - b->len)
    return 0; /* curl reports a write error */
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 8192;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np)
      return 0;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
  return n;
}

/* Retry-After of a 429, in seconds, or -1. */
struct hdr_state {
  long retry_after;
};

static size_t on_header(char *p, size_t size, size_t nmemb, void *cls)
{
  struct hdr_state *hs = cls;
  size_t n = size * nmemb;
  static const char name[] = "retry-after:";

  if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
    char v[24];
    size_t i = sizeof name - 1, k = 0;
    while (i < n && p[i] == ' ')
      i++;
    while (i < n && k + 1 < sizeof v && isdigit((unsigned char)p[i]))
      v[k++] = p[i++];
    v[k] = '\0';
    if (k)
      hs->retry_after = strtol(v, NULL, 10);
  }
  return n;
}

/* One exchange.  Returns CTL_OK with *status and the body, or CTL_NET
 * (printed) on a transport failure. */
static int perform(ctl_http *h, const char *method, const char *path, const json_t *body,
                   long *status, ctl_buf *resp, struct hdr_state *hs)
{
  CURL *c = h->curl;
  struct curl_slist *hdrs = NULL;
  char *url = NULL, *payload = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  CURLcode cc;
  int rc = CTL_NET;

  if (path[0] != '/') {
    ctl_errf("internal error: request path must start with /");
    return CTL_FAIL;
  }
  url = malloc(strlen(h->server) + strlen(path) + 1);
  if (!url)
    goto oom;
  strcpy(url, h->server);
  strcat(url, path);
  if (body && !(payload = json_dumps(body, JSON_COMPACT)))
    goto oom;
  curl_easy_reset(c);
  hs->retry_after = -1;
  if (!(hdrs = curl_slist_append(hdrs, "Accept: application/json, text/plain")))
    goto oom;
  if (payload) {
    struct curl_slist *t = curl_slist_append(hdrs, "Content-Type: application/json");
    if (!t)
      goto oom;
    hdrs = t;
  }
  if (h->auth) {
    struct curl_slist *t = curl_slist_append(hdrs, h->auth);
    if (!t)
      goto oom;
    hdrs = t;
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CTL_HTTP_CONNECT_TIMEOUT);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout);
  /* Verification is never optional: a pinned CA replaces the system store,
   * it does not weaken the check. */
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  if (h->cacert)
    curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if (strcmp(method, "GET") == 0) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    /* POST-style transfer with the method's own name (PUT, DELETE...);
     * an absent body is sent as Content-Length: 0. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, payload ? (long)strlen(payload) : 0L);
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, hs);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  cc = curl_easy_perform(c);
  if (cc != CURLE_OK) {
    if (cc == CURLE_WRITE_ERROR && resp->len + 1 >= CTL_HTTP_MAX_RESPONSE)
      ctl_errf("%s: the answer is larger than %u bytes", h->server, CTL_HTTP_MAX_RESPONSE);
    else
      ctl_errf("cannot reach %s: %s", h->server, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    goto out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  rc = CTL_OK;
out:
  /* The header list holds a copy of the token. */
  for (struct curl_slist *s = hdrs; s; s = s->next)
    ke_wipe(s->data, strlen(s->data));
  curl_slist_free_all(hdrs);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  if (payload) {
    ke_wipe(payload, strlen(payload));
    free(payload);
  }
  free(url);
  return rc;
oom:
  ctl_errf("out of memory");
  rc = CTL_FAIL;
  goto out;
}

/* Print a non-2xx answer and map it to an exit code. */
static int report_status(ctl_http *h, long status, const json_t *err, long retry_after)
{
  const json_t *e = err ? json_object_get(err, "error") : NULL;
  const char *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
  const char *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;
  char extra[96] = "";

  if (status == 429 && retry_after >= 0)
    snprintf(extra, sizeof extra, "; retry in %ld s", retry_after);
  if (code && msg)
    ctl_errf("%s (HTTP %ld %s%s)", msg, status, code, extra);
  else
    ctl_errf("%s answered HTTP %ld without a keyescrow error%s", h->server, status, extra);
  if (status == 401)
    ctl_notef("  (log in again: escrowctl login --server %s --user NAME)", h->server);
  if (status == 401 || status == 403)
    return CTL_AUTH;
  if (status >= 400 && status < 500)
    return CTL_FAIL;
  return CTL_NET;
}

int ctl_http_report(ctl_http *h, long status, const json_t *err)
{
  return report_status(h, status, err, -1);
}

static int parse_json(ctl_http *h, const ctl_buf *b, json_t **out)
{
  char err[160];

  *out = NULL;
  if (b->len == 0)
    return CTL_OK;
  if (ke_json_parse_object(out, b->p, b->len, err, sizeof err) != KE_JSON_OK) {
    ctl_errf("%s sent an answer that is not a JSON object (%s)", h->server, err);
    return CTL_NET;
  }
  return CTL_OK;
}

int ctl_http_call_status(ctl_http *h, const char *method, const char *path,
                         const json_t *body, long *status, json_t **out)
{
  ctl_buf b = { 0 };
  struct hdr_state hs;
  json_t *j = NULL;
  int rc;

  if (out)
    *out = NULL;
  *status = 0;
  rc = perform(h, method, path, body, status, &b, &hs);
  if (!rc) {
    if (*status >= 200 && *status < 300) {
      rc = parse_json(h, &b, &j);
    } else {
      char err[8];
      /* An error body that is not JSON is simply absent. */
      if (b.len && ke_json_parse_object(&j, b.p, b.len, err, sizeof err) != KE_JSON_OK)
        j = NULL;
    }
  }
  if (b.p) {
    ke_wipe(b.p, b.len);
    free(b.p);
  }
  if (out)
    *out = j;
  else
    json_decref(j);
  return rc;
}

int ctl_http_call(ctl_http *h, const char *method, const char *path, const json_t *body,
                  json_t **out)
{
  ctl_buf b = { 0 };
  struct hdr_state hs;
  long status = 0;
  json_t *j = NULL;
  int rc;

  if (out)
    *out = NULL;
  rc = perform(h, method, path, body, &status, &b, &hs);
  if (!rc && (status < 200 || status >= 300)) {
    char err[8];
    if (b.len && ke_json_parse_object(&j, b.p, b.len, err, sizeof err) != KE_JSON_OK)
      j = NULL;
    rc = report_status(h, status, j, hs.retry_after);
    json_decref(j);
    j = NULL;
  } else if (!rc) {
    rc = parse_json(h, &b, &j);
  }
  if (b.p) {
    ke_wipe(b.p, b.len);
    free(b.p);
  }
  if (out && !rc)
    *out = j;
  else
    json_decref(j);
  return rc;
}

int ctl_http_get_raw(ctl_http *h, const char *path, ctl_buf *out, long *status)
{
  struct hdr_state hs;
  long st = 0;
  int rc;

  memset(out, 0, sizeof *out);
  rc = perform(h, "GET", path, NULL, &st, out, &hs);
  if (status)
    *status = st;
  if (!rc && (st < 200 || st >= 300)) {
    json_t *j = NULL;
    char err[8];
    if (out->len &&
        ke_json_parse_object(&j, out->p, out->len, err, sizeof err) != KE_JSON_OK)
      j = NULL;
    rc = report_status(h, st, j, hs.retry_after);
    json_decref(j);
  }
  if (!rc && !out->p) {
    /* An empty 2xx body is still a NUL-terminated string for the caller. */
    out->p = calloc(1, 1);
    out->cap = out->p ? 1 : 0;
    if (!out->p) {
      ctl_errf("out of memory");
      rc = CTL_FAIL;
    }
  }
  if (rc)
    ctl_buf_free(out);
  return rc;
}

int ctl_http_escape(char *out, size_t outlen, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    int plain = isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
    if (o + (plain ? 1 : 3) >= outlen) {
      ctl_errf("argument too long: %.40s...", s);
      return CTL_USAGE;
    }
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
