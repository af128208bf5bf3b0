/*
 * test_canon.c - canonical JSON of audit events: key order (UTF-16, as in
 * JCS), escaping, refusal of floats and of every non-canonical spelling,
 * and the leaves of the shared Merkle vectors.
 *
 * usage: test_canon VECTORS.json
 */
#include <string.h>

#include <jansson.h>

#include "ke_test.h"
#include "ke_canon.h"

/* Dump `v` (stealing the reference) and compare with `want`. */
static void dump_is(json_t *v, const char *want)
{
  char *out = NULL;
  size_t len = 0;

  REQUIRE(v);
  CHECK_RC(ke_canon_dump(v, &out, &len), KE_OK);
  if (out && (len != strlen(want) || strcmp(out, want) != 0)) {
    fprintf(stderr, "  got  %s\n  want %s\n", out, want);
    CHECK(!"canonical form");
  }
  /* and it parses back as canonical */
  if (out)
    CHECK_RC(ke_canon_check(out, len), KE_OK);
  free(out);
  json_decref(v);
}

static void dump_fails(json_t *v)
{
  char *out = (char *)"x";

  REQUIRE(v);
  CHECK_RC(ke_canon_dump(v, &out, NULL), KE_ERR_FORMAT);
  CHECK(out == NULL);
  json_decref(v);
}

