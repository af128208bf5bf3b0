/*
 * ke_files_json.c - strict JSON field access for ke_files.c, and the value
 * rules (ids, labels, times) that the server and agent share.
 *
 * Error texts name the field and the rule, never the value: a file given in
 * the wrong place (a key file as a part, say) must not echo its content.
 * For the same reason jansson's own error text, which quotes the input near
 * the error, is not passed on.
 */
#include "ke_cli.h"
#include "ke_files_int.h"

#include "ke_json.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ke_rc kf_err(ke_ferr *err, ke_rc rc, const char *fmt, ...)
{
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return rc;
}

ke_rc kf_load(json_t **root, const char *json, size_t len, const char *ctx, ke_ferr *err)
{
  return kf_load_max(root, json, len, KE_FILE_MAX, ctx, err);
}

ke_rc kf_load_max(json_t **root, const char *json, size_t len, unsigned max, const char *ctx,
                  ke_ferr *err)
{
  *root = NULL;
  if (!json || len > max)
    return kf_err(err, KE_ERR_LENGTH, "%s: larger than %u bytes", ctx, max);
  /* No error text from the parser: jansson's quotes the input. */
  if (ke_json_parse_object(root, json, len, NULL, 0) != KE_JSON_OK)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: not a JSON object (invalid JSON, a duplicate "
                  "key, or another top-level type)",
                  ctx);
  return KE_OK;
}

/* A field name from the input, made safe to print: at most 32 printable
 * ASCII characters. */
static void safe_name(char out[40], const char *s)
{
  size_t i = 0;
  for (; s[i] && i < 32; i++)
    out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
  strcpy(out + i, s[i] ? "..." : "");
}

ke_rc kf_fields(json_t *obj, const char *ctx, const char *const *fields, ke_ferr *err)
{
  const char *key;
  json_t *v;
  json_object_foreach (obj, key, v) {
    size_t i = 0;
    while (fields[i] && strcmp(fields[i], key) != 0)
      i++;
    if (!fields[i]) {
      char name[40];
      safe_name(name, key);
      return kf_err(err, KE_ERR_FORMAT, "%s: unknown field \"%s\"", ctx, name);
    }
  }
  for (size_t i = 0; fields[i]; i++)
    if (!json_object_get(obj, fields[i]))
      return kf_err(err, KE_ERR_FORMAT, "%s: missing field \"%s\"", ctx, fields[i]);
  return KE_OK;
}

ke_rc kf_header(json_t *obj, const char *ctx, const char *const *fields, ke_ferr *err)
{
  /* The version is checked first: a future version may have other fields,
   * and "unsupported version" is the useful message then. */
  json_t *v = json_object_get(obj, "version");
  if (!v)
    return kf_err(err, KE_ERR_FORMAT, "%s: missing field \"version\"", ctx);
  if (!json_is_integer(v))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"version\": must be an integer", ctx);
  if (json_integer_value(v) != KE_FILE_VERSION)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: unsupported version %lld (this build reads "
                  "version %d)",
                  ctx, (long long)json_integer_value(v), KE_FILE_VERSION);
  return kf_fields(obj, ctx, fields, err);
}

static json_t *need(json_t *obj, const char *key, const char *ctx, ke_ferr *err)
{
  json_t *v = json_object_get(obj, key);
  if (!v)
    kf_err(err, KE_ERR_FORMAT, "%s: missing field \"%s\"", ctx, key);
  return v;
}

static const char *need_str(json_t *obj, const char *key, const char *ctx, ke_ferr *err)
{
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) { /* for strings, null has always meant missing */
    kf_err(err, KE_ERR_FORMAT, "%s: missing field \"%s\"", ctx, key);
    return NULL;
  }
  if (!json_is_string(v))
    kf_err(err, KE_ERR_FORMAT, "%s: field \"%s\": must be a string", ctx, key);
  return json_string_value(v);
}

