/*
 * fuzz_srv_routes.c - every request body spec and query spec of escrowd,
 * driven from the route table (server/srv_routes.c), on hostile bytes.
 *
 * Input: byte 0 picks a route among those with a spec, byte 1 picks body
 * (even) or query string (odd), the rest is the body (JSON) or the query
 * string ("k=v&k=v").  Whatever the input, parsing must not crash, leak or
 * read out of bounds, and what a spec accepts must keep the spec's promises
 * (the handler relies on them): strings within their byte bounds and
 * passing their rule, integers within their range, booleans 0 or 1.  A
 * refusal must carry a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_json.h"
#include "ke_json_spec.h"
#include "srv_ep.h"
#include "srv_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Large enough for every spec's struct, aligned for any member. */
static union {
  max_align_t align;
  unsigned char bytes[4096];
} out;

static void check_body(const struct ke_jspec *spec)
{
  for (const struct ke_jfield *f = spec->fields; f->name; f++) {
    const void *v = out.bytes + f->offset;
    if (f->type == KE_JT_STR && *(const char *const *)v) {
      const char *s = *(const char *const *)v;
      size_t n = strlen(s);
      if (n < (size_t)f->min || n > (size_t)f->max || (f->check && !f->check(s)))
        abort();
    } else if (f->type == KE_JT_INT && !(f->flags & KE_JF_OPTIONAL)) {
      int64_t i = *(const int64_t *)v;
      if (i < f->min || i > f->max)
        abort();
    } else if (f->type == KE_JT_BOOL && *(const int *)v != 0 && *(const int *)v != 1) {
      abort();
    }
  }
}

static void fuzz_body(const struct ke_jspec *spec, const char *buf, size_t len)
{
  json_t *obj = NULL;
  struct ke_jerr err;

  if (spec->size > sizeof out.bytes)
    abort(); /* a spec the fuzz target cannot hold: make the union bigger */
  if (ke_json_parse_object(&obj, buf, len, NULL, 0) != KE_JSON_OK)
    return;
  if (ke_json_spec_parse(obj, spec, out.bytes, &err) == 0)
    check_body(spec);
  else if (err.kind == KE_JE_NONE || err.text[0] == '\0' ||
           memchr(err.text, '\0', sizeof err.text) == NULL)
    abort();
  json_decref(obj);
}

/* The query string as escrowd hands it over: names and values, the first
 * of a repeated name counting. */
struct query {
  char *names[16], *values[16];
  size_t count;
};

static const char *query_lookup(void *cls, const char *name)
{
  const struct query *q = cls;
  for (size_t i = 0; i < q->count; i++)
    if (strcmp(q->names[i], name) == 0)
      return q->values[i];
  return NULL;
}

static void fuzz_query(const struct srv_qspec *spec, char *text)
{
  struct query q = {{0}, {0}, 0};
  char err[240];

  if (spec->size > sizeof out.bytes)
    abort();
  for (char *save = NULL, *kv = strtok_r(text, "&", &save); kv && q.count < 16;
       kv = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(kv, '=');
    q.names[q.count] = kv;
    q.values[q.count] = eq ? (*eq = '\0', eq + 1) : kv + strlen(kv);
    q.count++;
  }
  if (srv_query_parse(spec, query_lookup, &q, out.bytes, err, sizeof err) != 0) {
    if (err[0] == '\0')
      abort();
    return;
  }
  for (const struct srv_qfield *f = spec->fields; f->name; f++) {
    const void *v = out.bytes + f->offset;
    if (f->type == SRV_Q_UINT && query_lookup(&q, f->name) &&
        (*(const int64_t *)v < f->min || *(const int64_t *)v > f->max))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const struct srv_route_table *t = &srv_routes_escrowd;
  size_t with_spec = 0, pick;
  char *text;

  if (size < 2)
    return 0;
  for (size_t i = 0; i < t->count; i++)
    with_spec += t->routes[i].body_spec || t->routes[i].query_spec;
  if (!with_spec)
    return 0;
  pick = data[0] % with_spec;
  for (size_t i = 0; i < t->count; i++) {
    const struct srv_route *r = &t->routes[i];
    if (!(r->body_spec || r->query_spec) || pick-- != 0)
      continue;
    if (!(text = malloc(size - 1)))
      return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    if ((data[1] & 1) == 0 && r->body_spec)
      fuzz_body(r->body_spec, text, size - 2);
    else if (r->query_spec)
      fuzz_query(r->query_spec, text);
    free(text);
    break;
  }
  return 0;
}
