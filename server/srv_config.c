/*
 * srv_config.c - the configuration key table, file parser and env overrides.
 */
#include "srv_config.h"
#include "srv_forwarded.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ke_log.h"

#ifndef KE_SCHEMA_DIR
#define KE_SCHEMA_DIR "/usr/share/keyescrow/schema"
#endif

enum srv_cfg_type { SRV_CFG_STR, SRV_CFG_UINT, SRV_CFG_LEVEL };

struct srv_cfg_key {
  const char *name;
  enum srv_cfg_type type;
  size_t offset;
  const char *def;        /* default as text; NULL = unset */
  unsigned long min, max; /* SRV_CFG_UINT only */
  const char *help;
};

/* Mozilla's "intermediate" profile in GnuTLS terms (DHE left out). */
#define SRV_TLS_PRIORITIES_DEFAULT                                                    \
  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:" \
  "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-SIGN-RSA-SHA1:" \
  "-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1:%SERVER_PRECEDENCE"

#define S(field) SRV_CFG_STR, offsetof(struct srv_config, field)
#define U(field) SRV_CFG_UINT, offsetof(struct srv_config, field)

/* THE table of keys.  Keep docs/operations.md and
 * server/escrowd.conf.sample in step: a test compares them with it. */
static const struct srv_cfg_key srv_cfg_keys[] = {
  {"listen_address", S(listen_address), "127.0.0.1", 0, 0,
   "IP address to listen on (IPv4 or IPv6 literal). Use 0.0.0.0 or :: for all."},
  {"port", U(port), "8080", 0, 65535,
   "TCP port. 0 picks a free port; the chosen port is logged at start."},
  {"tls_cert_file", S(tls_cert_file), NULL, 0, 0,
   "PEM certificate chain for HTTPS. Unset = plain HTTP (put a TLS reverse proxy in front)."},
  {"tls_key_file", S(tls_key_file), NULL, 0, 0,
   "PEM private key for tls_cert_file (unencrypted). Required with tls_cert_file."},
  {"threads", U(threads), "4", 1, 256,
   "HTTP worker threads; each holds one PostgreSQL connection."},
  {"max_body_bytes", U(max_body_bytes), "1048576", 1024, 64UL * 1024 * 1024,
   "Largest accepted request body; larger requests get 413 payload_too_large."},
  {"connection_timeout", U(connection_timeout), "30", 1, 3600,
   "Seconds of inactivity after which a client connection is closed (slow clients)."},
  {"connection_limit", U(connection_limit), "1024", 4, 65536,
   "Maximum concurrent client connections; further connections are refused."},
  {"per_ip_connection_limit", U(per_ip_connection_limit), "64", 0, 65536,
   "Maximum concurrent connections from one IP address; 0 = no limit. Behind a "
   "reverse proxy every client shares the proxy's address: raise or disable it."},
  {"shutdown_timeout", U(shutdown_timeout), "30", 0, 3600,
   "On SIGTERM/SIGINT, seconds to let in-flight requests finish before closing."},
  {"db_dsn", S(db_dsn), "dbname=keyescrow user=keyescrow_app", 0, 0,
   "libpq connection string of the application role (used by serve)."},
  {"db_password_file", S(db_password_file), NULL, 0, 0,
   "File whose first line is the application role's password (e.g. a container "
   "secret). Unset = libpq's own means (pgpass, peer, PGPASSWORD)."},
  {"db_owner_dsn", S(db_owner_dsn), "dbname=keyescrow user=keyescrow_owner", 0, 0,
   "libpq connection string of the schema owner role (used by migrate only)."},
  {"db_owner_password_file", S(db_owner_password_file), NULL, 0, 0,
   "File whose first line is the owner role's password."},
  {"db_connect_timeout", U(db_connect_timeout), "5", 1, 300,
   "Seconds to wait for a PostgreSQL connection."},
  {"db_statement_timeout_ms", U(db_statement_timeout_ms), "10000", 0, 3600000,
   "Server-side statement timeout in milliseconds for the application role; 0 = none."},
  {"db_max_retries", U(db_max_retries), "8", 1, 100,
   "Attempts of a transaction that hits a serialization failure or deadlock."},
  {"schema_dir", S(schema_dir), KE_SCHEMA_DIR, 0, 0,
   "Directory of NNN_name.sql migrations (migrate applies them; serve checks them)."},
  {"web_dir", S(web_dir), KE_WEB_DIR, 0, 0,
   "Directory of the web console's static files, served at / and /ui/. Missing = "
   "no console (the API is unaffected)."},
  {"log_level", SRV_CFG_LEVEL, offsetof(struct srv_config, log_level), "info", 0, 0,
   "debug, info, warn or error. Logs are JSON lines on stderr."},
  {"audit_origin", S(audit_origin), "keyescrow.localhost/audit", 0, 0,
   "Origin line of the audit log's checkpoints, and the name of its log key, e.g. "
   "escrow.example.org/audit. Set it before the first start: it is fixed in the key file."},
  {"audit_key_file", S(audit_key_file), "/var/lib/keyescrow/audit-log.key", 0, 0,
   "The audit log's Ed25519 signing key (created 0600 at the first start if absent). "
   "Every instance sharing the database must use the same file."},
  {"audit_checkpoint_interval_ms", U(audit_checkpoint_interval_ms), "2000", 100, 3600000,
   "How often a new signed checkpoint is made while the audit log grows."},
  {"audit_sequence_interval_ms", U(audit_sequence_interval_ms), "200", 10, 60000,
   "How often queued audit events nobody waits for are given their leaf index."},
  {"audit_syslog", S(audit_syslog), NULL, 0, 0,
   "Also send each audit event as an RFC 5424 JSON line to unix:/dev/log, "
   "unix:PATH or udp:HOST:PORT (numeric host). Unset = off. Never blocks requests."},
  {"session_lifetime", U(session_lifetime), "28800", 60, 30UL * 86400,
   "Seconds a login token (POST /v1/login) stays valid."},
  {"api_token_max_lifetime", U(api_token_max_lifetime), "31536000", 60, 3650UL * 86400,
   "Largest expires_in, in seconds, an admin may give an API token (POST /v1/tokens)."},
  {"login_max_failures", U(login_max_failures), "5", 1, 1000,
   "Failed logins of one account from one source address within login_failure_window "
   "before that source must wait (other sources are not affected)."},
  {"login_max_address_failures", U(login_max_address_failures), "20", 0, 100000,
   "Failed logins from one IP address within login_failure_window before the address is "
   "made to wait; 0 = no per-address limit (behind a reverse proxy every client shares its "
   "address)."},
  {"login_failure_window", U(login_failure_window), "900", 1, 86400,
   "Seconds without a failure after which a login failure counter starts again."},
  {"login_lockout", U(login_lockout), "60", 1, 86400,
   "Seconds of the first wait of a source past a limit; each further failure doubles it, "
   "up to login_max_delay."},
  {"login_max_delay", U(login_max_delay), "900", 1, 86400,
   "Longest wait, in seconds, of a source past login_max_failures or "
   "login_max_address_failures."},
  {"login_account_max_failures", U(login_account_max_failures), "100", 0, 1000000,
   "Failed logins of one account from all sources within login_failure_window before "
   "every attempt from a source not known for it is slowed to one per login_account_delay; "
   "0 = no per-account ceiling."},
  {"login_account_delay", U(login_account_delay), "2", 1, 3600,
   "Seconds between attempts on an account past login_account_max_failures (it slows, it "
   "never locks out)."},
  {"login_known_source_lifetime", U(login_known_source_lifetime), "2592000", 0, 3650UL * 86400,
   "Seconds a source address stays known for an account after a successful login from it "
   "(known sources are exempt from the per-account ceiling); 0 = none is."},
  {"password_scrypt_log2n", U(password_scrypt_log2n), "15", 10, 20,
   "scrypt cost of new password hashes: N = 2^value (r = 8, p = 1); 15 uses 32 MiB."},
  {"agent_clock_skew", U(agent_clock_skew), "300", 30, 3600,
   "Seconds a signed agent request's timestamp may differ from the server's clock; "
   "nonces are kept for twice as long (replay protection)."},
  {"agent_checkin_interval", U(agent_checkin_interval), "86400", 300, 30UL * 86400,
   "Seconds between agent check-ins, announced to agents at enrolment and check-in."},
  {"retrieval_expiry", U(retrieval_expiry), "86400", 300, 30UL * 86400,
   "Seconds a retrieval request stays open for custodians' parts."},
  {"trusted_proxies", S(trusted_proxies), NULL, 0, 0,
   "Comma-separated IP addresses of reverse proxies whose X-Forwarded-For is believed: "
   "requests from them are attributed (audit log, login limits, logs) to the rightmost "
   "address in that header that is not itself a trusted proxy. Unset = the header is "
   "ignored."},
  {"longpoll_recheck", U(longpoll_recheck), "5", 1, 3600,
   "Seconds between re-checks of every waiting long-poll while the LISTEN connection that "
   "announces other escrowd instances' changes at once is down (reconnecting)."},
  {"webhook_urls", S(webhook_urls), NULL, 0, 0,
   "Comma-separated http(s) URLs notified of retrieval events (JSON POST, HMAC-signed); "
   "prefix one with slack: or teams: for chat messages in that service's shape. "
   "Unset = no webhooks."},
  {"webhook_secret_file", S(webhook_secret_file), NULL, 0, 0,
   "File holding the HMAC-SHA256 key of webhook signatures (at least 16 bytes). Required "
   "with webhook_urls."},
  {"request_deadline", U(request_deadline), "30", 1, 3600,
   "Seconds a client has to send a whole request (headers and body), counted from the "
   "connection's opening or the previous answer; the connection is closed otherwise, "
   "however slowly it keeps sending (connection_timeout counts inactivity only)."},
  {"tls_priorities", S(tls_priorities), SRV_TLS_PRIORITIES_DEFAULT, 0, 0,
   "GnuTLS priority string of the HTTPS listener. The default is Mozilla's "
   "\"intermediate\" profile: TLS 1.3 and 1.2, TLS 1.2 only with ECDHE and AES-GCM or "
   "ChaCha20-Poly1305 (no CBC, no SHA-1)."},
  {"drill_expiry", U(drill_expiry), "604800", 3600, 90UL * 86400,
   "Seconds a backup-integrity drill stays open for custodians' parts and its result; "
   "escrowd maintenance then closes it as expired and deletes its parts."},
  {"smtp_url", S(smtp_url), NULL, 0, 0,
   "smtp://host:port (STARTTLS required) or smtps://host:port of the mail relay that "
   "notifies custodians of retrieval requests. Unset = no mail."},
  {"smtp_from", S(smtp_from), NULL, 0, 0,
   "Sender address of notification mails (a plain addr-spec). Required with smtp_url."},
  {"smtp_ca_file", S(smtp_ca_file), NULL, 0, 0,
   "PEM CA bundle that alone is trusted for the relay's certificate. Unset = the "
   "system store."},
  {"smtp_user", S(smtp_user), NULL, 0, 0, "SMTP AUTH user name. Unset = no AUTH."},
  {"smtp_password_file", S(smtp_password_file), NULL, 0, 0,
   "File whose first line is the SMTP AUTH password (with smtp_user)."},
  {"mail_reminder_after", U(mail_reminder_after), "1800", 0, 30UL * 86400,
   "Seconds a retrieval request may wait before the custodians who have not contributed "
   "get a reminder (once per request); 0 = no reminders."},
  {"oidc_issuer", S(oidc_issuer), NULL, 0, 0,
   "OpenID Connect issuer URL of the identity provider (https://, or http:// to a loopback "
   "host); its /.well-known/openid-configuration is read at start and every "
   "oidc_refresh_interval. Unset = no single sign-on."},
  {"oidc_client_id", S(oidc_client_id), NULL, 0, 0,
   "The client id escrowd is registered with at the identity provider. Required with "
   "oidc_issuer."},
  {"oidc_client_secret_file", S(oidc_client_secret_file), NULL, 0, 0,
   "File whose first line is the client secret (client_secret_basic). Unset = a public "
   "client (PKCE only)."},
  {"oidc_redirect_uri", S(oidc_redirect_uri), NULL, 0, 0,
   "The console's redirect URI registered at the IdP: this server's "
   "https://HOST/v1/login/oidc/callback. Required with oidc_issuer."},
  {"oidc_ca_file", S(oidc_ca_file), NULL, 0, 0,
   "PEM CA bundle that alone is trusted for the identity provider's certificate. Unset = "
   "the system store."},
  {"oidc_scopes", S(oidc_scopes), "openid profile email", 0, 0,
   "Scopes asked for (space-separated; openid is required)."},
  {"oidc_role_claim", S(oidc_role_claim), "groups", 0, 0,
   "The ID token claim (a string or an array of strings) mapped to roles by oidc_role_map."},
  {"oidc_role_map", S(oidc_role_map), NULL, 0, 0,
   "VALUE=ROLE[#INDEX][@GROUP|GROUP...], comma-separated, first match wins: a claim value "
   "and the role it grants (admin, helpdesk, auditor, custodian#INDEX), optionally scoped to "
   "device groups (patterns, '*' any run). No match = no login."},
  {"oidc_mfa_roles", S(oidc_mfa_roles), "admin,custodian", 0, 0,
   "Roles whose SSO login requires multi-factor authentication (oidc_mfa_amr or "
   "oidc_mfa_acr); \"-\" = none."},
  {"oidc_mfa_amr", S(oidc_mfa_amr), "mfa,pwd+otp,pwd+hwk,pwd+swk,pwd+sms", 0, 0,
   "amr values (RFC 8176) that count as multi-factor authentication: any entry of the list, "
   "an entry A+B needing all its values (two factors the IdP names one by one)."},
  {"oidc_mfa_acr", S(oidc_mfa_acr), NULL, 0, 0,
   "acr values any one of which counts as multi-factor authentication, besides "
   "oidc_mfa_amr."},
  {"oidc_clock_skew", U(oidc_clock_skew), "60", 0, 600,
   "Seconds of leeway for the ID token's exp, nbf and iat."},
  {"oidc_refresh_interval", U(oidc_refresh_interval), "3600", 60, 86400,
   "Seconds between re-reads of the IdP's discovery document and key set."},
  {"oidc_jwks_min_interval", U(oidc_jwks_min_interval), "60", 1, 3600,
   "An ID token signed by a key id the cached key set lacks re-reads the set (a key "
   "rotation at the IdP), at most once per this many seconds."},
  {"local_login_users", S(local_login_users), NULL, 0, 0,
   "Break-glass: when set, only these accounts (comma-separated) may log in with a "
   "password. Unset = every local account."},
  {"local_login_disabled_roles", S(local_login_disabled_roles), NULL, 0, 0,
   "Roles whose accounts may not log in with a password (SSO covers them), except those in "
   "local_login_users."},
};
#undef S
#undef U

