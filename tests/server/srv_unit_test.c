/*
 * srv_unit_test.c - unit tests of escrowd_core pieces that need no network:
 * the route matcher, the error registry, the strict JSON helpers (ke_json),
 * the JSON log line format (ke_log) and the client address behind trusted
 * proxies (srv_forwarded).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ke_json.h"
#include "ke_log.h"
#include "srv_error.h"
#include "srv_forwarded.h"
#include "srv_routes.h"
#include "ke_test.h"

static enum MHD_Result h_dummy(struct srv_request *req)
{
  (void)req;
  return MHD_NO;
}

static const struct srv_route routes[] = {
  {"GET", "/v1/devices", h_dummy, SRV_ROLE_HELPDESK, SRV_BODY_NONE, NULL, NULL},
  {"GET", "/v1/devices/{id}", h_dummy, SRV_ROLE_HELPDESK, SRV_BODY_NONE, NULL, NULL},
  {"PUT", "/v1/devices/{id}/keys/{volume}", h_dummy, SRV_ROLE_AGENT, SRV_BODY_JSON, NULL, NULL},
  {"POST", "/v1/devices/{id}/checkin", h_dummy, SRV_ROLE_AGENT, SRV_BODY_JSON, NULL, NULL},
  {"POST", "/v1/retrievals", h_dummy, SRV_ROLE_HELPDESK, SRV_BODY_JSON, NULL, NULL},
  {"GET", "/v1/retrievals", h_dummy, SRV_ROLE_HELPDESK, SRV_BODY_NONE, NULL, NULL},
};
static const struct srv_route_table table = {routes, sizeof routes / sizeof routes[0]};

static void test_routes(void)
{
  const struct srv_route *r;
  const char *pattern;
  struct srv_route_params p;
  char allow[64];
  char longseg[400];

  CHECK(srv_routes_match(&table, "GET", "/v1/devices/abc", &r, &pattern, &p, allow, sizeof allow) ==
            SRV_ROUTE_FOUND &&
          r == &routes[1],
        "GET device");
  CHECK(p.count == 1 && strcmp(p.values[0], "abc") == 0, "device id");
  CHECK(srv_routes_match(&table, "PUT", "/v1/devices/d1/keys/C:", &r, &pattern, &p, allow,
                         sizeof allow) == SRV_ROUTE_FOUND &&
          r == &routes[2] && p.count == 2 && strcmp(p.values[1], "C:") == 0 &&
          strncmp(p.names[1], "volume", p.name_lens[1]) == 0,
        "two parameters");
  CHECK(srv_routes_match(&table, "HEAD", "/v1/devices", &r, &pattern, &p, allow, sizeof allow) ==
            SRV_ROUTE_FOUND &&
          r == &routes[0],
        "HEAD uses GET");
  CHECK(srv_routes_match(&table, "DELETE", "/v1/retrievals", &r, &pattern, &p, allow,
                         sizeof allow) == SRV_ROUTE_BAD_METHOD &&
          strcmp(allow, "POST, GET, HEAD") == 0 && strcmp(pattern, "/v1/retrievals") == 0,
        "405 Allow: '%s'", allow);
  CHECK(srv_routes_match(&table, "GET", "/v1/devices/abc/checkin", &r, &pattern, &p, allow,
                         sizeof allow) == SRV_ROUTE_BAD_METHOD &&
          strcmp(allow, "POST") == 0,
        "checkin allow '%s'", allow);
  static const char *const missing[] = {"/",
                                        "",
                                        "/v1",
                                        "/v1/devices/",
                                        "/v1/devices//keys/x",
                                        "/v1/devices/a/keys/",
                                        "/v1/devices/a/keys/b/c",
                                        "/v1/devicesX",
                                        "//v1/devices"};
  for (size_t i = 0; i < sizeof missing / sizeof *missing; i++)
    CHECK(srv_routes_match(&table, "GET", missing[i], &r, &pattern, &p, allow, sizeof allow) ==
              SRV_ROUTE_NOT_FOUND &&
            !r && !pattern,
          "'%s' should be 404", missing[i]);
  memset(longseg, 'a', sizeof longseg - 1);
  longseg[sizeof longseg - 1] = '\0';
  memcpy(longseg, "/v1/devices/", 12);
  CHECK(srv_routes_match(&table, "GET", longseg, &r, &pattern, &p, allow, sizeof allow) ==
          SRV_ROUTE_NOT_FOUND,
        "over-long parameter refused");
  /* escrowd's own table: every route has a handler and a leading slash. */
  for (size_t i = 0; i < srv_routes_escrowd.count; i++) {
    const struct srv_route *e = &srv_routes_escrowd.routes[i];
    CHECK(e->handler && e->pattern[0] == '/' && e->method[0], "route %zu malformed", i);
    for (size_t j = 0; j < i; j++)
      CHECK(strcmp(e->pattern, srv_routes_escrowd.routes[j].pattern) != 0 ||
              strcmp(e->method, srv_routes_escrowd.routes[j].method) != 0,
            "route %s %s declared twice", e->method, e->pattern);
  }
}

