/*
 * bench-escrow: escrow uploads per second against a real escrowd.
 *
 *   bench-escrow -u URL -k ENROLL_TOKEN -m MANIFEST -c AGENTS -t SECONDS [-w WARMUP]
 *                [-o ANSWERS] [-i N]
 *
 * Enrols AGENTS devices (each with its own Ed25519 key, POST /v1/enroll),
 * then runs one thread per device that uploads escrow records as fast as
 * the server answers: PUT /v1/devices/{id}/keys/{volume}, a signed request
 * (docs/agent-protocol.md section 2) carrying an envelope, a verifier and
 * the device's signature over envelope || device || 0x00 || volume.  Only
 * 201 answers count.  Prints one line:
 *
 *   agents N seconds S uploads U rate R errors E p50_ms X p99_ms Y
 *
 * Each thread seals ONE envelope (to its device and a fixed volume) and
 * uploads it under a new volume id each time, with a fresh device
 * signature and request signature: the server's work is exactly that of a
 * first escrow of a new volume (it cannot check the AAD, which only the
 * custodians' opening does), while the load generator, which shares the
 * machine with the server and PostgreSQL, spends two Ed25519 signatures per
 * upload instead of an ECDH as well.
 *
 * -o writes one line per answer of the whole run (warm-up and the last
 * requests included), for correctness checks rather than timing
 * (tests/server/t_escrow_load.sh):
 *
 *   201 RECORD_ID LEAF_INDEX        an acknowledged upload
 *   STATUS ERROR_CODE               anything else ("-" if the body had none)
 *
 * Each line is written as the answer arrives, so that a script can wait on
 * the file during the run (bench/chaos/run.sh).  STATUS 0 is a transport
 * failure (escrowd gone); after it, and after a 5xx, the agent waits 10 ms
 * before its next request, as a real agent backs off, rather than spin on
 * a dead port and starve the restart of the machine's cores.
 *
 * -i N makes every N-th request of an agent a check-in (POST
 * /v1/devices/{id}/checkin, reporting its last upload) instead of an
 * upload: not counted in the rate, written as "STATUS -" when it succeeds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "ke_crypto.h"
#include "ke_files.h"
#include "ke_util.h"

#define LAT_MAX 20000 /* latencies kept per agent */

struct agent {
  pthread_t th;
  int idx;
  EVP_PKEY *key;
  char device[64];
  char last_vol[64], last_rec[64]; /* the last acknowledged upload, for -i */
  uint8_t *env;
  size_t envlen;
  char *env64, *ver64;
  long ok, errors;
  double *lat; /* seconds, measured window only */
  long nlat;
};

static const char *g_url;
static FILE *g_answers;      /* -o */
static long g_checkin_every; /* -i */
static pthread_mutex_t g_answers_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int g_stop, g_measure;
static ke_manifest g_manifest;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
  fprintf(stderr, "bench-escrow: %s\n", msg);
  exit(1);
}

static char *b64(const uint8_t *p, size_t n)
{
  char *s = ke_b64url_encode(p, n);
  if (!s)
    die("out of memory");
  return s;
}

static void sign(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  size_t sl = 64;
  if (!c || EVP_DigestSignInit(c, NULL, NULL, NULL, k) != 1 ||
      EVP_DigestSign(c, sig, &sl, msg, len) != 1 || sl != 64)
    die("Ed25519 signing failed");
  EVP_MD_CTX_free(c);
}

struct buf {
  char *p;
  size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *cls)
{
  struct buf *b = cls;
  size_t n = sz * nm;
  char *q = realloc(b->p, b->n + n + 1);
  if (!q)
    return 0;
  memcpy(q + b->n, d, n);
  b->p = q;
  b->n += n;
  b->p[b->n] = '\0';
  return n;
}

