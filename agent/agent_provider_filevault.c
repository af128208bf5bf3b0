/*
 * agent_provider_filevault.c - the FileVault personal recovery key (PRK)
 * through fdesetup.
 *
 * macOS shows a PRK only once, in the plist output of `fdesetup enable
 * -outputplist` or `fdesetup changerecovery -personal -outputplist`, so the
 * first escrow takes that plist (--plist FILE, "-" for stdin) and the agent
 * keeps the key sealed in its state for check-ins and rotation.  Key ID =
 * "fv:" + the logical volume UUID from the plist (HardwareUUID when there
 * is none); volume id = "fv-" + the same UUID unless --volume is given.
 *
 * Check-in: `fdesetup validaterecovery -inputplist` with the kept key.
 * Rotation: `fdesetup changerecovery -personal -outputplist -inputplist`,
 * authenticated with the kept key.  fdesetup replaces the PRK in one step
 * (the old one stops working at once), so the new key is sealed into the
 * state before anything else; only a crash in the instant between fdesetup
 * printing it and that write can lose it, which the next run detects (the
 * old key no longer validates) and reports as needing an operator.
 */
#include "agent_provider.h"

#include <ctype.h>
#include <string.h>

#include "agent_parse.h"
#include "agent_rotate.h"
#include "agent_run.h"
#include "ke_util.h"

#define FV_DEFAULT "fdesetup"

/* The input plist carrying a password (the PRK) for fdesetup, in secure
 * memory.  The PRK alphabet needs no XML escaping. */
static int auth_plist(ke_buf *b, const uint8_t *key, size_t len)
{
  static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
                             "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
                             "<plist version=\"1.0\">\n<dict>\n\t<key>Password</key>\n\t<string>";
  static const char tail[] = "</string>\n</dict>\n</plist>\n";

  memset(b, 0, sizeof *b);
  b->secure = 1;
  for (size_t i = 0; i < len; i++)
    if (!isalnum(key[i]) && key[i] != '-')
      return AGENT_FAIL;
  if (ke_buf_append(b, head, sizeof head - 1) || ke_buf_append(b, key, len) ||
      ke_buf_append(b, tail, sizeof tail - 1)) {
    ke_buf_free(b);
    return agent_oom();
  }
  return AGENT_OK;
}

/* "true"/"false" of fdesetup validaterecovery: 1, 0, or -1 (could not tell). */
static int fv_validate(const char *tool, const uint8_t *key, size_t len)
{
  const char *argv[] = {tool, "validaterecovery", "-inputplist", NULL};
  ke_buf in, out;
  int status, r = -1;

  if (auth_plist(&in, key, len))
    return -1;
  if (agent_run(argv, in.p, in.len, &out, &status) == AGENT_OK) {
    size_t n = out.len;
    while (n && isspace((unsigned char)out.p[n - 1]))
      n--;
    if (status == 0 && n == 4 && memcmp(out.p, "true", 4) == 0)
      r = 1;
    else if (n == 5 && memcmp(out.p, "false", 5) == 0)
      r = 0;
    ke_buf_free(&out);
  }
  ke_buf_free(&in);
  return r;
}

static int secret_from_plist(const char *text, size_t len, const char *volume, agent_secret *out,
                             const char *what)
{
  agent_fv_plist *pl = ke_secure_alloc(sizeof *pl);
  const char *uuid;
  int rc = AGENT_FAIL;

  if (!pl)
    return agent_oom();
  if (agent_fv_parse(text, len, pl) != AGENT_PARSE_OK) {
    agent_err("%s is not an fdesetup plist with a personal recovery key (RecoveryKey)", what);
    goto out;
  }
  uuid = pl->lv_uuid[0] ? pl->lv_uuid : pl->hardware_uuid;
  if (!volume && !uuid[0]) {
    agent_err("%s names no volume (no LVUUID or HardwareUUID): give --volume", what);
    rc = AGENT_USAGE;
    goto out;
  }
  if (volume)
    snprintf(out->volume_id, sizeof out->volume_id, "%s", volume);
  else
    snprintf(out->volume_id, sizeof out->volume_id, "fv-%.64s", uuid);
  snprintf(out->key_id, sizeof out->key_id, "fv:%.120s", uuid[0] ? uuid : out->volume_id);
  if (!agent_volume_id_valid(out->volume_id) || !agent_key_id_valid(out->key_id)) {
    agent_err("%s: the volume UUID has characters a volume id cannot have", what);
    goto out;
  }
  out->key_type = "filevault";
  rc = agent_secret_set(out, pl->recovery_key, strlen(pl->recovery_key));
out:
  ke_secure_free(pl, sizeof *pl);
  return rc;
}

