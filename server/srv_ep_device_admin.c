/*
 * srv_ep_device_admin.c - people acting on a device (roles by the route
 * table; schema 008):
 *   POST /v1/devices/{id}/rotate   {"reason", "volume_id"?}  admin, helpdesk
 *        ask the device to rotate the key of one volume, or of all its
 *        volumes: the next check-in answers rotate "requested" until the
 *        rotated record supersedes the current one.  For a suspected
 *        exposure, a departure, a policy change.  (A retrieval asks for
 *        rotation by itself: "disclosed".)
 *   POST /v1/devices/{id}/disable  {"reason"}                admin
 *   POST /v1/devices/{id}/enable                             admin
 *        a disabled device's signed requests are refused (lost, stolen,
 *        retired); its records stay, and stay retrievable.
 *
 * Each is one transaction with its audit event (device.rotate_request,
 * device.disable, device.enable); the reason goes into the event.  Unknown
 * device: 404; nothing current to rotate: 409.
 */
#include <stdio.h>
#include <string.h>

#include "srv_account.h"
#include "srv_audit.h"
#include "srv_device.h"
#include "srv_ep.h"
#include "srv_routes.h"

#define SRV_DA_REASON_MAX 500

struct srv_da {
  struct srv_request *req;
  const char *id, *volume, *reason;
  int disable;         /* disable / enable: the new state */
  int was_disabled;
  int none;            /* rotate: no current record (409, not 404) */
  json_t *volumes;     /* rotate: the volumes asked to rotate */
};

/* Lock the device row: SRV_DB_ABORT if there is none (404). */
static enum srv_db_status srv_da_lock(struct srv_db *db, struct srv_da *a)
{
  const char *p1[1] = {a->id};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DEVICE_LOCK, p1, &st);

  if (!r)
    return st;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return SRV_DB_ABORT;
  }
  a->was_disabled = PQgetvalue(r, 0, 0)[0] == 't';
  PQclear(r);
  return SRV_DB_OK;
}

static enum srv_db_status srv_da_audit(struct srv_db *db, struct srv_da *a, const char *action,
                                       json_t *details)
{
  char object[48];
  struct srv_audit_event ev;
  enum srv_db_status st;

  if (!details)
    return SRV_DB_ERROR;
  snprintf(object, sizeof object, "device:%s", a->id);
  ev = (struct srv_audit_event){action, object, "success", details, NULL};
  st = srv_audit_append(db, a->req, &ev);
  json_decref(details);
  return st;
}

static enum srv_db_status srv_da_rotate_txn(struct srv_db *db, void *cls)
{
  struct srv_da *a = cls;
  const char *p4[4] = {a->id, a->volume, srv_request_principal(a->req)->actor, a->reason};
  enum srv_db_status st;
  PGresult *r;

  json_array_clear(a->volumes);
  a->none = 0;
  if ((st = srv_da_lock(db, a)) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_RECORD_ROTATE_REQUEST, p4, &st)))
    return st;
  for (int i = 0; i < PQntuples(r); i++)
    if (json_array_append_new(a->volumes, json_string(PQgetvalue(r, i, 1)))) {
      PQclear(r);
      return SRV_DB_ERROR;
    }
  PQclear(r);
  if (json_array_size(a->volumes) == 0) {
    a->none = 1;
    return SRV_DB_ABORT;
  }
  return srv_da_audit(db, a, "device.rotate_request",
                      json_pack("{s:s,s:O}", "reason", a->reason, "volumes", a->volumes));
}

static enum srv_db_status srv_da_state_txn(struct srv_db *db, void *cls)
{
  struct srv_da *a = cls;
  const char *p4[4] = {a->id, a->disable ? "true" : "false",
                       srv_request_principal(a->req)->actor, a->reason};
  enum srv_db_status st;
  PGresult *r;

