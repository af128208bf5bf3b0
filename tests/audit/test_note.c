/*
 * test_note.c - C2SP signed notes and checkpoints: Go sumdb/note's
 * published example as a known answer, sign/verify round trips, every kind
 * of tampering, key IDs, verifier keys, and the key file.
 *
 * usage: test_note SCRATCH_DIR
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ke_test.h"
#include "ke_note.h"

/* golang.org/x/mod/sumdb/note, package documentation example. */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                \
  "If you think cryptography is the answer to your problem,\n" \
  "then you don't know what your problem is.\n"
#define GO_NOTE                          \
  GO_TEXT "\n\xE2\x80\x94 PeterNeumann " \
          "x08go/ZJkuBS9UG/"             \
          "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static char scratch[512];

static const char *path_in(const char *name)
{
  static char p[600];
  snprintf(p, sizeof p, "%s/%s", scratch, name);
  return p;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
  FILE *f;

  unlink(path);
  REQUIRE((f = fopen(path, "w")) && fputs(text, f) >= 0 && fclose(f) == 0);
  REQUIRE(chmod(path, mode) == 0);
}

/* Open `note` (a C string) and expect `want`. */
static ke_rc open_rc(const ke_note_verifier *v, const char *note)
{
  char *text = NULL;
  ke_rc rc = ke_note_open(v, note, strlen(note), &text, NULL);

  CHECK((rc == KE_OK) == (text != NULL));
  free(text);
  return rc;
}

