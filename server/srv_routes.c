/*
 * srv_routes.c - THE route table of escrowd, and the path matcher.
 *
 * Every endpoint is one line below: method, pattern, handler, the roles that
 * may call it, and whether it takes a JSON body.  Nothing else routes.
 */
#include "srv_routes.h"

#include <stdio.h>
#include <string.h>

static const struct srv_route srv_routes[] = {
  /* method  pattern  handler  roles  body  body_spec  query_spec */
  {"GET", "/healthz", srv_ep_healthz, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/readyz", srv_ep_readyz, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/metrics", srv_ep_metrics, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  /* audit log (srv_ep_audit_*.c): entries name people and addresses, so
   * auditors only; checkpoints, the key and proofs are hashes, public. */
  {"GET", "/v1/audit/checkpoint", srv_ep_audit_checkpoint, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL,
   NULL},
  /* the design's first name for the same signed tree head (docs/api.yaml) */
  {"GET", "/v1/audit/sth", srv_ep_audit_checkpoint, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/v1/audit/key", srv_ep_audit_key, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/v1/audit/entries", srv_ep_audit_entries, SRV_ROLE_AUDITOR, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/v1/audit/proof/inclusion", srv_ep_audit_inclusion, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL,
   NULL},
  {"GET", "/v1/audit/proof/consistency", srv_ep_audit_consistency, SRV_ROLE_PUBLIC, SRV_BODY_NONE,
   NULL, NULL},
  /* accounts (srv_ep_login.c, srv_ep_users*.c, srv_ep_tokens.c) */
  {"POST", "/v1/login", srv_ep_login, SRV_ROLE_PUBLIC, SRV_BODY_JSON, &srv_ep_login_body, NULL},
  /* single sign-on (srv_ep_oidc.c, srv_ep_oidc_device.c) */
  {"GET", "/v1/login/methods", srv_ep_login_methods, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"POST", "/v1/login/oidc/start", srv_ep_login_oidc_start, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL,
   NULL},
  {"GET", "/v1/login/oidc/callback", srv_ep_login_oidc_callback, SRV_ROLE_PUBLIC, SRV_BODY_NONE,
   NULL, &srv_ep_login_oidc_callback_query},
  {"POST", "/v1/login/oidc/finish", srv_ep_login_oidc_finish, SRV_ROLE_PUBLIC, SRV_BODY_JSON,
   &srv_ep_login_oidc_finish_body, NULL},
  {"POST", "/v1/login/oidc/device", srv_ep_login_oidc_device, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL,
   NULL},
  {"POST", "/v1/login/oidc/device/poll", srv_ep_login_oidc_device_poll, SRV_ROLE_PUBLIC,
   SRV_BODY_JSON, &srv_ep_login_oidc_poll_body, NULL},
  {"POST", "/v1/logout", srv_ep_logout, SRV_ROLE_USERS, SRV_BODY_NONE, NULL, NULL},
  {"POST", "/v1/users", srv_ep_users_create, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_users_create_body, NULL},
  {"GET", "/v1/users", srv_ep_users_list, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL, NULL},
  {"POST", "/v1/users/{name}/disable", srv_ep_users_disable, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL,
   NULL},
  {"POST", "/v1/users/{name}/enable", srv_ep_users_enable, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL,
   NULL},
  {"POST", "/v1/users/{name}/role", srv_ep_users_role, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_users_role_body, NULL},
  {"POST", "/v1/users/{name}/password", srv_ep_users_password, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_users_password_body, NULL},
  {"POST", "/v1/users/{name}/person", srv_ep_users_person, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_users_person_body, NULL},
  {"POST", "/v1/users/{name}/email", srv_ep_users_email, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_users_email_body, NULL},
  {"POST", "/v1/users/{name}/scope", srv_ep_users_scope, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_users_scope_body, NULL},
  {"POST", "/v1/tokens", srv_ep_tokens_create, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_tokens_create_body, NULL},
  {"GET", "/v1/tokens", srv_ep_tokens_list, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL,
   &srv_ep_tokens_list_query},
  {"DELETE", "/v1/tokens/{id}", srv_ep_tokens_revoke, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL, NULL},
  /* devices and escrow (srv_ep_enroll*.c, srv_ep_device_keys.c,
   * srv_ep_checkin.c, srv_ep_devices.c, srv_ep_escrow_key.c).  Agent
   * routes live under /v1/devices/{id}/ only: a device may call nothing
   * else, and only with its own id (srv_device_auth.c). */
  {"POST", "/v1/enroll", srv_ep_enroll, SRV_ROLE_PUBLIC, SRV_BODY_JSON, &srv_ep_enroll_body, NULL},
  {"PUT", "/v1/devices/{id}/keys/{volume}", srv_ep_device_keys_put, SRV_ROLE_AGENT, SRV_BODY_JSON,
   &srv_ep_device_keys_put_body, NULL},
  {"POST", "/v1/devices/{id}/checkin", srv_ep_checkin, SRV_ROLE_AGENT, SRV_BODY_JSON,
   &srv_ep_checkin_body, NULL},
  {"GET", "/v1/devices", srv_ep_devices_search, SRV_ROLE_HELPDESK | SRV_ROLE_AUDITOR, SRV_BODY_NONE,
   NULL, &srv_ep_devices_search_query},
  {"GET", "/v1/devices/{id}", srv_ep_devices_get, SRV_ROLE_HELPDESK | SRV_ROLE_AUDITOR,
   SRV_BODY_NONE, NULL, NULL},
  /* people acting on a device (srv_ep_device_admin.c) */
  {"POST", "/v1/devices/{id}/rotate", srv_ep_devices_rotate, SRV_ROLE_ADMIN | SRV_ROLE_HELPDESK,
   SRV_BODY_JSON, &srv_ep_devices_rotate_body, NULL},
  {"POST", "/v1/devices/{id}/disable", srv_ep_devices_disable, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_devices_disable_body, NULL},
  {"POST", "/v1/devices/{id}/enable", srv_ep_devices_enable, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL,
   NULL},
  {"GET", "/v1/escrow-key", srv_ep_escrow_key_get, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL,
   &srv_ep_escrow_key_get_query},
  {"POST", "/v1/escrow-key", srv_ep_escrow_key_post, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_escrow_key_post_body, NULL},
  {"GET", "/v1/escrow-keys", srv_ep_escrow_keys_list, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"POST", "/v1/enroll-tokens", srv_ep_enroll_tokens_create, SRV_ROLE_ADMIN, SRV_BODY_JSON,
   &srv_ep_enroll_tokens_create_body, NULL},
  {"GET", "/v1/enroll-tokens", srv_ep_enroll_tokens_list, SRV_ROLE_ADMIN, SRV_BODY_NONE, NULL,
   &srv_ep_enroll_tokens_list_query},
  {"DELETE", "/v1/enroll-tokens/{id}", srv_ep_enroll_tokens_revoke, SRV_ROLE_ADMIN, SRV_BODY_NONE,
   NULL, NULL},
  /* the web console's static files (srv_ep_static.c): public, since the
   * login page must load before anyone is logged in; the data behind it
   * comes from the API routes above, with their roles. */
  {"GET", "/", srv_ep_static, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/ui/{file}", srv_ep_static, SRV_ROLE_PUBLIC, SRV_BODY_NONE, NULL, NULL},
  /* online retrieval (srv_ep_retrievals*.c, srv_ep_client_keys.c) */
  {"PUT", "/v1/client-key", srv_ep_client_key_put, SRV_ROLE_HELPDESK | SRV_ROLE_AUDITOR,
   SRV_BODY_JSON, &srv_ep_client_key_put_body, NULL},
  {"POST", "/v1/retrievals", srv_ep_retrievals_create, SRV_ROLE_HELPDESK, SRV_BODY_JSON,
   &srv_ep_retrievals_create_body, NULL},
  {"GET", "/v1/retrievals", srv_ep_retrievals_list,
   SRV_ROLE_HELPDESK | SRV_ROLE_CUSTODIAN | SRV_ROLE_AUDITOR, SRV_BODY_NONE, NULL,
   &srv_ep_retrievals_list_query},
  {"GET", "/v1/retrievals/{id}", srv_ep_retrievals_get,
   SRV_ROLE_HELPDESK | SRV_ROLE_CUSTODIAN | SRV_ROLE_AUDITOR, SRV_BODY_NONE, NULL,
   &srv_ep_retrievals_get_query},
  {"POST", "/v1/retrievals/{id}/parts", srv_ep_retrievals_parts, SRV_ROLE_CUSTODIAN, SRV_BODY_JSON,
   &srv_ep_retrievals_parts_body, NULL},
  {"POST", "/v1/retrievals/{id}/declines", srv_ep_retrievals_declines, SRV_ROLE_CUSTODIAN,
   SRV_BODY_JSON, &srv_ep_retrievals_declines_body, NULL},
  {"GET", "/v1/retrievals/{id}/parts", srv_ep_retrievals_parts_get, SRV_ROLE_HELPDESK,
   SRV_BODY_NONE, NULL, NULL},
  /* compliance reports (srv_ep_reports.c) */
  {"GET", "/v1/reports/coverage", srv_ep_reports_coverage, SRV_ROLE_AUDITOR, SRV_BODY_NONE, NULL,
   &srv_ep_reports_coverage_query},
  {"GET", "/v1/reports/retrievals", srv_ep_reports_retrievals, SRV_ROLE_AUDITOR, SRV_BODY_NONE,
   NULL, &srv_ep_reports_retrievals_query},
  /* custodian health (srv_ep_attest.c) */
  {"POST", "/v1/attestations/challenge", srv_ep_attest_challenge, SRV_ROLE_CUSTODIAN, SRV_BODY_NONE,
   NULL, NULL},
  {"POST", "/v1/attestations", srv_ep_attest, SRV_ROLE_CUSTODIAN, SRV_BODY_JSON,
   &srv_ep_attest_body, NULL},
  /* backup-integrity drills (srv_ep_drills*.c) */
  {"POST", "/v1/drills", srv_ep_drills_create, SRV_ROLE_AUDITOR, SRV_BODY_JSON,
   &srv_ep_drills_create_body, NULL},
  {"GET", "/v1/drills/{id}", srv_ep_drills_get, SRV_ROLE_AUDITOR | SRV_ROLE_CUSTODIAN,
   SRV_BODY_NONE, NULL, NULL},
  {"POST", "/v1/drills/{id}/parts", srv_ep_drills_parts, SRV_ROLE_CUSTODIAN, SRV_BODY_JSON,
   &srv_ep_drills_parts_body, NULL},
  {"GET", "/v1/drills/{id}/parts", srv_ep_drills_parts_get, SRV_ROLE_AUDITOR, SRV_BODY_NONE, NULL,
   NULL},
  {"POST", "/v1/drills/{id}/result", srv_ep_drills_result, SRV_ROLE_AUDITOR, SRV_BODY_JSON,
   &srv_ep_drills_result_body, NULL},
  /* witness cosignatures of checkpoints (srv_ep_audit_cosig.c) */
  {"POST", "/v1/audit/cosignatures", srv_ep_audit_cosig_post, SRV_ROLE_AUDITOR, SRV_BODY_JSON,
   &srv_ep_audit_cosig_post_body, NULL},
  {"GET", "/v1/audit/checkpoint/cosigned", srv_ep_audit_cosig_get, SRV_ROLE_PUBLIC, SRV_BODY_NONE,
   NULL, NULL},
  {"POST", "/v1/drills/{id}/statement", srv_ep_drills_statement, SRV_ROLE_AUDITOR, SRV_BODY_JSON,
   &srv_ep_drills_statement_body, NULL},
  {"GET", "/v1/drills/{id}/status", srv_ep_drills_status, SRV_ROLE_AUDITOR | SRV_ROLE_CUSTODIAN,
   SRV_BODY_NONE, NULL, &srv_ep_drills_status_query},
};

const struct srv_route_table srv_routes_escrowd = {srv_routes,
                                                   sizeof srv_routes / sizeof srv_routes[0]};

/* Compare one path against one pattern, segment by segment.  {name}
 * segments capture a non-empty segment of at most SRV_ROUTE_PARAM_MAX-1
 * bytes; everything else must be equal. */
static int srv_route_path_match(const char *pattern, const char *path,
                                struct srv_route_params *params)
{
  const char *p = pattern, *u = path;

  params->count = 0;
  while (*p && *u) {
    if (*p == '{') {
      const char *close = strchr(p, '}');
      size_t n = strcspn(u, "/");
      size_t i = params->count;

      if (!close || n == 0 || n >= SRV_ROUTE_PARAM_MAX || i >= SRV_ROUTE_MAX_PARAMS)
        return 0;
      params->names[i] = p + 1;
      params->name_lens[i] = (size_t)(close - p - 1);
      memcpy(params->values[i], u, n);
      params->values[i][n] = '\0';
      params->count++;
      p = close + 1;
      u += n;
    } else {
      if (*p != *u)
        return 0;
      p++;
      u++;
    }
  }
  return *p == '\0' && *u == '\0';
}

static void srv_allow_add(char *allow, size_t allowlen, const char *method)
{
  size_t n = strlen(allow);
  char token[24];

  snprintf(token, sizeof token, "%s", method);
  /* Skip duplicates: "GET" must not appear twice in Allow. */
  for (const char *s = allow; (s = strstr(s, token)) != NULL; s += strlen(token)) {
    char after = s[strlen(token)];
    if ((s == allow || s[-1] == ' ') && (after == ',' || after == '\0'))
      return;
  }
  snprintf(allow + n, allowlen - n, "%s%s", n ? ", " : "", token);
}

enum srv_route_match srv_routes_match(const struct srv_route_table *table, const char *method,
                                      const char *path, const struct srv_route **route,
                                      const char **pattern, struct srv_route_params *params,
                                      char *allow, size_t allowlen)
{
  int path_known = 0;
  /* HEAD is GET without a body; libmicrohttpd drops the body for us. */
  const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;

  *route = NULL;
  *pattern = NULL;
  if (allowlen)
    allow[0] = '\0';
  for (size_t i = 0; i < table->count; i++) {
    const struct srv_route *r = &table->routes[i];
    struct srv_route_params tmp;

    if (!srv_route_path_match(r->pattern, path, &tmp))
      continue;
    if (!path_known)
      *pattern = r->pattern;
    path_known = 1;
    if (strcmp(r->method, want) == 0) {
      *route = r;
      *pattern = r->pattern;
      *params = tmp;
      return SRV_ROUTE_FOUND;
    }
    srv_allow_add(allow, allowlen, r->method);
    if (strcmp(r->method, "GET") == 0)
      srv_allow_add(allow, allowlen, "HEAD");
  }
  return path_known ? SRV_ROUTE_BAD_METHOD : SRV_ROUTE_NOT_FOUND;
}
