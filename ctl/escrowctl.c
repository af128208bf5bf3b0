/*
 * escrowctl - the people's tool of keyescrow: key ceremony, custodian parts,
 * retrieval, and the online commands of escrowd.
 *
 * Commands are rows of one declarative table: a name, an optional sub-name
 * ("share verify", "request new"), the handler, a one-line summary and the
 * usage text (ctl_cmds.def).  Adding a command is one row there plus its
 * ctl_cmd_<name>.c.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "ctl_cmd.h"
#include "ctl_logview.h"

#ifndef KE_VERSION
#define KE_VERSION "0"
#endif

#define CTL_CMD(name, sub, f, summary) CTL_CMD2(name, sub, f, f, summary)
#define CTL_CMD2(name, sub, f, u, summary) {name, sub, ctl_cmd_##f, summary, ctl_usage_##u},
static const ctl_cmd ctl_cmds[] = {
#include "ctl_cmds.def"
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
  struct rlimit no_core = {0, 0};
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
  if (rc == CTL_LATER) /* not proven yet: a refusal whose message says to retry */
    rc = CTL_FAIL;
  if (fflush(stdout) != 0 && rc == CTL_OK)
    rc = ctl_err(CTL_FAIL, "cannot write to standard output");
  return rc;
}
