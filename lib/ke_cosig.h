/*
 * ke_cosig.h - witness cosignatures of checkpoints (c2sp.org/tlog-cosignature,
 * the Ed25519 "cosignature/v1" type; the witness protocol that produces them
 * is c2sp.org/tlog-witness).
 *
 * A witness that verified a checkpoint's consistency with the last one it
 * saw adds a signature line to the checkpoint note:
 *
 *   line      "— " name " " base64(key ID (4) || timestamp (8, big endian) || sig (64))
 *   key ID    SHA-256(name || 0x0A || 0x04 || pubkey)[0:4]
 *   message   "cosignature/v1\n" "time " decimal timestamp "\n" || checkpoint body
 *   vkey      name "+" 8 hex digits of key ID "+" base64(0x04 || pubkey)
 *
 * A client that requires a witness's cosignature cannot be shown a
 * checkpoint the witness did not see, so a fork would have to fool the
 * witness too, which keeps its own last checkpoint.
 */
#ifndef KE_COSIG_H
#define KE_COSIG_H

#include <stddef.h>
#include <stdint.h>

#include "ke_note.h"

#define KE_COSIG_TYPE_ED25519 0x04
#define KE_COSIG_LEN (4 + 8 + KE_NOTE_SIG_LEN)

typedef struct ke_cosig_verifier {
  char name[KE_NOTE_MAX_NAME + 1];
  uint32_t key_id;
  uint8_t pub[KE_NOTE_PUB_LEN];
} ke_cosig_verifier;

/* Parse a witness vkey (type 0x04; the ID must match).  KE_ERR_FORMAT. */
ke_rc ke_cosig_vkey_parse(ke_cosig_verifier *out, const char *vkey);

/* key ID = SHA-256(name || 0x0A || 0x04 || pub)[0:4], big endian. */
ke_rc ke_cosig_key_id(uint32_t *out, const char *name, const uint8_t pub[KE_NOTE_PUB_LEN]);

/* Does `note` (a signed checkpoint; other signature lines are ignored)
 * carry a cosignature by w that verifies over its body?  KE_OK (*timestamp
 * set, may be NULL), KE_ERR_AUTH when there is none or one by w fails,
 * KE_ERR_FORMAT for a malformed note. */
ke_rc ke_cosig_verify(const ke_cosig_verifier *w, const char *note, size_t len,
                      uint64_t *timestamp);

/* The body of `note` (up to and including its last "\n" before the blank
 * line): *body_len bytes from the start; and where its signature lines
 * begin (*sigs, *sigs_len).  KE_ERR_FORMAT if it is not a note. */
ke_rc ke_cosig_split(const char *note, size_t len, size_t *body_len, const char **sigs,
                     size_t *sigs_len);

/* One signature line (without "\n") shaped like an Ed25519 cosignature:
 * the em dash prefix, a valid key name, base64 of exactly KE_COSIG_LEN
 * bytes.  name (room for KE_NOTE_MAX_NAME + 1) gets the key name. */
int ke_cosig_line_valid(const char *line, size_t n, char *name);

#endif
