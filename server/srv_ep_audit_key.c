/*
 * GET /v1/audit/key (public) - the audit log's public key:
 *
 *   {"key_name":"escrow.example.org/audit","key_id":"f60e6d1e",
 *    "public_key":"<standard base64 of the 32-byte Ed25519 key>",
 *    "verifier_key":"escrow.example.org/audit+f60e6d1e+AQOh..."}
 *
 * verifier_key is the Go sumdb/note "vkey" form that note verifiers and
 * `escrowctl audit verify --log-key` take.  Fetching it over the network
 * is for comparison only: pin it from a trusted channel.
 */
#include <stdio.h>
#include <stdlib.h>

#include "srv_audit_http.h"
#include "srv_routes.h"

enum MHD_Result srv_ep_audit_key(struct srv_request *req)
{
  ke_note_verifier v;
  char *vkey = NULL, id[9];
  json_t *body;

  if (!srv_audit_key())
    return srv_reply_error(req, SRV_ERR_AUDIT_UNAVAILABLE, NULL);
  ke_note_key_verifier(srv_audit_key(), &v);
  if (ke_note_vkey_format(&v, &vkey) != KE_OK)
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  snprintf(id, sizeof id, "%08lx", (unsigned long)v.key_id);
  body = json_pack("{s:s,s:s,s:o,s:s}", "key_name", v.name, "key_id", id, "public_key",
                   srv_audit_b64_json(v.pub, sizeof v.pub), "verifier_key", vkey);
  free(vkey);
  return body ? srv_reply_json(req, MHD_HTTP_OK, body)
              : srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
}
