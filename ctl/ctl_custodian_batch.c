/*
 * ctl_custodian_batch.c - one round of a policy custodian's queue (see
 * ctl_custodian_batch.h): the state's side of it and the sending.
 */
#include "ctl_custodian_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_open.h"
#include "ke_util.h"

/* Oldest first; within a second (the queue's resolution), the later in
 * the answer first, as the server lists newest first. */
static int older_first(const void *a, const void *b)
{
  const ctl_cust_item *x = a, *y = b;
  int c = strcmp(x->created, y->created);

  return c ? c : x->at < y->at ? 1 : x->at > y->at ? -1 : 0;
}

int ctl_cust_batch_begin(ctl_cust_batch *b, const json_t *queue, const char *dir)
{
  const json_t *list = json_object_get(queue, "retrievals"), *e;
  size_t i, bad = 0;
  int rc;

  memset(b, 0, sizeof *b);
  b->snap.lockfd = -1;
  if (!json_array_size(list))
    return CTL_OK;
  if (!(b->it = calloc(json_array_size(list), sizeof *b->it)))
    return ctl_oom();
  if ((rc = ctl_cust_snapshot(&b->snap, dir)))
    return rc;
  json_array_foreach (list, i, e) {
    const char *id = ctl_jstr(e, "request_id");
    const json_t *dec;
    size_t k;

    /* The id is stored, logged and put in URLs: only the server's own
     * shape is taken, and another is never echoed. */
    if (!ke_b32_id_ok(id, "req-")) {
      bad++;
      continue;
    }
    for (k = 0; k < b->n && strcmp(b->it[k].id, id) != 0; k++)
      ;
    dec = ctl_cust_decision(&b->snap, id);
    if (k < b->n || (dec && json_is_true(json_object_get(dec, "done"))))
      continue;
    ctl_cust_item *it = &b->it[b->n++];
    snprintf(it->id, sizeof it->id, "%s", id);
    snprintf(it->created, sizeof it->created, "%s", ctl_jstr(e, "created") ?: "");
    it->at = i;
    it->verdict = CTL_CUST_LATER;
    it->todo = !dec;
    if (dec && !(it->dec = json_deep_copy(dec)))
      return ctl_oom();
  }
  qsort(b->it, b->n, sizeof *b->it, older_first);
  if (bad)
    ctl_errf("the server's queue lists %zu request id%s not of the form req-<26 of a-z2-7>: "
             "skipped",
             bad, bad == 1 ? "" : "s");
  return CTL_OK;
}

/* A decline's reason fits the server's 500 bytes (POST .../declines),
 * cut before a UTF-8 character, never inside one. */
#define CUST_REASON_MAX 500
static void trim_reason(char *why)
{
  size_t n = strlen(why);

  if (n <= CUST_REASON_MAX)
    return;
  n = CUST_REASON_MAX;
  while (n > 0 && ((unsigned char)why[n] & 0xc0) == 0x80)
    n--;
  why[n] = '\0';
}

#define VERDICT(v, name, ...)                         \
  do {                                                \
    snprintf((v)->rule, sizeof(v)->rule, "%s", name); \
    snprintf((v)->why, sizeof(v)->why, __VA_ARGS__);  \
  } while (0)

/* Under the state's lock: the last word on a verdict made without it, on
 * the state that holds this round's decisions so far.  The trip, a pin
 * changed meanwhile (trust-key, or a first-sight pin of an earlier request
 * of the round), the device cool-down and the limits are asked again, in
 * that order (a request declined for something else counts against no
 * limit); a first-sight pin is taken, and the part is made.  Returns the
 * part in base64url (NULL for a decline, with the item's verdict set). */
