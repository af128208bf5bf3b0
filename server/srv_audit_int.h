/*
 * srv_audit_int.h - what the audit modules share among themselves:
 *   srv_audit.c        append and sequence (the public srv_audit.h)
 *   srv_audit_run.c    start/stop, log key, background sequencer thread
 *   srv_audit_tree.c   tree head, proofs from stored subtree hashes
 *   srv_audit_cp.c     signed checkpoints and the checkpointer thread
 *   srv_audit_syslog.c RFC 5424 JSON lines to a collector
 *   srv_ep_audit_*.c   the HTTP endpoints
 */
#ifndef SRV_AUDIT_INT_H
#define SRV_AUDIT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ke_merkle.h"
#include "ke_note.h"
#include "srv_config.h"
#include "srv_db.h"

#define SRV_AUDIT_MAX_LEAF 65536 /* bytes of one leaf (schema: queue CHECK) */
#define SRV_AUDIT_MAX_ACTION 64
#define SRV_AUDIT_MAX_OBJECT 256 /* also the longest actor */
#define SRV_AUDIT_TIME_LEN 32
#define SRV_AUDIT_BATCH 1000    /* events per sequencing statement */
#define SRV_AUDIT_PAGE_MAX 1000 /* entries per GET /v1/audit/entries */
/* Largest size or index the API accepts: seq is a JSON integer <= 2^53-1
 * (docs/audit.md 1.2). */
#define SRV_AUDIT_MAX_INDEX INT64_C(9007199254740991)

/* ---- srv_audit.c ---------------------------------------------------------- */
/* "2024-05-01T12:00:00.123Z" */
void srv_audit_time_now(char out[SRV_AUDIT_TIME_LEN]);
/* Parse a bytea result column ("\x<hex>"); *out malloc'd.  0 or -1. */
int srv_audit_bytea_parse(const char *text, uint8_t **out, size_t *len);

/* ---- srv_audit_run.c ------------------------------------------------------ */
/* 0 only in bench_auditd's "log off" run (never in escrowd: there is no
 * configuration key for it). */
int srv_audit_enabled(void);
void srv_audit_bench_disable(void);
/* Wake the background sequencer (after a commit nobody waits on). */
void srv_audit_kick(void);
/* After the commit of queued event `queue_id`: wait for a pass of the
 * sequencer thread that started after this call (so it saw the event).
 * 0 = *seq is its index; 1 = the pass is over but another instance took
 * the event (look it up); -1 = the thread is not running or did not
 * answer in time (sequence it yourself). */
int srv_audit_wait_pass(int64_t queue_id, int64_t *seq);
/* Leaves [first, first + count) were just sequenced by this process. */
void srv_audit_sequenced(int64_t first, int64_t count);
/* The log key (NULL before srv_audit_start) and its verifier. */
const ke_note_key *srv_audit_key(void);
/* One batch of the sequencer on this thread's connection: moved rows or -1. */
int64_t srv_audit_sequence_batch(void);

/* ---- srv_audit_tree.c ----------------------------------------------------- */
struct srv_audit_head {
  int64_t size;
  uint8_t root[KE_MERKLE_HASH_LEN];
};
/* All inside the caller's transaction.  Return SRV_DB_OK, SRV_DB_ABORT when
 * the stored tree lacks a node it should have (logged: tampering or a bug)
 * or another status. */
enum srv_db_status srv_audit_head_read(struct srv_db *db, struct srv_audit_head *h);
/* index < size <= the stored head's size (checked by the caller). */
enum srv_db_status srv_audit_inclusion(struct srv_db *db, uint64_t index, uint64_t size,
                                       ke_merkle_path *out);
enum srv_db_status srv_audit_consistency(struct srv_db *db, uint64_t from, uint64_t to,
                                         ke_merkle_path *out);
/* MTH of leaves [0, size) from the stored subtrees. */
enum srv_db_status srv_audit_root_at(struct srv_db *db, uint64_t size,
                                     uint8_t out[KE_MERKLE_HASH_LEN]);

/* ---- srv_audit_cp.c ------------------------------------------------------- */
struct srv_audit_cp {
  int64_t size;
  uint8_t root[KE_MERKLE_HASH_LEN];
  char *note; /* malloc'd signed note */
};
/* Sign a checkpoint of the current head if it is newer than the latest
 * stored one (or none is stored), after checking that it extends that
 * one.  Then return the latest in *out (free out->note).  0 or -1. */
int srv_audit_checkpoint_make(struct srv_audit_cp *out);
/* The latest stored checkpoint (none: making one).  0 or -1. */
int srv_audit_checkpoint_latest(struct srv_audit_cp *out);
int srv_audit_cp_start(const struct srv_config *cfg);
void srv_audit_cp_stop(void);

/* ---- srv_audit_syslog.c --------------------------------------------------- */
int srv_audit_syslog_start(const struct srv_config *cfg);
void srv_audit_syslog_range(int64_t first, int64_t count);
void srv_audit_syslog_stop(void);

#endif
