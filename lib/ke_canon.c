/*
 * ke_canon.c - canonical JSON (a JCS subset, see ke_canon.h).
 *
 * jansson's own json_dumps(JSON_SORT_KEYS | JSON_COMPACT) is close but not
 * canonical: it sorts keys bytewise rather than by UTF-16 code units and
 * writes control characters as upper-case \u001F where JCS has \u001f.  So
 * the serialiser is written out here; jansson is used for the value model
 * and for parsing.
 */
#include "ke_canon.h"
#include "ke_cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ke_rc dump_string(ke_buf *b, const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, run = 0, step;
  uint32_t cp;
  char esc[8];
  ke_rc rc;

  if ((rc = ke_buf_append(b, "\"", 1)))
    return rc;
  while (i < n) {
    if (!(step = ke_utf8_next(u + i, n - i, &cp)))
      return KE_ERR_FORMAT;
    if (cp >= 0x20 && cp != '"' && cp != '\\') {
      i += step;
      run += step;
      continue;
    }
    /* Flush the literal run, then write the escape. */
    if ((rc = ke_buf_append(b, s + i - run, run)))
      return rc;
    run = 0;
    switch (cp) {
      case '"': memcpy(esc, "\\\"", 3); break;
      case '\\': memcpy(esc, "\\\\", 3); break;
      case '\b': memcpy(esc, "\\b", 3); break;
      case '\f': memcpy(esc, "\\f", 3); break;
      case '\n': memcpy(esc, "\\n", 3); break;
      case '\r': memcpy(esc, "\\r", 3); break;
      case '\t': memcpy(esc, "\\t", 3); break;
      default: snprintf(esc, sizeof esc, "\\u%04" PRIx32, cp); break;
    }
    if ((rc = ke_buf_append(b, esc, strlen(esc))))
      return rc;
    i += step;
  }
  if ((rc = ke_buf_append(b, s + i - run, run)))
    return rc;
  return ke_buf_append(b, "\"", 1);
}

/* JCS orders keys by UTF-16 code units.  Code points below U+10000 are one
 * unit; those above are a surrogate pair whose first unit (0xD800-0xDBFF)
 * sorts below U+E000-U+FFFF, which is where bytewise order would differ. */
static uint32_t utf16_first_unit(uint32_t cp)
{
  return cp >= 0x10000 ? 0xD800 + ((cp - 0x10000) >> 10) : cp;
}

typedef struct key {
  const char *s;
  size_t n;
  json_t *v;
} key;

static int bytewise_cmp(const unsigned char *x, size_t nx, const unsigned char *y, size_t ny)
{
  int c = memcmp(x, y, nx < ny ? nx : ny);

  if (c)
    return c < 0 ? -1 : 1;
  return nx < ny ? -1 : nx > ny;
}

static int key_cmp(const void *pa, const void *pb)
{
  const key *a = pa, *b = pb;
  const unsigned char *x = (const unsigned char *)a->s, *y = (const unsigned char *)b->s;
  size_t i = 0, j = 0, sx, sy;
  uint32_t cx, cy, ux, uy;

  while (i < a->n && j < b->n) {
    sx = ke_utf8_next(x + i, a->n - i, &cx);
    sy = ke_utf8_next(y + j, b->n - j, &cy);
    if (!sx || !sy) /* invalid UTF-8 is refused when written; any order */
      return bytewise_cmp(x + i, a->n - i, y + j, b->n - j);
    ux = utf16_first_unit(cx);
    uy = utf16_first_unit(cy);
    if (ux != uy)
      return ux < uy ? -1 : 1;
    if (cx != cy) /* both in the same high-surrogate block */
      return cx < cy ? -1 : 1;
    i += sx;
    j += sy;
  }
  if (i < a->n)
    return 1;
  return j < b->n ? -1 : 0;
}

static ke_rc dump_value(ke_buf *b, const json_t *v, int depth);

static ke_rc dump_object(ke_buf *b, const json_t *v, int depth)
{
  size_t n = json_object_size(v), i = 0;
  key *keys = NULL;
  void *it;
  ke_rc rc = KE_OK;

  if (n && !(keys = calloc(n, sizeof *keys)))
    return KE_ERR_NOMEM;
  for (it = json_object_iter((json_t *)v); it && i < n;
       it = json_object_iter_next((json_t *)v, it), i++) {
    keys[i].s = json_object_iter_key(it);
    keys[i].n = json_object_iter_key_len(it);
    keys[i].v = json_object_iter_value(it);
  }
  if (i != n || it) {
    free(keys);
    return KE_ERR_INTERNAL;
  }
  if (n > 1)
    qsort(keys, n, sizeof *keys, key_cmp);
  rc = ke_buf_append(b, "{", 1);
  for (i = 0; i < n && rc == KE_OK; i++) {
    if (i && (rc = ke_buf_append(b, ",", 1)))
      break;
    if ((rc = dump_string(b, keys[i].s, keys[i].n)) || (rc = ke_buf_append(b, ":", 1)))
      break;
    rc = dump_value(b, keys[i].v, depth + 1);
  }
  free(keys);
  return rc ? rc : ke_buf_append(b, "}", 1);
}