#define SRV_CFG_NKEYS (sizeof srv_cfg_keys / sizeof srv_cfg_keys[0])

static void srv_cfg_env_name(char *out, size_t outlen, const char *key)
{
  size_t i, p = strlen(SRV_CONFIG_ENV_PREFIX);

  snprintf(out, outlen, "%s", SRV_CONFIG_ENV_PREFIX);
  for (i = 0; key[i] && p + 1 < outlen; i++)
    out[p++] = (char)toupper((unsigned char)key[i]);
  out[p] = '\0';
}

static const struct srv_cfg_key *srv_cfg_find(const char *name)
{
  for (size_t i = 0; i < SRV_CFG_NKEYS; i++)
    if (strcmp(srv_cfg_keys[i].name, name) == 0)
      return &srv_cfg_keys[i];
  return NULL;
}

static int srv_cfg_set(struct srv_config *cfg, const struct srv_cfg_key *k, const char *value,
                       const char *source, char *err, size_t errlen)
{
  char *base = (char *)cfg;

  if (k->type == SRV_CFG_UINT) {
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(value, &end, 10);
    if (!isdigit((unsigned char)value[0]) || *end || errno || v < k->min || v > k->max) {
      snprintf(err, errlen, "%s: '%s' is not an integer in [%lu, %lu]", k->name, value, k->min,
               k->max);
      return -1;
    }
    *(unsigned *)(base + k->offset) = (unsigned)v;
  } else {
    char **slot = (char **)(base + k->offset);
    char *copy;

    if (k->type == SRV_CFG_LEVEL) {
      ke_log_level lvl;
      if (ke_log_level_parse(value, &lvl)) {
        snprintf(err, errlen, "%s: '%s' is not one of debug, info, warn, error", k->name, value);
        return -1;
      }
    }
    /* An empty value unsets an optional string (e.g. tls_cert_file =). */
    copy = value[0] ? strdup(value) : NULL;
    if (value[0] && !copy) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    free(*slot);
    *slot = copy;
  }
  cfg->source[k - srv_cfg_keys] = source;
  return 0;
}

