/*
 * srv_error.c - the API error registry, expanded from srv_errors.def.
 */
#include "srv_error.h"

static const struct srv_error_info srv_errors[SRV_ERR_COUNT_] = {
#define SRV_ERR(id, code, status, message) [SRV_ERR_##id] = {code, status, message},
#include "srv_errors.def"
#undef SRV_ERR
};

const struct srv_error_info *srv_error_info(enum srv_error_code code)
{
  if ((unsigned)code >= SRV_ERR_COUNT_)
    code = SRV_ERR_INTERNAL;
  return &srv_errors[code];
}

json_t *srv_error_json(enum srv_error_code code, const char *message)
{
  const struct srv_error_info *e = srv_error_info(code);
  json_t *msg = json_string(message ? message : e->message);

  /* A caller-supplied message that is not UTF-8 must not lose the error. */
  if (!msg)
    msg = json_string(e->message);
  return json_pack("{s:{s:s,s:o}}", "error", "code", e->code, "message", msg);
}
