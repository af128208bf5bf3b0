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
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_COSIG_MAX_LINES 16
#define SRV_COSIG_MAX_NOTE 65536

struct srv_cosig_body {
  const char *checkpoint;
};
static const struct ke_jfield srv_cosig_fields[] = {
  KE_JF_STR(struct srv_cosig_body, checkpoint, 0, SRV_COSIG_MAX_NOTE, NULL, NULL), KE_JF_END};
const struct ke_jspec srv_ep_audit_cosig_post_body =
  KE_JSPEC(struct srv_cosig_body, srv_cosig_fields, 0);

struct srv_cosig_post {
  ke_note_checkpoint cp;
  const char *note;
  size_t body_len;
  const char *lines[SRV_COSIG_MAX_LINES];
  size_t lens[SRV_COSIG_MAX_LINES];
  char names[SRV_COSIG_MAX_LINES][KE_NOTE_MAX_NAME + 1];
  size_t n;
  int stored;
  struct srv_ep_fail fail;
};

static enum srv_db_status srv_cosig_post_txn(struct srv_db *db, void *cls)
{
  struct srv_cosig_post *p = cls;
  char size[24];
  const char *p1[1] = {size}, *ours;
  enum srv_db_status st;
  PGresult *r;
  int other;

  p->stored = 0;
  snprintf(size, sizeof size, "%llu", (unsigned long long)p->cp.size);
  if (!(r = srv_db_exec(db, SRV_STMT_AUDIT_CP_NOTE, p1, &st)))
    return st;
  /* Ed25519 is deterministic: our checkpoint of this size has one text. */
  ours = srv_row_text(r, "note");
  other = ours && (strlen(ours) < p->body_len || memcmp(ours, p->note, p->body_len) != 0);
  PQclear(r);
  if (!ours)
    return srv_ep_fail(&p->fail, SRV_ERR_NOT_FOUND, "this log stored no checkpoint of that size");
  if (other)
    return srv_ep_fail(&p->fail, SRV_ERR_CONFLICT, "another checkpoint of that size");
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
      return "checkpoint: a signature line is not an Ed25519 cosignature "
             "(c2sp.org/tlog-cosignature)";
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
  struct srv_cosig_body b;
  struct srv_cosig_post *p;
  struct ke_jerr err;
  ke_note_verifier v;
  enum MHD_Result ret;
  const char *bad;
  size_t len;

  if (!srv_audit_key())
    return srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
  if (srv_ep_body_parse(req, &srv_ep_audit_cosig_post_body, &b, &err) != 0)
    return srv_ep_bad(req, "the body is {\"checkpoint\": \"<cosigned checkpoint note>\"}");
  if (!(p = calloc(1, sizeof *p)))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  p->note = b.checkpoint;
  len = strlen(b.checkpoint);
  ke_note_key_verifier(srv_audit_key(), &v);
  if (ke_note_checkpoint_open(&v, p->note, len, &p->cp) != KE_OK)
    bad = "checkpoint: not a checkpoint signed by this log's key";
  else
    bad = srv_cosig_lines(p, len, v.name);
  if (bad) {
    free(p);
    return srv_ep_bad(req, bad);
  }
  if (!srv_ep_txn(req, SRV_DB_READ_COMMITTED, srv_cosig_post_txn, p, &p->fail, &ret))
    ret = srv_reply_json(
      req, MHD_HTTP_CREATED,
      json_pack("{s:I,s:i}", "tree_size", (json_int_t)p->cp.size, "stored", p->stored));
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
  if (srv_row_text(r, "note") && srv_row_text(r, "lines")) {
    const char *note = srv_row_text(r, "note"), *lines = srv_row_text(r, "lines");
    size_t n = strlen(note) + strlen(lines) + 2;
    if ((g->text = malloc(n)))
      snprintf(g->text, n, "%s%s\n", note, lines);
  }
  PQclear(r);
  return SRV_DB_OK;
}

enum MHD_Result srv_ep_audit_cosig_get(struct srv_request *req)
{
  struct srv_cosig_get g = {0};
  enum MHD_Result ret;

  if (srv_ep_txn(req, SRV_DB_READ_ONLY, srv_cosig_get_txn, &g, NULL, &ret))
    return ret;
  if (!g.text)
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "no checkpoint has been cosigned yet");
  ret = srv_reply_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", g.text, strlen(g.text));
  free(g.text);
  return ret;
}
