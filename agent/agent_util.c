/*
 * agent_util.c - messages, buffers, files, value checks and option parsing
 * shared by every escrow-agent command (see agent.h).
 */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "ke_files.h"
#include "ke_util.h"

/* ---- messages ------------------------------------------------------------- */
static char log_cmd[48] = "";
static int log_syslog = -1;

void agent_log_init(const char *cmd)
{
  const char *s = getenv("ESCROW_AGENT_SYSLOG");

  snprintf(log_cmd, sizeof log_cmd, "%s", cmd ? cmd : "");
  log_syslog = !(s && strcmp(s, "0") == 0);
  if (log_syslog)
    openlog("escrow-agent", LOG_PID, LOG_DAEMON);
}

static void vlog(int prio, const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vlog(int prio, const char *level, const char *fmt, va_list ap)
{
  char msg[1024];

  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "escrow-agent%s%s: %s%s\n", log_cmd[0] ? " " : "", log_cmd, level, msg);
  fflush(stderr);
  if (log_syslog == 1)
    syslog(prio, "%s%s%s%s", log_cmd, log_cmd[0] ? ": " : "", level, msg);
}

void agent_err(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(LOG_ERR, "error: ", fmt, ap);
  va_end(ap);
}

void agent_warn(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(LOG_WARNING, "warning: ", fmt, ap);
  va_end(ap);
}

void agent_info(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(LOG_INFO, "", fmt, ap);
  va_end(ap);
}

/* ---- buffers ----------------------------------------------------------------- */
int agent_buf_append(agent_buf *b, const void *data, size_t len)
{
  if (len > SIZE_MAX / 2 - b->len - 1)
    return AGENT_FAIL;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *np;
    while (cap < b->len + len + 1)
      cap *= 2;
    /* Secure buffers never go through realloc: the old block would be
     * released unwiped. */
    np = b->secure ? ke_secure_alloc(cap) : malloc(cap);
    if (!np)
      return AGENT_FAIL;
    if (b->p)
      memcpy(np, b->p, b->len);
    if (b->secure)
      ke_secure_free(b->p, b->cap);
    else
      free(b->p);
    b->p = np;
    b->cap = cap;
  }
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
  return AGENT_OK;
}

void agent_buf_free(agent_buf *b)
{
  if (b->p) {
    if (b->secure) {
      ke_secure_free(b->p, b->cap);
    } else {
      ke_wipe(b->p, b->cap);
      free(b->p);
    }
  }
  b->p = NULL;
  b->len = b->cap = 0;
}

/* ---- files ---------------------------------------------------------------------- */
int agent_read_file(agent_buf *b, const char *path, size_t max, int secure, const char *what)
{
  int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  char chunk[4096];
  int rc = AGENT_OK;

  memset(b, 0, sizeof *b);
  b->secure = secure;
  if (fd < 0) {
    agent_err("cannot open the %s %s: %s", what, path, strerror(errno));
    return AGENT_FAIL;
  }
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      agent_err("cannot read the %s %s: %s", what, path, strerror(errno));
      rc = AGENT_FAIL;
      break;
    }
    if (n == 0)
      break;
    if (b->len + (size_t)n > max) {
      agent_err("the %s %s is larger than %zu bytes", what, path, max);
      rc = AGENT_FAIL;
      break;
    }
    if (agent_buf_append(b, chunk, (size_t)n)) {
      agent_err("out of memory");
      rc = AGENT_FAIL;
      break;
    }
  }
  ke_wipe(chunk, sizeof chunk);
  if (fd != STDIN_FILENO)
    close(fd);
  if (!rc && !b->p && agent_buf_append(b, "", 0)) {
    agent_err("out of memory");
    rc = AGENT_FAIL;
  }
  if (rc)
    agent_buf_free(b);
  return rc;
}

