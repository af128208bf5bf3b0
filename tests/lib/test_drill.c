/*
 * test_drill.c - the signed drill statement (lib/ke_drill.h): the record
 * list digest (a known answer computed independently with Python's
 * hashlib; the same for any order; repeated or malformed ids refused), the
 * statement's exact bytes and its confirmation code (known answers), the
 * expiry format, the signature check, and the drill file's statement check
 * on the seed of fuzz_drillfile (argv[1]): it parses, and a changed E, a
 * changed statement or another signature is refused.
 */
#include "ke_test.h"

#include "ke_drill.h"
#include "ke_drillfile.h"
#include "ke_note.h"

static const char want_digest[] =
  "7a7c72a1c852be949d4f9f480ef86b29e1c5bb37ec541f37e23bffda82cc7abb";
static const char want_stmt[] =
  "keyescrow-v1-drill-statement\nid=drl-cccccccccccccccccccccccccc\nselect=sample:2\n"
  "mode=full\nE=ABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\nrecords=2\n"
  "records_sha256=7a7c72a1c852be949d4f9f480ef86b29e1c5bb37ec541f37e23bffda82cc7abb\n"
  "expires=2030-01-01T00:00:00Z\n";

static void test_digest(void)
{
  uint8_t s1[32], s2[32], d[32], d2[32];
  char hex[65];
  memset(s1, 1, sizeof s1);
  memset(s2, 2, sizeof s2);
  ke_drill_recref ab[2] = {{"rec-aaaaaaaaaaaaaaaaaaaaaaaaaa", s1},
                           {"rec-bbbbbbbbbbbbbbbbbbbbbbbbbb", s2}};
  ke_drill_recref ba[2] = {ab[1], ab[0]};
  ke_drill_recref dup[2] = {ab[0], ab[0]};
  ke_drill_recref bad[1] = {{"rec-AAAAAAAAAAAAAAAAAAAAAAAAAA", s1}};

  CHECK(ke_drill_records_digest(d, ab, 2) == 0);
  ke_hex_encode(hex, d, sizeof d);
  CHECK(strcmp(hex, want_digest) == 0);
  CHECK(ke_drill_records_digest(d2, ba, 2) == 0);
  CHECK_BYTES(d2, d, sizeof d);
  CHECK(ke_drill_records_digest(d2, dup, 2) == -1);
  CHECK(ke_drill_records_digest(d2, bad, 1) == -1);
}

static void test_statement(void)
{
  char st[KE_DRILL_SIGNED_MAX], code[KE_DRILL_CODE_LEN + 1];
  const char *E = "ABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
  const char *id = "drl-cccccccccccccccccccccccccc";
  size_t n = ke_drill_signed_statement(st, id, "sample:2", "full", E, 2, want_digest,
                                       "2030-01-01T00:00:00Z");

  CHECK(n == strlen(want_stmt) && strcmp(st, want_stmt) == 0);
  ke_drill_code(code, st, n);
  CHECK(strcmp(code, "24GE-QVVF-3RVG") == 0);
  /* Every field is checked: no statement for a malformed one. */
  CHECK(!ke_drill_signed_statement(st, id, "sample:2", "half", E, 2, want_digest,
                                   "2030-01-01T00:00:00Z"));
  CHECK(!ke_drill_signed_statement(st, id, "sample:2", "full", E, 0, want_digest,
                                   "2030-01-01T00:00:00Z"));
  {
    char upper[65];
    for (size_t i = 0; i < 65; i++)
      upper[i] = (char)(want_digest[i] >= 'a' ? want_digest[i] - 32 : want_digest[i]);
    CHECK(
      !ke_drill_signed_statement(st, id, "sample:2", "full", E, 2, upper, "2030-01-01T00:00:00Z"));
  }
  CHECK(!ke_drill_signed_statement(st, id, "sample:2\nE=x", "full", E, 2, want_digest,
                                   "2030-01-01T00:00:00Z"));
  CHECK(!ke_drill_signed_statement(st, id, "all", "full", E, 2, want_digest, "2030-01-01"));
  CHECK(ke_drill_expires_ok("2028-02-29T23:59:59Z"));
  CHECK(!ke_drill_expires_ok("2027-02-29T00:00:00Z"));
  CHECK(!ke_drill_expires_ok("2030-01-01T24:00:00Z"));
  CHECK(!ke_drill_expires_ok("2030-01-01T00:00:00+00:00"));
  CHECK(!ke_drill_expires_ok("2030-13-01T00:00:00Z"));
}

static void test_signature(void)
{
  uint8_t seed[KE_NOTE_SEED_LEN], sig[KE_NOTE_SIG_LEN];
  ke_note_key *k = NULL;
  ke_note_verifier v;

  memset(seed, 7, sizeof seed);
  CHECK_RC(ke_note_key_from_seed(&k, "test", seed), KE_OK);
  if (!k)
    return;
  ke_note_key_verifier(k, &v);
  CHECK_RC(ke_note_key_sign_raw(k, (const uint8_t *)want_stmt, strlen(want_stmt), sig), KE_OK);
  CHECK(ke_drill_signature_ok(v.pub, want_stmt, strlen(want_stmt), sig));
  CHECK(!ke_drill_signature_ok(v.pub, want_stmt, strlen(want_stmt) - 1, sig));
  sig[10] ^= 1;
  CHECK(!ke_drill_signature_ok(v.pub, want_stmt, strlen(want_stmt), sig));
  ke_note_key_free(k);
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *b = f ? malloc(1 << 20) : NULL;
  *len = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
  if (f)
    fclose(f);
  if (b)
    b[*len] = '\0';
  return b;
}

/* Replace the first `from` in text by `to` (same length). */
static int patch(char *text, const char *from, const char *to)
{
  char *p = strstr(text, from);
  if (!p || strlen(from) != strlen(to))
    return 0;
  memcpy(p, to, strlen(to));
  return 1;
}

static void test_file(const char *seed)
{
  size_t len = 0;
  char *b = slurp(seed, &len), *json;
  ke_drillfile d;
  ke_ferr err;

  CHECK(b && len > 1 && b[0] == 'd');
  if (!b || len < 2)
    return;
  json = b + 1; /* the fuzz seed's first byte picks the parser */
  CHECK_RC(ke_drillfile_parse(&d, json, len - 1, &err), KE_OK);
  ke_drillfile_free(&d);
  /* The selection the statement names is not the file's. */
  CHECK(patch(json, "\"selection\": \"all\"", "\"selection\": \"ALL\""));
  CHECK_RC(ke_drillfile_parse(&d, json, len - 1, &err), KE_ERR_FORMAT);
  CHECK(patch(json, "\"selection\": \"ALL\"", "\"selection\": \"all\""));
  /* The same change in the statement: the signature fails. */
  CHECK(patch(json, "expires=2030-01-01", "expires=2030-01-02"));
  CHECK(patch(json, "\"expires\": \"2030-01-01", "\"expires\": \"2030-01-02"));
  CHECK_RC(ke_drillfile_parse(&d, json, len - 1, &err), KE_ERR_AUTH);
  free(b);
}

int main(int argc, char **argv)
{
  test_digest();
  test_statement();
  test_signature();
  if (argc > 1)
    test_file(argv[1]);
  else
    CHECK(!"usage: test_drill SEED");
  return ke_test_result("test_drill");
}
