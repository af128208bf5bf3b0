/*
 * agent_http.h - the agent's HTTP client (libcurl): signed JSON requests to
 * escrowd with retries.
 *
 * TLS: for https:// the peer and host name are always verified; --cacert
 * (copied into the state dir at enrolment) replaces the system store, it
 * never weakens the check: that CA alone is trusted, not the system store
 * nor what SSL_CERT_FILE, SSL_CERT_DIR or CURL_CA_BUNDLE name.  An optional
 * SPKI pin (--pin-sha256, kept in the state) is checked on top.  Plain http:// is accepted only for loopback
 * hosts (the enrolment token would cross the network in clear), unless
 * $ESCROW_AGENT_ALLOW_HTTP=1.  No redirects are followed.
 *
 * Retries (agent-protocol section 7): network errors and HTTP 5xx are
 * retried with exponential backoff and full jitter (the n-th wait is a
 * uniform random time in [0, min(max_ms, base_ms * 2^(n-1))]), within the
 * attempt and total-time bounds of the agent_retry; 4xx never is.  Each try
 * is signed anew (fresh timestamp and nonce), since the server refuses a
 * repeated nonce.
 */
#ifndef AGENT_HTTP_H
#define AGENT_HTTP_H

#include <jansson.h>

#include "agent.h"
#include "agent_sign.h"

typedef struct agent_http agent_http;

/* AGENT_OK, AGENT_USAGE (bad URL) or AGENT_FAIL. */
int agent_http_open(agent_http **out, const char *server, const char *cacert,
                    const agent_retry *retry);
void agent_http_free(agent_http *h);
/* Require one of these server public keys (libcurl's "sha256//B64[;...]"
 * form, from ke_http_pin_parse; NULL = none).  AGENT_OK, AGENT_USAGE (not an
 * https:// server) or AGENT_FAIL. */
int agent_http_set_pin(agent_http *h, const char *pin);
const char *agent_http_server(const agent_http *h);

typedef struct agent_reply {
  long status;   /* last HTTP status, 0 if none */
  char code[64]; /* the error code of a non-2xx JSON error, or "" */
  json_t *json;  /* the 2xx answer (object), owned by the caller */
} agent_reply;

/* Send `body` (may be NULL) signed with `key` as device `device` ("new" at
 * enrolment).  On AGENT_OK, reply->json is the answer of a 2xx (an object;
 * json_decref it).  Otherwise every failure is logged and mapped:
 *   4xx -> AGENT_REFUSED (the server's error code and message are logged),
 *   network errors and 5xx after the last try -> AGENT_UNREACHABLE,
 *   a 2xx that is not a JSON object -> AGENT_BADANSWER.
 * `what` names the request in messages ("escrow of volume C:"). */
int agent_http_call(agent_http *h, const agent_key *key, const char *device, const char *method,
                    const char *target, const json_t *body, const char *what, agent_reply *reply);
void agent_reply_free(agent_reply *r);

/* Percent-free check: is `s` usable as one path segment as is?  (Device and
 * volume ids are; the protocol's character set needs no escaping.) */
int agent_http_segment_ok(const char *s);

#endif
