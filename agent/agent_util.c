/*
 * agent_util.c - messages, value checks, and the agent's words around lib's
 * files and option parsing (ke_cli.h), shared by every escrow-agent command
 * (see agent.h).
 */
#include "agent.h"

#include <errno.h>
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

int agent_oom(void)
{
  agent_err("out of memory");
  return AGENT_FAIL;
}

void agent_info(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vlog(LOG_INFO, "", fmt, ap);
  va_end(ap);
}

/* ---- files (ke_cli.h does them; the words are the agent's) ------------------- */
int agent_read_file(ke_buf *b, const char *path, size_t max, int secure, const char *what)
{
  ke_io_err e;

  if (!ke_read_file(b, path, max, secure, &e))
    return AGENT_OK;
  if (e.step == KE_IO_OPEN || e.step == KE_IO_READ)
    agent_err("cannot %s the %s %s: %s", e.step == KE_IO_OPEN ? "open" : "read", what, path,
              strerror(e.err));
  else if (e.step == KE_IO_TOO_LARGE)
    agent_err("the %s %s is larger than %zu bytes", what, path, max);
  else
    agent_err("out of memory");
  return AGENT_FAIL;
}

int agent_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
  ke_io_err e;

  /* The data must be on disk before the name points at it, and the new
   * name must be on disk before anyone acts on it (a keyslot is removed
   * only after the state that records its successor is durable). */
  if (!ke_write_file(path, data, len, mode, KE_WRITE_REPLACE, &e))
    return AGENT_OK;
  if (e.step == KE_IO_PATH)
    agent_err("path too long: %s", path);
  else if (e.step == KE_IO_CREATE)
    agent_err("cannot create a file beside %s: %s", path, strerror(e.err));
  else if (e.step == KE_IO_DIR_SYNC)
    agent_err("cannot sync the directory of %s: %s", path, strerror(e.err));
  else
    agent_err("cannot write %s: %s", path, strerror(e.err ? e.err : EIO));
  return AGENT_FAIL;
}

int agent_check_private(const char *path, int is_dir)
{
  struct stat st;

  switch (ke_check_private(path, is_dir, 0, &st)) {
    case KE_PRIV_OK: return AGENT_OK;
    case KE_PRIV_STAT: agent_err("cannot inspect %s: %s", path, strerror(errno)); break;
    case KE_PRIV_TYPE:
      agent_err("%s is not a %s", path, is_dir ? "directory" : "regular file");
      break;
    case KE_PRIV_OWNER:
      agent_err("%s belongs to uid %u, not to this agent (uid %u)", path, (unsigned)st.st_uid,
                (unsigned)geteuid());
      break;
    case KE_PRIV_MODE:
      agent_err("%s is accessible to group or others (mode %03o); it must be %s", path,
                (unsigned)(st.st_mode & 0777), is_dir ? "0700" : "0600");
      break;
  }
  return AGENT_FAIL;
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

int agent_volume_id_valid(const char *s) { return ke_id_valid(s); }

int agent_record_id_valid(const char *s) { return ke_id_valid(s); }

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

int agent_jset(json_t *o, const char *key, json_t *v)
{
  if (!v || json_object_set_new(o, key, v) != 0)
    return agent_oom();
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

static int parse_uint(unsigned *out, const char *arg, const char *opt, unsigned lo, unsigned hi)
{
  if (ke_parse_uint(out, arg, lo, hi) == KE_OK)
    return AGENT_OK;
  agent_err("%s must be a whole number in [%u, %u], not \"%s\"", opt, lo, hi, arg);
  return AGENT_USAGE;
}

int agent_common_opt(agent_common *o, int opt, const char *arg, int *rc)
{
  switch (opt) {
    case AGENT_OPT_STATE_DIR:
      o->state_dir = arg;
      *rc = arg[0] ? AGENT_OK : AGENT_USAGE;
      return 1;
    case AGENT_OPT_RETRIES:
      *rc = parse_uint(&o->retry.attempts, arg, "--retries", 1, 100);
      return 1;
    case AGENT_OPT_RETRY_DELAY:
      *rc = parse_uint(&o->retry.base_ms, arg, "--retry-delay-ms", 1, 3600000);
      return 1;
    case AGENT_OPT_RETRY_MAX_DELAY:
      *rc = parse_uint(&o->retry.max_ms, arg, "--retry-max-delay-ms", 1, 3600000);
      return 1;
    case AGENT_OPT_RETRY_MAX_TIME:
      *rc = parse_uint(&o->retry.max_time_s, arg, "--retry-max-time", 1, 86400);
      return 1;
    case AGENT_OPT_TIMEOUT:
      *rc = parse_uint(&o->retry.timeout_s, arg, "--timeout", 1, 3600);
      return 1;
  }
  return 0;
}

/* What ke_cli_getopt hands on: common options first, then the command's. */
typedef struct opt_ctx {
  agent_common *common;
  ke_cli_opt_fn fn;
  void *ctx;
} opt_ctx;

static int on_opt(void *ctx, int opt, const char *arg)
{
  opt_ctx *o = ctx;
  int rc;

  if (o->common && agent_common_opt(o->common, opt, arg, &rc))
    return rc;
  return o->fn ? o->fn(o->ctx, opt, arg) : AGENT_USAGE;
}

int agent_getopt(const ke_cli_cmd *cmd, int argc, char **argv, const struct option *opts,
                 agent_common *common, ke_cli_opt_fn fn, void *ctx)
{
  opt_ctx o = {common, fn, ctx};
  ke_cli_bad bad;
  char name[32];
  int rc = ke_cli_getopt(argc, argv, ":", opts, 0, on_opt, &o, NULL, &bad);

  if (rc == KE_CLI_HELP) {
    fputs(cmd->usage, stdout);
    fputs("\n" AGENT_COMMON_USAGE, stdout);
    return AGENT_HELP;
  }
  if (rc != KE_CLI_BAD)
    return rc;
  if (bad.kind == KE_CLI_BAD_EXTRA) {
    agent_err("unexpected argument \"%s\"", bad.word);
    return AGENT_USAGE;
  }
  agent_err("%s option %s", bad.kind == KE_CLI_BAD_NOARG ? "missing the argument of" : "unknown",
            bad.word);
  ke_cli_cmd_name(name, sizeof name, cmd);
  fprintf(stderr, "(see escrow-agent %s --help)\n", name);
  return AGENT_USAGE;
}

int agent_missing_opt(const char *opt)
{
  agent_err("%s is required", opt);
  return AGENT_USAGE;
}

int agent_parse_fpr(uint8_t out[KE_FPR_LEN], const char *arg)
{
  if (ke_parse_hex_exact(out, KE_FPR_LEN, arg) != KE_OK) {
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
