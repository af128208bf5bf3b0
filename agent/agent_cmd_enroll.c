/*
 * escrow-agent enroll - register the device (agent-protocol section 3);
 * escrow-agent pin - pin another escrow key fingerprint (section 5).
 *
 * Enrolment pins two keys for the device's lifetime: the escrow key
 * (fingerprint given by the operator, checked against the manifest the
 * server sends) and the audit log key (given by the operator with --log-key,
 * checked against the one the server announces; trusted on first use only
 * with an explicit --log-key-tofu).  The server can never make the agent
 * seal to a key whose fingerprint an operator did not pin on the device,
 * and an interceptor at enrolment cannot substitute a log key of its own
 * (it would forge every later receipt).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent_cmd.h"
#include "agent_http.h"
#include "agent_state.h"
#include "ke_http.h"
#include "ke_json.h"
#include "ke_util.h"

const char agent_usage_enroll[] =
  "usage: escrow-agent enroll --server URL (--token T | --token-file F)\n"
  "                           --escrow-fingerprint HEX\n"
  "                           (--log-key VKEY | --log-key-tofu)\n"
  "                           [--cacert PEM] [--pin-sha256 B64[;B64...]]\n"
  "                           [--hostname NAME] [--serial S]\n"
  "\n"
  "Generates the device's Ed25519 key, registers it with the server using an\n"
  "enrolment token (ket_...), and pins the escrow key fingerprint and the audit\n"
  "log key.  The enrolment is refused if the server's escrow key manifest does\n"
  "not have exactly the given fingerprint, or its audit log key is not the given\n"
  "one.  --cacert pins the CA of an https:// server (copied into the state dir):\n"
  "that CA alone is trusted; without it the system store is used.\n"
  "\n"
  "  --server URL              https://escrow.example.org\n"
  "  --token T, --token-file F the enrolment token (a file keeps it out of ps)\n"
  "  --escrow-fingerprint HEX  the escrow key fingerprint from the key ceremony\n"
  "  --log-key VKEY            the audit log's verifier key (name+id+key, as\n"
  "                            `escrowctl audit verify --log-key` takes it)\n"
  "  --log-key-tofu            instead: trust the log key the server sends (warns)\n"
  "  --cacert PEM              CA certificate(s) of the server\n"
  "  --pin-sha256 B64          SHA-256 (base64) of the server's public key; several\n"
  "                            separated by ';'; kept for every later command\n"
  "  --hostname NAME, --serial S  override what the device reports\n";

const char agent_usage_pin[] =
  "usage: escrow-agent pin [--escrow-fingerprint HEX]\n"
  "\n"
  "Pins another escrow key fingerprint, so that the agent re-escrows under that\n"
  "key when the server announces it (after a new key ceremony).  Without\n"
  "--escrow-fingerprint, lists the pinned fingerprints (* = the one in use).\n";

#define FACT_MAX 255

typedef struct enroll_opts {
  const char *server, *token, *token_file, *cacert, *hostname, *serial;
  uint8_t fpr[KE_FPR_LEN];
  int have_fpr;
  ke_note_verifier logkey; /* --log-key */
  int have_logkey, logkey_tofu;
  char *pin; /* --pin-sha256, libcurl's form (malloc'd) */
} enroll_opts;

enum {
  O_SERVER = 256,
  O_TOKEN,
  O_TOKEN_FILE,
  O_FPR,
  O_CACERT,
  O_HOSTNAME,
  O_SERIAL,
  O_LOGKEY,
  O_LOGKEY_TOFU,
  O_PIN,
};

static int parse_logkey(enroll_opts *o, const char *arg)
{
  if (ke_note_vkey_parse(&o->logkey, arg) != KE_OK) {
    agent_err("--log-key must be the audit log's verifier key (name+hexid+base64, from "
              "GET /v1/audit/key or the operator's pinned copy)");
    return AGENT_USAGE;
  }
  o->have_logkey = 1;
  return AGENT_OK;
}

