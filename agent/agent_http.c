/*
 * agent_http.c - signed JSON requests with retries (see agent_http.h).
 */
#include "agent_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "ke_json.h"
#include "ke_util.h"

/* No answer of the device API comes near this; anything bigger is not
 * escrowd talking. */
#define AGENT_HTTP_MAX_RESPONSE (1024u * 1024)
#define AGENT_HTTP_CONNECT_TIMEOUT 15L

struct agent_http {
  CURL *curl;
  char *server;
  char *cacert;
  agent_retry retry;
};

static int curl_ready;

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

int agent_http_open(agent_http **out, const char *server, const char *cacert,
                    const agent_retry *retry)
{
  const char *allow = getenv("ESCROW_AGENT_ALLOW_HTTP");
  size_t n = strlen(server);
  agent_http *h;

  *out = NULL;
  if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
    agent_err("the server must be an https:// URL, not \"%s\"", server);
    return AGENT_USAGE;
  }
  if (strncmp(server, "http://", 7) == 0 && !host_is_loopback(server) &&
      !(allow && strcmp(allow, "1") == 0)) {
    agent_err("refusing plain http:// to %s: use https:// (or set ESCROW_AGENT_ALLOW_HTTP=1 "
              "for a test setup)", server);
    return AGENT_USAGE;
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)server[i] <= ' ' || server[i] == 0x7f || server[i] == '?' ||
        server[i] == '#') {
      agent_err("the server URL contains a character it must not: \"%s\"", server);
      return AGENT_USAGE;
    }
  while (n > 8 && server[n - 1] == '/')
    n--;
  if (!curl_ready) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      agent_err("cannot initialise libcurl");
      return AGENT_FAIL;
    }
    curl_ready = 1;
  }
  h = calloc(1, sizeof *h);
  if (!h || !(h->curl = curl_easy_init()) || !(h->server = strndup(server, n)) ||
      (cacert && !(h->cacert = strdup(cacert)))) {
    agent_http_free(h);
    agent_err("out of memory");
    return AGENT_FAIL;
  }
  h->retry = *retry;
  *out = h;
  return AGENT_OK;
}

void agent_http_free(agent_http *h)
{
  if (!h)
    return;
  if (h->curl)
    curl_easy_cleanup(h->curl);
  free(h->server);
  free(h->cacert);
  free(h);
}

const char *agent_http_server(const agent_http *h)
{
  return h->server;
}

int agent_http_segment_ok(const char *s)
{
  return agent_volume_id_valid(s);
}

void agent_reply_free(agent_reply *r)
{
  json_decref(r->json);
  r->json = NULL;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *cls)
{
  agent_buf *b = cls;
  size_t n = size * nmemb;

  if (n > AGENT_HTTP_MAX_RESPONSE - b->len)
    return 0;
  return agent_buf_append(b, p, n) ? 0 : n;
}

/* One exchange.  0 with *status, or -1 on a transport failure (errbuf). */
static int perform(agent_http *h, struct curl_slist *hdrs, const char *method,
                   const char *url, const char *payload, long *status, agent_buf *resp,
                   char *errbuf)
{
  CURL *c = h->curl;
  CURLcode cc;

  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, AGENT_HTTP_CONNECT_TIMEOUT);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)h->retry.timeout_s);
  /* Verification is never optional: the pinned CA replaces the system
   * store, it does not weaken the check. */
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  if (h->cacert)
    curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "escrow-agent/" KE_VERSION);
  if (strcmp(method, "GET") == 0) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload ? payload : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, payload ? (long)strlen(payload) : 0L);
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  errbuf[0] = '\0';
  cc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  if (cc != CURLE_OK) {
    if (!errbuf[0])
      snprintf(errbuf, CURL_ERROR_SIZE, "%s", curl_easy_strerror(cc));
    return -1;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  return 0;
}

/* Append "name: value" (value NULL: "name" as is). */
static struct curl_slist *add_header(struct curl_slist *l, int *bad, const char *name,
                                     const char *v)
{
  char line[512];
  struct curl_slist *t;

  if (*bad)
    return l;
  if ((size_t)snprintf(line, sizeof line, "%s%s%s", name, v ? ": " : "", v ? v : "") >=
      sizeof line) {
    *bad = 1;
    return l;
  }
  t = curl_slist_append(l, line);
  if (!t)
    *bad = 1;
  return t ? t : l;
}

static struct curl_slist *build_headers(const agent_key *key, const char *device,
                                        const char *method, const char *target,
                                        const char *payload)
{
  agent_req_sig sig;
  struct curl_slist *l = NULL;
  int bad = 0;
  size_t plen = payload ? strlen(payload) : 0;

  if (agent_sign_request(&sig, key, method, target, (const uint8_t *)payload, plen) != KE_OK)
    return NULL;
  l = add_header(l, &bad, "Accept", "application/json");
  if (payload)
    l = add_header(l, &bad, "Content-Type", "application/json");
  l = add_header(l, &bad, "X-KE-Device", device);
  l = add_header(l, &bad, "X-KE-Timestamp", sig.timestamp);
  l = add_header(l, &bad, "X-KE-Nonce", sig.nonce);
  l = add_header(l, &bad, "X-KE-Signature", sig.signature);
  /* libcurl would otherwise send "Expect: 100-continue" for larger
   * bodies and wait for an answer that some proxies never give. */
  l = add_header(l, &bad, "Expect:", NULL);
  if (bad) {
    curl_slist_free_all(l);
    return NULL;
  }
  return l;
}

