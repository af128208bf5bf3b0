/*
 * ctl_util.h - what every escrowctl command shares: the command table entry,
 * exit codes, option parsing, messages, file I/O, passphrases and prompts,
 * and loading the keyescrow files with error reporting.
 *
 * Conventions: functions that can fail print their own error (prefixed with
 * "escrowctl CMD: ") and return a CTL_* exit code, so a command handler can
 * simply `if ((rc = ctl_...)) goto out;`.  Nothing here ever prints the
 * content of a file it read.
 */
#ifndef CTL_UTIL_H
#define CTL_UTIL_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "ke_files.h"

/* Exit codes (documented in `escrowctl --help`). */
enum {
  CTL_OK = 0,
  CTL_FAIL = 1,     /* verification failure or bad input */
  CTL_USAGE = 2,    /* bad command line */
  CTL_MISSING = 3,  /* open: not enough good parts */
  CTL_HELP = -1,    /* internal: --help was printed, exit 0 */
};

typedef struct ctl_cmd ctl_cmd;
struct ctl_cmd {
  const char *name;      /* "ceremony", "share", ... */
  const char *sub;       /* "verify", "new", or NULL */
  int (*run)(const ctl_cmd *cmd, int argc, char **argv);  /* argv[0] = last word */
  const char *summary;   /* one line for `escrowctl --help` */
  const char *usage;     /* synopsis and options for `escrowctl CMD --help` */
};

/* ---- messages -------------------------------------------------------- */
/* The command being run, for message prefixes ("share verify"). */
void ctl_set_command(const ctl_cmd *cmd);
void ctl_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "usage" of cmd to f. */
void ctl_print_usage(const ctl_cmd *cmd, FILE *f);

/* ---- options ---------------------------------------------------------- */
/* Called for each option; returns CTL_OK or an exit code (after printing). */
typedef int (*ctl_opt_fn)(void *ctx, int opt, const char *arg);
/* getopt_long over argv with long options only.  `opts` must include
 * {"help", no_argument, 0, 'h'}; --help prints the usage and returns
 * CTL_HELP.  An unknown option or a missing argument is CTL_USAGE.  On
 * success *first_arg is the index of the first positional argument; with
 * first_arg NULL, positional arguments are a usage error. */
int ctl_getopt(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts,
               ctl_opt_fn fn, void *ctx, int *first_arg);
/* Unsigned decimal in [lo, hi]; CTL_USAGE (printed) otherwise. */
int ctl_parse_uint(unsigned *out, const char *arg, const char *opt, unsigned lo,
                   unsigned hi);
/* --fingerprint HEX: 64 hex digits, either case. */
int ctl_parse_fpr(uint8_t out[KE_FPR_LEN], const char *arg);
/* A required option that was not given. */
int ctl_missing_opt(const char *opt);

/* ---- files ------------------------------------------------------------ */
typedef struct ctl_buf {
  char *p;        /* NUL terminated */
  size_t len, cap;
  int secure;     /* p is ke_secure_alloc memory */
} ctl_buf;

/* Read all of `path` ("-" is stdin) into b, at most max bytes; `what` names
 * it in errors.  secure: in locked memory, wiped when freed. */
int ctl_read(ctl_buf *b, const char *path, size_t max, int secure, const char *what);
void ctl_buf_free(ctl_buf *b);
/* Write atomically: a temporary file in the same directory, fsync, then
 * link() to `path` so that an existing file is never replaced (EEXIST is
 * an error), mode `mode` from the start.  "-" writes to stdout. */
int ctl_write(const char *path, const void *data, size_t len, mode_t mode);
/* Does path exist (lstat)? */
int ctl_exists(const char *path);

/* ---- terminal --------------------------------------------------------- */
int ctl_interactive(void);   /* is stdin a terminal? */
/* Passphrase from a file (one trailing "\n" or "\r\n" stripped) or, when
 * file is NULL and stdin is a terminal, from /dev/tty with echo off.
 * is_new: ask twice and require 8..1024 bytes. */
int ctl_passphrase(ctl_buf *out, const char *file, const char *prompt, int is_new);
/* Ask a y/N question on /dev/tty; 1 only for "y" or "yes". */
int ctl_confirm(const char *question);

/* ---- keyescrow files (ctl_files.c) --------------------------------------- */
/* pin may be NULL; otherwise the manifest's fingerprint must equal it. */
int ctl_load_manifest(ke_manifest *m, const char *path, const uint8_t *pin);
int ctl_load_share(ke_sharefile *s, const char *path);
int ctl_load_request(ke_request *r, const char *path);
int ctl_load_reqkey(ke_reqkey *k, const char *path);   /* k in secure memory */
int ctl_load_part(ke_partfile *p, const char *path);
/* The share, unsealed with the custodian's passphrase and checked against the
 * manifest (which must be the share's escrow key).  d in secure memory. */
int ctl_unseal_share(ke_scalar *d, const ke_sharefile *s, const ke_manifest *m,
                     const char *passfile);
/* Write a writer's output (text of len bytes) and free it. */
int ctl_write_text(const char *path, char *text, size_t len, mode_t mode, int secure);

#endif
