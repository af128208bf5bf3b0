/*
 * ctl_util.c - messages, options, file I/O and the terminal for escrowctl.
 */
#include "ctl_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ke_secret.h"

#define CTL_PASS_MIN 8
#define CTL_PASS_MAX 1024

/* NULL if a new passphrase of this kind is acceptable, else why not. */
static const char *pass_weak(const ke_buf *b, int is_new)
{
  if (is_new == CTL_PASS_NEW_SHARE)
    return ke_passphrase_weak_reason(b->p, b->len);
  return is_new && b->len < CTL_PASS_MIN ? "it is shorter than 8 characters" : NULL;
}

/* ---- messages -------------------------------------------------------- */
static char ctl_prefix[64] = "escrowctl";

void ctl_set_command(const ctl_cmd *cmd)
{
  char name[48];
  ke_cli_cmd_name(name, sizeof name, cmd);
  snprintf(ctl_prefix, sizeof ctl_prefix, "escrowctl %s", name);
}

__attribute__((format(printf, 1, 0))) static void vmsg(const char *fmt, va_list ap)
{
  fprintf(stderr, "%s: ", ctl_prefix);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void ctl_errf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap);
  va_end(ap);
}

int ctl_err(int rc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap);
  va_end(ap);
  return rc;
}

