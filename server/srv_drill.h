/*
 * srv_drill.h - what the drill endpoints (srv_ep_drills*.c) share: the
 * columns of DRILL_GET and the public view of one drill.
 */
#ifndef SRV_DRILL_H
#define SRV_DRILL_H

#include <jansson.h>
#include <libpq-fe.h>

enum srv_drill_col {
  SRV_DC_ID, SRV_DC_AUDITOR_ID, SRV_DC_AUDITOR, SRV_DC_PERSON, SRV_DC_SELECTION, SRV_DC_E,
  SRV_DC_STATE, SRV_DC_CREATED, SRV_DC_CLOSED, SRV_DC_NRECORDS, SRV_DC_INDICES, SRV_DC_RESULT,
  SRV_DC_NONCE,
};

/* Row 0 of DRILL_GET as the drill's metadata (no envelope); NULL on error. */
json_t *srv_drill_view(const PGresult *r);

/* The view with the signed statement of DRILL_SIGNED's row (s; none:
 * "signed": false) added: statement, statement_signature, auditor_key,
 * expires, mode (srv_ep_drills_sign.c).  Takes view; NULL on error. */
json_t *srv_drill_signed_view(json_t *view, const PGresult *s);

#endif
