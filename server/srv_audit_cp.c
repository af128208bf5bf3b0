/*
 * srv_audit_cp.c - signed checkpoints (C2SP tlog-checkpoint notes).
 *
 * While the tree grows, a thread signs a checkpoint of the current head
 * every audit_checkpoint_interval_ms; GET /v1/audit/checkpoint?fresh=1 does
 * the same on demand.  Before signing, the server checks, in one snapshot,
 * that what it is about to sign extends what it signed last:
 *   - the latest stored checkpoint verifies under our own log key;
 *   - the root recomputed from the stored subtree hashes equals the head's;
 *   - a consistency proof from the stored checkpoint to the head, built
 *     from those hashes, verifies (RFC 9162 2.1.4.2).
 * So a database edited behind the server's back (a rewritten subtree, a
 * head rolled back or forward) makes it refuse to sign, loudly, instead of
 * signing a forked history.  Checkpoints of the same size signed by two
 * instances are identical (Ed25519 is deterministic; one key per log):
 * the first stored row wins.
 */
#include "srv_audit_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ke_log.h"
#include "srv_rows.h"

static struct {
  pthread_mutex_t mu;  /* one signer at a time in this process */
  pthread_mutex_t wmu; /* the thread's sleep */
  pthread_cond_t cv;
  pthread_t thread;
  int running, stop;
  unsigned interval_ms;
} srv_cp = {.mu = PTHREAD_MUTEX_INITIALIZER,
            .wmu = PTHREAD_MUTEX_INITIALIZER,
            .cv = PTHREAD_COND_INITIALIZER};

struct srv_cp_state {
  struct srv_audit_head head;
  int have_latest;
  struct srv_audit_cp latest;
  int refuse; /* the self-check failed (logged) */
};

static void srv_cp_clear(struct srv_audit_cp *cp)
{
  free(cp->note);
  memset(cp, 0, sizeof *cp);
}

struct srv_cp_row {
  int64_t tree_size;
  uint8_t root[KE_MERKLE_HASH_LEN];
  const char *note;
};
static const struct srv_col srv_cp_cols[] = {SRV_COL_INT64(struct srv_cp_row, tree_size),
                                             SRV_COL_BYTEA(struct srv_cp_row, root),
                                             SRV_COL_TEXT(struct srv_cp_row, note), SRV_COL_END};

/* A transaction body as well (cls: struct srv_cp_state). */
static enum srv_db_status srv_cp_read_latest(struct srv_db *db, void *cls)
{
  struct srv_cp_state *s = cls;
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_AUDIT_CP_LATEST, NULL, &st);
  struct srv_cp_row row;

  srv_cp_clear(&s->latest);
  s->have_latest = 0;
  if (!r)
    return st;
  if (PQntuples(r) == 1) {
    if (srv_row_read(r, 0, srv_cp_cols, &row) != 0 || !(s->latest.note = strdup(row.note))) {
      st = SRV_DB_ERROR;
    } else {
      s->latest.size = row.tree_size;
      memcpy(s->latest.root, row.root, sizeof row.root);
      s->have_latest = 1;
    }
  }
  PQclear(r);
  return st;
}

static enum srv_db_status srv_cp_refuse(struct srv_cp_state *s, const char *why)
{
  ke_log(KE_LOG_ERROR,
         "refusing to sign an audit checkpoint: the stored log does not "
         "extend the last signed checkpoint (database edited?)",
         json_pack("{s:s,s:I,s:I}", "reason", why, "checkpoint_size", (json_int_t)s->latest.size,
                   "head_size", (json_int_t)s->head.size));
  s->refuse = 1;
  return SRV_DB_OK;
}

/* Read-only snapshot: the head, the latest checkpoint, and the self-check. */
static enum srv_db_status srv_cp_check_body(struct srv_db *db, void *cls)
{
  struct srv_cp_state *s = cls;
  enum srv_db_status st;
  uint8_t root[KE_MERKLE_HASH_LEN];
  ke_merkle_path proof;

  s->refuse = 0;
  if ((st = srv_audit_head_read(db, &s->head)) != SRV_DB_OK ||
      (st = srv_cp_read_latest(db, s)) != SRV_DB_OK)
    return st;
  if (s->have_latest && s->head.size <= s->latest.size) {
    if (s->head.size < s->latest.size)
      srv_cp_refuse(s, "the head is smaller than the last checkpoint");
    return SRV_DB_OK; /* nothing new to sign */
  }
  st = srv_audit_root_at(db, (uint64_t)s->head.size, root);
  if (st == SRV_DB_ABORT)
    return srv_cp_refuse(s, "a stored subtree is missing");
  if (st != SRV_DB_OK)
    return st;
  if (CRYPTO_memcmp(root, s->head.root, sizeof root) != 0)
    return srv_cp_refuse(s, "the head's root differs from the stored subtrees");
  if (!s->have_latest)
    return SRV_DB_OK;
  {
    ke_note_verifier v;
    ke_note_checkpoint cp;
    ke_note_key_verifier(srv_audit_key(), &v);
    if (ke_note_checkpoint_open(&v, s->latest.note, strlen(s->latest.note), &cp) != KE_OK ||
        cp.size != (uint64_t)s->latest.size ||
        CRYPTO_memcmp(cp.root, s->latest.root, sizeof cp.root) != 0)
      return srv_cp_refuse(s, "the last stored checkpoint is not signed by this log key "
                              "(every instance must share audit_key_file)");
  }
  st = srv_audit_consistency(db, (uint64_t)s->latest.size, (uint64_t)s->head.size, &proof);
  if (st == SRV_DB_ABORT)
    return srv_cp_refuse(s, "a stored subtree is missing");
  if (st != SRV_DB_OK)
    return st;
  if (ke_merkle_verify_consistency((uint64_t)s->latest.size, (uint64_t)s->head.size, s->latest.root,
                                   s->head.root, &proof) != KE_OK)
    return srv_cp_refuse(s, "the consistency proof from the last checkpoint fails");
  return SRV_DB_OK;
}

