/*
 * note_tool.c - command-line access to lib/ke_note and lib/ke_canon for the
 * independent Python verifier (note_verify.py).  Test helper only.
 *
 *   audit_note_tool vkey SEEDHEX NAME                     print the verifier key
 *   audit_note_tool sign-checkpoint SEEDHEX NAME SIZE ROOTHEX   note on stdout
 *   audit_note_tool sign-statement SEEDHEX NAME   < text         note on stdout
 *   audit_note_tool open-checkpoint VKEY < note    print "SIZE ROOTHEX"
 *   audit_note_tool open-note VKEY < note          print the signed text
 *   audit_note_tool canon-check < lines            every line canonical JSON?
 * Exit status 0 on success, 1 on a refused input, 2 on a usage error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_canon.h"
#include "ke_note.h"

static int hex_decode(uint8_t *out, size_t n, const char *hex)
{
  size_t i;
  unsigned v;

  if (strlen(hex) != 2 * n)
    return -1;
  for (i = 0; i < n; i++) {
    if (sscanf(hex + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  return 0;
}

static char *read_all(FILE *f, size_t *len)
{
  size_t cap = 4096, n = 0, r;
  char *b = malloc(cap + 1), *nb;

  while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap) {
      cap *= 2;
      if (!(nb = realloc(b, cap + 1))) {
        free(b);
        return NULL;
      }
      b = nb;
    }
  }
  if (b)
    b[n] = '\0';
  *len = n;
  return b;
}

static ke_note_key *key_arg(const char *seedhex, const char *name)
{
  uint8_t seed[KE_NOTE_SEED_LEN];
  ke_note_key *k = NULL;

  if (hex_decode(seed, sizeof seed, seedhex) != 0 || ke_note_key_from_seed(&k, name, seed))
    k = NULL;
  memset(seed, 0, sizeof seed);
  return k;
}

static int fail(const char *what, ke_rc rc)
{
  fprintf(stderr, "%s: %s (rc %d)\n", what, ke_rc_str(rc), (int)rc);
  return 1;
}

int main(int argc, char **argv)
{
  ke_note_verifier v;
  ke_note_checkpoint cp;
  ke_note_key *k;
  char *in, *out = NULL, *line, *save = NULL;
  size_t len, outlen;
  uint8_t root[32];
  ke_rc rc;
  int i;

  if (argc == 4 && strcmp(argv[1], "vkey") == 0 && (k = key_arg(argv[2], argv[3]))) {
    ke_note_key_verifier(k, &v);
    ke_note_key_free(k);
    if ((rc = ke_note_vkey_format(&v, &out)))
      return fail("vkey", rc);
    printf("%s\n", out);
    free(out);
    return 0;
  }
  if (argc == 6 && strcmp(argv[1], "sign-checkpoint") == 0 && (k = key_arg(argv[2], argv[3])) &&
      hex_decode(root, sizeof root, argv[5]) == 0) {
    rc = ke_note_checkpoint_sign(k, strtoull(argv[4], NULL, 10), root, &out, &outlen);
    ke_note_key_free(k);
    if (rc)
      return fail("sign-checkpoint", rc);
    fwrite(out, 1, outlen, stdout);
    free(out);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "sign-statement") == 0 && (k = key_arg(argv[2], argv[3]))) {
    in = read_all(stdin, &len);
    rc = in ? ke_note_sign_statement(k, in, len, &out, &outlen) : KE_ERR_NOMEM;
    ke_note_key_free(k);
    free(in);
    if (rc)
      return fail("sign-statement", rc);
    fwrite(out, 1, outlen, stdout);
    free(out);
    return 0;
  }
  if (argc == 3 && (strcmp(argv[1], "open-checkpoint") == 0 || strcmp(argv[1], "open-note") == 0)) {
    if ((rc = ke_note_vkey_parse(&v, argv[2])))
      return fail("verifier key", rc);
    if (!(in = read_all(stdin, &len)))
      return fail("read", KE_ERR_NOMEM);
    if (argv[1][5] == 'c') {
      rc = ke_note_checkpoint_open(&v, in, len, &cp);
      if (rc == KE_OK) {
        printf("%" PRIu64 " ", cp.size);
        for (i = 0; i < 32; i++)
          printf("%02x", cp.root[i]);
        printf("\n");
      }
    } else if ((rc = ke_note_open(&v, in, len, &out, &outlen)) == KE_OK) {
      fwrite(out, 1, outlen, stdout);
      free(out);
    }
    free(in);
    return rc ? fail(argv[1], rc) : 0;
  }
  if (argc == 2 && strcmp(argv[1], "canon-check") == 0) {
    if (!(in = read_all(stdin, &len)))
      return fail("read", KE_ERR_NOMEM);
    rc = KE_OK;
    for (line = strtok_r(in, "\n", &save); line && rc == KE_OK; line = strtok_r(NULL, "\n", &save))
      if ((rc = ke_canon_check(line, strlen(line))))
        fprintf(stderr, "not canonical: %s\n", line);
    free(in);
    return rc ? fail("canon-check", rc) : 0;
  }
  fprintf(stderr, "usage: see the comment at the top of note_tool.c\n");
  return 2;
}
