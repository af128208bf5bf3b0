/*
 * ke_json_spec.h - declarative JSON object parsing: one table says which
 * members an object must and may have, one call checks them all.
 *
 * A spec is a static table of fields, each naming the member, its type,
 * its bounds and where its value goes in a caller's struct (offsetof), so
 * the table is data: the same table drives the handler, the fuzz target
 * (tests/fuzz/fuzz_srv_routes.c walks every route's spec) and nothing else
 * re-states a field's rules.
 *
 *   struct tok_body { const char *name; int64_t expires_in; const char *user; };
 *   static const struct ke_jfield tok_fields[] = {
 *     KE_JF_STR(struct tok_body, name, 1, 64, name_ok, "name: 1 to 64 ..."),
 *     KE_JF_INT(struct tok_body, expires_in, 60, INT64_MAX, "expires_in: ..."),
 *     KE_JF_STR_OPT(struct tok_body, user, 1, 63, user_ok, "user must be ..."),
 *     KE_JF_END};
 *   const struct ke_jspec tok_spec = KE_JSPEC(struct tok_body, tok_fields, 0);
 *
 * Rules every field follows:
 *   - JSON null counts as absent : an optional
 *     member may be null, a required one may not;
 *   - strings are borrowed from the parsed tree (valid while it lives);
 *     jansson guarantees UTF-8 and ke_json_parse_object refuses NUL bytes;
 *   - binary members (base64url, hex, points, scalars) are decoded into
 *     the caller's struct, so a caller holding secret bytes wipes it;
 *   - members the table does not name are refused unless the spec is
 *     KE_JS_OPEN;
 *   - a field's `error` text is the whole message for that field (the API's
 *     error messages are part of its contract), else one is composed.
 */
#ifndef KE_JSON_SPEC_H
#define KE_JSON_SPEC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum ke_jtype {
  KE_JT_STR,    /* const char *; min..max bytes; check(s) if set */
  KE_JT_INT,    /* int64_t in min..max */
  KE_JT_BOOL,   /* int, 0 or 1 */
  KE_JT_B64,    /* base64url (unpadded, canonical) of min..max bytes into
                 * uint8_t[max]; the length goes to len_offset */
  KE_JT_HEX,    /* lower-case hex of exactly max bytes into uint8_t[max] */
  KE_JT_POINT,  /* base64url SEC1 P-256 point, validated, into ke_point */
  KE_JT_SCALAR, /* base64url scalar in [1, n-1] into ke_scalar */
  KE_JT_OBJECT, /* const json_t * (borrowed) */
  KE_JT_ARRAY,  /* const json_t * (borrowed) of min..max elements */
  KE_JT_ANY,    /* const json_t * (borrowed), any type */
};

#define KE_JF_OPTIONAL 1u /* may be absent or null; the default is written */
#define KE_JF_LAX 2u      /* with OPTIONAL: a wrong value counts as absent too */

struct ke_jfield {
  const char *name; /* the member; NULL ends the table */
  enum ke_jtype type;
  unsigned flags;              /* KE_JF_* */
  size_t offset;               /* of the value in the caller's struct */
  size_t len_offset;           /* KE_JT_B64: of a size_t for the decoded length */
  int64_t min, max;            /* bytes, characters, value or elements, by type */
  int64_t def;                 /* optional INT and BOOL: the value when absent */
  int (*check)(const char *s); /* KE_JT_STR: 1 if acceptable */
  const char *error;           /* the message when this member is wrong or missing */
  int code;                    /* caller's error code for this member (0: default) */
};

#define KE_JS_OPEN 1u /* members the table does not name are ignored */

struct ke_jspec {
  const struct ke_jfield *fields;
  size_t size;    /* sizeof the caller's struct (for fuzzing) */
  unsigned flags; /* KE_JS_* */
};

#define KE_JSPEC(T, fields, flags) \
  {                                \
    (fields), sizeof(T), (flags)   \
  }

#define KE_JF_MEMBER_SIZE_(T, m) sizeof(((T *)0)->m)
#define KE_JF_(T, m, ty, fl, lo, hi, d, chk, msg)                       \
  {                                                                     \
#m, (ty), (fl), offsetof(T, m), 0, (lo), (hi), (d), (chk), (msg), 0 \
  }
#define KE_JF_STR(T, m, lo, hi, chk, msg) KE_JF_(T, m, KE_JT_STR, 0, lo, hi, 0, chk, msg)
#define KE_JF_STR_OPT(T, m, lo, hi, chk, msg) \
  KE_JF_(T, m, KE_JT_STR, KE_JF_OPTIONAL, lo, hi, 0, chk, msg)
#define KE_JF_INT(T, m, lo, hi, msg) KE_JF_(T, m, KE_JT_INT, 0, lo, hi, 0, NULL, msg)
#define KE_JF_INT_OPT(T, m, lo, hi, d, msg) \
  KE_JF_(T, m, KE_JT_INT, KE_JF_OPTIONAL, lo, hi, d, NULL, msg)
