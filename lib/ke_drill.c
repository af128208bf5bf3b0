/*
 * ke_drill.c - drill statements and part names (ke_drill.h).  Every field
 * is checked against a closed character set, so the statement text parses
 * one way only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ke_drill.h"
#include "ke_util.h"

_Static_assert(KE_DRILL_ID_LEN == KE_B32_ID_LEN, "drill and record ids are ke_b32_id_ok ids");

int ke_drill_id_ok(const char *id) { return ke_b32_id_ok(id, "drl-"); }

int ke_drill_selection_ok(const char *sel)
{
  static const char gset[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
  size_t n;

  if (!sel)
    return 0;
  if (strcmp(sel, "all") == 0)
    return 1;
  if (strncmp(sel, "sample:", 7) == 0) {
    n = strlen(sel + 7);
    return n >= 1 && n <= 6 && sel[7] != '0' && strspn(sel + 7, "0123456789") == n;
  }
  if (strncmp(sel, "canary:", 7) == 0) { /* a canary drill of N canaries (ke_canary.h) */
    n = strlen(sel + 7);
    return n >= 1 && n <= 3 && sel[7] != '0' && strspn(sel + 7, "0123456789") == n &&
           atoi(sel + 7) <= KE_DRILL_CANARY_MAX;
  }
  if (strncmp(sel, "group:", 6) == 0) {
    n = strlen(sel + 6);
    return n >= 1 && n <= 64 && sel[6] != '.' && sel[6] != '_' && sel[6] != ':' && sel[6] != '-' &&
           strspn(sel + 6, gset) == n;
  }
  return 0;
}

size_t ke_drill_statement(char out[KE_DRILL_STMT_MAX], const char *id, const char *selection,
                          const char *E_b64, const char *nonce)
{
  int n;

  if (!ke_drill_id_ok(id) || !ke_drill_selection_ok(selection) || !ke_b64url_chars(E_b64, 44) ||
      !ke_b64url_chars(nonce, 22))
    return 0;
  n = snprintf(out, KE_DRILL_STMT_MAX,
               "keyescrow-v1-drill-request\nid=%s\nselect=%s\nE=%s\nnonce=%s\n", id, selection,
               E_b64, nonce);
  return n > 0 && n < KE_DRILL_STMT_MAX ? (size_t)n : 0;
}

int ke_drill_part_id(char out[KE_DRILL_PART_ID_MAX], const char *id, const char *record_id)
{
  if (!ke_drill_id_ok(id) || !ke_b32_id_ok(record_id, "rec-"))
    return 0;
  snprintf(out, KE_DRILL_PART_ID_MAX, "%s/%s", id, record_id);
  return 1;
}

/* ---- the signed drill statement ------------------------------------------- */
int ke_drill_mode_ok(const char *mode)
{
  return mode && (strcmp(mode, "full") == 0 || strcmp(mode, "canary") == 0);
}

static int ke_drill_num(const char *s, size_t n, int lo, int hi)
{
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v >= lo && v <= hi ? v : -1;
}

