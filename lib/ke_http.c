/*
 * ke_http.c - common core of the HTTP clients (see ke_http.h).
 */
#include "ke_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "ke_cli.h"
#include "ke_json.h"
#include "ke_note.h"

_Static_assert(KE_HTTP_ERRLEN >= CURL_ERROR_SIZE, "KE_HTTP_ERRLEN below CURL_ERROR_SIZE");

struct ke_http {
  CURL *curl;
};

/* curl_global_init is not thread-safe before libcurl 7.84; both clients
 * open their connections from one thread. */
static int curl_ready;

int ke_http_host_is_loopback(const char *url)
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

ke_http_url_rc ke_http_url_check(const char *server, int allow_http, size_t *len)
{
  size_t n = strlen(server);

  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
    return KE_HTTP_URL_SCHEME;
  /* A bearer token or an enrolment token must never cross a network in
   * clear. */
  if (strncmp(server, "http://", 7) == 0 && !ke_http_host_is_loopback(server) && !allow_http)
    return KE_HTTP_URL_CLEAR;
  /* No query or fragment: paths are appended to the base as they are. */
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)server[i] <= ' ' || server[i] == 0x7f || server[i] == '?' ||
        server[i] == '#')
      return KE_HTTP_URL_CHAR;
  while (n > 8 && server[n - 1] == '/')
    n--;
  *len = n;
  return KE_HTTP_URL_OK;
}

ke_rc ke_http_new(ke_http **out)
{
  ke_http *h;

  *out = NULL;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return KE_ERR_INTERNAL;
    curl_ready = 1;
  }
  h = calloc(1, sizeof *h);
  if (!h || !(h->curl = curl_easy_init())) {
    free(h);
    return KE_ERR_NOMEM;
  }
  *out = h;
  return KE_OK;
}

void ke_http_free(ke_http *h)
{
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  free(h);
}

void ke_http_resp_free(ke_http_resp *resp)
{
  if (resp->body) {
    ke_wipe(resp->body, resp->cap);
    free(resp->body);
  }
  resp->body = NULL;
  resp->len = resp->cap = 0;
}

struct sink {
  ke_http_resp *resp;
  size_t max;
  int too_large, nomem;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *cls)
{
  struct sink *s = cls;
  ke_http_resp *b = s->resp;
  size_t n = size * nmemb;

  if (n > s->max - b->len) {
    s->too_large = 1;
    return 0; /* curl reports a write error */
  }
  /* ke_buf grows without realloc (the old block is wiped: answers can
   * carry key material). */
  ke_buf kb = {b->body, b->len, b->cap, 0};
  if (ke_buf_append(&kb, p, n)) {
    s->nomem = 1;
    return 0;
  }
  b->body = kb.p;
  b->len = kb.len;
  b->cap = kb.cap;
  return n;
}

/* Retry-After of a 429 or 503, in whole seconds. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *cls)
{
  ke_http_resp *resp = cls;
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
      resp->retry_after = strtol(v, NULL, 10);
  }
  return n;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
  if (err && errlen)
    snprintf(err, errlen, "%s", msg);
}

/* The server's certificate is always verified: against the pinned CA
 * alone when there is one, and against a pinned public key too. */
static void ke_http_set_tls(CURL *c, const ke_http_req *r)
{
  /* Verification is never optional: a pinned CA replaces the system store,
   * it does not weaken the check. */
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  if (r->cacert) {
    /* The pinned CA alone.  Debian's libcurl has a compiled-in CA directory
     * (/etc/ssl/certs) besides its bundle: CAINFO replaces only the bundle,
     * so without CAPATH = NULL every CA of the system store (a public CA, a
     * TLS-inspection proxy's) would still be trusted.  No native CA store
     * either (CURLSSLOPT_NATIVE_CA).  libcurl reads no SSL_CERT_FILE,
     * SSL_CERT_DIR or CURL_CA_BUNDLE (the curl tool does), and never calls
     * OpenSSL's default verify paths unless built with --with-ca-fallback,
     * which Debian's is not: tests/server/t_tls_pin.sh checks all this. */
    curl_easy_setopt(c, CURLOPT_CAINFO, r->cacert);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSL_OPTIONS, 0L);
  }
  if (r->pin_sha256)
    curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, r->pin_sha256);
}

