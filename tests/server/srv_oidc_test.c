/*
 * srv_oidc_test.c - ID token verification (server/srv_oidc_token.h) with
 * tokens built by jose (RS256, ES256, HS256) and OpenSSL (EdDSA): valid
 * ones pass, and each forgery or stale token is refused with its own
 * result: alg none, HS256 keyed with the RSA public key, a key of another
 * type, wrong aud/iss/azp, expired, not yet valid, a bad signature, a
 * wrong or missing nonce, a kid not in the key set, critical headers and
 * malformed text.
 */
#include <jose/jose.h>
#include <openssl/evp.h>
#include <string.h>
#include <time.h>

#include "ke_test.h"
#include "ke_util.h"
#include "srv_oidc_token.h"

#define ISS "https://idp.example.test/api/oidc"
#define CLIENT "keyescrow"
#define NONCE "n-0S6_WzA2Mj"

static time_t now;
static json_t *rsa, *ec, *jwks;
static uint8_t ed_priv[32], ed_pub[32];

/* base64url of j's JSON text; takes the reference. */
static char *b64j(json_t *j)
{
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  char *b = s ? ke_b64url_encode((const uint8_t *)s, strlen(s)) : NULL;
  free(s);
  json_decref(j);
  return b;
}

static json_t *claims(void)
{
  return json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:[s]}", "iss", ISS, "sub", "carol-sub", "aud", CLIENT,
                   "exp", (json_int_t)now + 300, "iat", (json_int_t)now - 5, "nonce", NONCE, "amr",
                   "otp");
}

/* A compact JWS by jose, of header hdr (its alg decides) with key. */
static char *sign_jose(json_t *hdr, json_t *payload, const json_t *key)
{
  char *p = b64j(payload), *out = NULL;
  json_t *jws = json_pack("{s:s}", "payload", p);
  json_t *sig = json_pack("{s:O}", "protected", hdr);

  if (jose_jws_sig(NULL, jws, sig, key)) {
    const char *h = json_string_value(json_object_get(jws, "protected"));
    const char *s = json_string_value(json_object_get(jws, "signature"));
    size_t n = strlen(h) + strlen(p) + strlen(s) + 3;
    out = malloc(n);
    snprintf(out, n, "%s.%s.%s", h, p, s);
  }
  free(p);
  json_decref(jws);
  json_decref(sig);
  json_decref(hdr);
  return out;
}

/* EdDSA by OpenSSL (jose 11 has no OKP). */
static char *sign_ed(json_t *hdr, json_t *payload)
{
  char *h = b64j(hdr), *p = b64j(payload), *s = NULL, *out;
  size_t n = strlen(h) + strlen(p) + 2, siglen = 64;
  char *input = malloc(n);
  uint8_t sig[64];
  EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, ed_priv, 32);
  EVP_MD_CTX *c = EVP_MD_CTX_new();

  snprintf(input, n, "%s.%s", h, p);
  if (k && c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
      EVP_DigestSign(c, sig, &siglen, (const uint8_t *)input, n - 1) == 1)
    s = ke_b64url_encode(sig, 64);
  n = n + (s ? strlen(s) : 0) + 2;
  out = malloc(n);
  snprintf(out, n, "%s.%s", input, s ? s : "");
  EVP_MD_CTX_free(c);
  EVP_PKEY_free(k);
  free(input);
  free(h);
  free(p);
  free(s);
  return out;
}

static json_t *gen(const char *alg, const char *kid)
{
  json_t *k = json_pack("{s:s}", "alg", alg);
  REQUIRE(k && jose_jwk_gen(NULL, k));
  json_object_set_new(k, "kid", json_string(kid));
  return k;
}

static json_t *pub_of(const json_t *k)
{
  json_t *p = json_deep_copy(k);
  REQUIRE(p && jose_jwk_pub(NULL, p));
  json_object_set_new(p, "use", json_string("sig"));
  return p;
}

