/*
 * fuzz_b64url.c - the strict base64url and hex codecs.
 *
 * Properties checked: decoding never crashes; whatever decodes re-encodes
 * to exactly the input (no second spelling of any value is accepted); and
 * arbitrary bytes survive encode -> decode unchanged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ke_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';

  for (int secure = 0; secure <= 1; secure++) {
    uint8_t *out = NULL;
    size_t len = 0;
    if (ke_b64url_decode(&out, &len, s, secure) == KE_OK) {
      char *again = ke_b64url_encode(out, len);
      if (!again || strcmp(again, s) != 0)
        abort();
      free(again);
      uint8_t *fixed = malloc(len ? len : 1);
      if (!fixed || ke_b64url_decode_fixed(fixed, len, s) != KE_OK || memcmp(fixed, out, len))
        abort();
      free(fixed);
    } else if (out || len) {
      abort();
    }
    if (secure)
      ke_secure_free(out, len);
    else
      free(out);
  }

  uint8_t *hb = NULL;
  size_t hl = 0;
  if (ke_hex_decode_alloc(&hb, &hl, s) == KE_OK) {
    char *again = malloc(2 * hl + 1);
    if (!again)
      abort();
    ke_hex_encode(again, hb, hl);
    if (strcasecmp(again, s) != 0)
      abort();
    free(again);
    free(hb);
  }

  char *enc = ke_b64url_encode(data, size);
  if (!enc)
    abort();
  uint8_t *dec = NULL;
  size_t dl = 0;
  if (ke_b64url_decode(&dec, &dl, enc, 0) != KE_OK || dl != size || memcmp(dec, data, size))
    abort();
  free(dec);
  free(enc);
  free(s);
  return 0;
}
