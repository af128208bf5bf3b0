/*
 * agent_rotate.c - the resumable rotation driver (see agent_rotate.h).
 */
#include "agent_rotate.h"

#include <string.h>

/* 1 if pend's "step" is `step` (never for a NULL step). */
static int step_is(const json_t *pend, const char *step)
{
  const char *s = agent_pend_read(pend).step;
  return s && step && strcmp(s, step) == 0;
}

json_t *agent_rotate_begin(json_t *vol, json_t *pend, const char *op, const char *step)
{
  if (!pend && !(pend = json_object()))
    return NULL;
  if (agent_jset(vol, "pending", pend) || agent_jset_str(pend, "op", op) ||
      agent_jset_str(pend, "step", step))
    return NULL;
  return pend;
}

static int record_step(agent_rotation *r, const char *step, const char *crash)
{
  int rc;

  if ((rc = agent_jset_str(r->pend, "step", step)) || (rc = agent_state_save(r->c)))
    return rc;
  if (crash)
    agent_crash_point(crash);
  return AGENT_OK;
}

int agent_rotate_drive(agent_rotation *r, const agent_rotate_steps *s)
{
  const char *op = agent_pend_read(r->pend).op;
  int rotate = !op || strcmp(op, "rotate") == 0, rc;

  if (step_is(r->pend, s->add)) {
    r->note[0] = '\0';
    if ((rc = s->do_add(r)) || (rc = record_step(r, s->added, s->add_crash)))
      return rc;
    if (r->note[0])
      agent_info("%s", r->note);
  }
  if (step_is(r->pend, s->added)) {
    if ((rc = s->do_escrow(r)))
      return rc;
    if (s->escrowed && (rc = record_step(r, s->escrowed, "after-receipt")))
      return rc;
  } else if (!step_is(r->pend, s->escrowed)) {
    return AGENT_FAIL;
  }
  if (rotate && s->do_remove && (rc = s->do_remove(r)))
    return rc;
  json_object_del(r->vol, "pending");
  if (rotate)
    json_object_del(r->vol, "rotate");
  return agent_state_save(r->c);
}

int agent_rotate_escrow(agent_rotation *r, const agent_provider *p, const char *key_id,
                        const void *secret, size_t len, json_t *extra)
{
  agent_secret s = {.extra = extra};
  agent_escrow_req req;
  int rc;

  if (!(rc = agent_secret_set(&s, secret, len))) {
    snprintf(s.volume_id, sizeof s.volume_id, "%s", r->volume_id);
    snprintf(s.key_id, sizeof s.key_id, "%s", key_id);
    agent_provider_req(&req, p, &s, 0);
    rc = agent_escrow(r->c, &req);
  }
  agent_secret_free(&s);
  return rc;
}