static char *settle_one(ctl_cust_state *st, ctl_cust_item *it, const ctl_policy *p, unsigned index,
                        const ke_scalar *d, time_t now)
{
  const ke_request *r = it->r;
  const char *user = r->requester.user, *trip, *pin;
  ctl_cust_verdict *v = &it->v;
  char fpr[65];
  ke_partfile pf;
  char *b64 = NULL;

  ke_hex_encode(fpr, r->requester.fingerprint, 32);
  if ((trip = ctl_cust_tripped(st))) {
    VERDICT(v, "limit_tripped", "this custodian stopped approving: %s", trip);
  } else if (!json_object_get(p->requester_keys, user) && (pin = ctl_cust_pin(st, user)) &&
             strcmp(pin, fpr)) {
    VERDICT(v, "requester_key", "another client key of %s was pinned meanwhile", user);
  } else if (ctl_policy_cooldown(p, now, ctl_cust_last_approval(st, r->device), v->rule, v->why,
                                 sizeof v->why)) {
    /* rule and reason set */
  } else if (ctl_cust_over_limit(st, p, user, now, v->why, sizeof v->why)) {
    snprintf(v->rule, sizeof v->rule, "rate_limit");
    ctl_cust_trip(st, v->why, now);
  } else if (ctl_part_compute(&pf, r, index, d) != CTL_OK ||
             !(b64 = ke_b64url_encode(pf.part, KE_PART_LEN))) {
    VERDICT(v, "internal", "this custodian could not make its part");
  } else if (v->pin_now) {
    ctl_cust_set_pin(st, user, fpr);
  }
  ke_wipe(&pf, sizeof pf);
  it->verdict = b64 ? CTL_CUST_APPROVE : CTL_CUST_DECLINE;
  return b64;
}

/* One item under the lock: recorded in st (its decision copied to *dec,
 * for sending once durable) and its log line added.  1 when decided. */
static int record_one(ctl_cust_state *st, ctl_cust_item *it, const ctl_policy *p, unsigned index,
                      const ke_scalar *d, time_t now, ke_buf *lines, int *rc)
{
  const json_t *had = ctl_cust_decision(st, it->id);
  const char *trip;
  char *part = NULL;
  int no;

  if (had) { /* decided meanwhile: not this round's, but send what was decided */
    it->todo = 0;
    if (!json_is_true(json_object_get(had, "done")) && !(it->dec = json_deep_copy(had)))
      *rc = CTL_FAIL;
    return 0;
  }
  if (it->verdict == CTL_CUST_APPROVE)
    part = settle_one(st, it, p, index, d, now);
  else if ((trip = ctl_cust_tripped(st))) /* as judge() says it once tripped */
    VERDICT(&it->v, "limit_tripped", "this custodian stopped approving: %s", trip);
  no = it->verdict != CTL_CUST_APPROVE;
  trim_reason(it->v.why);
  if (ctl_cust_decide(st, it->id, no ? "decline" : "approve", no ? it->v.rule : NULL,
                      no ? it->v.why : NULL, part, it->r->requester.user, it->r->device,
                      now) != CTL_OK ||
      !(it->dec = json_deep_copy(ctl_cust_decision(st, it->id))) ||
      ctl_cust_log_add(lines, it->id, no ? "decline" : "approve", no ? it->v.rule : NULL,
                       no ? it->v.why : NULL) != CTL_OK)
    *rc = CTL_FAIL;
  if (part) {
    ke_wipe(part, strlen(part));
    free(part);
  }
  return 1;
}

/* Forget the copies of this round's new decisions: they were not made
 * durable, so they must not be sent. */
static void drop_new(ctl_cust_batch *b)
{
  for (size_t i = 0; i < b->n; i++)
    if (b->it[i].todo) {
      json_decref(b->it[i].dec);
      b->it[i].dec = NULL;
    }
}

