/*
 * ctl_escrow_pin.h - the escrow-key fingerprints this client trusts, for the
 * commands that act on an escrow key the server names (online `retrieve`,
 * `drill run`).
 *
 * Without a pin a hostile server can hand the helpdesk or the auditor a
 * record sealed to an escrow key of its own (with its own "custodians"):
 * a drill would pass and a retrieval would open a key the server chose.
 * The pinned fingerprint is checked out of band, like the agent's
 * `--escrow-fingerprint` at enrolment (it is what `escrowctl ceremony`
 * prints and `escrowctl escrow-key show` recomputes).
 *
 * Where the pin comes from, first found wins:
 *   --escrow-fingerprint HEX          (the command's option)
 *   $ESCROWCTL_ESCROW_FINGERPRINT     (one HEX, or several separated by ',')
 *   <config dir>/escrow-fingerprints  (one HEX a line; `escrowctl
 *                                      escrow-key pin HEX` appends)
 * Several are allowed so that an escrow-key rotation (old and new key both
 * in use) needs no flag day.
 */
#ifndef CTL_ESCROW_PIN_H
#define CTL_ESCROW_PIN_H

#include <stdint.h>

#include "ke_crypto.h"

#define CTL_ESCROW_PIN_FILE "escrow-fingerprints"

/* Is `fpr` (the escrow key the server uses for `what`, "the request") one
 * of the pinned fingerprints?  CTL_OK when it is; CTL_FAIL (printed, naming
 * the fingerprint and where the pin came from) when it is not or a pin is
 * malformed.  With no pin anywhere: CTL_OK with a warning on stderr that
 * says how to pin (docs/operations.md). */
int ctl_escrow_pin_check(const char *arg, const uint8_t fpr[KE_FPR_LEN], const char *what);

/* Append HEX to the pin file (created 0600 in the configuration
 * directory); an existing pin is not repeated.  CTL_OK or an exit code. */
int ctl_escrow_pin_add(const char *hex);

#endif
