/*
 * escrowctl device search|show|rotate|disable|enable - devices for people
 * (docs/api.yaml, /v1/devices).  search and show never see an envelope:
 * the server does not return one to anybody.
 */
#include <stdio.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_http.h"

const char ctl_usage_device_search[] =
  "usage: escrowctl device search [--limit N] [--json] TEXT\n\n"
  "Finds devices by a prefix of their hostname, serial number or Key ID\n"
  "(helpdesk, auditor).  A BitLocker recovery screen shows the first 8\n"
  "characters of the Key ID: type those.  The search is audited.\n\n"
  "  --limit N   at most N devices (1..500, default 50)\n"
  "  --json      the server's JSON answer\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_device_show[] =
  "usage: escrowctl device show [--json] DEVICE-ID\n\n"
  "Shows a device and the history of its escrow records (helpdesk, auditor):\n"
  "state, escrow key, verifier and unlock checks, rotation requests.  Never\n"
  "an envelope.  The read is audited.\n\n"
  "  --json      the server's JSON answer\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_device_rotate[] =
  "usage: escrowctl device rotate --reason TEXT [--volume V] DEVICE-ID\n\n"
  "Asks the device to rotate the recovery key of one volume, or of all its\n"
  "volumes (admin, helpdesk): its next check-in is told to rotate\n"
  "(\"requested\"), and the request stands until the rotated key is escrowed.\n"
  "For a suspected exposure, a departure or a policy change; a retrieval\n"
  "asks for rotation by itself.  Audited with the reason.\n\n"
  "  --reason TEXT   why (1..500 bytes; goes into the audit log)\n"
  "  --volume V      only this volume\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_device_disable[] =
  "usage: escrowctl device disable --reason TEXT DEVICE-ID\n\n"
  "Disables a device (admin): lost, stolen or retired.  Its signed requests\n"
  "are refused from then on; its records stay and stay retrievable.\n"
  "Audited with the reason.\n\n"
  "  --reason TEXT   why (1..500 bytes)\n"
  "  --server URL, --cacert PEM   as for every online command\n";

const char ctl_usage_device_enable[] =
  "usage: escrowctl device enable DEVICE-ID\n\n"
  "Enables a disabled device again (admin).  Audited.\n\n"
  "  --server URL, --cacert PEM   as for every online command\n";

typedef struct dv_opts {
  ctl_http_target t;
  const char *reason, *volume;
  unsigned limit;
  int json;
} dv_opts;

enum { O_LIMIT = 256 };

static int on_opt(void *ctx, int opt, const char *arg)
{
  dv_opts *o = ctx;
  if (ctl_http_opt(&o->t, opt, arg))
    return CTL_OK;
  return opt == O_LIMIT ? ctl_parse_uint(&o->limit, arg, "--limit", 1, 500) : CTL_USAGE;
}

static const struct option dv_options[] = {
  CTL_HTTP_OPTIONS,
  {"reason", required_argument, 0, CTL_OPT_ARG(dv_opts, reason)},
  {"volume", required_argument, 0, CTL_OPT_ARG(dv_opts, volume)},
  {"limit", required_argument, 0, O_LIMIT},
  {"json", no_argument, 0, CTL_OPT_SET(dv_opts, json)},
  CTL_OPT_END};

/* Options, then exactly one operand (the query or the device id): options
 * come first, as in every escrowctl command. */
static int dv_args(const ctl_cmd *cmd, int argc, char **argv, dv_opts *o, const char **arg,
                   const char *what)
{
  int first = 0, rc;

  memset(o, 0, sizeof *o);
  if ((rc = ctl_getopt(cmd, argc, argv, dv_options, on_opt, o, &first)))
    return rc;
  if (argc - first != 1)
    return ctl_err(CTL_USAGE, "expected one %s", what);
  *arg = argv[first];
  return CTL_OK;
}

static const char *dv_str(const json_t *o, const char *key, const char *none)
{
  const char *s = ctl_jstr(o, key);
  return s ? s : none;
}