ke_rc kf_uint(unsigned *out, json_t *obj, const char *key, unsigned lo, unsigned hi,
              const char *ctx, ke_ferr *err)
{
  json_t *v = need(obj, key, ctx, err);
  if (!v)
    return KE_ERR_FORMAT;
  if (!json_is_integer(v))
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"%s\": must be an integer", ctx, key);
  json_int_t x = json_integer_value(v);
  if (x < (json_int_t)lo || x > (json_int_t)hi)
    return kf_err(err, strcmp(key, "index") == 0 ? KE_ERR_INVALID_INDEX : KE_ERR_FORMAT,
                  "%s: field \"%s\": must be in %u..%u", ctx, key, lo, hi);
  *out = (unsigned)x;
  return KE_OK;
}

ke_rc kf_const_str(json_t *obj, const char *key, const char *want, const char *ctx, ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  if (!s)
    return KE_ERR_FORMAT;
  if (strcmp(s, want) != 0)
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"%s\": must be \"%s\"", ctx, key, want);
  return KE_OK;
}

ke_rc kf_str(char *out, size_t outsize, json_t *obj, const char *key, const char *ctx, ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  if (!s)
    return KE_ERR_FORMAT;
  size_t n = strlen(s);
  if (n >= outsize)
    return kf_err(err, KE_ERR_LENGTH, "%s: field \"%s\": longer than %zu bytes", ctx, key,
                  outsize - 1);
  memcpy(out, s, n + 1);
  return KE_OK;
}

/* The end of kf_label, kf_id and kf_time: s (NULL if need_str failed) is
 * copied out if ok, else the error names the rule: "1..max what". */
static ke_rc ruled_str(char *out, const char *s, int ok, const char *key, size_t max,
                       const char *what, const char *ctx, ke_ferr *err)
{
  if (!s)
    return KE_ERR_FORMAT;
  if (!ok && max)
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"%s\": must be 1..%zu %s", ctx, key, max, what);
  if (!ok)
    return kf_err(err, KE_ERR_FORMAT, "%s: field \"%s\": must be %s", ctx, key, what);
  memcpy(out, s, strlen(s) + 1);
  return KE_OK;
}

ke_rc kf_label(char *out, json_t *obj, const char *key, size_t max, const char *ctx, ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  return ruled_str(out, s, s && ke_label_valid(s, max), key, max,
                   "bytes of UTF-8 without "
                   "control or invisible format characters",
                   ctx, err);
}

ke_rc kf_id(char out[KE_ID_MAX + 1], json_t *obj, const char *key, const char *ctx, ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  return ruled_str(out, s, s && ke_id_valid(s), key, KE_ID_MAX, "characters of A-Z a-z 0-9 . _ : -",
                   ctx, err);
}

ke_rc kf_time(char out[KE_TIME_LEN + 1], json_t *obj, const char *key, const char *ctx,
              ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  return ruled_str(out, s, s && ke_time_valid(s), key, 0, "RFC 3339 UTC, YYYY-MM-DDTHH:MM:SSZ", ctx,
                   err);
}

ke_rc kf_hex(uint8_t *out, size_t len, json_t *obj, const char *key, const char *ctx, ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  if (!s)
    return KE_ERR_FORMAT;
  int ok = strlen(s) == 2 * len;
  for (size_t i = 0; ok && s[i]; i++)
    ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
  if (!ok || ke_hex_decode(out, len, s) != KE_OK)
    return kf_err(err, KE_ERR_FORMAT,
                  "%s: field \"%s\": must be %zu lower-case hex "
                  "digits",
                  ctx, key, 2 * len);
  return KE_OK;
}

ke_rc kf_b64_fixed(uint8_t *out, size_t len, json_t *obj, const char *key, const char *ctx,
                   ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  if (!s)
    return KE_ERR_FORMAT;
  ke_rc rc = ke_b64url_decode_fixed(out, len, s);
  if (rc)
    return kf_err(err, rc,
                  "%s: field \"%s\": must be unpadded base64url of exactly "
                  "%zu bytes",
                  ctx, key, len);
  return KE_OK;
}