static char *replace(const char *s, const char *from, const char *to)
{
  const char *at = strstr(s, from);
  size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
  char *r = malloc(n);

  REQUIRE(at && r);
  snprintf(r, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
  return r;
}

static void test_go_vector(void)
{
  ke_note_key *k = NULL;
  ke_note_verifier v, fromkey;
  char *vk = NULL, *text = NULL, *bad;
  size_t tl = 0;

  /* The private key string is our key file format. */
  write_file(path_in("go.key"), GO_SKEY "\n", 0600);
  CHECK_RC(ke_note_key_load(&k, path_in("go.key")), KE_OK);
  REQUIRE(k);
  CHECK(strcmp(ke_note_key_name(k), "PeterNeumann") == 0);
  ke_note_key_verifier(k, &fromkey);
  CHECK(fromkey.key_id == 0xc74f20a3);
  CHECK_RC(ke_note_vkey_format(&fromkey, &vk), KE_OK);
  CHECK(vk && strcmp(vk, GO_VKEY) == 0);
  free(vk);
  CHECK_RC(ke_note_vkey_parse(&v, GO_VKEY), KE_OK);
  CHECK(memcmp(&v, &fromkey, sizeof v) == 0);
  CHECK_RC(ke_note_open(&v, GO_NOTE, strlen(GO_NOTE), &text, &tl), KE_OK);
  CHECK(text && tl == strlen(GO_TEXT) && strcmp(text, GO_TEXT) == 0);
  free(text);
  /* one changed character of the text */
  bad = replace(GO_NOTE, "cryptography", "cryptographY");
  CHECK_RC(open_rc(&v, bad), KE_ERR_AUTH);
  free(bad);
  /* not a statement and not a checkpoint: the typed openers refuse it */
  {
    ke_note_checkpoint cp;
    CHECK_RC(ke_note_checkpoint_open(&v, GO_NOTE, strlen(GO_NOTE), &cp), KE_ERR_FORMAT);
    CHECK_RC(
      ke_note_open_statement(&v, GO_NOTE, strlen(GO_NOTE), "keyescrow-v1-receipt", &text, NULL),
      KE_ERR_FORMAT);
  }
  ke_note_key_free(k);
}

/* key ID computed here from its definition */
static uint32_t expected_id(const char *name, const uint8_t pub[32])
{
  uint8_t buf[600], h[32];
  size_t n = strlen(name);

  memcpy(buf, name, n);
  buf[n] = 0x0A;
  buf[n + 1] = 0x01;
  memcpy(buf + n + 2, pub, 32);
  REQUIRE(EVP_Digest(buf, n + 34, h, NULL, EVP_sha256(), NULL) == 1);
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static void test_checkpoint(void)
{
  ke_note_key *k = NULL, *other = NULL, *same_name = NULL;
  ke_note_verifier v, vo, vs, forged;
  ke_note_checkpoint cp;
  uint8_t root[32], sigbytes[80];
  char *note = NULL, *bad, *line, *two, *text;
  size_t len = 0, got, i;

  for (i = 0; i < 32; i++)
    root[i] = (uint8_t)(i * 7 + 1);
  CHECK_RC(ke_note_key_generate(&k, "escrow.example.org/audit"), KE_OK);
  CHECK_RC(ke_note_key_generate(&other, "escrow.example.org/other"), KE_OK);
  CHECK_RC(ke_note_key_generate(&same_name, "escrow.example.org/audit"), KE_OK);
  REQUIRE(k && other && same_name);
  ke_note_key_verifier(k, &v);
  ke_note_key_verifier(other, &vo);
  ke_note_key_verifier(same_name, &vs);
  CHECK(v.key_id == expected_id(v.name, v.pub));
  CHECK(vs.key_id != v.key_id);

  CHECK_RC(ke_note_checkpoint_sign(k, 12345, root, &note, &len), KE_OK);
  REQUIRE(note && len == strlen(note));
  /* the exact layout: three body lines, a blank line, one signature */
  CHECK(strncmp(note, "escrow.example.org/audit\n12345\n", 31) == 0);
  line = strstr(note, "\n\n");
  REQUIRE(line);
  line += 2;
  CHECK(strncmp(line, "\xE2\x80\x94 escrow.example.org/audit ", 29) == 0);
  CHECK(line[strlen(line) - 1] == '\n' && strchr(line, '\n') == line + strlen(line) - 1);
  /* the signature's first four bytes are the key ID */
  CHECK_RC(ke_note_b64_decode(sigbytes, sizeof sigbytes, &got, line + 29, strlen(line + 29) - 1),
           KE_OK);
  CHECK(got == 68);
  CHECK(((uint32_t)sigbytes[0] << 24 | (uint32_t)sigbytes[1] << 16 | (uint32_t)sigbytes[2] << 8 |
         sigbytes[3]) == v.key_id);

  memset(&cp, 0xAA, sizeof cp);
  CHECK_RC(ke_note_checkpoint_open(&v, note, len, &cp), KE_OK);
  CHECK(cp.size == 12345 && memcmp(cp.root, root, 32) == 0 &&
        strcmp(cp.origin, "escrow.example.org/audit") == 0);

  /* wrong key: a different name, or the same name with another key */
  CHECK_RC(ke_note_checkpoint_open(&vo, note, len, &cp), KE_ERR_AUTH);
  CHECK_RC(ke_note_checkpoint_open(&vs, note, len, &cp), KE_ERR_AUTH);
  /* a key that claims our name and ID but holds another public key: the
   * signature is "ours", fails, and rejects the note */
  forged = v;
  memcpy(forged.pub, vo.pub, 32);
  CHECK_RC(ke_note_checkpoint_open(&forged, note, len, &cp), KE_ERR_AUTH);

  /* modified body */
  bad = replace(note, "\n12345\n", "\n12346\n");
  CHECK_RC(open_rc(&v, bad), KE_ERR_AUTH);
  free(bad);
  bad = replace(note, "audit\n", "audit2\n");
  CHECK(open_rc(&v, bad) != KE_OK);
  free(bad);
  /* modified signature or key ID: a spread of single bits over all 68
   * bytes (a changed ID makes it an unknown key's, leaving none of ours) */
  for (i = 0; i < 68 * 8; i += 7) {
    char *b64, *sigline;
    uint8_t s2[68];
    memcpy(s2, sigbytes, 68);
    s2[i / 8] ^= (uint8_t)(1u << (i % 8));
    REQUIRE(b64 = ke_note_b64_encode(s2, 68));
    sigline = malloc(strlen(b64) + 64);
    REQUIRE(sigline);
    sprintf(sigline, "\xE2\x80\x94 escrow.example.org/audit %s\n", b64);
    {
      size_t body = (size_t)(line - note);
      char *n2 = malloc(body + strlen(sigline) + 1);
      REQUIRE(n2);
      memcpy(n2, note, body);
      strcpy(n2 + body, sigline);
      CHECK_RC(open_rc(&v, n2), KE_ERR_AUTH);
      free(n2);
    }
    free(sigline);
    free(b64);
  }
  /* truncations: at every byte */
  for (i = 0; i < len; i++)
    CHECK(ke_note_checkpoint_open(&v, note, i, &cp) != KE_OK);
  /* no blank line, blank line doubled, CRLF, trailing junk, NUL */
  bad = replace(note, "\n\n", "\n");
  CHECK_RC(open_rc(&v, bad), KE_ERR_FORMAT);
  free(bad);
  bad = replace(note, "\n\n", "\n\n\n");
  CHECK(open_rc(&v, bad) != KE_OK);
  free(bad);
  bad = replace(note, "12345\n", "12345\r\n");
  CHECK_RC(open_rc(&v, bad), KE_ERR_FORMAT);
  free(bad);
  CHECK_RC(ke_note_checkpoint_open(&v, note, len + 1, &cp), KE_ERR_FORMAT); /* the NUL */

  /* unknown signatures are ignored, before or after ours, however many */
  {
    char *on = NULL, *ol;
    size_t olen;
    CHECK_RC(ke_note_checkpoint_sign(other, 12345, root, &on, &olen), KE_OK);
    REQUIRE(on && (ol = strstr(on, "\n\n")));
    ol += 2;
    two = malloc(len + strlen(ol) + 200);
    REQUIRE(two);
    /* ours first, then a foreign one with a longer (unknown-type) blob */
    sprintf(two,
            "%s%s\xE2\x80\x94 witness.example/w1 "
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            "AAAAAA\n",
            note, ol);
    CHECK_RC(ke_note_checkpoint_open(&v, two, strlen(two), &cp), KE_OK);
    CHECK(cp.size == 12345);
    /* ... but the other key alone is not enough */
    CHECK_RC(ke_note_checkpoint_open(&v, on, olen, &cp), KE_ERR_AUTH);
    /* for the other key, its signature (made over its own body) is a known
     * key's signature that fails: the whole note is rejected */
    CHECK_RC(ke_note_checkpoint_open(&vo, two, strlen(two), &cp), KE_ERR_AUTH);
    free(two);
    /* a malformed extra line rejects the note */
    two = malloc(len + 64);
    REQUIRE(two);
    sprintf(two, "%s- witness.example/w1 AAAAAAA=\n", note);
    CHECK_RC(open_rc(&v, two), KE_ERR_FORMAT);
    sprintf(two, "%s\xE2\x80\x94 witness.example/w1 AAAA\n", note); /* 3 bytes < 5 */
    CHECK_RC(open_rc(&v, two), KE_ERR_FORMAT);
    sprintf(two, "%s\xE2\x80\x94 wit+ness AAAAAAA=\n", note); /* '+' in name */
    CHECK_RC(open_rc(&v, two), KE_ERR_FORMAT);
    sprintf(two, "%s\xE2\x80\x94  AAAAAAA=\n", note); /* empty name */
    CHECK_RC(open_rc(&v, two), KE_ERR_FORMAT);
    sprintf(two, "%s\xE2\x80\x94 w AAAAAAA\n", note); /* bad base64 */
    CHECK_RC(open_rc(&v, two), KE_ERR_FORMAT);
    free(two);
    free(on);
  }
  /* too many signature lines */
  {
    size_t cap = len + 101 * 40;
    char *many = malloc(cap);
    REQUIRE(many);
    strcpy(many, note);
    for (i = 0; i < 100; i++)
      strcat(many, "\xE2\x80\x94 w.example AAAAAAAAAAAA\n");
    CHECK_RC(open_rc(&v, many), KE_ERR_FORMAT);
    free(many);
  }
  /* a statement signed with the same key is not a checkpoint, and the
   * other way round */
  {
    const char *st = "keyescrow-v1-receipt\ndevice 42\nindex 7\n";
    char *sn = NULL;
    size_t sl;
    CHECK_RC(ke_note_sign_statement(k, st, strlen(st), &sn, &sl), KE_OK);
    REQUIRE(sn);
    CHECK_RC(ke_note_checkpoint_open(&v, sn, sl, &cp), KE_ERR_FORMAT);
    CHECK_RC(ke_note_open_statement(&v, sn, sl, "keyescrow-v1-receipt", &text, NULL), KE_OK);
    CHECK(text && strcmp(text, st) == 0);
    free(text);
    CHECK_RC(ke_note_open_statement(&v, sn, sl, "keyescrow-v1-drill", &text, NULL), KE_ERR_FORMAT);
    CHECK_RC(ke_note_open_statement(&v, sn, sl, "keyescrow-v1-rec", &text, NULL), KE_ERR_FORMAT);
    CHECK_RC(ke_note_open_statement(&v, note, len, "keyescrow-v1-receipt", &text, NULL),
             KE_ERR_FORMAT);
    CHECK_RC(ke_note_open_statement(&vo, sn, sl, "keyescrow-v1-receipt", &text, NULL), KE_ERR_AUTH);
    free(sn);
    /* texts the signer refuses */
    static const char *refused[] = {
      "escrow.example.org/audit\n1\nAAAA\n", /* not a statement */
      "keyescrow-v1-x",                      /* no final newline */
      "keyescrow-v1-x\n\nmore\n",            /* empty line */
      "keyescrow-v1-x\ttab\n",               /* control character */
      "keyescrow-v1-x\xC3\n",                /* invalid UTF-8 */
      "",
    };
    for (i = 0; i < sizeof refused / sizeof *refused; i++) {
      sn = (char *)"x";
      CHECK_RC(ke_note_sign_statement(k, refused[i], strlen(refused[i]), &sn, NULL), KE_ERR_FORMAT);
      CHECK(sn == NULL);
    }
  }
  free(note);
  ke_note_key_free(k);
  ke_note_key_free(other);
  ke_note_key_free(same_name);
}

static void test_checkpoint_parse(void)
{
  static const char *good[] = {
    "a\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "log.example/x\n9223372036854775808\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
  };
  static const char *bad[] = {
    "a\n00\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", /* leading zero */
    "a\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "a\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "a\n+1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "a\n 1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "a\n1 \n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "a\n\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
    "a\n9223372036854775809\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", /* > 2^63 */
    "a\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    "a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",      /* 31 bytes */
    "a\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  /* 34 bytes */
    "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n",      /* non-canonical */
    "a\n1\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n",      /* base64url */
    "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",       /* no padding */
    "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next\n", /* extension */
    "a\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",        /* no newline */
    "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",       /* no origin */
    "a b\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",    /* space */
    "a\n1\n",
    "",
  };
  ke_note_checkpoint cp;
  char *text = NULL;
  size_t i, tl;

  for (i = 0; i < sizeof good / sizeof *good; i++) {
    CHECK_RC(ke_note_checkpoint_parse(&cp, good[i], strlen(good[i])), KE_OK);
    /* and formatting gives the same bytes back */
    CHECK_RC(ke_note_checkpoint_format(&cp, &text, &tl), KE_OK);
    CHECK(text && tl == strlen(good[i]) && strcmp(text, good[i]) == 0);
    free(text);
  }
  CHECK(cp.size == (UINT64_C(1) << 63));
  for (i = 0; i < sizeof bad / sizeof *bad; i++) {
    CHECK(ke_note_checkpoint_parse(&cp, bad[i], strlen(bad[i])) == KE_ERR_FORMAT,
          "checkpoint body accepted: %s", bad[i]);
  }
}

static void test_b64(void)
{
  uint8_t out[8];
  size_t n;
  char *e;

  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQID", 4), KE_OK);
  CHECK(n == 3 && out[0] == 1 && out[2] == 3);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQI=", 4), KE_OK);
  CHECK(n == 2);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQ==", 4), KE_OK);
  CHECK(n == 1);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AR==", 4), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQJ=", 4), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "A===", 4), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "=AAA", 4), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AA=A", 4), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQ", 2), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQ==AQ==", 8), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "AQ\nA", 4), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "", 0), KE_ERR_FORMAT);
  CHECK_RC(ke_note_b64_decode(out, 2, &n, "AQID", 4), KE_ERR_LENGTH);
  CHECK_RC(ke_note_b64_decode(out, sizeof out, &n, "+/+/", 4), KE_OK);
  CHECK(n == 3 && out[0] == 0xFB && out[1] == 0xFF && out[2] == 0xBF);
  e = ke_note_b64_encode(out, 3);
  CHECK(e && strcmp(e, "+/+/") == 0);
  free(e);
  e = ke_note_b64_encode(out, 0);
  CHECK(e && strcmp(e, "") == 0);
  free(e);
}

