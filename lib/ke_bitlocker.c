/*
 * ke_bitlocker.c - BitLocker recovery password and protector ID formats
 * (see ke_bitlocker.h).  The password is a secret: the parser works in the
 * caller's buffers and keeps no copy beyond a wiped local block value.
 */
#include "ke_bitlocker.h"

#include <string.h>

int ke_bitlocker_block_valid(unsigned long v) { return v < KE_BITLOCKER_BLOCK_MAX && v % 11 == 0; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

ke_rc ke_bitlocker_password_parse(char out[KE_BITLOCKER_PASSWORD_LEN + 1], const char *in,
                                  size_t len, int *bad_block)
{
  size_t i = 0, o = 0;
  char sep = 0;
  unsigned long v = 0;
  ke_rc rc = KE_ERR_FORMAT;

  if (bad_block)
    *bad_block = 0;
  memset(out, 0, KE_BITLOCKER_PASSWORD_LEN + 1);
  if (!in)
    return KE_ERR_FORMAT;
  for (int b = 0; b < KE_BITLOCKER_BLOCKS; b++) {
    if (b > 0) {
      /* The separator after the first block fixes the style for the rest:
       * "-" everywhere, " " everywhere, or none at all. */
      char c = i < len ? in[i] : '\0';
      if (b == 1)
        sep = (c == '-' || c == ' ') ? c : 0;
      if (sep) {
        if (c != sep)
          goto out;
        i++;
      }
      out[o++] = '-';
    }
    v = 0;
    for (int d = 0; d < 6; d++, i++) {
      if (i >= len || !is_digit(in[i]))
        goto out;
      v = v * 10 + (unsigned long)(in[i] - '0');
      out[o++] = in[i];
    }
    if (!ke_bitlocker_block_valid(v)) {
      if (bad_block)
        *bad_block = b + 1;
      goto out;
    }
  }
  if (i != len)
    goto out;
  rc = KE_OK;
out:
  v = 0;
  ke_wipe(&v, sizeof v);
  if (rc)
    ke_wipe(out, KE_BITLOCKER_PASSWORD_LEN + 1);
  return rc;
}

ke_rc ke_bitlocker_password_key(uint8_t out[KE_BITLOCKER_KEY_LEN], const char *canonical)
{
  char check[KE_BITLOCKER_PASSWORD_LEN + 1];
  ke_rc rc;

  if (!canonical)
    return KE_ERR_FORMAT;
  rc = ke_bitlocker_password_parse(check, canonical, strlen(canonical), NULL);
  if (rc == KE_OK && memcmp(check, canonical, KE_BITLOCKER_PASSWORD_LEN) != 0)
    rc = KE_ERR_FORMAT; /* only the canonical form is accepted here */
  if (rc == KE_OK) {
    for (int b = 0; b < KE_BITLOCKER_BLOCKS; b++) {
      unsigned long v = 0;
      for (int d = 0; d < 6; d++)
        v = v * 10 + (unsigned long)(check[b * 7 + d] - '0');
      v /= 11;
      out[2 * b] = (uint8_t)(v & 0xFF);
      out[2 * b + 1] = (uint8_t)(v >> 8);
      ke_wipe(&v, sizeof v);
    }
  }
  ke_wipe(check, sizeof check);
  return rc;
}

ke_rc ke_bitlocker_guid_parse(char out[KE_BITLOCKER_GUID_LEN + 1], const char *in, size_t len)
{
  static const char upper[] = "0123456789ABCDEF";

  memset(out, 0, KE_BITLOCKER_GUID_LEN + 1);
  if (!in || len != KE_BITLOCKER_GUID_LEN || in[0] != '{' || in[len - 1] != '}')
    return KE_ERR_FORMAT;
  out[0] = '{';
  for (size_t i = 1; i + 1 < len; i++) {
    int dash = i == 9 || i == 14 || i == 19 || i == 24;
    if (dash) {
      if (in[i] != '-')
        goto bad;
      out[i] = '-';
    } else {
      int v = ke_hex_digit(in[i]);
      if (v < 0)
        goto bad;
      out[i] = upper[v];
    }
  }
  out[len - 1] = '}';
  return KE_OK;
bad:
  memset(out, 0, KE_BITLOCKER_GUID_LEN + 1);
  return KE_ERR_FORMAT;
}
