/*
 * Witness cosignatures of checkpoints (c2sp.org/tlog-cosignature; schema
 * 011).  escrowd does not talk to witnesses itself: a relay (the auditor's
 * tooling, or a c2sp.org/tlog-witness client) hands a checkpoint to the
 * witnesses and posts what they cosigned back here.
 *
 * POST /v1/audit/cosignatures (auditor) {"checkpoint": "<note>"}: the note
 * must be a checkpoint this log signed and stored, with at least one more
 * signature line shaped like an Ed25519 cosignature (at most 16).  The
 * lines are stored; the server cannot verify them (it is not told the
 * witnesses' keys) and does not need to: clients that require a witness
 * verify its line themselves (ke_cosig.h).  201 {"tree_size":N,"stored":K}.
 *
 * GET /v1/audit/checkpoint/cosigned (public): the largest checkpoint that
 * has cosignatures, as text/plain: the log's note followed by the newest
 * line of each witness.  404 not_found when nothing was cosigned yet.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_cosig.h"
#include "srv_audit_http.h"
#include "srv_routes.h"

#define SRV_COSIG_MAX_LINES 16
#define SRV_COSIG_MAX_NOTE 65536

struct srv_cosig_post {
  ke_note_checkpoint cp;
  const char *note;
  size_t body_len;
  const char *lines[SRV_COSIG_MAX_LINES];
  size_t lens[SRV_COSIG_MAX_LINES];
  char names[SRV_COSIG_MAX_LINES][KE_NOTE_MAX_NAME + 1];
  size_t n;
  int missing, other;   /* no stored checkpoint of that size; another body */
  int stored;
};

static enum srv_db_status srv_cosig_post_txn(struct srv_db *db, void *cls)
{
  struct srv_cosig_post *p = cls;
  char size[24];
  const char *p1[1] = {size};
  enum srv_db_status st;
  PGresult *r;

  p->stored = 0;
  snprintf(size, sizeof size, "%llu", (unsigned long long)p->cp.size);
  if (!(r = srv_db_exec(db, SRV_STMT_AUDIT_CP_NOTE, p1, &st)))
    return st;
  p->missing = PQntuples(r) != 1;
  /* Ed25519 is deterministic: our checkpoint of this size has one text. */
  p->other = !p->missing && (strlen(PQgetvalue(r, 0, 0)) < p->body_len ||
                             memcmp(PQgetvalue(r, 0, 0), p->note, p->body_len) != 0);
  PQclear(r);
  if (p->missing || p->other)
    return SRV_DB_ABORT;
  for (size_t i = 0; i < p->n; i++) {
    char *line = strndup(p->lines[i], p->lens[i]);
    const char *p3[3] = {size, p->names[i], line};
    if (!line)
      return SRV_DB_ERROR;
    r = srv_db_exec(db, SRV_STMT_AUDIT_COSIG_INSERT, p3, &st);
    free(line);
    if (!r)
      return st;
    p->stored += atoi(PQcmdTuples(r));
    PQclear(r);
  }
  return SRV_DB_OK;
}

/* The foreign signature lines of the note into p; NULL or the 400 message. */
static const char *srv_cosig_lines(struct srv_cosig_post *p, size_t len, const char *own)
{
  const char *sigs, *q, *nl, *end;
  size_t sigs_len, ownlen = strlen(own);

  if (ke_cosig_split(p->note, len, &p->body_len, &sigs, &sigs_len) != KE_OK)
    return "checkpoint: not a signed note";
  end = sigs + sigs_len;
  for (q = sigs; q < end; q = nl + 1) {
    char name[KE_NOTE_MAX_NAME + 1];
    nl = memchr(q, '\n', (size_t)(end - q));
    /* "— " (4 bytes) then our own name: the log's own signature. */
    if ((size_t)(nl - q) > 4 + ownlen && memcmp(q + 4, own, ownlen) == 0 && q[4 + ownlen] == ' ')
      continue;
    if (!ke_cosig_line_valid(q, (size_t)(nl - q), name))
      return "checkpoint: a signature line is not an Ed25519 cosignature (c2sp.org/tlog-cosignature)";
    if (p->n == SRV_COSIG_MAX_LINES)
      return "checkpoint: at most 16 cosignatures at a time";
    p->lines[p->n] = q;
    p->lens[p->n] = (size_t)(nl - q);
    snprintf(p->names[p->n], sizeof p->names[p->n], "%s", name);
    p->n++;
  }
  return p->n ? NULL : "checkpoint: no cosignature besides the log's own signature";
}

