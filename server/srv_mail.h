/*
 * srv_mail.h - notification mails of retrievals (optional).
 *
 * Configured by smtp_url and smtp_from (and smtp_ca_file, smtp_user,
 * smtp_password_file, mail_reminder_after).  Every custodian account with
 * an email address is told when a request is made, reminded once when it
 * has waited mail_reminder_after seconds without their part, and told when
 * it completes or expires.  The design is the webhooks' (srv_webhook.h): a
 * row per message in mail_outbox, written inside the transaction of the
 * change; a worker thread sends it through lib/ke_mail, retrying with
 * backoff (2^n seconds, at most an hour, 12 attempts), at least once.
 *
 * A message carries the request id, device, volume, requester, reason,
 * ticket and age: never a secret, and never the confirmation code, which
 * the requester reads to each custodian out of band (a server that mailed
 * it would vouch for its own swap of E; docs/threat-model.md).
 */
#ifndef SRV_MAIL_H
#define SRV_MAIL_H

#include "srv_config.h"
#include "srv_db.h"

/* Read the configuration and start the worker (nothing without smtp_url).
 * 0, or -1 after logging why. */
int srv_mail_init(const struct srv_config *cfg);
void srv_mail_shutdown(void);

/* Queue the mails of `event` ("request.created", "request.completed",
 * "request.expired"; others are ignored) for request `id`, inside the
 * caller's transaction. */
enum srv_db_status srv_mail_enqueue(struct srv_db *db, const char *event, const char *id);

#endif
