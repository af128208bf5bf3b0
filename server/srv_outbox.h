/*
 * srv_outbox.h - what the two outboxes (webhook_outbox: srv_webhook.c;
 * mail_outbox: srv_mail.c) share: a worker thread that wakes every second,
 * and the one way a delivery's outcome is recorded.
 *
 * Rows are written inside the transaction of the change they announce;
 * the worker leases due rows (each outbox's CLAIM statement pushes their
 * next attempt a minute ahead, so two instances never send one at once),
 * sends them, and records the outcome: delivered, or retried after 2^n
 * seconds (at most an hour) until the 12th attempt fails for good.  A
 * crash between sending and recording sends again: at least once.
 */
#ifndef SRV_OUTBOX_H
#define SRV_OUTBOX_H

#include <pthread.h>

#include "srv_db.h"

#define SRV_OUTBOX_ATTEMPTS 12

/* One outbox: its statements and how its log lines name a delivery. */
struct srv_outbox {
  const char *what;          /* "webhook delivery", "notification mail" */
  enum srv_stmt done, retry; /* (id) and (id, delay s, error, give up) */
  void (*tick)(void);        /* lease and send what is due (worker thread) */
  /* the worker */
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int running, stop;
};

/* Start the worker calling ob->tick every second; 0, or -1 (logged). */
int srv_outbox_start(struct srv_outbox *ob);
/* Stop and join it (idempotent). */
void srv_outbox_stop(struct srv_outbox *ob);

/* Record the outcome of the attempt after `attempts` earlier ones of row
 * `id` (logged when it failed; `kind` names it in the log line). */
void srv_outbox_record(const struct srv_outbox *ob, const char *id, const char *kind, int attempts,
                       int ok, const char *err);

#endif
