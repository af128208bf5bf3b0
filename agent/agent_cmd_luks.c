/*
 * escrow-agent luks add|rotate - the LUKS recovery keyslot, escrowed before
 * it counts (see agent_luks.h for the format and the crash-safe steps).
 */
#include <string.h>

#include "agent_cmd.h"
#include "agent_luks.h"
#include "agent_state.h"
#include "ke_util.h"

const char agent_usage_luks_add[] =
  "usage: escrow-agent luks add --device DEV --unlock-keyfile FILE [--volume V]\n"
  "                             [--pbkdf minimal|default]\n"
  "\n"
  "Adds a keyslot with a fresh recovery passphrase (200 random bits, 8 groups of\n"
  "5 base32 characters), escrows it, waits for the receipt, and only then reports\n"
  "success.  FILE holds a key that opens the device (its whole content is the\n"
  "passphrase, as with cryptsetup --key-file).  If the run is interrupted, running\n"
  "the same command again finishes it.  The passphrase is kept sealed in the\n"
  "state dir for check-ins (see docs/threat-model.md).  The volume id defaults to\n"
  "luks-<UUID of DEV>.\n"
  "\n"
  "  --pbkdf minimal   PBKDF2-SHA256, 1000 iterations (default: the passphrase\n"
  "                    has 200 bits of entropy, stretching adds nothing)\n"
  "  --pbkdf default   libcryptsetup's benchmarked default (argon2id on LUKS2)\n";

const char agent_usage_luks_rotate[] =
  "usage: escrow-agent luks rotate --device DEV [--unlock-keyfile FILE] [--volume V]\n"
  "                                [--pbkdf minimal|default]\n"
  "\n"
  "Adds a new recovery keyslot, escrows its passphrase, and only after the\n"
  "receipt verified removes the old recovery keyslot (and only if the old\n"
  "recovery passphrase still opens exactly that slot).  The new slot is added\n"
  "with the current recovery passphrase, or with FILE if given.  A crash at any\n"
  "point leaves at least one escrowed passphrase that opens the device; running\n"
  "the command again (or the next check-in) finishes the rotation.\n";

typedef struct luks_opts {
  const char *device, *keyfile, *volume, *pbkdf;
} luks_opts;

enum { O_DEVICE = 256, O_KEYFILE, O_VOLUME, O_PBKDF };

static int on_opt(void *ctx, int opt, const char *arg)
{
  luks_opts *o = ctx;
  switch (opt) {
    case O_DEVICE: o->device = arg; return AGENT_OK;
    case O_KEYFILE: o->keyfile = arg; return AGENT_OK;
    case O_VOLUME: o->volume = arg; return AGENT_OK;
    case O_PBKDF:
      if (strcmp(arg, "minimal") && strcmp(arg, "default")) {
        agent_err("--pbkdf must be minimal or default");
        return AGENT_USAGE;
      }
      o->pbkdf = arg;
      return AGENT_OK;
  }
  return AGENT_USAGE;
}

/* luks add on a volume with an escrowed recovery keyslot: only once that
 * keyslot no longer opens. */
static int add_allowed(agent_ctx *c, const char *vid, json_t *vol)
{
  uint8_t *pass;
  size_t len;
  agent_vol v = agent_vol_read(vol);
  int works, rc;

  if (!vol || !v.secret || !v.record_id)
    return AGENT_OK;
  if ((rc = agent_local_open(c, vid, v.secret, &pass, &len)))
    return rc;
  works = agent_luks_check(c, vid, vol, pass, len);
  ke_secure_free(pass, len);
  if (works != 0) {
    agent_err("volume %s already has an escrowed recovery keyslot (%lld, record %s); use "
              "escrow-agent luks rotate to replace it",
              vid, (long long)v.slot, v.record_id);
    return AGENT_FAIL;
  }
  agent_warn("volume %s: the escrowed recovery keyslot no longer opens; adding a new one", vid);
  return AGENT_OK;
}

static int run(const ke_cli_cmd *cmd, int argc, char **argv, int rotate)
{
  static const struct option opts[] = {
    {"device", required_argument, 0, O_DEVICE},
    {"unlock-keyfile", required_argument, 0, O_KEYFILE},
    {"volume", required_argument, 0, O_VOLUME},
    {"pbkdf", required_argument, 0, O_PBKDF},
    AGENT_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  agent_common common;
  luks_opts o;
  agent_ctx c;
  ke_buf key = {0};
  char vid[AGENT_ID_MAX + 1], uuid[AGENT_LUKS_UUID_MAX + 1];
  json_t *vol, *pend;
  agent_vol v;
  int rc;

  memset(&o, 0, sizeof o);
  agent_common_init(&common);
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, on_opt, &o)))
    return rc;
  if (!o.device)
    return agent_missing_opt("--device");
  if (!rotate && !o.keyfile)
    return agent_missing_opt("--unlock-keyfile");
  if (o.volume && !agent_volume_id_valid(o.volume)) {
    agent_err("--volume must be 1..128 of A-Z a-z 0-9 . _ : -");
    return AGENT_USAGE;
  }
  if ((rc = agent_ctx_open(&c, &common, AGENT_OPEN_NET)))
    goto out;
  if ((rc = agent_luks_identify(o.device, vid, uuid)))
    goto out;
  if (o.volume)
    snprintf(vid, sizeof vid, "%s", o.volume);
  if (o.keyfile && (rc = agent_read_file(&key, o.keyfile, 8u * 1024 * 1024, 1, "unlock key")))
    goto out;
  vol = agent_volume(&c, vid);
  pend = json_object_get(vol, "pending");
  v = agent_vol_read(vol);
  if (vol && strcmp(v.provider, "luks") != 0) {
    agent_err("volume %s is escrowed by the %s provider, not luks", vid, v.provider);
    rc = AGENT_FAIL;
    goto out;
  }
  if (pend) {
    /* An interrupted add or rotate: finish it (whichever command runs). */
    agent_info("volume %s: finishing the interrupted %s (step %s)", vid, agent_pend_read(pend).op,
               agent_pend_read(pend).step);
  } else if (!rotate) {
    if ((rc = add_allowed(&c, vid, vol)) ||
        (rc = agent_luks_begin(&c, "add", vid, o.device, o.pbkdf, NULL)))
      goto out;
  } else if ((rc =
                agent_luks_begin(&c, "rotate", vid, o.device, o.pbkdf ?: v.pbkdf, "requested"))) {
    goto out;
  }
  if ((rc = agent_luks_drive(&c, vid, (const uint8_t *)key.p, key.len)))
    goto out;
  v = agent_vol_read(agent_volume(&c, vid));
  printf("volume %s: recovery keyslot %lld escrowed (record %s, audit leaf %lld)\n", vid,
         (long long)v.slot, v.record_id, (long long)v.leaf_index);
out:
  ke_buf_free(&key);
  agent_ctx_close(&c);
  return rc;
}

int agent_cmd_luks_add(const ke_cli_cmd *cmd, int argc, char **argv)
{
  return run(cmd, argc, argv, 0);
}

int agent_cmd_luks_rotate(const ke_cli_cmd *cmd, int argc, char **argv)
{
  return run(cmd, argc, argv, 1);
}
