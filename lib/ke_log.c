/*
 * ke_log.c - structured JSON log lines (see ke_log.h).
 */
#include "ke_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Plain ints read without locks: configuration happens once at start-up,
 * before threads exist, and a torn read of a level is harmless anyway. */
static volatile int ke_log_min = KE_LOG_INFO;
static volatile int ke_log_out = 2;
static char ke_log_comp[32] = "keyescrow";

static const char *const ke_log_names[] = {"debug", "info", "warn", "error"};

void ke_log_set_level(ke_log_level level) { ke_log_min = (int)level; }
ke_log_level ke_log_get_level(void) { return (ke_log_level)ke_log_min; }
int ke_log_enabled(ke_log_level level) { return (int)level >= ke_log_min; }
void ke_log_set_fd(int fd) { ke_log_out = fd; }

void ke_log_set_component(const char *name)
{
  snprintf(ke_log_comp, sizeof ke_log_comp, "%s", name ? name : "");
}

const char *ke_log_level_name(ke_log_level level)
{
  if ((int)level < 0 || (size_t)level >= sizeof ke_log_names / sizeof *ke_log_names)
    return "unknown";
  return ke_log_names[level];
}

int ke_log_level_parse(const char *s, ke_log_level *out)
{
  if (!s)
    return -1;
  for (size_t i = 0; i < sizeof ke_log_names / sizeof *ke_log_names; i++) {
    if (strcasecmp(s, ke_log_names[i]) == 0) {
      *out = (ke_log_level)i;
      return 0;
    }
  }
  if (strcasecmp(s, "warning") == 0) {
    *out = KE_LOG_WARN;
    return 0;
  }
  return -1;
}

static void ke_log_write_all(const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t n = write(ke_log_out, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return; /* nowhere left to report a logging failure */
    }
    buf += n;
    len -= (size_t)n;
  }
}

/* json_string() refuses invalid UTF-8; a log line must still come out. */
static json_t *ke_log_str(const char *s)
{
  json_t *j = json_string(s ? s : "");
  return j ? j : json_string("(invalid utf-8)");
}

static void ke_log_timestamp(char *out, size_t outlen)
{
  struct timespec ts;
  struct tm tm;
  char base[32];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, outlen, "%s.%03ldZ", base, ts.tv_nsec / 1000000L);
}

void ke_log(ke_log_level level, const char *msg, json_t *fields)
{
  json_t *line = NULL;
  char ts[48];
  char *text = NULL;

  if (!ke_log_enabled(level))
    goto out;
  ke_log_timestamp(ts, sizeof ts);
  line = json_object();
  if (!line)
    goto out;
  /* Fixed keys first so that lines read well in a terminal; jansson keeps
   * insertion order. */
  if (json_object_set_new(line, "ts", json_string(ts)) ||
      json_object_set_new(line, "level", json_string(ke_log_level_name(level))) ||
      json_object_set_new(line, "component", ke_log_str(ke_log_comp)) ||
      json_object_set_new(line, "msg", ke_log_str(msg)))
    goto out;
  if (json_is_object(fields)) {
    const char *key;
    json_t *value;
    json_object_foreach (fields, key, value) {
      /* Caller fields never overwrite the fixed ones. */
      if (!json_object_get(line, key))
        json_object_set(line, key, value);
    }
  }
  text = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
  if (text) {
    size_t n = strlen(text);
    char *buf = malloc(n + 2);
    if (buf) {
      memcpy(buf, text, n);
      buf[n] = '\n';
      ke_log_write_all(buf, n + 1);
      free(buf);
    }
  } else {
    /* json_string() rejects invalid UTF-8; say so rather than dropping. */
    static const char fallback[] =
      "{\"level\":\"error\",\"msg\":\"log line could not be encoded\"}\n";
    ke_log_write_all(fallback, sizeof fallback - 1);
  }
out:
  free(text);
  json_decref(line);
  json_decref(fields);
}

void ke_logf(ke_log_level level, const char *fmt, ...)
{
  char buf[1024];
  va_list ap;

  if (!ke_log_enabled(level))
    return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ke_log(level, buf, NULL);
}