static void test_errors(void)
{
  for (int i = 0; i < SRV_ERR_COUNT_; i++) {
    const struct srv_error_info *e = srv_error_info((enum srv_error_code)i);
    json_t *j = srv_error_json((enum srv_error_code)i, NULL);
    CHECK(e->http_status >= 400 && e->http_status <= 599, "%s status", e->code);
    for (const char *c = e->code; *c; c++)
      CHECK((*c >= 'a' && *c <= 'z') || *c == '_', "%s is not snake_case", e->code);
    for (int k = 0; k < i; k++)
      CHECK(strcmp(e->code, srv_error_info((enum srv_error_code)k)->code) != 0, "duplicate code %s",
            e->code);
    CHECK(j && json_object_size(j) == 1 &&
            strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                   e->code) == 0,
          "%s json", e->code);
    json_decref(j);
  }
  CHECK(srv_error_info((enum srv_error_code)9999)->http_status == 500, "out of range");
  {
    json_t *j = srv_error_json(SRV_ERR_NOT_FOUND, "\xff bad utf-8");
    CHECK(j && strcmp(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
                      srv_error_info(SRV_ERR_NOT_FOUND)->message) == 0,
          "invalid UTF-8 message falls back to the default");
    json_decref(j);
  }
}

static void test_json(void)
{
  json_t *o = NULL;
  char err[128];
  static const char good[] = "{\"s\":\"x\",\"i\":42,\"b\":true,\"n\":null,\"f\":1.5}";

  CHECK(ke_json_parse_object(&o, good, strlen(good), err, sizeof err) == KE_JSON_OK, "%s", err);
  json_decref(o);
  static const char *const bad[] = {"{\"a\":1,\"a\":2}",  "[1]", "1", "", "{",
                                    "{\"a\":\"\\u0000\"}"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    CHECK(ke_json_parse_object(&o, bad[k], strlen(bad[k]), err, sizeof err) == KE_JSON_SYNTAX &&
            !o && err[0],
          "'%s' accepted", bad[k]);
  }
}