static char *srv_cfg_trim(char *s)
{
  char *e;

  while (isspace((unsigned char)*s))
    s++;
  e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

static int srv_cfg_parse_file(struct srv_config *cfg, const char *path, FILE *f, char *err,
                              size_t errlen)
{
  char line[4096];
  unsigned lineno = 0;
  unsigned char seen[SRV_CFG_NKEYS] = {0};

  while (fgets(line, sizeof line, f)) {
    char *eq, *key, *val;
    const struct srv_cfg_key *k;
    size_t vl;

    lineno++;
    if (!strchr(line, '\n') && !feof(f)) {
      snprintf(err, errlen, "%s:%u: line too long", path, lineno);
      return -1;
    }
    key = srv_cfg_trim(line);
    if (*key == '\0' || *key == '#' || *key == ';')
      continue;
    eq = strchr(key, '=');
    if (!eq) {
      snprintf(err, errlen, "%s:%u: expected 'key = value'", path, lineno);
      return -1;
    }
    *eq = '\0';
    key = srv_cfg_trim(key);
    val = srv_cfg_trim(eq + 1);
    vl = strlen(val);
    /* Optional double quotes keep leading/trailing spaces in a value. */
    if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
      val[vl - 1] = '\0';
      val++;
    }
    k = srv_cfg_find(key);
    if (!k) {
      snprintf(err, errlen, "%s:%u: unknown key '%s' (see escrowd --help)", path, lineno, key);
      return -1;
    }
    if (seen[k - srv_cfg_keys]++) {
      snprintf(err, errlen, "%s:%u: key '%s' set twice", path, lineno, key);
      return -1;
    }
    if (srv_cfg_set(cfg, k, val, "file", err, errlen)) {
      char tmp[512];
      snprintf(tmp, sizeof tmp, "%s:%u: %s", path, lineno, err);
      snprintf(err, errlen, "%s", tmp);
      return -1;
    }
  }
  if (ferror(f)) {
    snprintf(err, errlen, "%s: read error", path);
    return -1;
  }
  return 0;
}

