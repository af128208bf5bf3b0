/*
 * fuzz_sharefile.c - the share file parser on hostile bytes.
 *
 * Parsing must not crash, leak or hang, and must hold the scrypt bounds
 * (a share file may not ask for more memory than KE_SCRYPT_MEM_MAX).  A
 * share file that parses must write back to a text that parses to the same
 * structure.  Unsealing is not fuzzed here: it is scrypt, by design slow.
 */
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ke_sharefile s, back;
  ke_ferr err;
  memset(&s, 0, sizeof s);
  if (ke_sharefile_parse(&s, (const char *)data, size, &err) != KE_OK)
    return 0;
  if (s.kdf.N < KE_SCRYPT_N_MIN || s.kdf.N > KE_SCRYPT_N_MAX || (s.kdf.N & (s.kdf.N - 1)) ||
      128ull * s.kdf.r * (s.kdf.N + s.kdf.p) > KE_SCRYPT_MEM_MAX || s.index < 1 ||
      s.index > KE_MAX_SHARES)
    abort();
  char *text = NULL;
  size_t len = 0;
  if (ke_sharefile_write(&text, &len, &s) != KE_OK)
    abort();
  memset(&back, 0, sizeof back);
  if (ke_sharefile_parse(&back, text, len, &err) != KE_OK || memcmp(&back, &s, sizeof s) != 0)
    abort();
  free(text);
  return 0;
}
