/*
 * agent_provider.c - the provider table and the helpers they share.
 */
#include "agent_provider.h"

#include <stdio.h>
#include <string.h>

#include "ke_util.h"

static const agent_provider *const providers[] = {
  &agent_provider_stdin,
  &agent_provider_luks,
  &agent_provider_bitlocker,
  &agent_provider_filevault,
};

const agent_provider *agent_provider_find(const char *name)
{
  for (size_t i = 0; name && i < sizeof providers / sizeof providers[0]; i++)
    if (strcmp(providers[i]->name, name) == 0)
      return providers[i];
  return NULL;
}

const char *agent_provider_tool(const agent_prov_opts *o, const json_t *vol, const char *dflt)
{
  if (o && o->tool)
    return o->tool;
  return agent_vol_read(vol).tool ?: dflt;
}

int agent_provider_keep_tool(agent_secret *out, const agent_prov_opts *o)
{
  if (o && o->tool &&
      (!(out->extra = json_object()) || agent_jset_str(out->extra, "tool", o->tool)))
    return AGENT_FAIL;
  return AGENT_OK;
}

void agent_secret_free(agent_secret *s)
{
  ke_secure_free(s->p, s->len);
  json_decref(s->extra);
  memset(s, 0, sizeof *s);
}

int agent_secret_set(agent_secret *s, const void *p, size_t len)
{
  ke_secure_free(s->p, s->len);
  s->len = 0;
  if (!(s->p = ke_secure_alloc(len ? len : 1)))
    return agent_oom();
  memcpy(s->p, p, len);
  s->len = len;
  return AGENT_OK;
}

int agent_secret_from_state(agent_secret *out, agent_ctx *c, const char *volume_id,
                            const json_t *vol, const char *sealed, const char *key_type)
{
  uint8_t *s;
  size_t len;
  int rc;

  if ((rc = agent_local_open(c, volume_id, sealed, &s, &len)))
    return rc;
  rc = agent_secret_set(out, s, len);
  ke_secure_free(s, len);
  snprintf(out->volume_id, sizeof out->volume_id, "%s", volume_id);
  snprintf(out->key_id, sizeof out->key_id, "%s", agent_vol_read(vol).key_id ?: volume_id);
  out->key_type = key_type;
  return rc;
}

void agent_provider_req(agent_escrow_req *r, const agent_provider *p, const agent_secret *s,
                        int force)
{
  memset(r, 0, sizeof *r);
  r->volume_id = s->volume_id;
  r->provider = p->name;
  r->key_type = s->key_type ? s->key_type : p->key_type;
  r->key_id = s->key_id;
  r->secret = s->p;
  r->secret_len = s->len;
  r->force = force;
  r->keep = p->keep;
  r->extra = s->extra;
  r->generated = p->generated;
}
