/*
 * srv_device_util.c - identifiers, value rules, Ed25519, manifests and
 * receipts for the device API (srv_device.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_files.h"
#include "ke_log.h"
#include "ke_note.h"
#include "ke_util.h"
#include "srv_audit_int.h"
#include "srv_device.h"
#include "srv_ep.h"

struct srv_device_settings srv_device_cfg = {300, 86400};

void srv_device_init(const struct srv_config *cfg)
{
  srv_device_cfg.clock_skew = cfg->agent_clock_skew;
  srv_device_cfg.checkin_interval = cfg->agent_checkin_interval;
}

/* ---- identifiers ------------------------------------------------------- */

_Static_assert(SRV_DEV_ID_LEN == KE_B32_ID_LEN, "device and record ids are ke_b32_id_ok ids");
int srv_device_id_ok(const char *s, const char *prefix) { return ke_b32_id_ok(s, prefix); }

/* A volume id is lib's id: [A-Za-z0-9._:-]{1,128}. */
_Static_assert(SRV_DEV_VOLUME_MAX == KE_ID_MAX, "volume ids are ke_id_valid ids");
int srv_device_volume_ok(const char *s) { return ke_id_valid(s); }

int srv_device_key_id_ok(const char *s) { return srv_ascii_ok(s, SRV_DEV_KEY_ID_MAX); }

int srv_device_group_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;

  if (n < 1 || n > SRV_DEV_GROUP_MAX)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || !(c == '.' || c == '_' || c == ':' || c == '-')))
      return 0;
  }
  return 1;
}

/* ---- Ed25519 ----------------------------------------------------------- */

int srv_device_ed25519_ok(const uint8_t pub[SRV_DEV_PUB_LEN], const uint8_t *msg, size_t len,
                          const uint8_t sig[SRV_DEV_SIG_LEN])
{
  return ke_ed25519_verify(pub, msg, len, sig) == KE_OK;
}

/* ---- escrow keys, log key, receipts ---------------------------------------- */

json_t *srv_device_manifest_json(const char *text)
{
  json_error_t e;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &e);

  if (!json_is_object(j)) {
    json_decref(j);
    ke_logf(KE_LOG_ERROR, "a stored escrow manifest does not parse (edited in the database?)");
    return NULL;
  }
  return j;
}

int srv_device_log_key(char **vkey, const char **origin)
{
  const ke_note_key *k = srv_audit_key();
  ke_note_verifier v;

  *vkey = NULL;
  if (!k)
    return -1;
  ke_note_key_verifier(k, &v);
  if (ke_note_vkey_format(&v, vkey) != KE_OK)
    return -1;
  *origin = ke_note_key_name(k);
  return 0;
}

int srv_device_receipt(const char *device_id, const char *volume_id, const char *record_id,
                       const char *envelope_sha256, int64_t leaf_index, const char *created,
                       char **note)
{
  const ke_note_key *k = srv_audit_key();
  char text[512];
  size_t len;
  int n;

  *note = NULL;
  if (!k || leaf_index < 0)
    return -1;
  n = snprintf(text, sizeof text, "keyescrow-v1-receipt\n%s\n%s\n%s\n%s\n%lld\n%s\n", device_id,
               volume_id, record_id, envelope_sha256, (long long)leaf_index, created);
  if (n < 0 || (size_t)n >= sizeof text)
    return -1;
  return ke_note_sign_statement(k, text, (size_t)n, note, &len) == KE_OK ? 0 : -1;
}