/* One signed request; returns the HTTP status (0 on transport failure). */
static long signed_call(CURL *c, EVP_PKEY *k, const char *device, const char *method,
                        const char *path, const char *body, struct buf *ans)
{
  char url[512], hdr[4][200], hex[65], msg[1024], ts[24], *nonce64, *sig64;
  uint8_t h[32], nonce[16], sig[64];
  unsigned hl;
  long status = 0;
  struct curl_slist *hl_list = NULL;
  int n;

  EVP_Digest(body, strlen(body), h, &hl, EVP_sha256(), NULL);
  ke_hex_encode(hex, h, 32);
  if (ke_random(nonce, sizeof nonce) != KE_OK)
    die("no randomness");
  nonce64 = b64(nonce, sizeof nonce);
  snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
  n = snprintf(msg, sizeof msg, "keyescrow-v1-request\n%s\n%s\n%s\n%s\n%s\n", method, path, ts,
               nonce64, hex);
  if (n < 0 || (size_t)n >= sizeof msg)
    die("request too long");
  sign(k, (uint8_t *)msg, (size_t)n, sig);
  sig64 = b64(sig, sizeof sig);
  snprintf(hdr[0], sizeof hdr[0], "X-KE-Device: %s", device);
  snprintf(hdr[1], sizeof hdr[1], "X-KE-Timestamp: %s", ts);
  snprintf(hdr[2], sizeof hdr[2], "X-KE-Nonce: %s", nonce64);
  snprintf(hdr[3], sizeof hdr[3], "X-KE-Signature: %s", sig64);
  for (int i = 0; i < 4; i++)
    hl_list = curl_slist_append(hl_list, hdr[i]);
  hl_list = curl_slist_append(hl_list, "Content-Type: application/json");
  hl_list = curl_slist_append(hl_list, "Expect:");
  snprintf(url, sizeof url, "%s%s", g_url, path);
  ans->n = 0;
  if (ans->p)
    ans->p[0] = '\0'; /* an empty answer leaves no earlier body behind */
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl_list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, ans);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hl_list);
  free(nonce64);
  free(sig64);
  return status;
}

/* The text of string member `name` of a JSON answer, into out ("-" if
 * absent): enough for escrowd's flat answers. */
static void member(const char *json, const char *name, char *out, size_t outlen)
{
  char pat[64];
  const char *p;
  size_t n;

  snprintf(pat, sizeof pat, "\"%s\":", name);
  snprintf(out, outlen, "-");
  if (!json || !(p = strstr(json, pat)))
    return;
  p += strlen(pat);
  p += *p == '"';
  n = strcspn(p, "\",}");
  if (n > 0 && n < outlen)
    snprintf(out, outlen, "%.*s", (int)n, p);
}

/* Every answer: write its -o line, then back off after a failure. */
static void on_answer(long status, const char *body, int upload)
{
  char id[64], leaf[32], code[64];

  if (g_answers) {
    member(body, "record_id", id, sizeof id);
    member(body, "leaf_index", leaf, sizeof leaf);
    member(body, "code", code, sizeof code);
    pthread_mutex_lock(&g_answers_lock);
    if (upload && status == 201)
      fprintf(g_answers, "201 %s %s\n", id, leaf);
    else if (!upload && status == 200)
      fprintf(g_answers, "200 -\n");
    else
      fprintf(g_answers, "%ld %s\n", status, code);
    pthread_mutex_unlock(&g_answers_lock);
  }
  if (status == 0 || status >= 500) {
    struct timespec backoff = {0, 10 * 1000 * 1000};
    nanosleep(&backoff, NULL);
  }
}

static void enroll(struct agent *a, CURL *c, const char *token)
{
  uint8_t pub[32];
  size_t pl = sizeof pub;
  char body[512], *pub64, *p;
  struct buf ans = {NULL, 0};
  long st;

  a->key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  if (!a->key || EVP_PKEY_get_raw_public_key(a->key, pub, &pl) != 1)
    die("Ed25519 key generation failed");
  pub64 = b64(pub, sizeof pub);
  snprintf(body, sizeof body,
           "{\"token\":\"%s\",\"device_key\":\"%s\",\"hostname\":\"bench-%d\","
           "\"serial\":\"B%06d\",\"os\":\"bench\",\"hardware\":{}}",
           token, pub64, a->idx, a->idx);
  st = signed_call(c, a->key, "new", "POST", "/v1/enroll", body, &ans);
  if (st != 201 || !ans.p || !(p = strstr(ans.p, "\"device_id\":\"")) ||
      sscanf(p + 13, "%30[a-z0-9-]", a->device) != 1) {
    fprintf(stderr, "bench-escrow: enrolment failed (HTTP %ld): %.300s\n", st, ans.p ? ans.p : "");
    exit(1);
  }
  free(ans.p);
  free(pub64);
}

