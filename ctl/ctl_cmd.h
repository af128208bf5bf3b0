/*
 * ctl_cmd.h - the command handlers of escrowctl, one file each
 * (ctl_cmd_<name>.c), listed in the table in escrowctl.c.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include "ctl_util.h"

int ctl_cmd_ceremony(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_share_verify(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_seal(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_request_new(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_part(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_open(const ctl_cmd *cmd, int argc, char **argv);

/* Usage texts, next to their handlers. */
extern const char ctl_usage_ceremony[];
extern const char ctl_usage_share_verify[];
extern const char ctl_usage_seal[];
extern const char ctl_usage_request_new[];
extern const char ctl_usage_part[];
extern const char ctl_usage_open[];

#endif
