/*
 * ctl_pins.h - the client keys of people, pinned by this custodian.
 *
 * A custodian acts only on statements signed by a person's client key: a
 * helpdesk requester's retrieval request, an auditor's drill.  The server
 * relays those keys and could swap them, so what a custodian trusts is the
 * key's fingerprint (SHA-256 of the raw Ed25519 public key, 64 hex digits)
 * as they confirmed it once with its owner out of band, kept here:
 *
 *   <config dir>/pinned-keys.json   (0600, in a 0700 directory)
 *   {"version": 1,
 *    "keys": {"alice": {"fingerprint": "<hex>", "pinned": "<RFC 3339 UTC>"}}}
 *
 * A key that differs from the pinned one is never accepted silently: the
 * caller refuses and says how to re-pin after checking with the person.
 * All 256 bits are compared, so a server cannot grind a look-alike key.
 */
#ifndef CTL_PINS_H
#define CTL_PINS_H

#define CTL_PIN_FPR_LEN 64 /* hex digits */

typedef enum {
  CTL_PIN_MATCH,   /* the user's pinned key is this one */
  CTL_PIN_UNKNOWN, /* nothing pinned for the user */
  CTL_PIN_CHANGED, /* another key is pinned for the user */
} ctl_pin_state;

/* Look up `user`'s pin and compare it with fpr_hex (64 hex digits, either
 * case).  pinned (may be NULL, room for CTL_PIN_FPR_LEN + 1) gets the
 * pinned fingerprint when there is one, and since (may be NULL, room for 32)
 * the time it was pinned.  CTL_OK, or an exit code (printed) when the pin
 * file is unreadable or malformed. */
int ctl_pin_lookup(const char *user, const char *fpr_hex, ctl_pin_state *state, char *pinned,
                   char *since);

/* Pin (or re-pin) `user`'s key as fpr_hex; the file is replaced atomically
 * under a lock.  CTL_OK or an exit code (printed). */
int ctl_pin_store(const char *user, const char *fpr_hex);

/* Remove `user`'s pin; *removed = 0 when there was none. */
int ctl_pin_remove(const char *user, int *removed);

/* Print every pin, one line each ("user  fingerprint  pinned TIME"). */
#include <stdio.h>
int ctl_pin_print(FILE *f);

/* Is s 64 hex digits? */
int ctl_pin_fpr_valid(const char *s);

#endif
