/*
 * srv_webhook.c - the webhook outbox and its delivery worker.
 *
 * Delivery is at least once: a row is leased (WH_CLAIM pushes its
 * next_attempt a minute ahead) before the POST and marked after it, so a
 * crash between the two delivers it again.  Receivers deduplicate by
 * X-KE-Delivery.
 */
#include "srv_webhook.h"

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_chat.h"
#include "ke_files.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_outbox.h"
#include "srv_rows.h"

#define SRV_WH_MAX_URLS 8
#define SRV_WH_URL_MAX 500
#define SRV_WH_SECRET_MAX 256
#define SRV_WH_BATCH "16"
#define SRV_WH_TIMEOUT_S 5L

static struct {
  char urls[SRV_WH_MAX_URLS][SRV_WH_URL_MAX + 1];
  ke_chat_format formats[SRV_WH_MAX_URLS]; /* "slack:" / "teams:" prefixes */
  unsigned nurls, nchat;
  uint8_t secret[SRV_WH_SECRET_MAX];
  size_t secret_len;
} wh;

static void srv_wh_tick(void);
static struct srv_outbox wh_outbox = {"webhook delivery",
                                      SRV_STMT_WH_DONE,
                                      SRV_STMT_WH_RETRY,
                                      srv_wh_tick,
                                      .mu = PTHREAD_MUTEX_INITIALIZER,
                                      .cv = PTHREAD_COND_INITIALIZER};

int srv_webhook_wants_chat(void) { return wh.nchat > 0; }

/* The body for URL i: the native JSON, or the chat message of `chat`. */
static char *srv_wh_body(unsigned i, const char *native, const struct srv_webhook_chat *chat)
{
  json_t *m;
  char *body;

  if (wh.formats[i] == KE_CHAT_NATIVE)
    return strdup(native);
  if (!chat || !(m = ke_chat_payload(wh.formats[i], chat->title, chat->facts, chat->nfacts)))
    return NULL;
  body = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(m);
  return body;
}

enum srv_db_status srv_webhook_enqueue(struct srv_db *db, const char *event, const json_t *payload,
                                       const struct srv_webhook_chat *chat)
{
  json_t *p;
  char *native, now[KE_TIME_LEN + 1];
  enum srv_db_status st = SRV_DB_OK;

  if (wh.nurls == 0)
    return SRV_DB_OK;
  if (ke_time_rfc3339(now, time(NULL)) != KE_OK || !(p = json_deep_copy(payload)))
    return SRV_DB_ERROR;
  if (json_object_set_new(p, "event", json_string(event)) ||
      json_object_set_new(p, "time", json_string(now)) ||
      !(native = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS))) {
    json_decref(p);
    return SRV_DB_ERROR;
  }
  json_decref(p);
  for (unsigned i = 0; i < wh.nurls && st == SRV_DB_OK; i++) {
    char *body = srv_wh_body(i, native, chat);
    const char *params[3] = {wh.urls[i], event, body};
    if (!body) {
      st = SRV_DB_ERROR;
      break;
    }
    PQclear(srv_db_exec(db, SRV_STMT_WH_ENQUEUE, params, &st));
    free(body);
  }
  free(native);
  return st;
}

/* ---- the worker ---------------------------------------------------------- */

/* A claimed delivery: its text stays in the batch's result until the next claim. */
struct srv_wh_item {
  const char *id, *url, *event, *payload;
  int64_t attempts;
};
static const struct srv_col srv_wh_cols[] = {
  SRV_COL_TEXT(struct srv_wh_item, id),        SRV_COL_TEXT(struct srv_wh_item, url),
  SRV_COL_TEXT(struct srv_wh_item, event),     SRV_COL_TEXT(struct srv_wh_item, payload),
  SRV_COL_INT64(struct srv_wh_item, attempts), SRV_COL_END};

struct srv_wh_batch {
  PGresult *res;
  struct srv_wh_item items[16];
  int n;
};

static enum srv_db_status srv_wh_claim_txn(struct srv_db *db, void *cls)
{
  struct srv_wh_batch *b = cls;
  const char *p[1] = {SRV_WH_BATCH};
  enum srv_db_status st;

  PQclear(b->res);
  b->n = 0;
  if (!(b->res = srv_db_exec(db, SRV_STMT_WH_CLAIM, p, &st)))
    return st;
  /* A row that cannot be read (logged) is passed over, as in srv_mail.c. */
  for (int i = 0; i < PQntuples(b->res) && b->n < 16; i++)
    if (srv_row_read(b->res, i, srv_wh_cols, &b->items[b->n]) == 0)
      b->n++;
  return SRV_DB_OK;
}

