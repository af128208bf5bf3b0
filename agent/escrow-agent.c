/*
 * escrow-agent - the endpoint side of keyescrow.
 *
 * The agent wraps a device's disk recovery key to the organisation's escrow
 * public key and uploads only the sealed envelope.  Commands are dispatched
 * from one table; each workflow (enrol, escrow, check-in, status, LUKS
 * keyslots) lives in its own agent_cmd_*.c file.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <libcryptsetup.h>
#include <openssl/crypto.h>

#include "agent.h"
#include "agent_cmd.h"

static int agent_cmd_version(const ke_cli_cmd *cmd, int argc, char **argv);

static const ke_cli_cmd agent_cmds[] = {
  {"enroll", NULL, agent_cmd_enroll, "register this device with escrowd", agent_usage_enroll},
  {"escrow", NULL, agent_cmd_escrow, "wrap a volume's recovery key and upload it",
   agent_usage_escrow},
  {"checkin", NULL, agent_cmd_checkin,
   "verify every escrowed key, re-escrow on drift, rotate when asked", agent_usage_checkin},
  {"status", NULL, agent_cmd_status, "is every volume escrowed and verified?", agent_usage_status},
  {"luks", "add", agent_cmd_luks_add, "add an escrowed LUKS recovery keyslot",
   agent_usage_luks_add},
  {"luks", "rotate", agent_cmd_luks_rotate, "replace the LUKS recovery keyslot",
   agent_usage_luks_rotate},
  {"pin", NULL, agent_cmd_pin, "pin another escrow key fingerprint (or list them)",
   agent_usage_pin},
  {"version", NULL, agent_cmd_version, "print the version and the libraries in use",
   "usage: escrow-agent version\n"},
};
#define NCMDS (sizeof agent_cmds / sizeof agent_cmds[0])

static int agent_cmd_version(const ke_cli_cmd *cmd, int argc, char **argv)
{
  (void)cmd;
  (void)argc;
  (void)argv;
  printf("escrow-agent %s (%s, %s, libcryptsetup)\n", KE_VERSION, OpenSSL_version(OPENSSL_VERSION),
         curl_version());
  return AGENT_OK;
}

static void agent_usage(FILE *f)
{
  fprintf(f, "usage: escrow-agent COMMAND [OPTIONS]   (escrow-agent COMMAND --help)\n\n"
             "commands:\n");
  ke_cli_list(f, agent_cmds, NCMDS, 12);
  fprintf(f, "\nexit codes:\n"
             "  0  success\n"
             "  1  failed on this device (provider, state, a refused low-entropy secret)\n"
             "  2  usage error\n"
             "  3  the server refused the request (HTTP 4xx: bad token, unknown device, ...)\n"
             "  4  the server was unreachable, or answered 5xx, on every retry\n"
             "  5  the server's answer failed verification (receipt, log consistency, escrow key\n"
             "     fingerprint)\n"
             "  6  status/checkin: a volume is not escrowed or not verified, or needs an\n"
             "     operator (rotation of a stdin secret, an unpinned escrow key)\n"
             "Every failure is logged to stderr and syslog with the reason.\n");
}

int main(int argc, char **argv)
{
  const ke_cli_cmd *cmd;
  char name[32];
  int shift, known, rc;

  if (ke_init() != KE_OK) /* secrets in locked memory (OpenSSL's secure heap) */
    fputs("escrow-agent: warning: no locked memory for secrets\n", stderr);
  /* Everything the agent writes is private; broken pipes of platform tools
   * are reported through their exit status, not a signal. */
  umask(077);
  signal(SIGPIPE, SIG_IGN);
  ke_json_wipe_on_free();
  if (argc < 2) {
    agent_usage(stderr);
    return AGENT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    agent_usage(stdout);
    return AGENT_OK;
  }
  if (!strcmp(argv[1], "--version"))
    return agent_cmd_version(NULL, argc - 1, argv + 1);
  cmd = ke_cli_lookup(agent_cmds, NCMDS, argc, argv, &shift, &known);
  if (!cmd) {
    fprintf(stderr, "escrow-agent: unknown command '%s%s%s'\n", argv[1], argc >= 3 ? " " : "",
            argc >= 3 ? argv[2] : "");
    agent_usage(stderr);
    return AGENT_USAGE;
  }
  ke_cli_cmd_name(name, sizeof name, cmd);
  agent_log_init(name);
  rc = cmd->run(cmd, argc - shift, argv + shift);
  return rc == AGENT_HELP ? AGENT_OK : rc;
}
