/*
 * escrowd.c - the keyescrow server: command-line entry point.
 *
 * Commands live in one table; each gets the loaded configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ke_files.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_account.h"
#include "srv_config.h"
#include "srv_drill.h"
#include "srv_migrate.h"
#include "srv_routes.h"
#include "srv_serve.h"

struct escrowd_cmd {
  const char *name;
  const char *args;
  const char *summary;
  int (*run)(const struct srv_config *cfg, int argc, char **argv);
};

static int escrowd_no_args(const char *cmd, int argc, char **argv)
{
  if (argc > 0) {
    fprintf(stderr, "escrowd %s: unexpected argument '%s'\n", cmd, argv[0]);
    return -1;
  }
  return 0;
}

static int escrowd_cmd_serve(const struct srv_config *cfg, int argc, char **argv)
{
  if (escrowd_no_args("serve", argc, argv))
    return SRV_EXIT_USAGE;
  return srv_serve_main(cfg, &srv_routes_escrowd, 1);
}

static int escrowd_cmd_migrate(const struct srv_config *cfg, int argc, char **argv)
{
  int status_only = argc == 1 && strcmp(argv[0], "--status") == 0;

  if (!status_only && escrowd_no_args("migrate", argc, argv))
    return SRV_EXIT_USAGE;
  return srv_migrate_main(cfg, status_only);
}

static int escrowd_cmd_config(const struct srv_config *cfg, int argc, char **argv)
{
  if (argc == 1 && strcmp(argv[0], "--keys") == 0) {
    srv_config_print_keys(stdout);
    return SRV_EXIT_OK;
  }
  if (escrowd_no_args("config", argc, argv))
    return SRV_EXIT_USAGE;
  srv_config_print(cfg, stdout);
  return SRV_EXIT_OK;
}

static int escrowd_cmd_bootstrap_admin(const struct srv_config *cfg, int argc, char **argv)
{
  return srv_account_bootstrap_main(cfg, argc, argv);
}

static int escrowd_cmd_routes(const struct srv_config *cfg, int argc, char **argv)
{
  (void)cfg;
  return srv_auth_routes_main(&srv_routes_escrowd, argc, argv);
}

static const struct escrowd_cmd escrowd_cmds[] = {
  {"serve", "", "Run the HTTP API until SIGTERM/SIGINT (refuses a database that is behind).",
   escrowd_cmd_serve},
  {"migrate", "[--status]",
   "Apply schema_dir migrations as the owner role (--status: list them, exit 3 if pending).",
   escrowd_cmd_migrate},
  {"config", "[--keys]", "Print the effective configuration and where each value came from.",
   escrowd_cmd_config},
  {"bootstrap-admin", "--user NAME [--password-file F]",
   "Create the first admin on a database without users (prints a one-time password).",
   escrowd_cmd_bootstrap_admin},
  {"routes", "[--json]", "List every API route with the roles allowed to call it.",
   escrowd_cmd_routes},
  {"maintenance", "",
   "Close expired drills and delete closed drills' parts (audited; run it daily).",
   srv_drill_maintenance_main},
};
#define ESCROWD_NCMDS (sizeof escrowd_cmds / sizeof escrowd_cmds[0])

static void escrowd_usage(FILE *out)
{
  fprintf(out,
          "Usage: escrowd [--config FILE] COMMAND [ARGS]\n"
          "       escrowd --help | --version\n\n"
          "keyescrow server %s: stores sealed recovery-key envelopes, never keys.\n\n"
          "Commands:\n",
          KE_VERSION);
  for (size_t i = 0; i < ESCROWD_NCMDS; i++) {
    char head[64];
    snprintf(head, sizeof head, "%s %s", escrowd_cmds[i].name, escrowd_cmds[i].args);
    fprintf(out, "  %-20s %s\n", head, escrowd_cmds[i].summary);
  }
  fprintf(out,
          "\nOptions:\n"
          "  -c, --config FILE    Config file (default %s if it exists;\n"
          "                       also ESCROWD_CONFIG). Format: 'key = value' lines, # comments.\n"
          "  -h, --help           This help.\n"
          "  -V, --version        Print the version.\n\n",
          SRV_CONFIG_DEFAULT_PATH);
  srv_config_print_help(out);
  fprintf(out, "\nExit status: 0 ok, 1 runtime failure, 2 usage or configuration error,\n"
               "3 database schema behind or applied migrations modified.\n");
}

static void escrowd_warn(const char *message) { ke_log(KE_LOG_WARN, message, NULL); }

int main(int argc, char **argv)
{
  const char *config_path = NULL;
  const struct escrowd_cmd *cmd = NULL;
  char **rest;
  int nrest = 0, rc;
  struct srv_config cfg;
  ke_log_level lvl;
  char err[1024];

  ke_log_set_component("escrowd");
  /* Passwords and tokens pass through jansson (login bodies, token
   * answers): freed blocks are wiped. */
  ke_json_wipe_on_free();
  if (ke_init() != KE_OK) /* secrets in locked memory (OpenSSL's secure heap) */
    ke_log(KE_LOG_WARN, "no locked memory for secrets", NULL);
  rest = calloc((size_t)argc + 1, sizeof *rest);
  if (!rest)
    return SRV_EXIT_FAILURE;
  /* --config may appear before or after the command. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "help") == 0) {
      escrowd_usage(stdout);
      free(rest);
      return SRV_EXIT_OK;
    } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0 || strcmp(a, "version") == 0) {
      printf("escrowd %s\n", KE_VERSION);
      free(rest);
      return SRV_EXIT_OK;
    } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
      if (++i >= argc) {
        fprintf(stderr, "escrowd: %s needs a file name\n", a);
        free(rest);
        return SRV_EXIT_USAGE;
      }
      config_path = argv[i];
    } else if (strncmp(a, "--config=", 9) == 0) {
      config_path = a + 9;
    } else if (!cmd) {
      for (size_t c = 0; c < ESCROWD_NCMDS; c++)
        if (strcmp(a, escrowd_cmds[c].name) == 0)
          cmd = &escrowd_cmds[c];
      if (!cmd) {
        fprintf(stderr, "escrowd: unknown command or option '%s' (see escrowd --help)\n", a);
        free(rest);
        return SRV_EXIT_USAGE;
      }
    } else {
      rest[nrest++] = argv[i];
    }
  }
  if (!cmd) {
    escrowd_usage(stderr);
    free(rest);
    return SRV_EXIT_USAGE;
  }
  if (srv_config_load(&cfg, config_path, escrowd_warn, err, sizeof err) != 0) {
    ke_log(KE_LOG_ERROR, "configuration error", json_pack("{s:s}", "reason", err));
    srv_config_free(&cfg);
    free(rest);
    return SRV_EXIT_USAGE;
  }
  if (ke_log_level_parse(cfg.log_level, &lvl) == 0)
    ke_log_set_level(lvl);
  rc = cmd->run(&cfg, nrest, rest);
  srv_config_free(&cfg);
  free(rest);
  OPENSSL_cleanup();
  return rc;
}
