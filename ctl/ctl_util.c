/*
 * ctl_util.c - messages, options, file I/O and the terminal for escrowctl.
 */
#define _GNU_SOURCE /* renameat2 */
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
static const char *pass_weak(const ctl_buf *b, int is_new)
{
  if (is_new == CTL_PASS_NEW_SHARE)
    return ke_passphrase_weak_reason(b->p, b->len);
  return is_new && b->len < CTL_PASS_MIN ? "it is shorter than 8 characters" : NULL;
}

/* ---- messages -------------------------------------------------------- */
static char ctl_prefix[64] = "escrowctl";

void ctl_set_command(const ctl_cmd *cmd)
{
  snprintf(ctl_prefix, sizeof ctl_prefix, "escrowctl %s%s%s", cmd->name,
           cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
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

void ctl_notef(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

void ctl_print_usage(const ctl_cmd *cmd, FILE *f)
{
  fprintf(f, "escrowctl %s%s%s - %s\n\n%s", cmd->name, cmd->sub ? " " : "",
          cmd->sub ? cmd->sub : "", cmd->summary, cmd->usage);
}

/* ---- options ---------------------------------------------------------- */
int ctl_getopt(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts,
               ctl_opt_fn fn, void *ctx, int *first_arg)
{
  int c, idx = -1;
  unsigned char seen[64] = { 0 };
  optind = 1;
  opterr = 0;
  /* "+": stop at the first positional argument (open's part files may
   * follow the options; nothing is permuted behind the user's back). */
  while ((c = getopt_long(argc, argv, "+:h", opts, &idx)) != -1) {
    if (c == 'h') {
      ctl_print_usage(cmd, stdout);
      return CTL_HELP;
    }
    if (c == '?' || c == ':') {
      const char *what = argv[optind - 1];
      ctl_errf("%s %s (see --help)", c == ':' ? "missing argument for" :
               "unknown option", what ? what : "");
      return CTL_USAGE;
    }
    if (idx >= 0 && (size_t)idx < sizeof seen) {
      if (seen[idx] && !(opts[idx].val & CTL_OPT_MULTI)) {
        ctl_errf("--%s given more than once (see --help)", opts[idx].name);
        return CTL_USAGE;
      }
      seen[idx] = 1;
    }
    idx = -1;
    int rc = fn ? fn(ctx, c & ~CTL_OPT_MULTI, optarg) : CTL_USAGE;
    if (rc)
      return rc;
  }
  if (first_arg) {
    *first_arg = optind;
  } else if (optind < argc) {
    ctl_errf("unexpected argument \"%s\" (see --help)", argv[optind]);
    return CTL_USAGE;
  }
  return CTL_OK;
}

int ctl_parse_uint(unsigned *out, const char *arg, const char *opt, unsigned lo,
                   unsigned hi)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(arg, &end, 10);
  if (arg[0] < '0' || arg[0] > '9' || *end || errno || v < lo || v > hi) {
    ctl_errf("%s must be a number in %u..%u", opt, lo, hi);
    return CTL_USAGE;
  }
  *out = (unsigned)v;
  return CTL_OK;
}

int ctl_parse_hex32(uint8_t out[32], const char *arg, const char *opt)
{
  if (strlen(arg) != 64 || ke_hex_decode(out, 32, arg) != KE_OK) {
    ctl_errf("%s must be 64 hex digits", opt);
    return CTL_USAGE;
  }
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
  ctl_errf("%s is required (see --help)", opt);
  return CTL_USAGE;
}

/* ---- files ------------------------------------------------------------ */
static void *buf_alloc(size_t n, int secure)
{
  return secure ? ke_secure_alloc(n) : calloc(1, n);
}

/* Make room in b for more input, at most cap bytes in all.  The old block
 * is wiped as it is freed, so a secret leaves no stray copy. */
static int buf_grow(ctl_buf *b, size_t cap)
{
  char *p = buf_alloc(cap, b->secure);
  if (!p)
    return -1;
  memcpy(p, b->p, b->len);
  int secure = b->secure;
  size_t len = b->len;
  ctl_buf_free(b);
  b->p = p;
  b->cap = cap;
  b->len = len;
  b->secure = secure;
  return 0;
}

int ctl_read(ctl_buf *b, const char *path, size_t max, int secure, const char *what)
{
  int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
  struct stat st;
  memset(b, 0, sizeof *b);
  if (fd < 0) {
    ctl_errf("cannot open %s %s: %s", what, name, strerror(errno));
    return CTL_FAIL;
  }
  /* Room for max + 1 bytes (to notice a longer input) and the NUL, but
   * sized by what there is: a regular file says its size, other input
   * starts small and grows. */
  size_t limit = max + 2;
  b->cap = limit < 4096 ? limit : 4096;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    b->cap = (uintmax_t)st.st_size < max ? (size_t)st.st_size + 2 : limit;
  b->secure = secure;
  b->p = buf_alloc(b->cap, secure);
  int rc = CTL_OK;
  if (!b->p) {
    ctl_errf("out of memory reading %s", name);
    rc = CTL_FAIL;
  }
  while (!rc) {
    if (b->len + 1 >= b->cap) {
      if (b->cap >= limit)
        break; /* max + 1 bytes read: too large */
      if (buf_grow(b, b->cap > limit / 2 ? limit : 2 * b->cap) != 0) {
        ctl_errf("out of memory reading %s", name);
        rc = CTL_FAIL;
        break;
      }
    }
    ssize_t n = read(fd, b->p + b->len, b->cap - 1 - b->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      ctl_errf("cannot read %s %s: %s", what, name, strerror(errno));
      rc = CTL_FAIL;
    } else if (n == 0) {
      break;
    }
    b->len += n > 0 ? (size_t)n : 0;
  }
  if (!rc && b->len > max) {
    ctl_errf("%s %s is larger than %zu bytes", what, name, max);
    rc = CTL_FAIL;
  }
  if (fd != STDIN_FILENO)
    close(fd);
  if (rc)
    ctl_buf_free(b);
  else
    b->p[b->len] = '\0';
  return rc;
}

void ctl_buf_free(ctl_buf *b)
{
  if (b->secure)
    ke_secure_free(b->p, b->cap);
  else if (b->p) {
    ke_wipe(b->p, b->cap);
    free(b->p);
  }
  memset(b, 0, sizeof *b);
}

static int write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* The directory of path, for the permission check and the fsync. */
static void dir_of(char *out, size_t size, const char *path)
{
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, size, ".");
  else if (slash == path)
    snprintf(out, size, "/");
  else
    snprintf(out, size, "%.*s", (int)(slash - path), path);
}

/* Publish the finished temporary file under path without replacing
 * anything.  0, or an errno; ENOTSUP: neither way exists here.  *moved
 * says whether tmp is gone (renamed) rather than still to be removed. */
static int publish(const char *tmp, const char *path, int *moved)
{
  *moved = 0;
  if (link(tmp, path) == 0)
    return 0;
  if (errno != EPERM && errno != ENOTSUP && errno != EOPNOTSUPP && errno != ENOSYS &&
      errno != EMLINK)
    return errno;
  /* No hard links (FAT and exFAT say EPERM): an exclusive rename. */
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0) {
    *moved = 1;
    return 0;
  }
  if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP || errno == EOPNOTSUPP)
    return ENOTSUP;
  return errno;
}

