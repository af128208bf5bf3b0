/*
 * srv_mail.c - the mail outbox and its sender (srv_mail.h).
 *
 * The worker wakes every second: it queues the reminders that fell due
 * (MAIL_REMIND, idempotent across instances), leases a batch of due
 * messages (MAIL_CLAIM), composes each from the request's public metadata
 * at sending time (so a reminder shows the age it really has), sends it and
 * records the outcome.  A crash between sending and recording sends that
 * message again: at least once, like the webhooks.
 */
#include "srv_mail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_log.h"
#include "ke_mail.h"
#include "ke_util.h"
#include "srv_outbox.h"
#include "srv_rows.h"

#define SRV_MAIL_BATCH 16
#define SRV_MAIL_PASSWORD_MAX 256

static struct {
  ke_mail_server srv;
  char password[SRV_MAIL_PASSWORD_MAX + 1];
  unsigned reminder_after;
  int on;
} ml;

static void srv_mail_tick(void);
static struct srv_outbox ml_outbox = {"notification mail",
                                      SRV_STMT_MAIL_DONE,
                                      SRV_STMT_MAIL_RETRY,
                                      srv_mail_tick,
                                      .mu = PTHREAD_MUTEX_INITIALIZER,
                                      .cv = PTHREAD_COND_INITIALIZER};

enum srv_db_status srv_mail_enqueue(struct srv_db *db, const char *event, const char *id)
{
  static const char *const kinds[][2] = {{"request.created", "created"},
                                         {"request.completed", "completed"},
                                         {"request.expired", "expired"}};
  enum srv_db_status st = SRV_DB_OK;

  if (!ml.on)
    return SRV_DB_OK;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
    if (strcmp(event, kinds[k][0]) == 0) {
      const char *p[2] = {id, kinds[k][1]};
      PQclear(srv_db_exec(db, SRV_STMT_MAIL_ENQUEUE, p, &st));
    }
  return st;
}

/* ---- the worker ---------------------------------------------------------- */

/* A row of MAIL_CLAIM (columns documented there), its text in the batch's
 * result until the next claim, and the message composed from it. */
struct srv_mail_item {
  const char *id, *email, *kind, *retrieval, *hostname, *volume_id, *requester, *reason, *ticket;
  int64_t age, threshold, parts, attempts;
  char subject[KE_MAIL_SUBJECT_MAX + 1];
  char *body;
};
#define SRV_MAIL_T(m) SRV_COL_TEXT(struct srv_mail_item, m)
#define SRV_MAIL_N(m) SRV_COL_INT64(struct srv_mail_item, m)
/* email may be NULL: the address was removed while the message waited. */
static const struct srv_col srv_mail_cols[] = {
  SRV_MAIL_T(id),        SRV_COL_TEXT_NULL(struct srv_mail_item, email),
  SRV_MAIL_T(kind),      SRV_MAIL_T(retrieval),
  SRV_MAIL_T(hostname),  SRV_MAIL_T(volume_id),
  SRV_MAIL_T(requester), SRV_MAIL_T(reason),
  SRV_MAIL_T(ticket),    SRV_MAIL_N(age),
  SRV_MAIL_N(threshold), SRV_MAIL_N(parts),
  SRV_MAIL_N(attempts),  SRV_COL_END};
#undef SRV_MAIL_T
#undef SRV_MAIL_N

struct srv_mail_batch {
  PGresult *res;
  struct srv_mail_item items[SRV_MAIL_BATCH];
  int n;
};

static const char *srv_mail_headline(const char *kind)
{
  if (strcmp(kind, "created") == 0)
    return "A recovery key retrieval request waits for custodians";
  if (strcmp(kind, "reminder") == 0)
    return "Reminder: a recovery key retrieval request still waits for your part";
  if (strcmp(kind, "completed") == 0)
    return "A recovery key retrieval request is complete: no further part is needed";
  return "A recovery key retrieval request expired";
}

/* The text of one claimed message.  Subject values are labels the database
 * refuses control characters in; the body is plain text.  No secret is in
 * any column read here. */
static int srv_mail_compose(struct srv_mail_item *it)
{
  const char *kind = it->kind, *req = it->retrieval;
  long long age = (long long)it->age;
  int open = strcmp(kind, "created") == 0 || strcmp(kind, "reminder") == 0;
  char agetext[48];
  int n;

  if (age >= 86400)
    snprintf(agetext, sizeof agetext, "%lld d %lld h", age / 86400, age % 86400 / 3600);
  else if (age >= 3600)
    snprintf(agetext, sizeof agetext, "%lld h %lld min", age / 3600, age % 3600 / 60);
  else
    snprintf(agetext, sizeof agetext, "%lld min", age / 60);
  snprintf(it->subject, sizeof it->subject, "[keyescrow] %s: %.64s on %.80s",
           strcmp(kind, "reminder") == 0    ? "Reminder"
           : strcmp(kind, "created") == 0   ? "Request"
           : strcmp(kind, "completed") == 0 ? "Completed"
                                            : "Expired",
           req, it->hostname);
  if (!(it->body = malloc(KE_MAIL_BODY_MAX)))
    return 0;
  n = snprintf(it->body, KE_MAIL_BODY_MAX,
               "%s.\n\n"
               "Request:    %s\n"
               "Device:     %s\n"
               "Volume:     %s\n"
               "Requester:  %s\n"
               "Reason:     %s\n"
               "Ticket:     %s\n"
               "Age:        %s\n"
               "Parts:      %lld of %lld\n\n"
               "%s%s%s",
               srv_mail_headline(kind), req, it->hostname, it->volume_id, it->requester, it->reason,
               it->ticket, agetext, (long long)it->parts, (long long)it->threshold,
               open ? "To approve: escrowctl approve " : "", open ? req : "",
               open ? " --share <your share file>\n"
                      "Ask the requester, on a channel you trust, to read you the confirmation\n"
                      "code: this mail never carries it, and a code you did not hear from the\n"
                      "requester proves nothing.\n"
                    : "");
  if (n < 0 || n >= KE_MAIL_BODY_MAX) { /* the columns are bounded far below: never */
    free(it->body);
    it->body = NULL;
    return 0;
  }
  return 1;
}

