/*
 * ctl_requester.h - who asked: a custodian's check of the requester's
 * signature on a retrieval request, against the key pinned for them
 * (ctl_pins.h), in `approve` (online and --export) and in offline `part`.
 *
 * ke_request_parse has already verified the signature of the request's
 * "requester" member over its id and E; what is left is whose key that is.
 *   pinned, same key   -> proceed
 *   nothing pinned     -> show the fingerprint in groups and ask to confirm
 *                         it with the requester out of band (terminal y/N;
 *                         without a terminal only --pin-requester FPR equal
 *                         to it), then pin it
 *   pinned, other key  -> refuse, naming both fingerprints and when the new
 *                         key was registered, and saying how to re-pin
 * So a server that swaps E, or registers a key of its own for the
 * requester, gets no part (docs/threat-model.md).
 */
#ifndef CTL_REQUESTER_H
#define CTL_REQUESTER_H

#include <jansson.h>

#include "ke_files.h"

/* r must have a requester (r->has_requester).  pin_opt: --pin-requester
 * (may be NULL).  key_view: the server's requester_key of the retrieval
 * (fingerprint, registered, keys, history; NULL offline), shown and used
 * to say when a changed key was registered.  CTL_OK or an exit code
 * (printed). */
int ctl_requester_check(const ke_request *r, const char *pin_opt, const json_t *key_view);

/* The lines of a request's signed statement for a custodian to read: who,
 * the key, how the record was named, reason, ticket. */
void ctl_requester_show(const ke_request *r, const json_t *key_view);

#endif