int ctl_cmd_device_search(const ctl_cmd *cmd, int argc, char **argv)
{
  dv_opts o;
  json_t *ans = NULL;
  const char *q;
  char esc[400], path[512];
  int rc;

  if ((rc = dv_args(cmd, argc, argv, &o, &q, "search text")) ||
      (rc = ctl_http_escape(esc, sizeof esc, q)))
    return rc;
  snprintf(path, sizeof path, "/v1/devices?q=%s&limit=%u", esc, o.limit ? o.limit : 50);
  if ((rc = ctl_http_do(&o.t, "GET", path, NULL, &ans)) || o.json) {
    rc = rc ? rc : ctl_print_json(ans);
    goto out;
  }
  const json_t *devs = json_object_get(ans, "devices");
  printf("%-30s %-24s %-16s %-12s %-20s %-8s %s\n", "DEVICE", "HOSTNAME", "SERIAL", "GROUP",
         "LAST CHECK-IN", "STATUS", "MATCHED");
  for (size_t i = 0; i < json_array_size(devs); i++) {
    const json_t *d = json_array_get(devs, i), *m = json_object_get(d, "matched");
    char matched[64] = "";
    for (size_t k = 0; k < json_array_size(m); k++) {
      const char *how = json_string_value(json_array_get(m, k));
      snprintf(matched + strlen(matched), sizeof matched - strlen(matched), "%s%s", k ? "," : "",
               how ? how : "?");
    }
    printf("%-30s %-24s %-16s %-12s %-20s %-8s %s\n", dv_str(d, "device_id", "?"),
           dv_str(d, "hostname", "?"), dv_str(d, "serial", ""), dv_str(d, "group", ""),
           dv_str(d, "last_checkin", "never"),
           json_is_true(json_object_get(d, "disabled")) ? "disabled" : "enabled", matched);
  }
  if (json_array_size(devs) == 0)
    ctl_notef("no device matches \"%s\"", q);
out:
  json_decref(ans);
  return rc;
}

static const char *dv_verifier(const json_t *r)
{
  const json_t *m = json_object_get(r, "last_verifier_match");
  return json_is_true(m) ? "match" : json_is_false(m) ? "MISMATCH" : "-";
}

int ctl_cmd_device_show(const ctl_cmd *cmd, int argc, char **argv)
{
  dv_opts o;
  json_t *ans = NULL;
  const json_t *d, *recs;
  const char *id;
  char esc[200], path[256];
  int rc;

  if ((rc = dv_args(cmd, argc, argv, &o, &id, "device id")) ||
      (rc = ctl_http_escape(esc, sizeof esc, id)))
    return rc;
  snprintf(path, sizeof path, "/v1/devices/%s", esc);
  if ((rc = ctl_http_do(&o.t, "GET", path, NULL, &ans)) || o.json) {
    rc = rc ? rc : ctl_print_json(ans);
    goto out;
  }
  d = json_object_get(ans, "device");
  printf("device        %s\nhostname      %s\nserial        %s\nos            %s\n"
         "group         %s\nenrolled      %s\nlast check-in %s\nagent         %s\n",
         dv_str(d, "device_id", "?"), dv_str(d, "hostname", "?"), dv_str(d, "serial", ""),
         dv_str(d, "os", ""), dv_str(d, "group", ""), dv_str(d, "enrolled", "?"),
         dv_str(d, "last_checkin", "never"), dv_str(d, "agent_version", "-"));
  if (json_is_true(json_object_get(d, "disabled")))
    printf("status        DISABLED since %s by %s: %s\n", dv_str(d, "disabled_at", "?"),
           dv_str(d, "disabled_by", "?"), dv_str(d, "disabled_reason", "-"));
  else
    printf("status        enabled\n");
  recs = json_object_get(ans, "records");
  printf("\n%-30s %-12s %-9s %-20s %-10s %-20s %-8s %s\n", "RECORD", "VOLUME", "TYPE", "KEY ID",
         "STATE", "CREATED", "VERIFIER", "ROTATION");
  for (size_t i = 0; i < json_array_size(recs); i++) {
    const json_t *r = json_array_get(recs, i);
    const char *rq = dv_str(r, "rotate_requested", NULL);
    char rot[160] = "-";
    const char *dd = dv_str(r, "disclosed_by_drill", NULL);
    if (rq)
      snprintf(rot, sizeof rot, "requested %s by %s", rq, dv_str(r, "rotate_requested_by", "?"));
    else if (dd && strcmp(dv_str(r, "state", ""), "disclosed") == 0)
      snprintf(rot, sizeof rot, "disclosed by drill %s: due at the next check-in", dd);
    else if (dd)
      snprintf(rot, sizeof rot, "disclosed by drill %s", dd);
    printf("%-30s %-12s %-9s %-20.20s %-10s %-20s %-8s %s\n", dv_str(r, "record_id", "?"),
           dv_str(r, "volume_id", "?"), dv_str(r, "key_type", "?"), dv_str(r, "key_id", ""),
           dv_str(r, "state", "?"), dv_str(r, "created", "?"), dv_verifier(r), rot);
  }
out:
  json_decref(ans);
  return rc;
}

