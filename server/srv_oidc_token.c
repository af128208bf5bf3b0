/*
 * srv_oidc_token.c - ID token verification (srv_oidc_token.h): the policy
 * is here, the signature arithmetic is jose's (RS256, ES256) and
 * OpenSSL's (EdDSA: jose 11 has no OKP keys).
 */
#include "srv_oidc_token.h"

#include <jose/jose.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "ke_util.h"

/* An ID token is a few KiB; anything far larger is not one. */
#define SRV_OIDC_TOKEN_MAX 16384

struct srv_oidc_alg {
  const char *alg, *kty, *crv; /* crv NULL: RSA */
};
static const struct srv_oidc_alg srv_oidc_algs[] = {
  {"RS256", "RSA", NULL},
  {"ES256", "EC", "P-256"},
  {"EdDSA", "OKP", "Ed25519"},
};

static const char *srv_oidc_names[] = {
  [SRV_OIDC_OK] = "ok",
  [SRV_OIDC_MALFORMED] = "malformed",
  [SRV_OIDC_ALG] = "algorithm_refused",
  [SRV_OIDC_KID_UNKNOWN] = "unknown_key",
  [SRV_OIDC_SIGNATURE] = "bad_signature",
  [SRV_OIDC_ISSUER] = "wrong_issuer",
  [SRV_OIDC_AUDIENCE] = "wrong_audience",
  [SRV_OIDC_EXPIRED] = "expired",
  [SRV_OIDC_NOT_YET_VALID] = "not_yet_valid",
  [SRV_OIDC_NONCE] = "nonce_mismatch",
};

const char *srv_oidc_result_name(enum srv_oidc_result r)
{
  return (unsigned)r < sizeof srv_oidc_names / sizeof *srv_oidc_names ? srv_oidc_names[r] : "?";
}

/* jose reports errors through its configuration; a refusal is ours to
 * report (audited, by name), so its messages are not printed. */
static void srv_oidc_jose_quiet(void *misc, const char *file, int line, uint64_t err,
                                const char *fmt, va_list ap)
{
  (void)misc, (void)file, (void)line, (void)err, (void)fmt, (void)ap;
}

/* The three parts, each non-empty base64url (the signature may not be
 * empty either: that is alg "none"). */
static int srv_oidc_split(const char *t, char *part[3])
{
  size_t n = strlen(t);
  const char *a = strchr(t, '.'), *b = a ? strchr(a + 1, '.') : NULL;

  if (n == 0 || n > SRV_OIDC_TOKEN_MAX || !b || strchr(b + 1, '.'))
    return -1;
  part[0] = strndup(t, (size_t)(a - t));
  part[1] = strndup(a + 1, (size_t)(b - a - 1));
  part[2] = strdup(b + 1);
  for (int i = 0; i < 3; i++)
    if (!part[i] || !part[i][0] || !ke_b64url_chars(part[i], strlen(part[i])))
      return -1;
  return 0;
}

static json_t *srv_oidc_b64_json(const char *s)
{
  json_t *in = json_string(s), *out = in ? jose_b64_dec_load(in) : NULL;

  json_decref(in);
  if (out && !json_is_object(out)) {
    json_decref(out);
    out = NULL;
  }
  return out;
}

static const struct srv_oidc_alg *srv_oidc_alg_allowed(const char *alg)
{
  for (size_t i = 0; alg && i < sizeof srv_oidc_algs / sizeof *srv_oidc_algs; i++)
    if (strcmp(alg, srv_oidc_algs[i].alg) == 0)
      return &srv_oidc_algs[i];
  return NULL;
}

static int srv_oidc_key_fits(const json_t *k, const struct srv_oidc_alg *a)
{
  const char *kty = json_string_value(json_object_get(k, "kty"));
  const char *crv = json_string_value(json_object_get(k, "crv"));
  const char *use = json_string_value(json_object_get(k, "use"));
  const char *kalg = json_string_value(json_object_get(k, "alg"));

  return kty && strcmp(kty, a->kty) == 0 && (!a->crv || (crv && strcmp(crv, a->crv) == 0)) &&
         (!use || strcmp(use, "sig") == 0) && (!kalg || strcmp(kalg, a->alg) == 0) &&
         !json_object_get(k, "d"); /* a private key in a JWKS is a misconfiguration */
}

