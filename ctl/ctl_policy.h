/*
 * ctl_policy.h - the written policy of a policy custodian (`escrowctl
 * custodian serve`): which retrieval requests it approves by itself.
 *
 * The file is one strict JSON object (docs/operations.md, "Policy
 * custodians"): every key is known, every value has its type and bounds,
 * and an error names the key and its line, so that a daemon never starts
 * half-configured.  The rules, in the order they are checked, each with
 * the name a decline carries:
 *
 *   requester_allowed  the signed account, or the server's role or person
 *                      id of the requester, is on the lists
 *   reason_length      the signed reason has at least N characters
 *   ticket_pattern     the signed ticket matches a POSIX extended regex
 *   device_group       the device's group is allowed and not denied
 *   record_state       the record is in an allowed state (never an old,
 *                      superseded one unless the policy says so)
 *   business_hours     now, in a time zone, is on an allowed day and hour
 *   device_cooldown    no approval for this device in the last N seconds
 *   ticket_check       an ITSM URL answers 2xx for the ticket and device
 *                      (last: it is the one rule that leaves the host)
 *
 * Before them, whose client key signed: the policy's requester_keys, or the
 * daemon's own pins (`custodian trust-key`), or - only with
 * pin_on_first_sight, off by default - the key a requester first shows in
 * an approved request.  Roles and person ids are the server's word (the
 * account name alone is signed): with first-sight pinning on, a hostile
 * server can make up an account that matches a role and have its requests
 * approved until the total limit trips, which is why a total limit is
 * required.
 *
 * The rate limits (per requester and in total, per hour and per day) are
 * not rules of a request but of the daemon's history: ctl_custodian.c.
 */
#ifndef CTL_POLICY_H
#define CTL_POLICY_H

#include <jansson.h>
#include <regex.h>
#include <stddef.h>
#include <time.h>

#include "ke_files.h"

#define CTL_POLICY_MAX_LIST 64
#define CTL_POLICY_RULE_MAX 32

typedef struct ctl_policy_list {
  char *item[CTL_POLICY_MAX_LIST];
  size_t n;
} ctl_policy_list;

typedef struct ctl_policy {
  ctl_policy_list accounts, roles, persons; /* requesters: any may match */
  json_t *requester_keys;                   /* account -> pinned fingerprint hex */
  int pin_on_first_sight;
  unsigned reason_min_length;
  int has_ticket_pattern;
  regex_t ticket_re;
  char *ticket_pattern;
  ctl_policy_list groups_allow, groups_deny; /* allow empty: every group */
  ctl_policy_list record_states;
  int has_hours;
  char *time_zone;
  unsigned days;               /* bit 0 = Sunday ... bit 6 */
  unsigned start_min, end_min; /* minutes after midnight, [start, end) */
  unsigned cooldown_s;
  /* ticket_check */
  char *itsm_url, *itsm_method, *itsm_ca_file, *itsm_token_file;
  unsigned itsm_timeout_s;
  /* limits (0: no such limit) */
  unsigned requester_per_hour, requester_per_day, total_per_hour, total_per_day;
  /* alarm */
  ctl_policy_list alarm_webhooks, alarm_mail_to;
  char *webhook_secret_file, *webhook_ca_file;
  char *smtp_url, *smtp_from, *smtp_ca_file, *smtp_user, *smtp_password_file;
} ctl_policy;

/* Read and check the policy file.  CTL_OK, or an exit code with the
 * message printed ("policy FILE, line N: KEY: what is wrong"). */
int ctl_policy_load(ctl_policy *p, const char *path);
void ctl_policy_free(ctl_policy *p);

/* What the policy allows, in words (check-policy). */
void ctl_policy_describe(const ctl_policy *p, FILE *f);

/* Check request r (parsed and verified: its signed statement is the
 * requester's) with the server's view of it, at time `now`; `last_approval`
 * is when this daemon last approved for the device (0: never).  0 when
 * every rule passes; otherwise 1 with the failing rule's name and a reason
 * for the requester in rule/why. */
int ctl_policy_check(const ctl_policy *p, const ke_request *r, const json_t *view, time_t now,
                     time_t last_approval, char rule[CTL_POLICY_RULE_MAX], char *why,
                     size_t whylen);
/* The device cool-down alone, as ctl_policy_check has it: a policy
 * custodian asks again under its state's lock, where the approvals of its
 * own queue round are counted. */
int ctl_policy_cooldown(const ctl_policy *p, time_t now, time_t last_approval,
                        char rule[CTL_POLICY_RULE_MAX], char *why, size_t whylen);

#endif
