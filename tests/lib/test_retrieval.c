/*
 * test_retrieval.c - the signed statement of a retrieval request
 * (lib/ke_retrieval.h), byte for byte: the form without a record line
 * (every request for a current record, as signed since schema 013) and
 * the form that names one record by its id (an older key).  The browser's
 * requestStatement (web/js/keretrieval.js) is held to the same bytes by
 * tests/web/kat_js.mjs.
 */
#include <string.h>

#include "ke_retrieval.h"
#include "ke_test.h"

static const char want_current[] = "keyescrow-v1-retrieval-request\n"
                                   "id=req-aaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                                   "device=host-1\n"
                                   "volume=C:\n"
                                   "key_id=\n"
                                   "E=AxyZ\n"
                                   "reason=locked out\n"
                                   "ticket=INC-1\n"
                                   "nonce=AAAAAAAAAAAAAAAAAAAAAA\n";

static const char want_record[] = "keyescrow-v1-retrieval-request\n"
                                  "id=req-aaaaaaaaaaaaaaaaaaaaaaaaaa\n"
                                  "device=\n"
                                  "volume=\n"
                                  "key_id=\n"
                                  "record=rec-bbbbbbbbbbbbbbbbbbbbbbbbbb\n"
                                  "E=AxyZ\n"
                                  "reason=restored image\n"
                                  "ticket=INC-2\n"
                                  "nonce=AAAAAAAAAAAAAAAAAAAAAA\n";

int main(void)
{
  char out[KE_RETRIEVAL_STMT_MAX];
  ke_retrieval_fields f = {
    "req-aaaaaaaaaaaaaaaaaaaaaaaaaa", "host-1", "C:", NULL, "AxyZ", "locked out", "INC-1",
    "AAAAAAAAAAAAAAAAAAAAAA",         NULL};
  size_t n;

  n = ke_retrieval_statement(out, &f);
  CHECK(n == strlen(want_current) && strcmp(out, want_current) == 0, "current: %s", out);
  f.record = ""; /* empty is absent: the same bytes */
  n = ke_retrieval_statement(out, &f);
  CHECK(n == strlen(want_current) && strcmp(out, want_current) == 0, "empty record: %s", out);

  f = (ke_retrieval_fields){"req-aaaaaaaaaaaaaaaaaaaaaaaaaa",
                            NULL,
                            NULL,
                            NULL,
                            "AxyZ",
                            "restored image",
                            "INC-2",
                            "AAAAAAAAAAAAAAAAAAAAAA",
                            "rec-bbbbbbbbbbbbbbbbbbbbbbbbbb"};
  n = ke_retrieval_statement(out, &f);
  CHECK(n == strlen(want_record) && strcmp(out, want_record) == 0, "record: %s", out);

  /* A control character in any field, the record's too, refuses the
   * statement: it must parse one way only. */
  f.record = "rec-b\nE=x";
  CHECK(ke_retrieval_statement(out, &f) == 0, "a newline in the record");
  f.record = NULL;
  f.reason = "a\nticket=x";
  CHECK(ke_retrieval_statement(out, &f) == 0, "a newline in the reason");
  return ke_test_result("test_retrieval");
}