static int fv_current(agent_ctx *c, const agent_prov_opts *o, const char *volume_id, json_t *vol,
                      agent_secret *out)
{
  const char *sealed = agent_vol_read(vol).secret;
  int rc;

  if (o && o->plist) {
    ke_buf b;
    if ((rc = agent_read_file(&b, o->plist, 64 * 1024, 1, "fdesetup plist")))
      return rc;
    rc = secret_from_plist(b.p, b.len, volume_id, out, o->plist);
    ke_buf_free(&b);
    if (!rc)
      rc = agent_provider_keep_tool(out, o);
    return rc;
  }
  if (!vol || !sealed) {
    agent_err("FileVault shows a personal recovery key only once: pipe the plist in, e.g. "
              "`fdesetup changerecovery -personal -outputplist | escrow-agent escrow "
              "--provider filevault --plist -`");
    return AGENT_USAGE;
  }
  return agent_secret_from_state(out, c, volume_id, vol, sealed, "filevault");
}

static const char *fv_unlock(agent_ctx *c, const char *volume_id, json_t *vol,
                             const agent_secret *cur)
{
  int r;

  (void)c;
  if (!cur->p)
    return "unsupported";
  r = fv_validate(agent_provider_tool(NULL, vol, FV_DEFAULT), cur->p, cur->len);
  if (r < 0) {
    agent_warn("volume %s: fdesetup validaterecovery gave no answer", volume_id);
    return "unsupported";
  }
  return r ? "ok" : "failed";
}

/* What the steps of one rotation share. */
typedef struct fv_rot {
  const char *tool;
  agent_secret old, neu; /* the kept key; the new one once known */
} fv_rot;

/* Step "changing": fdesetup changerecovery, authenticated with the kept
 * key; the new key is sealed into the pending entry at once. */
static int fv_change(agent_rotation *r)
{
  fv_rot *f = r->arg;
  const char *argv[] = {f->tool,        "changerecovery", "-personal",
                        "-outputplist", "-inputplist",    NULL};
  const char *volume_id = r->volume_id;
  ke_buf in = {0}, out = {0};
  char *sealed = NULL;
  int rc, status;

  /* An earlier run may have changed the key and died before saving it:
   * then the kept key no longer validates and the new one is lost. */
  if (fv_validate(f->tool, f->old.p, f->old.len) == 0) {
    agent_err("volume %s: the personal recovery key was changed but the new key was lost "
              "in a crash; an operator must run `fdesetup changerecovery -personal "
              "-outputplist | escrow-agent escrow --provider filevault --volume %s --plist -`",
              volume_id, volume_id);
    return AGENT_ATTENTION;
  }
  if ((rc = auth_plist(&in, f->old.p, f->old.len)) ||
      (rc = agent_run(argv, in.p, in.len, &out, &status)))
    goto out;
  if (status != 0) {
    agent_err("volume %s: fdesetup changerecovery failed (exit status %d)", volume_id, status);
    rc = AGENT_FAIL;
    goto out;
  }
  if ((rc = secret_from_plist(out.p, out.len, volume_id, &f->neu, "fdesetup's output")))
    goto out;
  /* First thing: the new key is the only working one now. */
  if (!(rc = agent_local_seal(r->c, volume_id, f->neu.p, f->neu.len, &sealed)))
    rc = agent_jset_str(r->pend, "new_secret", sealed);
  free(sealed);
  snprintf(r->note, sizeof r->note, "volume %s: personal recovery key changed", volume_id);
out:
  ke_buf_free(&in);
  ke_buf_free(&out);
  return rc;
}

/* Step "changed": escrow the new key (sealed in the pending entry when an
 * earlier run changed it). */
static int fv_escrow(agent_rotation *r)
{
  fv_rot *f = r->arg;
  uint8_t *s;
  size_t len;
  int rc;

  if (f->neu.p)
    return agent_rotate_escrow(r, &agent_provider_filevault, f->neu.key_id, f->neu.p, f->neu.len,
                               NULL);
  if ((rc = agent_local_open(r->c, r->volume_id, agent_pend_read(r->pend).new_secret, &s, &len)))
    return rc;
  rc = agent_rotate_escrow(r, &agent_provider_filevault, f->old.key_id, s, len, NULL);
  ke_secure_free(s, len);
  return rc;
}

static int fv_rotate(agent_ctx *c, const char *volume_id, const char *reason)
{
  static const agent_rotate_steps steps = {
    "changing", "changed", NULL, NULL, fv_change, fv_escrow, NULL,
  };
  json_t *vol = agent_volume(c, volume_id), *pend = json_object_get(vol, "pending");
  fv_rot f = {agent_provider_tool(NULL, vol, FV_DEFAULT), {0}, {0}};
  agent_rotation r = {c, volume_id, vol, pend, &f, ""};
  int rc;

  if (!vol)
    return AGENT_FAIL;
  if ((rc = fv_current(c, NULL, volume_id, vol, &f.old)))
    return rc;
  rc = AGENT_FAIL;
  if (!pend && (!(r.pend = agent_rotate_begin(vol, NULL, "rotate", "changing")) ||
                agent_jset_str(r.pend, "reason", reason) || agent_state_save(c)))
    goto out;
  if (!(rc = agent_rotate_drive(&r, &steps)))
    agent_info("volume %s: personal recovery key rotated and escrowed", volume_id);
out:
  agent_secret_free(&f.old);
  agent_secret_free(&f.neu);
  return rc;
}

const agent_provider agent_provider_filevault = {
  "filevault", "filevault", 1, fv_current, fv_unlock, fv_rotate, 1,
};