/* The last resort: create path exclusively and write in place.  Not atomic
 * (a crash can leave a short file), but never replaces anything. */
static int write_in_place(const char *path, const void *data, size_t len, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno;
  int ok = fchmod(fd, mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
  int err = errno;
  ok = close(fd) == 0 && ok;
  if (!ok) {
    unlink(path); /* ours: created with O_EXCL */
    return err ? err : EIO;
  }
  return 0;
}

static int write_file(const char *path, const void *data, size_t len, mode_t mode, int replace)
{
  if (strcmp(path, "-") == 0) {
    if (write_all(STDOUT_FILENO, data, len) != 0) {
      ctl_errf("cannot write to standard output: %s", strerror(errno));
      return CTL_FAIL;
    }
    return CTL_OK;
  }
  char tmp[PATH_MAX], dir[PATH_MAX];
  struct stat st;
  if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp) {
    ctl_errf("path too long: %s", path);
    return CTL_FAIL;
  }
  dir_of(dir, sizeof dir, path);
  if (stat(dir, &st) != 0) {
    ctl_errf("cannot write %s: %s: %s", path, dir, strerror(errno));
    return CTL_FAIL;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    ctl_errf("not writing %s: directory %s is writable by %s, who could replace the "
             "file; use a directory only you can write to (chmod go-w)", path, dir,
             st.st_mode & S_IWOTH ? "everyone" : "its group");
    return CTL_FAIL;
  }
  /* mkstemp creates the file 0600; fchmod only ever widens a public file,
   * so a secret file is never readable by others, even for a moment. */
  int fd = mkstemp(tmp);
  if (fd < 0) {
    ctl_errf("cannot create %s: %s", path, strerror(errno));
    return CTL_FAIL;
  }
  int ok = fchmod(fd, mode) == 0 && write_all(fd, data, len) == 0 && fsync(fd) == 0;
  int err = errno, moved = 0;
  ok = close(fd) == 0 && ok;
  if (ok && replace) {
    if (rename(tmp, path) == 0)
      moved = 1;
    else
      ok = 0, err = errno;
  } else if (ok && (err = publish(tmp, path, &moved)) != 0) {
    ok = 0;
  }
  if (!moved)
    unlink(tmp);
  if (!ok && err == ENOTSUP)
    ok = (err = write_in_place(path, data, len, mode)) == 0;
  if (!ok) {
    if (err == EEXIST)
      ctl_errf("%s already exists; not overwriting it", path);
    else
      ctl_errf("cannot write %s: %s", path, strerror(err));
    return CTL_FAIL;
  }
  /* The new name must survive a crash too, not only the data. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd) != 0 && errno == EIO) {
      ctl_errf("%s was written, but its directory could not be synced: %s", path,
               strerror(errno));
      close(dfd);
      return CTL_FAIL;
    }
    close(dfd);
  }
  return CTL_OK;
}

int ctl_write(const char *path, const void *data, size_t len, mode_t mode)
{
  return write_file(path, data, len, mode, 0);
}

int ctl_write_replace(const char *path, const void *data, size_t len, mode_t mode)
{
  if (strcmp(path, "-") == 0)
    return write_file(path, data, len, mode, 0);
  return write_file(path, data, len, mode, 1);
}

int ctl_exists(const char *path)
{
  struct stat st;
  return lstat(path, &st) == 0;
}

/* ---- terminal --------------------------------------------------------- */
int ctl_interactive(void)
{
  return isatty(STDIN_FILENO);
}

static volatile sig_atomic_t ctl_signal;

static void on_signal(int sig)
{
  ctl_signal = sig;
}

/* Read one line from /dev/tty into buf (secure, cap bytes), echo off when
 * `hidden`.  A signal while echo is off restores the terminal first, then
 * the signal is raised again with its default action. */
static int tty_line(char *buf, size_t cap, size_t *len, const char *prompt, int hidden)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGTSTP };
  struct sigaction sa, old[5];
  struct termios saved, quiet;
  int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ctl_errf("cannot open the terminal: %s", strerror(errno));
    return CTL_FAIL;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;   /* no SA_RESTART: read() returns EINTR */
  ctl_signal = 0;
  for (int i = 0; i < 5; i++)
    sigaction(sigs[i], &sa, &old[i]);
  int have_tio = hidden && tcgetattr(fd, &saved) == 0;
  if (have_tio) {
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  int rc = write_all(fd, prompt, strlen(prompt)) == 0 ? CTL_OK : CTL_FAIL;
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
    (void)write_all(fd, "\n", 1);
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

static int passphrase_alloc(ctl_buf *b)
{
  memset(b, 0, sizeof *b);
  b->cap = CTL_PASS_MAX + 2;
  b->secure = 1;
  b->p = ke_secure_alloc(b->cap);
  if (!b->p) {
    ctl_errf("out of memory");
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_passphrase(ctl_buf *out, const char *file, const char *prompt, int is_new)
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
    ctl_errf("no passphrase: stdin is not a terminal, use --passphrase-file");
    return CTL_FAIL;
  } else {
    ctl_buf again;
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
      ctl_buf_free(&again);
      if (rc || same)
        break;
      ctl_notef("The two passphrases differ; once more.");
    }
    if (rc) {
      ctl_buf_free(out);
      return rc;
    }
  }
  if (out->len > CTL_PASS_MAX || (is_new && out->len < CTL_PASS_MIN) || out->len == 0 ||
      memchr(out->p, '\0', out->len)) {
    ctl_errf("a passphrase must be %d..%d bytes without NUL", is_new ? CTL_PASS_MIN : 1,
             CTL_PASS_MAX);
    ctl_buf_free(out);
    return CTL_FAIL;
  }
  const char *weak = pass_weak(out, is_new);
  if (weak) {
    ctl_errf("refusing a weak passphrase: %s%s", weak,
             is_new == CTL_PASS_NEW_SHARE ? " (a share passphrase needs 12 characters or "
                                            "more and must not be guessable: use 4 or more "
                                            "random words, or random characters)"
                                          : "");
    ctl_buf_free(out);
    return CTL_FAIL;
  }
  return CTL_OK;
}

int ctl_secret_line(ctl_buf *out, const char *prompt, size_t max)
{
  memset(out, 0, sizeof *out);
  out->cap = max + 2;
  out->secure = 1;
  out->p = ke_secure_alloc(out->cap);
  if (!out->p) {
    ctl_errf("out of memory");
    return CTL_FAIL;
  }
  int rc = tty_line(out->p, out->cap, &out->len, prompt, 1);
  if (rc)
    ctl_buf_free(out);
  return rc;
}

int ctl_confirm(const char *question)
{
  char answer[16];
  size_t len;
  if (tty_line(answer, sizeof answer, &len, question, 0) != CTL_OK)
    return 0;
  return strcmp(answer, "y") == 0 || strcmp(answer, "Y") == 0 ||
         strcmp(answer, "yes") == 0;
}