void ctl_notef(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

int ctl_oom(void) { return ctl_err(CTL_FAIL, "out of memory"); }

void ctl_print_usage(const ctl_cmd *cmd, FILE *f)
{
  char name[32];
  ke_cli_cmd_name(name, sizeof name, cmd);
  fprintf(f, "escrowctl %s - %s\n\n%s", name, cmd->summary, cmd->usage);
}

/* ---- options ---------------------------------------------------------- */
typedef struct opt_call {
  ctl_opt_fn fn;
  void *ctx;
  const struct option *opts;
} opt_call;

/* CTL_OPT_HEX32: the message names the option as given in the table. */
static int opt_hex32(const opt_call *c, int opt, ctl_hex32 *h, const char *arg)
{
  const struct option *o = c->opts;
  char name[64];

  while (o->name && (o->val & ~CTL_OPT_MULTI) != opt)
    o++;
  snprintf(name, sizeof name, "--%s", o->name ? o->name : "?");
  h->set = 1;
  return ctl_parse_hex32(h->b, arg, name);
}

static int on_opt(void *call, int opt, const char *arg)
{
  const opt_call *c = call;
  char *member = (char *)c->ctx + (opt & 0xffff);

  if (!(opt & CTL_OPT_STORE_))
    return c->fn ? c->fn(c->ctx, opt, arg) : CTL_USAGE;
  if (opt & CTL_OPT_HEX_)
    return opt_hex32(c, opt, (ctl_hex32 *)(void *)member, arg);
  if (opt & CTL_OPT_FLAG_)
    *(int *)(void *)member = 1;
  else
    *(const char **)(void *)member = arg;
  return CTL_OK;
}

int ctl_getopt(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts, ctl_opt_fn fn,
               void *ctx, int *first_arg)
{
  ke_cli_bad bad;
  opt_call call = {fn, ctx, opts};
  /* "+": stop at the first positional argument (open's part files may
   * follow the options; nothing is permuted behind the user's back). */
  int rc = ke_cli_getopt(argc, argv, "+:h", opts, KE_CLI_ONCE, on_opt, &call, first_arg, &bad);
  if (rc == KE_CLI_HELP) {
    ctl_print_usage(cmd, stdout);
    return CTL_HELP;
  }
  if (rc != KE_CLI_BAD)
    return rc;
  if (bad.kind == KE_CLI_BAD_TWICE)
    ctl_errf("--%s given more than once (see --help)", bad.word);
  else if (bad.kind == KE_CLI_BAD_EXTRA)
    ctl_errf("unexpected argument \"%s\" (see --help)", bad.word);
  else
    ctl_errf("%s %s (see --help)",
             bad.kind == KE_CLI_BAD_NOARG ? "missing argument for" : "unknown option", bad.word);
  return CTL_USAGE;
}

int ctl_parse_uint(unsigned *out, const char *arg, const char *opt, unsigned lo, unsigned hi)
{
  if (ke_parse_uint(out, arg, lo, hi) != KE_OK)
    return ctl_err(CTL_USAGE, "%s must be a number in %u..%u", opt, lo, hi);
  return CTL_OK;
}

int ctl_parse_hex32(uint8_t out[32], const char *arg, const char *opt)
{
  if (ke_parse_hex_exact(out, 32, arg) != KE_OK)
    return ctl_err(CTL_USAGE, "%s must be 64 hex digits", opt);
  return CTL_OK;
}

int ctl_parse_fpr(uint8_t out[KE_FPR_LEN], const char *arg)
{
  return ctl_parse_hex32(out, arg, "--fingerprint");
}

void ctl_hex_groups(char out[80], const uint8_t b[32])
{
  char hex[65];
  ke_hex_encode(hex, b, 32);
  size_t o = 0;
  for (int i = 0; i < 64; i += 4) {
    if (i)
      out[o++] = ' ';
    memcpy(out + o, hex + i, 4);
    o += 4;
  }
  out[o] = '\0';
}

int ctl_missing_opt(const char *opt)
{
  return ctl_err(CTL_USAGE, "%s is required (see --help)", opt);
}

int ctl_required(const ctl_required_opt *r)
{
  for (; r->opt; r++)
    if (!r->given)
      return ctl_missing_opt(r->opt);
  return CTL_OK;
}

/* ---- files ------------------------------------------------------------ */
int ctl_read(ke_buf *b, const char *path, size_t max, int secure, const char *what)
{
  const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
  ke_io_err e;
  if (ke_read_file(b, path, max, secure, &e) == KE_OK)
    return CTL_OK;
  if (e.step == KE_IO_TOO_LARGE)
    ctl_errf("%s %s is larger than %zu bytes", what, name, max);
  else if (e.step == KE_IO_NOMEM)
    ctl_errf("out of memory reading %s", name);
  else
    ctl_errf("cannot %s %s %s: %s", e.step == KE_IO_OPEN ? "open" : "read", what, name,
             strerror(e.err));
  return CTL_FAIL;
}

int ctl_write_error(const ke_io_err *e, const char *path)
{
  if (e->step == KE_IO_PATH)
    ctl_errf("path too long: %s", path);
  else if (e->step == KE_IO_DIR_STAT)
    ctl_errf("cannot write %s: %s: %s", path, e->where, strerror(e->err));
  else if (e->step == KE_IO_DIR_UNSAFE)
    ctl_errf("not writing %s: directory %s is writable by %s, who could replace the "
             "file; use a directory only you can write to (chmod go-w)",
             path, e->where, e->err ? "everyone" : "its group");
  else if (e->step == KE_IO_CREATE)
    ctl_errf("cannot create %s: %s", path, strerror(e->err));
  else if (e->step == KE_IO_PUBLISH && e->err == EEXIST)
    ctl_errf("%s already exists; not overwriting it", path);
  else if (e->step == KE_IO_DIR_SYNC)
    ctl_errf("%s was written, but its directory could not be synced: %s", path, strerror(e->err));
  else
    ctl_errf("cannot write %s: %s", path, strerror(e->err));
  return CTL_FAIL;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode, int flags)
{
  ke_io_err e;
  if (strcmp(path, "-") == 0) {
    if (ke_write_all(STDOUT_FILENO, data, len) != 0)
      return ctl_err(CTL_FAIL, "cannot write to standard output: %s", strerror(errno));
    return CTL_OK;
  }
  if (ke_write_file(path, data, len, mode, flags | KE_WRITE_SAFE_DIR, &e) != KE_OK)
    return ctl_write_error(&e, path);
  return CTL_OK;
}

int ctl_write(const char *path, const void *data, size_t len, mode_t mode)
{
  return write_file(path, data, len, mode, 0);
}

int ctl_write_replace(const char *path, const void *data, size_t len, mode_t mode)
{
  return write_file(path, data, len, mode, KE_WRITE_REPLACE);
}

int ctl_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

int ctl_new_file(const char *path)
{
  if (!path || !ctl_exists(path))
    return CTL_OK;
  return ctl_err(CTL_FAIL, "%s already exists; not overwriting it", path);
}

/* ---- terminal --------------------------------------------------------- */
int ctl_interactive(void) { return isatty(STDIN_FILENO); }

static volatile sig_atomic_t ctl_signal;

static void on_signal(int sig) { ctl_signal = sig; }

/* Read one line from /dev/tty into buf (secure, cap bytes), echo off when
 * `hidden`.  A signal while echo is off restores the terminal first, then
 * the signal is raised again with its default action. */
static int tty_line(char *buf, size_t cap, size_t *len, const char *prompt, int hidden)
{
  static const int sigs[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP};
  struct sigaction sa, old[5];
  struct termios saved, quiet;
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return ctl_err(CTL_FAIL, "cannot open the terminal: %s", strerror(errno));
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: read() returns EINTR */
  ctl_signal = 0;
  for (int i = 0; i < 5; i++)
    sigaction(sigs[i], &sa, &old[i]);
  int have_tio = hidden && tcgetattr(fd, &saved) == 0;
  if (have_tio) {
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  int rc = ke_write_all(fd, prompt, strlen(prompt)) == 0 ? CTL_OK : CTL_FAIL;
  *len = 0;
  while (!rc) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR && !ctl_signal)
      continue;
    if (n <= 0 || c == '\n')
      break;
    if (*len + 1 >= cap) {
      rc = CTL_FAIL;
      continue;
    }
    buf[(*len)++] = c;
  }
  if (have_tio) {
    tcsetattr(fd, TCSAFLUSH, &saved);
    (void)ke_write_all(fd, "\n", 1);
  }
  close(fd);
  for (int i = 0; i < 5; i++)
    sigaction(sigs[i], &old[i], NULL);
  if (ctl_signal) {
    ke_wipe(buf, cap);
    raise(ctl_signal);
    return CTL_FAIL;
  }
  buf[*len] = '\0';
  if (rc)
    ctl_errf("input longer than %zu bytes", cap - 2);
  return rc;
}

