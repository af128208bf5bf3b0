/*
 * fuzz_srv_oidc_token.c - ID token verification (server/srv_oidc_token.c)
 * on hostile bytes.
 *
 * Input: a key set (JSON) and a token, separated by the first newline; a
 * second fixed key set (an RSA and an EC public key) is tried too.  Whatever
 * the input, verification must not crash, leak or overflow, must give
 * claims exactly when it says ok, and must never say ok for the fixed key
 * set: the fuzzer holds none of its private keys.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srv_oidc_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_jwks[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-1\","
                                 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
                                 "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed-1\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

static void one(const char *tok, const json_t *jwks, int must_refuse)
{
  struct srv_oidc_expect e = {"https://idp.example.test", "keyescrow", "n", 1765000000, 60, 0};
  json_t *claims = NULL;
  const char *why = NULL;
  enum srv_oidc_result r = srv_oidc_token_verify(tok, jwks, &e, &claims, &why);

  if (!why || (r == SRV_OIDC_OK) != (claims != NULL) || (must_refuse && r == SRV_OIDC_OK))
    abort();
  json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1), *nl;
  json_t *jwks, *fixed = json_loads(fixed_jwks, 0, NULL);

  if (!text || !fixed)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';
  nl = strchr(text, '\n');
  if (nl) {
    *nl = '\0';
    jwks = json_loads(text, 0, NULL);
    one(nl + 1, jwks, 0);
    one(nl + 1, fixed, 1);
    json_decref(jwks);
  } else {
    one(text, fixed, 1);
  }
  json_decref(fixed);
  free(text);
  return 0;
}