static void test_log(void)
{
  char path[] = "/tmp/ke_log_testXXXXXX", line[1024];
  int fd = mkstemp(path);
  FILE *f;
  json_t *j;
  ke_log_level lvl;

  CHECK(fd >= 0, "mkstemp");
  if (fd < 0)
    return;
  ke_log_set_fd(fd);
  ke_log_set_component("unit");
  ke_log_set_level(KE_LOG_INFO);
  ke_log(KE_LOG_DEBUG, "hidden", json_pack("{s:i}", "n", 1));
  ke_log(KE_LOG_WARN, "shown \"quoted\"\n", json_pack("{s:s,s:s}", "k", "v", "msg", "no"));
  ke_logf(KE_LOG_ERROR, "bad \xff utf %d", 7);
  ke_log_set_fd(2);
  close(fd);
  f = fopen(path, "r");
  CHECK(f && fgets(line, sizeof line, f), "first line");
  j = json_loads(line, 0, NULL);
  CHECK(j && strcmp(json_string_value(json_object_get(j, "level")), "warn") == 0 &&
          strcmp(json_string_value(json_object_get(j, "msg")), "shown \"quoted\"\n") == 0 &&
          strcmp(json_string_value(json_object_get(j, "k")), "v") == 0 &&
          strcmp(json_string_value(json_object_get(j, "component")), "unit") == 0 &&
          json_string_length(json_object_get(j, "ts")) == 24,
        "log line: %s", line);
  json_decref(j);
  CHECK(f && fgets(line, sizeof line, f), "second line");
  j = json_loads(line, 0, NULL);
  CHECK(j && strcmp(json_string_value(json_object_get(j, "level")), "error") == 0,
        "invalid UTF-8 still logs: %s", line);
  json_decref(j);
  CHECK(f && !fgets(line, sizeof line, f), "debug line leaked");
  if (f)
    fclose(f);
  unlink(path);
  CHECK(ke_log_level_parse("WARNING", &lvl) == 0 && lvl == KE_LOG_WARN, "level parse");
  CHECK(ke_log_level_parse("loud", &lvl) != 0, "bad level");
}

/* out starts as the peer; srv_forwarded_client may replace it. */
static const char *fwd(const char *peer, const char *xff)
{
  static char out[INET6_ADDRSTRLEN];
  snprintf(out, sizeof out, "%s", peer);
  srv_forwarded_client(out, peer, xff);
  return out;
}

static void test_forwarded(void)
{
  char err[128];

  CHECK(srv_forwarded_init(NULL, err, sizeof err) == 0, "no proxies");
  CHECK(strcmp(fwd("10.0.0.5", "203.0.113.7"), "10.0.0.5") == 0, "ignored without proxies");
  CHECK(srv_forwarded_init("10.0.0.5,bogus", err, sizeof err) != 0 && strstr(err, "bogus"),
        "a bad address is refused: %s", err);
  CHECK(srv_forwarded_init(" 10.0.0.5 , 10.0.0.6,::1", err, sizeof err) == 0, "list: %s", err);
  CHECK(strcmp(fwd("10.0.0.5", "203.0.113.7"), "203.0.113.7") == 0, "one hop");
  CHECK(strcmp(fwd("10.0.0.9", "203.0.113.7"), "10.0.0.9") == 0, "untrusted peer");
  CHECK(strcmp(fwd("10.0.0.5", NULL), "10.0.0.5") == 0, "no header");
  /* the client's own entries (left) are ignored; trusted hops are skipped */
  CHECK(strcmp(fwd("10.0.0.5", "1.2.3.4, 203.0.113.7, 10.0.0.6"), "203.0.113.7") == 0,
        "rightmost untrusted");
  CHECK(strcmp(fwd("::1", "2001:db8::7"), "2001:db8::7") == 0, "IPv6");
  CHECK(strcmp(fwd("10.0.0.5", "203.0.113.7, garbage"), "10.0.0.5") == 0, "garbled entry");
  CHECK(strcmp(fwd("10.0.0.5", "203.0.113.7,"), "10.0.0.5") == 0, "empty entry");
  CHECK(strcmp(fwd("10.0.0.5", "10.0.0.6, 10.0.0.5"), "10.0.0.5") == 0, "all trusted");
  CHECK(strcmp(fwd("10.0.0.5", "999.1.1.1"), "10.0.0.5") == 0, "not an address");
  CHECK(srv_forwarded_init("", err, sizeof err) == 0, "reset");
}

int main(void)
{
  test_forwarded();
  test_routes();
  test_errors();
  test_json();
  test_log();
  return ke_test_result("srv_unit_test");
}
