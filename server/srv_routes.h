/*
 * srv_routes.h - escrowd's route table and the path matcher.
 */
#ifndef SRV_ROUTES_H
#define SRV_ROUTES_H

#include <stddef.h>

#include "srv_ep.h"
#include "srv_http.h"

#define SRV_ROUTE_MAX_PARAMS 4
#define SRV_ROUTE_PARAM_MAX 256

struct srv_route_params {
  size_t count;
  const char *names[SRV_ROUTE_MAX_PARAMS]; /* point into the pattern: "{id}" */
  size_t name_lens[SRV_ROUTE_MAX_PARAMS];
  char values[SRV_ROUTE_MAX_PARAMS][SRV_ROUTE_PARAM_MAX];
};

enum srv_route_match {
  SRV_ROUTE_FOUND,
  SRV_ROUTE_NOT_FOUND,
  SRV_ROUTE_BAD_METHOD, /* the path exists, the method does not: see `allow` */
};

/* escrowd's table (srv_routes.c). */
extern const struct srv_route_table srv_routes_escrowd;

/* Match `method` and `path` against `table`.  On FOUND, *route and params
 * are set; on BAD_METHOD, `allow` receives "GET, HEAD" etc.  In both cases
 * *pattern is the matched pattern (for metrics and logs). */
enum srv_route_match srv_routes_match(const struct srv_route_table *table, const char *method,
                                      const char *path, const struct srv_route **route,
                                      const char **pattern, struct srv_route_params *params,
                                      char *allow, size_t allowlen);

/* Endpoint handlers, one file each (srv_ep_*.c). */
enum MHD_Result srv_ep_healthz(struct srv_request *req);
enum MHD_Result srv_ep_readyz(struct srv_request *req);
enum MHD_Result srv_ep_metrics(struct srv_request *req);
enum MHD_Result srv_ep_audit_checkpoint(struct srv_request *req);
enum MHD_Result srv_ep_audit_key(struct srv_request *req);
enum MHD_Result srv_ep_audit_entries(struct srv_request *req);
enum MHD_Result srv_ep_audit_inclusion(struct srv_request *req);
enum MHD_Result srv_ep_audit_consistency(struct srv_request *req);
enum MHD_Result srv_ep_audit_cosig_post(struct srv_request *req);
enum MHD_Result srv_ep_audit_cosig_get(struct srv_request *req);
enum MHD_Result srv_ep_login(struct srv_request *req);
enum MHD_Result srv_ep_login_methods(struct srv_request *req);
enum MHD_Result srv_ep_login_oidc_start(struct srv_request *req);
enum MHD_Result srv_ep_login_oidc_callback(struct srv_request *req);
enum MHD_Result srv_ep_login_oidc_finish(struct srv_request *req);
enum MHD_Result srv_ep_login_oidc_device(struct srv_request *req);
enum MHD_Result srv_ep_login_oidc_device_poll(struct srv_request *req);
enum MHD_Result srv_ep_logout(struct srv_request *req);
enum MHD_Result srv_ep_users_create(struct srv_request *req);
enum MHD_Result srv_ep_users_list(struct srv_request *req);
enum MHD_Result srv_ep_users_disable(struct srv_request *req);
enum MHD_Result srv_ep_users_enable(struct srv_request *req);
enum MHD_Result srv_ep_users_role(struct srv_request *req);
enum MHD_Result srv_ep_users_password(struct srv_request *req);
enum MHD_Result srv_ep_users_person(struct srv_request *req);
enum MHD_Result srv_ep_users_email(struct srv_request *req);
enum MHD_Result srv_ep_users_scope(struct srv_request *req);
enum MHD_Result srv_ep_tokens_create(struct srv_request *req);
enum MHD_Result srv_ep_tokens_list(struct srv_request *req);
enum MHD_Result srv_ep_tokens_revoke(struct srv_request *req);
enum MHD_Result srv_ep_enroll(struct srv_request *req);
enum MHD_Result srv_ep_device_keys_put(struct srv_request *req);
enum MHD_Result srv_ep_checkin(struct srv_request *req);
enum MHD_Result srv_ep_devices_search(struct srv_request *req);
enum MHD_Result srv_ep_devices_get(struct srv_request *req);
enum MHD_Result srv_ep_devices_rotate(struct srv_request *req);
enum MHD_Result srv_ep_devices_disable(struct srv_request *req);
enum MHD_Result srv_ep_devices_enable(struct srv_request *req);
enum MHD_Result srv_ep_escrow_key_get(struct srv_request *req);
enum MHD_Result srv_ep_escrow_key_post(struct srv_request *req);
enum MHD_Result srv_ep_escrow_keys_list(struct srv_request *req);
enum MHD_Result srv_ep_enroll_tokens_create(struct srv_request *req);
enum MHD_Result srv_ep_enroll_tokens_list(struct srv_request *req);
enum MHD_Result srv_ep_enroll_tokens_revoke(struct srv_request *req);
/* The web console (srv_ep_static.c): init opens web_dir once (-1 and a
 * warning if it cannot: the console answers 404, the API is unaffected). */
