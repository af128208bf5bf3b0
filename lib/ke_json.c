/*
 * ke_json.c - strict jansson helpers (see ke_json.h).
 */
#include "ke_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ke_json_rc ke_json_parse_object(json_t **out, const char *buf, size_t len,
                                char *err, size_t errlen)
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
      snprintf(err, errlen, "%s at line %d column %d", jerr.text, jerr.line,
               jerr.column);
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

static const json_t *ke_json_member(const json_t *obj, const char *key)
{
  const json_t *v;

  if (!json_is_object(obj))
    return NULL;
  v = json_object_get(obj, key);
  return (v && !json_is_null(v)) ? v : NULL;
}

ke_json_rc ke_json_get_str(const json_t *obj, const char *key, const char **out)
{
  const json_t *v = ke_json_member(obj, key);

  if (!v)
    return KE_JSON_MISSING;
  if (!json_is_string(v))
    return KE_JSON_TYPE;
  *out = json_string_value(v);
  return KE_JSON_OK;
}

ke_json_rc ke_json_get_int(const json_t *obj, const char *key, int64_t min,
                           int64_t max, int64_t *out)
{
  const json_t *v = ke_json_member(obj, key);
  json_int_t i;

  if (!v)
    return KE_JSON_MISSING;
  if (!json_is_integer(v))
    return KE_JSON_TYPE;
  i = json_integer_value(v);
  if (i < min || i > max)
    return KE_JSON_TYPE;
  *out = (int64_t)i;
  return KE_JSON_OK;
}

ke_json_rc ke_json_get_bool(const json_t *obj, const char *key, int *out)
{
  const json_t *v = ke_json_member(obj, key);

  if (!v)
    return KE_JSON_MISSING;
  if (!json_is_boolean(v))
    return KE_JSON_TYPE;
  *out = json_is_true(v) ? 1 : 0;
  return KE_JSON_OK;
}
