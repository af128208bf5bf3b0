/*
 * ke_drill.c - drill statements and part names (ke_drill.h).  Every field
 * is checked against a closed character set, so the statement text parses
 * one way only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_drill.h"

static int ke_drill_b32_id(const char *s, const char *prefix)
{
  size_t p = strlen(prefix);

  if (!s || strlen(s) != KE_DRILL_ID_LEN || strncmp(s, prefix, p) != 0)
    return 0;
  for (size_t i = p; i < KE_DRILL_ID_LEN; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
      return 0;
  return 1;
}

int ke_drill_id_ok(const char *id)
{
  return ke_drill_b32_id(id, "drl-");
}

static int ke_drill_b64url(const char *s, size_t len)
{
  static const char set[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  return s && strlen(s) == len && strspn(s, set) == len;
}

int ke_drill_selection_ok(const char *sel)
{
  static const char gset[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
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
    return n >= 1 && n <= 64 && sel[6] != '.' && sel[6] != '_' && sel[6] != ':' &&
           sel[6] != '-' && strspn(sel + 6, gset) == n;
  }
  return 0;
}

size_t ke_drill_statement(char out[KE_DRILL_STMT_MAX], const char *id, const char *selection,
                          const char *E_b64, const char *nonce)
{
  int n;

  if (!ke_drill_id_ok(id) || !ke_drill_selection_ok(selection) || !ke_drill_b64url(E_b64, 44) ||
      !ke_drill_b64url(nonce, 22))
    return 0;
  n = snprintf(out, KE_DRILL_STMT_MAX,
               "keyescrow-v1-drill-request\nid=%s\nselect=%s\nE=%s\nnonce=%s\n", id, selection,
               E_b64, nonce);
  return n > 0 && n < KE_DRILL_STMT_MAX ? (size_t)n : 0;
}

int ke_drill_part_id(char out[KE_DRILL_PART_ID_MAX], const char *id, const char *record_id)
{
  if (!ke_drill_id_ok(id) || !ke_drill_b32_id(record_id, "rec-"))
    return 0;
  snprintf(out, KE_DRILL_PART_ID_MAX, "%s/%s", id, record_id);
  return 1;
}
