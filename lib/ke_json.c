/*
 * ke_json.c - strict jansson helpers (see ke_json.h).
 */
#include "ke_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ke_json_rc ke_json_parse_object(json_t **out, const char *buf, size_t len, char *err, size_t errlen)
{
  json_error_t jerr;
  json_t *v;

  *out = NULL;
  if (err && errlen)
    err[0] = '\0';
  /* JSON_REJECT_DUPLICATES: {"a":1,"a":2} is ambiguous, refuse it.
   * No JSON_ALLOW_NUL: embedded NULs would truncate C strings later. */
  v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!v) {
    if (err && errlen)
      snprintf(err, errlen, "%s at line %d column %d", jerr.text, jerr.line, jerr.column);
    return KE_JSON_SYNTAX;
  }
  if (!json_is_object(v)) {
    if (err && errlen)
      snprintf(err, errlen, "top level must be a JSON object");
    json_decref(v);
    return KE_JSON_SYNTAX;
  }
  *out = v;
  return KE_JSON_OK;
}
