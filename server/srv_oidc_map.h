/*
 * srv_oidc_map.h - who an ID token's holder is here: the role its claims
 * map to (oidc_role_map), whether that role's MFA rule holds (oidc_mfa_*),
 * the account name and person id a first login gets, and which local
 * accounts may still log in with a password (local_login_*).
 *
 * Pure functions of the configuration and the claims: no database, so
 * that the rules are tested by themselves (server.unit).
 */
#ifndef SRV_OIDC_MAP_H
#define SRV_OIDC_MAP_H

#include <jansson.h>
#include <stddef.h>

#include "srv_config.h"

/* Parse the keys.  0, or -1 with the reason in err. */
int srv_oidc_map_init(const struct srv_config *cfg, char *err, size_t errlen);
void srv_oidc_map_free(void);

struct srv_oidc_grant {
  char role[16];
  int custodian_index; /* custodian only */
  char scope[2200];    /* device-group patterns "a,b" ("" = every group) */
  char matched[128];   /* the claim value that granted it (audit) */
};
/* The first oidc_role_map entry one of whose claim values the token
 * carries: 0 with *g filled, or -1 when none maps (no login). */
int srv_oidc_map_role(const json_t *claims, struct srv_oidc_grant *g);

/* Does the token show the MFA the role needs (an amr value or the acr
 * named by the configuration)?  1 also when the role needs none. */
int srv_oidc_map_mfa_ok(const json_t *claims, const char *role);

/* The person of an SSO identity: "oidc:" and 40 hex digits of
 * SHA-256(issuer || 0x00 || subject). */
#define SRV_OIDC_PERSON_LEN 45
void srv_oidc_person(char out[SRV_OIDC_PERSON_LEN + 1], const char *issuer, const char *subject);

/* The account name a first login tries (`attempt` 0: from
 * preferred_username, else the e-mail's local part, made to fit the name
 * rule; after a collision, that name with the person's first hex digits). */
void srv_oidc_account_name(char out[64], const json_t *claims, const char *person, int attempt);

/* May the local account `name` of `role` log in with a password? */
int srv_local_login_allowed(const char *name, const char *role);

#endif
