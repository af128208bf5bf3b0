/*
 * ke_cosig.c - witness cosignatures (see ke_cosig.h).
 */
#include "ke_cosig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define SIG_PREFIX "\xE2\x80\x94 " /* U+2014 EM DASH, space */
#define SIG_PREFIX_LEN 4
#define COSIG_HEADER "cosignature/v1\n"

ke_rc ke_cosig_key_id(uint32_t *out, const char *name, const uint8_t pub[KE_NOTE_PUB_LEN])
{
  return ke_note_key_id_typed(out, name, KE_COSIG_TYPE_ED25519, pub);
}

ke_rc ke_cosig_vkey_parse(ke_cosig_verifier *out, const char *vkey)
{
  const char *p1, *p2;
  uint8_t raw[1 + KE_NOTE_PUB_LEN];
  size_t namelen, got = 0;
  char hex[9];
  uint32_t id;
  ke_cosig_verifier v;

  memset(&v, 0, sizeof v);
  if (!vkey || !(p1 = strchr(vkey, '+')) || !(p2 = strchr(p1 + 1, '+')) || p2 - p1 != 9)
    return KE_ERR_FORMAT;
  namelen = (size_t)(p1 - vkey);
  if (namelen == 0 || namelen > KE_NOTE_MAX_NAME)
    return KE_ERR_FORMAT;
  memcpy(v.name, vkey, namelen);
  if (!ke_note_name_valid(v.name))
    return KE_ERR_FORMAT;
  memcpy(hex, p1 + 1, 8);
  hex[8] = '\0';
  for (int i = 0; i < 8; i++)
    if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
      return KE_ERR_FORMAT;
  v.key_id = (uint32_t)strtoul(hex, NULL, 16);
  if (ke_note_b64_decode(raw, sizeof raw, &got, p2 + 1, strlen(p2 + 1)) != KE_OK ||
      got != sizeof raw || raw[0] != KE_COSIG_TYPE_ED25519)
    return KE_ERR_FORMAT;
  memcpy(v.pub, raw + 1, KE_NOTE_PUB_LEN);
  if (ke_cosig_key_id(&id, v.name, v.pub) != KE_OK || id != v.key_id)
    return KE_ERR_FORMAT;
  *out = v;
  return KE_OK;
}

ke_rc ke_cosig_split(const char *note, size_t len, size_t *body_len, const char **sigs,
                     size_t *sigs_len)
{
  size_t i;

  if (!note || len < 3 || note[len - 1] != '\n')
    return KE_ERR_FORMAT;
  /* The body ends at the last empty line, as in ke_note_open. */
  for (i = len - 1; i > 0; i--)
    if (note[i] == '\n' && note[i - 1] == '\n') {
      *body_len = i;
      *sigs = note + i + 1;
      *sigs_len = len - i - 1;
      return *sigs_len ? KE_OK : KE_ERR_FORMAT;
    }
  return KE_ERR_FORMAT;
}

/* The decoded bytes of a line shaped like a cosignature, or -1. */
static int line_bytes(const char *line, size_t n, char *name, uint8_t out[KE_COSIG_LEN])
{
  const char *nm, *sp;
  size_t namelen, got = 0;

  if (n < SIG_PREFIX_LEN || memcmp(line, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
    return -1;
  nm = line + SIG_PREFIX_LEN;
  if (!(sp = memchr(nm, ' ', n - SIG_PREFIX_LEN)))
    return -1;
  namelen = (size_t)(sp - nm);
  if (namelen == 0 || namelen > KE_NOTE_MAX_NAME)
    return -1;
  memcpy(name, nm, namelen);
  name[namelen] = '\0';
  if (!ke_note_name_valid(name) ||
      ke_note_b64_decode(out, KE_COSIG_LEN, &got, sp + 1, (size_t)(line + n - sp - 1)) != KE_OK ||
      got != KE_COSIG_LEN)
    return -1;
  return 0;
}

int ke_cosig_line_valid(const char *line, size_t n, char *name)
{
  uint8_t b[KE_COSIG_LEN];
  return line_bytes(line, n, name, b) == 0;
}

static ke_rc verify_one(const ke_cosig_verifier *w, const uint8_t b[KE_COSIG_LEN], const char *body,
                        size_t body_len, uint64_t *ts)
{
  char head[64];
  uint8_t *msg;
  size_t hl;
  uint64_t t = 0;
  ke_rc rc;

  for (int i = 0; i < 8; i++)
    t = t << 8 | b[4 + i];
  if (t > (UINT64_C(1) << 63) - 1)
    return KE_ERR_AUTH;
  hl = (size_t)snprintf(head, sizeof head, COSIG_HEADER "time %llu\n", (unsigned long long)t);
  if (!(msg = malloc(hl + body_len)))
    return KE_ERR_NOMEM;
  memcpy(msg, head, hl);
  memcpy(msg + hl, body, body_len);
  rc = ke_note_verify_raw(w->pub, msg, hl + body_len, b + 12);
  free(msg);
  if (rc == KE_OK && ts)
    *ts = t;
  return rc;
}

ke_rc ke_cosig_verify(const ke_cosig_verifier *w, const char *note, size_t len, uint64_t *timestamp)
{
  const char *sigs, *p, *nl, *end;
  size_t body_len, sigs_len;
  char name[KE_NOTE_MAX_NAME + 1];
  uint8_t b[KE_COSIG_LEN];
  int verified = 0;
  ke_rc rc;

  if ((rc = ke_cosig_split(note, len, &body_len, &sigs, &sigs_len)))
    return rc;
  end = sigs + sigs_len;
  for (p = sigs; p < end; p = nl + 1) {
    uint32_t id;
    nl = memchr(p, '\n', (size_t)(end - p));
    if (line_bytes(p, (size_t)(nl - p), name, b) != 0 || strcmp(name, w->name) != 0)
      continue; /* another key's line (or another algorithm): ignored */
    id = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (id != w->key_id)
      continue;
    /* This witness's line: it must verify. */
    if ((rc = verify_one(w, b, note, body_len, timestamp)))
      return rc;
    verified = 1;
  }
  return verified ? KE_OK : KE_ERR_AUTH;
}