enum MHD_Result srv_ep_audit_cosig_post(struct srv_request *req)
{
  const json_t *body = srv_request_json(req);
  const char *note = json_string_value(json_object_get(body, "checkpoint")), *bad;
  struct srv_cosig_post *p;
  ke_note_verifier v;
  enum srv_db_status st;
  enum MHD_Result ret;
  size_t len;

  if (!srv_audit_key())
    return srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
  if (!json_is_object(body) || json_object_size(body) != 1 || !note ||
      (len = strlen(note)) > SRV_COSIG_MAX_NOTE)
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                           "the body is {\"checkpoint\": \"<cosigned checkpoint note>\"}");
  if (!(p = calloc(1, sizeof *p)))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  p->note = note;
  ke_note_key_verifier(srv_audit_key(), &v);
  if (ke_note_checkpoint_open(&v, note, len, &p->cp) != KE_OK)
    bad = "checkpoint: not a checkpoint signed by this log's key";
  else
    bad = srv_cosig_lines(p, len, v.name);
  if (bad) {
    free(p);
    return srv_reply_error(req, SRV_ERR_BAD_REQUEST, bad);
  }
  st = srv_db_txn(SRV_DB_READ_COMMITTED, srv_cosig_post_txn, p);
  if (st == SRV_DB_ABORT && p->missing)
    ret = srv_reply_error(req, SRV_ERR_NOT_FOUND, "this log stored no checkpoint of that size");
  else if (st == SRV_DB_ABORT)
    ret = srv_reply_error(req, SRV_ERR_CONFLICT, "another checkpoint of that size");
  else if (st != SRV_DB_OK)
    ret = srv_audit_reply_db(req, st);
  else {
    json_t *out = json_pack("{s:I,s:i}", "tree_size", (json_int_t)p->cp.size, "stored",
                            p->stored);
    ret = out ? srv_reply_json(req, MHD_HTTP_CREATED, out)
              : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  free(p);
  return ret;
}

struct srv_cosig_get {
  char *text; /* malloc'd note with the cosignature lines; NULL: none */
};

static enum srv_db_status srv_cosig_get_txn(struct srv_db *db, void *cls)
{
  struct srv_cosig_get *g = cls;
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_AUDIT_COSIGNED_LATEST, NULL, &st);

  if (!r)
    return st;
  free(g->text);
  g->text = NULL;
  if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 1)) {
    const char *note = PQgetvalue(r, 0, 0), *lines = PQgetvalue(r, 0, 1);
    size_t n = strlen(note), m = strlen(lines);
    if ((g->text = malloc(n + m + 2))) {
      memcpy(g->text, note, n);
      memcpy(g->text + n, lines, m);
      g->text[n + m] = '\n';
      g->text[n + m + 1] = '\0';
    }
  }
  PQclear(r);
  return SRV_DB_OK;
}

enum MHD_Result srv_ep_audit_cosig_get(struct srv_request *req)
{
  struct srv_cosig_get g = {NULL};
  enum srv_db_status st = srv_db_txn(SRV_DB_READ_ONLY, srv_cosig_get_txn, &g);
  enum MHD_Result ret;

  if (st != SRV_DB_OK)
    return srv_audit_reply_db(req, st);
  if (!g.text)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "no checkpoint has been cosigned yet");
  ret = srv_reply_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", g.text, strlen(g.text));
  free(g.text);
  return ret;
}