enum MHD_Result srv_ep_static(struct srv_request *req);
int srv_static_init(const struct srv_config *cfg);
void srv_static_shutdown(void);
enum MHD_Result srv_ep_reports_coverage(struct srv_request *req);
enum MHD_Result srv_ep_reports_retrievals(struct srv_request *req);
enum MHD_Result srv_ep_attest_challenge(struct srv_request *req);
enum MHD_Result srv_ep_attest(struct srv_request *req);
enum MHD_Result srv_ep_drills_create(struct srv_request *req);
enum MHD_Result srv_ep_drills_get(struct srv_request *req);
enum MHD_Result srv_ep_drills_parts(struct srv_request *req);
enum MHD_Result srv_ep_drills_parts_get(struct srv_request *req);
enum MHD_Result srv_ep_drills_result(struct srv_request *req);
enum MHD_Result srv_ep_drills_statement(struct srv_request *req);
enum MHD_Result srv_ep_drills_status(struct srv_request *req);

enum MHD_Result srv_ep_client_key_put(struct srv_request *req);
enum MHD_Result srv_ep_retrievals_create(struct srv_request *req);
enum MHD_Result srv_ep_retrievals_list(struct srv_request *req);
enum MHD_Result srv_ep_retrievals_get(struct srv_request *req);
enum MHD_Result srv_ep_retrievals_parts(struct srv_request *req);
enum MHD_Result srv_ep_retrievals_declines(struct srv_request *req);
enum MHD_Result srv_ep_retrievals_parts_get(struct srv_request *req);

/* The body and query specs of the routes that have them (srv_ep.h), one
 * per route, named <handler>_body and <handler>_query, defined next to
 * their handler. */
extern const struct ke_jspec srv_ep_tokens_create_body;
extern const struct srv_qspec srv_ep_tokens_list_query;
extern const struct srv_qspec srv_ep_login_oidc_callback_query;
extern const struct ke_jspec srv_ep_enroll_tokens_create_body;
extern const struct srv_qspec srv_ep_enroll_tokens_list_query;
/* hdrill */
extern const struct ke_jspec srv_ep_drills_create_body;
extern const struct ke_jspec srv_ep_drills_parts_body;
extern const struct ke_jspec srv_ep_drills_result_body;
extern const struct ke_jspec srv_ep_drills_statement_body;
extern const struct srv_qspec srv_ep_drills_status_query;
/* hrep */
extern const struct srv_qspec srv_ep_reports_coverage_query;
extern const struct srv_qspec srv_ep_reports_retrievals_query;

/* hret */
extern const struct srv_qspec srv_ep_devices_search_query;
extern const struct ke_jspec srv_ep_devices_rotate_body;
extern const struct ke_jspec srv_ep_devices_disable_body;
extern const struct srv_qspec srv_ep_retrievals_list_query;
extern const struct ke_jspec srv_ep_retrievals_declines_body;
/* hlogin */
extern const struct ke_jspec srv_ep_login_body;
extern const struct ke_jspec srv_ep_login_oidc_finish_body;
extern const struct ke_jspec srv_ep_login_oidc_poll_body;
extern const struct ke_jspec srv_ep_users_create_body;
extern const struct ke_jspec srv_ep_users_role_body;
extern const struct ke_jspec srv_ep_users_password_body;
extern const struct ke_jspec srv_ep_users_person_body;
extern const struct ke_jspec srv_ep_users_email_body;
extern const struct ke_jspec srv_ep_users_scope_body;
/* hdev */
extern const struct ke_jspec srv_ep_enroll_body;
extern const struct ke_jspec srv_ep_device_keys_put_body;
extern const struct ke_jspec srv_ep_checkin_body;
extern const struct ke_jspec srv_ep_attest_body;
extern const struct ke_jspec srv_ep_client_key_put_body;
/* haud */
extern const struct ke_jspec srv_ep_audit_cosig_post_body;
/* hret2 */
extern const struct srv_qspec srv_ep_escrow_key_get_query;
extern const struct ke_jspec srv_ep_escrow_key_post_body;
extern const struct ke_jspec srv_ep_retrievals_create_body;
extern const struct srv_qspec srv_ep_retrievals_get_query;
extern const struct ke_jspec srv_ep_retrievals_parts_body;

#endif