static int parse_pin(enroll_opts *o, const char *arg)
{
  free(o->pin);
  o->pin = NULL;
  if (ke_http_pin_parse(arg, &o->pin) != KE_OK) {
    agent_err("--pin-sha256 must be the base64 SHA-256 of the server's public key "
              "(SubjectPublicKeyInfo), optionally as sha256//B64, several separated by ';'");
    return AGENT_USAGE;
  }
  return AGENT_OK;
}

static int on_opt(void *ctx, int opt, const char *arg)
{
  enroll_opts *o = ctx;
  switch (opt) {
    case O_SERVER: o->server = arg; return AGENT_OK;
    case O_TOKEN: o->token = arg; return AGENT_OK;
    case O_TOKEN_FILE: o->token_file = arg; return AGENT_OK;
    case O_FPR: o->have_fpr = 1; return agent_parse_fpr(o->fpr, arg);
    case O_CACERT: o->cacert = arg; return AGENT_OK;
    case O_HOSTNAME: o->hostname = arg; return AGENT_OK;
    case O_SERIAL: o->serial = arg; return AGENT_OK;
    case O_LOGKEY: return parse_logkey(o, arg);
    case O_LOGKEY_TOFU: o->logkey_tofu = 1; return AGENT_OK;
    case O_PIN: return parse_pin(o, arg);
  }
  return AGENT_USAGE;
}

/* "ket_" + 43 base64url characters (256 bits). */
static int token_valid(const char *t)
{
  if (strlen(t) != 47 || strncmp(t, "ket_", 4) != 0)
    return 0;
  for (const char *p = t + 4; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '_'))
      return 0;
  return 1;
}

/* One line of a small system file, printable ASCII only, or "". */
static void read_fact(char out[FACT_MAX + 1], const char *path)
{
  FILE *f = fopen(path, "re");
  size_t n = 0;

  out[0] = '\0';
  if (!f)
    return;
  if (fgets(out, FACT_MAX + 1, f))
    n = strcspn(out, "\r\n");
  fclose(f);
  out[n] = '\0';
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
      out[i] = '?';
  while (n && out[n - 1] == ' ')
    out[--n] = '\0';
}

static void os_name(char out[FACT_MAX + 1])
{
  FILE *f = fopen("/etc/os-release", "re");
  char line[512];
  struct utsname u;

  out[0] = '\0';
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
      char *v = line + 12;
      size_t n = strcspn(v, "\r\n");
      v[n] = '\0';
      if (*v == '"' && n >= 2 && v[n - 1] == '"') {
        v[n - 1] = '\0';
        v++;
      }
      snprintf(out, FACT_MAX + 1, "%.255s", v);
    }
  }
  if (f)
    fclose(f);
  if (!out[0] && uname(&u) == 0)
    snprintf(out, FACT_MAX + 1, "%s %s", u.sysname, u.release);
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
      *p = '?';
}

static json_t *facts(const enroll_opts *o)
{
  char host[FACT_MAX + 1], serial[FACT_MAX + 1], os[FACT_MAX + 1], model[FACT_MAX + 1],
    vendor[FACT_MAX + 1];

  if (o->hostname)
    snprintf(host, sizeof host, "%s", o->hostname);
  else if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "unknown");
  host[FACT_MAX] = '\0';
  if (o->serial)
    snprintf(serial, sizeof serial, "%s", o->serial);
  else
    read_fact(serial, "/sys/class/dmi/id/product_serial");
  os_name(os);
  /* The server's limits (docs/agent-protocol.md: serial and os up to 128
   * bytes); the longest values are never the useful part. */
  serial[128] = os[128] = '\0';
  read_fact(model, "/sys/class/dmi/id/product_name");
  read_fact(vendor, "/sys/class/dmi/id/sys_vendor");
  return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "hostname", host, "serial", serial, "os", os,
                   "hardware", "model", model, "vendor", vendor);
}

