/*
 * ctl_escrow_event.h - is this audit leaf the escrow of this envelope?
 *
 * A custodian answers only for envelopes whose escrow.store event is in the
 * signed audit log (docs/threat-model.md, "a custodian as an oracle"): the
 * event must be the escrow of this record, for this device and volume, of
 * the envelope with this SHA-256.  Shared by `approve` (one retrieval) and
 * `drill approve` (every record of a drill); the inclusion proof itself is
 * ctl_logview_prove's.
 */
#ifndef CTL_ESCROW_EVENT_H
#define CTL_ESCROW_EVENT_H

#include <stdint.h>

/* 1 when `leaf` (the event's exact JSON text) is an escrow.store event of
 * object "record:<record_id>" whose details name device, volume and the
 * hex of envelope_sha256; 0 otherwise (nothing printed). */
int ctl_escrow_event_ok(const char *leaf, const char *record_id, const char *device,
                        const char *volume, const uint8_t envelope_sha256[32]);

#endif
