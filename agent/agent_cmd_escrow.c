/*
 * escrow-agent escrow - read a volume's recovery secret from a provider,
 * seal it to the pinned escrow key and upload it (agent-protocol section 4).
 */
#include <string.h>

#include "agent_cmd.h"
#include "agent_provider.h"
#include "agent_state.h"

const char agent_usage_escrow[] =
  "usage: escrow-agent escrow --provider stdin|luks|bitlocker|filevault [--volume V]\n"
  "                           [--force] [provider options]\n"
  "\n"
  "Reads the volume's recovery secret, refuses one that looks low in entropy\n"
  "(unless --force), seals it to the pinned escrow key, signs and uploads it,\n"
  "verifies the signed receipt (log key, and every line against what was sent)\n"
  "and records it.  Only then is the volume counted as escrowed.  Network errors\n"
  "and HTTP 5xx are retried with exponential backoff and jitter; 4xx never is.\n"
  "Escrowing the same secret again re-sends the stored envelope, which the\n"
  "server answers with the record it already has.\n"
  "\n"
  "providers:\n"
  "  stdin      --volume V (required) [--in FILE] [--raw] [--key-id ID]\n"
  "             [--key-type bitlocker|filevault|luks|other]: the secret from stdin\n"
  "             (one trailing newline after text is dropped unless --raw); the agent\n"
  "             does not keep it.  A person may have chosen it, so its verifier is\n"
  "             scrypt-hardened (N = 2^17: about 0.4 s and 128 MiB)\n"
  "  luks       --volume luks-UUID | --device DEV: re-escrow the recovery passphrase\n"
  "             of `escrow-agent luks add` (e.g. after an escrow key change)\n"
  "  bitlocker  [--volume C:] [--manage-bde PATH]: the volume's recovery password\n"
  "             (manage-bde -protectors -get V: -Type RecoveryPassword)\n"
  "  filevault  --plist FILE|- [--volume V] [--fdesetup PATH]: the personal recovery\n"
  "             key from the plist of `fdesetup enable|changerecovery -personal\n"
  "             -outputplist`; later escrows use the key the agent keeps\n";

typedef struct escrow_opts {
  const char *provider;
  agent_prov_opts p;
  int force;
} escrow_opts;

enum {
  O_PROVIDER = 256,
  O_VOLUME,
  O_DEVICE,
  O_BDE,
  O_FDESETUP,
  O_PLIST,
  O_KEY_ID,
  O_KEY_TYPE,
  O_IN,
  O_RAW,
  O_FORCE,
};

static int on_opt(void *ctx, int opt, const char *arg)
{
  escrow_opts *o = ctx;
  switch (opt) {
    case O_PROVIDER: o->provider = arg; return AGENT_OK;
    case O_VOLUME: o->p.volume = arg; return AGENT_OK;
    case O_DEVICE: o->p.device = arg; return AGENT_OK;
    case O_BDE:
    case O_FDESETUP: o->p.tool = arg; return AGENT_OK;
    case O_PLIST: o->p.plist = arg; return AGENT_OK;
    case O_KEY_ID: o->p.key_id = arg; return AGENT_OK;
    case O_KEY_TYPE: o->p.key_type = arg; return AGENT_OK;
    case O_IN: o->p.input = arg; return AGENT_OK;
    case O_RAW: o->p.raw = 1; return AGENT_OK;
    case O_FORCE: o->force = 1; return AGENT_OK;
  }
  return AGENT_USAGE;
}

int agent_cmd_escrow(const ke_cli_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {
    {"provider", required_argument, 0, O_PROVIDER},
    {"volume", required_argument, 0, O_VOLUME},
    {"device", required_argument, 0, O_DEVICE},
    {"manage-bde", required_argument, 0, O_BDE},
    {"fdesetup", required_argument, 0, O_FDESETUP},
    {"plist", required_argument, 0, O_PLIST},
    {"key-id", required_argument, 0, O_KEY_ID},
    {"key-type", required_argument, 0, O_KEY_TYPE},
    {"in", required_argument, 0, O_IN},
    {"raw", no_argument, 0, O_RAW},
    {"force", no_argument, 0, O_FORCE},
    AGENT_COMMON_OPTIONS,
    {0, 0, 0, 0},
  };
  agent_common common;
  escrow_opts o;
  const agent_provider *p;
  agent_secret s = {0};
  agent_escrow_req r;
  agent_ctx c;
  int rc;

  memset(&o, 0, sizeof o);
  agent_common_init(&common);
  if ((rc = agent_getopt(cmd, argc, argv, opts, &common, on_opt, &o)))
    return rc;
  if (!o.provider)
    return agent_missing_opt("--provider");
  if (!(p = agent_provider_find(o.provider))) {
    agent_err("unknown provider \"%s\" (stdin, luks, bitlocker or filevault)", o.provider);
    return AGENT_USAGE;
  }
  if (o.p.volume && !agent_volume_id_valid(o.p.volume)) {
    agent_err("--volume must be 1..128 of A-Z a-z 0-9 . _ : -");
    return AGENT_USAGE;
  }
  if ((rc = agent_ctx_open(&c, &common, AGENT_OPEN_NET)))
    goto out;
  rc = p->current(&c, &o.p, o.p.volume, o.p.volume ? agent_volume(&c, o.p.volume) : NULL, &s);
  if (rc)
    goto out;
  if (!s.p) {
    agent_err("provider %s returned no secret", p->name);
    rc = AGENT_FAIL;
    goto out;
  }
  agent_provider_req(&r, p, &s, o.force);
  rc = agent_escrow(&c, &r);
  if (!rc)
    printf("volume %s escrowed: record %s, audit leaf %lld\n", s.volume_id,
           agent_vol_read(agent_volume(&c, s.volume_id)).record_id,
           (long long)agent_vol_read(agent_volume(&c, s.volume_id)).leaf_index);
out:
  agent_secret_free(&s);
  agent_ctx_close(&c);
  return rc;
}
