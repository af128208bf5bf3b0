/*
 * agent_provider_luks.c - LUKS recovery keyslots through libcryptsetup
 * (see agent_luks.h for the passphrase format and the state machine).
 *
 * Keyslot checks use crypt_activate_by_passphrase() with a NULL name: that
 * only verifies the passphrase against the keyslot, it maps nothing.
 */
#include "agent_luks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcryptsetup.h>

#include "agent_provider.h"
#include "agent_rotate.h"
#include "ke_util.h"

#define PBKDF_MINIMAL_ITERATIONS 1000

/* ---- passphrases ------------------------------------------------------------- */
static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int agent_luks_passphrase(char out[AGENT_LUKS_PASS_LEN + 1])
{
  uint8_t r[25]; /* 200 bits = 40 base32 characters exactly */
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0, chars = 0;

  if (ke_random(r, sizeof r) != KE_OK) {
    agent_err("the random number generator failed");
    return AGENT_FAIL;
  }
  for (size_t i = 0; i < sizeof r; i++) {
    acc = (acc << 8) | r[i];
    bits += 8;
    while (bits >= 5) {
      if (chars && chars % 5 == 0)
        out[o++] = '-';
      out[o++] = b32[(acc >> (bits - 5)) & 31];
      bits -= 5;
      chars++;
    }
  }
  out[o] = '\0';
  ke_wipe(r, sizeof r);
  ke_wipe(&acc, sizeof acc);
  return AGENT_OK;
}

int agent_luks_passphrase_valid(const char *s, size_t len)
{
  if (len != AGENT_LUKS_PASS_LEN)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (i % 6 == 5 ? s[i] != '-' : !memchr(b32, s[i], 32) || !s[i])
      return 0;
  return 1;
}

/* ---- libcryptsetup ----------------------------------------------------------- */
static void cs_log(int level, const char *msg, void *usrptr)
{
  size_t n = strlen(msg);

  (void)usrptr;
  if (level != CRYPT_LOG_ERROR)
    return;
  while (n && msg[n - 1] == '\n')
    n--;
  agent_warn("libcryptsetup: %.*s", (int)n, msg);
}

