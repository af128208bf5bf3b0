/*
 * ctl_drill.h - what `escrowctl drill start|approve|run|part` share
 * (ctl_cmd_drill.c, ctl_cmd_drill_run.c, ctl_cmd_drill_file.c,
 * ctl_drill_check.c): the drill as the server shows it, parsed and checked,
 * its signed statement and the custodian's checks of it.
 */
#ifndef CTL_DRILL_H
#define CTL_DRILL_H

#include <jansson.h>

#include "ctl_http.h"
#include "ctl_util.h"
#include "ke_drill.h"
#include "ke_drillfile.h"

typedef struct ctl_drill_rec {
  char id[KE_ID_MAX + 1], device[260], volume[132], key_type[16];
  uint8_t *envelope; /* malloc'd */
  size_t envlen;
  ke_envelope env;                   /* parsed; R and fingerprint match the record's */
  uint8_t verifier[KE_VERIFIER_MAX]; /* v1 or v2 (ke_verifier_parse) */
  size_t verifier_len;
  uint8_t envelope_sha256[32];       /* of envelope, computed here */
  char *escrow_event;                /* malloc'd: the escrow.store leaf the server names, or NULL */
  int64_t leaf_index;                /* its index in the log, -1 when none */
  int has_canary_proof;              /* the server showed a canary_proof (canary drills) */
  uint8_t canary_proof[KE_DLEQ_LEN]; /* proof of knowledge of R (lib/ke_canary.h) */
  int key;                           /* index into ctl_drill.keys */
} ctl_drill_rec;

typedef struct ctl_drill {
  char id[KE_DRILL_ID_LEN + 1], auditor[130], selection[80], state[8];
  ke_point E;
  size_t nrec, nkeys;
  ctl_drill_rec *rec;
  ke_manifest *keys; /* the escrow keys the records are under */
  /* The signed statement (docs/protocol.md section 9), when there is one.
   * The text is rebuilt here from the drill's own fields and the records'
   * envelopes, never taken from the server. */
  int is_signed;
  char mode[8], expires[KE_DRILL_EXPIRES_LEN + 1];
  char statement[KE_DRILL_SIGNED_MAX];
  size_t stmt_len;
  uint8_t stmt_sig[64], auditor_key[32];
  char code[KE_DRILL_CODE_LEN + 1]; /* of the statement, once checked */
} ctl_drill;

/* ---- the auditor's side: starting a drill (ctl_cmd_drill.c) ---- */
/* What `drill start` and `drill run --all|--sample|--group` share. */
typedef struct ctl_drill_sel {
  int all;
  long hours; /* --expires; 0 default (72), -1 invalid */
  const char *sample, *group, *ckey;
  const char *canary;      /* --canary N: a canary drill of N canaries */
  int pinned, bad_pin;     /* --fingerprint given; it did not parse */
  uint8_t pin[KE_FPR_LEN]; /* the current escrow key the canaries are sealed to */
  const char *mode;        /* "full" (default) or "canary" */
  char text[80];           /* the selection, once checked */
} ctl_drill_sel;

enum {
  CTL_DRILL_O_ALL = 600,
  CTL_DRILL_O_SAMPLE,
  CTL_DRILL_O_GROUP,
  CTL_DRILL_O_CKEY,
  CTL_DRILL_O_EXPIRES,
  CTL_DRILL_O_CANARY,
  CTL_DRILL_O_FPR
};
#define CTL_DRILL_SEL_OPTIONS                                                                     \
  {"all", no_argument, 0, CTL_DRILL_O_ALL}, {"sample", required_argument, 0, CTL_DRILL_O_SAMPLE}, \
    {"group", required_argument, 0, CTL_DRILL_O_GROUP},                                           \
    {"client-key", required_argument, 0, CTL_DRILL_O_CKEY},                                       \
    {"expires", required_argument, 0, CTL_DRILL_O_EXPIRES},                                       \
    {"canary", required_argument, 0, CTL_DRILL_O_CANARY},                                         \
  {                                                                                               \
    "fingerprint", required_argument, 0, CTL_DRILL_O_FPR                                          \
  }

/* 1 when opt is one of CTL_DRILL_SEL_OPTIONS (stored in s), else 0. */
int ctl_drill_sel_opt(ctl_drill_sel *s, int opt, const char *arg);
/* Check the options and make s->text.  CTL_OK or CTL_USAGE (printed). */
int ctl_drill_sel_text(ctl_drill_sel *s);
/* Start a drill: a fresh one-time key in *key (locked memory; also written
 * to key_out, mode 0600, when given), the request signed with the client
 * key, the snapshot fetched (*d), and its statement (mode, expiry, record
 * list digest) signed and posted.  Prints the id, size and confirmation
 * code on stderr.  CTL_OK or an exit code (printed). */