/* The key the header names (by kid), or the only one that fits when it
 * names none.  A kid whose key does not fit the alg is not "unknown": it
 * is an attempt to use one key for another algorithm. */
static enum srv_oidc_result srv_oidc_pick(const json_t *jwks, const json_t *hdr,
                                          const struct srv_oidc_alg *a, const json_t **key)
{
  const json_t *kid = json_object_get(hdr, "kid"), *k;
  size_t i, fits = 0;

  *key = NULL;
  if (kid && !json_is_string(kid))
    return SRV_OIDC_MALFORMED;
  json_array_foreach (json_object_get(jwks, "keys"), i, k) {
    const char *kk = json_string_value(json_object_get(k, "kid"));
    if (kid && (!kk || strcmp(kk, json_string_value(kid)) != 0))
      continue;
    if (kid && !srv_oidc_key_fits(k, a))
      return SRV_OIDC_ALG;
    if (srv_oidc_key_fits(k, a)) {
      *key = k;
      fits++;
    }
  }
  if (fits == 1)
    return SRV_OIDC_OK;
  *key = NULL;
  return fits ? SRV_OIDC_MALFORMED : SRV_OIDC_KID_UNKNOWN;
}

static int srv_oidc_ed25519_ok(const json_t *key, char *part[3])
{
  uint8_t pub[32], sig[64], *p = NULL, *s = NULL;
  size_t pl = 0, sl = 0, n = strlen(part[0]) + 1 + strlen(part[1]);
  char *input = malloc(n + 1);
  int ok = 0;

  if (input &&
      ke_b64url_decode(&p, &pl, json_string_value(json_object_get(key, "x")) ?: "", 0) == KE_OK &&
      pl == 32 && ke_b64url_decode(&s, &sl, part[2], 0) == KE_OK && sl == 64) {
    memcpy(pub, p, 32);
    memcpy(sig, s, 64);
    snprintf(input, n + 1, "%s.%s", part[0], part[1]);
    ok = ke_ed25519_verify(pub, input, n, sig) == KE_OK;
  }
  free(input);
  free(p);
  free(s);
  return ok;
}

static int srv_oidc_signature_ok(const json_t *key, const struct srv_oidc_alg *a, char *part[3])
{
  jose_cfg_t *cfg;
  json_t *jws;
  int ok;

  if (strcmp(a->alg, "EdDSA") == 0)
    return srv_oidc_ed25519_ok(key, part);
  if (!(cfg = jose_cfg()))
    return 0;
  jose_cfg_set_err_func(cfg, srv_oidc_jose_quiet, NULL);
  jws = json_pack("{s:s,s:s,s:s}", "protected", part[0], "payload", part[1], "signature", part[2]);
  ok = jws && jose_jws_ver(cfg, jws, NULL, key, false);
  json_decref(jws);
  jose_cfg_decref(cfg);
  return ok;
}

static int srv_oidc_time(const json_t *c, const char *name, json_int_t *out)
{
  const json_t *v = json_object_get(c, name);

  if (json_is_integer(v) && json_integer_value(v) > -1000000000000000LL &&
      json_integer_value(v) < 1000000000000000LL)
    *out = json_integer_value(v);
  else if (json_is_real(v) && json_real_value(v) > -1e15 && json_real_value(v) < 1e15)
    *out = (json_int_t)json_real_value(v);
  else
    return v ? -1 : 0;
  return 1;
}

static int srv_oidc_str_eq(const char *a, const char *b)
{
  size_t n = strlen(b);
  return a && strlen(a) == n && CRYPTO_memcmp(a, b, n) == 0;
}

