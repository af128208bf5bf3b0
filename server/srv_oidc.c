/*
 * srv_oidc.c - the identity provider escrowd trusts (srv_oidc.h): its
 * discovered metadata and key set, kept fresh by one thread, and the two
 * calls escrowd makes to it (token and device authorization endpoints).
 */
#include "srv_oidc.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_http.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_oidc_map.h"
#include "srv_rows.h"
#include "srv_source_limit.h"

#define SRV_OIDC_META_MAX (1024 * 1024)
#define SRV_OIDC_TIMEOUT_S 10
#define SRV_OIDC_RETRY_S 30      /* after a failed refresh */
#define SRV_OIDC_SECRET_MAX 1024 /* client secret file */

static struct {
  /* configuration (immutable after init) */
  char *issuer, *client_id, *secret, *redirect_uri, *ca_file, *scopes;
  unsigned skew, refresh, jwks_min;
  /* discovered (under mu) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct srv_oidc_endpoints ep;
  char jwks_uri[1024];
  json_t *jwks;
  time_t jwks_read;
  int ready, stop, running;
  pthread_t thread;
} srv_oidc = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int srv_oidc_configured(void) { return srv_oidc.issuer != NULL; }
const char *srv_oidc_client_id(void) { return srv_oidc.client_id; }
const char *srv_oidc_redirect_uri(void) { return srv_oidc.redirect_uri; }
const char *srv_oidc_scopes(void) { return srv_oidc.scopes; }
const char *srv_oidc_issuer(void) { return srv_oidc.issuer; }

int srv_oidc_ready(void)
{
  int r;
  pthread_mutex_lock(&srv_oidc.mu);
  r = srv_oidc.ready;
  pthread_mutex_unlock(&srv_oidc.mu);
  return r;
}

/* An endpoint URL split into the base ke_http checks (scheme://host[:port])
 * and its path (with any query).  https://, or http:// to loopback only. */
static int srv_oidc_url_split(const char *url, char *base, size_t n, const char **path)
{
  const char *host = strstr(url, "://"), *slash;
  size_t len;

  if (!host)
    return -1;
  slash = strchr(host + 3, '/');
  *path = slash ? slash : "/";
  len = slash ? (size_t)(slash - url) : strlen(url);
  if (len >= n)
    return -1;
  memcpy(base, url, len);
  base[len] = '\0';
  return ke_http_url_check(base, 0, &len) == KE_HTTP_URL_OK && strpbrk(*path, " \t\r\n#") == NULL
           ? 0
           : -1;
}

/* One exchange with the IdP: GET (form NULL) or POST of a form. */
static int srv_oidc_call(const char *url, const char *form, const char *const *headers,
                         long *status, json_t **answer, char *err, size_t errlen)
{
  char base[1024];
  const char *path;
  ke_http *h = NULL;
  ke_http_resp resp = {0};
  ke_rc k;

  *answer = NULL;
  *status = 0;
  if (srv_oidc_url_split(url, base, sizeof base, &path) != 0) {
    snprintf(err, errlen, "not an https:// URL (or http:// to loopback): %.200s", url);
    return -1;
  }
  ke_http_req q = {form ? "POST" : "GET",
                   base,
                   path,
                   form,
                   headers,
                   srv_oidc.ca_file,
                   SRV_OIDC_TIMEOUT_S,
                   SRV_OIDC_TIMEOUT_S,
                   SRV_OIDC_META_MAX,
                   "keyescrow-escrowd",
                   NULL};
  if ((k = ke_http_new(&h)) == KE_OK)
    k = ke_http_perform(h, &q, &resp, err, errlen);
  if (k == KE_OK) {
    *status = resp.status;
    *answer = resp.body ? json_loadb(resp.body, resp.len, 0, NULL) : NULL;
    if (*answer && !json_is_object(*answer)) {
      json_decref(*answer);
      *answer = NULL;
    }
  } else if (!err[0]) {
    snprintf(err, errlen, "%s", ke_rc_str(k));
  }
  ke_http_resp_free(&resp);
  ke_http_free(h);
  return k == KE_OK ? 0 : -1;
}

static int srv_oidc_get(const char *url, json_t **answer, char *err, size_t errlen)
{
  static const char *const accept[] = {"Accept: application/json", NULL};
  long status;

  if (srv_oidc_call(url, NULL, accept, &status, answer, err, errlen) != 0)
    return -1;
  if (status == 200 && *answer)
    return 0;
  snprintf(err, errlen, "HTTP %ld%s from %.200s", status, *answer ? "" : " (not JSON)", url);
  json_decref(*answer);
  *answer = NULL;
  return -1;
}

static int srv_oidc_copy_url(char *out, size_t n, const json_t *meta, const char *key, int need)
{
  const char *v = json_string_value(json_object_get(meta, key)), *path;
  char base[1024];

  out[0] = '\0';
  if (!v)
    return need ? -1 : 0;
  if (strlen(v) >= n || srv_oidc_url_split(v, base, sizeof base, &path) != 0)
    return -1;
  snprintf(out, n, "%s", v);
  return 0;
}

static int srv_oidc_read_jwks(const char *uri, char *err, size_t errlen)
{
  json_t *jwks;

  if (srv_oidc_get(uri, &jwks, err, errlen) != 0)
    return -1;
  if (!json_is_array(json_object_get(jwks, "keys"))) {
    snprintf(err, errlen, "the key set at %.200s has no \"keys\" array", uri);
    json_decref(jwks);
    return -1;
  }
  pthread_mutex_lock(&srv_oidc.mu);
  json_decref(srv_oidc.jwks);
  srv_oidc.jwks = jwks;
  srv_oidc.jwks_read = time(NULL);
  pthread_mutex_unlock(&srv_oidc.mu);
  return 0;
}

/* Discovery (OpenID Connect Discovery 1.0 section 4), then the key set. */
static int srv_oidc_refresh(char *err, size_t errlen)
{
  char url[1100];
  struct srv_oidc_endpoints ep;
  char jwks_uri[1024];
  json_t *meta;
  size_t n = strlen(srv_oidc.issuer);

  while (n && srv_oidc.issuer[n - 1] == '/')
    n--;
  snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)n, srv_oidc.issuer);
  if (srv_oidc_get(url, &meta, err, errlen) != 0)
    return -1;
  /* Section 4.3: the issuer in the document is exactly the one asked for
   * (else a document served elsewhere could name itself our IdP). */
  if (strcmp(json_string_value(json_object_get(meta, "issuer")) ?: "", srv_oidc.issuer) != 0) {
    snprintf(err, errlen, "the discovery document names issuer %.200s, not the configured one",
             json_string_value(json_object_get(meta, "issuer")) ?: "(none)");
    json_decref(meta);
    return -1;
  }
  if (srv_oidc_copy_url(ep.authorization, sizeof ep.authorization, meta, "authorization_endpoint",
                        1) ||
      srv_oidc_copy_url(ep.token, sizeof ep.token, meta, "token_endpoint", 1) ||
      srv_oidc_copy_url(ep.device, sizeof ep.device, meta, "device_authorization_endpoint", 0) ||
      srv_oidc_copy_url(jwks_uri, sizeof jwks_uri, meta, "jwks_uri", 1)) {
    snprintf(err, errlen,
             "the discovery document lacks an endpoint or has one that is not "
             "https:// (or http:// to loopback)");
    json_decref(meta);
    return -1;
  }
  json_decref(meta);
  if (srv_oidc_read_jwks(jwks_uri, err, errlen) != 0)
    return -1;
  pthread_mutex_lock(&srv_oidc.mu);
  srv_oidc.ep = ep;
  snprintf(srv_oidc.jwks_uri, sizeof srv_oidc.jwks_uri, "%s", jwks_uri);
  srv_oidc.ready = 1;
  pthread_mutex_unlock(&srv_oidc.mu);
  return 0;
}