/* POST /v1/devices/{id}/<action> with `body` (may be NULL). */
static int dv_post(dv_opts *o, const char *id, const char *action, json_t *body, json_t **ans)
{
  char esc[200], path[256];
  int rc;

  if ((rc = ctl_http_escape(esc, sizeof esc, id)))
    return rc;
  snprintf(path, sizeof path, "/v1/devices/%s/%s", esc, action);
  return ctl_http_do(&o->t, "POST", path, body, ans);
}

/* rotate and disable: options and the device id, then POST {"reason"[,
 * "volume_id"]} to /v1/devices/{id}/<sub-command>. */
int ctl_cmd_device_reason(const ctl_cmd *cmd, int argc, char **argv)
{
  const int rotate = strcmp(cmd->sub, "rotate") == 0;
  dv_opts o;
  json_t *body, *ans = NULL;
  const char *id;
  int rc;

  if ((rc = dv_args(cmd, argc, argv, &o, &id, "device id")))
    return rc;
  if (!o.reason)
    return ctl_missing_opt("--reason");
  if (o.volume && !rotate)
    return ctl_err(CTL_USAGE, "--volume applies to rotate only (a device is disabled as a whole)");
  body = o.volume ? json_pack("{s:s,s:s}", "reason", o.reason, "volume_id", o.volume)
                  : json_pack("{s:s}", "reason", o.reason);
  if (!body)
    return ctl_err(CTL_USAGE, "--reason and --volume must be valid UTF-8");
  rc = dv_post(&o, id, cmd->sub, body, &ans);
  json_decref(body);
  if (!rc && rotate) {
    const json_t *v = json_object_get(ans, "volumes");
    for (size_t i = 0; i < json_array_size(v); i++)
      ctl_notef("device %s, volume %s: rotation requested; the device rotates at its next "
                "check-in",
                id, json_string_value(json_array_get(v, i)));
  } else if (!rc) {
    ctl_notef("device %s disabled%s", id,
              json_is_true(json_object_get(ans, "was_disabled")) ? " (it already was)" : "");
  }
  json_decref(ans);
  return rc;
}

int ctl_cmd_device_enable(const ctl_cmd *cmd, int argc, char **argv)
{
  dv_opts o;
  json_t *ans = NULL;
  const char *id;
  int rc;

  if ((rc = dv_args(cmd, argc, argv, &o, &id, "device id")))
    return rc;
  if (!(rc = dv_post(&o, id, "enable", NULL, &ans)))
    ctl_notef("device %s enabled%s", id,
              json_is_false(json_object_get(ans, "was_disabled")) ? " (it was not disabled)" : "");
  json_decref(ans);
  return rc;
}
