/*
 * ke_chat.h - chat messages in the shapes that Slack and Microsoft Teams
 * incoming webhooks accept, for notifications (escrowd's webhooks) and
 * alarms: a title and a list of facts (name, value), plain text.
 *
 *   Slack: {"text": fallback, "blocks": [header, section with fields]}
 *          (api.slack.com/messaging/webhooks, Block Kit; text fields are
 *          plain_text, so nothing in a value is read as markup or a link)
 *   Teams: {"type": "message", "attachments": [{"contentType":
 *          "application/vnd.microsoft.card.adaptive", "content": an
 *          Adaptive Card 1.4 with a TextBlock title and a FactSet}]}
 *          (what Teams workflows' "post to a channel when a webhook request
 *          is received" and incoming webhooks take)
 *
 * Values are the caller's (device names, reasons): they are JSON-escaped
 * by jansson and never interpreted, and they must never be secrets.
 */
#ifndef KE_CHAT_H
#define KE_CHAT_H

#include <jansson.h>
#include <stddef.h>

typedef enum ke_chat_format { KE_CHAT_NATIVE, KE_CHAT_SLACK, KE_CHAT_TEAMS } ke_chat_format;

typedef struct ke_chat_fact {
  const char *name, *value;
} ke_chat_fact;

/* The message, or NULL on allocation failure (or KE_CHAT_NATIVE, which has
 * no chat shape).  Slack allows at most 10 fields per section: facts past
 * the tenth are left out of the fields (the text keeps them all). */
json_t *ke_chat_payload(ke_chat_format fmt, const char *title, const ke_chat_fact *facts,
                        size_t nfacts);

/* A configured webhook URL: "slack:URL" and "teams:URL" name the shape;
 * anything else is a native keyescrow payload.  *url points past the
 * prefix. */
ke_chat_format ke_chat_url_format(const char *configured, const char **url);

/* The header that signs a webhook payload for its receiver:
 * "X-KE-Signature: sha256=" + hex(HMAC-SHA256(secret, payload)).  0, or -1
 * when OpenSSL fails. */
#define KE_CHAT_SIG_HEADER_LEN (sizeof "X-KE-Signature: sha256=" - 1 + 64)
int ke_chat_sign(char out[KE_CHAT_SIG_HEADER_LEN + 1], const void *secret, size_t secret_len,
                 const char *payload);

#endif
