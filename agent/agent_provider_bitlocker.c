/*
 * agent_provider_bitlocker.c - BitLocker numerical-password protectors
 * through manage-bde.
 *
 * Windows lets an administrator read a recovery password at any time, so
 * nothing is kept: every escrow and check-in reads the protector again.
 * Key ID = the protector GUID.
 *
 * Rotation (disclosed or requested), recorded step by step in the volume's
 * "pending" entry so that a rerun converges:
 *   adding   remember the protector IDs present, then
 *            manage-bde -protectors -add V: -RecoveryPassword
 *            (a rerun first looks for a protector that was not there before)
 *   added    escrow the new protector's password and verify the receipt
 *   escrowed manage-bde -protectors -delete V: -id {OLD}
 * Until the new password is escrowed the old protector stays, so at every
 * point at least one escrowed password unlocks the volume.
 */
#include "agent_provider.h"

#include <string.h>

#include "agent_parse.h"
#include "agent_rotate.h"
#include "agent_run.h"
#include "ke_util.h"

#define BDE_DEFAULT "manage-bde"

typedef struct bde_list {
  agent_bde_protector *p; /* secure memory, AGENT_BDE_MAX entries */
  size_t n;
} bde_list;

static void list_free(bde_list *l)
{
  ke_secure_free(l->p, AGENT_BDE_MAX * sizeof *l->p);
  l->p = NULL;
  l->n = 0;
}