static int read_token(const enroll_opts *o, char tok[64])
{
  ke_buf b;
  int rc;

  if (o->token) {
    snprintf(tok, 64, "%s", o->token);
  } else {
    if ((rc = agent_read_file(&b, o->token_file, 1024, 1, "token file")))
      return rc;
    b.len = strcspn(b.p, "\r\n");
    snprintf(tok, 64, "%.*s", (int)(b.len < 63 ? b.len : 63), b.p);
    ke_buf_free(&b);
  }
  if (!token_valid(tok)) {
    ke_wipe(tok, 64);
    agent_err("the enrolment token is not of the form ket_ + 43 base64url characters");
    return AGENT_USAGE;
  }
  return AGENT_OK;
}

static int copy_cacert(const agent_ctx *c, const char *src, char *dst, size_t dstlen)
{
  ke_buf b;
  int rc;

  if ((rc = agent_read_file(&b, src, 1024 * 1024, 0, "CA certificate")))
    return rc;
  if (!strstr(b.p, "-----BEGIN CERTIFICATE-----")) {
    agent_err("%s holds no PEM certificate", src);
    ke_buf_free(&b);
    return AGENT_USAGE;
  }
  rc = agent_path(dst, dstlen, c->dir, "ca.pem");
  if (!rc)
    rc = agent_write_atomic(dst, b.p, b.len, 0600);
  ke_buf_free(&b);
  return rc;
}

/* Check the enrolment answer and build the state from it. */
static int accept_answer(agent_ctx *c, const enroll_opts *o, const json_t *ans, const char *host)
{
  const char *dev = json_string_value(json_object_get(ans, "device_id"));
  const char *fpr = json_string_value(json_object_get(ans, "escrow_fingerprint"));
  const char *vkey = json_string_value(json_object_get(ans, "log_key"));
  const char *origin = json_string_value(json_object_get(ans, "log_origin"));
  json_t *man = json_object_get(ans, "escrow_key"), *iv = json_object_get(ans, "checkin_interval");
  json_int_t interval = json_is_integer(iv) ? json_integer_value(iv) : 86400;
  char want[2 * KE_FPR_LEN + 1], got[2 * KE_FPR_LEN + 1], now[KE_TIME_LEN + 1];
  ke_manifest *m = calloc(1, sizeof *m);
  char *text = NULL;
  ke_ferr err;
  int rc = AGENT_BADANSWER;

  ke_hex_encode(want, o->fpr, KE_FPR_LEN);
  if (!m)
    return agent_oom();
  if (!agent_device_id_valid(dev)) {
    agent_err("the server's answer has no valid device_id");
    goto out;
  }
  if (!json_is_object(man) || !(text = json_dumps(man, JSON_COMPACT)) ||
      ke_manifest_parse(m, text, strlen(text), &err) != KE_OK) {
    agent_err("the server's escrow key manifest does not parse%s%s", text ? ": " : "",
              text ? err.msg : "");
    goto out;
  }
  ke_hex_encode(got, m->pub.fingerprint, KE_FPR_LEN);
  if (strcmp(got, want) != 0 || !fpr || strcmp(fpr, want) != 0) {
    agent_err("refusing to enrol: the server's escrow key has fingerprint %s, not the pinned "
              "%s",
              strcmp(got, want) ? got : (fpr ? fpr : "(none)"), want);
    goto out;
  }
  if (!vkey || ke_note_vkey_parse(&c->logkey, vkey) != KE_OK) {
    agent_err("the server's answer has no valid audit log key (log_key)");
    goto out;
  }
  if (o->have_logkey &&
      (strcmp(c->logkey.name, o->logkey.name) != 0 || c->logkey.key_id != o->logkey.key_id ||
       CRYPTO_memcmp(c->logkey.pub, o->logkey.pub, sizeof c->logkey.pub) != 0)) {
    agent_err("refusing to enrol: the server's audit log key is %s, not the pinned one "
              "(--log-key)",
              vkey);
    goto out;
  }
  if (!o->have_logkey)
    agent_warn("trusting the audit log key %s on first use (--log-key-tofu): whoever "
               "answered this enrolment could forge every later receipt; compare it with "
               "`escrowctl audit verify` output or GET /v1/audit/key over a trusted channel",
               vkey);
  if (interval < 60 || interval > 30 * 86400) {
    agent_err("the server's checkin_interval is out of range");
    goto out;
  }
  agent_now(now);
  c->st = json_pack("{s:i, s:s, s:s, s:s, s:O, s:[s], s:s, s:s?, s:I, s:s, s:s, s:{}}", "version",
                    AGENT_STATE_VERSION, "server", o->server, "device_id", dev,
                    "escrow_fingerprint", want, "escrow_key", man, "pinned", want, "log_key", vkey,
                    "log_origin", origin, "checkin_interval", (json_int_t)interval, "enrolled", now,
                    "hostname", host, "volumes");
  if (!c->st || (o->cacert && agent_jset_str(c->st, "cacert", "ca.pem")) ||
      (o->pin && agent_jset_str(c->st, "pin_sha256", o->pin))) {
    rc = agent_oom();
    goto out;
  }
  rc = AGENT_OK;
out:
  free(text);
  free(m);
  return rc;
}

