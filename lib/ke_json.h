/*
 * ke_json.h - small, strict helpers around jansson.
 *
 * Parsing is strict on purpose: duplicate keys are refused (two readers could
 * otherwise disagree on which value counts), NUL bytes inside strings are
 * refused, and the top level must be an object.  Members are
 * read with a ke_json_spec table (ke_json_spec.h).
 */
#ifndef KE_JSON_H
#define KE_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ke_json_rc {
  KE_JSON_OK = 0,
  KE_JSON_MISSING, /* key absent (or JSON null) */
  KE_JSON_TYPE,    /* present but of the wrong type or out of range */
  KE_JSON_SYNTAX,  /* not valid JSON / not an object */
  KE_JSON_NOMEM,
} ke_json_rc;

/* Parse `len` bytes into an object.  On failure *out is NULL and, when `err`
 * is not NULL, a short description with line/column is written to it. */
ke_json_rc ke_json_parse_object(json_t **out, const char *buf, size_t len, char *err,
                                size_t errlen);

#endif
