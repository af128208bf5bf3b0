/*
 * ctl_approve.h - a custodian's checks of a retrieval request from the
 * server (ctl_approve.c), shared by `approve` and `custodian serve`.
 */
#ifndef CTL_APPROVE_H
#define CTL_APPROVE_H

#include <jansson.h>

#include "ctl_http.h"
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

#endif
