/*
 * fuzz_canon.c - canonical JSON (the bytes of an audit leaf) on hostile
 * input.  Properties:
 *   - ke_canon_parse accepts exactly the texts ke_canon_dump writes: what
 *     parses dumps back to the very same bytes, and ke_canon_check agrees;
 *   - anything jansson reads that ke_canon_dump can write is canonical,
 *     and dumping is idempotent;
 *   - ke_canon_event_check never crashes, and accepts an event only if its
 *     "seq" is the index asked for.
 * Nothing may crash, leak or hang; a violated property is abort().
 */
#include <stdlib.h>
#include <string.h>

#include "ke_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *in = (const char *)data;
  json_t *v = NULL, *j;
  char *out = NULL, *again = NULL;
  size_t ol = 0, al = 0;
  ke_rc rc = ke_canon_parse(&v, in, size);

  if ((rc == KE_OK) != (ke_canon_check(in, size) == KE_OK))
    abort();
  if (rc == KE_OK) {
    json_t *seq = json_object_get(v, "seq");
    if (ke_canon_dump(v, &out, &ol) != KE_OK || ol != size || memcmp(out, in, size) != 0)
      abort();
    free(out);
    out = NULL;
    if (json_is_integer(seq) && json_integer_value(seq) >= 0 &&
        ke_canon_event_check(v, (uint64_t)json_integer_value(seq) + 1) == KE_OK)
      abort();
    (void)ke_canon_event_check(v, json_is_integer(seq) ? (uint64_t)json_integer_value(seq) : 0);
    json_decref(v);
  }
  j = json_loadb(in, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
  if (j && ke_canon_dump(j, &out, &ol) == KE_OK && ol <= KE_CANON_MAX_LEN) {
    json_t *back = NULL;
    if (ke_canon_parse(&back, out, ol) != KE_OK || ke_canon_dump(back, &again, &al) != KE_OK ||
        al != ol || memcmp(again, out, ol) != 0)
      abort();
    json_decref(back);
  }
  free(out);
  free(again);
  json_decref(j);
  return 0;
}
