/*
 * escrowctl - the people's tool of keyescrow: key ceremony, custodian parts,
 * retrieval, and the online commands of escrowd.
 *
 * Commands are rows of one declarative table: a name, an optional sub-name
 * ("share verify", "request new"), the handler, a one-line summary and the
 * usage text.  Adding a command is one row plus its ctl_cmd_<name>.c.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "ctl_cmd.h"

#ifndef KE_VERSION
#define KE_VERSION "0"
#endif

static const ctl_cmd ctl_cmds[] = {
  { "ceremony", NULL, ctl_cmd_ceremony,
    "create an escrow key split among N custodians (offline)", ctl_usage_ceremony },
  { "share", "verify", ctl_cmd_share_verify,
    "check a custodian's share against the manifest", ctl_usage_share_verify },
  { "share", "attest", ctl_cmd_share_attest,
    "prove to the server that you still hold your share (custodian)", ctl_usage_share_attest },
  { "seal", NULL, ctl_cmd_seal,
    "seal a secret to the escrow key, writing an envelope", ctl_usage_seal },
  { "request", "new", ctl_cmd_request_new,
    "create an offline retrieval request and its one-time key", ctl_usage_request_new },
  { "part", NULL, ctl_cmd_part,
    "contribute one custodian's sealed part to a request", ctl_usage_part },
  { "open", NULL, ctl_cmd_open,
    "verify the parts and open the envelope of a request", ctl_usage_open },
  { "login", NULL, ctl_cmd_login,
    "log in to escrowd and store the session token", ctl_usage_login },
  { "logout", NULL, ctl_cmd_logout,
    "revoke the stored session token and forget it", ctl_usage_logout },
  { "user", "add", ctl_cmd_user_add, "create an account (admin)", ctl_usage_user_add },
  { "user", "list", ctl_cmd_user_list, "list the accounts (admin)", ctl_usage_user_list },
  { "user", "disable", ctl_cmd_user_change, "disable an account (admin)", ctl_usage_user_disable },
  { "user", "enable", ctl_cmd_user_change, "enable an account again (admin)",
    ctl_usage_user_enable },
  { "user", "set-role", ctl_cmd_user_change, "change an account's role (admin)",
    ctl_usage_user_set_role },
  { "user", "set-person", ctl_cmd_user_change,
    "record the person behind an account (admin)", ctl_usage_user_set_person },
  { "user", "set-email", ctl_cmd_user_change,
    "set where an account is mailed about requests (admin)", ctl_usage_user_set_email },
  { "user", "reset-password", ctl_cmd_user_reset_password,
    "reset an account's password, sessions revoked (admin)", ctl_usage_user_reset_password },
  { "token", "create", ctl_cmd_token_create, "create an API token, shown once (admin)",
    ctl_usage_token_create },
  { "token", "list", ctl_cmd_token_list, "list tokens and sessions (admin)", ctl_usage_token_list },
  { "token", "revoke", ctl_cmd_token_revoke, "revoke a token or session (admin)",
    ctl_usage_token_revoke },
  { "audit", "verify", ctl_cmd_audit_verify,
    "verify the audit log against the pinned log key (auditor)", ctl_usage_audit_verify },
  { "audit", "export", ctl_cmd_audit_export, "export audit events as JSONL or CSV (auditor)",
    ctl_usage_audit_export },
  { "device", "search", ctl_cmd_device_search,
    "find devices by hostname, serial or Key ID prefix (helpdesk, auditor)",
    ctl_usage_device_search },
  { "device", "show", ctl_cmd_device_show, "a device and its escrow history (helpdesk, auditor)",
    ctl_usage_device_show },
  { "device", "rotate", ctl_cmd_device_rotate,
    "ask a device to rotate its recovery key(s) (admin, helpdesk)", ctl_usage_device_rotate },
  { "device", "disable", ctl_cmd_device_disable, "disable a lost or retired device (admin)",
    ctl_usage_device_disable },
  { "device", "enable", ctl_cmd_device_enable, "enable a disabled device again (admin)",
    ctl_usage_device_enable },
  { "enroll-token", "create", ctl_cmd_enroll_token_create,
    "create a device enrolment token, shown once (admin)", ctl_usage_enroll_token_create },
  { "enroll-token", "list", ctl_cmd_enroll_token_list, "list enrolment tokens (admin)",
    ctl_usage_enroll_token_list },
  { "enroll-token", "revoke", ctl_cmd_enroll_token_revoke, "revoke an enrolment token (admin)",
    ctl_usage_enroll_token_revoke },
  { "escrow-key", "publish", ctl_cmd_escrow_key_publish,
    "publish a ceremony's escrow key for agents (admin)", ctl_usage_escrow_key_publish },
  { "escrow-key", "show", ctl_cmd_escrow_key_show,
    "show the server's escrow key(s), fingerprint verified", ctl_usage_escrow_key_show },
  { "escrow-key", "set-state", ctl_cmd_escrow_key_set_state,
    "make a published escrow key current, accepted or retired (admin)",
    ctl_usage_escrow_key_set_state },
  { "report", "coverage", ctl_cmd_report_coverage,
    "escrow coverage of every device, totals first (auditor)", ctl_usage_report_coverage },
  { "report", "retrievals", ctl_cmd_report_retrievals,
    "retrievals since a date: who, why, custodians, rotation (auditor)",
    ctl_usage_report_retrievals },
  { "key", "register", ctl_cmd_key_register,
    "create and register your client key for retrieval requests (helpdesk)",
    ctl_usage_key_register },
  { "key", "show", ctl_cmd_key_show,
    "print your client key's fingerprint, for custodians to pin", ctl_usage_key_show },
  { "pin", "list", ctl_cmd_pin_list, "list the client keys you pinned", ctl_usage_pin_list },
  { "pin", "add", ctl_cmd_pin_add,
    "pin a person's client key after checking it with them", ctl_usage_pin_add },
  { "pin", "remove", ctl_cmd_pin_remove, "remove a pinned client key", ctl_usage_pin_remove },
  { "retrieve", NULL, ctl_cmd_retrieve,
    "ask custodians for a recovery key and open it (helpdesk)", ctl_usage_retrieve },
  { "approve", NULL, ctl_cmd_approve,
    "list retrieval requests, or contribute your part to one (custodian)",
    ctl_usage_approve },
  { "drill", "start", ctl_cmd_drill_start,
    "start a drill to run later, one-time key to --key-out (auditor)", ctl_usage_drill_start },
  { "drill", "approve", ctl_cmd_drill_approve,
    "contribute your parts to a drill (custodian)", ctl_usage_drill_approve },
  { "drill", "part", ctl_cmd_drill_part,
    "make a drill's batch of parts offline from a drill file (custodian)", ctl_usage_drill_part },
  { "drill", "run", ctl_cmd_drill_run,
    "start (or take) a drill, wait, open and check every record, post the summary (auditor)",
    ctl_usage_drill_run },
  { "escrow-key", "pin", ctl_cmd_escrow_key_pin,
    "pin an escrow key's fingerprint for retrieve and drill run", ctl_usage_escrow_key_pin },
  { "custodian", "serve", ctl_cmd_custodian_serve,
    "run a policy custodian: approve by a written policy, within rate limits",
    ctl_usage_custodian_serve },
  { "custodian", "check-policy", ctl_cmd_custodian_check,
    "check a policy custodian's policy file and say what it allows", ctl_usage_custodian_check },
  { "custodian", "rearm", ctl_cmd_custodian_rearm,
    "re-arm a policy custodian after a rate limit tripped", ctl_usage_custodian_rearm },
  { "custodian", "trust-key", ctl_cmd_custodian_trust,
    "pin a requester's new client key for a policy custodian", ctl_usage_custodian_trust },
};
#define CTL_NCMDS (sizeof ctl_cmds / sizeof ctl_cmds[0])

static void usage(FILE *f)
{
  fprintf(f, "usage: escrowctl COMMAND [OPTIONS]\n"
             "       escrowctl COMMAND --help | --help | --version\n\ncommands:\n");
  ke_cli_list(f, ctl_cmds, CTL_NCMDS, 16);
  fprintf(f, "\nexit status:\n"
             "  0  success\n"
             "  1  verification failure or bad input (a wrong share, passphrase, part,\n"
             "     fingerprint, or a malformed file)\n"
             "  2  usage error\n"
             "  3  open: not enough good parts yet\n"
             "  4  online commands: server unreachable, TLS failure, server error\n"
             "  5  online commands: not logged in, login expired, or role not allowed\n"
             "\nonline commands take --server URL, --cacert PEM (that CA alone is trusted,\n"
             "not the system store) and --pin-sha256 B64[;B64] (the server's public key\n"
             "must be one of these); defaults: $ESCROWCTL_SERVER, $ESCROWCTL_CACERT,\n"
             "$ESCROWCTL_PIN_SHA256, then the stored login.\n"
             "\nNothing secret is ever printed, except the secret printed by `open`,\n"
             "the token printed by `token create` and a one-time password from `user add`.\n");
}

/* The row for argv[1] (and argv[2] for commands with a sub-name). */
static const ctl_cmd *lookup(int argc, char **argv, int *words)
{
  int known;
  const ctl_cmd *cmd = ke_cli_lookup(ctl_cmds, CTL_NCMDS, argc, argv, words, &known);
  if (cmd)
    return cmd;
  if (!known) {
    fprintf(stderr, "escrowctl: unknown command \"%s\" (see escrowctl --help)\n", argv[1]);
    return NULL;
  }
  fprintf(stderr, "escrowctl %s: needs one of:", argv[1]);
  for (size_t i = 0; i < CTL_NCMDS; i++)
    if (strcmp(ctl_cmds[i].name, argv[1]) == 0)
      fprintf(stderr, " %s", ctl_cmds[i].sub);
  fprintf(stderr, "\n");
  return NULL;
}

int main(int argc, char **argv)
{
  if (ke_init() != KE_OK) /* secrets in locked memory (OpenSSL's secure heap) */
    fputs("escrowctl: warning: no locked memory for secrets\n", stderr);
  /* A core dump would hold shares and secrets: none, whatever the shell's
   * limit.  jansson's freed blocks are wiped (a requester key passes
   * through its parser). */
  struct rlimit no_core = { 0, 0 };
  (void)setrlimit(RLIMIT_CORE, &no_core);
  ke_json_wipe_on_free();

  if (argc < 2) {
    usage(stderr);
    return CTL_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return CTL_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("escrowctl %s (%s)\n", KE_VERSION, OpenSSL_version(OPENSSL_VERSION));
    return CTL_OK;
  }
  int words = 0;
  const ctl_cmd *cmd = lookup(argc, argv, &words);
  if (!cmd)
    return CTL_USAGE;
  ctl_set_command(cmd);
  int rc = cmd->run(cmd, argc - words, argv + words);
  if (rc == CTL_HELP)
    rc = CTL_OK;
  if (fflush(stdout) != 0 && rc == CTL_OK) {
    ctl_errf("cannot write to standard output");
    rc = CTL_FAIL;
  }
  return rc;
}