static int fsync_dir_of(const char *path)
{
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  int fd, rc;

  if (!slash) {
    strcpy(dir, ".");
  } else {
    size_t n = (size_t)(slash - path);
    if (n == 0)
      n = 1;
    if (n >= sizeof dir)
      return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  rc = fsync(fd);
  close(fd);
  return rc;
}

int agent_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
  char tmp[PATH_MAX];
  int fd;
  const char *p = data;
  size_t left = len;

  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= sizeof tmp) {
    agent_err("path too long: %s", path);
    return AGENT_FAIL;
  }
  fd = mkstemp(tmp);
  if (fd < 0) {
    agent_err("cannot create a file beside %s: %s", path, strerror(errno));
    return AGENT_FAIL;
  }
  if (fchmod(fd, mode) != 0)
    goto fail;
  while (left) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      goto fail;
    p += n;
    left -= (size_t)n;
  }
  /* The data must be on disk before the name points at it, and the new
   * name must be on disk before anyone acts on it (a keyslot is removed
   * only after the state that records its successor is durable). */
  if (fsync(fd) != 0)
    goto fail;
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  if (rename(tmp, path) != 0)
    goto fail;
  if (fsync_dir_of(path) != 0) {
    agent_err("cannot sync the directory of %s: %s", path, strerror(errno));
    return AGENT_FAIL;
  }
  return AGENT_OK;
fail:
  agent_err("cannot write %s: %s", path, strerror(errno ? errno : EIO));
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return AGENT_FAIL;
}