static int cs_open(const char *device, struct crypt_device **cd)
{
  int r;

  crypt_set_log_callback(NULL, cs_log, NULL);
  *cd = NULL;
  if ((r = crypt_init(cd, device)) < 0) {
    agent_err("cannot open %s: %s", device, strerror(-r));
    return AGENT_FAIL;
  }
  if ((r = crypt_load(*cd, CRYPT_LUKS, NULL)) < 0) {
    agent_err("%s is not a LUKS device (%s)", device, strerror(-r));
    crypt_free(*cd);
    *cd = NULL;
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

/* Open the LUKS device of a volume whose UUID is known.  Device names
 * move between boots (/dev/sdb becomes /dev/sdc), so the recorded path is
 * used only while it still carries that UUID; otherwise the stable
 * /dev/disk/by-uuid name is.  Never acting on a device with another UUID
 * also keeps keyslot changes off the wrong disk. */
static int cs_open_uuid(const char *device, const char *uuid, struct crypt_device **cd)
{
  char alt[128];
  const char *u;

  if (!uuid || !uuid[0])
    return cs_open(device, cd);
  if (device && access(device, F_OK) == 0 && cs_open(device, cd) == AGENT_OK) {
    u = crypt_get_uuid(*cd);
    if (u && strcmp(u, uuid) == 0)
      return AGENT_OK;
    crypt_free(*cd);
    *cd = NULL;
  }
  snprintf(alt, sizeof alt, "/dev/disk/by-uuid/%s", uuid);
  if (access(alt, F_OK) != 0 || cs_open(alt, cd) != AGENT_OK) {
    agent_err("the LUKS device with UUID %s is not at %s any more, and not at %s", uuid,
              device ? device : "(none)", alt);
    return AGENT_FAIL;
  }
  u = crypt_get_uuid(*cd);
  if (!u || strcmp(u, uuid) != 0) {
    crypt_free(*cd);
    *cd = NULL;
    agent_err("%s does not carry the LUKS UUID %s", alt, uuid);
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

/* The slot `pass` opens (any slot when slot < 0), or a negative errno. */
static int cs_test(struct crypt_device *cd, int slot, const uint8_t *pass, size_t len)
{
  return crypt_activate_by_passphrase(cd, NULL, slot < 0 ? CRYPT_ANY_SLOT : slot,
                                      (const char *)pass, len, 0);
}

int agent_luks_identify(const char *device, char volume_id[AGENT_ID_MAX + 1],
                        char uuid[AGENT_LUKS_UUID_MAX + 1])
{
  struct crypt_device *cd;
  const char *u;

  if (cs_open(device, &cd))
    return AGENT_FAIL;
  u = crypt_get_uuid(cd);
  if (!u || strlen(u) > AGENT_LUKS_UUID_MAX) {
    agent_err("%s has no usable LUKS UUID", device);
    crypt_free(cd);
    return AGENT_FAIL;
  }
  snprintf(uuid, AGENT_LUKS_UUID_MAX + 1, "%s", u);
  snprintf(volume_id, AGENT_ID_MAX + 1, "luks-%s", u);
  crypt_free(cd);
  if (!agent_volume_id_valid(volume_id)) {
    agent_err("%s: its UUID has characters a volume id cannot have", device);
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

int agent_luks_check(agent_ctx *c, const char *volume_id, json_t *vol, const uint8_t *pass,
                     size_t len)
{
  struct crypt_device *cd;
  agent_vol v = agent_vol_read(vol);
  int r;

  (void)c;
  if (!v.device || v.slot < 0) {
    agent_err("volume %s: the state does not say which device and keyslot", volume_id);
    return -1;
  }
  if (cs_open_uuid(v.device, v.uuid, &cd))
    return -1;
  r = cs_test(cd, (int)v.slot, pass, len);
  crypt_free(cd);
  return r == v.slot ? 1 : 0;
}

/* ---- the state machine (agent_rotate.h) -------------------------------------------- */
int agent_luks_begin(agent_ctx *c, const char *op, const char *volume_id, const char *device,
                     const char *pbkdf, const char *reason)
{
  json_t *vol = agent_volume_make(c, volume_id, "luks"), *pend;
  agent_vol v = agent_vol_read(vol);
  char pass[AGENT_LUKS_PASS_LEN + 1];
  char *sealed = NULL;
  int rc = AGENT_FAIL;

  if (!vol)
    return AGENT_FAIL;
  if (strcmp(op, "rotate") == 0 && (!v.secret || v.slot < 0)) {
    agent_err("volume %s has no escrowed recovery keyslot to rotate (run escrow-agent luks "
              "add)",
              volume_id);
    return AGENT_FAIL;
  }
  if (agent_luks_passphrase(pass))
    return AGENT_FAIL;
  if (agent_local_seal(c, volume_id, (const uint8_t *)pass, strlen(pass), &sealed))
    goto out;
  if (!(pend = agent_rotate_begin(vol, NULL, op, "generated")) ||
      agent_jset_str(pend, "new_secret", sealed) || agent_jset_str(pend, "device", device) ||
      agent_jset_str(pend, "pbkdf", pbkdf) || agent_jset_str(pend, "reason", reason))
    goto out;
  if (strcmp(op, "rotate") == 0 &&
      (agent_jset_str(pend, "old_secret", v.secret) || agent_jset_int(pend, "old_slot", v.slot)))
    goto out;
  rc = agent_state_save(c);
out:
  ke_wipe(pass, sizeof pass);
  free(sealed);
  return rc;
}

static int add_slot(struct crypt_device *cd, const char *pbkdf, const uint8_t *auth, size_t authlen,
                    const uint8_t *pass, size_t len)
{
  if (!pbkdf || strcmp(pbkdf, "default") != 0) {
    struct crypt_pbkdf_type p = {
      .type = CRYPT_KDF_PBKDF2,
      .hash = "sha256",
      .iterations = PBKDF_MINIMAL_ITERATIONS,
      .flags = CRYPT_PBKDF_NO_BENCHMARK,
    };
    int r = crypt_set_pbkdf_type(cd, &p);
    if (r < 0) {
      agent_err("cannot select PBKDF2 for the new keyslot: %s", strerror(-r));
      return r;
    }
  }
  return crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT, (const char *)auth, authlen,
                                         (const char *)pass, len);
}

/* What the steps of one add or rotate share. */
typedef struct luks_rot {
  struct crypt_device *cd;
  uint8_t *pass; /* the new recovery passphrase */
  size_t len;
  const uint8_t *unlock; /* authorises the new keyslot (NULL: the old passphrase) */
  size_t unlock_len;
} luks_rot;

/* Step "generated": the keyslot the new passphrase opens, added unless an
 * earlier run added it before a crash. */
static int luks_add(agent_rotation *r)
{
  luks_rot *k = r->arg;
  const char *volume_id = r->volume_id;
  agent_pend pd = agent_pend_read(r->pend);
  int slot = cs_test(k->cd, -1, k->pass, k->len); /* added before a crash? */

  if (slot < 0) {
    uint8_t *old = NULL;
    size_t oldlen = 0;
    if (!k->unlock) {
      if (!pd.old_secret) {
        agent_err("volume %s: adding the recovery keyslot needs --unlock-keyfile (run "
                  "escrow-agent luks add again with it)",
                  volume_id);
        return AGENT_USAGE;
      }
      if (agent_local_open(r->c, volume_id, pd.old_secret, &old, &oldlen))
        return AGENT_FAIL;
    }
    slot = add_slot(k->cd, pd.pbkdf, k->unlock ? k->unlock : old,
                    k->unlock ? k->unlock_len : oldlen, k->pass, k->len);
    ke_secure_free(old, oldlen);
    if (slot < 0) {
      agent_err("volume %s: cannot add a keyslot: %s", volume_id,
                slot == -EPERM ? "the unlock key opens no keyslot" : strerror(-slot));
      return AGENT_FAIL;
    }
    agent_info("volume %s: recovery keyslot %d added", volume_id, slot);
  }
  return agent_jset_int(r->pend, "new_slot", slot);
}

/* Step "slot_added": escrow the new passphrase with its keyslot. */
static int luks_escrow(agent_rotation *r)
{
  luks_rot *k = r->arg;
  char uuid[AGENT_LUKS_UUID_MAX + 1], key_id[AGENT_ID_MAX + 1];
  const char *u = crypt_get_uuid(k->cd);
  agent_pend pd = agent_pend_read(r->pend);
  int slot = (int)pd.new_slot;
  json_t *extra;

  if (cs_test(k->cd, slot, k->pass, k->len) != slot) {
    agent_err("volume %s: the new recovery passphrase no longer opens keyslot %d", r->volume_id,
              slot);
    return AGENT_FAIL;
  }
  snprintf(uuid, sizeof uuid, "%s", u ? u : "");
  snprintf(key_id, sizeof key_id, "luks:%s:slot%d", uuid, slot);
  extra = json_pack("{s:s, s:s, s:i, s:s}", "device", pd.device, "uuid", uuid, "slot", slot,
                    "pbkdf", pd.pbkdf ? pd.pbkdf : "minimal");
  if (!extra)
    return agent_oom();
  return agent_rotate_escrow(r, &agent_provider_luks, key_id, k->pass, k->len, extra);
}

/* Step "escrowed" of a rotate: destroy only what provably is our old
 * recovery slot, and only while the new one opens. */
static int luks_remove(agent_rotation *r)
{
  luks_rot *k = r->arg;
  const char *volume_id = r->volume_id;
  agent_pend pd = agent_pend_read(r->pend);
  int old_slot = (int)pd.old_slot, new_slot = (int)pd.new_slot, rc = AGENT_OK;
  uint8_t *old = NULL;
  size_t oldlen = 0;

  if (old_slot < 0 || old_slot == new_slot || cs_test(k->cd, new_slot, k->pass, k->len) != new_slot)
    return AGENT_OK;
  if ((rc = agent_local_open(r->c, volume_id, pd.old_secret, &old, &oldlen)))
    return rc;
  if (cs_test(k->cd, old_slot, old, oldlen) == old_slot) {
    int e = crypt_keyslot_destroy(k->cd, old_slot);
    if (e < 0) {
      agent_err("volume %s: cannot remove the old recovery keyslot %d: %s", volume_id, old_slot,
                strerror(-e));
      rc = AGENT_FAIL;
    } else {
      agent_info("volume %s: old recovery keyslot %d removed", volume_id, old_slot);
    }
  } else {
    agent_warn("volume %s: keyslot %d no longer opens with the old recovery passphrase; "
               "left untouched",
               volume_id, old_slot);
  }
  ke_secure_free(old, oldlen);
  return rc;
}

int agent_luks_drive(agent_ctx *c, const char *volume_id, const uint8_t *unlock, size_t unlock_len)
{
  static const agent_rotate_steps steps = {
    "generated", "slot_added", "escrowed", "after-slot-add", luks_add, luks_escrow, luks_remove,
  };
  json_t *vol = agent_volume(c, volume_id), *pend = json_object_get(vol, "pending");
  luks_rot k = {NULL, NULL, 0, unlock, unlock_len};
  agent_rotation r = {c, volume_id, vol, pend, &k, ""};
  agent_pend pd = agent_pend_read(pend);
  int rc, was_rotate;

  if (!pend)
    return AGENT_OK;
  if (!pd.device || !pd.op)
    return AGENT_FAIL;
  was_rotate = strcmp(pd.op, "rotate") == 0;
  if ((rc = cs_open_uuid(pd.device, agent_vol_read(vol).uuid, &k.cd)))
    return rc;
  if (!(rc = agent_local_open(c, volume_id, pd.new_secret, &k.pass, &k.len)) &&
      !(rc = agent_rotate_drive(&r, &steps)))
    agent_info("volume %s: recovery keyslot %lld %s and escrowed", volume_id,
               (long long)agent_vol_read(vol).slot, was_rotate ? "rotated" : "added");
  ke_secure_free(k.pass, k.len);
  crypt_free(k.cd);
  return rc;
}

/* ---- provider ------------------------------------------------------------------------ */
static int luks_current(agent_ctx *c, const agent_prov_opts *o, const char *volume_id, json_t *vol,
                        agent_secret *out)
{
  char vid[AGENT_ID_MAX + 1], uuid[AGENT_LUKS_UUID_MAX + 1];
  agent_vol v;
  int rc;

  if (!volume_id) {
    if (!o || !o->device)
      return agent_missing_opt("--volume or --device (with --provider luks)");
    if ((rc = agent_luks_identify(o->device, vid, uuid)))
      return rc;
    volume_id = vid;
    vol = agent_volume(c, vid);
  }
  if (!vol || !(v = agent_vol_read(vol)).secret || !v.record_id) {
    agent_err("volume %s has no recovery keyslot of this agent: run escrow-agent luks add "
              "--device DEV --unlock-keyfile FILE",
              volume_id);
    return AGENT_FAIL;
  }
  return agent_secret_from_state(out, c, volume_id, vol, v.secret, "luks");
}

static const char *luks_unlock(agent_ctx *c, const char *volume_id, json_t *vol,
                               const agent_secret *cur)
{
  if (!cur->p)
    return "unsupported";
  return agent_luks_check(c, volume_id, vol, cur->p, cur->len) == 1 ? "ok" : "failed";
}

static int luks_rotate(agent_ctx *c, const char *volume_id, const char *reason)
{
  json_t *vol = agent_volume(c, volume_id);
  agent_vol v = agent_vol_read(vol);
  int rc;

  if (!json_object_get(vol, "pending") &&
      (rc = agent_luks_begin(c, "rotate", volume_id, v.device, v.pbkdf, reason)))
    return rc;
  return agent_luks_drive(c, volume_id, NULL, 0);
}

const agent_provider agent_provider_luks = {
  "luks", "luks", 1, luks_current, luks_unlock, luks_rotate, 1,
};