int ctl_cust_batch_settle(ctl_cust_batch *b, const char *dir, const ctl_policy *p, unsigned index,
                          const ke_scalar *d, time_t now, size_t *decided)
{
  ctl_cust_state st;
  ke_buf lines = {0};
  size_t i, n = 0;
  int rc = CTL_OK;

  *decided = 0;
  for (i = 0; i < b->n && !(b->it[i].todo && b->it[i].verdict != CTL_CUST_LATER); i++)
    ;
  if (i == b->n)
    return CTL_OK; /* nothing judged: no lock, no write */
  if ((rc = ctl_cust_open(&st, dir)))
    return rc;
  for (; i < b->n && !rc; i++)
    if (b->it[i].todo && b->it[i].verdict != CTL_CUST_LATER)
      n += (size_t)record_one(&st, &b->it[i], p, index, d, now, &lines, &rc);
  if (rc) {
    ctl_cust_close(&st);
    ke_buf_free(&lines);
  } else if (!(rc = ctl_cust_commit(&st))) {
    rc = ctl_cust_log_flush(dir, &lines);
  }
  if (rc) {
    drop_new(b);
    return rc;
  }
  for (i = 0; i < b->n; i++) {
    const ctl_cust_item *it = &b->it[i];
    if (it->todo && it->dec)
      fprintf(stderr, "escrowctl custodian: %s %s%s%s\n",
              it->verdict == CTL_CUST_APPROVE ? "approved" : "declined", it->id,
              it->verdict == CTL_CUST_APPROVE ? "" : ": ",
              it->verdict == CTL_CUST_APPROVE ? "" : it->v.rule);
  }
  *decided = n;
  return CTL_OK;
}

/* Send a recorded decision: exactly its part, or its decline.  1 when it
 * is with the server (409: this index already gave a part or another
 * decline, which a resend after a crash meets). */
static int act(ctl_http *h, const char *id, const json_t *dec)
{
  const char *what = ctl_jstr(dec, "decision") ?: "";
  char path[200], esc[128];
  json_t *body, *ans = NULL;
  long status = 0;

  if (ctl_http_escape(esc, sizeof esc, id))
    return 0;
  if (strcmp(what, "approve") == 0) {
    const char *part = ctl_jstr(dec, "part");
    body = part ? json_pack("{s:s}", "part", part) : NULL;
    snprintf(path, sizeof path, "/v1/retrievals/%s/parts", esc);
  } else {
    body = json_pack("{s:s,s:s}", "rule", ctl_jstr(dec, "rule") ?: "x", "reason",
                     ctl_jstr(dec, "reason") ?: "-");
    snprintf(path, sizeof path, "/v1/retrievals/%s/declines", esc);
  }
  if (body)
    ctl_http_call_status(h, "POST", path, body, &status, &ans);
  json_decref(body);
  json_decref(ans);
  return (status >= 200 && status < 300) || status == 409;
}

size_t ctl_cust_batch_send(ctl_cust_batch *b, ctl_http *h)
{
  size_t n = 0;

  for (size_t i = 0; i < b->n; i++) {
    ctl_cust_item *it = &b->it[i];
    if (it->dec && (it->sent = act(h, it->id, it->dec)))
      n++;
  }
  return n;
}

int ctl_cust_batch_done(ctl_cust_batch *b, const char *dir)
{
  ctl_cust_state st;
  ke_buf lines = {0};
  int rc;

  if ((rc = ctl_cust_open(&st, dir)))
    return rc;
  for (size_t i = 0; i < b->n && !rc; i++)
    if (b->it[i].sent) {
      ctl_cust_mark_done(&st, b->it[i].id);
      rc = ctl_cust_log_add(&lines, b->it[i].id, "sent", NULL, NULL);
    }
  if (rc) {
    ctl_cust_close(&st);
    ke_buf_free(&lines);
    return rc;
  }
  if (!(rc = ctl_cust_commit(&st)))
    rc = ctl_cust_log_flush(dir, &lines);
  else
    ke_buf_free(&lines);
  return rc;
}

void ctl_cust_batch_free(ctl_cust_batch *b)
{
  for (size_t i = 0; i < b->n; i++) {
    json_decref(b->it[i].dec);
    if (b->it[i].r) {
      ke_wipe(b->it[i].r, sizeof *b->it[i].r);
      free(b->it[i].r);
    }
  }
  free(b->it);
  json_decref(b->snap.j);
  ctl_approve_log_free(&b->log);
  memset(b, 0, sizeof *b);
}