int agent_check_private(const char *path, int is_dir)
{
  struct stat st;

  if (lstat(path, &st) != 0) {
    agent_err("cannot inspect %s: %s", path, strerror(errno));
    return AGENT_FAIL;
  }
  if (is_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    agent_err("%s is not a %s", path, is_dir ? "directory" : "regular file");
    return AGENT_FAIL;
  }
  if (st.st_uid != geteuid()) {
    agent_err("%s belongs to uid %u, not to this agent (uid %u)", path, (unsigned)st.st_uid,
              (unsigned)geteuid());
    return AGENT_FAIL;
  }
  if (st.st_mode & 077) {
    agent_err("%s is accessible to group or others (mode %03o); it must be %s", path,
              (unsigned)(st.st_mode & 0777), is_dir ? "0700" : "0600");
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

int agent_path(char *out, size_t outlen, const char *dir, const char *name)
{
  if ((size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen) {
    agent_err("path too long: %s/%s", dir, name);
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

/* ---- values ----------------------------------------------------------------------- */
/* Volume and record ids share the charset and length of the library's ids
 * ([A-Za-z0-9._:-]{1,128}): one rule, ke_id_valid. */
_Static_assert(AGENT_ID_MAX == KE_ID_MAX, "agent ids and ke ids must have one length");

int agent_volume_id_valid(const char *s)
{
  return ke_id_valid(s);
}

int agent_record_id_valid(const char *s)
{
  return ke_id_valid(s);
}

int agent_key_id_valid(const char *s)
{
  size_t n = 0;

  if (!s)
    return 0;
  for (; s[n]; n++)
    if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f || n >= AGENT_ID_MAX)
      return 0;
  return n >= 1;
}

int agent_device_id_valid(const char *s)
{
  if (!s || strlen(s) != 30 || strncmp(s, "dev-", 4) != 0)
    return 0;
  for (int i = 4; i < 30; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
      return 0;
  return 1;
}

const char *agent_jstr(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

int agent_jset(json_t *o, const char *key, json_t *v)
{
  if (!v || json_object_set_new(o, key, v) != 0) {
    agent_err("out of memory");
    return AGENT_FAIL;
  }
  return AGENT_OK;
}

int agent_jset_str(json_t *o, const char *key, const char *v)
{
  if (!v) {
    json_object_del(o, key);
    return AGENT_OK;
  }
  return agent_jset(o, key, json_string(v));
}

int agent_jset_int(json_t *o, const char *key, json_int_t v)
{
  return agent_jset(o, key, json_integer(v));
}

json_int_t agent_jint(const json_t *o, const char *key, json_int_t dflt)
{
  const json_t *v = json_object_get(o, key);
  return json_is_integer(v) ? json_integer_value(v) : dflt;
}

void agent_now(char out[KE_TIME_LEN + 1])
{
  if (ke_time_rfc3339(out, time(NULL)) != KE_OK)
    snprintf(out, KE_TIME_LEN + 1, "1970-01-01T00:00:00Z");
}

long long agent_time_parse(const char *s)
{
  struct tm tm;
  int y, mo, d, h, mi, se;

  /* ke_time_valid fixed the shape and the ranges; only the fields remain. */
  if (!s || !ke_time_valid(s) ||
      sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
    return -1;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return (long long)timegm(&tm);
}

/* ---- options ------------------------------------------------------------------------- */
void agent_common_init(agent_common *o)
{
  memset(o, 0, sizeof *o);
  o->state_dir = AGENT_DEFAULT_STATE_DIR;
  o->retry = AGENT_RETRY_DEFAULT;
}

int agent_parse_uint(unsigned *out, const char *arg, const char *opt, unsigned lo,
                     unsigned hi)
{
  char *end;
  unsigned long v;

  errno = 0;
  v = strtoul(arg, &end, 10);
  if (!arg[0] || *end || errno || arg[0] == '-' || v < lo || v > hi) {
    agent_err("%s must be a whole number in [%u, %u], not \"%s\"", opt, lo, hi, arg);
    return AGENT_USAGE;
  }
  *out = (unsigned)v;
  return AGENT_OK;
}

int agent_common_opt(agent_common *o, int opt, const char *arg, int *rc)
{
  switch (opt) {
  case AGENT_OPT_STATE_DIR:
    o->state_dir = arg;
    *rc = arg[0] ? AGENT_OK : AGENT_USAGE;
    return 1;
  case AGENT_OPT_RETRIES:
    *rc = agent_parse_uint(&o->retry.attempts, arg, "--retries", 1, 100);
    return 1;
  case AGENT_OPT_RETRY_DELAY:
    *rc = agent_parse_uint(&o->retry.base_ms, arg, "--retry-delay-ms", 1, 3600000);
    return 1;
  case AGENT_OPT_RETRY_MAX_DELAY:
    *rc = agent_parse_uint(&o->retry.max_ms, arg, "--retry-max-delay-ms", 1, 3600000);
    return 1;
  case AGENT_OPT_RETRY_MAX_TIME:
    *rc = agent_parse_uint(&o->retry.max_time_s, arg, "--retry-max-time", 1, 86400);
    return 1;
  case AGENT_OPT_TIMEOUT:
    *rc = agent_parse_uint(&o->retry.timeout_s, arg, "--timeout", 1, 3600);
    return 1;
  }
  return 0;
}

static void print_usage(const agent_cmd *cmd, FILE *f)
{
  fputs(cmd->usage, f);
  fputs("\n" AGENT_COMMON_USAGE, f);
}

int agent_getopt(const agent_cmd *cmd, int argc, char **argv, const struct option *opts,
                 agent_common *common, agent_opt_fn fn, void *ctx)
{
  int opt, rc;

  optind = 1;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    if (opt == 'h') {
      print_usage(cmd, stdout);
      return AGENT_HELP;
    }
    if (opt == '?' || opt == ':') {
      agent_err("%s option %s", opt == ':' ? "missing the argument of" : "unknown",
                argv[optind - 1]);
      fprintf(stderr, "(see escrow-agent %s%s%s --help)\n", cmd->name, cmd->sub ? " " : "",
              cmd->sub ? cmd->sub : "");
      return AGENT_USAGE;
    }
    if (common && agent_common_opt(common, opt, optarg, &rc)) {
      if (rc)
        return rc;
      continue;
    }
    if (!fn || (rc = fn(ctx, opt, optarg)))
      return fn ? rc : AGENT_USAGE;
  }
  if (optind < argc) {
    agent_err("unexpected argument \"%s\"", argv[optind]);
    return AGENT_USAGE;
  }
  return AGENT_OK;
}

int agent_missing_opt(const char *opt)
{
  agent_err("%s is required", opt);
  return AGENT_USAGE;
}

int agent_parse_fpr(uint8_t out[KE_FPR_LEN], const char *arg)
{
  if (strlen(arg) != 2 * KE_FPR_LEN || ke_hex_decode(out, KE_FPR_LEN, arg) != KE_OK) {
    agent_err("--escrow-fingerprint must be 64 hex digits");
    return AGENT_USAGE;
  }
  return AGENT_OK;
}

/* ---- test hooks (the test build only: agent.h) ------------------------------------------ */
#ifdef KE_AGENT_TEST_HOOKS
void agent_crash_point(const char *point)
{
  const char *want = getenv("ESCROW_AGENT_TEST_CRASH");

  if (want && strcmp(want, point) == 0) {
    fprintf(stderr, "escrow-agent: test hook: killed at %s\n", point);
    fflush(stderr);
    raise(SIGKILL);
  }
}
#endif
