/*
 * ke_cli.c - the client runtime of escrowctl and escrow-agent (ke_cli.h).
 */
#define _GNU_SOURCE /* renameat2 */
#include "ke_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- buffer ------------------------------------------------------------ */
static void *buf_alloc(size_t n, int secure) { return secure ? ke_secure_alloc(n) : calloc(1, n); }

/* Move b's bytes into a block of cap bytes; the old block is wiped. */
static ke_rc buf_grow(ke_buf *b, size_t cap)
{
  char *p = buf_alloc(cap, b->secure);
  if (!p)
    return KE_ERR_NOMEM;
  if (b->p)
    memcpy(p, b->p, b->len);
  ke_buf old = *b;
  ke_buf_free(&old);
  b->p = p;
  b->cap = cap;
  return KE_OK;
}

ke_rc ke_buf_append(ke_buf *b, const void *data, size_t len)
{
  if (len > SIZE_MAX / 2 - b->len - 1)
    return KE_ERR_NOMEM;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + len + 1)
      cap *= 2;
    if (buf_grow(b, cap))
      return KE_ERR_NOMEM;
  }
  if (len)
    memcpy(b->p + b->len, data, len);
  b->len += len;
  b->p[b->len] = '\0';
  return KE_OK;
}

void ke_buf_free(ke_buf *b)
{
  if (b->secure)
    ke_secure_free(b->p, b->cap);
  else if (b->p) {
    ke_wipe(b->p, b->cap);
    free(b->p);
  }
  memset(b, 0, sizeof *b);
}

/* ---- files ------------------------------------------------------------- */
static ke_rc io_fail(ke_io_err *e, ke_io_step step, int err, const char *where)
{
  e->step = step;
  e->err = err;
  snprintf(e->where, sizeof e->where, "%s", where ? where : "");
  return step == KE_IO_NOMEM ? KE_ERR_NOMEM : step == KE_IO_TOO_LARGE ? KE_ERR_LENGTH : KE_ERR_IO;
}

