/*
 * fuzz_drillfile.c - the drill file and batch file parsers (ke_drillfile.h)
 * on hostile bytes.  `escrowctl drill part` reads a drill file on the
 * custodian's offline machine that came from a networked one, and `drill
 * approve --import` reads a batch file that came back.
 *
 * The first byte picks the parser ('d' drill file, 'b' batch file); the
 * rest is the file.  Parsing must not crash, leak or hang; a parsed drill
 * file must be consistent (every envelope parses, with the record's R, the
 * escrow key's fingerprint and the listed SHA-256; its statement, signed by
 * its auditor key, is the one its fields make), and whatever parses must
 * write back to a text that parses to the same structure.
 */
#include <stdlib.h>
#include <string.h>

#include "ke_drillfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_drill(const ke_drillfile *a, const ke_drillfile *b)
{
  if (strcmp(a->drill_id, b->drill_id) != 0 || strcmp(a->auditor, b->auditor) != 0 ||
      strcmp(a->selection, b->selection) != 0 || strcmp(a->mode, b->mode) != 0 ||
      strcmp(a->expires, b->expires) != 0 || strcmp(a->statement, b->statement) != 0 ||
      memcmp(a->signature, b->signature, sizeof a->signature) != 0 ||
      memcmp(a->auditor_key, b->auditor_key, sizeof a->auditor_key) != 0 ||
      memcmp(a->E.b, b->E.b, KE_POINT_LEN) != 0 ||
      memcmp(&a->escrow_key, &b->escrow_key, sizeof a->escrow_key) != 0 || a->nrec != b->nrec ||
      memcmp(a->rec, b->rec, a->nrec * sizeof *a->rec) != 0)
    abort();
}

static void drillfile(const char *json, size_t len)
{
  ke_drillfile d, back;
  ke_ferr err;
  if (ke_drillfile_parse(&d, json, len, &err) != KE_OK) {
    if (d.rec || d.nrec) /* a failed parse leaves nothing to free */
      abort();
    return;
  }
  for (size_t i = 0; i < d.nrec; i++) {
    ke_envelope env;
    uint8_t digest[32];
    const ke_drillfile_rec *r = &d.rec[i];
    if (ke_envelope_parse(&env, r->envelope, r->envelope_len) != KE_OK ||
        memcmp(env.R.b, r->R.b, KE_POINT_LEN) != 0 ||
        memcmp(env.fingerprint, d.escrow_key.pub.fingerprint, KE_FPR_LEN) != 0 ||
        ke_envelope_sha256(digest, r->envelope, r->envelope_len) != KE_OK ||
        memcmp(digest, r->envelope_sha256, sizeof digest) != 0)
      abort();
  }
  char *text = NULL;
  size_t n = 0;
  if (ke_drillfile_write(&text, &n, &d) != KE_OK)
    abort();
  if (ke_drillfile_parse(&back, text, n, &err) != KE_OK)
    abort();
  same_drill(&d, &back);
  free(text);
  ke_drillfile_free(&back);
  ke_drillfile_free(&d);
}

static void batchfile(const char *json, size_t len)
{
  ke_drillbatch b, back;
  ke_ferr err;
  if (ke_drillbatch_parse(&b, json, len, &err) != KE_OK) {
    if (b.parts || b.nparts)
      abort();
    return;
  }
  for (size_t i = 1; i < b.nparts; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp(b.parts[i].record_id, b.parts[j].record_id) == 0)
        abort();
  char *text = NULL;
  size_t n = 0;
  if (ke_drillbatch_write(&text, &n, &b) != KE_OK)
    abort();
  if (ke_drillbatch_parse(&back, text, n, &err) != KE_OK || strcmp(back.drill_id, b.drill_id) ||
      back.index != b.index || back.nparts != b.nparts ||
      memcmp(back.parts, b.parts, b.nparts * sizeof *b.parts) != 0)
    abort();
  free(text);
  ke_drillbatch_free(&back);
  ke_drillbatch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *json = (const char *)data + 1;
  switch (data[0]) {
    case 'd': drillfile(json, size - 1); break;
    case 'b': batchfile(json, size - 1); break;
  }
  return 0;
}
