/*
 * srv_webhook.h - webhook notifications of retrievals (optional).
 *
 * Configured by webhook_urls (comma-separated http(s) URLs) and
 * webhook_secret_file (the HMAC key).  A URL prefixed "slack:" or "teams:"
 * gets the event as a chat message in that service's incoming-webhook shape
 * (lib/ke_chat.h) instead of the native JSON.  An event is written to the outbox
 * table inside the transaction of the change it reports; a worker thread
 * POSTs it to each URL as JSON with
 *   X-KE-Signature: sha256=<hex HMAC-SHA256(secret, body)>
 *   X-KE-Event: <event>      X-KE-Delivery: <outbox id>
 * retrying with exponential backoff (2^n seconds, at most an hour, 12
 * attempts).  A request never waits for a delivery.  Payloads carry ids,
 * states and counts: never a secret, a part or an envelope.
 */
#ifndef SRV_WEBHOOK_H
#define SRV_WEBHOOK_H

#include <jansson.h>

#include "ke_chat.h"

#include "srv_config.h"
#include "srv_db.h"

/* Read the configuration and start the worker (nothing without URLs).
 * 0, or -1 after logging why (a secret file that cannot be read). */
int srv_webhook_init(const struct srv_config *cfg);
void srv_webhook_shutdown(void);

/* The chat form of an event: a title and facts (public metadata only). */
struct srv_webhook_chat {
  const char *title;
  const ke_chat_fact *facts;
  size_t nfacts;
};

/* 1 if some URL takes chat messages (then callers pass `chat`). */
int srv_webhook_wants_chat(void);

/* Queue `event` ("request.created", ...) with `payload` (borrowed; "event"
 * and "time" are added) for every native URL, and `chat` for every chat
 * URL, inside the caller's transaction. */
enum srv_db_status srv_webhook_enqueue(struct srv_db *db, const char *event, const json_t *payload,
                                       const struct srv_webhook_chat *chat);

#endif
