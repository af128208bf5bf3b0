/*
 * agent_cmd.h - the commands of escrow-agent (one file each) and their
 * usage texts.
 */
#ifndef AGENT_CMD_H
#define AGENT_CMD_H

#include "agent.h"

int agent_cmd_enroll(const ke_cli_cmd *cmd, int argc, char **argv);
int agent_cmd_pin(const ke_cli_cmd *cmd, int argc, char **argv);
int agent_cmd_escrow(const ke_cli_cmd *cmd, int argc, char **argv);
int agent_cmd_checkin(const ke_cli_cmd *cmd, int argc, char **argv);
int agent_cmd_status(const ke_cli_cmd *cmd, int argc, char **argv);
int agent_cmd_luks_add(const ke_cli_cmd *cmd, int argc, char **argv);
int agent_cmd_luks_rotate(const ke_cli_cmd *cmd, int argc, char **argv);

extern const char agent_usage_enroll[];
extern const char agent_usage_pin[];
extern const char agent_usage_escrow[];
extern const char agent_usage_checkin[];
extern const char agent_usage_status[];
extern const char agent_usage_luks_add[];
extern const char agent_usage_luks_rotate[];

#endif
