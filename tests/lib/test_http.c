/*
 * test_http.c - ke_http_pin_parse: the --pin-sha256 syntax of escrowctl,
 * escrow-agent and any future client, and the libcurl form it yields.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_http.h"
#include "ke_test.h"

/* SHA-256 digests in base64: 44 characters with one '='. */
#define P1 "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define P2 "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="

static void parses(const char *in, const char *want)
{
  char *out = NULL;
  CHECK_RC(ke_http_pin_parse(in, &out), KE_OK);
  CHECK(out && strcmp(out, want) == 0);
  if (out && strcmp(out, want) != 0)
    fprintf(stderr, "  %s -> %s, expected %s\n", in, out, want);
  free(out);
}

static void refused(const char *in)
{
  char *out = (char *)"x";
  CHECK_RC(ke_http_pin_parse(in, &out), KE_ERR_FORMAT);
  CHECK(out == NULL);
}

int main(void)
{
  char many[17 * 46 + 1] = "";

  parses(P1, "sha256//" P1);
  parses("sha256//" P1, "sha256//" P1);
  parses(P1 ";sha256//" P2, "sha256//" P1 ";sha256//" P2);
  refused(NULL);
  refused("");
  refused(";");
  refused(P1 ";"); /* a pin must follow ';' */
  refused(";" P1);
  refused(P1 ";;" P2);
  refused("sha1//" P1);
  refused("sha256//");
  refused("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");  /* no padding */
  refused("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="); /* base64url */
  refused("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV="); /* not canonical */
  refused("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
          "A");                                        /* too long */
  refused("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); /* 30 bytes */
  refused(P1 " ");
  refused(" " P1);
  for (int i = 0; i < KE_HTTP_MAX_PINS; i++)
    strcat(strcat(many, i ? ";" : ""), P1);
  {
    char *out = NULL;
    CHECK_RC(ke_http_pin_parse(many, &out), KE_OK);
    free(out);
  }
  strcat(strcat(many, ";"), P2);
  refused(many); /* one pin too many */
  return ke_test_result("test_http");
}