int ctl_drill_begin(ctl_http *h, ctl_drill_sel *s, const char *key_out, ke_reqkey *key,
                    ctl_drill *d);

/* GET /v1/drills/{id} and check every record: its envelope parses, its R
 * and fingerprint are the record's, its escrow key's manifest is given
 * and recomputes.  CTL_OK or an exit code (printed). */
int ctl_drill_fetch(ctl_http *h, const char *id, ctl_drill *d);
void ctl_drill_free(ctl_drill *d);

/* Options before and after the one DRILL argument (*id). */
int ctl_drill_args(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts,
                   ctl_opt_fn fn, void *ctx, const char **id);

/* ---- the statement (ctl_drill_check.c) ---- */
/* The record list digest of d's records (ids, SHA-256 of the envelopes),
 * hex into out.  CTL_OK or CTL_FAIL (printed). */
int ctl_drill_digest(const ctl_drill *d, char out[65]);
/* Rebuild d's statement from its fields (mode and expires must be set):
 * d->statement, d->stmt_len.  CTL_OK or CTL_FAIL (printed). */
int ctl_drill_build_statement(ctl_drill *d);
/* The custodian's check of a drill, online and offline: it is signed; its
 * statement, rebuilt from the drill as shown, verifies with the auditor's
 * key, which must be the one this custodian pinned for the auditor (an
 * unknown key is refused with its fingerprint and how to pin it, a changed
 * one loudly with both fingerprints); it has not expired.  Sets d->code.
 * CTL_OK or an exit code (printed). */
int ctl_drill_check_statement(ctl_drill *d);
/* The auditor's check before a run: the drill is signed by this auditor's
 * own client key (ckey: --client-key or the default), over the records
 * and E as shown now.  Sets d->code.  CTL_OK or an exit code (printed). */
int ctl_drill_check_own(ctl_drill *d, const char *ckey);
/* Every record's escrow.store event names its device, volume and envelope
 * digest and is proven in the signed log, consistent with this client's
 * saved checkpoint (ctl_logview.h): one view, one proof per record.  In a
 * canary drill (the signed mode) every record must be a canary of this
 * drill: device "canary", volume its id, an escrow event naming the drill
 * and a valid proof of knowledge of its R (ke_canary_verify), so that its
 * parts are public values; in a full drill no record may be a canary.
 * CTL_OK or an exit code (printed). */
int ctl_drill_prove_records(ctl_http *h, const ctl_drill *d, const char *log_key);

/* What online and offline approval share (ctl_cmd_drill.c): every record
 * under one escrow key; the share belongs to it; the confirmation (--yes);
 * the batch from one unseal of the share; its upload. */
int ctl_drill_one_key(const ctl_drill *d);
int ctl_drill_check_share(const ctl_drill *d, const ke_sharefile *sf);
int ctl_drill_confirm(const ctl_drill *d, int yes);
int ctl_drill_parts(const ctl_drill *d, const ke_sharefile *sf, const char *passfile,
                    ke_drillbatch *b);
int ctl_drill_post(ctl_http *h, const ke_drillbatch *b);
void ctl_drill_show(const ctl_drill *d);

/* The offline round trip (ctl_cmd_drill_file.c): the drill file of a
 * fetched drill; a batch file read and parsed (its drill must be `id`);
 * a batch that has exactly one part for every record of the drill. */
int ctl_drill_export(const ctl_drill *d, const char *path);
int ctl_drill_load_batch(ke_drillbatch *b, const char *path, const char *id);
int ctl_drill_batch_matches(const ctl_drill *d, const ke_drillbatch *b);

/* Canary drills (ctl_drill_canary.c): the "canaries" of the creation body,
 * n canaries of drill key->request_id sealed to the server's current
 * escrow key, which must have the pinned fingerprint; in the run, whether
 * a record is one of the drill's own canaries, and whether its opened
 * secret is the canary's (NULL, or the reason). */
int ctl_drill_canaries(ctl_http *h, const ke_reqkey *key, unsigned n, const uint8_t pin[KE_FPR_LEN],
                       json_t **out);
const char *ctl_drill_canary_mine(const ctl_drill_rec *r, const char *drill_id, const ke_scalar *e);
const char *ctl_drill_canary_secret(const ctl_drill_rec *r, const char *drill_id,
                                    const ke_scalar *e, const uint8_t *s, size_t len);

#endif