static int passphrase_alloc(ke_buf *b)
{
  memset(b, 0, sizeof *b);
  b->cap = CTL_PASS_MAX + 2;
  b->secure = 1;
  b->p = ke_secure_alloc(b->cap);
  if (!b->p)
    return ctl_oom();
  return CTL_OK;
}

int ctl_passphrase(ke_buf *out, const char *file, const char *prompt, int is_new)
{
  int rc;
  if (file) {
    if ((rc = ctl_read(out, file, CTL_PASS_MAX + 2, 1, "passphrase file")))
      return rc;
    if (out->len && out->p[out->len - 1] == '\n')
      out->p[--out->len] = '\0';
    if (out->len && out->p[out->len - 1] == '\r')
      out->p[--out->len] = '\0';
  } else if (!ctl_interactive()) {
    return ctl_err(CTL_FAIL, "no passphrase: stdin is not a terminal, use --passphrase-file");
  } else {
    ke_buf again;
    char p2[160];
    if ((rc = passphrase_alloc(out)))
      return rc;
    snprintf(p2, sizeof p2, "%s (again): ", prompt);
    for (;;) {
      char p1[160];
      snprintf(p1, sizeof p1, "%s: ", prompt);
      if ((rc = tty_line(out->p, out->cap, &out->len, p1, 1)))
        break;
      if (!is_new)
        break;
      const char *weak = pass_weak(out, is_new);
      if (weak && is_new != CTL_PASS_NEW_SHARE) {
        ctl_notef("At least %d characters, please.", CTL_PASS_MIN);
        continue;
      }
      if (weak) {
        ctl_notef("That passphrase is too weak (%s); another, please.", weak);
        continue;
      }
      if ((rc = passphrase_alloc(&again)))
        break;
      rc = tty_line(again.p, again.cap, &again.len, p2, 1);
      int same = !rc && again.len == out->len && ke_ct_eq(again.p, out->p, out->len);
      ke_buf_free(&again);
      if (rc || same)
        break;
      ctl_notef("The two passphrases differ; once more.");
    }
    if (rc) {
      ke_buf_free(out);
      return rc;
    }
  }
  if (out->len > CTL_PASS_MAX || (is_new && out->len < CTL_PASS_MIN) || out->len == 0 ||
      memchr(out->p, '\0', out->len)) {
    ctl_errf("a passphrase must be %d..%d bytes without NUL", is_new ? CTL_PASS_MIN : 1,
             CTL_PASS_MAX);
    ke_buf_free(out);
    return CTL_FAIL;
  }
  const char *weak = pass_weak(out, is_new);
  if (weak) {
    ctl_errf("refusing a weak passphrase: %s%s", weak,
             is_new == CTL_PASS_NEW_SHARE ? " (a share passphrase needs 12 characters or "
                                            "more and must not be guessable: use 4 or more "
                                            "random words, or random characters)"
                                          : "");
    ke_buf_free(out);
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_secret_line(ke_buf *out, const char *prompt, size_t max)
{
  memset(out, 0, sizeof *out);
  out->cap = max + 2;
  out->secure = 1;
  out->p = ke_secure_alloc(out->cap);
  if (!out->p)
    return ctl_oom();
  int rc = tty_line(out->p, out->cap, &out->len, prompt, 1);
  if (rc)
    ke_buf_free(out);
  return rc;
}

int ctl_confirm(const char *question)
{
  char answer[16];
  size_t len;
  if (tty_line(answer, sizeof answer, &len, question, 0) != CTL_OK)
    return 0;
  return strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 || strcmp(answer, "yes") == 0;
}
