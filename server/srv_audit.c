/*
 * srv_audit.c - appending audit events and sequencing them.
 *
 * The append path (docs/audit.md, "Sequencing"):
 *
 *   1. Inside the caller's transaction, srv_audit_append() renders the event
 *      as the two canonical halves of its leaf (every member sorts either
 *      before "seq" or after it) and INSERTs them into audit_queue.  No
 *      lock, no read: it never conflicts with another request.  If the
 *      INSERT fails, the caller's transaction, and so its action, fails.
 *   2. After commit, srv_audit_sequence_mine() waits for one pass of the
 *      sequencer thread (srv_audit_run.c), which group-commits the events
 *      of every request waiting at that moment.  A pass (PL/pgSQL
 *      keyescrow_audit_sequence(), owner rights; or, as a fallback,
 *      keyescrow_audit_sequence_mine() from the request's own thread)
 *      locks the single audit_head row for one batch, moves every
 *      committed queued event into audit_log with the next contiguous
 *      indices (leaf = head || ',"seq":N,' || tail), stores the new
 *      complete subtree hashes and the new head, and releases the lock at
 *      commit.  Whoever takes the lock first sequences everybody's events,
 *      including those of other escrowd instances: batching for free, and
 *      one gap-free order whatever the number of instances.
 *   3. A background thread (srv_audit_run.c) runs the same step every
 *      audit_sequence_interval_ms, so events whose request never asked for
 *      its index, or whose instance died between commit and sequencing, are
 *      picked up: queued rows are durable.
 *
 * The sequencer runs in READ COMMITTED on purpose: a waiter for the head
 * lock must see the previous holder's leaves; under SERIALIZABLE it would
 * fail with a serialization error instead (the function refuses to run
 * there).
 */
#include "srv_audit.h"
#include "srv_audit_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_canon.h"
#include "ke_log.h"
#include "ke_util.h"
#include "srv_auth.h"
#include "srv_rows.h"

/* The queue id of the last event this thread appended (-1: none): the key
 * by which srv_audit_sequence_mine() finds its leaf. */
static _Thread_local int64_t srv_audit_mine = -1;

static int srv_audit_action_ok(const char *s)
{
  size_t n = s ? strlen(s) : 0;

  if (n == 0 || n > SRV_AUDIT_MAX_ACTION || s[0] == '.' || s[n - 1] == '.')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          (c == '.' && s[i + 1] != '.')))
      return 0;
  }
  return 1;
}

static int srv_audit_outcome_ok(const char *s)
{
  return s && (strcmp(s, "success") == 0 || strcmp(s, "failure") == 0 || strcmp(s, "denied") == 0);
}

