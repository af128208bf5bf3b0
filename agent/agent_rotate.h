/*
 * agent_rotate.h - the one resumable rotation driver of the providers that
 * rotate by themselves (bitlocker, filevault, luks).
 *
 * A rotation lives in the volume's "pending" entry of state.json,
 *   { "op": "rotate" (luks: also "add"), "step": ..., "reason": ..., ... },
 * and runs three steps, each recorded before the next one starts, so that a
 * rerun (also by an agent upgraded in between) resumes where the last one
 * stopped:
 *   add      make the new secret exist; the old one stays   -> step `added`
 *   escrow   escrow the new secret and verify the receipt   -> step `escrowed`
 *   remove   op "rotate": remove the old secret             -> pending deleted
 * Until the new secret is escrowed the old one stays, so at every point at
 * least one escrowed secret unlocks the volume.  The step names are the
 * provider's: state files written by earlier agents carry them.
 */
#ifndef AGENT_ROTATE_H
#define AGENT_ROTATE_H

#include "agent_provider.h"
#include "agent_state.h"

/* One run of a rotation, handed to every step. */
typedef struct agent_rotation {
  agent_ctx *c;
  const char *volume_id;
  json_t *vol, *pend; /* the volume's state entry and its "pending" (borrowed) */
  void *arg;          /* the provider's own context */
  char note[320];     /* add: printed (agent_info) once its step is recorded */
} agent_rotation;

/* Step names; `escrowed` NULL: the rotation ends with the escrow (filevault
 * replaces its key in one go).  add_crash: the test crash point once `added`
 * is recorded, or NULL.  Each step returns AGENT_OK or an AGENT_* error (the
 * rotation stops and later resumes at that step); add records in r->pend
 * what the later steps need; the driver records the step names. */
typedef struct agent_rotate_steps {
  const char *add, *added, *escrowed, *add_crash;
  int (*do_add)(agent_rotation *r);
  int (*do_escrow)(agent_rotation *r);
  int (*do_remove)(agent_rotation *r); /* NULL: nothing to remove */
} agent_rotate_steps;

/* A new pending entry for vol, recorded as vol "pending": `pend` (stolen;
 * NULL: an empty one) with "op" and the first "step" added.  NULL when out
 * of memory. */
json_t *agent_rotate_begin(json_t *vol, json_t *pend, const char *op, const char *step);
/* The escrow step's work: the new secret of r's volume, as key_id of
 * provider p, with `extra` recorded with the volume (stolen; may be NULL). */
int agent_rotate_escrow(agent_rotation *r, const agent_provider *p, const char *key_id,
                        const void *secret, size_t len, json_t *extra);
/* Run r->pend from its recorded step to the end: AGENT_OK once the pending
 * entry (and for op "rotate" the volume's "rotate" request) is deleted and
 * the state saved; AGENT_FAIL for a step the provider does not know. */
int agent_rotate_drive(agent_rotation *r, const agent_rotate_steps *s);

#endif
