/*
 * ke_note_key.c - the Ed25519 signing key of signed notes: generation, the
 * key file, verifier key strings, and signing statements and checkpoints.
 * Parsing and verification live in ke_note.c.
 */
#include "ke_note.h"
#include "ke_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define SIG_PREFIX "\xE2\x80\x94 " /* U+2014 EM DASH, space */
#define KEYFILE_PREFIX "PRIVATE+KEY+"
#define KEYFILE_MAX 1024

struct ke_note_key {
  EVP_PKEY *pkey;
  ke_note_verifier v;
};

/* ---- keys ------------------------------------------------------------------------ */

static ke_rc key_from_pkey(ke_note_key **out, const char *name, EVP_PKEY *pkey)
{
  ke_note_key *k;
  size_t publen = KE_NOTE_PUB_LEN;
  ke_rc rc;

  if (!(k = calloc(1, sizeof *k))) {
    EVP_PKEY_free(pkey);
    return KE_ERR_NOMEM;
  }
  k->pkey = pkey;
  memcpy(k->v.name, name, strlen(name) + 1);
  if (EVP_PKEY_get_raw_public_key(pkey, k->v.pub, &publen) != 1 || publen != KE_NOTE_PUB_LEN)
    rc = KE_ERR_INTERNAL;
  else
    rc = ke_note_key_id(&k->v.key_id, name, k->v.pub);
  if (rc) {
    ke_note_key_free(k);
    return rc;
  }
  *out = k;
  return KE_OK;
}