static void test_dump(void)
{
  json_t *deep, *inner;
  int i;

  dump_is(json_pack("{s:i,s:i,s:i,s:i}", "b", 1, "a", 2, "aa", 3, "A", 4),
          "{\"A\":4,\"a\":2,\"aa\":3,\"b\":1}");
  /* nested objects sorted too, arrays kept in order, compact */
  dump_is(json_pack("{s:[i,{s:b,s:n}],s:{s:s}}", "z", 3, "y", 1, "x", "m", "k", "v"),
          "{\"m\":{\"k\":\"v\"},\"z\":[3,{\"x\":null,\"y\":true}]}");
  dump_is(json_pack("{}"), "{}");
  dump_is(json_pack("[]"), "[]");
  dump_is(json_pack("[b,b,n]", 1, 0), "[true,false,null]");
  /* JCS key order is by UTF-16 code units: U+20AC < U+1F600 (D83D DE00)
   * < U+FB33, where bytewise UTF-8 order would put U+FB33 second. */
  dump_is(json_pack("{s:i,s:i,s:i,s:i}", "\xEF\xAC\xB3", 3, "\xF0\x9F\x98\x80", 2, "\xE2\x82\xAC",
                    1, "\x7F", 0),
          "{\"\x7F\":0,\"\xE2\x82\xAC\":1,\"\xF0\x9F\x98\x80\":2,\"\xEF\xAC\xB3\":3}");
  /* a prefix sorts first */
  dump_is(json_pack("{s:i,s:i}", "ab", 1, "a", 0), "{\"a\":0,\"ab\":1}");
  /* escaping: only '"', '\\' and controls; lower-case \u00xx; "/", DEL,
   * non-ASCII and U+2028 as themselves */
  dump_is(json_string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xC3\xA9\xE2\x80\xA8"),
          "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xC3\xA9\xE2\x80\xA8\"");
  dump_is(json_stringn("a\0b", 3), "\"a\\u0000b\"");
  /* integers: the I-JSON safe range exactly */
  dump_is(json_integer(9007199254740991LL), "9007199254740991");
  dump_is(json_integer(-9007199254740991LL), "-9007199254740991");
  dump_is(json_integer(0), "0");
  dump_fails(json_integer(9007199254740992LL));
  dump_fails(json_integer(-9007199254740992LL));
  /* floats are refused, even integral ones, and inside containers */
  dump_fails(json_real(1.5));
  dump_fails(json_real(1.0));
  dump_fails(json_pack("{s:[i,f]}", "a", 1, 2.0));
  /* invalid UTF-8 slipped in without jansson's check */
  dump_fails(json_stringn_nocheck("\xC3\x28", 2));
  dump_fails(json_stringn_nocheck("\xED\xA0\x80", 3));     /* surrogate */
  dump_fails(json_stringn_nocheck("\xC0\xAF", 2));         /* overlong */
  dump_fails(json_stringn_nocheck("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
  inner = json_object();
  json_object_setn_nocheck(inner, "\xFF", 1, json_true());
  dump_fails(inner);
  /* nesting depth */
  deep = json_array();
  for (i = 1; i < KE_CANON_MAX_DEPTH; i++) {
    inner = json_array();
    json_array_append_new(inner, deep);
    deep = inner;
  }
  {
    char *out = NULL;
    CHECK_RC(ke_canon_dump(deep, &out, NULL), KE_OK);
    free(out);
  }
  inner = json_array();
  json_array_append_new(inner, deep);
  dump_fails(inner);
}

static void parse_fails(const char *text)
{
  json_t *v = (json_t *)1;

  CHECK(ke_canon_parse(&v, text, strlen(text)) == KE_ERR_FORMAT && v == NULL,
        "accepted as canonical: %s", text);
}

static void test_parse(void)
{
  static const char *good[] = {
    "{\"a\":1,\"b\":[true,false,null,\"x\"]}",
    "{}",
    "[]",
    "0",
    "-1",
    "\"\"",
    "{\"actor\":\"user:alice\",\"seq\":12,\"time\":\"2024-05-01T12:00:00Z\"}",
    "\"\xC3\xA9/\\u001f\"",
    "\"a\\u0000b\"",
  };
  static const char *bad[] = {
    "{\"b\":1,\"a\":2}",  /* unsorted */
    "{\"a\":1, \"b\":2}", /* whitespace */
    " {}",
    "{} ",
    "{}\n",              /* surrounding whitespace */
    "{\"a\":1,\"a\":1}", /* duplicate key */
    "1.0",
    "1e2",
    "1E2",
    "0.5",
    "-0",
    "-0.0",
    "01",
    "9007199254740992",
    "99999999999999999999",
    "\"\\u0041\"",                                 /* needless escape */
    "\"\\/\"",                                     /* escaped slash */
    "\"\\u001F\"",                                 /* upper-case hex */
    "\"\\u00e9\"",                                 /* escaped non-ASCII */
    "\"\xC3\"",                                    /* invalid UTF-8 */
    "{\"\xEF\xAC\xB3\":1,\"\xF0\x9F\x98\x80\":2}", /* bytewise, not UTF-16, order */
    "[1,]",
    "{",
    "",
    "nul",
    "true false",
  };
  json_t *v;
  size_t i;
  char deep[2 * (KE_CANON_MAX_DEPTH + 1) + 1];

  for (i = 0; i < sizeof good / sizeof *good; i++) {
    v = NULL;
    CHECK_RC(ke_canon_parse(&v, good[i], strlen(good[i])), KE_OK);
    CHECK(v != NULL);
    json_decref(v);
  }
  for (i = 0; i < sizeof bad / sizeof *bad; i++)
    parse_fails(bad[i]);
  /* not NUL-terminated input is fine; trailing bytes past len are ignored */
  CHECK_RC(ke_canon_check("{}garbage", 2), KE_OK);
  CHECK_RC(ke_canon_check(NULL, 0), KE_ERR_FORMAT);
  memset(deep, '[', KE_CANON_MAX_DEPTH + 1);
  memset(deep + KE_CANON_MAX_DEPTH + 1, ']', KE_CANON_MAX_DEPTH + 1);
  deep[sizeof deep - 1] = '\0';
  parse_fails(deep);
  CHECK_RC(ke_canon_check(deep + 1, strlen(deep) - 2), KE_OK);
}

static void test_event(void)
{
  json_t *e =
    json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "seq", 7, "time", "2024-05-01T12:00:00.123Z",
              "actor", "user:alice", "action", "retrieval.create", "object", "device:42", "outcome",
              "ok", "src", "192.0.2.1", "request_id", "r-1");

  REQUIRE(e);
  CHECK_RC(ke_canon_event_check(e, 7), KE_OK);
  CHECK_RC(ke_canon_event_check(e, 8), KE_ERR_FORMAT);
  json_object_set_new(e, "seq", json_integer(-1));
  CHECK_RC(ke_canon_event_check(e, (uint64_t)-1), KE_ERR_FORMAT);
  json_object_set_new(e, "seq", json_string("7"));
  CHECK_RC(ke_canon_event_check(e, 7), KE_ERR_FORMAT);
  json_object_set_new(e, "seq", json_integer(7));
  json_object_set_new(e, "actor", json_string(""));
  CHECK_RC(ke_canon_event_check(e, 7), KE_ERR_FORMAT);
  json_object_del(e, "actor");
  CHECK_RC(ke_canon_event_check(e, 7), KE_ERR_FORMAT);
  json_decref(e);
  e = json_pack("[i]", 7);
  CHECK_RC(ke_canon_event_check(e, 7), KE_ERR_FORMAT);
  json_decref(e);
}

/* Every leaf of the shared Merkle vectors is canonical and its "seq" is its
 * index. */
static void test_vector_leaves(const char *file)
{
  json_error_t err;
  json_t *doc = json_load_file(file, 0, &err), *t, *leaf, *v, *seq;
  size_t ti, i, seen = 0;

  REQUIRE(doc);
  json_array_foreach (json_object_get(doc, "merkle"), ti, t) {
    json_array_foreach (json_object_get(t, "leaves"), i, leaf) {
      const char *s = json_string_value(leaf);
      REQUIRE(s);
      v = NULL;
      CHECK_RC(ke_canon_parse(&v, s, strlen(s)), KE_OK);
      seq = json_object_get(v, "seq");
      CHECK(json_is_integer(seq) && (size_t)json_integer_value(seq) == i);
      json_decref(v);
      seen++;
    }
  }
  CHECK(seen > 30);
  json_decref(doc);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: %s VECTORS.json\n", argv[0]);
    return 2;
  }
  test_dump();
  test_parse();
  test_event();
  test_vector_leaves(argv[1]);
  return ke_test_result("canon");
}