/* Check in, reporting the last acknowledged upload with its verifier. */
static void checkin(struct agent *a, CURL *c, struct buf *ans)
{
  char body[512], path[160];
  long st;

  snprintf(body, sizeof body,
           "{\"agent_version\":\"bench\",\"escrow_key\":\"pinned\",\"volumes\":[{"
           "\"volume_id\":\"%s\",\"record_id\":\"%s\",\"unlock_check\":\"ok\","
           "\"verifier\":\"%s\"}]}",
           a->last_vol, a->last_rec, a->ver64);
  snprintf(path, sizeof path, "/v1/devices/%s/checkin", a->device);
  st = signed_call(c, a->key, a->device, "POST", path, body, ans);
  on_answer(st, st ? ans->p : NULL, 0);
}

static void *run(void *arg)
{
  struct agent *a = arg;
  CURL *c = curl_easy_init();
  struct buf ans = {NULL, 0};
  size_t dl = strlen(a->device), cap = a->envlen + dl + 1 + 64;
  uint8_t *m = malloc(cap), sig[64];
  size_t bcap = strlen(a->env64) + 512;
  char *body = malloc(bcap), path[160], vol[64];
  long n = 0;

  if (!c || !m || !body)
    die("out of memory");
  while (!atomic_load(&g_stop)) {
    size_t vl;
    char *sig64;
    double t0;
    long st;

    if (g_checkin_every && n % g_checkin_every == g_checkin_every - 1 && a->last_rec[0]) {
      n++;
      checkin(a, c, &ans);
      continue;
    }
    vl = (size_t)snprintf(vol, sizeof vol, "v%d-%ld-%ld", a->idx, (long)time(NULL), n++);
    memcpy(m, a->env, a->envlen);
    memcpy(m + a->envlen, a->device, dl);
    m[a->envlen + dl] = 0;
    memcpy(m + a->envlen + dl + 1, vol, vl);
    sign(a->key, m, a->envlen + dl + 1 + vl, sig);
    sig64 = b64(sig, sizeof sig);
    snprintf(body, bcap,
             "{\"envelope\":\"%s\",\"verifier\":\"%s\",\"signature\":\"%s\","
             "\"key_type\":\"luks\",\"key_id\":\"luks:bench:%s\"}",
             a->env64, a->ver64, sig64, vol);
    free(sig64);
    snprintf(path, sizeof path, "/v1/devices/%s/keys/%s", a->device, vol);
    t0 = now_s();
    st = signed_call(c, a->key, a->device, "PUT", path, body, &ans);
    on_answer(st, st ? ans.p : NULL, 1);
    if (st == 201) {
      member(ans.p, "record_id", a->last_rec, sizeof a->last_rec);
      snprintf(a->last_vol, sizeof a->last_vol, "%s", vol);
    }
    if (!atomic_load(&g_measure) || atomic_load(&g_stop))
      continue;
    if (st == 201) {
      a->ok++;
      if (a->nlat < LAT_MAX)
        a->lat[a->nlat++] = now_s() - t0;
    } else {
      if (a->errors++ < 3)
        fprintf(stderr, "bench-escrow: HTTP %ld: %.200s\n", st, ans.p ? ans.p : "");
    }
  }
  free(ans.p);
  free(m);
  free(body);
  curl_easy_cleanup(c);
  return NULL;
}

static int cmp_d(const void *x, const void *y)
{
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

static char *read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *p = malloc(KE_FILE_MAX + 1);
  if (!f || !p)
    die("cannot read the manifest");
  *len = fread(p, 1, KE_FILE_MAX, f);
  p[*len] = '\0';
  fclose(f);
  return p;
}

