/*
 * ctl_escrow_event.c - the escrow.store event check (ctl_escrow_event.h).
 */
#include "ctl_escrow_event.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ke_util.h"

static int same(const json_t *o, const char *key, const char *want)
{
  const char *v = json_string_value(json_object_get(o, key));
  return v && strcmp(v, want) == 0;
}

int ctl_escrow_event_ok(const char *leaf, const char *record_id, const char *device,
                        const char *volume, const uint8_t envelope_sha256[32])
{
  char hex[65], obj[200];
  json_error_t je;
  json_t *ev, *d;
  int ok;

  if (!leaf || !record_id || !device || !volume)
    return 0;
  ke_hex_encode(hex, envelope_sha256, 32);
  snprintf(obj, sizeof obj, "record:%s", record_id);
  /* Duplicate keys are refused: a leaf must mean one thing to everyone. */
  ev = json_loads(leaf, JSON_REJECT_DUPLICATES, &je);
  d = json_object_get(ev, "details");
  ok = ev && same(ev, "action", "escrow.store") && same(ev, "object", obj) &&
       same(d, "envelope_sha256", hex) && same(d, "device", device) && same(d, "volume", volume);
  json_decref(ev);
  return ok;
}