/* The required options and the log key choice.  AGENT_OK or AGENT_USAGE. */
static int check_opts(const enroll_opts *o)
{
  if (!o->server)
    return agent_missing_opt("--server");
  if (!o->token == !o->token_file)
    return agent_missing_opt("exactly one of --token and --token-file");
  if (!o->have_fpr)
    return agent_missing_opt("--escrow-fingerprint");
  if (o->have_logkey && o->logkey_tofu) {
    agent_err("--log-key and --log-key-tofu exclude each other");
    return AGENT_USAGE;
  }
  if (!o->have_logkey && !o->logkey_tofu) {
    /* Like the escrow key: the key that signs every receipt is pinned from
     * a trusted channel, not taken from whoever answers. */
    agent_err("refusing to enrol without the audit log key: pass --log-key VKEY (the "
              "verifier key from `escrowctl audit verify`, GET /v1/audit/key over a "
              "trusted channel), or --log-key-tofu to trust the server's on first use");
    return AGENT_USAGE;
  }
  return AGENT_OK;
}

/* Lock the state dir, refuse one already enrolled, and open the server. */
static int open_unenrolled(agent_ctx *c, const agent_common *common, const enroll_opts *o)
{
  char path[PATH_MAX], ca[PATH_MAX];
  int rc;

  if ((rc = agent_ctx_lock(c, common, 1)))
    return rc;
  if ((rc = agent_path(path, sizeof path, c->dir, "state.json")))
    return rc;
  if (access(path, F_OK) == 0) {
    agent_err("this device is already enrolled (%s exists); remove the state directory to "
              "enrol it again",
              path);
    return AGENT_FAIL;
  }
  if (o->cacert && (rc = copy_cacert(c, o->cacert, ca, sizeof ca)))
    return rc;
  if ((rc = agent_http_open(&c->http, o->server, o->cacert ? ca : NULL, &common->retry)))
    return rc;
  return agent_http_set_pin(c->http, o->pin);
}

/* The device key.  A key left by an enrolment that failed after creating
 * it is reused. */
