/*
 * ke_canon.h - canonical JSON for audit events (the bytes of a Merkle leaf).
 *
 * The canonical form is the subset of RFC 8785 (JCS) that events use:
 *   - values are objects, arrays, strings, integers, true, false and null;
 *     floating-point numbers are refused, and integers must lie in
 *     [-(2^53 - 1), 2^53 - 1] so every JSON implementation reads them exactly;
 *   - no whitespace at all; members are separated by "," and ":";
 *   - object keys are unique and sorted by their UTF-16 code units (JCS);
 *   - strings are UTF-8; only '"', '\\' and the controls U+0000..U+001F are
 *     escaped, as \" \\ \b \f \n \r \t or \u00xx (lower-case hex); "/" and
 *     every non-ASCII character are written as themselves;
 *   - nesting is at most KE_CANON_MAX_DEPTH levels deep.
 * Within this subset the output is byte for byte what a JCS implementation
 * produces.  See docs/audit.md.
 */
#ifndef KE_CANON_H
#define KE_CANON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ke_util.h"

#define KE_CANON_MAX_DEPTH 32
#define KE_CANON_INT_MAX INT64_C(9007199254740991) /* 2^53 - 1 */
/* Refuse to parse leaves larger than this (events are small). */
#define KE_CANON_MAX_LEN (1u << 20)

/* Serialise `v` canonically.  *out is a malloc'd NUL-terminated string
 * (free with free()) of *outlen bytes (outlen may be NULL).  KE_ERR_FORMAT
 * for reals, out-of-range integers, invalid UTF-8 or too deep nesting. */
ke_rc ke_canon_dump(const json_t *v, char **out, size_t *outlen);

/* Parse `text`, which must already be in canonical form (so that a leaf
 * has exactly one valid spelling); *out gets a new reference.  Duplicate
 * keys, reals, whitespace, unsorted keys, needless escapes and anything
 * ke_canon_dump would write differently are KE_ERR_FORMAT. */
ke_rc ke_canon_parse(json_t **out, const char *text, size_t len);

/* ke_canon_parse without keeping the result. */
ke_rc ke_canon_check(const char *text, size_t len);

/* Check the audit event shape of docs/audit.md "Leaf format": an object
 * whose "seq" is the integer `index` and whose "time", "actor", "action"
 * and "outcome" are non-empty strings.  KE_ERR_FORMAT otherwise. */
ke_rc ke_canon_event_check(const json_t *event, uint64_t index);

#endif