void srv_audit_time_now(char out[SRV_AUDIT_TIME_LEN])
{
  struct timespec ts;
  struct tm tm;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  /* Every field is bounded, which the compiler cannot know about tm. */
  snprintf(out, SRV_AUDIT_TIME_LEN, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
           (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)(tm.tm_mon + 1) % 100u,
           (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
           (unsigned)tm.tm_sec % 100u, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* Decode a bytea column in PostgreSQL's hex output ("\x...").  *out is
 * malloc'd (NULL with *len 0 for an empty value); -1 if malformed. */
int srv_audit_bytea_parse(const char *text, uint8_t **out, size_t *len)
{
  *out = NULL;
  *len = 0;
  if (!text || text[0] != '\\' || text[1] != 'x')
    return -1;
  if (text[2] == '\0')
    return 0;
  return ke_hex_decode_alloc(out, len, text + 2) == KE_OK ? 0 : -1;
}

/* The two canonical halves of an event's leaf; 0 or -1 (logged). */
static int srv_audit_render(struct srv_request *req, const struct srv_audit_event *ev, char **head,
                            size_t *headlen, char **tail, size_t *taillen)
{
  char when[SRV_AUDIT_TIME_LEN], rid[33];
  const char *actor = ev->actor, *src = NULL, *request_id;
  json_t *h = NULL, *t = NULL;
  int rc = -1;

  *head = *tail = NULL;
  if (!srv_audit_action_ok(ev->action) || !srv_audit_outcome_ok(ev->outcome) ||
      (ev->object && (!ev->object[0] || strlen(ev->object) > SRV_AUDIT_MAX_OBJECT)) ||
      (ev->details && !json_is_object(ev->details)) ||
      (ev->actor && (!ev->actor[0] || strlen(ev->actor) > SRV_AUDIT_MAX_OBJECT))) {
    ke_log(KE_LOG_ERROR, "invalid audit event (a bug in its caller)",
           json_pack("{s:s?,s:s?}", "action", ev->action, "outcome", ev->outcome));
    return -1;
  }
  if (req) {
    const struct srv_principal *p = srv_request_principal(req);
    if (!actor)
      actor = p->actor[0] ? p->actor : "anonymous";
    src = srv_request_remote(req);
    if (src && !src[0])
      src = NULL;
    request_id = srv_request_id(req);
  } else {
    uint8_t rnd[16];
    if (!actor)
      actor = "system";
    /* Events the server makes by itself still get a unique id, so that
     * every leaf has the same shape and its log lines can be matched. */
    if (ke_random(rnd, sizeof rnd) != KE_OK)
      return -1;
    ke_hex_encode(rid, rnd, sizeof rnd);
    rid[32] = '\0';
    request_id = rid;
  }
  srv_audit_time_now(when);
  h = json_pack("{s:s,s:s,s:s?,s:s,s:s}", "action", ev->action, "actor", actor, "object",
                ev->object, "outcome", ev->outcome, "request_id", request_id);
  t = json_pack("{s:s?,s:s}", "src", src, "time", when);
  if (!h || !t)
    goto out;
  if (ev->details && json_object_set(h, "details", (json_t *)ev->details) != 0)
    goto out;
  if (ke_canon_dump(h, head, headlen) != KE_OK || ke_canon_dump(t, tail, taillen) != KE_OK) {
    ke_log(KE_LOG_ERROR, "audit event cannot be written canonically (a bug in its caller)",
           json_pack("{s:s}", "action", ev->action));
    goto out;
  }
  if (*headlen + *taillen > SRV_AUDIT_MAX_LEAF - 32) {
    ke_log(
      KE_LOG_ERROR, "audit event too large",
      json_pack("{s:s,s:I}", "action", ev->action, "bytes", (json_int_t)(*headlen + *taillen)));
    goto out;
  }
  /* head: drop the closing brace; tail: drop the opening one. */
  (*head)[--*headlen] = '\0';
  memmove(*tail, *tail + 1, *taillen);
  --*taillen;
  rc = 0;
out:
  json_decref(h);
  json_decref(t);
  if (rc) {
    free(*head);
    free(*tail);
    *head = *tail = NULL;
  }
  return rc;
}

enum srv_db_status srv_audit_append(struct srv_db *db, struct srv_request *req,
                                    const struct srv_audit_event *ev)
{
  char *head = NULL, *tail = NULL, *hhex = NULL, *thex = NULL, *end = NULL;
  size_t hl, tl;
  const char *params[2];
  enum srv_db_status st = SRV_DB_ERROR;
  PGresult *r;
  long long id;

  if (!srv_audit_enabled())
    return SRV_DB_OK; /* the bench-only switch (srv_audit_run.c) */
  if (srv_audit_render(req, ev, &head, &hl, &tail, &tl) != 0)
    return SRV_DB_ERROR;
  hhex = malloc(2 * hl + 3);
  thex = malloc(2 * tl + 3);
  if (!hhex || !thex)
    goto out;
  srv_bytea_param(hhex, (const uint8_t *)head, hl);
  srv_bytea_param(thex, (const uint8_t *)tail, tl);
  params[0] = hhex;
  params[1] = thex;
  r = srv_db_exec(db, SRV_STMT_AUDIT_ENQUEUE, params, &st);
  if (!r)
    goto out;
  id = srv_row_text(r, "id") ? strtoll(srv_row_text(r, "id"), &end, 10) : 0;
  if (id < 1 || *end) {
    st = SRV_DB_ERROR;
  } else {
    srv_audit_mine = id;
  }
  PQclear(r);
out:
  free(head);
  free(tail);
  free(hhex);
  free(thex);
  return st;
}

struct srv_audit_rec {
  struct srv_request *req;
  const struct srv_audit_event *ev;
};

static enum srv_db_status srv_audit_record_body(struct srv_db *db, void *cls)
{
  struct srv_audit_rec *a = cls;

  return srv_audit_append(db, a->req, a->ev);
}

enum srv_db_status srv_audit_success(struct srv_db *db, struct srv_request *req, const char *action,
                                     const char *kind, const char *id, json_t *d)
{
  char object[SRV_AUDIT_MAX_OBJECT + 1];
  struct srv_audit_event ev = {action, kind ? object : NULL, "success", d, NULL};
  enum srv_db_status st;

  if (!d)
    return SRV_DB_ERROR;
  if (kind)
    snprintf(object, sizeof object, "%s:%s", kind, id);
  st = srv_audit_append(db, req, &ev);
  json_decref(d);
  return st;
}

int srv_audit_record(struct srv_request *req, const struct srv_audit_event *ev)
{
  struct srv_audit_rec a = {req, ev};

  /* One INSERT into audit_queue and nothing read: READ COMMITTED is as
   * safe as SERIALIZABLE here, without its bookkeeping. */
  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_audit_record_body, &a) != SRV_DB_OK)
    return -1;
  /* Nobody waits for this one's index: let the background sequencer take
   * it along with whatever else arrives meanwhile. */
  srv_audit_kick();
  return 0;
}

struct srv_audit_mine_q {
  int64_t queue_id;
  int64_t seq, first, moved;
  int found;
  int sequence; /* sequence everyone's events (AUDIT_SEQUENCE_MINE), or only look */
};

static int srv_audit_int_col(const PGresult *r, const char *name, int64_t *out)
{
  const char *s = srv_row_text(r, name);
  char *end;
  long long v;

  if (!s)
    return -1;
  v = strtoll(s, &end, 10);
  if (*end)
    return -1;
  *out = v;
  return 0;
}

static enum srv_db_status srv_audit_mine_body(struct srv_db *db, void *cls)
{
  struct srv_audit_mine_q *q = cls;
  char id[24];
  const char *params[1] = {id};
  enum srv_db_status st;
  PGresult *r;

  q->found = 0;
  q->moved = 0;
  snprintf(id, sizeof id, "%" PRId64, q->queue_id);
  r = srv_db_exec(db, q->sequence ? SRV_STMT_AUDIT_SEQUENCE_MINE : SRV_STMT_AUDIT_SEQ_OF, params,
                  &st);
  if (!r)
    return st;
  q->found = srv_audit_int_col(r, "seq", &q->seq) == 0;
  /* AUDIT_SEQ_OF has no "moved": it moves nothing. */
  if (srv_audit_int_col(r, "moved", &q->moved) == 0 && q->moved > 0 &&
      srv_audit_int_col(r, "first_seq", &q->first) != 0)
    q->moved = 0;
  PQclear(r);
  return SRV_DB_OK;
}

int srv_audit_sequence_mine(int64_t *leaf_index)
{
  struct srv_audit_mine_q q;
  enum srv_db_status st;

  memset(&q, 0, sizeof q);
  if (!srv_audit_enabled()) {
    *leaf_index = -1; /* the bench's "log off" run: nothing was queued */
    return 0;
  }
  q.queue_id = srv_audit_mine;
  srv_audit_mine = -1;
  if (q.queue_id < 1)
    return -1;
  /* Usually one pass of the sequencer thread takes this event along with
   * those of every request waiting at the same time, and tells us its
   * index. */
  switch (srv_audit_wait_pass(q.queue_id, &q.seq)) {
    case 0: *leaf_index = q.seq; return 0;
    case 1:
      if (srv_db_txn(SRV_DB_READ_ONLY, srv_audit_mine_body, &q) == SRV_DB_OK && q.found) {
        *leaf_index = q.seq;
        return 0;
      }
      break;
    default: break;
  }
  /* The thread is not running (or the database failed it): sequence here. */
  q.sequence = 1;
  st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_audit_mine_body, &q);
  if (st != SRV_DB_OK)
    return -1;
  if (q.moved > 0)
    srv_audit_sequenced(q.first, q.moved);
  if (!q.found) {
    ke_log(KE_LOG_ERROR, "audit event not found after sequencing",
           json_pack("{s:I}", "queue_id", (json_int_t)q.queue_id));
    return -1;
  }
  *leaf_index = q.seq;
  return 0;
}
