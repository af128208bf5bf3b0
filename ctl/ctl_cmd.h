/*
 * ctl_cmd.h - the command handlers of escrowctl, one file each
 * (ctl_cmd_<name>.c), each a row of ctl_cmds.def.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <jansson.h>
#include <stdio.h>

#include "ctl_util.h"

/* Each row of ctl_cmds.def declares its handler and its usage text (next
 * to the handler); a handler shared by several rows is declared again. */
#define CTL_CMD(name, sub, f, summary) CTL_CMD2(name, sub, f, f, summary)
#define CTL_CMD2(name, sub, f, u, summary)                    \
  int ctl_cmd_##f(const ctl_cmd *cmd, int argc, char **argv); \
  extern const char ctl_usage_##u[];
#include "ctl_cmds.def"
#undef CTL_CMD
#undef CTL_CMD2

/* The declines of a retrieval's status view, from the `from`-th on, one
 * line each (ctl_cmd_approve.c; retrieve shows them as they arrive). */
void ctl_print_declines(FILE *f, const json_t *view, size_t from);

#endif
