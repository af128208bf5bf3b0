/*
 * fuzz_manifest.c - the escrow manifest parser on hostile bytes.
 *
 * Whatever the input, parsing must not crash, leak or hang.  A manifest
 * that parses must write back to a text that parses to the very same
 * structure (the writer and the parser agree on the format), and its
 * fingerprint and public shares must be the ones the commitments give.
 */
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ke_manifest m, back;
static ke_escrow_pub again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ke_ferr err;
  memset(&m, 0, sizeof m);
  if (ke_manifest_parse(&m, (const char *)data, size, &err) != KE_OK)
    return 0;
  if (ke_escrow_pub_from_commitments(&again, m.pub.t, m.pub.n, m.pub.commitments) ||
      memcmp(again.fingerprint, m.pub.fingerprint, KE_FPR_LEN) != 0 ||
      memcmp(again.public_shares, m.pub.public_shares, m.pub.n * sizeof(ke_point)) != 0)
    abort();
  char *text = NULL;
  size_t len = 0;
  if (ke_manifest_write(&text, &len, &m) != KE_OK)
    abort();
  memset(&back, 0, sizeof back);
  if (ke_manifest_parse(&back, text, len, &err) != KE_OK || memcmp(&back, &m, sizeof m) != 0)
    abort();
  free(text);
  return 0;
}
