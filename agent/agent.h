/*
 * agent.h - what every escrow-agent command shares: exit codes, messages
 * (stderr and syslog), option parsing, buffers, files, and the context of
 * an enrolled agent (state, device key, pinned keys, HTTP client).
 *
 * Conventions: functions that can fail log their own error and return an
 * AGENT_* exit code, so a command can simply `if ((rc = ...)) goto out;`.
 * No function here ever logs a secret, and none logs the content of a file
 * it read.
 */
#ifndef AGENT_H
#define AGENT_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "ke_cli.h"
#include "ke_files.h"
#include "ke_note.h"

#ifndef KE_VERSION
#define KE_VERSION "0"
#endif

/* Exit codes (documented in `escrow-agent --help` and docs/agent.md). */
enum {
  AGENT_OK = 0,
  AGENT_FAIL = 1,        /* local failure: provider, state, refused secret */
  AGENT_USAGE = 2,       /* bad command line */
  AGENT_REFUSED = 3,     /* the server refused the request (HTTP 4xx) */
  AGENT_UNREACHABLE = 4, /* network errors or HTTP 5xx after every retry */
  AGENT_BADANSWER = 5,   /* the server's answer failed verification (receipt,
                            manifest fingerprint, malformed reply) */
  AGENT_ATTENTION = 6,   /* status/checkin: a volume is not escrowed or not
                            verified, or needs an operator */
  AGENT_HELP = -1,       /* internal: --help was printed, exit 0 */
};

#define AGENT_DEFAULT_STATE_DIR "/var/lib/escrow-agent"
#define AGENT_ID_MAX 128

/* ---- messages ---------------------------------------------------------- */
/* Every message goes to stderr as "escrow-agent CMD: LEVEL: text" and to
 * syslog (facility daemon) unless $ESCROW_AGENT_SYSLOG=0. */
void agent_log_init(const char *cmd);
void agent_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void agent_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "out of memory"; AGENT_FAIL. */
int agent_oom(void);
void agent_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- files ----------------------------------------------------------------- */
/* The agent's words around lib's one way (ke_cli.h) of each.
 * Read all of `path` ("-" is stdin), at most max bytes. */
int agent_read_file(ke_buf *b, const char *path, size_t max, int secure, const char *what);
/* Replace `path` atomically: a temporary file beside it (mode `mode` from
 * the start), fsync, rename over `path`, fsync the directory. */
int agent_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Refuse a file or directory that group or others may access, or that the
 * effective user does not own (it holds keys). */
int agent_check_private(const char *path, int is_dir);
/* dir/name into out; AGENT_FAIL if it does not fit. */
int agent_path(char *out, size_t outlen, const char *dir, const char *name);

/* ---- values ------------------------------------------------------------------ */
/* volume_id: [A-Za-z0-9._:-]{1,128} (agent-protocol section 1). */
int agent_volume_id_valid(const char *s);
/* key_id: 1..128 printable ASCII characters. */
int agent_key_id_valid(const char *s);
/* device id: "dev-" + 26 lower-case base32 characters. */
int agent_device_id_valid(const char *s);
/* record id as a server sends it: [A-Za-z0-9._:-]{1,128}. */
int agent_record_id_valid(const char *s);
/* Set (or with v NULL, delete) a string member; AGENT_FAIL on no memory. */
int agent_jset_str(json_t *o, const char *key, const char *v);
int agent_jset_int(json_t *o, const char *key, json_int_t v);
int agent_jset(json_t *o, const char *key, json_t *v); /* steals v */
/* Current time, RFC 3339 UTC. */
void agent_now(char out[KE_TIME_LEN + 1]);
/* Seconds since the epoch of an RFC 3339 time written by ke_time_rfc3339, or -1. */
long long agent_time_parse(const char *s);

/* ---- options ------------------------------------------------------------------- */
/* Retry policy of every request to the server. */
typedef struct agent_retry {
  unsigned attempts;   /* tries in all, >= 1 */
  unsigned base_ms;    /* ceiling of the first backoff */
  unsigned max_ms;     /* ceiling of any backoff */
  unsigned max_time_s; /* stop retrying once this much time has passed */
  unsigned timeout_s;  /* one exchange, connection included */
} agent_retry;
#define AGENT_RETRY_DEFAULT ((agent_retry){6, 1000, 60000, 600, 60})

/* Options every command takes: --state-dir, and for commands that talk to
 * the server the retry knobs.  Put AGENT_COMMON_OPTIONS in the option
 * array and pass unknown codes to agent_common_opt(). */
typedef struct agent_common {
  const char *state_dir;
  agent_retry retry;
} agent_common;

enum {
  AGENT_OPT_STATE_DIR = 0x1001,
  AGENT_OPT_RETRIES,
  AGENT_OPT_RETRY_DELAY,
  AGENT_OPT_RETRY_MAX_DELAY,
  AGENT_OPT_RETRY_MAX_TIME,
  AGENT_OPT_TIMEOUT,
};
#define AGENT_COMMON_OPTIONS                                                 \
  {"state-dir", required_argument, 0, AGENT_OPT_STATE_DIR},                  \
    {"retries", required_argument, 0, AGENT_OPT_RETRIES},                    \
    {"retry-delay-ms", required_argument, 0, AGENT_OPT_RETRY_DELAY},         \
    {"retry-max-delay-ms", required_argument, 0, AGENT_OPT_RETRY_MAX_DELAY}, \
    {"retry-max-time", required_argument, 0, AGENT_OPT_RETRY_MAX_TIME},      \
    {"timeout", required_argument, 0, AGENT_OPT_TIMEOUT},                    \
  {                                                                          \
    "help", no_argument, 0, 'h'                                              \
  }
#define AGENT_COMMON_USAGE                                                         \
  "common options:\n"                                                              \
  "  --state-dir DIR          agent state (default " AGENT_DEFAULT_STATE_DIR ")\n" \
  "  --retries N              tries per request on network errors and 5xx (6)\n"   \
  "  --retry-delay-ms MS      first backoff ceiling (1000); doubles per try,\n"    \
  "                           with full jitter\n"                                  \
  "  --retry-max-delay-ms MS  largest backoff (60000)\n"                           \
  "  --retry-max-time S       stop retrying after S seconds in all (600)\n"        \
  "  --timeout S              one exchange with the server (60)\n"

void agent_common_init(agent_common *o);
/* 1 if consumed (rc in *rc), 0 if not a common option. */
int agent_common_opt(agent_common *o, int opt, const char *arg, int *rc);

/* getopt_long, long options only; --help prints the usage (AGENT_HELP).
 * Positional arguments are a usage error.  Common options go to `common`. */
int agent_getopt(const ke_cli_cmd *cmd, int argc, char **argv, const struct option *opts,
                 agent_common *common, ke_cli_opt_fn fn, void *ctx);
int agent_missing_opt(const char *opt);
/* --escrow-fingerprint HEX: 64 hex digits. */
int agent_parse_fpr(uint8_t out[KE_FPR_LEN], const char *arg);

/* ---- test hooks ------------------------------------------------------------------- */
/* In the test build only (escrow-agent-testhooks, KE_AGENT_TEST_HOOKS):
 * with $ESCROW_AGENT_TEST_CRASH equal to `point`, the process kills itself
 * with SIGKILL there; the crash-safety tests use it to stop a rotation
 * between its steps exactly as a power cut would.  In the installed agent
 * it is nothing at all. */
#ifdef KE_AGENT_TEST_HOOKS
void agent_crash_point(const char *point);
#else
#define agent_crash_point(point) ((void)0)
#endif

#endif
