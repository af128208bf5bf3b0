/*
 * srv_conn.h - per-connection bookkeeping of the HTTP layer: the whole-
 * request deadline, the per-address connection limit, TLS session tickets.
 *
 * libmicrohttpd's connection_timeout counts inactivity only, so a client
 * that sends one byte every few seconds keeps a request open for ever, and
 * 64 of them fill an address's per_ip_connection_limit.  Every connection
 * is therefore tracked from libmicrohttpd's connection notifications:
 *
 *   - each request must be complete (headers and body) within
 *     request_deadline seconds of the connection's opening or of the
 *     previous answer; a sweep thread closes the connection otherwise;
 *   - the per-address limit is enforced here rather than by libmicrohttpd:
 *     a new connection from an address at its limit closes that address's
 *     oldest connection whose request has been incomplete (or idle) for
 *     more than a second, so trickling cannot lock out a fresh client;
 *     only when none is that stale is the new connection refused.
 *
 * It also refuses ambiguous framing (srv_framing_ok), answers once the
 * header-block errors that libmicrohttpd 0.9.x answers twice
 * (srv_conn_answer_mhd_error), and checks tls_priorities.
 *
 * A request is "complete" from the handler's final call until the request
 * ends (its answer is sent, or a long-poll waits): such connections are
 * never cut.
 */
#ifndef SRV_CONN_H
#define SRV_CONN_H

#include <microhttpd.h>

#include "srv_config.h"

struct srv_conn;

/* Start the sweep thread; 0 on success. */
int srv_conn_start(const struct srv_config *cfg);
/* Stop the sweep thread (after MHD_stop_daemon). */
void srv_conn_stop(void);

/* MHD_OPTION_NOTIFY_CONNECTION callback. */
void srv_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                     enum MHD_ConnectionNotificationCode code);

/* The tracked state of `conn`, or NULL. */
struct srv_conn *srv_conn_of(struct MHD_Connection *conn);
/* escrowd's handler has seen the current request on `c` (first call). */
void srv_conn_set_seen(struct srv_conn *c);
/* The request on `c` is complete (1) or it ended and the next may start (0). */
void srv_conn_set_complete(struct srv_conn *c, int complete);

/* Called with each libmicrohttpd log message, in its thread: when the
 * message says libmicrohttpd is about to refuse a request's header block
 * (which 0.9.x answers twice), answer it once here instead.  1 if done. */
int srv_conn_answer_mhd_error(const char *mhd_message);

struct srv_request;
/* Called at the first call of the access handler: 1 if the framing is
 * unambiguous; otherwise queues 400 with Connection: close into *ret. */
int srv_framing_ok(struct srv_request *req, enum MHD_Result *ret);
/* 1 if GnuTLS accepts `prio` as a priority string; logs why not. */
int srv_tls_priorities_ok(const char *prio);

#endif