struct srv_cp_insert {
  const struct srv_audit_cp *cp;
  struct srv_cp_state *s;
};

static enum srv_db_status srv_cp_insert_body(struct srv_db *db, void *cls)
{
  struct srv_cp_insert *in = cls;
  char size[24], root[2 * KE_MERKLE_HASH_LEN + 3];
  const char *params[3] = {size, root, in->cp->note};
  enum srv_db_status st;
  PGresult *r;

  snprintf(size, sizeof size, "%lld", (long long)in->cp->size);
  srv_bytea_param(root, in->cp->root, KE_MERKLE_HASH_LEN);
  if (!(r = srv_db_exec(db, SRV_STMT_AUDIT_CP_INSERT, params, &st)))
    return st;
  PQclear(r);
  return srv_cp_read_latest(db, in->s);
}

int srv_audit_checkpoint_make(struct srv_audit_cp *out)
{
  struct srv_cp_state s;
  struct srv_audit_cp mine;
  struct srv_cp_insert in = {&mine, &s};
  size_t notelen;
  int rc = -1;

  memset(&s, 0, sizeof s);
  memset(&mine, 0, sizeof mine);
  memset(out, 0, sizeof *out);
  if (!srv_audit_key())
    return -1;
  pthread_mutex_lock(&srv_cp.mu);
  if (srv_db_txn(SRV_DB_READ_ONLY, srv_cp_check_body, &s) != SRV_DB_OK || s.refuse)
    goto out;
  if (!s.have_latest || s.head.size > s.latest.size) {
    mine.size = s.head.size;
    memcpy(mine.root, s.head.root, sizeof mine.root);
    if (ke_note_checkpoint_sign(srv_audit_key(), (uint64_t)mine.size, mine.root, &mine.note,
                                &notelen) != KE_OK)
      goto out;
    if (srv_db_txn(SRV_DB_SERIALIZABLE, srv_cp_insert_body, &in) != SRV_DB_OK || !s.have_latest)
      goto out;
  }
  *out = s.latest;
  memset(&s.latest, 0, sizeof s.latest);
  rc = 0;
out:
  pthread_mutex_unlock(&srv_cp.mu);
  srv_cp_clear(&mine);
  srv_cp_clear(&s.latest);
  return rc;
}

int srv_audit_checkpoint_latest(struct srv_audit_cp *out)
{
  struct srv_cp_state s;

  memset(&s, 0, sizeof s);
  memset(out, 0, sizeof *out);
  if (srv_db_txn(SRV_DB_READ_ONLY, srv_cp_read_latest, &s) != SRV_DB_OK)
    return -1;
  if (!s.have_latest)
    return srv_audit_checkpoint_make(out);
  *out = s.latest;
  return 0;
}

static void *srv_cp_main(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&srv_cp.wmu);
  while (!srv_cp.stop) {
    struct timespec until;
    struct srv_audit_cp cp;

    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + (long)(srv_cp.interval_ms % 1000) * 1000000L;
    until.tv_sec += srv_cp.interval_ms / 1000 + ns / 1000000000L;
    until.tv_nsec = ns % 1000000000L;
    while (!srv_cp.stop && pthread_cond_timedwait(&srv_cp.cv, &srv_cp.wmu, &until) != ETIMEDOUT)
      ;
    if (srv_cp.stop)
      break;
    pthread_mutex_unlock(&srv_cp.wmu);
    if (srv_audit_checkpoint_make(&cp) == 0)
      srv_cp_clear(&cp);
    pthread_mutex_lock(&srv_cp.wmu);
  }
  pthread_mutex_unlock(&srv_cp.wmu);
  return NULL;
}

int srv_audit_cp_start(const struct srv_config *cfg)
{
  srv_cp.interval_ms = cfg->audit_checkpoint_interval_ms ? cfg->audit_checkpoint_interval_ms : 2000;
  srv_cp.stop = 0;
  if (pthread_create(&srv_cp.thread, NULL, srv_cp_main, NULL) != 0) {
    ke_logf(KE_LOG_ERROR, "cannot start the audit checkpoint thread");
    return -1;
  }
  srv_cp.running = 1;
  return 0;
}

void srv_audit_cp_stop(void)
{
  struct srv_audit_cp cp;

  if (!srv_cp.running)
    return;
  pthread_mutex_lock(&srv_cp.wmu);
  srv_cp.stop = 1;
  pthread_cond_signal(&srv_cp.cv);
  pthread_mutex_unlock(&srv_cp.wmu);
  pthread_join(srv_cp.thread, NULL);
  srv_cp.running = 0;
  /* A last checkpoint that covers everything sequenced before the stop. */
  if (srv_audit_checkpoint_make(&cp) == 0)
    srv_cp_clear(&cp);
}