static void setup(void)
{
  EVP_PKEY *k = NULL;
  size_t n = 32;
  char *x;

  now = time(NULL);
  rsa = gen("RS256", "rsa-1");
  ec = gen("ES256", "ec-1");
  {
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    REQUIRE(c && EVP_PKEY_keygen_init(c) == 1 && EVP_PKEY_keygen(c, &k) == 1);
    EVP_PKEY_CTX_free(c);
  }
  REQUIRE(EVP_PKEY_get_raw_private_key(k, ed_priv, &n) == 1 && n == 32);
  n = 32;
  REQUIRE(EVP_PKEY_get_raw_public_key(k, ed_pub, &n) == 1 && n == 32);
  EVP_PKEY_free(k);
  x = ke_b64url_encode(ed_pub, 32);
  jwks = json_pack("{s:[o,o,{s:s,s:s,s:s,s:s}]}", "keys", pub_of(rsa), pub_of(ec), "kty", "OKP",
                   "crv", "Ed25519", "kid", "ed-1", "x", x);
  free(x);
  REQUIRE(jwks);
}

static enum srv_oidc_result verify_n(char *tok, const char *nonce)
{
  struct srv_oidc_expect e = {ISS, CLIENT, nonce, now, 60, 0};
  json_t *c = NULL;
  const char *why = NULL;
  enum srv_oidc_result r = srv_oidc_token_verify(tok, jwks, &e, &c, &why);

  CHECK(why != NULL && (r == SRV_OIDC_OK) == (c != NULL), "claims iff ok (%s)", why ? why : "?");
  if (c)
    CHECK(strcmp(json_string_value(json_object_get(c, "sub")) ?: "", "carol-sub") == 0);
  json_decref(c);
  free(tok);
  return r;
}
static enum srv_oidc_result verify(char *tok) { return verify_n(tok, NONCE); }

#define HDR(alg, kid) json_pack("{s:s,s:s}", "alg", alg, "kid", kid)
#define EXPECT(r, want)                                                          \
  do {                                                                           \
    enum srv_oidc_result got_ = (r);                                             \
    CHECK(got_ == (want), "%s: got %s, want %s", #r, srv_oidc_result_name(got_), \
          srv_oidc_result_name(want));                                           \
  } while (0)

static json_t *with(json_t *c, const char *k, json_t *v)
{
  json_object_set_new(c, k, v);
  return c;
}

static void valid_tokens(void)
{
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), claims(), rsa)), SRV_OIDC_OK);
  EXPECT(verify(sign_jose(HDR("ES256", "ec-1"), claims(), ec)), SRV_OIDC_OK);
  EXPECT(verify(sign_ed(HDR("EdDSA", "ed-1"), claims())), SRV_OIDC_OK);
  /* no kid: the only key of the alg's type */
  EXPECT(verify(sign_jose(json_pack("{s:s}", "alg", "ES256"), claims(), ec)), SRV_OIDC_OK);
  /* aud as an array with azp naming us */
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(with(claims(), "aud", json_pack("[s,s]", CLIENT, "other")), "azp",
                               json_string(CLIENT)),
                          rsa)),
         SRV_OIDC_OK);
  /* expired 30 s ago: within the 60 s skew */
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(claims(), "exp", json_integer((json_int_t)now - 30)), rsa)),
         SRV_OIDC_OK);
  /* the device grant: no nonce expected */
  EXPECT(
    verify_n(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "nonce", json_null()), rsa), NULL),
    SRV_OIDC_OK);
}

