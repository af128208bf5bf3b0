/*
 * fuzz_reqfiles.c - the request, requester key and part file parsers on
 * hostile bytes.  A custodian's `part` reads a request file that anybody
 * could have written, and `open` reads part files from custodians.
 *
 * The first byte picks the parser ('r' request, 'k' key, 'p' part); the
 * rest is the file.  Parsing must not crash, leak or hang; whatever parses
 * must write back to a text that parses to the same structure, and a parsed
 * request must be internally consistent (envelope R and fingerprint, code;
 * with the optional "requester" member: its fingerprint is the SHA-256 of
 * its key, its signature verifies over the request id and E, it names the
 * record one way only, and a signed volume is the request's).
 */
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ke_request r, rback;

static void request(const char *json, size_t len)
{
  ke_ferr err;
  ke_envelope env;
  char code[KE_SAS_LEN + 1];
  memset(&r, 0, sizeof r);
  if (ke_request_parse(&r, json, len, &err) != KE_OK)
    return;
  if (ke_envelope_parse(&env, r.envelope, r.envelope_len) != KE_OK ||
      memcmp(env.R.b, r.R.b, KE_POINT_LEN) != 0 ||
      memcmp(env.fingerprint, r.fingerprint, KE_FPR_LEN) != 0)
    abort();
  ke_sas(code, r.request_id, &r.E, &r.R);
  if (strcmp(code, r.code) != 0)
    abort();
  if (r.has_requester) {
    const ke_retrieval_signed *q = &r.requester;
    uint8_t fpr[32];
    if (ke_retrieval_fingerprint(fpr, q->public_key) != 0 ||
        memcmp(fpr, q->fingerprint, sizeof fpr) != 0 ||
        !ke_retrieval_verify(q, r.request_id, r.E.b) || !q->device[0] == !q->key_id[0] ||
        (q->volume[0] && (!q->device[0] || strcmp(q->volume, r.volume) != 0)))
      abort();
  }
  char *text = NULL;
  size_t n = 0;
  if (ke_request_write(&text, &n, &r) != KE_OK)
    abort();
  memset(&rback, 0, sizeof rback);
  if (ke_request_parse(&rback, text, n, &err) != KE_OK || memcmp(&rback, &r, sizeof r) != 0)
    abort();
  free(text);
}

static void reqkey(const char *json, size_t len)
{
  ke_reqkey k, back;
  ke_ferr err;
  ke_point E;
  memset(&k, 0, sizeof k);
  if (ke_reqkey_parse(&k, json, len, &err) != KE_OK)
    return;
  if (ke_point_mul_base(&E, &k.e) || memcmp(E.b, k.E.b, KE_POINT_LEN) != 0)
    abort();
  char *text = NULL;
  size_t n = 0;
  if (ke_reqkey_write(&text, &n, &k) != KE_OK)
    abort();
  memset(&back, 0, sizeof back);
  if (ke_reqkey_parse(&back, text, n, &err) != KE_OK || memcmp(&back, &k, sizeof k) != 0)
    abort();
  ke_secure_free(text, n + 1);
}

static void partfile(const char *json, size_t len)
{
  ke_partfile p, back;
  ke_ferr err;
  memset(&p, 0, sizeof p);
  if (ke_partfile_parse(&p, json, len, &err) != KE_OK)
    return;
  char *text = NULL;
  size_t n = 0;
  if (ke_partfile_write(&text, &n, &p) != KE_OK)
    abort();
  memset(&back, 0, sizeof back);
  if (ke_partfile_parse(&back, text, n, &err) != KE_OK || memcmp(&back, &p, sizeof p) != 0)
    abort();
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *json = (const char *)data + 1;
  switch (data[0]) {
    case 'r': request(json, size - 1); break;
    case 'k': reqkey(json, size - 1); break;
    case 'p': partfile(json, size - 1); break;
  }
  return 0;
}
