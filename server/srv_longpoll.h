/*
 * srv_longpoll.h - long-polls that hold no thread.
 *
 * A handler that has nothing new to say suspends its connection
 * (MHD_suspend_connection) and registers it here under a key (e.g. a
 * retrieval id).  The connection is resumed by srv_longpoll_notify(key)
 * (in-process: the handler that changed the state; or the LISTEN thread of
 * srv_longpoll_pg.c, for changes made through another escrowd instance
 * sharing the database), by its deadline, or by the periodic re-check tick,
 * which runs only while that listener is reconnecting.  libmicrohttpd then runs the handler again, which
 * asks srv_longpoll_resumed() whether it is such a second run, re-reads the
 * state and either answers or suspends again.
 *
 * Suspended connections cost a socket and ~200 bytes here, no thread; their
 * number is capped (srv_longpoll_init), and a handler that cannot suspend
 * answers at once with the current state.
 */
#ifndef SRV_LONGPOLL_H
#define SRV_LONGPOLL_H

#include <stdint.h>
#include <time.h>

#include "srv_http.h"

#define SRV_LONGPOLL_KEY_MAX 64

/* Start the timer thread.  0 or -1. */
int srv_longpoll_init(unsigned max_waiters, unsigned recheck_s);
/* Resume every waiter (they answer at once) and stop the thread: call
 * before the HTTP daemon stops, which would otherwise wait for them. */
void srv_longpoll_shutdown(void);
/* Is the server shutting down (a resumed handler must answer now)? */
int srv_longpoll_stopping(void);

/* Wake every waiter registered under `key`. */
void srv_longpoll_notify(const char *key);
/* Wake every waiter (they re-read and sleep again if nothing changed). */
void srv_longpoll_notify_all(void);
/* The LISTEN connection is up (1) or down (0): the periodic re-check runs
 * only while it is down. */
void srv_longpoll_listening(int on);
/* The LISTEN thread (srv_longpoll_pg.c): notifications on the channel
 * keyescrow_longpoll (schema 009) wake the waiters of their payload's key.
 * 0 or -1. */
int srv_longpoll_pg_start(const struct srv_config *cfg);
void srv_longpoll_pg_stop(void);
/* A counter bumped by every notify: read it before reading the state, pass
 * it to srv_longpoll_suspend, which refuses to sleep if it moved (a change
 * between the read and the suspension is never missed). */
uint64_t srv_longpoll_seq(void);

/* Deadlines are monotonic milliseconds: the deadline `wait_s` seconds from
 * now, and whether it has passed.  (Whole seconds of time(NULL) would end a
 * wait of 1 s after anything from 0 to 1 s.) */
int64_t srv_longpoll_deadline(long wait_s);
int srv_longpoll_expired(int64_t deadline_ms);

/* If `req` is a resumed long-poll, forget its entry, set *since and
 * *deadline to what it was suspended with and return 1; else 0. */
int srv_longpoll_resumed(struct srv_request *req, int64_t *since, int64_t *deadline);

/* Suspend `req` until notify(key), the deadline or a re-check.  Returns 0
 * when suspended (the handler returns MHD_YES without replying), 1 when
 * something changed since `seq` (read again), -1 when the cap is reached
 * or the server stops (answer now). */
int srv_longpoll_suspend(struct srv_request *req, const char *key, int64_t since, int64_t deadline,
                         uint64_t seq);

#endif