static void forged_tokens(void)
{
  char *t, *h, *p;

  /* alg none: an empty signature, or any signature */
  h = b64j(json_pack("{s:s}", "alg", "none"));
  p = b64j(claims());
  size_t n = strlen(h) + strlen(p) + 8;
  t = malloc(n);
  snprintf(t, n, "%s.%s.", h, p);
  EXPECT(verify(t), SRV_OIDC_MALFORMED);
  t = malloc(n);
  snprintf(t, n, "%s.%s.AAAA", h, p);
  EXPECT(verify(t), SRV_OIDC_ALG);
  free(h);
  free(p);
  /* HS256 keyed with the RSA public key's JSON (the classic confusion),
   * naming the RSA key's kid, and naming none */
  {
    json_t *pub = pub_of(rsa);
    char *pubtxt = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    char *k64 = ke_b64url_encode((const uint8_t *)pubtxt, strlen(pubtxt));
    json_t *oct = json_pack("{s:s,s:s,s:s}", "kty", "oct", "k", k64, "alg", "HS256");
    EXPECT(verify(sign_jose(HDR("HS256", "rsa-1"), claims(), oct)), SRV_OIDC_ALG);
    EXPECT(verify(sign_jose(json_pack("{s:s}", "alg", "HS256"), claims(), oct)), SRV_OIDC_ALG);
    json_decref(oct);
    json_decref(pub);
    free(k64);
    free(pubtxt);
  }
  /* an ES256 signature presented as the RSA key's, and the other way */
  EXPECT(verify(sign_jose(HDR("ES256", "rsa-1"), claims(), ec)), SRV_OIDC_ALG);
  EXPECT(verify(sign_jose(HDR("RS256", "ec-1"), claims(), rsa)), SRV_OIDC_ALG);
  /* a key the IdP does not publish */
  {
    json_t *other = gen("RS256", "rsa-2");
    EXPECT(verify(sign_jose(HDR("RS256", "rsa-2"), claims(), other)), SRV_OIDC_KID_UNKNOWN);
    /* ... claiming the published kid: the signature does not verify */
    EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), claims(), other)), SRV_OIDC_SIGNATURE);
    json_decref(other);
  }
  /* a flipped signature byte */
  t = sign_jose(HDR("RS256", "rsa-1"), claims(), rsa);
  t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
  EXPECT(verify(t), SRV_OIDC_SIGNATURE);
  t = sign_ed(HDR("EdDSA", "ed-1"), claims());
  t[strlen(t) - 5] = t[strlen(t) - 5] == 'A' ? 'B' : 'A';
  EXPECT(verify(t), SRV_OIDC_SIGNATURE);
  /* critical header extensions */
  EXPECT(verify(sign_jose(
           json_pack("{s:s,s:s,s:[s],s:b}", "alg", "RS256", "kid", "rsa-1", "crit", "x", "x", 1),
           claims(), rsa)),
         SRV_OIDC_MALFORMED);
}

static void stale_or_foreign(void)
{
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "aud", json_string("other")), rsa)),
         SRV_OIDC_AUDIENCE);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(claims(), "aud", json_pack("[s,s]", CLIENT, "other")), rsa)),
         SRV_OIDC_AUDIENCE); /* several audiences, no azp */
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "azp", json_string("other")), rsa)),
         SRV_OIDC_AUDIENCE);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(claims(), "iss", json_string("https://evil.example.test")), rsa)),
         SRV_OIDC_ISSUER);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "iss", json_string(ISS "/")), rsa)),
         SRV_OIDC_ISSUER);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(claims(), "exp", json_integer((json_int_t)now - 61)), rsa)),
         SRV_OIDC_EXPIRED);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(claims(), "nbf", json_integer((json_int_t)now + 120)), rsa)),
         SRV_OIDC_NOT_YET_VALID);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"),
                          with(claims(), "iat", json_integer((json_int_t)now + 120)), rsa)),
         SRV_OIDC_NOT_YET_VALID);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "exp", json_string("soon")), rsa)),
         SRV_OIDC_MALFORMED);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "sub", json_string("")), rsa)),
         SRV_OIDC_MALFORMED);
  /* another login's nonce (a replay), and none at all */
  EXPECT(
    verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "nonce", json_string("n-other")), rsa)),
    SRV_OIDC_NONCE);
  EXPECT(verify(sign_jose(HDR("RS256", "rsa-1"), with(claims(), "nonce", json_null()), rsa)),
         SRV_OIDC_NONCE);
}

static void malformed(void)
{
  static const char *bad[] = {"",           "abc",     "a.b",      "a..c",         ".b.c",
                              "a.b.c.d",    "a.b.c d", "e30.e30.", "W10.e30.AAAA", "e30.W10.AAAA",
                              "!!.e30.AAAA"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    EXPECT(verify(strdup(bad[i])), SRV_OIDC_MALFORMED);
  /* e30 is "{}": a header without alg */
  EXPECT(verify(strdup("e30.e30.AAAA")), SRV_OIDC_ALG);
  char *big = malloc(20000);
  memset(big, 'A', 19999);
  big[19999] = '\0';
  big[10] = big[20] = '.';
  EXPECT(verify(big), SRV_OIDC_MALFORMED);
  CHECK(srv_oidc_token_verify(NULL, jwks, &(struct srv_oidc_expect){ISS, CLIENT, NULL, now, 0, 0},
                              &(json_t *){NULL}, &(const char *){NULL}) == SRV_OIDC_MALFORMED);
}

int main(void)
{
  setup();
  valid_tokens();
  forged_tokens();
  stale_or_foreign();
  malformed();
  json_decref(rsa);
  json_decref(ec);
  json_decref(jwks);
  return ke_test_result("srv_oidc_test");
}
