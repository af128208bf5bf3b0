/*
 * test_json_spec.c - the declarative JSON parser (lib/ke_json_spec.h):
 * every type, its bounds, defaults, null as absent, unknown members, the
 * order in which failures are reported, lax members, and that secrets decode into the
 * caller's struct.
 */
#include <stdint.h>
#include <string.h>

#include "ke_json.h"
#include "ke_json_spec.h"
#include "ke_test.h"

struct body {
  const char *name;
  int64_t count;
  int flag;
  uint8_t key[4];
  uint8_t blob[8];
  size_t blob_len;
  uint8_t digest[2];
  const json_t *items;
  const char *note;
  int64_t lax;
};

static int lower_only(const char *s)
{
  for (; *s; s++)
    if (*s < 'a' || *s > 'z')
      return 0;
  return 1;
}

static const struct ke_jfield fields[] = {
  KE_JF_STR(struct body, name, 1, 8, lower_only, "name: 1 to 8 lower-case letters"),
  KE_JF_INT_OPT(struct body, count, 1, 100, 7, NULL),
  KE_JF_BOOL_OPT(struct body, flag, 1, NULL),
  KE_JF_B64_FIXED(struct body, key, "key: 4 bytes"),
  KE_JF_B64_VAR(struct body, blob, blob_len, 2, NULL),
  KE_JF_HEX_FIXED(struct body, digest, NULL),
  KE_JF_ARRAY_OPT(struct body, items, 0, 2, NULL),
  KE_JF_STR_OPT(struct body, note, 0, 16, NULL, NULL),
  KE_JF_INT_LAX(struct body, lax, -1),
  KE_JF_END};
static const struct ke_jspec spec = KE_JSPEC(struct body, fields, 0);
static const struct ke_jspec open_spec = KE_JSPEC(struct body, fields, KE_JS_OPEN);

/* Parse `text` with `s`: 0 or -1, the error in *e. */
static int run(const struct ke_jspec *s, const char *text, struct body *b, struct ke_jerr *e)
{
  json_t *o = NULL;
  int rc;

  if (ke_json_parse_object(&o, text, strlen(text), NULL, 0) != KE_JSON_OK)
    return -2;
  rc = ke_json_spec_parse(o, s, b, e);
  /* Borrowed values die with the tree: the checks below use only copies. */
  if (rc == 0 && b->name)
    b->name = strcmp(b->name, "abc") == 0 ? "abc" : "?";
  b->items = NULL;
  b->note = NULL;
  json_decref(o);
  return rc;
}

#define GOOD_REST "\"key\":\"AQIDBA\",\"blob\":\"AAE\",\"digest\":\"0aff\""

