/*
 * srv_oidc_login.h - from a verified ID token to a session: the steps the
 * console's login (srv_ep_oidc.c) and `escrowctl login --sso`
 * (srv_ep_oidc_device.c) share.
 *
 *   judge     the claims map to a role (oidc_role_map) and carry the MFA
 *             that role needs (oidc_mfa_*): else the login is refused and
 *             audited with the subject and its amr/acr
 *   account   in the caller's transaction: the identity's account, found
 *             by (issuer, subject) and locked, its role brought in line
 *             with the claims (audited `user.role`, source "oidc"), or made
 *             at the first login (`user.create`); a disabled account, or a
 *             custodian index another account holds, refuses the login.
 *             An identity whose claims no longer map to any role loses its
 *             sessions and the API tokens it made, here too
 *   session   in the caller's transaction: a session token no longer-lived
 *             than the ID token (nor than session_lifetime), audited
 *             `auth.login` with method "oidc", the subject, amr and acr
 */
#ifndef SRV_OIDC_LOGIN_H
#define SRV_OIDC_LOGIN_H

#include <jansson.h>

#include "srv_account.h"
#include "srv_db.h"
#include "srv_ep.h"
#include "srv_oidc_map.h"

struct srv_oidc_identity {
  const json_t *claims; /* verified (borrowed) */
  const char *issuer, *subject;
  struct srv_oidc_grant grant;
  int mapped; /* a role maps */
  char person[SRV_OIDC_PERSON_LEN + 1];
  unsigned lifetime; /* of the session, seconds */
  json_t *details;   /* the audit details (owned): subject, amr, acr, claim value */
  /* the account, once found or made */
  long long user_id;
  char name[64], role[16];
  int custodian_index;
};

/* Fill id from verified claims.  0 when the login may go on; otherwise
 * the error to refuse with (SRV_ERR_SSO_REFUSED: no role maps;
 * SRV_ERR_MFA_REQUIRED), with a reason for the audit in *why.  Free with
 * srv_oidc_identity_free. */
int srv_oidc_judge(struct srv_oidc_identity *id, const json_t *claims, const char **why);
void srv_oidc_identity_free(struct srv_oidc_identity *id);

/* The account (see above), in the caller's transaction. */
enum srv_db_status srv_oidc_account(struct srv_db *db, struct srv_request *req,
                                    struct srv_oidc_identity *id, struct srv_ep_fail *fail);

/* An identity that may not log in (no role, MFA missing, disabled): the
 * refusal in a transaction of its own, with its sessions and tokens
 * revoked when it has an account and no role maps any more. */
void srv_oidc_refuse(struct srv_request *req, struct srv_oidc_identity *id, const char *reason);

/* A login that got no verified identity (the IdP refused the code, the
 * token did not verify, a handoff came with another tab's binding):
 * audited in a transaction of its own, with the reason and a detail that
 * holds no token material.  Only for logins that were real (a state, a
 * handoff or a device handle this server made): anonymous garbage is
 * logged, not audited, so that nobody can flood the audit log. */
void srv_oidc_refuse_token(struct srv_request *req, const char *reason, const char *detail);

/* A session for the account of id (user_id set), in the caller's
 * transaction.  token gets the bearer token, *expires its expiry. */
enum srv_db_status srv_oidc_session(struct srv_db *db, struct srv_request *req, long long user_id,
                                    unsigned lifetime, const json_t *details,
                                    char token[SRV_TOKEN_TEXT_MAX + 1], char expires[40]);

/* The answer of a login (as POST /v1/login's): token, expiry, role, user,
 * custodian_index.  Wipes token. */
json_t *srv_oidc_login_answer(char token[SRV_TOKEN_TEXT_MAX + 1], const char *expires,
                              unsigned lifetime, const char *role, const char *name,
                              int custodian_index);

#endif