static void *srv_oidc_thread(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&srv_oidc.mu);
  while (!srv_oidc.stop) {
    char err[KE_HTTP_ERRLEN + 300] = "";
    struct timespec until;
    int ok, was_ready = srv_oidc.ready;

    pthread_mutex_unlock(&srv_oidc.mu);
    ok = srv_oidc_refresh(err, sizeof err) == 0;
    if (!ok)
      ke_log(was_ready ? KE_LOG_WARN : KE_LOG_ERROR, "identity provider metadata not read",
             json_pack("{s:s,s:s}", "issuer", srv_oidc.issuer, "error", err));
    else if (!was_ready)
      ke_log(KE_LOG_INFO, "identity provider ready", json_pack("{s:s}", "issuer", srv_oidc.issuer));
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ok || srv_oidc.refresh < SRV_OIDC_RETRY_S ? srv_oidc.refresh : SRV_OIDC_RETRY_S;
    pthread_mutex_lock(&srv_oidc.mu);
    while (!srv_oidc.stop && pthread_cond_timedwait(&srv_oidc.cv, &srv_oidc.mu, &until) == 0)
      ;
  }
  pthread_mutex_unlock(&srv_oidc.mu);
  return NULL;
}

static char *srv_oidc_read_secret(const char *path)
{
  FILE *f = fopen(path, "re");
  char *buf = calloc(1, SRV_OIDC_SECRET_MAX + 1);

  if (!f || !buf || !fgets(buf, SRV_OIDC_SECRET_MAX + 1, f)) {
    if (f)
      fclose(f);
    free(buf);
    return NULL;
  }
  fclose(f);
  if (!strchr(buf, '\n') && strlen(buf) == SRV_OIDC_SECRET_MAX) { /* longer than we take */
    ke_wipe(buf, SRV_OIDC_SECRET_MAX);
    free(buf);
    return NULL;
  }
  buf[strcspn(buf, "\r\n")] = '\0';
  return buf;
}