  if ((st = srv_da_lock(db, a)) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_SET_DISABLED, p4, &st)))
    return st;
  PQclear(r);
  return srv_da_audit(db, a, a->disable ? "device.disable" : "device.enable",
                      a->disable ? json_pack("{s:s,s:b}", "reason", a->reason, "was_disabled",
                                             a->was_disabled)
                                 : json_pack("{s:b}", "was_disabled", a->was_disabled));
}

/* The body's reason: 1 to 500 bytes of text.  0, or -1 with the answer. */
static int srv_da_reason(struct srv_request *req, struct srv_da *a, enum MHD_Result *ret)
{
  a->reason = srv_device_str(srv_request_json(req), "reason");
  if (!srv_text_ok(a->reason, 1, SRV_DA_REASON_MAX)) {
    *ret = srv_ep_bad(req, "reason: 1 to 500 bytes of text");
    return -1;
  }
  return 0;
}

static enum MHD_Result srv_da_finish(struct srv_request *req, struct srv_da *a,
                                     enum srv_db_status st, json_t *out)
{
  if (st == SRV_DB_ABORT && !a->none) {
    json_decref(out);
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  }
  if (st == SRV_DB_ABORT) {
    json_decref(out);
    return srv_reply_error(req, SRV_ERR_CONFLICT,
                           a->volume ? "The device has no current record for that volume"
                                     : "The device has no current record to rotate");
  }
  if (st != SRV_DB_OK) {
    json_decref(out);
    return srv_ep_db_error(req, st);
  }
  return srv_reply_json(req, MHD_HTTP_OK, out);
}

enum MHD_Result srv_ep_devices_rotate(struct srv_request *req)
{
  static const char *const allowed[] = {"reason", "volume_id", NULL};
  const json_t *body = srv_request_json(req);
  struct srv_da a = {req, srv_request_param(req, "id"), NULL, NULL, 0, 0, 0, NULL};
  enum srv_db_status st;
  enum MHD_Result ret;

  if (!srv_device_id_ok(a.id, "dev-"))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  if (srv_account_unknown_member(req, body, allowed, &ret) || srv_da_reason(req, &a, &ret))
    return ret;
  if (json_object_get(body, "volume_id") &&
      !srv_device_volume_ok(a.volume = srv_device_str(body, "volume_id")))
    return srv_ep_bad(req, "volume_id: 1 to 128 characters A-Z a-z 0-9 . _ : -");
  if (!(a.volumes = json_array()))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_da_rotate_txn, &a);
  return srv_da_finish(req, &a, st,
                       st == SRV_DB_OK ? json_pack("{s:s,s:o,s:s}", "device_id", a.id,
                                                   "volumes", a.volumes, "reason", a.reason)
                                       : (json_decref(a.volumes), NULL));
}

static enum MHD_Result srv_da_set(struct srv_request *req, int disable)
{
  static const char *const allowed[] = {"reason", NULL};
  struct srv_da a = {req, srv_request_param(req, "id"), NULL, NULL, disable, 0, 0, NULL};
  enum srv_db_status st;
  enum MHD_Result ret;

  if (!srv_device_id_ok(a.id, "dev-"))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  if (disable && (srv_account_unknown_member(req, srv_request_json(req), allowed, &ret) ||
                  srv_da_reason(req, &a, &ret)))
    return ret;
  st = srv_db_txn(SRV_DB_SERIALIZABLE, srv_da_state_txn, &a);
  return srv_da_finish(req, &a, st,
                       st == SRV_DB_OK ? json_pack("{s:s,s:b,s:b}", "device_id", a.id,
                                                   "disabled", disable, "was_disabled",
                                                   a.was_disabled)
                                       : NULL);
}

enum MHD_Result srv_ep_devices_disable(struct srv_request *req)
{
  return srv_da_set(req, 1);
}

enum MHD_Result srv_ep_devices_enable(struct srv_request *req)
{
  return srv_da_set(req, 0);
}