extern char **environ;

static int srv_cfg_apply_env(struct srv_config *cfg, srv_config_warn_fn warn, char *err,
                             size_t errlen)
{
  char name[128];
  size_t plen = strlen(SRV_CONFIG_ENV_PREFIX);

  for (size_t i = 0; i < SRV_CFG_NKEYS; i++) {
    const char *v;
    srv_cfg_env_name(name, sizeof name, srv_cfg_keys[i].name);
    v = getenv(name);
    if (v && srv_cfg_set(cfg, &srv_cfg_keys[i], v, "env", err, errlen))
      return -1;
  }
  /* A mistyped variable would otherwise be silently ignored. */
  for (char **e = environ; warn && e && *e; e++) {
    const char *eq = strchr(*e, '=');
    size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
    int known = 0;

    if (strncmp(*e, SRV_CONFIG_ENV_PREFIX, plen) != 0)
      continue;
    if (n == strlen("ESCROWD_CONFIG") && strncmp(*e, "ESCROWD_CONFIG", n) == 0)
      continue;
    for (size_t i = 0; i < SRV_CFG_NKEYS && !known; i++) {
      srv_cfg_env_name(name, sizeof name, srv_cfg_keys[i].name);
      known = strlen(name) == n && strncmp(name, *e, n) == 0;
    }
    if (!known) {
      char msg[256];
      snprintf(msg, sizeof msg, "ignoring unknown environment variable %.*s", (int)n, *e);
      warn(msg);
    }
  }
  return 0;
}

