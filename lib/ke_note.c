/*
 * ke_note.c - C2SP signed notes and tlog checkpoints with Ed25519.
 *
 * Parsing follows c2sp.org/signed-note and the reference implementation
 * (golang.org/x/mod/sumdb/note), and is stricter where the spec leaves
 * room: base64 must be canonical, our own texts never contain empty lines,
 * and checkpoint bodies have exactly three lines.
 */
#include "ke_note.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ke_merkle.h"

#define SIG_PREFIX "\xE2\x80\x94 " /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4
/* ---- names, key IDs, base64 -------------------------------------------------- */

int ke_note_name_valid(const char *name)
{
  size_t i, n;

  if (!name || (n = strlen(name)) == 0 || n > KE_NOTE_MAX_NAME)
    return 0;
  for (i = 0; i < n; i++)
    if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7F || name[i] == '+')
      return 0;
  return strncmp(name, KE_NOTE_STATEMENT_PREFIX, strlen(KE_NOTE_STATEMENT_PREFIX)) != 0;
}

ke_rc ke_note_key_id(uint32_t *out, const char *name, const uint8_t pub[KE_NOTE_PUB_LEN])
{
  return ke_note_key_id_typed(out, name, KE_NOTE_TYPE_ED25519, pub);
}

ke_rc ke_note_key_id_typed(uint32_t *out, const char *name, uint8_t type,
                           const uint8_t pub[KE_NOTE_PUB_LEN])
{
  const uint8_t sep[2] = {0x0A, type};
  uint8_t h[32];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok;

  if (!ctx)
    return KE_ERR_NOMEM;
  ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
       EVP_DigestUpdate(ctx, name, strlen(name)) == 1 &&
       EVP_DigestUpdate(ctx, sep, sizeof sep) == 1 &&
       EVP_DigestUpdate(ctx, pub, KE_NOTE_PUB_LEN) == 1 && EVP_DigestFinal_ex(ctx, h, NULL) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok)
    return KE_ERR_INTERNAL;
  *out = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  return KE_OK;
}

char *ke_note_b64_encode(const uint8_t *in, size_t len)
{
  char *out;

  if (len > (size_t)INT32_MAX / 2)
    return NULL;
  if (!(out = malloc(4 * ((len + 2) / 3) + 1)))
    return NULL;
  /* EVP_EncodeBlock writes standard base64 with padding and a NUL. */
  EVP_EncodeBlock((unsigned char *)out, in, (int)len);
  return out;
}

static int b64_val(unsigned char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

ke_rc ke_note_b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t inlen)
{
  size_t i, o = 0, pad = 0;
  uint32_t acc;
  int v, j;

  *outlen = 0;
  if (inlen == 0 || inlen % 4)
    return KE_ERR_FORMAT;
  if (in[inlen - 1] == '=')
    pad = in[inlen - 2] == '=' ? 2 : 1;
  if (inlen / 4 * 3 - pad > cap)
    return KE_ERR_LENGTH;
  for (i = 0; i < inlen; i += 4) {
    acc = 0;
    for (j = 0; j < 4; j++) {
      if (i + 4 == inlen && j >= 4 - (int)pad) {
        if (in[i + j] != '=')
          return KE_ERR_FORMAT;
        v = 0;
      } else if ((v = b64_val((unsigned char)in[i + j])) < 0) {
        return KE_ERR_FORMAT;
      }
      acc = acc << 6 | (uint32_t)v;
    }
    /* The bits under the padding must be zero, so there is one spelling. */
    if (i + 4 == inlen && ((pad == 1 && (acc & 0xFF)) || (pad == 2 && (acc & 0xFFFF))))
      return KE_ERR_FORMAT;
    out[o++] = (uint8_t)(acc >> 16);
    if (!(i + 4 == inlen && pad == 2))
      out[o++] = (uint8_t)(acc >> 8);
    if (!(i + 4 == inlen && pad >= 1))
      out[o++] = (uint8_t)acc;
  }
  *outlen = o;
  return KE_OK;
}

/* ---- text checks --------------------------------------------------------------- */

/* Signed notes must be valid UTF-8 without control characters but "\n". */
static int note_chars_ok(const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, step;
  uint32_t cp;

  while (i < n) {
    if (!(step = ke_utf8_next(u + i, n - i, &cp)) || (cp < 0x20 && cp != '\n'))
      return 0;
    i += step;
  }
  return 1;
}

/* Unicode White_Space (what the reference implementation's unicode.IsSpace
 * refuses in key names). */
