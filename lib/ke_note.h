/*
 * ke_note.h - C2SP signed notes (c2sp.org/signed-note) with Ed25519, and the
 * transparency-log checkpoints (c2sp.org/tlog-checkpoint) that the audit
 * log's tree heads are.  The same key signs receipts and drill summaries
 * ("statements"), with domain separation by the first line of the text:
 *
 *   checkpoint:  "<origin>\n<size>\n<base64 root>\n", origin = the key name
 *   statement:   "keyescrow-v1-<type>\n..."  (free-form lines after that)
 *
 * Our key names may not start with "keyescrow-v1-", so no statement can ever
 * be read as a checkpoint, nor a checkpoint as a statement.
 *
 * Formats (see docs/audit.md):
 *   signature line   "— " name " " base64(key ID (4, big endian) || sig (64)) "\n"
 *   key ID           SHA-256(name || 0x0A || 0x01 || pubkey)[0:4]
 *   verifier key     name "+" 8 hex digits of key ID "+" base64(0x01 || pubkey)
 *   private key file "PRIVATE+KEY+" name "+" hex key ID "+" base64(0x01 || seed) "\n"
 * (the last two are the formats of Go's golang.org/x/mod/sumdb/note).
 *
 * Errors: KE_ERR_FORMAT for anything malformed, KE_ERR_AUTH when no
 * signature by the pinned key verifies (or one by it fails), KE_ERR_IO for
 * file problems with errno set (EPERM: a key file readable by group or
 * others, or not a regular file).
 */
#ifndef KE_NOTE_H
#define KE_NOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ke_util.h"

#define KE_NOTE_PUB_LEN 32
#define KE_NOTE_SEED_LEN 32
#define KE_NOTE_SIG_LEN 64
#define KE_NOTE_KEYID_LEN 4
#define KE_NOTE_TYPE_ED25519 0x01
#define KE_NOTE_MAX_NAME 255       /* bytes, our own key names       */
#define KE_NOTE_MAX_LEN (1u << 20) /* largest note we parse, bytes   */
#define KE_NOTE_MAX_SIGS 100       /* signature lines per note       */
#define KE_NOTE_STATEMENT_PREFIX "keyescrow-v1-"

/* A private signing key and its name.  Opaque; free with ke_note_key_free. */
typedef struct ke_note_key ke_note_key;

/* A pinned public key. */
typedef struct ke_note_verifier {
  char name[KE_NOTE_MAX_NAME + 1];
  uint32_t key_id;
  uint8_t pub[KE_NOTE_PUB_LEN];
} ke_note_verifier;

/* ---- names, key IDs, base64 -------------------------------------------- */
/* 1 if `name` is acceptable for one of our keys: 1..255 bytes of printable
 * ASCII other than space and '+', not starting with "keyescrow-v1-".  (The
 * spec allows more; a narrower rule keeps names unambiguous everywhere.) */
int ke_note_name_valid(const char *name);
/* key ID = SHA-256(name || 0x0A || 0x01 || pub)[0:4], big endian. */
ke_rc ke_note_key_id(uint32_t *out, const char *name, const uint8_t pub[KE_NOTE_PUB_LEN]);
/* The same for another signature type byte (a cosignature's is 0x04). */
ke_rc ke_note_key_id_typed(uint32_t *out, const char *name, uint8_t type,
                           const uint8_t pub[KE_NOTE_PUB_LEN]);
/* Standard base64 (RFC 4648 section 4) with padding; malloc'd, NULL on
 * allocation failure. */
char *ke_note_b64_encode(const uint8_t *in, size_t len);
/* Strict decoder: padding required, no whitespace, canonical final bits.
 * Decodes at most `cap` bytes; a longer result is KE_ERR_LENGTH. */
ke_rc ke_note_b64_decode(uint8_t *out, size_t cap, size_t *outlen, const char *in, size_t inlen);

/* ---- keys ------------------------------------------------------------------ */
ke_rc ke_note_key_generate(ke_note_key **out, const char *name);
/* From a 32-byte RFC 8032 seed (for tests and interoperability checks). */
ke_rc ke_note_key_from_seed(ke_note_key **out, const char *name,
                            const uint8_t seed[KE_NOTE_SEED_LEN]);
void ke_note_key_free(ke_note_key *k);
const char *ke_note_key_name(const ke_note_key *k);
void ke_note_key_verifier(const ke_note_key *k, ke_note_verifier *out);
/* Ed25519 signature of `len` bytes of `msg` (not a note: for other signed
 * statements made with the same key files, e.g. retrieval requests). */
ke_rc ke_note_key_sign_raw(const ke_note_key *k, const uint8_t *msg, size_t len,
                           uint8_t sig[KE_NOTE_SIG_LEN]);