int srv_config_load(struct srv_config *cfg, const char *path, srv_config_warn_fn warn, char *err,
                    size_t errlen)
{
  FILE *f = NULL;
  int explicit_path = path != NULL;

  memset(cfg, 0, sizeof *cfg);
  cfg->source = calloc(SRV_CFG_NKEYS, sizeof *cfg->source);
  if (!cfg->source) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < SRV_CFG_NKEYS; i++) {
    cfg->source[i] = "default";
    if (srv_cfg_keys[i].def &&
        srv_cfg_set(cfg, &srv_cfg_keys[i], srv_cfg_keys[i].def, "default", err, errlen))
      return -1;
  }
  if (!path && getenv("ESCROWD_CONFIG") && *getenv("ESCROWD_CONFIG")) {
    path = getenv("ESCROWD_CONFIG");
    explicit_path = 1;
  }
  if (!path)
    path = SRV_CONFIG_DEFAULT_PATH;
  f = fopen(path, "r");
  if (!f && (explicit_path || errno != ENOENT)) {
    snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
    return -1;
  }
  if (f) {
    int rc = srv_cfg_parse_file(cfg, path, f, err, errlen);
    fclose(f);
    if (rc)
      return -1;
    cfg->loaded_file = strdup(path);
    if (!cfg->loaded_file) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
  }
  if (srv_cfg_apply_env(cfg, warn, err, errlen))
    return -1;
  if (!cfg->tls_cert_file != !cfg->tls_key_file) {
    snprintf(err, errlen, "tls_cert_file and tls_key_file must be set together");
    return -1;
  }
  if (cfg->tls_cert_file && !cfg->tls_priorities) {
    snprintf(err, errlen, "tls_priorities must not be empty when TLS is on");
    return -1;
  }
  /* Parsed here so that a typo is a configuration error, not a proxy
   * silently left untrusted (or worse, half of a list trusted). */
  if (srv_forwarded_init(cfg->trusted_proxies, err, errlen))
    return -1;
  if (!cfg->listen_address || !cfg->db_dsn || !cfg->db_owner_dsn || !cfg->schema_dir) {
    snprintf(err, errlen,
             "listen_address, db_dsn, db_owner_dsn and schema_dir must not "
             "be empty");
    return -1;
  }
  return 0;
}

