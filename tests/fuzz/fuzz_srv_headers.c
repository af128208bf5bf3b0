/*
 * fuzz_srv_headers.c - the signature headers of an agent request
 * (X-KE-Device, X-KE-Timestamp, X-KE-Nonce, X-KE-Signature) and the signed
 * message built from them (server/srv_device_auth.c), on hostile bytes.
 *
 * Input: six fields separated by newlines - the four headers, the method
 * and the path - then the body.  A missing field is an absent header.
 * Whatever the input, parsing must not crash, leak or overflow; headers it
 * accepts must keep the promises the verifier relies on (a decimal
 * timestamp within its length, a nonce of the exact encoded length), and
 * the message built from them must be exactly the protocol's six lines.
 * The signature check then runs on it and must refuse (no key signed it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "srv_device.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const uint8_t pub[SRV_DEV_PUB_LEN] = {
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};
  char *text = malloc(size + 1), *f[6] = {0}, *p, *msg;
  struct srv_dev_sig s;
  uint8_t h[32];
  size_t n = 0, mlen = 0, lines = 0;

  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  p = text;
  for (; n < 6 && p; n++) {
    char *nl = strchr(p, '\n');
    f[n] = p;
    p = nl ? (*nl = '\0', nl + 1) : NULL;
  }
  if (srv_device_headers_parse(f[0], f[1], f[2], f[3], &s) == NULL) {
    size_t tl = strlen(s.ts_text);
    if (tl < 1 || tl > SRV_DEV_TS_MAX || strspn(s.ts_text, "0123456789") != tl ||
        strlen(s.nonce) != SRV_DEV_NONCE_B64)
      abort();
    EVP_Digest(p ? p : "", p ? strlen(p) : 0, h, NULL, EVP_sha256(), NULL);
    msg = srv_device_signed_message(f[4] ? f[4] : "GET", f[5] ? f[5] : "/", &s, h, &mlen);
    if (msg) {
      for (size_t i = 0; i < mlen; i++)
        lines += msg[i] == '\n';
      if (mlen == 0 || msg[mlen - 1] != '\n' || lines < 6)
        abort();
      if (srv_device_ed25519_ok(pub, (const uint8_t *)msg, mlen, s.sig))
        abort(); /* a signature nobody made verified */
      free(msg);
    }
  }
  free(text);
  return 0;
}