/* manage-bde -protectors -get V: -Type RecoveryPassword */
static int bde_get(const char *tool, const char *volume, bde_list *l)
{
  const char *argv[] = {tool, "-protectors", "-get", volume, "-Type", "RecoveryPassword", NULL};
  ke_buf out;
  int status, bad = 0, rc;
  agent_parse_rc pr;

  memset(l, 0, sizeof *l);
  if ((rc = agent_run(argv, NULL, 0, &out, &status)))
    return rc;
  if (status != 0) {
    agent_err("volume %s: %s -protectors -get failed (exit status %d): is BitLocker on, "
              "with a recovery password protector?",
              volume, tool, status);
    ke_buf_free(&out);
    return AGENT_FAIL;
  }
  if (!(l->p = ke_secure_alloc(AGENT_BDE_MAX * sizeof *l->p))) {
    ke_buf_free(&out);
    return agent_oom();
  }
  pr = agent_bde_parse(out.p, out.len, l->p, AGENT_BDE_MAX, &l->n, &bad);
  ke_buf_free(&out);
  if (pr == AGENT_PARSE_CHECKSUM)
    agent_err("volume %s: %s printed a recovery password whose block %d fails the BitLocker "
              "checksum",
              volume, tool, bad);
  else if (pr == AGENT_PARSE_TOO_MANY)
    agent_err("volume %s: more than %d recovery passwords", volume, AGENT_BDE_MAX);
  else if (pr)
    agent_err("volume %s: cannot understand the output of %s -protectors -get", volume, tool);
  else if (l->n == 0)
    agent_err("volume %s has no recovery password protector (add one with manage-bde "
              "-protectors -add %s -RecoveryPassword)",
              volume, volume);
  if (pr || l->n == 0) {
    list_free(l);
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

static const agent_bde_protector *list_find(const bde_list *l, const char *id)
{
  for (size_t i = 0; id && i < l->n; i++)
    if (strcmp(l->p[i].id, id) == 0)
      return &l->p[i];
  return NULL;
}

static int bde_current(agent_ctx *c, const agent_prov_opts *o, const char *volume_id, json_t *vol,
                       agent_secret *out)
{
  const char *volume = volume_id ? volume_id : (o && o->volume ? o->volume : "C:");
  const char *tool = agent_provider_tool(o, vol, BDE_DEFAULT);
  const agent_bde_protector *pick;
  bde_list l;
  int rc;

  (void)c;
  if (!agent_volume_id_valid(volume)) {
    agent_err("invalid volume \"%s\" (a drive such as C:)", volume);
    return AGENT_USAGE;
  }
  if ((rc = bde_get(tool, volume, &l)))
    return rc;
  /* The escrowed protector while it exists; otherwise the first. */
  pick = list_find(&l, agent_vol_read(vol).key_id);
  if (!pick) {
    pick = &l.p[0];
    if (l.n > 1)
      agent_warn("volume %s has %zu recovery passwords; escrowing the first, %s. Every one "
                 "of them unlocks the volume: delete the others (manage-bde -protectors "
                 "-delete %s -id ID) so that the escrowed one is the only one",
                 volume, l.n, pick->id, volume);
  }
  rc = agent_secret_set(out, pick->password, strlen(pick->password));
  snprintf(out->volume_id, sizeof out->volume_id, "%s", volume);
  snprintf(out->key_id, sizeof out->key_id, "%s", pick->id);
  out->key_type = "bitlocker";
  if (!rc)
    rc = agent_provider_keep_tool(out, o);
  list_free(&l);
  return rc;
}

static const char *bde_unlock(agent_ctx *c, const char *volume_id, json_t *vol,
                              const agent_secret *cur)
{
  uint8_t want[KE_VERIFIER_MAX];
  size_t wl = 0;
  const char *r = "failed";
  agent_vol v = agent_vol_read(vol);

  /* The escrowed protector is still there, with the escrowed password. */
  if (cur->p && v.key_id && strcmp(cur->key_id, v.key_id) == 0 && v.verifier &&
      ke_verifier_decode(want, &wl, v.verifier) == KE_OK &&
      ke_verifier_check(want, wl, cur->p, cur->len, c->device_id, volume_id) == KE_OK)
    r = "ok";
  return r;
}

static int run_simple(const char *const *argv, const char *what, const char *volume)
{
  ke_buf out;
  int status, rc = agent_run(argv, NULL, 0, &out, &status);

  ke_buf_free(&out); /* the -add output holds the new password: never shown */
  if (!rc && status != 0) {
    agent_err("volume %s: %s %s failed (exit status %d)", volume, argv[0], what, status);
    rc = AGENT_FAIL;
  }
  return rc;
}

static int json_has_str(const json_t *arr, const char *s)
{
  size_t i;
  json_t *v;
  json_array_foreach (arr, i, v) {
    if (json_string_value(v) && strcmp(json_string_value(v), s) == 0)
      return 1;
  }
  return 0;
}

static const agent_bde_protector *first_new(const bde_list *l, const json_t *known)
{
  for (size_t i = 0; i < l->n; i++)
    if (!json_has_str(known, l->p[i].id))
      return &l->p[i];
  return NULL;
}

/* What the steps of one rotation share. */
typedef struct bde_rot {
  const char *tool;
  bde_list l; /* the protectors as last read */
} bde_rot;

static int relist(bde_rot *b, const char *volume_id)
{
  list_free(&b->l);
  return bde_get(b->tool, volume_id, &b->l);
}

/* Step "adding": a protector that was not there when the rotation began,
 * added now unless an earlier run added it before a crash. */
static int bde_add(agent_rotation *r)
{
  bde_rot *b = r->arg;
  const char *add[] = {b->tool, "-protectors", "-add", r->volume_id, "-RecoveryPassword", NULL};
  const agent_bde_protector *np;
  int rc;

  if ((rc = relist(b, r->volume_id)))
    return rc;
  if (!(np = first_new(&b->l, json_object_get(r->pend, "known")))) {
    if ((rc = run_simple(add, "-protectors -add -RecoveryPassword", r->volume_id)) ||
        (rc = relist(b, r->volume_id)))
      return rc;
    if (!(np = first_new(&b->l, json_object_get(r->pend, "known")))) {
      agent_err("volume %s: manage-bde added no recovery password protector", r->volume_id);
      return AGENT_FAIL;
    }
  }
  snprintf(r->note, sizeof r->note, "volume %s: new recovery password protector %s added",
           r->volume_id, np->id);
  return agent_jset_str(r->pend, "new_key_id", np->id);
}

/* Step "added": escrow the new protector's password. */
static int bde_escrow(agent_rotation *r)
{
  bde_rot *b = r->arg;
  const agent_bde_protector *np;
  const char *new_id = agent_pend_read(r->pend).new_key_id;
  int rc;

  if ((rc = relist(b, r->volume_id)))
    return rc;
  if (!(np = list_find(&b->l, new_id))) {
    agent_err("volume %s: the new protector %s disappeared; rotation starts over", r->volume_id,
              new_id);
    json_object_del(r->vol, "pending");
    agent_state_save(r->c);
    return AGENT_FAIL;
  }
  return agent_rotate_escrow(r, &agent_provider_bitlocker, np->id, np->password,
                             strlen(np->password), NULL);
}

/* Step "escrowed": delete the old protector if it is still there. */
static int bde_remove(agent_rotation *r)
{
  bde_rot *b = r->arg;
  agent_pend pd = agent_pend_read(r->pend);
  const char *old = pd.old_key_id;
  const char *del[] = {b->tool, "-protectors", "-delete", r->volume_id, "-id", old, NULL};
  int rc;

  if ((rc = relist(b, r->volume_id)) || !old || strcmp(old, pd.new_key_id) == 0 ||
      !list_find(&b->l, old))
    return rc;
  if ((rc = run_simple(del, "-protectors -delete", r->volume_id)) || (rc = relist(b, r->volume_id)))
    return rc;
  if (list_find(&b->l, old)) {
    agent_err("volume %s: the old protector %s is still there after -delete", r->volume_id, old);
    return AGENT_FAIL;
  }
  agent_info("volume %s: old recovery password protector %s deleted", r->volume_id, old);
  return AGENT_OK;
}

/* A new pending rotation that remembers the protectors present now. */
static int bde_begin(agent_ctx *c, json_t *vol, bde_rot *b, const char *volume_id,
                     const char *reason)
{
  json_t *known, *pend;
  int rc;

  if ((rc = relist(b, volume_id)))
    return rc;
  if (!(known = json_array()) || !(pend = json_object())) {
    json_decref(known);
    return agent_oom();
  }
  for (size_t i = 0; i < b->l.n; i++)
    if (json_array_append_new(known, json_string(b->l.p[i].id)) != 0) {
      json_decref(known);
      json_decref(pend);
      return agent_oom();
    }
  if (agent_jset(pend, "known", known) || !agent_rotate_begin(vol, pend, "rotate", "adding") ||
      agent_jset_str(pend, "reason", reason) ||
      agent_jset_str(pend, "old_key_id", agent_vol_read(vol).key_id) || agent_state_save(c))
    return AGENT_FAIL;
  return AGENT_OK;
}

static int bde_rotate(agent_ctx *c, const char *volume_id, const char *reason)
{
  static const agent_rotate_steps steps = {
    "adding", "added", "escrowed", NULL, bde_add, bde_escrow, bde_remove,
  };
  json_t *vol = agent_volume(c, volume_id);
  bde_rot b = {agent_provider_tool(NULL, vol, BDE_DEFAULT), {0}};
  agent_rotation r = {c, volume_id, vol, NULL, &b, ""};
  int rc = AGENT_FAIL;

  if (vol &&
      (json_object_get(vol, "pending") || !(rc = bde_begin(c, vol, &b, volume_id, reason)))) {
    r.pend = json_object_get(vol, "pending");
    if (!(rc = agent_rotate_drive(&r, &steps)))
      agent_info("volume %s: recovery password rotated", volume_id);
  }
  list_free(&b.l);
  return rc;
}

const agent_provider agent_provider_bitlocker = {
  "bitlocker", "bitlocker", 0, bde_current, bde_unlock, bde_rotate, 1,
};