void srv_config_free(struct srv_config *cfg)
{
  for (size_t i = 0; i < SRV_CFG_NKEYS; i++) {
    if (srv_cfg_keys[i].type != SRV_CFG_UINT) {
      char **slot = (char **)((char *)cfg + srv_cfg_keys[i].offset);
      free(*slot);
      *slot = NULL;
    }
  }
  free(cfg->loaded_file);
  free(cfg->source);
  cfg->loaded_file = NULL;
  cfg->source = NULL;
}

void srv_config_print_help(FILE *out)
{
  char env[128];

  fprintf(out, "Configuration keys (file: key = value; environment overrides the file):\n");
  for (size_t i = 0; i < SRV_CFG_NKEYS; i++) {
    const struct srv_cfg_key *k = &srv_cfg_keys[i];
    srv_cfg_env_name(env, sizeof env, k->name);
    fprintf(out, "  %s  (%s)\n      default: %s", k->name, env, k->def ? k->def : "(unset)");
    if (k->type == SRV_CFG_UINT)
      fprintf(out, "  range: %lu..%lu", k->min, k->max);
    fprintf(out, "\n      %s\n", k->help);
  }
}

void srv_config_print_keys(FILE *out)
{
  for (size_t i = 0; i < SRV_CFG_NKEYS; i++)
    fprintf(out, "%s\n", srv_cfg_keys[i].name);
}

/* Mask `password=...` inside a DSN so that printing the config is safe. */
static void srv_cfg_print_masked(FILE *out, const char *s)
{
  const char *p = strstr(s, "password");

  if (!p) {
    fputs(s, out);
    return;
  }
  fwrite(s, 1, (size_t)(p - s), out);
  fputs("password=***", out);
  p += strlen("password");
  while (*p && !isspace((unsigned char)*p) && *p != '&')
    p++;
  srv_cfg_print_masked(out, p);
}

void srv_config_print(const struct srv_config *cfg, FILE *out)
{
  const char *base = (const char *)cfg;

  fprintf(out, "# config file: %s\n", cfg->loaded_file ? cfg->loaded_file : "(none)");
  for (size_t i = 0; i < SRV_CFG_NKEYS; i++) {
    const struct srv_cfg_key *k = &srv_cfg_keys[i];
    fprintf(out, "%s = ", k->name);
    if (k->type == SRV_CFG_UINT) {
      fprintf(out, "%u", *(const unsigned *)(base + k->offset));
    } else {
      const char *v = *(char *const *)(base + k->offset);
      srv_cfg_print_masked(out, v ? v : "");
    }
    fprintf(out, "    # %s\n", cfg->source[i]);
  }
}
