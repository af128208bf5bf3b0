/*
 * fuzz_note.c - signed notes, checkpoints and verifier keys on hostile
 * bytes.  The first input byte picks the parser, the rest is its input:
 *
 *   0  ke_note_open against a pinned key (the seed 00..1f key named
 *      "escrow.example.org/audit" of docs/audit.md): a note that opens must
 *      have its text as a prefix, ending in "\n" right before the blank line
 *   1  ke_note_checkpoint_open with that key: what opens must format back
 *      to the signed text, and signing it again must verify
 *   2  ke_note_checkpoint_parse: strict, so a body that parses formats
 *      back to exactly the input (one spelling per checkpoint)
 *   3  ke_note_vkey_parse: a key that parses formats back to the input
 *      (up to the case of the key ID's hex digits)
 *   4  ke_cosig_verify against a witness key (the seed 20..3f key named
 *      "witness.example.org/w1"): a note it accepts opens as a note too
 *      when the witness's line is its only one (ke_cosig_split agrees)
 *   5  ke_cosig_vkey_parse and ke_cosig_line_valid
 * (4 and 5 take the first byte's values 4 and 5; the others select by the
 * low two bits, as before.)
 *
 * Nothing may crash, leak or hang; a violated property is abort().
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ke_cosig.h"
#include "ke_note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ke_note_key *key;
static ke_note_verifier ver;

static void setup(void)
{
  uint8_t seed[KE_NOTE_SEED_LEN];

  for (size_t i = 0; i < sizeof seed; i++)
    seed[i] = (uint8_t)i;
  if (ke_note_key_from_seed(&key, "escrow.example.org/audit", seed) != KE_OK)
    abort();
  ke_note_key_verifier(key, &ver);
}

static void fuzz_open(const char *in, size_t len)
{
  char *text = NULL;
  size_t tl = 0;

  if (ke_note_open(&ver, in, len, &text, &tl) != KE_OK)
    return;
  if (tl == 0 || tl + 1 >= len || memcmp(text, in, tl) != 0 || text[tl - 1] != '\n' ||
      in[tl] != '\n' || text[tl] != '\0')
    abort();
  free(text);
}

static void fuzz_checkpoint(const char *in, size_t len)
{
  ke_note_checkpoint cp, again;
  char *body = NULL, *note = NULL;
  size_t bl = 0, nl = 0;

  if (ke_note_checkpoint_open(&ver, in, len, &cp) != KE_OK)
    return;
  if (strcmp(cp.origin, ver.name) != 0 || ke_note_checkpoint_format(&cp, &body, &bl) != KE_OK ||
      bl >= len || memcmp(body, in, bl) != 0 || in[bl] != '\n')
    abort();
  if (ke_note_checkpoint_sign(key, cp.size, cp.root, &note, &nl) != KE_OK ||
      ke_note_checkpoint_open(&ver, note, nl, &again) != KE_OK || again.size != cp.size ||
      memcmp(again.root, cp.root, sizeof cp.root) != 0)
    abort();
  free(body);
  free(note);
}

static void fuzz_body(const char *in, size_t len)
{
  ke_note_checkpoint cp;
  char *body = NULL;
  size_t bl = 0;

  if (ke_note_checkpoint_parse(&cp, in, len) != KE_OK)
    return;
  if (ke_note_checkpoint_format(&cp, &body, &bl) != KE_OK || bl != len ||
      memcmp(body, in, len) != 0)
    abort();
  free(body);
}

static void fuzz_vkey(const char *in, size_t len)
{
  char *s = malloc(len + 1), *back = NULL;
  ke_note_verifier v;

  /* The API takes a C string: an embedded NUL just ends it early. */
  if (!s || memchr(in, '\0', len)) {
    free(s);
    return;
  }
  memcpy(s, in, len);
  s[len] = '\0';
  if (ke_note_vkey_parse(&v, s) == KE_OK) {
    /* The same key, spelled the same, except that the key ID's hex digits
     * may come in either case (as Go's parser allows). */
    size_t n = strlen(v.name);
    if (ke_note_vkey_format(&v, &back) != KE_OK || strlen(back) != len ||
        memcmp(back, s, n + 1) != 0 || strncasecmp(back + n + 1, s + n + 1, 8) != 0 ||
        strcmp(back + n + 9, s + n + 9) != 0)
      abort();
    free(back);
  }
  free(s);
}

static ke_cosig_verifier wit;

static void setup_witness(void)
{
  uint8_t seed[KE_NOTE_SEED_LEN];
  ke_note_key *k;
  ke_note_verifier v;

  for (size_t i = 0; i < sizeof seed; i++)
    seed[i] = (uint8_t)(0x20 + i);
  if (ke_note_key_from_seed(&k, "witness.example.org/w1", seed) != KE_OK)
    abort();
  ke_note_key_verifier(k, &v);
  memcpy(wit.name, v.name, sizeof wit.name);
  memcpy(wit.pub, v.pub, sizeof wit.pub);
  if (ke_cosig_key_id(&wit.key_id, wit.name, wit.pub) != KE_OK)
    abort();
  ke_note_key_free(k);
}

static void fuzz_cosig(const char *in, size_t len)
{
  const char *sigs;
  size_t body, sl;
  uint64_t ts = 0;

  if (ke_cosig_verify(&wit, in, len, &ts) != KE_OK)
    return;
  /* Accepted: it has a body and signature lines, and a timestamp < 2^63. */
  if (ke_cosig_split(in, len, &body, &sigs, &sl) != KE_OK || body == 0 || sl == 0 ||
      sigs != in + body + 1 || ts > (UINT64_C(1) << 63) - 1)
    abort();
}

static void fuzz_cosig_text(const char *in, size_t len)
{
  char *s = malloc(len + 1), name[KE_NOTE_MAX_NAME + 1];
  ke_cosig_verifier v;
  uint32_t id;

  if (!s)
    return;
  memcpy(s, in, len);
  s[len] = '\0';
  if (ke_cosig_vkey_parse(&v, s) == KE_OK && (ke_cosig_key_id(&id, v.name, v.pub) != KE_OK ||
                                              id != v.key_id || !ke_note_name_valid(v.name)))
    abort();
  if (ke_cosig_line_valid(in, len, name) && !ke_note_name_valid(name))
    abort();
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *in = (const char *)data + 1;

  if (!key) {
    setup();
    setup_witness();
  }
  if (size == 0)
    return 0;
  if ((data[0] & 7) == 4) {
    fuzz_cosig(in, size - 1);
    return 0;
  }
  if ((data[0] & 7) == 5) {
    fuzz_cosig_text(in, size - 1);
    return 0;
  }
  switch (data[0] & 3) {
    case 0: fuzz_open(in, size - 1); break;
    case 1: fuzz_checkpoint(in, size - 1); break;
    case 2: fuzz_body(in, size - 1); break;
    default: fuzz_vkey(in, size - 1); break;
  }
  return 0;
}
