/*
 * ctl_drill.h - what `escrowctl drill start|approve|run` share
 * (ctl_cmd_drill.c, ctl_cmd_drill_run.c): the drill as the server shows it,
 * parsed and checked, and the default place of the one-time key.
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
  uint8_t *envelope;            /* malloc'd */
  size_t envlen;
  ke_envelope env;              /* parsed; R and fingerprint match the record's */
  uint8_t verifier[KE_VERIFIER_LEN];
  int key;                      /* index into ctl_drill.keys */
} ctl_drill_rec;

typedef struct ctl_drill {
  char id[KE_DRILL_ID_LEN + 1], auditor[130], selection[80], state[8];
  ke_point E;
  size_t nrec, nkeys;
  ctl_drill_rec *rec;
  ke_manifest *keys;            /* the escrow keys the records are under */
  char mode[8];                 /* "full" or "canary" (a server without modes: "full") */
} ctl_drill;

/* GET /v1/drills/{id} and check every record: its envelope parses, its R
 * and fingerprint are the record's, its escrow key's manifest is given
 * and recomputes.  CTL_OK or an exit code (printed). */
int ctl_drill_fetch(ctl_http *h, const char *id, ctl_drill *d);
void ctl_drill_free(ctl_drill *d);

/* Options before and after the one DRILL argument (*id). */
int ctl_drill_args(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts,
                   ctl_opt_fn fn, void *ctx, const char **id);

/* The one-time key file: `given`, or drills/<id>.key in the configuration
 * directory (created 0700). */
int ctl_drill_key_path(char *out, size_t outlen, const char *given, const char *id);

/* What online and offline approval share (ctl_cmd_drill.c): every record
 * under one escrow key; the share belongs to it; the confirmation (--yes);
 * the batch from one unseal of the share; its upload. */
int ctl_drill_one_key(const ctl_drill *d);
int ctl_drill_check_share(const ctl_drill *d, const ke_sharefile *sf);
int ctl_drill_confirm(int yes);
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
int ctl_drill_canaries(ctl_http *h, const ke_reqkey *key, unsigned n,
                       const uint8_t pin[KE_FPR_LEN], json_t **out);
const char *ctl_drill_canary_mine(const ctl_drill_rec *r, const char *drill_id,
                                  const ke_scalar *e);
const char *ctl_drill_canary_secret(const ctl_drill_rec *r, const char *drill_id,
                                    const ke_scalar *e, const uint8_t *s, size_t len);

#endif
