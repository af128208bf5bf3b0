/*
 * ke_bitlocker.h - BitLocker recovery password and protector ID formats,
 * shared by escrow-agent (which reads them from manage-bde) and escrowctl
 * (which shows and checks them at retrieval).
 *
 * A recovery password is 48 decimal digits in 8 blocks of 6, written
 * "dddddd-dddddd-...".  Each block is 11 times a 16-bit value, so it is
 * divisible by 11 and below 720896 (= 65536 * 11); the 8 values, little
 * endian, are the 128-bit key the password stands for.  Divisibility by 11
 * is the per-block check digit: d6 = d1 - d2 + d3 - d4 + d5 (mod 11).
 *
 * A protector (Key) ID is a GUID in braces, "{8F3A2B1C-1234-...}"; the
 * recovery screen shows its first 8 hex digits.
 */
#ifndef KE_BITLOCKER_H
#define KE_BITLOCKER_H

#include <stddef.h>
#include <stdint.h>

#include "ke_util.h"

#define KE_BITLOCKER_PASSWORD_LEN 55 /* 8 * 6 digits + 7 dashes */
#define KE_BITLOCKER_BLOCKS 8
#define KE_BITLOCKER_BLOCK_MAX 720896u /* 65536 * 11, exclusive */
#define KE_BITLOCKER_KEY_LEN 16
#define KE_BITLOCKER_GUID_LEN 38 /* {8-4-4-4-12} */
#define KE_BITLOCKER_ID_PREFIX_LEN 8

/* 1 if a 6-digit block value passes the checksum rule. */
int ke_bitlocker_block_valid(unsigned long v);

/* Check and normalise a recovery password: 8 blocks of exactly 6 digits,
 * separated by single '-' (as manage-bde prints it) or by single spaces or
 * nothing (as people type it).  out gets the canonical "dddddd-..." form,
 * NUL terminated.  KE_ERR_FORMAT for a wrong shape (*bad_block = 0) or a
 * block failing the checksum (*bad_block = its number, 1..8); bad_block may
 * be NULL.  `out` is cleared on failure. */
ke_rc ke_bitlocker_password_parse(char out[KE_BITLOCKER_PASSWORD_LEN + 1], const char *in,
                                  size_t len, int *bad_block);

/* The 128-bit key a valid canonical password encodes. */
ke_rc ke_bitlocker_password_key(uint8_t out[KE_BITLOCKER_KEY_LEN], const char *canonical);

/* Check a protector ID "{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}" (hex digits
 * of either case) and write it upper case, NUL terminated. */
ke_rc ke_bitlocker_guid_parse(char out[KE_BITLOCKER_GUID_LEN + 1], const char *in, size_t len);

#endif
