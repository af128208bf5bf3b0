/*
 * escrow-agent - the endpoint side of keyescrow.
 *
 * The agent wraps a device's disk recovery key to the organisation's escrow
 * public key and uploads only the sealed envelope.  Commands are dispatched
 * from one table so that each workflow (enrol, escrow, check-in, status)
 * lives in its own file as it is added.
 */
#include <stdio.h>
#include <string.h>

#include <libcryptsetup.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#ifndef KE_VERSION
#define KE_VERSION "0"
#endif

typedef int (*agent_cmd_fn)(int argc, char **argv);

struct agent_cmd {
  const char *name;
  agent_cmd_fn fn;
  const char *help;
};

static int agent_cmd_version(int argc, char **argv);

static const struct agent_cmd agent_cmds[] = {
  { "version", agent_cmd_version, "print the version and the libraries in use" },
};

static int agent_cmd_version(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  printf("escrow-agent %s (%s, %s, libcryptsetup)\n", KE_VERSION,
         OpenSSL_version(OPENSSL_VERSION), curl_version());
  return 0;
}

static void agent_usage(FILE *f)
{
  fprintf(f, "usage: escrow-agent COMMAND [OPTIONS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof agent_cmds / sizeof agent_cmds[0]; i++)
    fprintf(f, "  %-10s %s\n", agent_cmds[i].name, agent_cmds[i].help);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    agent_usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    agent_usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version"))
    return agent_cmd_version(argc - 1, argv + 1);
  for (size_t i = 0; i < sizeof agent_cmds / sizeof agent_cmds[0]; i++)
    if (!strcmp(argv[1], agent_cmds[i].name))
      return agent_cmds[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "escrow-agent: unknown command '%s'\n", argv[1]);
  agent_usage(stderr);
  return 2;
}
