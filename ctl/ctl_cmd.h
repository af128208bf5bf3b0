/*
 * ctl_cmd.h - the command handlers of escrowctl, one file each
 * (ctl_cmd_<name>.c), listed in the table in escrowctl.c.
 */
#ifndef CTL_CMD_H
#define CTL_CMD_H

#include <jansson.h>
#include <stdio.h>

#include "ctl_util.h"

int ctl_cmd_ceremony(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_share_verify(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_seal(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_request_new(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_part(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_open(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_login(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_logout(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_user_add(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_user_list(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_user_change(const ctl_cmd *cmd, int argc, char **argv); /* disable ... set-email */
int ctl_cmd_token_create(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_token_list(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_token_revoke(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_audit_verify(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_audit_export(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_device_search(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_device_show(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_device_rotate(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_device_disable(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_device_enable(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_user_reset_password(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_enroll_token_create(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_enroll_token_list(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_enroll_token_revoke(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_escrow_key_publish(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_escrow_key_show(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_escrow_key_set_state(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_report_coverage(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_report_retrievals(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_share_attest(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_key_register(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_retrieve(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_approve(const ctl_cmd *cmd, int argc, char **argv);
/* The declines of a retrieval's status view, from the `from`-th on, one
 * line each (ctl_cmd_approve.c; retrieve shows them as they arrive). */
void ctl_print_declines(FILE *f, const json_t *view, size_t from);
int ctl_cmd_drill_start(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_drill_approve(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_drill_run(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_drill_part(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_pin_list(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_pin_add(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_pin_remove(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_key_show(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_escrow_key_pin(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_custodian_serve(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_custodian_check(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_custodian_rearm(const ctl_cmd *cmd, int argc, char **argv);
int ctl_cmd_custodian_trust(const ctl_cmd *cmd, int argc, char **argv);

/* Usage texts, next to their handlers. */
extern const char ctl_usage_ceremony[];
extern const char ctl_usage_custodian_serve[];
extern const char ctl_usage_custodian_check[];
extern const char ctl_usage_custodian_rearm[];
extern const char ctl_usage_custodian_trust[];
extern const char ctl_usage_share_verify[];
extern const char ctl_usage_seal[];
extern const char ctl_usage_request_new[];
extern const char ctl_usage_part[];
extern const char ctl_usage_open[];
extern const char ctl_usage_login[];
extern const char ctl_usage_logout[];
extern const char ctl_usage_user_add[];
extern const char ctl_usage_user_list[];
extern const char ctl_usage_user_disable[];
extern const char ctl_usage_user_enable[];
extern const char ctl_usage_user_set_role[];
extern const char ctl_usage_token_create[];
extern const char ctl_usage_token_list[];
extern const char ctl_usage_token_revoke[];
extern const char ctl_usage_audit_verify[];
extern const char ctl_usage_audit_export[];
extern const char ctl_usage_device_search[];
extern const char ctl_usage_device_show[];
extern const char ctl_usage_device_rotate[];
extern const char ctl_usage_device_disable[];
extern const char ctl_usage_device_enable[];
extern const char ctl_usage_user_reset_password[];
extern const char ctl_usage_user_set_person[];
extern const char ctl_usage_user_set_email[];
extern const char ctl_usage_enroll_token_create[];
extern const char ctl_usage_enroll_token_list[];
extern const char ctl_usage_enroll_token_revoke[];
extern const char ctl_usage_escrow_key_publish[];
extern const char ctl_usage_escrow_key_show[];
extern const char ctl_usage_escrow_key_set_state[];
extern const char ctl_usage_report_coverage[];
extern const char ctl_usage_report_retrievals[];
extern const char ctl_usage_share_attest[];
extern const char ctl_usage_key_register[];
extern const char ctl_usage_retrieve[];
extern const char ctl_usage_approve[];
extern const char ctl_usage_drill_start[];
extern const char ctl_usage_drill_approve[];
extern const char ctl_usage_drill_run[];
extern const char ctl_usage_drill_part[];
extern const char ctl_usage_pin_list[];
extern const char ctl_usage_pin_add[];
extern const char ctl_usage_pin_remove[];
extern const char ctl_usage_key_show[];
extern const char ctl_usage_escrow_key_pin[];

#endif