int ke_write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      errno = n < 0 ? errno : EIO;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Read fd into b (allocated, cap set) until EOF or more than max bytes. */
static ke_rc read_fd(ke_buf *b, int fd, size_t max, ke_io_err *e)
{
  size_t limit = max + 2; /* max + 1 bytes to notice a longer input, the NUL */
  for (;;) {
    if (b->len + 1 >= b->cap) {
      if (b->cap >= limit)
        return io_fail(e, KE_IO_TOO_LARGE, 0, NULL);
      if (buf_grow(b, b->cap > limit / 2 ? limit : 2 * b->cap))
        return io_fail(e, KE_IO_NOMEM, ENOMEM, NULL);
    }
    ssize_t n = read(fd, b->p + b->len, b->cap - 1 - b->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return io_fail(e, KE_IO_READ, errno, NULL);
    if (n == 0)
      return b->len > max ? io_fail(e, KE_IO_TOO_LARGE, 0, NULL) : KE_OK;
    b->len += (size_t)n;
  }
}

ke_rc ke_read_file(ke_buf *b, const char *path, size_t max, int secure, ke_io_err *e)
{
  int in = strcmp(path, "-") == 0;
  int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  ke_rc rc;

  memset(b, 0, sizeof *b);
  if (fd < 0)
    return io_fail(e, KE_IO_OPEN, errno, NULL);
  /* Sized by what there is: a regular file says its size, other input
   * starts small and grows. */
  size_t limit = max + 2;
  b->cap = limit < 4096 ? limit : 4096;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    b->cap = (uintmax_t)st.st_size < max ? (size_t)st.st_size + 2 : limit;
  b->secure = secure;
  b->p = buf_alloc(b->cap, secure);
  rc = b->p ? read_fd(b, fd, max, e) : io_fail(e, KE_IO_NOMEM, ENOMEM, NULL);
  if (!in)
    close(fd);
  if (rc)
    ke_buf_free(b);
  else
    b->p[b->len] = '\0';
  return rc;
}

void ke_path_dir(char *out, size_t size, const char *path)
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

/* Mode, data, fsync, close: 0 or an errno.  fd is closed either way. */
static int fill(int fd, const void *data, size_t len, mode_t mode)
{
  int ok = fchmod(fd, mode) == 0 && ke_write_all(fd, data, len) == 0 && fsync(fd) == 0;
  int err = ok ? 0 : errno ? errno : EIO;
  if (close(fd) != 0 && ok)
    err = errno ? errno : EIO;
  return err;
}

/* The last resort: create path exclusively and write in place.  Not atomic
 * (a crash can leave a short file), but never replaces anything. */
static int write_in_place(const char *path, const void *data, size_t len, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno;
  int err = fill(fd, data, len, mode);
  if (err)
    unlink(path); /* ours: created with O_EXCL */
  return err;
}

/* The directory: safe to write in (KE_WRITE_SAFE_DIR)? */
static ke_rc check_dir(const char *dir, int flags, ke_io_err *e)
{
  struct stat st;
  if (!(flags & KE_WRITE_SAFE_DIR))
    return KE_OK;
  if (stat(dir, &st) != 0)
    return io_fail(e, KE_IO_DIR_STAT, errno, dir);
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return io_fail(e, KE_IO_DIR_UNSAFE, (st.st_mode & S_IWOTH) != 0, dir);
  return KE_OK;
}

ke_rc ke_write_file(const char *path, const void *data, size_t len, mode_t mode, int flags,
                    ke_io_err *e)
{
  char tmp[PATH_MAX], dir[PATH_MAX];
  int moved = 0, err;
  ke_rc rc;

  if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
    return io_fail(e, KE_IO_PATH, ENAMETOOLONG, NULL);
  ke_path_dir(dir, sizeof dir, path);
  if ((rc = check_dir(dir, flags, e)))
    return rc;
  int fd = mkstemp(tmp);
  if (fd < 0)
    return io_fail(e, KE_IO_CREATE, errno, NULL);
  if ((err = fill(fd, data, len, mode))) {
    unlink(tmp);
    return io_fail(e, KE_IO_WRITE, err, tmp);
  }
  if (flags & KE_WRITE_REPLACE)
    err = rename(tmp, path) == 0 ? (moved = 1, 0) : errno;
  else
    err = publish(tmp, path, &moved);
  if (!moved)
    unlink(tmp);
  if (err == ENOTSUP)
    err = write_in_place(path, data, len, mode);
  if (err)
    return io_fail(e, KE_IO_PUBLISH, err, NULL);
  /* The new name must survive a crash too, not only the data. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    err = fsync(dfd) != 0 && errno == EIO;
    close(dfd);
    if (err)
      return io_fail(e, KE_IO_DIR_SYNC, EIO, dir);
  }
  return KE_OK;
}

/* ---- private files ----------------------------------------------------- */
ke_priv ke_check_private(const char *path, int is_dir, int follow, struct stat *st)
{
  if ((follow ? stat(path, st) : lstat(path, st)) != 0)
    return KE_PRIV_STAT;
  if (is_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
    return KE_PRIV_TYPE;
  if (st->st_uid != geteuid())
    return KE_PRIV_OWNER;
  if (st->st_mode & 077)
    return KE_PRIV_MODE;
  return KE_PRIV_OK;
}

/* ---- commands ---------------------------------------------------------- */
void ke_cli_cmd_name(char *out, size_t size, const ke_cli_cmd *cmd)
{
  snprintf(out, size, "%s%s%s", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
}

const ke_cli_cmd *ke_cli_lookup(const ke_cli_cmd *cmds, size_t n, int argc, char **argv, int *words,
                                int *known)
{
  *known = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(cmds[i].name, argv[1]) != 0)
      continue;
    *known = 1;
    if (!cmds[i].sub) {
      *words = 1;
      return &cmds[i];
    }
    if (argc > 2 && strcmp(cmds[i].sub, argv[2]) == 0) {
      *words = 2;
      return &cmds[i];
    }
  }
  return NULL;
}

void ke_cli_list(FILE *f, const ke_cli_cmd *cmds, size_t n, int width)
{
  for (size_t i = 0; i < n; i++) {
    char name[32];
    ke_cli_cmd_name(name, sizeof name, &cmds[i]);
    fprintf(f, "  %-*s %s\n", width, name, cmds[i].summary);
  }
}

static int bad_word(ke_cli_bad *bad, ke_cli_bad_kind kind, const char *word)
{
  bad->kind = kind;
  bad->word = word ? word : "";
  return KE_CLI_BAD;
}

int ke_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts,
                  int flags, ke_cli_opt_fn fn, void *ctx, int *first_arg, ke_cli_bad *bad)
{
  int c, idx = -1;
  unsigned char seen[64] = {0};
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, shortopts, opts, &idx)) != -1) {
    if (c == 'h')
      return KE_CLI_HELP;
    if (c == '?' || c == ':')
      return bad_word(bad, c == ':' ? KE_CLI_BAD_NOARG : KE_CLI_BAD_UNKNOWN, argv[optind - 1]);
    if ((flags & KE_CLI_ONCE) && idx >= 0 && (size_t)idx < sizeof seen) {
      if (seen[idx] && !(opts[idx].val & KE_CLI_OPT_MULTI))
        return bad_word(bad, KE_CLI_BAD_TWICE, opts[idx].name);
      seen[idx] = 1;
    }
    idx = -1;
    if (!fn)
      return bad_word(bad, KE_CLI_BAD_UNKNOWN, argv[optind - 1]);
    int rc = fn(ctx, c & ~KE_CLI_OPT_MULTI, optarg);
    if (rc)
      return rc;
  }
  if (first_arg)
    *first_arg = optind;
  else if (optind < argc)
    return bad_word(bad, KE_CLI_BAD_EXTRA, argv[optind]);
  return 0;
}

/* ---- values ------------------------------------------------------------ */
ke_rc ke_parse_uint(unsigned *out, const char *s, unsigned lo, unsigned hi)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (s[0] < '0' || s[0] > '9' || *end || errno || v < lo || v > hi)
    return KE_ERR_FORMAT;
  *out = (unsigned)v;
  return KE_OK;
}

ke_rc ke_parse_hex_exact(uint8_t *out, size_t n, const char *s)
{
  if (strlen(s) != 2 * n || ke_hex_decode(out, n, s) != KE_OK)
    return KE_ERR_FORMAT;
  return KE_OK;
}
