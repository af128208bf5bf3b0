/*
 * ke_cli.h - the client runtime shared by escrowctl and escrow-agent: a
 * growable (optionally locked) buffer, capped file reads, the one atomic
 * write, private-permission checks, the command table with getopt, and
 * number and hex parsing.
 *
 * Contract for every function:
 *  - mechanism only, no words: nothing here prints.  A failure returns
 *    KE_ERR_* (or a KE_CLI_* code) and, where a ke_io_err is passed, says
 *    which step failed with its errno, so that each program keeps its own
 *    messages (escrowctl's and escrow-agent's differ, and tests compare
 *    them);
 *  - a secure buffer's bytes only ever live in ke_secure_alloc memory and
 *    every block is wiped when it is released, grown or not;
 *  - a file written here is never readable by others, even for a moment:
 *    the temporary file is created 0600 (mkstemp) and fchmod only widens it.
 */
#ifndef KE_CLI_H
#define KE_CLI_H

#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ke_util.h"

/* ---- buffer ------------------------------------------------------------ */
typedef struct ke_buf {
  char *p; /* NUL terminated when non-NULL */
  size_t len, cap;
  int secure; /* p is ke_secure_alloc memory */
} ke_buf;

/* Append len bytes (and keep a NUL after them).  A secure buffer never goes
 * through realloc: the old block is copied and wiped.  KE_ERR_NOMEM. */
ke_rc ke_buf_append(ke_buf *b, const void *data, size_t len);
/* Wipe and release; b is all zero afterwards (a second free is harmless). */
void ke_buf_free(ke_buf *b);

/* ---- files ------------------------------------------------------------- */
/* Which step of a read or write failed; err is its errno. */
typedef enum ke_io_step {
  KE_IO_NONE = 0,
  KE_IO_OPEN,      /* read: open(2) */
  KE_IO_READ,      /* read: read(2) */
  KE_IO_TOO_LARGE, /* read: more than max bytes */
  KE_IO_NOMEM,
  KE_IO_PATH,       /* write: the temporary name is too long (ENAMETOOLONG) */
  KE_IO_DIR_STAT,   /* write: the directory cannot be stat'ed */
  KE_IO_DIR_UNSAFE, /* write: the directory is writable by group (err 0) or
                       everyone (err 1), KE_WRITE_SAFE_DIR only */
  KE_IO_CREATE,     /* write: mkstemp */
  KE_IO_WRITE,      /* write: fchmod, write, fsync or close of the temp file */
  KE_IO_PUBLISH,    /* write: link/rename to the name; EEXIST: it exists */
  KE_IO_DIR_SYNC,   /* write: the directory's fsync said EIO */
} ke_io_step;

typedef struct ke_io_err {
  ke_io_step step;
  int err;
  char where[PATH_MAX]; /* the directory (KE_IO_DIR_*) or the temporary
                            file (KE_IO_WRITE) */
} ke_io_err;

/* Write all of data to fd, retrying on EINTR.  0, or -1 with errno set. */
int ke_write_all(int fd, const void *data, size_t len);
/* Read all of `path` ("-" is standard input) into b, at most max bytes
 * (more is KE_IO_TOO_LARGE: it reads max + 1 to know).  secure: b is in
 * locked memory.  The buffer is sized by a regular file, or grows as a
 * pipe delivers.  On failure b is freed (all zero). */
ke_rc ke_read_file(ke_buf *b, const char *path, size_t max, int secure, ke_io_err *e);

#define KE_WRITE_REPLACE 1 /* rename over an existing file */
#define KE_WRITE_SAFE_DIR \
  2 /* refuse a directory others may write to: they
                                could swap the file once written */
/* Write `path` with `mode` through a temporary file in the same directory
 * ("PATH.tmp-XXXXXX"), fsync'ed, then published:
 *  - KE_WRITE_REPLACE: rename() over whatever is there;
 *  - otherwise never replacing a file (EEXIST at KE_IO_PUBLISH): link(),
 *    or where there are no hard links (FAT, exFAT) renameat2 with
 *    RENAME_NOREPLACE, or failing both an O_EXCL file written in place
 *    (removed again if that write fails).
 * Then the directory is fsync'ed so the name survives a crash too; only
 * EIO there is an error (some filesystems cannot sync a directory).  The
 * temporary file never outlives a failure. */