#define KE_JF_BOOL(T, m, msg) KE_JF_(T, m, KE_JT_BOOL, 0, 0, 1, 0, NULL, msg)
#define KE_JF_BOOL_OPT(T, m, d, msg) KE_JF_(T, m, KE_JT_BOOL, KE_JF_OPTIONAL, 0, 1, d, NULL, msg)
/* Exactly sizeof(member) bytes. */
#define KE_JF_B64_FIXED(T, m, msg)                                                                 \
  KE_JF_(T, m, KE_JT_B64, 0, (int64_t)KE_JF_MEMBER_SIZE_(T, m), (int64_t)KE_JF_MEMBER_SIZE_(T, m), \
         0, NULL, msg)
/* lo..sizeof(member) bytes, the length in member `len`. */
#define KE_JF_B64_VAR(T, m, len, lo, msg)                                                        \
  {                                                                                              \
#m, KE_JT_B64, 0, offsetof(T, m), offsetof(T, len), (lo), (int64_t)KE_JF_MEMBER_SIZE_(T, m), \
      0, NULL, (msg), 0                                                                          \
  }
#define KE_JF_HEX_FIXED(T, m, msg)                                                                 \
  KE_JF_(T, m, KE_JT_HEX, 0, (int64_t)KE_JF_MEMBER_SIZE_(T, m), (int64_t)KE_JF_MEMBER_SIZE_(T, m), \
         0, NULL, msg)
#define KE_JF_POINT(T, m, msg) KE_JF_(T, m, KE_JT_POINT, 0, 0, 0, 0, NULL, msg)
#define KE_JF_SCALAR(T, m, msg) KE_JF_(T, m, KE_JT_SCALAR, 0, 0, 0, 0, NULL, msg)
#define KE_JF_OBJECT(T, m, msg) KE_JF_(T, m, KE_JT_OBJECT, 0, 0, 0, 0, NULL, msg)
#define KE_JF_OBJECT_OPT(T, m, msg) KE_JF_(T, m, KE_JT_OBJECT, KE_JF_OPTIONAL, 0, 0, 0, NULL, msg)
#define KE_JF_ARRAY(T, m, lo, hi, msg) KE_JF_(T, m, KE_JT_ARRAY, 0, lo, hi, 0, NULL, msg)
#define KE_JF_ARRAY_OPT(T, m, lo, hi, msg) \
  KE_JF_(T, m, KE_JT_ARRAY, KE_JF_OPTIONAL, lo, hi, 0, NULL, msg)
#define KE_JF_ANY_OPT(T, m, msg) KE_JF_(T, m, KE_JT_ANY, KE_JF_OPTIONAL, 0, 0, 0, NULL, msg)
/* Optional and lax: what a reader of its own files and of answers skips over. */
#define KE_JF_STR_LAX(T, m) \
  KE_JF_(T, m, KE_JT_STR, KE_JF_OPTIONAL | KE_JF_LAX, 0, INT64_MAX, 0, NULL, NULL)
#define KE_JF_INT_LAX(T, m, d) \
  KE_JF_(T, m, KE_JT_INT, KE_JF_OPTIONAL | KE_JF_LAX, INT64_MIN, INT64_MAX, d, NULL, NULL)
#define KE_JF_END                                    \
  {                                                  \
    NULL, KE_JT_ANY, 0, 0, 0, 0, 0, 0, NULL, NULL, 0 \
  }

enum ke_jerr_kind {
  KE_JE_NONE = 0,
  KE_JE_NOT_OBJECT, /* the value is not an object */
  KE_JE_UNKNOWN,    /* a member the table does not name */
  KE_JE_MISSING,    /* a required member is absent or null */
  KE_JE_INVALID,    /* a member of the wrong type or out of bounds */
};

struct ke_jerr {
  enum ke_jerr_kind kind;
  const struct ke_jfield *field; /* MISSING and INVALID */
  /* The whole message: the field's `error`, else composed.  A member name
   * from the input appears only in a short, safe form (it is client data). */
  char text[200];
};

/* Check `obj` against `spec` and fill `out` (a struct of spec->size bytes:
 * it is zeroed, every optional field's default is written - even when obj
 * is not an object - and then every field present).
 * 0 on success; -1 with *err filled (err may be NULL).  Fields are checked
 * in table order, after the unknown-member check, so the first failing
 * field of the table is the one reported. */
int ke_json_spec_parse(const json_t *obj, const struct ke_jspec *spec, void *out,
                       struct ke_jerr *err);

/* The member of the table named `name`, or NULL. */
const struct ke_jfield *ke_json_spec_field(const struct ke_jspec *spec, const char *name);

#endif