int srv_oidc_start(const struct srv_config *cfg)
{
  const char *bad = NULL;
  char err[300];
  size_t len;

  /* The local-login rules apply with or without single sign-on. */
  if (srv_oidc_map_init(cfg, err, sizeof err) != 0) {
    ke_logf(KE_LOG_ERROR, "%s", err);
    return -1;
  }
  if (!cfg->oidc_issuer || !cfg->oidc_issuer[0])
    return 0;
  if (ke_http_url_check(cfg->oidc_issuer, 0, &len) != KE_HTTP_URL_OK)
    bad = "oidc_issuer must be an https:// URL (or http:// to a loopback host)";
  else if (!cfg->oidc_client_id || !cfg->oidc_client_id[0])
    bad = "oidc_client_id is required with oidc_issuer";
  else if (!cfg->oidc_redirect_uri || ke_http_url_check(cfg->oidc_redirect_uri, 0, &len) != 0 ||
           !strstr(cfg->oidc_redirect_uri, "/v1/login/oidc/callback"))
    bad = "oidc_redirect_uri must be this server's https://HOST/v1/login/oidc/callback";
  else if (!strstr(cfg->oidc_scopes ?: "", "openid"))
    bad = "oidc_scopes must include openid";
  if (bad) {
    ke_logf(KE_LOG_ERROR, "%s", bad);
    return -1;
  }
  if (cfg->oidc_client_secret_file &&
      !(srv_oidc.secret = srv_oidc_read_secret(cfg->oidc_client_secret_file))) {
    ke_logf(KE_LOG_ERROR, "cannot read oidc_client_secret_file");
    return -1;
  }
  srv_oidc.issuer = strdup(cfg->oidc_issuer);
  srv_oidc.client_id = strdup(cfg->oidc_client_id);
  srv_oidc.redirect_uri = strdup(cfg->oidc_redirect_uri);
  srv_oidc.ca_file = cfg->oidc_ca_file ? strdup(cfg->oidc_ca_file) : NULL;
  srv_oidc.scopes = strdup(cfg->oidc_scopes);
  srv_oidc.skew = cfg->oidc_clock_skew;
  srv_oidc.refresh = cfg->oidc_refresh_interval;
  srv_oidc.jwks_min = cfg->oidc_jwks_min_interval;
  if (!srv_oidc.issuer || !srv_oidc.client_id || !srv_oidc.redirect_uri || !srv_oidc.scopes ||
      pthread_create(&srv_oidc.thread, NULL, srv_oidc_thread, NULL) != 0) {
    ke_logf(KE_LOG_ERROR, "cannot start single sign-on");
    return -1;
  }
  srv_oidc.running = 1;
  return 0;
}

