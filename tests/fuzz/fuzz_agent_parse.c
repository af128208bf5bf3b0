/*
 * fuzz_agent_parse.c - escrow-agent's parsers of platform tool output:
 * manage-bde protector listings and fdesetup plists (agent/agent_parse.c).
 * Both get every input; whatever they accept must satisfy the formats they
 * promise, and a refusal must leave nothing behind.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_parse.h"
#include "ke_bitlocker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  agent_bde_protector p[4];
  agent_fv_plist pl;
  size_t n = 99;
  int bad = -1;
  char canon[KE_BITLOCKER_PASSWORD_LEN + 1], guid[KE_BITLOCKER_GUID_LEN + 1];
  agent_parse_rc rc = agent_bde_parse((const char *)data, size, p, 4, &n, &bad);

  if (rc == AGENT_PARSE_OK) {
    if (n > 4)
      abort();
    for (size_t i = 0; i < n; i++) {
      if (ke_bitlocker_password_parse(canon, p[i].password, strlen(p[i].password), NULL) ||
          strcmp(canon, p[i].password) != 0 ||
          ke_bitlocker_guid_parse(guid, p[i].id, strlen(p[i].id)) || strcmp(guid, p[i].id))
        abort();
    }
  } else if (n != 0 || (rc == AGENT_PARSE_CHECKSUM && (bad < 1 || bad > 8))) {
    abort();
  }
  if (agent_fv_parse((const char *)data, size, &pl) == AGENT_PARSE_OK) {
    if (!agent_fv_key_valid(pl.recovery_key))
      abort();
  } else if (pl.recovery_key[0] != '\0') {
    abort();
  }
  return 0;
}
