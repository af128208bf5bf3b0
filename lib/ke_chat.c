/*
 * ke_chat.c - Slack and Teams message shapes (ke_chat.h).
 */
#include "ke_chat.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "title\nname: value\n..." - Slack's notification fallback. */
static char *ke_chat_text(const char *title, const ke_chat_fact *f, size_t n)
{
  size_t len = strlen(title) + 1;
  char *s, *p;

  for (size_t i = 0; i < n; i++)
    len += strlen(f[i].name) + strlen(f[i].value) + 3;
  if (!(s = p = malloc(len)))
    return NULL;
  p += sprintf(p, "%s", title);
  for (size_t i = 0; i < n; i++)
    p += sprintf(p, "\n%s: %s", f[i].name, f[i].value);
  return s;
}

static json_t *ke_chat_slack(const char *title, const ke_chat_fact *f, size_t n)
{
  char *text = ke_chat_text(title, f, n);
  json_t *fields = json_array(), *msg = NULL;

  for (size_t i = 0; fields && text && i < n && i < 10; i++) {
    char *t = malloc(strlen(f[i].name) + strlen(f[i].value) + 2);
    if (!t)
      break;
    sprintf(t, "%s\n%s", f[i].name, f[i].value);
    json_array_append_new(fields, json_pack("{s:s,s:s}", "type", "plain_text", "text", t));
    free(t);
  }
  if (text && fields)
    msg =
      json_pack("{s:s,s:[{s:s,s:{s:s,s:s}},{s:s,s:O}]}", "text", text, "blocks", "type", "header",
                "text", "type", "plain_text", "text", title, "type", "section", "fields", fields);
  free(text);
  json_decref(fields);
  return msg;
}

static json_t *ke_chat_teams(const char *title, const ke_chat_fact *f, size_t n)
{
  json_t *facts = json_array(), *msg = NULL;

  for (size_t i = 0; facts && i < n; i++)
    json_array_append_new(facts, json_pack("{s:s,s:s}", "title", f[i].name, "value", f[i].value));
  if (facts)
    msg = json_pack("{s:s,s:[{s:s,s:n,s:{s:s,s:s,s:s,s:[{s:s,s:s,s:s,s:s,s:b},{s:s,s:O}]}}]}",
                    "type", "message", "attachments", "contentType",
                    "application/vnd.microsoft.card.adaptive", "contentUrl", "content", "$schema",
                    "http://adaptivecards.io/schemas/adaptive-card.json", "type", "AdaptiveCard",
                    "version", "1.4", "body", "type", "TextBlock", "text", title, "weight",
                    "bolder", "size", "medium", "wrap", 1, "type", "FactSet", "facts", facts);
  json_decref(facts);
  return msg;
}

json_t *ke_chat_payload(ke_chat_format fmt, const char *title, const ke_chat_fact *facts,
                        size_t nfacts)
{
  if (!title)
    return NULL;
  for (size_t i = 0; i < nfacts; i++)
    if (!facts[i].name || !facts[i].value)
      return NULL;
  switch (fmt) {
    case KE_CHAT_SLACK: return ke_chat_slack(title, facts, nfacts);
    case KE_CHAT_TEAMS: return ke_chat_teams(title, facts, nfacts);
    default: return NULL;
  }
}

ke_chat_format ke_chat_url_format(const char *configured, const char **url)
{
  ke_chat_format fmt = KE_CHAT_NATIVE;

  if (strncmp(configured, "slack:", 6) == 0)
    fmt = KE_CHAT_SLACK;
  else if (strncmp(configured, "teams:", 6) == 0)
    fmt = KE_CHAT_TEAMS;
  *url = fmt == KE_CHAT_NATIVE ? configured : configured + 6;
  return fmt;
}

int ke_chat_sign(char out[KE_CHAT_SIG_HEADER_LEN + 1], const void *secret, size_t secret_len,
                 const char *payload)
{
  static const char hex[] = "0123456789abcdef";
  unsigned char mac[32];
  size_t maclen = 0;
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
  OSSL_PARAM params[2] = {
    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
    OSSL_PARAM_construct_end()};
  int ok = ctx && EVP_MAC_init(ctx, secret, secret_len, params) == 1 &&
           EVP_MAC_update(ctx, (const unsigned char *)payload, strlen(payload)) == 1 &&
           EVP_MAC_final(ctx, mac, &maclen, sizeof mac) == 1 && maclen == 32;

  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(m);
  if (!ok)
    return -1;
  memcpy(out, "X-KE-Signature: sha256=", 23);
  for (size_t i = 0; i < 32; i++) {
    out[23 + 2 * i] = hex[mac[i] >> 4];
    out[24 + 2 * i] = hex[mac[i] & 15];
  }
  out[KE_CHAT_SIG_HEADER_LEN] = '\0';
  return 0;
}
