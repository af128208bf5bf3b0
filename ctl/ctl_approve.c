/*
 * ctl_approve.c - the checks a custodian makes of a retrieval request the
 * server shows it, before any part: `escrowctl approve` (a person) and
 * `escrowctl custodian serve` (a policy custodian) make the same ones, in
 * the same code, so that neither can drift into trusting the server more.
 *
 *   fetch       the request file parses and verifies (R inside the
 *               envelope, fingerprint, envelope digest, confirmation code,
 *               the requester's signature over its id and E:
 *               ke_request_parse), and the server's status names the same
 *               id, device, volume and envelope digest
 *   same        the signed statement's account is the requester the server
 *               names, and the record it names (device or Key ID) is this one
 *   in log      the record's escrow.store event, naming this device, volume
 *               and envelope digest, is in the audit log: proven against a
 *               checkpoint signed by the pinned log key (ctl_logview.h), so
 *               that a custodian is no oracle for envelopes the server picks
 *
 * Whose key signed (the pin of the requester's client key) is the caller's
 * part: a person confirms it (ctl_requester.h), a daemon has its own pins.
 */
#include "ctl_approve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl_logview.h"
#include "ke_util.h"

/* GET the request; *r parsed and checked against the status view. */
int ctl_approve_fetch(ctl_http *h, const char *id, ke_request *r, json_t **view, int *forged)
{
  char path[200], *text = NULL, esc[128];
  json_t *ans = NULL;
  ke_ferr ferr;
  int rc;

  *view = NULL;
  if (forged)
    *forged = 0;
  if ((rc = ctl_http_escape(esc, sizeof esc, id)))
    return rc;
  snprintf(path, sizeof path, "/v1/retrievals/%s", esc);
  if ((rc = ctl_http_call(h, "GET", path, NULL, &ans)))
    return rc;
  rc = CTL_FAIL;
  if (forged)
    *forged = 1; /* from here on, a failure is the answer's */
  if (!(text = json_dumps(json_object_get(ans, "request"), JSON_COMPACT)) ||
      ke_request_parse(r, text, strlen(text), &ferr) != KE_OK) {
    ctl_errf("the server's request file does not verify (%s): refusing",
             text ? ferr.msg : "missing");
    goto out;
  }
  *view = json_incref(json_object_get(ans, "retrieval"));
  char hex[65];
  const char *vs = ctl_jstr(*view, "envelope_sha256");
  ke_hex_encode(hex, r->envelope_sha256, 32);
  if (strcmp(r->request_id, id) != 0 || !vs || strcmp(vs, hex) != 0 ||
      strcmp(ctl_jstr(*view, "device_id") ?: "", r->device) != 0 ||
      strcmp(ctl_jstr(*view, "volume_id") ?: "", r->volume) != 0) {
    ctl_errf("the server's status and request file disagree (id, device, volume or "
             "envelope): refusing");
    goto out;
  }
  rc = CTL_OK;
  if (forged)
    *forged = 0;
out:
  if (rc) {
    json_decref(*view);
    *view = NULL;
  }
  free(text);
  json_decref(ans);
  return rc;
}

/* The signed statement names the record as the requester did: a device id
 * or hostname (and volume), or a Key ID prefix.  It must name this record,
 * or the server resolved the name to another envelope than asked for. */
static int named_this(const ke_request *r, const json_t *v)
{
  const ke_retrieval_signed *q = &r->requester;
  const char *host = ctl_jstr(v, "hostname") ?: "";
  const char *kid = ctl_jstr(v, "key_id") ?: "", *pre = q->key_id;

  if (q->record[0]) /* by id: that record and no other (an older one too) */
    return strcmp(q->record, ctl_jstr(v, "record_id") ?: "") == 0;
  if (q->device[0])
    return (strcmp(q->device, r->device) == 0 || strcasecmp(q->device, host) == 0) &&
           (!q->volume[0] || strcmp(q->volume, r->volume) == 0);
  /* As the server matches a prefix: braces and case ignored. */
  while (*kid == '{')
    kid++;
  while (*pre == '{')
    pre++;
  return *pre && strncasecmp(kid, pre, strlen(pre)) == 0;
}

/* The signed statement is the one the server's view describes: the same
 * requester account, and the record it names is this one. */
int ctl_approve_same_request(const ke_request *r, const json_t *view)
{
  if (strcmp(r->requester.user, ctl_jstr(view, "requester") ?: "") != 0)
    return ctl_err(CTL_FAIL, "the server names requester %s, the signature %s: refusing",
                   ctl_jstr(view, "requester") ?: "?", r->requester.user);
  if (!named_this(r, view))
    return ctl_err(CTL_FAIL,
                   "the requester signed a request for %s%s%s, but the server made it "
                   "one for device %s volume %s (record %s): refusing",
                   r->requester.record[0]   ? "record "
                   : r->requester.key_id[0] ? "Key ID "
                                            : "device ",
                   r->requester.record[0]   ? r->requester.record
                   : r->requester.key_id[0] ? r->requester.key_id
                                            : r->requester.device,
                   r->requester.volume[0] ? " (that volume)" : "", r->device, r->volume,
                   ctl_jstr(view, "record_id") ?: "?");
  return CTL_OK;
}

int ctl_approve_older(const json_t *view)
{
  const char *st = ctl_jstr(view, "record_state") ?: "";
  return strcmp(st, "active") != 0 && strcmp(st, "disclosed") != 0;
}

void ctl_approve_say_older(const json_t *view)
{
  if (!ctl_approve_older(view))
    return;
  ctl_notef("  *** AN OLDER KEY ***  record %s is %s (since %s): it is not the volume's "
            "current key",
            ctl_jstr(view, "record_id") ?: "?", ctl_jstr(view, "record_state") ?: "?",
            ctl_jstr(view, "record_superseded_at") ?: "?");
}

/* The record's escrow.store event names this envelope, device and volume,
 * and is at its leaf index in the log of a checkpoint signed by the pinned
 * log key, consistent with the one this client saw last (ctl_logview.h). */
int ctl_approve_in_log(ctl_http *h, const char *log_key, const ke_request *r, const json_t *v)
{
  ctl_logview lv;
  int rc;

  if ((rc = ctl_logview_open(&lv, h, log_key)))
    return rc;
  rc = ctl_logview_check_escrow(&lv, h, v, r->envelope_sha256, r->device, r->volume);
  ctl_logview_free(&lv);
  return rc;
}