int main(int argc, char **argv)
{
  const char *token = NULL, *mpath = NULL, *opath = NULL;
  int agents = 1, secs = 5, warm = 1, opt;
  struct agent *ag;
  ke_ferr ferr;
  size_t mlen;
  char *mtext;
  long ok = 0, err = 0, nlat = 0;
  double *lat;

  while ((opt = getopt(argc, argv, "u:k:m:c:t:w:o:i:")) != -1) {
    switch (opt) {
      case 'u': g_url = optarg; break;
      case 'k': token = optarg; break;
      case 'm': mpath = optarg; break;
      case 'c': agents = atoi(optarg); break;
      case 't': secs = atoi(optarg); break;
      case 'w': warm = atoi(optarg); break;
      case 'o': opath = optarg; break;
      case 'i': g_checkin_every = atol(optarg); break;
      default: goto usage;
    }
  }
  if (!g_url || !token || !mpath || agents < 1 || agents > 1024 || secs < 1 || warm < 0 ||
      g_checkin_every < 0)
    goto usage;
  if (opath && !(g_answers = fopen(opath, "w")))
    die("cannot write the answers file");
  if (g_answers)
    setvbuf(g_answers, NULL, _IOLBF, 0);
  mtext = read_file(mpath, &mlen);
  if (ke_manifest_parse(&g_manifest, mtext, mlen, &ferr) != KE_OK)
    die(ferr.msg);
  free(mtext);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ag = calloc((size_t)agents, sizeof *ag);
  if (!ag)
    die("out of memory");
  for (int i = 0; i < agents; i++) {
    CURL *c = curl_easy_init();
    uint8_t secret[32], ver[32];
    struct agent *a = &ag[i];

    a->idx = i;
    enroll(a, c, token);
    curl_easy_cleanup(c);
    if (ke_random(secret, sizeof secret) != KE_OK ||
        ke_envelope_seal(&a->env, &a->envlen, g_manifest.pub.fingerprint,
                         &g_manifest.pub.commitments[0], a->device, "bench", secret,
                         sizeof secret) != KE_OK ||
        ke_verifier(ver, secret, sizeof secret, a->device, "bench") != KE_OK)
      die("sealing failed");
    ke_wipe(secret, sizeof secret);
    a->env64 = b64(a->env, a->envlen);
    a->ver64 = b64(ver, sizeof ver);
    if (!(a->lat = malloc(LAT_MAX * sizeof *a->lat)))
      die("out of memory");
  }
  for (int i = 0; i < agents; i++)
    if (pthread_create(&ag[i].th, NULL, run, &ag[i]) != 0)
      die("cannot start a thread");
  sleep((unsigned)warm);
  atomic_store(&g_measure, 1);
  {
    double t0 = now_s(), t1;
    sleep((unsigned)secs);
    atomic_store(&g_stop, 1);
    t1 = now_s();
    for (int i = 0; i < agents; i++)
      pthread_join(ag[i].th, NULL);
    lat = malloc(sizeof *lat * (size_t)agents * LAT_MAX);
    if (!lat)
      die("out of memory");
    for (int i = 0; i < agents; i++) {
      ok += ag[i].ok;
      err += ag[i].errors;
      memcpy(lat + nlat, ag[i].lat, (size_t)ag[i].nlat * sizeof *lat);
      nlat += ag[i].nlat;
    }
    qsort(lat, (size_t)nlat, sizeof *lat, cmp_d);
    printf("agents %d seconds %.2f uploads %ld rate %.1f errors %ld p50_ms %.2f p99_ms %.2f\n",
           agents, t1 - t0, ok, (double)ok / (t1 - t0), err, nlat ? lat[nlat / 2] * 1e3 : 0.0,
           nlat ? lat[(nlat * 99) / 100] * 1e3 : 0.0);
  }
  for (int i = 0; i < agents; i++) {
    EVP_PKEY_free(ag[i].key);
    free(ag[i].env);
    free(ag[i].env64);
    free(ag[i].ver64);
    free(ag[i].lat);
  }
  free(ag);
  free(lat);
  if (g_answers && fclose(g_answers) != 0)
    die("cannot write the answers file");
  curl_global_cleanup();
  return err > 0 && ok == 0 ? 1 : 0;
usage:
  fprintf(stderr, "usage: bench-escrow -u URL -k ENROLL_TOKEN -m MANIFEST -c AGENTS -t SECONDS "
                  "[-w WARMUP] [-o ANSWERS] [-i N]\n");
  return 2;
}
