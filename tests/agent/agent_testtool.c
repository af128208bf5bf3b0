/*
 * agent_testtool.c - helpers for the agent tests, built on the agent's own
 * signing code:
 *
 *   agent_testtool kat
 *       known-answer values (fixed seed, time, nonce, bodies) as JSON, for
 *       sign_kat.py to recompute with python3-cryptography
 *   agent_testtool sign STATE_DIR DEVICE METHOD TARGET [BODY_FILE]
 *       the X-KE-* header lines of a request signed with the device key in
 *       STATE_DIR as DEVICE (to replay requests, or aim them at another
 *       device's routes, from the end-to-end tests)
 *   agent_testtool put-body STATE_DIR DEVICE VOLUME ENVELOPE_FILE
 *       the JSON body of an escrow PUT for the envelope (base64url, as
 *       escrowctl seal writes it), its signature by the key in STATE_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_sign.h"

static int kat(void)
{
  uint8_t seed[AGENT_SEED_LEN], nonce[AGENT_NONCE_LEN], pub[AGENT_PUB_LEN], sig[AGENT_SIG_LEN],
    env[112];
  agent_key *k = NULL;
  agent_req_sig rs;
  const char *body = "{\"agent_version\":\"0.1.0\",\"volumes\":[]}";
  char hex[2 * sizeof env + 1];
  char *b;

  for (size_t i = 0; i < sizeof seed; i++)
    seed[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof nonce; i++)
    nonce[i] = (uint8_t)(0xA0 + i);
  for (size_t i = 0; i < sizeof env; i++)
    env[i] = (uint8_t)(i * 7 + 1);
  if (agent_key_from_seed(&k, seed) != KE_OK)
    return 1;
  agent_key_public(k, pub);
  b = ke_b64url_encode(pub, sizeof pub);
  printf("{\"seed\": \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\",\n"
         " \"public\": \"%s\",\n",
         b);
  free(b);
  if (agent_sign_request_det(&rs, k, "POST", "/v1/devices/dev-abcdefghijklmnopqrstuvwx23/checkin",
                             1714557072, nonce, (const uint8_t *)body, strlen(body)) != KE_OK)
    return 1;
  printf(" \"request\": {\"method\": \"POST\", \"target\": "
         "\"/v1/devices/dev-abcdefghijklmnopqrstuvwx23/checkin\", \"timestamp\": \"%s\", "
         "\"nonce\": \"%s\", \"body\": \"%s\", \"signature\": \"%s\"},\n",
         rs.timestamp, rs.nonce, "{\\\"agent_version\\\":\\\"0.1.0\\\",\\\"volumes\\\":[]}",
         rs.signature);
  if (agent_sign_request_det(&rs, k, "GET", "/v1/x?q=a%20b", 1, nonce, NULL, 0) != KE_OK)
    return 1;
  printf(" \"empty\": {\"method\": \"GET\", \"target\": \"/v1/x?q=a%%20b\", \"timestamp\": "
         "\"%s\", \"nonce\": \"%s\", \"signature\": \"%s\"},\n",
         rs.timestamp, rs.nonce, rs.signature);
  if (agent_sign_envelope(k, env, sizeof env, "dev-abcdefghijklmnopqrstuvwx23", "C:", sig) != KE_OK)
    return 1;
  ke_hex_encode(hex, env, sizeof env);
  b = ke_b64url_encode(sig, sizeof sig);
  printf(" \"envelope\": {\"bytes\": \"%s\", \"device\": \"dev-abcdefghijklmnopqrstuvwx23\", "
         "\"volume\": \"C:\", \"signature\": \"%s\"}}\n",
         hex, b);
  free(b);
  agent_key_free(k);
  return 0;
}

static int sign(int argc, char **argv)
{
  char path[4096];
  agent_key *k = NULL;
  ke_buf body = {0};
  agent_req_sig rs;

  if (argc < 6)
    return 2;
  snprintf(path, sizeof path, "%s/device.key", argv[2]);
  if (agent_key_load(&k, path) != KE_OK) {
    fprintf(stderr, "cannot load %s\n", path);
    return 1;
  }
  if (argc > 6 && agent_read_file(&body, argv[6], 1 << 20, 0, "body"))
    return 1;
  if (agent_sign_request(&rs, k, argv[4], argv[5], (const uint8_t *)body.p, body.len) != KE_OK)
    return 1;
  printf("X-KE-Device: %s\nX-KE-Timestamp: %s\nX-KE-Nonce: %s\nX-KE-Signature: %s\n", argv[3],
         rs.timestamp, rs.nonce, rs.signature);
  ke_buf_free(&body);
  agent_key_free(k);
  return 0;
}

static int put_body(int argc, char **argv)
{
  char path[4096];
  agent_key *k = NULL;
  ke_buf env = {0};
  uint8_t *raw = NULL, sig[AGENT_SIG_LEN], ver[32];
  size_t rawlen;
  char *sig_b64, *ver_b64;

  if (argc != 6)
    return 2;
  snprintf(path, sizeof path, "%s/device.key", argv[2]);
  if (agent_key_load(&k, path) != KE_OK || agent_read_file(&env, argv[5], 4096, 0, "envelope"))
    return 1;
  env.len = strcspn(env.p, "\r\n");
  env.p[env.len] = '\0';
  if (ke_b64url_decode(&raw, &rawlen, env.p, 0) != KE_OK ||
      agent_sign_envelope(k, raw, rawlen, argv[3], argv[4], sig) != KE_OK ||
      ke_random(ver, sizeof ver) != KE_OK)
    return 1;
  sig_b64 = ke_b64url_encode(sig, sizeof sig);
  ver_b64 = ke_b64url_encode(ver, sizeof ver);
  printf("{\"envelope\":\"%s\",\"verifier\":\"%s\",\"signature\":\"%s\",\"key_type\":"
         "\"other\",\"key_id\":\"test\"}",
         env.p, ver_b64, sig_b64);
  free(sig_b64);
  free(ver_b64);
  free(raw);
  ke_buf_free(&env);
  agent_key_free(k);
  return 0;
}

int main(int argc, char **argv)
{
  if (argc >= 2 && !strcmp(argv[1], "kat"))
    return kat();
  if (argc >= 2 && !strcmp(argv[1], "sign"))
    return sign(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "put-body"))
    return put_body(argc, argv);
  fprintf(stderr, "usage: agent_testtool kat | sign STATE_DIR DEVICE METHOD TARGET [BODY]\n");
  return 2;
}