static int is_unicode_space(uint32_t c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

/* Any name the spec allows (in signature lines of other keys). */
static int spec_name_ok(const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, step;
  uint32_t cp;

  if (n == 0)
    return 0;
  while (i < n) {
    if (!(step = ke_utf8_next(u + i, n - i, &cp)) || is_unicode_space(cp) || cp == '+')
      return 0;
    i += step;
  }
  return 1;
}

int ke_note_text_valid(const char *t, size_t n)
{
  size_t i;

  if (!t || n == 0 || n > KE_NOTE_MAX_LEN / 2 || t[0] == '\n' || t[n - 1] != '\n')
    return 0;
  for (i = 1; i < n; i++)
    if (t[i] == '\n' && t[i - 1] == '\n')
      return 0;
  return note_chars_ok(t, n);
}

/* ---- opening notes ---------------------------------------------------------------- */

ke_rc ke_note_verify_raw(const uint8_t pub[KE_NOTE_PUB_LEN], const uint8_t *msg, size_t len,
                         const uint8_t sig[KE_NOTE_SIG_LEN])
{
  return ke_ed25519_verify(pub, msg, len, sig);
}

/* One signature line, without its "\n".  Sets *verified when it is a good
 * signature by `v`; lines of unknown keys are checked for syntax, then
 * skipped. */
static ke_rc check_sig_line(const ke_note_verifier *v, const char *line, size_t n, const char *text,
                            size_t textlen, int *verified)
{
  const char *name, *sp, *b64;
  uint8_t *sig;
  size_t namelen, blen, got;
  uint32_t id;
  ke_rc rc;

  if (n < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
    return KE_ERR_FORMAT;
  name = line + SIG_PREFIX_LEN;
  if (!(sp = memchr(name, ' ', n - SIG_PREFIX_LEN)))
    return KE_ERR_FORMAT;
  namelen = (size_t)(sp - name);
  b64 = sp + 1;
  blen = (size_t)(line + n - b64);
  if (!spec_name_ok(name, namelen) || blen == 0 || blen % 4)
    return KE_ERR_FORMAT;
  /* Other algorithms may have much longer signatures (the whole note is
   * bounded, so this is too). */
  if (!(sig = malloc(blen / 4 * 3)))
    return KE_ERR_NOMEM;
  rc = ke_note_b64_decode(sig, blen / 4 * 3, &got, b64, blen);
  if (rc == KE_OK && got < 5)
    rc = KE_ERR_FORMAT;
  if (rc)
    goto out;
  id = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 | sig[3];
  if (namelen != strlen(v->name) || memcmp(name, v->name, namelen) != 0 || id != v->key_id)
    goto out; /* somebody else's signature: ignored, as the spec says */
  /* Name and ID are the pinned key's: it must verify, or the whole note is
   * rejected. */
  if (got != 4 + KE_NOTE_SIG_LEN)
    rc = KE_ERR_AUTH;
  else if ((rc = ke_ed25519_verify(v->pub, text, textlen, sig + 4)) == KE_OK)
    *verified = 1;
out:
  free(sig);
  return rc;
}

ke_rc ke_note_open(const ke_note_verifier *v, const char *note, size_t len, char **text,
                   size_t *textlen)
{
  const char *sigs, *p, *nl, *end;
  size_t split, i, nsig = 0;
  int verified = 0;
  char *t;
  ke_rc rc;

  *text = NULL;
  if (textlen)
    *textlen = 0;
  if (!note || len < 2 || len > KE_NOTE_MAX_LEN || !note_chars_ok(note, len))
    return KE_ERR_FORMAT;
  /* The text ends at the last empty line: find the last "\n\n". */
  for (split = 0, i = len - 1; i > 0; i--)
    if (note[i] == '\n' && note[i - 1] == '\n') {
      split = i;
      break;
    }
  if (split == 0)
    return KE_ERR_FORMAT;
  sigs = note + split + 1;
  end = note + len;
  if (sigs == end || end[-1] != '\n')
    return KE_ERR_FORMAT;
  for (p = sigs; p < end; p = nl + 1) {
    nl = memchr(p, '\n', (size_t)(end - p));
    if (++nsig > KE_NOTE_MAX_SIGS)
      return KE_ERR_FORMAT;
    if ((rc = check_sig_line(v, p, (size_t)(nl - p), note, split, &verified)))
      return rc;
  }
  if (!verified)
    return KE_ERR_AUTH;
  if (!(t = malloc(split + 1)))
    return KE_ERR_NOMEM;
  memcpy(t, note, split);
  t[split] = '\0';
  *text = t;
  if (textlen)
    *textlen = split;
  return KE_OK;
}

ke_rc ke_note_open_statement(const ke_note_verifier *v, const char *note, size_t len,
                             const char *type, char **text, size_t *textlen)
{
  size_t tl, n;
  char *t;
  ke_rc rc;

  *text = NULL;
  if (textlen)
    *textlen = 0;
  if (!type || strncmp(type, KE_NOTE_STATEMENT_PREFIX, strlen(KE_NOTE_STATEMENT_PREFIX)) != 0)
    return KE_ERR_FORMAT;
  if ((rc = ke_note_open(v, note, len, &t, &tl)))
    return rc;
  n = strlen(type);
  if (tl <= n || memcmp(t, type, n) != 0 || t[n] != '\n') {
    free(t);
    return KE_ERR_FORMAT;
  }
  *text = t;
  if (textlen)
    *textlen = tl;
  return KE_OK;
}

/* ---- checkpoints ------------------------------------------------------------------ */

ke_rc ke_note_checkpoint_format(const ke_note_checkpoint *cp, char **text, size_t *textlen)
{
  char *root, *t;
  size_t n;
  int w;

  *text = NULL;
  if (textlen)
    *textlen = 0;
  if (!ke_note_name_valid(cp->origin) || cp->size > KE_MERKLE_MAX_SIZE)
    return KE_ERR_FORMAT;
  if (!(root = ke_note_b64_encode(cp->root, sizeof cp->root)))
    return KE_ERR_NOMEM;
  n = strlen(cp->origin) + 1 + 20 + 1 + strlen(root) + 2;
  if (!(t = malloc(n))) {
    free(root);
    return KE_ERR_NOMEM;
  }
  w = snprintf(t, n, "%s\n%llu\n%s\n", cp->origin, (unsigned long long)cp->size, root);
  free(root);
  if (w < 0 || (size_t)w >= n) {
    free(t);
    return KE_ERR_INTERNAL;
  }
  *text = t;
  if (textlen)
    *textlen = (size_t)w;
  return KE_OK;
}

/* The next line of text[*pos..len), without its "\n"; NULL if none. */
static const char *next_line(const char *text, size_t len, size_t *pos, size_t *n)
{
  const char *s = text + *pos, *nl;

  if (*pos >= len || !(nl = memchr(s, '\n', len - *pos)))
    return NULL;
  *n = (size_t)(nl - s);
  *pos += *n + 1;
  return s;
}

ke_rc ke_note_checkpoint_parse(ke_note_checkpoint *out, const char *text, size_t len)
{
  ke_note_checkpoint cp;
  const char *origin, *size, *root;
  size_t pos = 0, on, sn, rn, got, i;
  uint64_t v = 0;

  memset(out, 0, sizeof *out);
  memset(&cp, 0, sizeof cp);
  if (!text || !(origin = next_line(text, len, &pos, &on)) ||
      !(size = next_line(text, len, &pos, &sn)) || !(root = next_line(text, len, &pos, &rn)) ||
      pos != len)
    return KE_ERR_FORMAT;
  if (on == 0 || on > KE_NOTE_MAX_NAME)
    return KE_ERR_FORMAT;
  memcpy(cp.origin, origin, on);
  /* A NUL inside the line would cut the name short (found by fuzz_note). */
  if (strlen(cp.origin) != on || !ke_note_name_valid(cp.origin))
    return KE_ERR_FORMAT;
  /* Decimal, no sign, no leading zeros except "0" itself, no overflow. */
  if (sn == 0 || sn > 20 || (sn > 1 && size[0] == '0'))
    return KE_ERR_FORMAT;
  for (i = 0; i < sn; i++) {
    if (size[i] < '0' || size[i] > '9' || v > (UINT64_MAX - 9) / 10)
      return KE_ERR_FORMAT;
    v = v * 10 + (uint64_t)(size[i] - '0');
  }
  if (v > KE_MERKLE_MAX_SIZE)
    return KE_ERR_FORMAT;
  cp.size = v;
  if (ke_note_b64_decode(cp.root, sizeof cp.root, &got, root, rn) != KE_OK || got != sizeof cp.root)
    return KE_ERR_FORMAT;
  *out = cp;
  return KE_OK;
}

ke_rc ke_note_checkpoint_open(const ke_note_verifier *v, const char *note, size_t len,
                              ke_note_checkpoint *out)
{
  char *text;
  size_t tl;
  ke_rc rc;

  memset(out, 0, sizeof *out);
  if ((rc = ke_note_open(v, note, len, &text, &tl)))
    return rc;
  rc = ke_note_checkpoint_parse(out, text, tl);
  free(text);
  /* tlog-checkpoint: the key name should match the origin; here it must, so
   * a checkpoint of another log signed with the same key is refused. */
  if (rc == KE_OK && strcmp(out->origin, v->name) != 0) {
    memset(out, 0, sizeof *out);
    rc = KE_ERR_FORMAT;
  }
  return rc;
}

ke_rc ke_note_path_decode(ke_merkle_path *p, const json_t *arr)
{
  size_t i;
  json_t *x;

  p->len = 0;
  if (!json_is_array(arr) || json_array_size(arr) > KE_MERKLE_MAX_PATH)
    return KE_ERR_FORMAT;
  json_array_foreach (arr, i, x) {
    const char *s = json_string_value(x);
    size_t n = 0;
    if (!s || ke_note_b64_decode(p->hash[i], KE_MERKLE_HASH_LEN, &n, s, strlen(s)) != KE_OK ||
        n != KE_MERKLE_HASH_LEN) {
      p->len = 0;
      return KE_ERR_FORMAT;
    }
  }
  p->len = json_array_size(arr);
  return KE_OK;
}
