/*
 * agent_parse.h - parsers of platform tool output:
 *
 *   manage-bde -protectors -get V: -Type RecoveryPassword  (and -add ...)
 *   fdesetup ... -outputplist                              (XML property list)
 *
 * manage-bde's labels are localised ("Numerical Password", "Numerisches
 * Kennwort", "Mot de passe numérique") and printed in the console's OEM
 * code page, so the parser relies on no label: a protector starts at a line
 * holding a GUID in braces, and its numerical password is the next
 * 48-digit group pattern before the following GUID.  Protectors without a
 * password (TPM, external keys) are skipped.  Both outputs carry secrets:
 * the results belong in secure memory.
 */
#ifndef AGENT_PARSE_H
#define AGENT_PARSE_H

#include <stddef.h>

#include "ke_bitlocker.h"

#define AGENT_BDE_MAX 16

typedef struct agent_bde_protector {
  char id[KE_BITLOCKER_GUID_LEN + 1];           /* upper case, braces */
  char password[KE_BITLOCKER_PASSWORD_LEN + 1]; /* canonical */
} agent_bde_protector;

typedef enum agent_parse_rc {
  AGENT_PARSE_OK = 0,
  AGENT_PARSE_FORMAT,   /* not the expected output */
  AGENT_PARSE_CHECKSUM, /* a password failing its checksum (*bad_block set) */
  AGENT_PARSE_TOO_MANY, /* more than AGENT_BDE_MAX protectors */
} agent_parse_rc;

/* Every (ID, numerical password) pair, in order of appearance.  A
 * password outside a protector, or two in one, is AGENT_PARSE_FORMAT. */
agent_parse_rc agent_bde_parse(const char *text, size_t len, agent_bde_protector *out, size_t max,
                               size_t *count, int *bad_block);

#define AGENT_FV_KEY_LEN 29 /* XXXX-XXXX-XXXX-XXXX-XXXX-XXXX */
#define AGENT_FV_FIELD_MAX 64

typedef struct agent_fv_plist {
  char recovery_key[AGENT_FV_KEY_LEN + 1];
  char lv_uuid[AGENT_FV_FIELD_MAX + 1];       /* LVUUID, "" if absent */
  char hardware_uuid[AGENT_FV_FIELD_MAX + 1]; /* HardwareUUID */
  char serial[AGENT_FV_FIELD_MAX + 1];        /* SerialNumber */
} agent_fv_plist;

/* An XML plist whose top-level dict has a RecoveryKey string in the
 * personal recovery key format (6 groups of 4 of A-Z and 0-9).  Other keys
 * and value types are skipped; a duplicated key is AGENT_PARSE_FORMAT. */
agent_parse_rc agent_fv_parse(const char *text, size_t len, agent_fv_plist *out);
/* Is `s` a personal recovery key? */
int agent_fv_key_valid(const char *s);

#endif