void srv_oidc_stop(void)
{
  srv_oidc_map_free();
  if (srv_oidc.running) {
    pthread_mutex_lock(&srv_oidc.mu);
    srv_oidc.stop = 1;
    pthread_cond_signal(&srv_oidc.cv);
    pthread_mutex_unlock(&srv_oidc.mu);
    pthread_join(srv_oidc.thread, NULL);
    srv_oidc.running = 0;
  }
  if (srv_oidc.secret)
    ke_wipe(srv_oidc.secret, strlen(srv_oidc.secret));
  free(srv_oidc.secret);
  free(srv_oidc.issuer);
  free(srv_oidc.client_id);
  free(srv_oidc.redirect_uri);
  free(srv_oidc.ca_file);
  free(srv_oidc.scopes);
  json_decref(srv_oidc.jwks);
  memset(&srv_oidc.ep, 0, sizeof srv_oidc.ep);
  srv_oidc.secret = srv_oidc.issuer = srv_oidc.client_id = NULL;
  srv_oidc.redirect_uri = srv_oidc.ca_file = srv_oidc.scopes = NULL;
  srv_oidc.jwks = NULL;
  srv_oidc.ready = srv_oidc.stop = 0;
}

int srv_oidc_endpoints(struct srv_oidc_endpoints *e)
{
  int ok;
  pthread_mutex_lock(&srv_oidc.mu);
  if ((ok = srv_oidc.ready))
    *e = srv_oidc.ep;
  pthread_mutex_unlock(&srv_oidc.mu);
  return ok ? 0 : -1;
}

enum srv_oidc_result srv_oidc_verify(const char *id_token, const char *nonce, json_t **claims,
                                     const char **why)
{
  struct srv_oidc_expect e = {srv_oidc.issuer, srv_oidc.client_id, nonce,
                              time(NULL),      srv_oidc.skew,      0};
  enum srv_oidc_result r;
  char uri[1024], err[KE_HTTP_ERRLEN + 300];
  json_t *jwks;
  int again;

  for (int round = 0;; round++) {
    pthread_mutex_lock(&srv_oidc.mu);
    jwks = json_incref(srv_oidc.jwks);
    again = round == 0 && time(NULL) - srv_oidc.jwks_read >= (time_t)srv_oidc.jwks_min;
    snprintf(uri, sizeof uri, "%s", srv_oidc.jwks_uri);
    pthread_mutex_unlock(&srv_oidc.mu);
    r = srv_oidc_token_verify(id_token, jwks, &e, claims, why);
    json_decref(jwks);
    /* A key the cached set lacks: the IdP may have rotated; read the set
     * again, at most once per oidc_jwks_min_interval whatever the tokens
     * say. */
    if (r != SRV_OIDC_KID_UNKNOWN || !again)
      return r;
    if (srv_oidc_read_jwks(uri, err, sizeof err) != 0) {
      ke_log(KE_LOG_WARN, "identity provider key set not read", json_pack("{s:s}", "error", err));
      return r;
    }
  }
}

