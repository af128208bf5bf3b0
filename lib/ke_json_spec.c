/*
 * ke_json_spec.c - the declarative JSON object parser (ke_json_spec.h).
 */
#include "ke_json_spec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"
#include "ke_util.h"

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
ke_jerr_set(struct ke_jerr *err, enum ke_jerr_kind kind, const char *fmt, ...)
{
  va_list ap;

  if (!err)
    return -1;
  err->kind = kind;
  va_start(ap, fmt);
  vsnprintf(err->text, sizeof err->text, fmt, ap);
  va_end(ap);
  return -1;
}

/* A field failed: its own message if it has one, else `fallback`. */
static int ke_jerr_field(struct ke_jerr *err, const struct ke_jfield *f, enum ke_jerr_kind kind,
                         const char *fallback)
{
  if (!err)
    return -1;
  err->field = f;
  return ke_jerr_set(err, kind, "%s", f->error ? f->error : fallback);
}

/* Member names are client data: they are echoed only when short and made
 * of characters that cannot confuse a log line or a terminal. */
static int ke_json_spec_name_safe(const char *s)
{
  size_t n = strlen(s);

  if (n < 1 || n > 40)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || !strchr(" ._:@-", c)))
      return 0;
  }
  return 1;
}

const struct ke_jfield *ke_json_spec_field(const struct ke_jspec *spec, const char *name)
{
  for (const struct ke_jfield *f = spec->fields; f->name; f++)
    if (strcmp(f->name, name) == 0)
      return f;
  return NULL;
}

/* Decode base64url of min..max bytes into dst; rejects by encoded length
 * before decoding, so an absurd input costs nothing. */
static int ke_jf_b64(const struct ke_jfield *f, const char *s, uint8_t *dst, size_t *len)
{
  uint8_t *buf = NULL;
  size_t n = 0, max = (size_t)f->max;
  int ok;

  if (strlen(s) > (max + 2) / 3 * 4 || ke_b64url_decode(&buf, &n, s, 1) != KE_OK)
    return -1;
  ok = n >= (size_t)f->min && n <= max;
  if (ok)
    memcpy(dst, buf, n);
  ke_secure_free(buf, n);
  if (ok && len)
    *len = n;
  return ok ? 0 : -1;
}