static enum srv_db_status srv_mail_claim_txn(struct srv_db *db, void *cls)
{
  struct srv_mail_batch *b = cls;
  char after[16], lim[8];
  const char *p1[1] = {after}, *pl[1] = {lim};
  enum srv_db_status st;
  PGresult *r;

  for (int i = 0; i < b->n; i++)
    free(b->items[i].body);
  PQclear(b->res);
  b->res = NULL;
  b->n = 0;
  if (ml.reminder_after) {
    snprintf(after, sizeof after, "%u", ml.reminder_after);
    if (!(r = srv_db_exec(db, SRV_STMT_MAIL_REMIND, p1, &st)))
      return st;
    PQclear(r);
  }
  snprintf(lim, sizeof lim, "%d", SRV_MAIL_BATCH);
  if (!(b->res = srv_db_exec(db, SRV_STMT_MAIL_CLAIM, pl, &st)))
    return st;
  /* A row that cannot be read (logged) or composed is passed over, not the
   * end of the batch: the others still go, and its lease lapses. */
  for (int i = 0; i < PQntuples(b->res) && b->n < SRV_MAIL_BATCH; i++)
    if (srv_row_read(b->res, i, srv_mail_cols, &b->items[b->n]) == 0 &&
        srv_mail_compose(&b->items[b->n]))
      b->n++;
  return SRV_DB_OK;
}

/* The worker's second: queue due reminders, lease what is due, send it,
 * record the outcome. */
static void srv_mail_tick(void)
{
  static struct srv_mail_batch b; /* the one worker thread's */

  if (srv_db_txn(SRV_DB_READ_COMMITTED, srv_mail_claim_txn, &b) != SRV_DB_OK)
    return;
  for (int i = 0; i < b.n; i++) {
    const struct srv_mail_item *it = &b.items[i];
    char err[300] = "the recipient has no mail address any more";
    int ok = it->email &&
             ke_mail_send(&ml.srv, it->email, it->subject, it->body, err, sizeof err) == KE_OK;
    srv_outbox_record(&ml_outbox, it->id, it->kind, (int)it->attempts, ok, err);
  }
}

static int srv_mail_read_password(const char *file)
{
  FILE *f = fopen(file, "r");
  size_t n;

  if (!f)
    return -1;
  n = fread(ml.password, 1, SRV_MAIL_PASSWORD_MAX, f);
  fclose(f);
  ml.password[n] = '\0';
  ml.password[strcspn(ml.password, "\r\n")] = '\0';
  return ml.password[0] ? 0 : -1;
}

int srv_mail_init(const struct srv_config *cfg)
{
  ml.on = 0;
  if (!cfg->smtp_url || !*cfg->smtp_url)
    return 0;
  if (!ke_mail_url_ok(cfg->smtp_url) || !cfg->smtp_from || !ke_mail_addr_ok(cfg->smtp_from)) {
    ke_log(KE_LOG_ERROR, "smtp_url must be smtp:// or smtps://, with smtp_from a plain address",
           NULL);
    return -1;
  }
  if (cfg->smtp_user &&
      (!cfg->smtp_password_file || srv_mail_read_password(cfg->smtp_password_file) != 0)) {
    ke_log(KE_LOG_ERROR, "smtp_user needs a readable, non-empty smtp_password_file", NULL);
    return -1;
  }
  ml.srv = (ke_mail_server){cfg->smtp_url,  cfg->smtp_ca_file,
                            cfg->smtp_user, cfg->smtp_user ? ml.password : NULL,
                            cfg->smtp_from, 30};
  ml.reminder_after = cfg->mail_reminder_after;
  if (srv_outbox_start(&ml_outbox) != 0)
    return -1;
  ml.on = 1;
  ke_log(
    KE_LOG_INFO, "notification mail on",
    json_pack("{s:s,s:i}", "smtp_url", cfg->smtp_url, "reminder_after", (int)ml.reminder_after));
  return 0;
}

void srv_mail_shutdown(void)
{
  if (!ml_outbox.running)
    return;
  srv_outbox_stop(&ml_outbox);
  ml.on = 0;
  ke_wipe(ml.password, sizeof ml.password);
}