int main(void)
{
  struct body b;
  struct ke_jerr e;

  CHECK(run(&spec, "{\"name\":\"abc\"," GOOD_REST "}", &b, &e) == 0);
  CHECK(b.count == 7 && b.flag == 1); /* defaults */
  CHECK(b.key[0] == 1 && b.key[3] == 4);
  CHECK(b.blob_len == 2 && b.blob[1] == 1);
  CHECK(b.digest[0] == 0x0a && b.digest[1] == 0xff);
  CHECK(run(&spec, "{\"name\":\"abc\",\"count\":null,\"flag\":false," GOOD_REST "}", &b, &e) == 0);
  CHECK(b.count == 7 && b.flag == 0); /* null is absent */
  CHECK(run(&spec, "{\"name\":\"abc\",\"count\":100," GOOD_REST "}", &b, &e) == 0 &&
        b.count == 100);

  /* failures name the member, with the table's message where it has one */
  CHECK(run(&spec, "{" GOOD_REST "}", &b, &e) == -1 && e.kind == KE_JE_MISSING);
  CHECK(strcmp(e.text, "name: 1 to 8 lower-case letters") == 0);
  CHECK(run(&spec, "{\"name\":\"ABC\"," GOOD_REST "}", &b, &e) == -1 && e.kind == KE_JE_INVALID);
  CHECK(run(&spec, "{\"name\":\"abcdefghi\"," GOOD_REST "}", &b, &e) == -1);
  CHECK(run(&spec, "{\"name\":null," GOOD_REST "}", &b, &e) == -1 && e.kind == KE_JE_MISSING);
  CHECK(run(&spec, "{\"name\":\"abc\",\"count\":101," GOOD_REST "}", &b, &e) == -1);
  CHECK(strcmp(e.text, "count must be an integer from 1 to 100") == 0);
  CHECK(e.field && strcmp(e.field->name, "count") == 0);
  CHECK(run(&spec, "{\"name\":\"abc\",\"count\":\"5\"," GOOD_REST "}", &b, &e) == -1);
  CHECK(run(&spec, "{\"name\":\"abc\",\"flag\":1," GOOD_REST "}", &b, &e) == -1);
  CHECK(run(&spec, "{\"name\":\"abc\",\"key\":\"AQID\",\"blob\":\"AAE\",\"digest\":\"0aff\"}", &b,
            &e) == -1 &&
        strcmp(e.text, "key: 4 bytes") == 0);
  CHECK(run(&spec, "{\"name\":\"abc\",\"key\":\"AQIDBA==\",\"blob\":\"AAE\",\"digest\":\"0aff\"}",
            &b, &e) == -1);
  CHECK(run(&spec, "{\"name\":\"abc\",\"key\":\"AQIDBA\",\"blob\":\"AA\",\"digest\":\"0aff\"}", &b,
            &e) == -1 &&
        strcmp(e.field->name, "blob") == 0); /* 1 byte < 2 */
  CHECK(run(&spec,
            "{\"name\":\"abc\",\"key\":\"AQIDBA\",\"blob\":\"AAECAwQFBgcI\",\"digest\":"
            "\"0aff\"}",
            &b, &e) == -1); /* 9 bytes > 8 */
  CHECK(run(&spec, "{\"name\":\"abc\",\"key\":\"AQIDBA\",\"blob\":\"AAE\",\"digest\":\"0AFF\"}", &b,
            &e) == -1 &&
        strcmp(e.field->name, "digest") == 0); /* lower-case only */
  CHECK(run(&spec, "{\"name\":\"abc\",\"items\":[1,2,3]," GOOD_REST "}", &b, &e) == -1);
  CHECK(run(&spec, "{\"name\":\"abc\",\"items\":{}," GOOD_REST "}", &b, &e) == -1);
  CHECK(run(&spec, "{\"name\":\"abc\",\"note\":\"\"," GOOD_REST "}", &b, &e) == 0);
  /* a lax member: a wrong value reads as absent */
  CHECK(run(&spec, "{\"name\":\"abc\",\"lax\":\"x\"," GOOD_REST "}", &b, &e) == 0);
  CHECK(b.lax == -1);
  CHECK(run(&spec, "{\"name\":\"abc\",\"lax\":3," GOOD_REST "}", &b, &e) == 0 && b.lax == 3);
  /* Not an object (the agent reads an absent volume so): an error, and the
   * defaults are there all the same. */
  CHECK(ke_json_spec_parse(NULL, &spec, &b, &e) == -1 && e.kind == KE_JE_NOT_OBJECT);
  CHECK(b.lax == -1 && b.count == 7 && b.flag == 1 && !b.name);

  /* unknown members: refused before any field, echoed only when safe */
  CHECK(run(&spec, "{\"extra\":1}", &b, &e) == -1 && e.kind == KE_JE_UNKNOWN);
  CHECK(strcmp(e.text, "unknown member \"extra\"") == 0);
  CHECK(run(&spec, "{\"a\\nb\":1}", &b, &e) == -1);
  CHECK(strcmp(e.text, "unknown member in the request body") == 0);
  CHECK(run(&open_spec, "{\"extra\":1,\"name\":\"abc\"," GOOD_REST "}", &b, &e) == 0);

  /* not an object */
  {
    json_t *a = json_array();
    CHECK(ke_json_spec_parse(a, &spec, &b, &e) == -1 && e.kind == KE_JE_NOT_OBJECT);
    json_decref(a);
  }
  CHECK(ke_json_spec_field(&spec, "blob") == &fields[4]);
  CHECK(ke_json_spec_field(&spec, "nope") == NULL);
  return ke_test_result("json_spec");
}
