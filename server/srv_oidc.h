/*
 * srv_oidc.h - escrowd as an OpenID Connect relying party: the identity
 * provider it trusts, as configured (oidc_* keys) and as discovered.
 *
 * At start, and every oidc_refresh_interval after, a thread reads the
 * issuer's /.well-known/openid-configuration (its "issuer" must be the
 * configured one, character for character) and its JWKS, over HTTPS with
 * libcurl (lib/ke_http.h: peer and host verified, oidc_ca_file pinned if
 * set).  An ID token signed by a key id the cached set lacks re-reads the
 * set, at most once per oidc_jwks_min_interval, so that a key rotation at
 * the IdP costs one fetch and a flood of made-up key ids costs nothing.  Until the first
 * read succeeds SSO answers 503 sso_unavailable; local login is unaffected.
 *
 * The endpoints (srv_ep_oidc*.c) and the account mapping (srv_oidc_map.c)
 * use what is here; nothing here touches the database.
 */
#ifndef SRV_OIDC_H
#define SRV_OIDC_H

#include <jansson.h>
#include <stddef.h>

#include "srv_config.h"
#include "srv_http.h"
#include "srv_oidc_token.h"

/* Read the oidc_* and local_login_* keys (srv_oidc_map.h too); start the
 * refresher when oidc_issuer is set.  0, or -1 (logged) for a
 * configuration error.  Stop is idempotent. */
int srv_oidc_start(const struct srv_config *cfg);
void srv_oidc_stop(void);

/* Is SSO configured?  Is the provider's metadata at hand? */
int srv_oidc_configured(void);
int srv_oidc_ready(void);

/* The provider's endpoints (copied; "" when it has none of that kind: a
 * provider without a device authorization endpoint cannot serve
 * `escrowctl login --sso`).  0, or -1 when not ready. */
struct srv_oidc_endpoints {
  char authorization[1024], token[1024], device[1024];
};
int srv_oidc_endpoints(struct srv_oidc_endpoints *e);

/* What the console's login needs of the configuration. */
const char *srv_oidc_client_id(void);
const char *srv_oidc_redirect_uri(void);
const char *srv_oidc_scopes(void);
const char *srv_oidc_issuer(void);

/* Verify an ID token with the cached key set (re-read once on an unknown
 * key id, rate-limited), for `nonce` (NULL: none expected). */
enum srv_oidc_result srv_oidc_verify(const char *id_token, const char *nonce, json_t **claims,
                                     const char **why);

/* POST a form (already encoded: "k=v&k=v") to the token endpoint
 * (`device` = 0) or the device authorization endpoint (1), with the client's
 * credentials.  0 with *status and *answer (a JSON object, new reference,
 * or NULL when the body is not one); -1 on a transport failure. */
int srv_oidc_post(int device, const char *form, long *status, json_t **answer);

/* An unauthenticated SSO call from this request's source may go on: 1,
 * or 0 with a 429 too_many_attempts (Retry-After) already answered in
 * *ret.  `device`: the device-flow start (it calls the IdP: 10 a minute),
 * else a console start (60 a minute). */
int srv_oidc_source_ok(struct srv_request *req, int device, enum MHD_Result *ret);

/* SHA-256 of a login secret (a state, handoff, binding or handle) as a
 * bytea parameter ("\\x" + hex): the only form in which they are stored.
 * 0 or -1. */
int srv_oidc_hash_param(const char *secret, char hash_param[2 * 32 + 3]);

/* "k=v" with v form-encoded, appended to the growable buffer (a string to
 * realloc: *buf may be NULL).  0 or -1. */
int srv_oidc_form_add(char **buf, const char *key, const char *value);

#endif