ke_rc kf_b64_var(uint8_t *out, size_t *outlen, size_t min, size_t max, json_t *obj, const char *key,
                 const char *ctx, ke_ferr *err)
{
  const char *s = need_str(obj, key, ctx, err);
  uint8_t *buf = NULL;
  size_t n = 0;
  if (!s)
    return KE_ERR_FORMAT;
  /* Reject by encoded length first: no allocation for absurd inputs. */
  ke_rc rc = strlen(s) > (max + 2) / 3 * 4 ? KE_ERR_LENGTH : ke_b64url_decode(&buf, &n, s, 0);
  if (!rc && (n < min || n > max))
    rc = KE_ERR_LENGTH;
  if (!rc)
    memcpy(out, buf, n);
  free(buf);
  if (rc)
    return kf_err(err, rc,
                  "%s: field \"%s\": must be unpadded base64url of %zu..%zu "
                  "bytes",
                  ctx, key, min, max);
  *outlen = n;
  return KE_OK;
}

ke_rc kf_val_point(ke_point *out, json_t *v, const char *name, const char *ctx, ke_ferr *err)
{
  uint8_t b[KE_POINT_LEN];
  if (!json_is_string(v))
    return kf_err(err, KE_ERR_FORMAT, "%s: %s: must be a string", ctx, name);
  if (ke_b64url_decode_fixed(b, sizeof b, json_string_value(v)) != KE_OK)
    return kf_err(err, KE_ERR_INVALID_POINT,
                  "%s: %s: invalid point: must be unpadded "
                  "base64url of a 33-byte compressed P-256 point",
                  ctx, name);
  ke_rc rc = ke_point_parse(out, b, sizeof b);
  if (rc)
    return kf_err(err, rc,
                  "%s: %s: invalid point: not on the P-256 curve, infinity, or "
                  "not a compressed encoding",
                  ctx, name);
  return KE_OK;
}

ke_rc kf_point(ke_point *out, json_t *obj, const char *key, const char *ctx, ke_ferr *err)
{
  char name[48];
  json_t *v = need(obj, key, ctx, err);
  if (!v)
    return KE_ERR_FORMAT;
  snprintf(name, sizeof name, "field \"%s\"", key);
  return kf_val_point(out, v, name, ctx, err);
}

int kf_set(json_t *obj, const char *key, json_t *v)
{
  return json_object_set_new(obj, key, v) != 0;
}

json_t *kf_b64(const uint8_t *b, size_t len)
{
  char *s = ke_b64url_encode(b, len);
  json_t *v = s ? json_string(s) : NULL;
  free(s);
  return v;
}

/* Where json_dump_callback writes: a ke_buf, refused past `max` bytes. */
struct kf_dump_sink {
  ke_buf b;
  size_t max;
};

static int dump_cb(const char *data, size_t size, void *arg)
{
  struct kf_dump_sink *s = arg;
  return size > s->max - s->b.len || ke_buf_append(&s->b, data, size) != KE_OK ? -1 : 0;
}

ke_rc kf_dump_max(json_t *root, size_t max, char **out, size_t *outlen)
{
  /* json_dump_callback rather than json_dumps: the result is ours to free
   * with free() whatever allocator jansson was given. */
  struct kf_dump_sink s = {{NULL, 0, 0, 0}, max};

  if (!root || json_dump_callback(root, dump_cb, &s, JSON_INDENT(2)) != 0 || !s.b.p ||
      ke_buf_append(&s.b, "\n", 1) != KE_OK) {
    ke_buf_free(&s.b);
    return KE_ERR_NOMEM;
  }
  *out = s.b.p;
  *outlen = s.b.len;
  return KE_OK;
}

