/*
 * agent_state.h - the agent's state directory and its context.
 *
 * The state dir (default /var/lib/escrow-agent, mode 0700, owned by the
 * agent's user, i.e. root) holds:
 *
 *   state.json   enrolment (server, device id, pinned escrow fingerprints and
 *                manifest, pinned log key, the optional SPKI pin_sha256),
 *                the last audit checkpoint accepted (agent_logview.h) and
 *                per volume the escrow record,
 *                its verified receipt, check-in results and any pending
 *                operation; replaced atomically (tmp, fsync, rename, fsync
 *                dir) so that a crash leaves the old or the new state
 *   device.key   the device's Ed25519 key (PKCS#8 PEM, 0600)
 *   local.key    32 random bytes (0600): the AES-256-GCM key that seals the
 *                LUKS / FileVault recovery secrets kept in state.json (see
 *                docs/threat-model.md for what this does and does not buy)
 *   ca.pem       the pinned CA certificate (a copy of --cacert), if any
 *   lock         flock()ed for the whole run of every command, so that the
 *                timer and an operator never interleave their writes
 *
 * Every file is checked to be private (0600/0700 and owned by the euid)
 * before it is used.
 */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H

#include <jansson.h>

#include "agent.h"
#include "agent_http.h"
#include "agent_sign.h"
#include "ke_files.h"
#include "ke_json_spec.h"
#include "ke_note.h"

#define AGENT_STATE_VERSION 1
#define AGENT_LOCAL_KEY_LEN 32

/* What the agent reads of state.json (checked on load), of a volume and its "upload" (the
 * record to be) and of its pending operation.  Strings are borrowed: read again after a
 * change.  Members of the wrong type (and a missing object, but its integers read 0) read
 * as absent, as they always did. */
typedef struct agent_st {
  const char *unpinned, *last_checkin, *audit_checkpoint, *server, *device_id, *escrow_fingerprint,
    *cacert, *pin_sha256, *log_key;
  int64_t checkin_interval, version;
  const json_t *pinned, *volumes;
} agent_st;
extern const struct ke_jspec agent_st_spec;
typedef struct agent_vol {
  const char *provider, *tool, *device, *uuid, *pbkdf, *key_type, *key_id, *record_id, *receipt,
    *escrowed, *last_verified, *envelope_sha256, *escrow_fingerprint, *verifier, *secret, *envelope,
    *unlock_check, *rotate;
  int64_t leaf_index, slot; /* -1 when absent */
} agent_vol;
agent_vol agent_vol_read(const json_t *vol);
typedef struct agent_pend {
  const char *op, *step, *reason, *device, *pbkdf, *new_key_id, *old_key_id, *old_secret,
    *new_secret;
  int64_t new_slot, old_slot; /* -1 when absent */
} agent_pend;
agent_pend agent_pend_read(const json_t *pend);

typedef struct agent_ctx {
  const agent_common *opts;
  const char *dir;
  int lock_fd;
  json_t *st;            /* state.json */
  const char *device_id; /* borrowed from st */
  ke_manifest *manifest; /* the escrow key the agent seals to (heap) */
  char fpr_hex[2 * KE_FPR_LEN + 1];
  ke_note_verifier logkey; /* pinned */
  agent_key *key;
  agent_http *http;   /* NULL unless opened with net */
  uint8_t *local_key; /* secure memory, loaded on first use */
} agent_ctx;

/* Create (if `create`) and check the state dir, then take its lock. */
int agent_ctx_lock(agent_ctx *c, const agent_common *o, int create);
/* Lock, then load an enrolled agent's state, device key, pinned keys and,
 * with AGENT_OPEN_NET, the HTTP client.  AGENT_OPEN_READONLY takes no lock
 * (for status: state.json is only ever replaced by rename, so a reader sees
 * the old or the new file) and must not save.  "not enrolled" is
 * AGENT_FAIL with a hint. */
#define AGENT_OPEN_NET 1
#define AGENT_OPEN_READONLY 2
int agent_ctx_open(agent_ctx *c, const agent_common *o, int flags);
void agent_ctx_close(agent_ctx *c);

/* Check and parse a state document (also used on load). */
int agent_state_check(json_t *st, agent_st *s, ke_manifest *m, ke_note_verifier *logkey);
/* Write c->st atomically. */
int agent_state_save(agent_ctx *c);

/* The volume's object (borrowed), or NULL. */
json_t *agent_volume(agent_ctx *c, const char *volume_id);
/* The volume's object, created with `provider` if absent. */
json_t *agent_volume_make(agent_ctx *c, const char *volume_id, const char *provider);

/* Seal / open a secret kept in the state for `volume_id` (AES-256-GCM
 * under local.key, AAD "keyescrow-v1-agent-local" 00 device 00 volume).
 * seal: *out is a malloc'd base64url string.  open: *s is secure memory
 * (ke_secure_free(*s, *len)). */
int agent_local_seal(agent_ctx *c, const char *volume_id, const uint8_t *s, size_t len, char **out);
int agent_local_open(agent_ctx *c, const char *volume_id, const char *sealed, uint8_t **s,
                     size_t *len);

/* 1 if the fingerprint (hex) is pinned on this device. */
int agent_fpr_pinned(const agent_ctx *c, const char *hex);
/* Seal to this manifest from now on (it must be pinned; checked). */
int agent_adopt_manifest(agent_ctx *c, const json_t *manifest);

#endif
