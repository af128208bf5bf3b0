/*
 * srv_error.h - the API error registry (codes from srv_errors.def).
 */
#ifndef SRV_ERROR_H
#define SRV_ERROR_H

#include <jansson.h>

enum srv_error_code {
#define SRV_ERR(id, code, status, message) SRV_ERR_##id,
#include "srv_errors.def"
#undef SRV_ERR
  SRV_ERR_COUNT_
};

struct srv_error_info {
  const char *code; /* snake_case, stable */
  unsigned http_status;
  const char *message; /* default human-readable text */
};

/* Never NULL: an out-of-range value maps to SRV_ERR_INTERNAL. */
const struct srv_error_info *srv_error_info(enum srv_error_code code);
/* {"error":{"code":...,"message":...}}; `message` NULL = the default.
 * Returns NULL only on allocation failure. */
json_t *srv_error_json(enum srv_error_code code, const char *message);

#endif