/* The method and its body. */
static void ke_http_set_method(CURL *c, const ke_http_req *r)
{
  if (strcmp(r->method, "GET") == 0) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    /* POST-style transfer with the method's own name (PUT, DELETE...);
     * an absent body is sent as Content-Length: 0. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->payload ? r->payload : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, r->payload ? (long)strlen(r->payload) : 0L);
    if (strcmp(r->method, "POST") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
  }
}

ke_rc ke_http_perform(ke_http *h, const ke_http_req *r, ke_http_resp *resp, char *err,
                      size_t errlen)
{
  CURL *c = h->curl;
  struct curl_slist *hdrs = NULL;
  struct sink sink = {resp, r->max_response, 0, 0};
  char *url = NULL;
  char errbuf[CURL_ERROR_SIZE] = "";
  CURLcode cc;
  ke_rc rc = KE_ERR_NOMEM;

  memset(resp, 0, sizeof *resp);
  resp->retry_after = -1;
  set_err(err, errlen, "");
  if (r->path[0] != '/') {
    set_err(err, errlen, "the request path must start with /");
    return KE_ERR_FORMAT;
  }
  /* libcurl checks a pin on TLS connections only: for plain http:// it
   * would silently protect nothing. */
  if (r->pin_sha256 && strncmp(r->base, "https://", 8) != 0) {
    set_err(err, errlen, "a public key pin (--pin-sha256) needs an https:// server");
    return KE_ERR_FORMAT;
  }
  url = malloc(strlen(r->base) + strlen(r->path) + 1);
  if (!url)
    goto out;
  strcpy(url, r->base);
  strcat(url, r->path);
  for (const char *const *l = r->headers; l && *l; l++) {
    struct curl_slist *t = curl_slist_append(hdrs, *l);
    if (!t)
      goto out;
    hdrs = t;
  }
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, r->connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, r->timeout_s);
  ke_http_set_tls(c, r);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if (r->user_agent)
    curl_easy_setopt(c, CURLOPT_USERAGENT, r->user_agent);
  ke_http_set_method(c, r);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  cc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
  if (cc != CURLE_OK) {
    set_err(err, errlen, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    rc = sink.too_large ? KE_ERR_LENGTH : sink.nomem ? KE_ERR_NOMEM : KE_ERR_IO;
    goto out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
  rc = KE_OK;
out:
  if (rc == KE_ERR_NOMEM && err && errlen && !err[0])
    set_err(err, errlen, "out of memory");
  /* The header list can hold a copy of a bearer token. */
  for (struct curl_slist *s = hdrs; s; s = s->next)
    ke_wipe(s->data, strlen(s->data));
  curl_slist_free_all(hdrs);
  free(url);
  return rc;
}

ke_rc ke_http_pin_parse(const char *in, char **out)
{
  /* Each pin: "sha256//" + 44 base64 characters, then ';' or the end. */
  size_t cap = KE_HTTP_MAX_PINS * (8 + 44 + 1) + 1, o = 0, npins = 0;
  char *buf;
  const char *p = in;

  *out = NULL;
  if (!in || !*in)
    return KE_ERR_FORMAT;
  if (!(buf = malloc(cap)))
    return KE_ERR_NOMEM;
  for (;;) {
    size_t n;
    uint8_t digest[32 + 3];
    size_t dlen = 0;

    if (strncmp(p, "sha256//", 8) == 0)
      p += 8;
    n = strcspn(p, ";");
    if (n != 44 || ++npins > KE_HTTP_MAX_PINS ||
        ke_note_b64_decode(digest, sizeof digest, &dlen, p, n) != KE_OK || dlen != 32) {
      free(buf);
      return KE_ERR_FORMAT;
    }
    o += (size_t)snprintf(buf + o, cap - o, "%ssha256//%.44s", o ? ";" : "", p);
    p += n;
    if (!*p)
      break;
    p++; /* ';': another pin must follow */
  }
  *out = buf;
  return KE_OK;
}

ke_http_class ke_http_classify(long status)
{
  if (status >= 200 && status < 300)
    return KE_HTTP_SUCCESS;
  if (status == 401 || status == 403)
    return KE_HTTP_DENIED;
  if (status >= 400 && status < 500)
    return KE_HTTP_REFUSED;
  return KE_HTTP_FAILED;
}

json_t *ke_http_error_json(const ke_http_resp *resp)
{
  json_t *j = NULL;
  char err[8];

  if (!resp->len || ke_json_parse_object(&j, resp->body, resp->len, err, sizeof err) != KE_JSON_OK)
    return NULL;
  return j;
}

void ke_http_error_fields(const json_t *err, const char **code, const char **msg)
{
  const json_t *e = err ? json_object_get(err, "error") : NULL;

  *code = e ? json_string_value(json_object_get(e, "code")) : NULL;
  *msg = e ? json_string_value(json_object_get(e, "message")) : NULL;
}