static int ke_jf_hex(const struct ke_jfield *f, const char *s, uint8_t *dst)
{
  size_t n = (size_t)f->max;

  if (strlen(s) != 2 * n)
    return -1;
  for (size_t i = 0; i < 2 * n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return -1;
  return ke_hex_decode(dst, n, s) == KE_OK ? 0 : -1;
}

/* Binary members: a string, decoded and validated into the struct. */
static int ke_jf_binary(const struct ke_jfield *f, const char *s, uint8_t *dst, void *out)
{
  uint8_t buf[KE_POINT_LEN];
  size_t n = 0;
  int rc = -1;

  switch (f->type) {
    case KE_JT_B64:
      return ke_jf_b64(f, s, dst, f->len_offset ? (size_t *)((char *)out + f->len_offset) : NULL);
    case KE_JT_HEX: return ke_jf_hex(f, s, dst);
    case KE_JT_POINT:
      if (ke_b64url_decode_fixed(buf, KE_POINT_LEN, s) == KE_OK &&
          ke_point_parse((ke_point *)dst, buf, KE_POINT_LEN) == KE_OK)
        rc = 0;
      n = KE_POINT_LEN;
      break;
    default: /* KE_JT_SCALAR */
      if (ke_b64url_decode_fixed(buf, KE_SCALAR_LEN, s) == KE_OK &&
          ke_scalar_parse((ke_scalar *)dst, buf, KE_SCALAR_LEN) == KE_OK)
        rc = 0;
      n = KE_SCALAR_LEN;
      break;
  }
  ke_wipe(buf, n);
  return rc;
}

/* One present, non-null member.  0, or -1 with a composed message in
 * `why` (used when the field has no message of its own). */
static int ke_jf_value(const struct ke_jfield *f, const json_t *v, void *out, char *why,
                       size_t whylen)
{
  void *dst = (char *)out + f->offset;

  switch (f->type) {
    case KE_JT_STR: {
      const char *s = json_string_value(v);
      size_t n = s ? json_string_length(v) : 0;
      snprintf(why, whylen, "%s must be a string of %lld to %lld bytes", f->name, (long long)f->min,
               (long long)f->max);
      if (!s || n < (size_t)f->min || n > (size_t)f->max || (f->check && !f->check(s)))
        return -1;
      *(const char **)dst = s;
      return 0;
    }
    case KE_JT_INT:
      snprintf(why, whylen, "%s must be an integer from %lld to %lld", f->name, (long long)f->min,
               (long long)f->max);
      if (!json_is_integer(v) || json_integer_value(v) < f->min || json_integer_value(v) > f->max)
        return -1;
      *(int64_t *)dst = (int64_t)json_integer_value(v);
      return 0;
    case KE_JT_BOOL:
      snprintf(why, whylen, "%s must be true or false", f->name);
      if (!json_is_boolean(v))
        return -1;
      *(int *)dst = json_is_true(v) ? 1 : 0;
      return 0;
    case KE_JT_OBJECT:
      snprintf(why, whylen, "%s must be an object", f->name);
      if (!json_is_object(v))
        return -1;
      *(const json_t **)dst = v;
      return 0;
    case KE_JT_ARRAY:
      snprintf(why, whylen, "%s must be an array of %lld to %lld elements", f->name,
               (long long)f->min, (long long)f->max);
      if (!json_is_array(v) || json_array_size(v) < (size_t)f->min ||
          json_array_size(v) > (size_t)f->max)
        return -1;
      *(const json_t **)dst = v;
      return 0;
    case KE_JT_ANY: *(const json_t **)dst = v; return 0;
    default:
      snprintf(why, whylen, "%s must be %s", f->name,
               f->type == KE_JT_HEX      ? "lower-case hex"
               : f->type == KE_JT_POINT  ? "a base64url P-256 point"
               : f->type == KE_JT_SCALAR ? "a base64url scalar"
                                         : "unpadded base64url of the right length");
      if (!json_is_string(v))
        return -1;
      return ke_jf_binary(f, json_string_value(v), dst, out);
  }
}

/* An absent (or null) member: optional ones get their default. */
static void ke_jf_default(const struct ke_jfield *f, void *out)
{
  void *dst = (char *)out + f->offset;

  if (f->type == KE_JT_INT)
    *(int64_t *)dst = f->def;
  else if (f->type == KE_JT_BOOL)
    *(int *)dst = f->def ? 1 : 0;
}

int ke_json_spec_parse(const json_t *obj, const struct ke_jspec *spec, void *out,
                       struct ke_jerr *err)
{
  const char *key;
  json_t *v;

  if (err)
    memset(err, 0, sizeof *err);
  memset(out, 0, spec->size);
  /* Every default first: a field that is absent, null or (KE_JF_LAX) wrong
   * keeps it, and so does every field of a value that is not an object,
   * for callers that read on regardless (the agent's state). */
  for (const struct ke_jfield *f = spec->fields; f->name; f++)
    if (f->flags & KE_JF_OPTIONAL)
      ke_jf_default(f, out);
  if (!json_is_object(obj))
    return ke_jerr_set(err, KE_JE_NOT_OBJECT, "the value must be a JSON object");
  if (!(spec->flags & KE_JS_OPEN))
    json_object_foreach ((json_t *)obj, key, v) {
      if (ke_json_spec_field(spec, key))
        continue;
      if (ke_json_spec_name_safe(key))
        return ke_jerr_set(err, KE_JE_UNKNOWN, "unknown member \"%s\"", key);
      return ke_jerr_set(err, KE_JE_UNKNOWN, "unknown member in the request body");
    }
  for (const struct ke_jfield *f = spec->fields; f->name; f++) {
    char why[160];
    const json_t *m = json_object_get(obj, f->name);

    if (!m || json_is_null(m)) {
      if (f->flags & KE_JF_OPTIONAL)
        continue;
      snprintf(why, sizeof why, "%s is required", f->name);
      return ke_jerr_field(err, f, KE_JE_MISSING, why);
    }
    if (ke_jf_value(f, m, out, why, sizeof why) != 0 && !(f->flags & KE_JF_LAX))
      return ke_jerr_field(err, f, KE_JE_INVALID, why);
  }
  return 0;
}