static int device_key(agent_ctx *c)
{
  char path[PATH_MAX];
  ke_rc k;
  int rc;

  if ((rc = agent_path(path, sizeof path, c->dir, "device.key")))
    return rc;
  k = agent_key_load(&c->key, path);
  if (k == KE_ERR_IO && errno == ENOENT) {
    if ((k = agent_key_generate(&c->key)) == KE_OK)
      k = agent_key_save(c->key, path);
  }
  if (k) {
    agent_err("cannot create or load the device key %s: %s", path,
              k == KE_ERR_IO ? strerror(errno) : ke_rc_str(k));
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

int agent_cmd_enroll(const ke_cli_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"server", required_argument, 0, O_SERVER},
    {"token", required_argument, 0, O_TOKEN},
    {"token-file", required_argument, 0, O_TOKEN_FILE},
    {"escrow-fingerprint", required_argument, 0, O_FPR},
    {"cacert", required_argument, 0, O_CACERT},
    {"hostname", required_argument, 0, O_HOSTNAME},
    {"serial", required_argument, 0, O_SERIAL},
    {"log-key", required_argument, 0, O_LOGKEY},
    {"log-key-tofu", no_argument, 0, O_LOGKEY_TOFU},
    {"pin-sha256", required_argument, 0, O_PIN},
    AGENT_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  agent_common common;
  enroll_opts o;
  agent_ctx c;
  agent_st s;
  agent_reply rep = {0};
  char tok[64] = "";
  uint8_t pub[AGENT_PUB_LEN];
  char *pub_b64 = NULL;
  json_t *body = NULL;
  int rc;

  memset(&o, 0, sizeof o);
  agent_common_init(&common);
  memset(&c, 0, sizeof c);
  c.lock_fd = -1;
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, on_opt, &o)) || (rc = check_opts(&o)) ||
      (rc = read_token(&o, tok)))
    goto out_opts;
  if ((rc = open_unenrolled(&c, &common, &o)) || (rc = device_key(&c)))
    goto out;
  agent_key_public(c.key, pub);
  if (!(pub_b64 = ke_b64url_encode(pub, sizeof pub)) || !(body = facts(&o)) ||
      agent_jset_str(body, "token", tok) || agent_jset_str(body, "device_key", pub_b64)) {
    rc = agent_oom();
    goto out;
  }
  if ((rc = agent_http_call(c.http, c.key, "new", "POST", "/v1/enroll", body, "enrolment", &rep)))
    goto out;
  if ((rc =
         accept_answer(&c, &o, rep.json, json_string_value(json_object_get(body, "hostname")))) ||
      (rc = agent_state_save(&c)))
    goto out;
  ke_json_spec_parse(c.st, &agent_st_spec, &s, NULL);
  printf("enrolled as %s with %s\n  escrow key %s pinned\n  audit log key %s pinned\n", s.device_id,
         agent_http_server(c.http), s.escrow_fingerprint, c.logkey.name);
  agent_info("enrolled as %s with %s", s.device_id, agent_http_server(c.http));
out:
  if (body) {
    /* The token is in the body: gone with it (jansson wipes freed blocks). */
    json_decref(body);
  }
  ke_wipe(tok, sizeof tok);
  agent_reply_free(&rep);
  free(pub_b64);
  agent_ctx_close(&c);
out_opts:
  free(o.pin);
  return rc;
}

typedef struct pin_opts {
  uint8_t fpr[KE_FPR_LEN];
  int have;
} pin_opts;

static int on_pin_opt(void *ctx, int opt, const char *arg)
{
  pin_opts *o = ctx;
  if (opt != O_FPR)
    return AGENT_USAGE;
  o->have = 1;
  return agent_parse_fpr(o->fpr, arg);
}

int agent_cmd_pin(const ke_cli_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"escrow-fingerprint", required_argument, 0, O_FPR},
    AGENT_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  agent_common common;
  pin_opts o = {{0}, 0};
  agent_ctx c;
  char hex[2 * KE_FPR_LEN + 1];
  size_t i;
  json_t *v;
  int rc;

  agent_common_init(&common);
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, on_pin_opt, &o)))
    return rc;
  if ((rc = agent_ctx_open(&c, &common, o.have ? 0 : AGENT_OPEN_READONLY)))
    goto out;
  if (!o.have) {
    json_array_foreach (json_object_get(c.st, "pinned"), i, v)
      printf("%s %s\n", strcmp(json_string_value(v), c.fpr_hex) ? " " : "*", json_string_value(v));
    goto out;
  }
  ke_hex_encode(hex, o.fpr, KE_FPR_LEN);
  if (agent_fpr_pinned(&c, hex)) {
    printf("escrow key %s is already pinned\n", hex);
    goto out;
  }
  if (json_array_append_new(json_object_get(c.st, "pinned"), json_string(hex)) != 0) {
    rc = agent_oom();
    goto out;
  }
  if (!(rc = agent_state_save(&c))) {
    printf("escrow key %s pinned; the next check-in re-escrows under it once the server "
           "announces it\n",
           hex);
    agent_info("escrow key %s pinned", hex);
  }
out:
  agent_ctx_close(&c);
  return rc;
}
