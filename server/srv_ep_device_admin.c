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

#include "srv_audit.h"
#include "srv_device.h"
#include "srv_auth.h"
#include "srv_ep.h"
#include "srv_routes.h"
#include "srv_rows.h"

#define SRV_DA_REASON_MAX 500

struct srv_da_body {
  const char *reason, *volume_id;
};

static int srv_da_reason_ok(const char *s) { return srv_text_ok(s, 1, SRV_DA_REASON_MAX); }

#define SRV_DA_REASON                                                           \
  KE_JF_STR(struct srv_da_body, reason, 1, SRV_DA_REASON_MAX, srv_da_reason_ok, \
            "reason: 1 to 500 bytes of text")
static const struct ke_jfield srv_da_rotate_fields[] = {
  SRV_DA_REASON,
  KE_JF_STR_OPT(struct srv_da_body, volume_id, 1, 128, srv_device_volume_ok,
                "volume_id: 1 to 128 characters A-Z a-z 0-9 . _ : -"),
  KE_JF_END};
const struct ke_jspec srv_ep_devices_rotate_body =
  KE_JSPEC(struct srv_da_body, srv_da_rotate_fields, 0);
static const struct ke_jfield srv_da_disable_fields[] = {SRV_DA_REASON, KE_JF_END};
const struct ke_jspec srv_ep_devices_disable_body =
  KE_JSPEC(struct srv_da_body, srv_da_disable_fields, 0);

struct srv_da {
  struct srv_request *req;
  const char *id;
  struct srv_da_body b;
  int disable; /* disable / enable: the new state */
  int was_disabled;
  json_t *volumes; /* rotate: the volumes asked to rotate */
  struct srv_ep_fail fail;
};

/* Lock the device row (404 if there is none, or none in the caller's
 * scope). */
static enum srv_db_status srv_da_lock(struct srv_db *db, struct srv_da *a)
{
  const char *p2[2] = {a->id, srv_principal_scope(srv_request_principal(a->req))};
  enum srv_db_status st;
  PGresult *r = srv_db_exec(db, SRV_STMT_DEVICE_LOCK_SCOPED, p2, &st);
  const char *v;

  if (!r)
    return st;
  v = srv_row_text(r, "disabled");
  a->was_disabled = v && v[0] == 't';
  PQclear(r);
  return v ? SRV_DB_OK : srv_ep_fail(&a->fail, SRV_ERR_NOT_FOUND, "No such device");
}

/* RECORD_ROTATE_REQUEST */
struct srv_da_vol {
  const char *volume_id;
};
static const struct srv_col srv_da_vol_cols[] = {SRV_COL_TEXT(struct srv_da_vol, volume_id),
                                                 SRV_COL_END};

static enum srv_db_status srv_da_rotate_txn(struct srv_db *db, void *cls)
{
  struct srv_da *a = cls;
  const char *p4[4] = {a->id, a->b.volume_id, srv_request_principal(a->req)->actor, a->b.reason};
  enum srv_db_status st;
  PGresult *r;

  json_array_clear(a->volumes);
  if ((st = srv_da_lock(db, a)) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_RECORD_ROTATE_REQUEST, p4, &st)))
    return st;
  for (int i = 0; i < PQntuples(r); i++) {
    struct srv_da_vol v;
    if (srv_row_read(r, i, srv_da_vol_cols, &v) != 0 ||
        json_array_append_new(a->volumes, json_string(v.volume_id))) {
      PQclear(r);
      return SRV_DB_ERROR;
    }
  }
  PQclear(r);
  if (json_array_size(a->volumes) == 0)
    return srv_ep_fail(&a->fail, SRV_ERR_CONFLICT,
                       a->b.volume_id ? "The device has no current record for that volume"
                                      : "The device has no current record to rotate");
  return srv_audit_success(db, a->req, "device.rotate_request", "device", a->id,
                           json_pack("{s:s,s:O}", "reason", a->b.reason, "volumes", a->volumes));
}

static enum srv_db_status srv_da_state_txn(struct srv_db *db, void *cls)
{
  struct srv_da *a = cls;
  const char *p4[4] = {a->id, a->disable ? "true" : "false", srv_request_principal(a->req)->actor,
                       a->b.reason};
  enum srv_db_status st;
  PGresult *r;

  if ((st = srv_da_lock(db, a)) != SRV_DB_OK)
    return st;
  if (!(r = srv_db_exec(db, SRV_STMT_DEVICE_SET_DISABLED, p4, &st)))
    return st;
  PQclear(r);
  return srv_audit_success(
    db, a->req, a->disable ? "device.disable" : "device.enable", "device", a->id,
    a->disable ? json_pack("{s:s,s:b}", "reason", a->b.reason, "was_disabled", a->was_disabled)
               : json_pack("{s:b}", "was_disabled", a->was_disabled));
}

enum MHD_Result srv_ep_devices_rotate(struct srv_request *req)
{
  struct srv_da a = {.req = req, .id = srv_request_param(req, "id")};
  enum MHD_Result ret;

  if (!srv_device_id_ok(a.id, "dev-"))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  if (srv_ep_body(req, &srv_ep_devices_rotate_body, &a.b, &ret))
    return ret;
  if (!(a.volumes = json_array()))
    return srv_reply_error(req, SRV_ERR_INTERNAL, NULL);
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_da_rotate_txn, &a, &a.fail, &ret)) {
    json_decref(a.volumes);
    return ret;
  }
  return srv_reply_json(
    req, MHD_HTTP_OK,
    json_pack("{s:s,s:o,s:s}", "device_id", a.id, "volumes", a.volumes, "reason", a.b.reason));
}

static enum MHD_Result srv_da_set(struct srv_request *req, int disable)
{
  struct srv_da a = {.req = req, .id = srv_request_param(req, "id"), .disable = disable};
  enum MHD_Result ret;

  if (!srv_device_id_ok(a.id, "dev-"))
    return srv_reply_error(req, SRV_ERR_NOT_FOUND, "No such device");
  if (disable && srv_ep_body(req, &srv_ep_devices_disable_body, &a.b, &ret))
    return ret;
  if (srv_ep_txn(req, SRV_DB_SERIALIZABLE, srv_da_state_txn, &a, &a.fail, &ret))
    return ret;
  return srv_reply_json(req, MHD_HTTP_OK,
                        json_pack("{s:s,s:b,s:b}", "device_id", a.id, "disabled", disable,
                                  "was_disabled", a.was_disabled));
}

enum MHD_Result srv_ep_devices_disable(struct srv_request *req) { return srv_da_set(req, 1); }

enum MHD_Result srv_ep_devices_enable(struct srv_request *req) { return srv_da_set(req, 0); }