int ke_drill_expires_ok(const char *t)
{
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;

  if (!t || strlen(t) != KE_DRILL_EXPIRES_LEN || t[4] != '-' || t[7] != '-' || t[10] != 'T' ||
      t[13] != ':' || t[16] != ':' || t[19] != 'Z')
    return 0;
  y = ke_drill_num(t, 4, 2000, 9999);
  m = ke_drill_num(t + 5, 2, 1, 12);
  d = ke_drill_num(t + 8, 2, 1, 31);
  if (y < 0 || m < 0 || d < 0 || d > mdays[m - 1] ||
      (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
    return 0;
  return ke_drill_num(t + 11, 2, 0, 23) >= 0 && ke_drill_num(t + 14, 2, 0, 59) >= 0 &&
         ke_drill_num(t + 17, 2, 0, 59) >= 0;
}

static int ke_drill_ref_cmp(const void *a, const void *b)
{
  return strcmp((*(const ke_drill_recref *const *)a)->record_id,
                (*(const ke_drill_recref *const *)b)->record_id);
}

int ke_drill_records_digest(unsigned char out[32], const ke_drill_recref *recs, size_t n)
{
  static const char label[] = "keyescrow-v1-drill-records\n";
  const ke_drill_recref **v = n ? calloc(n, sizeof *v) : NULL;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  char line[KE_DRILL_PART_ID_MAX + 2 + 64 + 1], hex[65];
  unsigned int olen = 0;
  int rc = -1;

  if (!v || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
      EVP_DigestUpdate(ctx, label, sizeof label - 1) != 1)
    goto out;
  for (size_t i = 0; i < n; i++) {
    if (!ke_b32_id_ok(recs[i].record_id, "rec-") || !recs[i].envelope_sha256)
      goto out;
    v[i] = &recs[i];
  }
  /* The order is the ids', not the server's: both sides hash the same
   * text whatever order the records travelled in. */
  qsort(v, n, sizeof *v, ke_drill_ref_cmp);
  for (size_t i = 0; i < n; i++) {
    if (i && strcmp(v[i - 1]->record_id, v[i]->record_id) == 0)
      goto out;
    ke_hex_encode(hex, v[i]->envelope_sha256, 32);
    int k = snprintf(line, sizeof line, "%s %s\n", v[i]->record_id, hex);
    if (k <= 0 || (size_t)k >= sizeof line || EVP_DigestUpdate(ctx, line, (size_t)k) != 1)
      goto out;
  }
  rc = EVP_DigestFinal_ex(ctx, out, &olen) == 1 && olen == 32 ? 0 : -1;
out:
  EVP_MD_CTX_free(ctx);
  free(v);
  return rc;
}

size_t ke_drill_signed_statement(char out[KE_DRILL_SIGNED_MAX], const char *id,
                                 const char *selection, const char *mode, const char *E_b64,
                                 size_t nrec, const char *records_hex, const char *expires)
{
  int n;

  if (!ke_drill_id_ok(id) || !ke_drill_selection_ok(selection) || !ke_drill_mode_ok(mode) ||
      !ke_b64url_chars(E_b64, 44) || nrec < 1 || !records_hex || strlen(records_hex) != 64 ||
      strspn(records_hex, "0123456789abcdef") != 64 || !ke_drill_expires_ok(expires))
    return 0;
  n = snprintf(out, KE_DRILL_SIGNED_MAX,
               "keyescrow-v1-drill-statement\nid=%s\nselect=%s\nmode=%s\nE=%s\nrecords=%zu\n"
               "records_sha256=%s\nexpires=%s\n",
               id, selection, mode, E_b64, nrec, records_hex, expires);
  return n > 0 && n < KE_DRILL_SIGNED_MAX ? (size_t)n : 0;
}

int ke_drill_signature_ok(const unsigned char pub[32], const char *text, size_t len,
                          const unsigned char sig[64])
{
  return ke_ed25519_verify(pub, text, len, sig) == KE_OK;
}

void ke_drill_code(char out[KE_DRILL_CODE_LEN + 1], const char *statement, size_t len)
{
  static const char label[] = "keyescrow-v1-drill-code\n";
  static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char h[32];
  unsigned int hl = 0;
  uint64_t v = 0;
  size_t o = 0;

  /* On any failure the code is empty, which no correct code equals. */
  out[0] = '\0';
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
      EVP_DigestUpdate(ctx, label, sizeof label - 1) != 1 ||
      EVP_DigestUpdate(ctx, statement, len) != 1 || EVP_DigestFinal_ex(ctx, h, &hl) != 1 ||
      hl != 32) {
    EVP_MD_CTX_free(ctx);
    return;
  }
  EVP_MD_CTX_free(ctx);
  for (int i = 0; i < 8; i++)
    v = v << 8 | h[i];
  for (int c = 0; c < 12; c++) {
    if (c && c % 4 == 0)
      out[o++] = '-';
    out[o++] = b32[(v >> (59 - 5 * c)) & 31]; /* bits 63..4: the first 60 */
  }
  out[o] = '\0';
}