ke_rc kf_dump(json_t *root, char **out, size_t *outlen)
{
  return kf_dump_max(root, 4 * KE_FILE_MAX, out, outlen);
}

void kf_wipe_string(json_t *v)
{
  /* jansson owns the string's heap copy and will free it unwiped; the cast
   * is sound because the buffer was malloc'd writable by jansson. */
  if (json_is_string(v))
    ke_wipe((char *)json_string_value(v), json_string_length(v));
}

/* ---- value rules ---------------------------------------------------------- */
int ke_id_valid(const char *s)
{
  size_t n = 0;
  if (!s)
    return 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == ':' || c == '-'))
      return 0;
    if (n >= KE_ID_MAX)
      return 0;
  }
  return n > 0;
}

/* Code points that are controls or invisible formatting: C1 controls (a
 * terminal may act on them: U+009B is CSI), and Unicode general category
 * Cf (Unicode 15) plus the line and paragraph separators: bidi embeddings,
 * overrides and isolates that make "harmless-laptop" display for another
 * name, zero-width characters that make two names look alike, the BOM and
 * the soft hyphen, tag characters.  Ranges are sorted. */
static const uint32_t kf_refused[][2] = {
  {0x0080, 0x009F},   {0x00AD, 0x00AD},   {0x0600, 0x0605},   {0x061C, 0x061C},
  {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},
  {0x180E, 0x180E},   {0x200B, 0x200F},   {0x2028, 0x202E},   {0x2060, 0x2064},
  {0x2066, 0x206F},   {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD},
  {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
  {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
};

static int kf_refused_cp(uint32_t cp)
{
  for (size_t i = 0; i < sizeof kf_refused / sizeof kf_refused[0]; i++)
    if (cp >= kf_refused[i][0] && cp <= kf_refused[i][1])
      return 1;
  return 0;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
 * without NUL, C0 or C1 controls, DEL, or the invisible format characters
 * above: device and volume ids go into an AAD with a 0x00 separator, and
 * every label is shown to people (custodians deciding whether to open, on
 * a terminal), so what is shown must be what is there. */
int ke_text_valid(const uint8_t *s, size_t len)
{
  uint32_t cp;
  for (size_t i = 0, step; i < len; i += step)
    if (!(step = ke_utf8_next(s + i, len - i, &cp)) || cp < 0x20 || cp == 0x7f || kf_refused_cp(cp))
      return 0;
  return 1;
}

int ke_label_valid(const char *s, size_t max)
{
  if (!s)
    return 0;
  size_t n = strnlen(s, max + 1);
  return n >= 1 && n <= max && ke_text_valid((const uint8_t *)s, n);
}

ke_rc ke_time_rfc3339(char out[KE_TIME_LEN + 1], time_t t)
{
  struct tm tm;
  if (!gmtime_r(&t, &tm) ||
      strftime(out, KE_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) != KE_TIME_LEN)
    return KE_ERR_INTERNAL;
  return KE_OK;
}

static int digits(const char *s, size_t n, int lo, int hi)
{
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
  }
  return v >= lo && v <= hi;
}

int ke_time_valid(const char *s)
{
  return s && strlen(s) == KE_TIME_LEN && digits(s, 4, 1970, 9999) && s[4] == '-' &&
         digits(s + 5, 2, 1, 12) && s[7] == '-' && digits(s + 8, 2, 1, 31) && s[10] == 'T' &&
         digits(s + 11, 2, 0, 23) && s[13] == ':' && digits(s + 14, 2, 0, 59) && s[16] == ':' &&
         digits(s + 17, 2, 0, 60) && s[19] == 'Z';
}

static void wipe_free(void *p)
{
  if (p) {
    ke_wipe(p, malloc_usable_size(p));
    free(p);
  }
}

void ke_json_wipe_on_free(void) { json_set_alloc_funcs(malloc, wipe_free); }
