/*
 * test_cosig.c - witness cosignatures (lib/ke_cosig.h) against a vector made
 * from the spec (c2sp.org/tlog-cosignature) with python3-cryptography: the
 * witness key of seed 40..5f named "witness.example.org/w1", timestamp
 * 1679315147, over the checkpoint body below.  A good line verifies; a
 * changed body, a flipped signature bit, another witness and malformed keys
 * and notes are refused.
 */
#include "ke_cosig.h"
#include "ke_test.h"

static const char vkey[] =
  "witness.example.org/w1+480e2ca5+BCVDuS/xCVURR2rcg2nbbdyTNmWhGXjdoUBO4QZsqVWd";
static const char body[] =
  "escrow.example.org/audit\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
/* Another key's signature line first: it is ignored, as the spec says. */
static const char other[] =
  "\xE2\x80\x94 escrow.example.org/audit "
  "AAAAAP////8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
static const char line[] = "\xE2\x80\x94 witness.example.org/w1 "
                           "SA4spQAAAABkGFDLUASnobWP27PTHgi5esqApA5KFGoL8LiB3w/"
                           "Fz63impyNcGbN2dBWyuSWTKX2JIM3mBz0RYErGwxMyvHhwOTFDg==";

static char *note_of(const char *b, const char *l)
{
  static char buf[2048];
  snprintf(buf, sizeof buf, "%s\n%s%s\n", b, other, l);
  return buf;
}

int main(void)
{
  ke_cosig_verifier w, w2;
  uint64_t ts = 0;
  char *n, name[KE_NOTE_MAX_NAME + 1], bad[sizeof line];

  CHECK_RC(ke_cosig_vkey_parse(&w, vkey), KE_OK);
  CHECK(strcmp(w.name, "witness.example.org/w1") == 0 && w.key_id == 0x480e2ca5u);
  n = note_of(body, line);
  CHECK_RC(ke_cosig_verify(&w, n, strlen(n), &ts), KE_OK);
  CHECK(ts == 1679315147u);
  CHECK(ke_cosig_line_valid(line, strlen(line), name) && strcmp(name, w.name) == 0);

  /* Another checkpoint (size ...164): the cosignature is not for it. */
  n = note_of("escrow.example.org/audit\n20852164\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
              line);
  CHECK_RC(ke_cosig_verify(&w, n, strlen(n), NULL), KE_ERR_AUTH);
  /* One flipped bit in the signature (the last base64 digits). */
  memcpy(bad, line, sizeof line);
  bad[strlen(bad) - 4] = bad[strlen(bad) - 4] == 'A' ? 'B' : 'A';
  n = note_of(body, bad);
  CHECK_RC(ke_cosig_verify(&w, n, strlen(n), NULL), KE_ERR_AUTH);
  /* A witness that did not cosign: its line is missing. */
  CHECK_RC(ke_cosig_vkey_parse(
             &w2, "witness.example.org/w2+480e2ca5+BCVDuS/xCVURR2rcg2nbbdyTNmWhGXjdoUBO4QZsqVWd"),
           KE_ERR_FORMAT); /* the ID is the name's too */
  memcpy(&w2, &w, sizeof w2);
  w2.pub[0] ^= 1;
  CHECK_RC(ke_cosig_key_id(&w2.key_id, w2.name, w2.pub), KE_OK);
  n = note_of(body, line);
  CHECK_RC(ke_cosig_verify(&w2, n, strlen(n), NULL), KE_ERR_AUTH);

  /* Keys: the note type 0x01 is not a cosigner key; a wrong ID; junk. */
  CHECK_RC(ke_cosig_vkey_parse(
             &w2, "witness.example.org/w1+480e2ca5+ASVDuS/xCVURR2rcg2nbbdyTNmWhGXjdoUBO4QZsqVWd"),
           KE_ERR_FORMAT);
  CHECK_RC(ke_cosig_vkey_parse(
             &w2, "witness.example.org/w1+480e2ca6+BCVDuS/xCVURR2rcg2nbbdyTNmWhGXjdoUBO4QZsqVWd"),
           KE_ERR_FORMAT);
  CHECK_RC(ke_cosig_vkey_parse(&w2, "witness.example.org/w1"), KE_ERR_FORMAT);
  CHECK_RC(ke_cosig_vkey_parse(&w2, ""), KE_ERR_FORMAT);
  /* Notes without signature lines, or without the blank line. */
  CHECK_RC(ke_cosig_verify(&w, body, strlen(body), NULL), KE_ERR_FORMAT);
  CHECK_RC(ke_cosig_verify(&w, "x\n\n", 3, NULL), KE_ERR_FORMAT);
  CHECK(!ke_cosig_line_valid(line, strlen(line) - 4, name));
  CHECK(!ke_cosig_line_valid("\xE2\x80\x94 a b", 7, name));
  return ke_test_result("test_cosig");
}