ke_rc ke_note_key_generate(ke_note_key **out, const char *name)
{
  EVP_PKEY *pkey;

  *out = NULL;
  if (!ke_note_name_valid(name))
    return KE_ERR_FORMAT;
  if (!(pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")))
    return KE_ERR_RANDOM;
  return key_from_pkey(out, name, pkey);
}

ke_rc ke_note_key_from_seed(ke_note_key **out, const char *name,
                            const uint8_t seed[KE_NOTE_SEED_LEN])
{
  EVP_PKEY *pkey;

  *out = NULL;
  if (!ke_note_name_valid(name))
    return KE_ERR_FORMAT;
  if (!(pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, KE_NOTE_SEED_LEN)))
    return KE_ERR_INTERNAL;
  return key_from_pkey(out, name, pkey);
}

void ke_note_key_free(ke_note_key *k)
{
  if (!k)
    return;
  EVP_PKEY_free(k->pkey);
  free(k);
}

const char *ke_note_key_name(const ke_note_key *k) { return k->v.name; }

void ke_note_key_verifier(const ke_note_key *k, ke_note_verifier *out) { *out = k->v; }

/* "name+xxxxxxxx+base64(0x01 || key)" into a malloc'd string. */
static ke_rc format_key_string(char **out, const char *prefix, const char *name, uint32_t id,
                               const uint8_t key[32])
{
  uint8_t typed[33];
  char *b64, *s;
  size_t n;

  *out = NULL;
  typed[0] = KE_NOTE_TYPE_ED25519;
  memcpy(typed + 1, key, 32);
  b64 = ke_note_b64_encode(typed, sizeof typed);
  OPENSSL_cleanse(typed, sizeof typed);
  if (!b64)
    return KE_ERR_NOMEM;
  n = strlen(prefix) + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
  if ((s = malloc(n)))
    snprintf(s, n, "%s%s+%08x+%s", prefix, name, (unsigned)id, b64);
  OPENSSL_cleanse(b64, strlen(b64));
  free(b64);
  if (!s)
    return KE_ERR_NOMEM;
  *out = s;
  return KE_OK;
}

/* Parse "name+xxxxxxxx+base64(0x01 || key)"; the ID must match `key_id`
 * as computed by the caller afterwards, so only the syntax is checked. */
static ke_rc parse_key_string(const char *s, char name[KE_NOTE_MAX_NAME + 1], uint32_t *id,
                              uint8_t key[32])
{
  const char *plus = strchr(s, '+'), *hex, *b64;
  uint8_t typed[33];
  size_t n, i, got;
  uint32_t v = 0;
  int d;
  ke_rc rc;

  if (!plus || (n = (size_t)(plus - s)) == 0 || n > KE_NOTE_MAX_NAME)
    return KE_ERR_FORMAT;
  memcpy(name, s, n);
  name[n] = '\0';
  if (!ke_note_name_valid(name))
    return KE_ERR_FORMAT;
  hex = plus + 1;
  for (i = 0; i < 8; i++) {
    if ((d = ke_hex_digit(hex[i])) < 0)
      return KE_ERR_FORMAT;
    v = v << 4 | (uint32_t)d;
  }
  if (hex[8] != '+')
    return KE_ERR_FORMAT;
  b64 = hex + 9;
  rc = ke_note_b64_decode(typed, sizeof typed, &got, b64, strlen(b64));
  if (rc == KE_OK && (got != sizeof typed || typed[0] != KE_NOTE_TYPE_ED25519))
    rc = KE_ERR_FORMAT;
  if (rc == KE_OK)
    memcpy(key, typed + 1, 32);
  OPENSSL_cleanse(typed, sizeof typed);
  *id = v;
  return rc == KE_ERR_LENGTH ? KE_ERR_FORMAT : rc;
}

ke_rc ke_note_vkey_format(const ke_note_verifier *v, char **out)
{
  return format_key_string(out, "", v->name, v->key_id, v->pub);
}

ke_rc ke_note_vkey_parse(ke_note_verifier *out, const char *vkey)
{
  ke_note_verifier v;
  uint32_t id;
  ke_rc rc;

  memset(out, 0, sizeof *out);
  memset(&v, 0, sizeof v); /* whole-struct comparisons stay meaningful */
  if (!vkey || strlen(vkey) > 2 * KE_NOTE_MAX_NAME)
    return KE_ERR_FORMAT;
  if ((rc = parse_key_string(vkey, v.name, &v.key_id, v.pub)))
    return rc;
  if ((rc = ke_note_key_id(&id, v.name, v.pub)))
    return rc;
  if (id != v.key_id)
    return KE_ERR_FORMAT;
  *out = v;
  return KE_OK;
}

/* The file is written completely under a temporary name and then published
 * without replacing an existing file (ke_write_file).  So a second escrowd
 * starting at the same moment either wins or gets EEXIST and can load the
 * complete key of the first; it never reads half a file.  The key must also
 * survive a crash once it has signed anything: a lost key file would make
 * the server sign later checkpoints with a fresh key. */
ke_rc ke_note_key_save(const ke_note_key *k, const char *path)
{
  uint8_t seed[KE_NOTE_SEED_LEN];
  size_t seedlen = sizeof seed, len = 0;
  char *text = NULL;
  ke_io_err e;
  ke_rc rc;

  if (EVP_PKEY_get_raw_private_key(k->pkey, seed, &seedlen) != 1 || seedlen != sizeof seed) {
    OPENSSL_cleanse(seed, sizeof seed);
    return KE_ERR_INTERNAL;
  }
  rc = format_key_string(&text, KEYFILE_PREFIX, k->v.name, k->v.key_id, seed);
  OPENSSL_cleanse(seed, sizeof seed);
  if (rc)
    return rc;
  len = strlen(text);
  text[len++] = '\n'; /* replaces the NUL; the length is tracked */
  rc = ke_write_file(path, text, len, 0600, 0, &e);
  OPENSSL_cleanse(text, len);
  free(text);
  if (rc)
    errno = e.err; /* the caller tells EEXIST (another escrowd won) apart */
  return rc;
}

ke_rc ke_note_key_load_or_create(ke_note_key **out, const char *path, const char *name,
                                 int *created)
{
  ke_note_key *k = NULL;
  ke_rc rc;

  *out = NULL;
  *created = 0;
  if (!ke_note_name_valid(name))
    return KE_ERR_FORMAT;
  rc = ke_note_key_load(&k, path);
  if (rc == KE_ERR_IO && errno == ENOENT) {
    if ((rc = ke_note_key_generate(&k, name)))
      return rc;
    rc = ke_note_key_save(k, path);
    if (rc == KE_OK) {
      *created = 1;
    } else {
      ke_note_key_free(k);
      k = NULL;
      /* Another process created it first: use that one. */
      if (rc == KE_ERR_IO && errno == EEXIST)
        rc = ke_note_key_load(&k, path);
    }
  }
  if (rc)
    return rc;
  /* A different name means the origin was reconfigured under an existing
   * key file; signing a new origin silently would split the log. */
  if (strcmp(k->v.name, name) != 0) {
    ke_note_key_free(k);
    *created = 0;
    return KE_ERR_FORMAT;
  }
  *out = k;
  return KE_OK;
}

ke_rc ke_note_key_load(ke_note_key **out, const char *path)
{
  char buf[KEYFILE_MAX + 1], name[KE_NOTE_MAX_NAME + 1];
  uint8_t seed[KE_NOTE_SEED_LEN];
  struct stat st;
  size_t len = 0;
  ssize_t r;
  uint32_t id;
  ke_note_key *k = NULL;
  int fd;
  ke_rc rc;

  *out = NULL;
  if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    return KE_ERR_IO;
  /* Check the file actually opened (no race with a rename in between). */
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
    close(fd);
    errno = EPERM;
    return KE_ERR_IO;
  }
  while (len < sizeof buf) {
    r = read(fd, buf + len, sizeof buf - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      OPENSSL_cleanse(buf, sizeof buf);
      close(fd);
      return KE_ERR_IO;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  close(fd);
  rc = KE_ERR_FORMAT;
  if (len == 0 || len > KEYFILE_MAX || buf[len - 1] != '\n')
    goto out;
  buf[len - 1] = '\0';
  if (strlen(buf) != len - 1 || strncmp(buf, KEYFILE_PREFIX, strlen(KEYFILE_PREFIX)) != 0)
    goto out;
  if ((rc = parse_key_string(buf + strlen(KEYFILE_PREFIX), name, &id, seed)))
    goto out;
  if ((rc = ke_note_key_from_seed(&k, name, seed)))
    goto out;
  /* The stored ID is a checksum of name and key: a mismatch means a
   * damaged or hand-edited file. */
  if (k->v.key_id != id) {
    ke_note_key_free(k);
    rc = KE_ERR_FORMAT;
    goto out;
  }
  *out = k;
out:
  OPENSSL_cleanse(buf, sizeof buf);
  OPENSSL_cleanse(seed, sizeof seed);
  return rc;
}

/* ---- signing -------------------------------------------------------------------- */

/* text || "\n" || "— name base64(id || sig)\n".  The text was validated. */
static ke_rc sign_text(const ke_note_key *k, const char *text, size_t len, char **note,
                       size_t *notelen)
{
  uint8_t sig[4 + KE_NOTE_SIG_LEN];
  size_t siglen = KE_NOTE_SIG_LEN, n;
  EVP_MD_CTX *ctx;
  char *b64, *out;
  int ok;

  *note = NULL;
  if (notelen)
    *notelen = 0;
  if (!(ctx = EVP_MD_CTX_new()))
    return KE_ERR_NOMEM;
  /* Ed25519 is "pure": no digest is named, the whole text is signed. */
  ok = EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
       EVP_DigestSign(ctx, sig + 4, &siglen, (const unsigned char *)text, len) == 1 &&
       siglen == KE_NOTE_SIG_LEN;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return KE_ERR_INTERNAL;
  sig[0] = (uint8_t)(k->v.key_id >> 24);
  sig[1] = (uint8_t)(k->v.key_id >> 16);
  sig[2] = (uint8_t)(k->v.key_id >> 8);
  sig[3] = (uint8_t)k->v.key_id;
  if (!(b64 = ke_note_b64_encode(sig, sizeof sig)))
    return KE_ERR_NOMEM;
  n = len + 1 + strlen(SIG_PREFIX) + strlen(k->v.name) + 1 + strlen(b64) + 2;
  if ((out = malloc(n))) {
    memcpy(out, text, len);
    snprintf(out + len, n - len, "\n%s%s %s\n", SIG_PREFIX, k->v.name, b64);
  }
  free(b64);
  if (!out)
    return KE_ERR_NOMEM;
  *note = out;
  if (notelen)
    *notelen = len + strlen(out + len);
  return KE_OK;
}

ke_rc ke_note_sign_statement(const ke_note_key *k, const char *text, size_t len, char **note,
                             size_t *notelen)
{
  *note = NULL;
  if (notelen)
    *notelen = 0;
  if (!ke_note_text_valid(text, len) ||
      strncmp(text, KE_NOTE_STATEMENT_PREFIX, strlen(KE_NOTE_STATEMENT_PREFIX)) != 0)
    return KE_ERR_FORMAT;
  return sign_text(k, text, len, note, notelen);
}

ke_rc ke_note_checkpoint_sign(const ke_note_key *k, uint64_t size, const uint8_t root[32],
                              char **note, size_t *notelen)
{
  ke_note_checkpoint cp;
  char *text;
  size_t len;
  ke_rc rc;

  *note = NULL;
  if (notelen)
    *notelen = 0;
  memset(&cp, 0, sizeof cp);
  memcpy(cp.origin, k->v.name, strlen(k->v.name) + 1);
  cp.size = size;
  memcpy(cp.root, root, sizeof cp.root);
  if ((rc = ke_note_checkpoint_format(&cp, &text, &len)))
    return rc;
  rc = sign_text(k, text, len, note, notelen);
  free(text);
  return rc;
}

ke_rc ke_note_key_sign_raw(const ke_note_key *k, const uint8_t *msg, size_t len,
                           uint8_t sig[KE_NOTE_SIG_LEN])
{
  size_t siglen = KE_NOTE_SIG_LEN;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok;

  if (!ctx)
    return KE_ERR_NOMEM;
  ok = EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
       EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == KE_NOTE_SIG_LEN;
  EVP_MD_CTX_free(ctx);
  return ok ? KE_OK : KE_ERR_INTERNAL;
}