/* Create the key file `path`, mode 0600, never replacing an existing file
 * (errno EEXIST): written to a mkstemp() file beside it, fsynced, then
 * link()ed into place, and the directory fsynced.  Needs a file system with
 * hard links; leaves nothing behind on failure. */
ke_rc ke_note_key_save(const ke_note_key *k, const char *path);
/* Load a key file written by ke_note_key_save; refuses a file that is not a
 * regular file or that group or others may access (errno = EPERM), and one
 * whose key ID does not match its key. */
ke_rc ke_note_key_load(ke_note_key **out, const char *path);
/* What a server does at start: load `path`, or if it does not exist,
 * generate a key called `name` and save it there (*created = 1).  If another
 * process creates it at the same moment, its key is loaded instead.  A key
 * file whose key has another name is KE_ERR_FORMAT. */
ke_rc ke_note_key_load_or_create(ke_note_key **out, const char *path, const char *name,
                                 int *created);

/* ---- verifier keys ------------------------------------------------------------ */
/* "name+hexid+base64(0x01||pub)", malloc'd. */
ke_rc ke_note_vkey_format(const ke_note_verifier *v, char **out);
/* Parse and check a verifier key string (the ID must match). */
ke_rc ke_note_vkey_parse(ke_note_verifier *out, const char *vkey);

/* ---- notes --------------------------------------------------------------------- */
/* 1 if `text` is a note text this library signs: valid UTF-8, no control
 * characters but "\n", ends in "\n", no empty line, at most half of
 * KE_NOTE_MAX_LEN bytes. */
int ke_note_text_valid(const char *text, size_t len);
/* Sign a statement: `text` must be a valid note text (valid UTF-8, no
 * control characters but "\n", ending in "\n", no empty line) whose first
 * line starts with "keyescrow-v1-".  *note is malloc'd and NUL-terminated. */
ke_rc ke_note_sign_statement(const ke_note_key *k, const char *text, size_t len, char **note,
                             size_t *notelen);
/* Verify a signed note against the pinned key `v` (C2SP rules: signatures
 * by other keys are ignored, at least one by `v` must verify, and one by
 * `v` that fails rejects the note).  *text (malloc'd, NUL-terminated) is
 * the signed text including its final newline. */
ke_rc ke_note_open(const ke_note_verifier *v, const char *note, size_t len, char **text,
                   size_t *textlen);
/* ke_note_open, then require the first line to be exactly `type` (which
 * must start with "keyescrow-v1-"). */
ke_rc ke_note_open_statement(const ke_note_verifier *v, const char *note, size_t len,
                             const char *type, char **text, size_t *textlen);

/* Ed25519 verification of `len` bytes of `msg` (for other formats over the
 * same keys, e.g. witness cosignatures, ke_cosig.h).  KE_OK or KE_ERR_AUTH. */
ke_rc ke_note_verify_raw(const uint8_t pub[KE_NOTE_PUB_LEN], const uint8_t *msg, size_t len,
                         const uint8_t sig[KE_NOTE_SIG_LEN]);

/* ---- checkpoints ------------------------------------------------------------------ */
typedef struct ke_note_checkpoint {
  char origin[KE_NOTE_MAX_NAME + 1];
  uint64_t size;
  uint8_t root[32];
} ke_note_checkpoint;

/* Body "origin\nsize\nbase64(root)\n", malloc'd. */
ke_rc ke_note_checkpoint_format(const ke_note_checkpoint *cp, char **text, size_t *textlen);
/* Strict parse of a checkpoint body: exactly three lines, a valid origin,
 * a decimal size without leading zeros and <= 2^63, a 32-byte root in
 * canonical base64.  Extension lines are refused (this log writes none). */
ke_rc ke_note_checkpoint_parse(ke_note_checkpoint *out, const char *text, size_t len);
/* Sign the checkpoint (origin = the key's name) for a tree of `size`. */
ke_rc ke_note_checkpoint_sign(const ke_note_key *k, uint64_t size, const uint8_t root[32],
                              char **note, size_t *notelen);
/* Verify and parse; the origin must equal the pinned key's name. */
ke_rc ke_note_checkpoint_open(const ke_note_verifier *v, const char *note, size_t len,
                              ke_note_checkpoint *out);

/* A Merkle proof path as the audit API serves it (inclusion_path,
 * consistency_path): a JSON array of standard base64 hashes, at most
 * KE_MERKLE_MAX_PATH.  KE_OK, or KE_ERR_FORMAT with p->len = 0. */
#include <jansson.h>
#include "ke_merkle.h"
ke_rc ke_note_path_decode(ke_merkle_path *p, const json_t *arr);

#endif
