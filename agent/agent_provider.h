/*
 * agent_provider.h - where recovery secrets come from, and how they are
 * checked and rotated, per platform:
 *
 *   stdin      any secret piped in by an operator; the agent never keeps it,
 *              so check-in cannot recompute its verifier and rotation needs
 *              the operator
 *   luks       a recovery keyslot the agent adds itself (libcryptsetup); the
 *              passphrase is kept sealed in the state (it cannot be read back
 *              from the header); check-in tests the keyslot without
 *              activating anything
 *   bitlocker  the volume's numerical-password protector, read with
 *              manage-bde each time; rotated with manage-bde -add/-delete
 *   filevault  the personal recovery key, from fdesetup's plist output; kept
 *              sealed (macOS never shows it again); checked with fdesetup
 *              validaterecovery, rotated with fdesetup changerecovery
 *
 * Rotations are resumable state machines recorded in the volume's
 * "pending" entry before each step (see each provider file).
 */
#ifndef AGENT_PROVIDER_H
#define AGENT_PROVIDER_H

#include "agent_escrow.h"
#include "agent_state.h"

/* Command-line inputs of `escrow` (any may be NULL).  At check-in the
 * providers take what they need from the volume's state instead. */
typedef struct agent_prov_opts {
  const char *volume;    /* --volume */
  const char *tool;      /* --manage-bde / --fdesetup PATH */
  const char *plist;     /* filevault: --plist FILE (output of fdesetup) */
  const char *device;    /* luks: --device DEV */
  const char *key_id;    /* stdin: --key-id */
  const char *key_type;  /* stdin: --key-type */
  const char *input;     /* stdin: --in FILE, default "-" */
  int raw;               /* stdin: keep a trailing newline */
} agent_prov_opts;

typedef struct agent_secret {
  uint8_t *p;            /* secure memory; NULL: the provider cannot read it */
  size_t len;
  char volume_id[AGENT_ID_MAX + 1];
  char key_id[AGENT_ID_MAX + 1];
  const char *key_type;
  json_t *extra;         /* fields recorded with the volume (owned) */
} agent_secret;

void agent_secret_free(agent_secret *s);
/* Copy len bytes into s->p (secure). */
int agent_secret_set(agent_secret *s, const void *p, size_t len);
/* The secret this agent keeps sealed in the state for volume_id (`sealed`,
 * a member of vol) as the volume's current one: its key id is vol's
 * "key_id" (default: the volume id), its type key_type. */
int agent_secret_from_state(agent_secret *out, agent_ctx *c, const char *volume_id,
                            const json_t *vol, const char *sealed, const char *key_type);

typedef struct agent_provider {
  const char *name;
  const char *key_type;
  int keep;   /* the secret is kept sealed in the state */
  /* The volume's current secret.  At check-in `o` is NULL and volume_id
   * and vol are the volume's; at escrow volume_id is --volume (or NULL:
   * the provider's default) and vol is NULL for a new volume.  A provider
   * that cannot read the secret (stdin at check-in) leaves out->p NULL. */
  int (*current)(agent_ctx *c, const agent_prov_opts *o, const char *volume_id, json_t *vol,
                 agent_secret *out);
  /* "ok", "failed" or "unsupported": does the escrowed key still unlock? */
  const char *(*unlock_check)(agent_ctx *c, const char *volume_id, json_t *vol,
                              const agent_secret *cur);
  /* New key, escrow it, remove the old one; NULL if only an operator can.
   * Also resumes a pending rotation. */
  int (*rotate)(agent_ctx *c, const char *volume_id, const char *reason);
  /* Finish the operation recorded in vol "pending" (AGENT_OK if none). */
  int (*resume)(agent_ctx *c, const char *volume_id);
} agent_provider;

const agent_provider *agent_provider_find(const char *name);
/* The escrow request of a provider's current secret. */
void agent_provider_req(agent_escrow_req *r, const agent_provider *p, const agent_secret *s,
                        int force);

extern const agent_provider agent_provider_stdin;
extern const agent_provider agent_provider_luks;
extern const agent_provider agent_provider_bitlocker;
extern const agent_provider agent_provider_filevault;

#endif
