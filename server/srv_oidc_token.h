/*
 * srv_oidc_token.h - is this ID token one our identity provider issued, for
 * us, for this login?  (OpenID Connect Core 1.0, section 3.1.3.7.)
 *
 * The JWS signature is checked by latchset's jose (RS256, ES256) or, for
 * EdDSA, which jose 11 does not know, by OpenSSL's Ed25519: never by code
 * of ours.  What is ours is the policy around it, in this order, each step
 * with its own result so that a refusal can be audited by name:
 *
 *   shape      three base64url parts; a JSON header and payload objects
 *   alg        the header's alg is on the allow-list (RS256, ES256,
 *              EdDSA): never "none", never HS* (a public key is no secret)
 *   kid        the JWKS has exactly the key the header names (or its only
 *              key of the alg's type when the header names none), and that
 *              key's type fits the alg: an RSA key never verifies an
 *              EC or HMAC signature, whatever the header says
 *   signature  verifies with that key
 *   iss, aud, azp, exp, nbf, iat, nonce
 *              as the login expects, with `skew` seconds of leeway for
 *              clocks; aud may be an array holding client_id, and then azp
 *              must be client_id
 *
 * SRV_OIDC_KID_UNKNOWN is the one result that may improve with a fresh
 * JWKS (the IdP rotated its keys): srv_oidc.c refetches, rate-limited, and
 * asks again.
 */
#ifndef SRV_OIDC_TOKEN_H
#define SRV_OIDC_TOKEN_H

#include <jansson.h>
#include <time.h>

enum srv_oidc_result {
  SRV_OIDC_OK = 0,
  SRV_OIDC_MALFORMED,
  SRV_OIDC_ALG,
  SRV_OIDC_KID_UNKNOWN,
  SRV_OIDC_SIGNATURE,
  SRV_OIDC_ISSUER,
  SRV_OIDC_AUDIENCE,
  SRV_OIDC_EXPIRED,
  SRV_OIDC_NOT_YET_VALID,
  SRV_OIDC_NONCE,
};

/* What the login expects of the token. */
struct srv_oidc_expect {
  const char *issuer;    /* exactly, as discovered */
  const char *client_id; /* our client: in aud, and azp when aud has several */
  const char *nonce;     /* the login's nonce; NULL: not looked at (the device grant,
                          * whose token comes straight from the token endpoint) */
  time_t now;
  unsigned skew;    /* seconds of leeway for exp, nbf and iat */
  unsigned max_age; /* an iat older than this (plus skew) is refused; 0: no limit */
};

/* Verify `compact` (header.payload.signature) with the key set `jwks`
 * ({"keys": [...]}).  On SRV_OIDC_OK, *claims (a new reference) is the
 * payload; otherwise *claims is NULL.  A short reason, for the audit log
 * and never with token material, is in *why (static). */
enum srv_oidc_result srv_oidc_token_verify(const char *compact, const json_t *jwks,
                                           const struct srv_oidc_expect *e, json_t **claims,
                                           const char **why);

/* The result's name, as the audit log and the error reply give it. */
const char *srv_oidc_result_name(enum srv_oidc_result r);

#endif
