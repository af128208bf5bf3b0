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

#include "ke_http.h"
#include "ke_json.h"
#include "ke_util.h"

/* No answer of the device API comes near this; anything bigger is not
 * escrowd talking. */
#define AGENT_HTTP_MAX_RESPONSE (1024u * 1024)
#define AGENT_HTTP_CONNECT_TIMEOUT 15L

struct agent_http {
  ke_http *conn;
  char *server;
  char *cacert;
  char *pin;
  agent_retry retry;
};

int agent_http_open(agent_http **out, const char *server, const char *cacert,
                    const agent_retry *retry)
{
  const char *allow = getenv("ESCROW_AGENT_ALLOW_HTTP");
  size_t n = 0;
  agent_http *h;

  *out = NULL;
  switch (ke_http_url_check(server, allow && strcmp(allow, "1") == 0, &n)) {
    case KE_HTTP_URL_OK: break;
    case KE_HTTP_URL_SCHEME:
      agent_err("the server must be an https:// URL, not \"%s\"", server);
      return AGENT_USAGE;
    case KE_HTTP_URL_CLEAR:
      agent_err("refusing plain http:// to %s: use https:// (or set ESCROW_AGENT_ALLOW_HTTP=1 "
                "for a test setup)",
                server);
      return AGENT_USAGE;
    default:
      agent_err("the server URL contains a character it must not: \"%s\"", server);
      return AGENT_USAGE;
  }
  h = calloc(1, sizeof *h);
  if (h && ke_http_new(&h->conn) == KE_ERR_INTERNAL) {
    free(h);
    agent_err("cannot initialise libcurl");
    return AGENT_FAIL;
  }
  if (!h || !h->conn || !(h->server = strndup(server, n)) ||
      (cacert && !(h->cacert = strdup(cacert)))) {
    agent_http_free(h);
    return agent_oom();
  }
  h->retry = *retry;
  *out = h;
  return AGENT_OK;
}

void agent_http_free(agent_http *h)
{
  if (!h)
    return;
  ke_http_free(h->conn);
  free(h->server);
  free(h->cacert);
  free(h->pin);
  free(h);
}

int agent_http_set_pin(agent_http *h, const char *pin)
{
  char *p = NULL;

  if (pin && strncmp(h->server, "https://", 8) != 0) {
    /* Checked in the TLS handshake: over http:// it would protect nothing. */
    agent_err("--pin-sha256 needs an https:// server, not %s", h->server);
    return AGENT_USAGE;
  }
  if (pin && !(p = strdup(pin)))
    return agent_oom();
  free(h->pin);
  h->pin = p;
  return AGENT_OK;
}

const char *agent_http_server(const agent_http *h) { return h->server; }

int agent_http_segment_ok(const char *s) { return agent_volume_id_valid(s); }

void agent_reply_free(agent_reply *r)
{
  json_decref(r->json);
  r->json = NULL;
}

/* One exchange.  0 with the answer in resp (any status), or -1 on a
 * transport failure (described in errbuf). */
static int perform(agent_http *h, const char *const *hdrs, const char *method, const char *target,
                   const char *payload, ke_http_resp *resp, char *errbuf, size_t errlen)
{
  const ke_http_req r = {
    .method = method,
    .base = h->server,
    .path = target,
    .payload = payload,
    .headers = hdrs,
    .cacert = h->cacert,
    .pin_sha256 = h->pin,
    .connect_timeout_s = AGENT_HTTP_CONNECT_TIMEOUT,
    .timeout_s = (long)h->retry.timeout_s,
    .max_response = AGENT_HTTP_MAX_RESPONSE,
    .user_agent = "escrow-agent/" KE_VERSION,
  };

  return ke_http_perform(h->conn, &r, resp, errbuf, errlen) == KE_OK ? 0 : -1;
}

/* The request's header lines, signed anew for each try. */
#define AGENT_HTTP_MAX_HEADERS 8
typedef struct agent_headers {
  char line[AGENT_HTTP_MAX_HEADERS][512];
  const char *list[AGENT_HTTP_MAX_HEADERS + 1];
  size_t n;
  int bad;
} agent_headers;

/* Append "name: value" (value NULL: "name" as is). */
static void add_header(agent_headers *hd, const char *name, const char *v)
{
  char *line;

  if (hd->bad || hd->n >= AGENT_HTTP_MAX_HEADERS) {
    hd->bad = 1;
    return;
  }
  line = hd->line[hd->n];
  if ((size_t)snprintf(line, sizeof hd->line[0], "%s%s%s", name, v ? ": " : "", v ? v : "") >=
      sizeof hd->line[0]) {
    hd->bad = 1;
    return;
  }
  hd->list[hd->n++] = line;
  hd->list[hd->n] = NULL;
}