ke_rc ke_write_file(const char *path, const void *data, size_t len, mode_t mode, int flags,
                    ke_io_err *e);
/* The directory part of path ("." or "/" where it has none). */
void ke_path_dir(char *out, size_t size, const char *path);

/* ---- private files ----------------------------------------------------- */
typedef enum ke_priv {
  KE_PRIV_OK = 0,
  KE_PRIV_STAT,  /* (l)stat failed; errno says why */
  KE_PRIV_TYPE,  /* not a regular file (is_dir 0) / a directory (is_dir 1) */
  KE_PRIV_OWNER, /* not owned by the effective user */
  KE_PRIV_MODE,  /* group or others have any access (mode & 077) */
} ke_priv;
/* Is path a file (or directory) that only this user can touch?  Checked in
 * the order above; st receives the stat.  follow: stat (a symlink to a
 * private file passes) rather than lstat. */
ke_priv ke_check_private(const char *path, int is_dir, int follow, struct stat *st);

/* ---- commands ---------------------------------------------------------- */
/* One row of a program's command table. */
typedef struct ke_cli_cmd ke_cli_cmd;
struct ke_cli_cmd {
  const char *name;                                         /* "share", "luks" */
  const char *sub;                                          /* "verify", "add", or NULL */
  int (*run)(const ke_cli_cmd *cmd, int argc, char **argv); /* argv[0] = last word */
  const char *summary;                                      /* one line for the program's --help */
  const char *usage; /* synopsis and options for CMD --help */
};
/* "name sub" (or "name") into out. */
void ke_cli_cmd_name(char *out, size_t size, const ke_cli_cmd *cmd);
/* The row for argv[1] (and argv[2] for a row with a sub-name); *words is
 * how many words it took.  NULL if none: *known says whether argv[1] names
 * a command at all (that then needs a sub-name). */
const ke_cli_cmd *ke_cli_lookup(const ke_cli_cmd *cmds, size_t n, int argc, char **argv, int *words,
                                int *known);
/* Every row as "  NAME  summary", NAME padded to width. */
void ke_cli_list(FILE *f, const ke_cli_cmd *cmds, size_t n, int width);

/* getopt_long over argv, long options only; the option handler is called
 * for each option and its nonzero return is returned at once.  What the
 * program must word itself comes back as: */
enum {
  KE_CLI_HELP = -1, /* 'h' (--help) was given */
  KE_CLI_BAD = -2,  /* see ke_cli_bad */
};
#define KE_CLI_OPT_MULTI \
  0x10000             /* or'ed into an option's val: may repeat;
                                    the handler sees val without it */
#define KE_CLI_ONCE 1 /* an option given twice is KE_CLI_BAD_TWICE */
typedef enum {
  KE_CLI_BAD_UNKNOWN = 1,
  KE_CLI_BAD_NOARG,
  KE_CLI_BAD_TWICE,
  KE_CLI_BAD_EXTRA
} ke_cli_bad_kind;
typedef struct ke_cli_bad {
  ke_cli_bad_kind kind;
  const char *word; /* the offending argv word, or the option's name
                            (TWICE); never NULL */
} ke_cli_bad;
typedef int (*ke_cli_opt_fn)(void *ctx, int opt, const char *arg);
/* shortopts: "+:h" (stop at the first positional argument) or ":".  With
 * first_arg NULL a positional argument is KE_CLI_BAD_EXTRA, otherwise
 * *first_arg is the index of the first.  fn may be NULL when opts holds
 * only --help. */
int ke_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *opts,
                  int flags, ke_cli_opt_fn fn, void *ctx, int *first_arg, ke_cli_bad *bad);

/* ---- values ------------------------------------------------------------ */
/* Decimal digits only (no sign, no space), value in [lo, hi].  KE_ERR_FORMAT. */
ke_rc ke_parse_uint(unsigned *out, const char *s, unsigned lo, unsigned hi);
/* Exactly 2 * n hex digits, either case.  KE_ERR_FORMAT. */
ke_rc ke_parse_hex_exact(uint8_t *out, size_t n, const char *s);

#endif
