/*
 * GET /v1/audit/checkpoint[?fresh=1][&format=note] (public) - the latest
 * signed tree head: a C2SP tlog-checkpoint signed note (docs/audit.md 3).
 *
 * fresh=1 first sequences what is queued and signs a checkpoint of the
 * current tree if it grew (the checkpointer otherwise does that every
 * audit_checkpoint_interval_ms).  format=note answers with the note alone,
 * as text/plain, for witnesses and note verifiers; the default is JSON:
 *
 *   {"checkpoint":"<note>","origin":...,"tree_size":N,"root":"<base64>",
 *    "key_name":...,"verifier_key":"<name>+<id>+<base64 key>"}
 *
 * The JSON's fields are a convenience: a client pins the verifier key
 * out of band and trusts only what the note's signature covers.
 */
#include <stdlib.h>
#include <string.h>

#include "srv_audit_http.h"
#include "srv_routes.h"

static int srv_ep_flag(struct srv_request *req, const char *name, const char *yes, int *out,
                       enum MHD_Result *ret)
{
  const char *v = srv_request_query(req, name);

  *out = 0;
  if (!v)
    return 0;
  if (strcmp(v, yes) == 0) {
    *out = 1;
    return 0;
  }
  *ret =
    srv_reply_error(req, SRV_ERR_BAD_REQUEST,
                    strcmp(name, "fresh") == 0 ? "'fresh' must be 1" : "'format' must be 'note'");
  return -1;
}

enum MHD_Result srv_ep_audit_checkpoint(struct srv_request *req)
{
  struct srv_audit_cp cp;
  enum MHD_Result ret;
  int fresh, note_only, rc;
  ke_note_verifier v;
  char *vkey = NULL;
  json_t *body;

  if (srv_ep_flag(req, "fresh", "1", &fresh, &ret) < 0 ||
      srv_ep_flag(req, "format", "note", &note_only, &ret) < 0)
    return ret;
  if (fresh) {
    int64_t moved;
    do
      moved = srv_audit_sequence_batch();
    while (moved == SRV_AUDIT_BATCH);
    rc = srv_audit_checkpoint_make(&cp);
  } else {
    rc = srv_audit_checkpoint_latest(&cp);
  }
  if (rc != 0)
    return srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
  if (note_only) {
    ret = srv_reply_text(req, MHD_HTTP_OK, "text/plain; charset=utf-8", cp.note, strlen(cp.note));
    free(cp.note);
    return ret;
  }
  ke_note_key_verifier(srv_audit_key(), &v);
  if (ke_note_vkey_format(&v, &vkey) != KE_OK) {
    free(cp.note);
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  }
  body =
    json_pack("{s:s,s:s,s:I,s:o,s:s,s:s}", "checkpoint", cp.note, "origin", v.name, "tree_size",
              (json_int_t)cp.size, "root", srv_audit_b64_json(cp.root, sizeof cp.root), "key_name",
              v.name, "verifier_key", vkey);
  free(cp.note);
  free(vkey);
  return body ? srv_reply_json(req, MHD_HTTP_OK, body)
              : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
}