int srv_oidc_source_ok(struct srv_request *req, int device, enum MHD_Result *ret)
{
  static struct srv_source_limit starts = SRV_SOURCE_LIMIT_INIT(60),
                                 devices = SRV_SOURCE_LIMIT_INIT(10);
  unsigned wait;
  char ra[16];

  if (srv_source_limit_take(device ? &devices : &starts, srv_request_remote(req), &wait))
    return 1;
  snprintf(ra, sizeof ra, "%u", wait ? wait : 1);
  srv_reply_header(req, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  *ret = srv_reply_error(req, SRV_ERR_TOO_MANY_ATTEMPTS,
                         "Too many single sign-on starts from this address; retry later");
  return 0;
}

int srv_oidc_hash_param(const char *secret, char hash_param[2 * 32 + 3])
{
  uint8_t h[32];
  unsigned n = 0;

  if (EVP_Digest(secret, strlen(secret), h, &n, EVP_sha256(), NULL) != 1)
    return -1;
  srv_bytea_param(hash_param, h, sizeof h);
  return 0;
}

int srv_oidc_form_add(char **buf, const char *key, const char *value)
{
  char *v = curl_easy_escape(NULL, value, 0), *n;
  size_t old = *buf ? strlen(*buf) : 0, len;

  if (!v)
    return -1;
  len = old + strlen(key) + strlen(v) + 3;
  if (!(n = realloc(*buf, len))) {
    curl_free(v);
    return -1;
  }
  snprintf(n + old, len - old, "%s%s=%s", old ? "&" : "", key, v);
  ke_wipe(v, strlen(v)); /* a code, a verifier */
  curl_free(v);
  *buf = n;
  return 0;
}

int srv_oidc_post(int device, const char *form, long *status, json_t **answer)
{
  struct srv_oidc_endpoints ep;
  char auth[8 * SRV_OIDC_SECRET_MAX + 64] = "", err[KE_HTTP_ERRLEN + 300] = "", *body = NULL;
  const char *headers[4] = {"Content-Type: application/x-www-form-urlencoded",
                            "Accept: application/json", NULL, NULL};
  int rc;

  if (srv_oidc_endpoints(&ep) != 0 || !(device ? ep.device : ep.token)[0])
    return -1;
  if (!(body = strdup(form)))
    return -1;
  if (srv_oidc.secret) {
    /* client_secret_basic (RFC 6749 2.3.1): both parts form-encoded */
    char *id = curl_easy_escape(NULL, srv_oidc.client_id, 0);
    char *sec = curl_easy_escape(NULL, srv_oidc.secret, 0);
    char pair[3 * SRV_OIDC_SECRET_MAX * 2 + 2];
    unsigned char b64[sizeof pair * 4 / 3 + 4];
    int n = 0;
    size_t il = id ? strlen(id) : 0, sl = sec ? strlen(sec) : 0;
    if (id && sec && il + sl + 2 <= sizeof pair) {
      memcpy(pair, id, il);
      pair[il] = ':';
      memcpy(pair + il + 1, sec, sl);
      n = EVP_EncodeBlock(b64, (const unsigned char *)pair, (int)(il + 1 + sl));
      ke_wipe(pair, sizeof pair);
    }
    if (n > 0 && (size_t)n + 40 < sizeof auth)
      snprintf(auth, sizeof auth, "Authorization: Basic %s", (const char *)b64);
    headers[2] = auth;
    if (!auth[0]) { /* never a request without the client's credentials */
      curl_free(id);
      if (sec)
        ke_wipe(sec, strlen(sec));
      curl_free(sec);
      free(body);
      return -1;
    }
    if (sec)
      ke_wipe(sec, strlen(sec));
    curl_free(id);
    curl_free(sec);
    ke_wipe(b64, sizeof b64);
  } else if (srv_oidc_form_add(&body, "client_id", srv_oidc.client_id) != 0) {
    free(body);
    return -1;
  }
  rc = srv_oidc_call(device ? ep.device : ep.token, body, headers, status, answer, err, sizeof err);
  if (rc != 0)
    ke_log(
      KE_LOG_WARN, "identity provider call failed",
      json_pack("{s:s,s:s}", "endpoint", device ? "device_authorization" : "token", "error", err));
  ke_wipe(auth, sizeof auth);
  ke_wipe(body, strlen(body));
  free(body);
  return rc;
}