/* 0, or -1 when the request cannot be signed or a header does not fit. */
static int build_headers(agent_headers *hd, const agent_key *key, const char *device,
                         const char *method, const char *target, const char *payload)
{
  agent_req_sig sig;
  size_t plen = payload ? strlen(payload) : 0;

  memset(hd, 0, sizeof *hd);
  if (agent_sign_request(&sig, key, method, target, (const uint8_t *)payload, plen) != KE_OK)
    return -1;
  add_header(hd, "Accept", "application/json");
  if (payload)
    add_header(hd, "Content-Type", "application/json");
  add_header(hd, "X-KE-Device", device);
  add_header(hd, "X-KE-Timestamp", sig.timestamp);
  add_header(hd, "X-KE-Nonce", sig.nonce);
  add_header(hd, "X-KE-Signature", sig.signature);
  /* libcurl would otherwise send "Expect: 100-continue" for larger
   * bodies and wait for an answer that some proxies never give. */
  add_header(hd, "Expect:", NULL);
  return hd->bad ? -1 : 0;
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
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The error code and message of a keyescrow JSON error, sanitised. */
static void error_of(const ke_http_resp *b, char *code, size_t codelen, char *msg, size_t msglen)
{
  json_t *j = ke_http_error_json(b);
  const char *c, *m;

  ke_http_error_fields(j, &c, &m);
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

#define TRY_AGAIN (-1)

/* What one try's answer means: AGENT_OK or AGENT_BADANSWER for a 2xx,
 * AGENT_REFUSED for a refusal, or TRY_AGAIN with `last` saying why.  Frees
 * resp. */
static int judge_try(const agent_http *h, int transport, ke_http_resp *resp, const char *errbuf,
                     const char *what, agent_reply *reply, char *last, size_t lastlen)
{
  char code[64] = "", msg[256] = "";
  long status = transport ? 0 : resp->status;
  ke_http_class cls = ke_http_classify(status);
  int rc = AGENT_OK;

  reply->status = status;
  if (!transport && cls == KE_HTTP_SUCCESS) {
    char err[160];
    if (ke_json_parse_object(&reply->json, resp->body ? resp->body : "", resp->len, err,
                             sizeof err) != KE_JSON_OK) {
      agent_err("%s: %s answered HTTP %ld with something that is not a JSON object (%s)", what,
                h->server, status, err);
      rc = AGENT_BADANSWER;
    }
    ke_http_resp_free(resp);
    return rc;
  }
  if (!transport) {
    error_of(resp, code, sizeof code, msg, sizeof msg);
    snprintf(reply->code, sizeof reply->code, "%s", code);
  }
  ke_http_resp_free(resp);
  if (!transport && (cls == KE_HTTP_DENIED || cls == KE_HTTP_REFUSED)) {
    /* The server looked at the request and said no: trying again would
     * get the same answer (and a 409 replay would be ours). */
    if (code[0])
      agent_err("%s: the server refused it: %s (HTTP %ld %s)%s", what, msg[0] ? msg : "no message",
                status, code,
                strcmp(code, "stale_request") == 0 ? "; is this device's clock right?" : "");
    else
      agent_err("%s: the server refused it with HTTP %ld", what, status);
    return AGENT_REFUSED;
  }
  if (transport)
    snprintf(last, lastlen, "cannot reach %s: %s", h->server, errbuf);
  else
    snprintf(last, lastlen, "%s answered HTTP %ld%s%s%s%s", h->server, status, code[0] ? " " : "",
             code, msg[0] ? ": " : "", msg);
  return TRY_AGAIN;
}

int agent_http_call(agent_http *h, const agent_key *key, const char *device, const char *method,
                    const char *target, const json_t *body, const char *what, agent_reply *reply)
{
  char *payload = NULL;
  char errbuf[KE_HTTP_ERRLEN];
  char last[400] = "";
  double start = now_s();
  unsigned ceiling = h->retry.base_ms < h->retry.max_ms ? h->retry.base_ms : h->retry.max_ms;
  int rc = AGENT_UNREACHABLE;

  memset(reply, 0, sizeof *reply);
  if (target[0] != '/') {
    agent_err("internal error: request target must start with /");
    return AGENT_FAIL;
  }
  if (body && !(payload = json_dumps(body, JSON_COMPACT)))
    return agent_oom();
  for (unsigned attempt = 1;; attempt++) {
    agent_headers hdrs;
    ke_http_resp resp;
    int transport;

    if (build_headers(&hdrs, key, device, method, target, payload)) {
      agent_err("cannot sign the request (out of memory or no randomness)");
      rc = AGENT_FAIL;
      break;
    }
    transport = perform(h, hdrs.list, method, target, payload, &resp, errbuf, sizeof errbuf);
    ke_wipe(&hdrs, sizeof hdrs);
    rc = judge_try(h, transport, &resp, errbuf, what, reply, last, sizeof last);
    if (rc != TRY_AGAIN)
      break;
    if (attempt >= h->retry.attempts) {
      agent_err("%s failed after %u tries: %s", what, attempt, last);
      rc = AGENT_UNREACHABLE;
      break;
    }
    unsigned wait = jitter(ceiling);
    if (now_s() - start + wait / 1000.0 > (double)h->retry.max_time_s) {
      agent_err("%s failed after %u tries in %.0f s (retry time limit %u s): %s", what, attempt,
                now_s() - start, h->retry.max_time_s, last);
      rc = AGENT_UNREACHABLE;
      break;
    }
    agent_warn("%s: try %u of %u failed (%s); retrying in %.1f s", what, attempt, h->retry.attempts,
               last, wait / 1000.0);
    sleep_ms(wait);
    ceiling = ceiling > h->retry.max_ms / 2 ? h->retry.max_ms : ceiling * 2;
  }
  free(payload);
  return rc;
}
