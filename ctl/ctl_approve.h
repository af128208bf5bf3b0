/*
 * ctl_approve.h - a custodian's checks of a retrieval request from the
 * server (ctl_approve.c), shared by `approve` and `custodian serve`.
 */
#ifndef CTL_APPROVE_H
#define CTL_APPROVE_H

#include <jansson.h>

#include "ctl_http.h"
#include "ctl_logview.h"
#include "ke_files.h"

/* GET /v1/retrievals/ID: *r parsed and verified, *view (a new reference)
 * the server's status, checked to agree with it.  CTL_OK or an exit code
 * (printed); *forged (may be NULL) is 1 when the server answered and the
 * answer does not verify, 0 for an HTTP or transport failure. */
int ctl_approve_fetch(ctl_http *h, const char *id, ke_request *r, json_t **view, int *forged);

/* The signed statement (r->has_requester) names the requester and the
 * record of the view.  CTL_OK or CTL_FAIL (printed). */
int ctl_approve_same_request(const ke_request *r, const json_t *view);

/* The record is an older one (superseded or rotated: the server's word,
 * as its view says), not the volume's current key; say_older says so
 * loudly, for a person deciding. */
int ctl_approve_older(const json_t *view);
void ctl_approve_say_older(const json_t *view);

/* The record's escrow event is proven in the signed log (log_key: as for
 * `audit verify`, NULL for the default).  CTL_OK or an exit code (printed). */
int ctl_approve_in_log(ctl_http *h, const char *log_key, const ke_request *r, const json_t *view);

/* The same check for several requests in a row (a policy custodian's
 * queue round): the log view - a fresh checkpoint, consistent with the one
 * saved before - is taken at the first request that needs it and serves
 * the others, and so does its failure (a network failure means "later"
 * for all of them; a refused view refuses all).  Every request is still
 * proven by its own inclusion proof; one whose event is past the view's
 * checkpoint (escrowed since) gets a fresh view.  Zero it before the
 * first use. */
typedef struct ctl_approve_log {
  ctl_logview lv;
  int opened, rc; /* rc: ctl_logview_open's, once opened */
} ctl_approve_log;
int ctl_approve_in_view(ctl_approve_log *l, ctl_http *h, const char *log_key, const ke_request *r,
                        const json_t *view);
void ctl_approve_log_free(ctl_approve_log *l);

#endif
