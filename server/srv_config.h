/*
 * srv_config.h - escrowd configuration.
 *
 * One declarative table (srv_config.c) lists every key with its type,
 * default, range and help.  Values come, in increasing priority, from the
 * defaults, the config file (`key = value` lines) and ESCROWD_<KEY>
 * environment variables.  `escrowd --help` prints the table.
 */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define SRV_CONFIG_DEFAULT_PATH "/etc/keyescrow/escrowd.conf"
#define SRV_CONFIG_ENV_PREFIX "ESCROWD_"

struct srv_config {
  char *listen_address;
  unsigned port;
  char *tls_cert_file;
  char *tls_key_file;
  unsigned threads;
  unsigned max_body_bytes;
  unsigned connection_timeout;
  unsigned connection_limit;
  unsigned per_ip_connection_limit;
  unsigned shutdown_timeout;
  char *db_dsn;
  char *db_password_file;
  char *db_owner_dsn;
  char *db_owner_password_file;
  unsigned db_connect_timeout;
  unsigned db_statement_timeout_ms;
  unsigned db_max_retries;
  char *schema_dir;
  char *log_level;
  /* audit log (srv_audit*.c) */
  char *audit_origin;
  char *audit_key_file;
  unsigned audit_checkpoint_interval_ms;
  unsigned audit_sequence_interval_ms;
  char *audit_syslog;
  /* accounts (srv_auth) */
  unsigned session_lifetime;
  unsigned api_token_max_lifetime;
  unsigned login_max_failures;
  unsigned login_max_address_failures;
  unsigned login_failure_window;
  unsigned login_lockout;
  unsigned login_max_delay;
  unsigned login_account_max_failures;
  unsigned login_account_delay;
  unsigned login_known_source_lifetime;
  unsigned password_scrypt_log2n;
  /* devices (srv_device) */
  unsigned agent_clock_skew;
  unsigned agent_checkin_interval;
  /* online retrieval (srv_retrieval.c, srv_webhook.c) */
  unsigned retrieval_expiry;
  unsigned longpoll_recheck;
  char *trusted_proxies;
  char *webhook_urls;
  char *webhook_secret_file;
  /* web console (srv_ep_static.c) */
  char *web_dir;
  /* HTTP hardening (srv_conn.c, srv_http.c) */
  unsigned request_deadline;
  char *tls_priorities;
  /* drills (srv_drill_close.c) */
  unsigned drill_expiry;
  /* notification mail (srv_mail.c) */
  char *smtp_url;
  char *smtp_from;
  char *smtp_ca_file;
  char *smtp_user;
  char *smtp_password_file;
  unsigned mail_reminder_after;
  /* single sign-on (srv_oidc*.c) */
  char *oidc_issuer;
  char *oidc_client_id;
  char *oidc_client_secret_file;
  char *oidc_redirect_uri;
  char *oidc_ca_file;
  char *oidc_scopes;
  char *oidc_role_claim;
  char *oidc_role_map;
  char *oidc_mfa_roles;
  char *oidc_mfa_amr;
  char *oidc_mfa_acr;
  unsigned oidc_clock_skew;
  unsigned oidc_refresh_interval;
  unsigned oidc_jwks_min_interval;
  char *local_login_users;
  char *local_login_disabled_roles;

  /* Not keys: where the values came from. */
  char *loaded_file;   /* NULL if no file was read */
  const char **source; /* per key: "default", "file" or "env" */
};

/* Fill `cfg` from defaults, then `path` (or, if NULL, ESCROWD_CONFIG, or
 * else SRV_CONFIG_DEFAULT_PATH when it exists), then the environment.
 * On error returns -1 and writes a one-line reason to `err`.  Warnings (such
 * as an unknown ESCROWD_* variable) go to `warn` (may be NULL) one per call. */
typedef void (*srv_config_warn_fn)(const char *message);
int srv_config_load(struct srv_config *cfg, const char *path, srv_config_warn_fn warn, char *err,
                    size_t errlen);
void srv_config_free(struct srv_config *cfg);

/* Documentation of every key, for --help. */
void srv_config_print_help(FILE *out);
/* The effective configuration (secrets are only file names, so nothing is
 * redacted; DSN passwords, if someone put one inline, are masked). */
void srv_config_print(const struct srv_config *cfg, FILE *out);
/* One key name per line. */
void srv_config_print_keys(FILE *out);

#endif