/* The claims of section 3.1.3.7 (steps 2 to 11 that apply to us). */
static enum srv_oidc_result srv_oidc_claims_ok(const json_t *c, const struct srv_oidc_expect *e,
                                               const char **why)
{
  const json_t *aud = json_object_get(c, "aud"), *v;
  const char *azp = json_string_value(json_object_get(c, "azp"));
  json_int_t exp, nbf, iat, now = (json_int_t)e->now, skew = e->skew;
  int has_nbf, in_aud = 0;
  size_t i;

  if (!srv_oidc_str_eq(json_string_value(json_object_get(c, "iss")), e->issuer))
    return *why = "the token's issuer is not the configured identity provider", SRV_OIDC_ISSUER;
  if (json_is_string(aud))
    in_aud = strcmp(json_string_value(aud), e->client_id) == 0;
  json_array_foreach (aud, i, v)
    in_aud |= json_is_string(v) && strcmp(json_string_value(v), e->client_id) == 0;
  if (!in_aud || (json_is_array(aud) && json_array_size(aud) > 1 && !azp) ||
      (json_object_get(c, "azp") && !srv_oidc_str_eq(azp, e->client_id)))
    return *why = "the token is not for this client (aud, azp)", SRV_OIDC_AUDIENCE;
  if (srv_oidc_time(c, "exp", &exp) != 1 || srv_oidc_time(c, "iat", &iat) != 1 ||
      (has_nbf = srv_oidc_time(c, "nbf", &nbf)) < 0)
    return *why = "the token lacks a numeric exp or iat", SRV_OIDC_MALFORMED;
  if (exp + skew <= now)
    return *why = "the token has expired", SRV_OIDC_EXPIRED;
  if ((has_nbf && nbf > now + skew) || iat > now + skew)
    return *why = "the token is not valid yet (nbf, iat)", SRV_OIDC_NOT_YET_VALID;
  if (e->max_age && iat + (json_int_t)e->max_age + skew < now)
    return *why = "the token was issued too long ago", SRV_OIDC_EXPIRED;
  if (!json_is_string(json_object_get(c, "sub")) || !json_string_length(json_object_get(c, "sub")))
    return *why = "the token has no subject", SRV_OIDC_MALFORMED;
  if (e->nonce && !srv_oidc_str_eq(json_string_value(json_object_get(c, "nonce")), e->nonce))
    return *why = "the token's nonce is not this login's", SRV_OIDC_NONCE;
  return SRV_OIDC_OK;
}

enum srv_oidc_result srv_oidc_token_verify(const char *compact, const json_t *jwks,
                                           const struct srv_oidc_expect *e, json_t **claims,
                                           const char **why)
{
  char *part[3] = {0};
  json_t *hdr = NULL, *payload = NULL;
  const struct srv_oidc_alg *a;
  const json_t *key;
  enum srv_oidc_result r = SRV_OIDC_MALFORMED;

  *claims = NULL;
  *why = "the token is not a compact JWS with JSON header and claims";
  if (!compact || srv_oidc_split(compact, part) != 0 || !(hdr = srv_oidc_b64_json(part[0])) ||
      !(payload = srv_oidc_b64_json(part[1])))
    goto out;
  if (json_object_get(hdr, "crit")) {
    *why = "the token's header has critical extensions";
    goto out;
  }
  if (!(a = srv_oidc_alg_allowed(json_string_value(json_object_get(hdr, "alg"))))) {
    *why = "the token's algorithm is not allowed (RS256, ES256, EdDSA only)";
    r = SRV_OIDC_ALG;
    goto out;
  }
  if ((r = srv_oidc_pick(jwks, hdr, a, &key)) != SRV_OIDC_OK) {
    *why = r == SRV_OIDC_KID_UNKNOWN ? "no key of the identity provider's key set signed it"
           : r == SRV_OIDC_ALG       ? "the key the token names is not one for its algorithm"
                                     : "the token's key is ambiguous or malformed";
    goto out;
  }
  if (!srv_oidc_signature_ok(key, a, part)) {
    *why = "the token's signature does not verify";
    r = SRV_OIDC_SIGNATURE;
    goto out;
  }
  if ((r = srv_oidc_claims_ok(payload, e, why)) == SRV_OIDC_OK) {
    *claims = payload;
    payload = NULL;
    *why = "ok";
  }
out:
  json_decref(hdr);
  json_decref(payload);
  for (int i = 0; i < 3; i++)
    free(part[i]);
  return r;
}