static size_t srv_wh_discard(char *ptr, size_t size, size_t n, void *ud)
{
  (void)ptr;
  (void)ud;
  return size * n;
}

/* POST one delivery; 1 on a 2xx answer, else 0 with err set. */
static int srv_wh_post(const struct srv_wh_item *it, char *err, size_t errlen)
{
  char sig[KE_CHAT_SIG_HEADER_LEN + 1], hdr_ev[100], hdr_id[64];
  CURL *c;
  struct curl_slist *h = NULL;
  long code = 0;
  CURLcode cc;

  if (ke_chat_sign(sig, wh.secret, wh.secret_len, it->payload) != 0) {
    snprintf(err, errlen, "HMAC failed");
    return 0;
  }
  snprintf(hdr_ev, sizeof hdr_ev, "X-KE-Event: %s", it->event);
  snprintf(hdr_id, sizeof hdr_id, "X-KE-Delivery: %s", it->id);
  if (!(c = curl_easy_init())) {
    snprintf(err, errlen, "curl_easy_init failed");
    return 0;
  }
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, sig);
  h = curl_slist_append(h, hdr_ev);
  h = curl_slist_append(h, hdr_id);
  curl_easy_setopt(c, CURLOPT_URL, it->url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, it->payload);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, SRV_WH_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, SRV_WH_TIMEOUT_S);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, srv_wh_discard);
  cc = curl_easy_perform(c);
  if (cc == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "%s", curl_easy_strerror(cc));
    return 0;
  }
  if (code < 200 || code > 299) {
    snprintf(err, errlen, "HTTP status %ld", code);
    return 0;
  }
  return 1;
}

/* The worker's second: lease what is due, POST it, record the outcome. */
static void srv_wh_tick(void)
{
  static struct srv_wh_batch b; /* the one worker thread's */

  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_wh_claim_txn, &b) != SRV_DB_OK)
    return;
  for (int i = 0; i < b.n; i++) {
    char err[300] = "";
    int ok = srv_wh_post(&b.items[i], err, sizeof err);
    srv_outbox_record(&wh_outbox, b.items[i].id, b.items[i].event, (int)b.items[i].attempts, ok,
                      err);
  }
}

static int srv_wh_url_ok(const char *u, size_t n)
{
  if (n == 0 || n > SRV_WH_URL_MAX)
    return 0;
  if (!((n > 7 && strncmp(u, "http://", 7) == 0) || (n > 8 && strncmp(u, "https://", 8) == 0)))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (u[i] <= ' ' || u[i] > '~')
      return 0;
  return 1;
}

int srv_webhook_init(const struct srv_config *cfg)
{
  const char *s = cfg->webhook_urls;
  FILE *f;
  size_t n;

  wh.nurls = wh.nchat = 0;
  if (!s || !*s)
    return 0;
  while (*s) {
    size_t len = strcspn(s, ",");
    const char *u;
    ke_chat_format fmt = len > 6 ? ke_chat_url_format(s, &u) : KE_CHAT_NATIVE;
    if (fmt != KE_CHAT_NATIVE) {
      s = u;
      len -= 6;
      wh.nchat++;
    }
    if (wh.nurls >= SRV_WH_MAX_URLS || !srv_wh_url_ok(s, len)) {
      ke_log(KE_LOG_ERROR,
             "webhook_urls: up to 8 http(s) URLs, comma-separated, each "
             "optionally prefixed slack: or teams:",
             NULL);
      return -1;
    }
    wh.formats[wh.nurls] = fmt;
    memcpy(wh.urls[wh.nurls], s, len);
    wh.urls[wh.nurls++][len] = '\0';
    s += len;
    if (*s == ',')
      s++;
  }
  if (!cfg->webhook_secret_file || !(f = fopen(cfg->webhook_secret_file, "rb"))) {
    ke_log(KE_LOG_ERROR, "webhook_urls needs a readable webhook_secret_file", NULL);
    return -1;
  }
  n = fread(wh.secret, 1, sizeof wh.secret, f);
  fclose(f);
  while (n && (wh.secret[n - 1] == '\n' || wh.secret[n - 1] == '\r'))
    n--;
  if (n < 16) {
    ke_log(KE_LOG_ERROR, "webhook_secret_file: at least 16 bytes of secret", NULL);
    return -1;
  }
  wh.secret_len = n;
  if (srv_outbox_start(&wh_outbox) != 0)
    return -1;
  ke_log(KE_LOG_INFO, "webhooks on", json_pack("{s:i}", "urls", (int)wh.nurls));
  return 0;
}

void srv_webhook_shutdown(void)
{
  if (!wh_outbox.running)
    return;
  srv_outbox_stop(&wh_outbox);
  ke_wipe(wh.secret, sizeof wh.secret);
}