static void test_names_and_vkeys(void)
{
  static const char *bad_names[] = {"",     "a b", "a+b", "a\tb", "caf\xC3\xA9", "keyescrow-v1-log",
                                    "a\x7f"};
  static const char *bad_vkeys[] = {
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* wrong ID */
    "PeterNeumanN+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* wrong name */
    "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* length */
    "PeterNeumann+c74f20a3+AhpcQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+AhpcQ2cUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", /* type 0x02 */
    "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  /* short ID */
    "PeterNeumann+c74f20a3ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20g3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    "PeterNeumann",
    "",
  };
  ke_note_key *k;
  ke_note_verifier v;
  size_t i;

  for (i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
    CHECK(!ke_note_name_valid(bad_names[i]));
    k = (ke_note_key *)1;
    CHECK_RC(ke_note_key_generate(&k, bad_names[i]), KE_ERR_FORMAT);
    CHECK(k == NULL);
  }
  CHECK(ke_note_name_valid("escrow.example.org/audit"));
  for (i = 0; i < sizeof bad_vkeys / sizeof *bad_vkeys; i++) {
    CHECK(ke_note_vkey_parse(&v, bad_vkeys[i]) != KE_OK, "verifier key accepted: %s", bad_vkeys[i]);
  }
  /* upper-case hex in the ID is accepted, as by the reference */
  CHECK_RC(
    ke_note_vkey_parse(&v, "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
    KE_OK);
  /* a base64 key containing '+' (the split is on the first two '+' only) */
  {
    ke_note_verifier w;
    char *s = NULL;
    int found = 0;
    for (i = 0; i < 200 && !found; i++) {
      ke_note_key *t = NULL;
      REQUIRE(ke_note_key_generate(&t, "plus.example") == KE_OK);
      ke_note_key_verifier(t, &w);
      REQUIRE(ke_note_vkey_format(&w, &s) == KE_OK);
      if (strchr(s + strlen("plus.example+12345678+"), '+')) {
        found = 1;
        CHECK_RC(ke_note_vkey_parse(&v, s), KE_OK);
        CHECK(memcmp(&v, &w, sizeof v) == 0);
      }
      free(s);
      ke_note_key_free(t);
    }
    CHECK(found);
  }
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  snprintf(scratch, sizeof scratch, "%s", argv[1]);
  if (mkdir(scratch, 0700) != 0 && errno != EEXIST) {
    perror(scratch);
    return 2;
  }
  test_go_vector();
  test_checkpoint();
  test_checkpoint_parse();
  test_b64();
  test_names_and_vkeys();
  return ke_test_result("note");
}