/* Uniform random milliseconds in [0, ceiling]. */
static unsigned jitter(unsigned ceiling)
{
  uint8_t r[4];
  uint32_t v;

  if (ke_random(r, sizeof r) != KE_OK)
    return ceiling / 2;
  v = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3];
  return (unsigned)((uint64_t)v * ((uint64_t)ceiling + 1) >> 32);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
  struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The error code and message of a keyescrow JSON error, sanitised. */
static void error_of(const agent_buf *b, char *code, size_t codelen, char *msg,
                     size_t msglen)
{
  json_t *j = NULL;
  char err[8];
  const char *c = NULL, *m = NULL;

  code[0] = msg[0] = '\0';
  if (b->len && ke_json_parse_object(&j, b->p, b->len, err, sizeof err) == KE_JSON_OK) {
    json_t *e = json_object_get(j, "error");
    c = agent_jstr(e, "code");
    m = agent_jstr(e, "message");
  }
  snprintf(code, codelen, "%s", c ? c : "");
  snprintf(msg, msglen, "%s", m ? m : "");
  /* Printed to a terminal and to syslog: keep printable ASCII only. */
  for (char *p = code; *p; p++)
    if (!isprint((unsigned char)*p))
      *p = '?';
  for (char *p = msg; *p; p++)
    if (!isprint((unsigned char)*p))
      *p = '?';
  json_decref(j);
}

int agent_http_call(agent_http *h, const agent_key *key, const char *device,
                    const char *method, const char *target, const json_t *body,
                    const char *what, agent_reply *reply)
{
  char *payload = NULL, *url = NULL;
  char errbuf[CURL_ERROR_SIZE];
  char code[64], msg[256], last[400] = "";
  double start = now_s();
  unsigned ceiling = h->retry.base_ms < h->retry.max_ms ? h->retry.base_ms : h->retry.max_ms;
  int rc = AGENT_UNREACHABLE;

  memset(reply, 0, sizeof *reply);
  if (target[0] != '/') {
    agent_err("internal error: request target must start with /");
    return AGENT_FAIL;
  }
  if (body && !(payload = json_dumps(body, JSON_COMPACT))) {
    agent_err("out of memory");
    return AGENT_FAIL;
  }
  url = malloc(strlen(h->server) + strlen(target) + 1);
  if (!url) {
    free(payload);
    agent_err("out of memory");
    return AGENT_FAIL;
  }
  strcpy(url, h->server);
  strcat(url, target);
  for (unsigned attempt = 1;; attempt++) {
    agent_buf resp = { 0 };
    struct curl_slist *hdrs = build_headers(key, device, method, target, payload);
    long status = 0;
    int transport;

    if (!hdrs) {
      agent_err("cannot sign the request (out of memory or no randomness)");
      rc = AGENT_FAIL;
      break;
    }
    transport = perform(h, hdrs, method, url, payload, &status, &resp, errbuf);
    curl_slist_free_all(hdrs);
    reply->status = transport ? 0 : status;
    if (!transport && status >= 200 && status < 300) {
      char err[160];
      if (ke_json_parse_object(&reply->json, resp.p ? resp.p : "", resp.len, err,
                               sizeof err) != KE_JSON_OK) {
        agent_err("%s: %s answered HTTP %ld with something that is not a JSON object (%s)",
                  what, h->server, status, err);
        rc = AGENT_BADANSWER;
      } else {
        rc = AGENT_OK;
      }
      agent_buf_free(&resp);
      break;
    }
    if (!transport) {
      error_of(&resp, code, sizeof code, msg, sizeof msg);
      snprintf(reply->code, sizeof reply->code, "%s", code);
    }
    agent_buf_free(&resp);
    if (!transport && status >= 400 && status < 500) {
      /* The server looked at the request and said no: trying again would
       * get the same answer (and a 409 replay would be ours). */
      if (code[0])
        agent_err("%s: the server refused it: %s (HTTP %ld %s)%s", what,
                  msg[0] ? msg : "no message", status, code,
                  strcmp(code, "stale_request") == 0 ? "; is this device's clock right?" : "");
      else
        agent_err("%s: the server refused it with HTTP %ld", what, status);
      rc = AGENT_REFUSED;
      break;
    }
    if (transport)
      snprintf(last, sizeof last, "cannot reach %s: %s", h->server, errbuf);
    else
      snprintf(last, sizeof last, "%s answered HTTP %ld%s%s%s%s", h->server, status,
               code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
    if (attempt >= h->retry.attempts) {
      agent_err("%s failed after %u tries: %s", what, attempt, last);
      rc = AGENT_UNREACHABLE;
      break;
    }
    unsigned wait = jitter(ceiling);
    if (now_s() - start + wait / 1000.0 > (double)h->retry.max_time_s) {
      agent_err("%s failed after %u tries in %.0f s (retry time limit %u s): %s", what,
                attempt, now_s() - start, h->retry.max_time_s, last);
      rc = AGENT_UNREACHABLE;
      break;
    }
    agent_warn("%s: try %u of %u failed (%s); retrying in %.1f s", what, attempt,
               h->retry.attempts, last, wait / 1000.0);
    sleep_ms(wait);
    ceiling = ceiling > h->retry.max_ms / 2 ? h->retry.max_ms : ceiling * 2;
  }
  free(url);
  free(payload);
  return rc;
}