static ke_rc dump_value(ke_buf *b, const json_t *v, int depth)
{
  char num[32];
  json_int_t iv;
  size_t i, n;
  ke_rc rc;

  if (!v)
    return KE_ERR_FORMAT;
  if (depth > KE_CANON_MAX_DEPTH)
    return KE_ERR_FORMAT;
  switch (json_typeof(v)) {
    case JSON_OBJECT: return dump_object(b, v, depth);
    case JSON_ARRAY:
      if ((rc = ke_buf_append(b, "[", 1)))
        return rc;
      n = json_array_size(v);
      for (i = 0; i < n; i++) {
        if (i && (rc = ke_buf_append(b, ",", 1)))
          return rc;
        if ((rc = dump_value(b, json_array_get(v, i), depth + 1)))
          return rc;
      }
      return ke_buf_append(b, "]", 1);
    case JSON_STRING: return dump_string(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
      iv = json_integer_value(v);
      if (iv > KE_CANON_INT_MAX || iv < -KE_CANON_INT_MAX)
        return KE_ERR_FORMAT;
      snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, iv);
      return ke_buf_append(b, num, strlen(num));
    case JSON_TRUE: return ke_buf_append(b, "true", 4);
    case JSON_FALSE: return ke_buf_append(b, "false", 5);
    case JSON_NULL: return ke_buf_append(b, "null", 4);
    case JSON_REAL:
    default:
      /* Floats have no single spelling that every implementation agrees on
     * without the full JCS number algorithm; events do not need them. */
      return KE_ERR_FORMAT;
  }
}

ke_rc ke_canon_dump(const json_t *v, char **out, size_t *outlen)
{
  ke_buf b = {0};
  ke_rc rc;

  *out = NULL;
  if (outlen)
    *outlen = 0;
  if ((rc = dump_value(&b, v, 1))) {
    ke_buf_free(&b);
    return rc;
  }
  *out = b.p;
  if (outlen)
    *outlen = b.len;
  return KE_OK;
}

ke_rc ke_canon_parse(json_t **out, const char *text, size_t len)
{
  json_error_t err;
  json_t *v;
  char *again = NULL;
  size_t againlen = 0;
  ke_rc rc;

  *out = NULL;
  if (!text || len == 0 || len > KE_CANON_MAX_LEN)
    return KE_ERR_FORMAT;
  v = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
  if (!v)
    return KE_ERR_FORMAT;
  /* The one spelling test that catches everything at once: whitespace,
   * key order, escapes, "-0", exponents, reals. */
  rc = ke_canon_dump(v, &again, &againlen);
  if (rc == KE_OK && (againlen != len || memcmp(again, text, len) != 0))
    rc = KE_ERR_FORMAT;
  free(again);
  if (rc) {
    json_decref(v);
    return rc == KE_ERR_NOMEM ? rc : KE_ERR_FORMAT;
  }
  *out = v;
  return KE_OK;
}

ke_rc ke_canon_check(const char *text, size_t len)
{
  json_t *v = NULL;
  ke_rc rc = ke_canon_parse(&v, text, len);

  json_decref(v);
  return rc;
}

static int nonempty_string(const json_t *obj, const char *name)
{
  const json_t *s = json_object_get(obj, name);

  return json_is_string(s) && json_string_length(s) > 0;
}

ke_rc ke_canon_event_check(const json_t *event, uint64_t index)
{
  const json_t *seq;

  if (!json_is_object(event))
    return KE_ERR_FORMAT;
  seq = json_object_get(event, "seq");
  if (!json_is_integer(seq) || json_integer_value(seq) < 0 ||
      (uint64_t)json_integer_value(seq) != index)
    return KE_ERR_FORMAT;
  if (!nonempty_string(event, "time") || !nonempty_string(event, "actor") ||
      !nonempty_string(event, "action") || !nonempty_string(event, "outcome"))
    return KE_ERR_FORMAT;
  return KE_OK;
}
