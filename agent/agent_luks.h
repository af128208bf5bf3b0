/*
 * agent_luks.h - LUKS recovery keyslots (libcryptsetup), shared by the luks
 * provider (check-in, rotation) and `escrow-agent luks add|rotate`.
 *
 * The recovery passphrase is 200 random bits written as 8 groups of 5
 * RFC 4648 base32 characters (A-Z, 2-7), e.g.
 * "K3MZQ-7TBXA-..."; 47 characters, easy to read out over the phone and
 * free of 0/O and 1/I confusion.  Its keyslot uses PBKDF2-SHA256 with 1000
 * iterations by default ("--pbkdf minimal", as systemd-cryptenroll does for
 * its recovery keys): with 200 bits of entropy the key derivation adds no
 * security, and check-ins stay cheap.  "--pbkdf default" keeps
 * libcryptsetup's benchmarked default (argon2id for LUKS2).
 *
 * add and rotate run one resumable state machine, recorded in the volume's
 * "pending" entry of state.json before each step:
 *   generated    the new passphrase, sealed in the state
 *   slot_added   the keyslot it opens (a rerun first looks for the slot the
 *                passphrase already opens, so a crash never adds two)
 *   (escrow: envelope recorded as a pending upload, sent, receipt verified)
 *   escrowed     rotate only: destroy the old recovery keyslot, and only if
 *                the old recovery passphrase still opens exactly that slot
 * At every point at least one escrowed passphrase opens the volume.
 */
#ifndef AGENT_LUKS_H
#define AGENT_LUKS_H

#include "agent_state.h"

#define AGENT_LUKS_PASS_LEN 47
#define AGENT_LUKS_UUID_MAX 40

/* A fresh recovery passphrase (NUL terminated). */
int agent_luks_passphrase(char out[AGENT_LUKS_PASS_LEN + 1]);
/* 1 if `s` has the recovery passphrase format. */
int agent_luks_passphrase_valid(const char *s, size_t len);
/* "luks-<uuid>" and the UUID of a LUKS device. */
int agent_luks_identify(const char *device, char volume_id[AGENT_ID_MAX + 1],
                        char uuid[AGENT_LUKS_UUID_MAX + 1]);

/* Record a new pending "add" or "rotate" for the volume (rotate keeps the
 * current recovery passphrase and slot as the old ones). */
int agent_luks_begin(agent_ctx *c, const char *op, const char *volume_id, const char *device,
                     const char *pbkdf, const char *reason);
/* Run the pending operation to its end.  unlock (may be NULL) authorises a
 * new keyslot; without it, rotate uses the current recovery passphrase. */
int agent_luks_drive(agent_ctx *c, const char *volume_id, const uint8_t *unlock, size_t unlock_len);
/* Does the recorded recovery passphrase still open its slot? 1, 0, -1
 * (device not readable). */
int agent_luks_check(agent_ctx *c, const char *volume_id, json_t *vol, const uint8_t *pass,
                     size_t len);

#endif
