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
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "ke_cli.h"
#include "ke_files.h"

/* Exit codes (documented in `escrowctl --help`). */
enum {
  CTL_OK = 0,
  CTL_FAIL = 1,    /* verification failure or bad input */
  CTL_USAGE = 2,   /* bad command line */
  CTL_MISSING = 3, /* open: not enough good parts */
  CTL_HELP = -1,   /* internal: --help was printed, exit 0 */
};

/* A row of the command table (escrowctl.c): name, sub-name ("share verify")
 * or NULL, handler (argv[0] = last word), summary, usage. */
typedef ke_cli_cmd ctl_cmd;

/* ---- messages -------------------------------------------------------- */
/* The command being run, for message prefixes ("share verify"). */
void ctl_set_command(const ctl_cmd *cmd);
void ctl_errf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_notef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ctl_errf, then rc: `return ctl_err(CTL_USAGE, "...")`. */
int ctl_err(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "out of memory"; CTL_FAIL. */
int ctl_oom(void);
/* Print "usage" of cmd to f. */
void ctl_print_usage(const ctl_cmd *cmd, FILE *f);

/* ---- options ---------------------------------------------------------- */
/* Called for each option; returns CTL_OK or an exit code (after printing). */
typedef int (*ctl_opt_fn)(void *ctx, int opt, const char *arg);
/* Or'ed into an option's `val`: the option may be given more than once
 * (ceremony's --custodian).  The handler sees val without the flag. */
#define CTL_OPT_MULTI KE_CLI_OPT_MULTI
/* An option's `val` that ctl_getopt handles itself, without calling fn:
 * CTL_OPT_ARG keeps the argument in a `const char *` member of the struct
 * that ctx points to, CTL_OPT_SET sets an `int` member to 1.  The unused
 * comparison makes a member of another type a compile error. */
#define CTL_OPT_STORE_ 0x20000
#define CTL_OPT_FLAG_ 0x40000
#define CTL_OPT_CHECK_(T, m, type) (0 * (int)sizeof(&((T *)0)->m == (type *)0))
#define CTL_OPT_ARG(T, m) \
  (CTL_OPT_STORE_ | ((int)offsetof(T, m) + CTL_OPT_CHECK_(T, m, const char *)))
#define CTL_OPT_SET(T, m) \
  (CTL_OPT_STORE_ | CTL_OPT_FLAG_ | ((int)offsetof(T, m) + CTL_OPT_CHECK_(T, m, int)))
/* CTL_OPT_HEX32 parses a 32-byte value given as 64 hex digits (either
 * case; "--NAME must be 64 hex digits" otherwise) into a ctl_hex32 member
 * and sets its `set`; CTL_HEX32 is its bytes, or NULL when not given. */
typedef struct ctl_hex32 {
  uint8_t b[32];
  int set;
} ctl_hex32;
#define CTL_OPT_HEX_ 0x80000
#define CTL_OPT_HEX32(T, m) \
  (CTL_OPT_STORE_ | CTL_OPT_HEX_ | ((int)offsetof(T, m) + CTL_OPT_CHECK_(T, m, ctl_hex32)))
#define CTL_HEX32(h) ((h).set ? (h).b : NULL)
/* The end of every option table: --help, then the terminator. */
#define CTL_OPT_END \
  {"help", no_argument, 0, 'h'}, { 0, 0, 0, 0 }
/* getopt_long over argv with long options only.  `opts` must end with
 * CTL_OPT_END: --help prints the usage and returns CTL_HELP.  An unknown
 * option, a missing argument, or an option given twice (unless
 * CTL_OPT_MULTI: a second --out would otherwise silently win over the
 * first) is CTL_USAGE.  On success *first_arg is the index of the
 * first positional argument; with first_arg NULL, positional arguments are
 * a usage error. */
int ctl_getopt(const ctl_cmd *cmd, int argc, char **argv, const struct option *opts, ctl_opt_fn fn,
               void *ctx, int *first_arg);
/* Unsigned decimal in [lo, hi]; CTL_USAGE (printed) otherwise. */
int ctl_parse_uint(unsigned *out, const char *arg, const char *opt, unsigned lo, unsigned hi);
/* A 32-byte value as 64 hex digits, either case; `opt` names the option. */
int ctl_parse_hex32(uint8_t out[32], const char *arg, const char *opt);
/* --fingerprint HEX: 64 hex digits, either case. */
int ctl_parse_fpr(uint8_t out[KE_FPR_LEN], const char *arg);
/* 32 bytes as 8 groups of 4 hex digits, "1a2b 3c4d ...", for people to
 * compare; out has room for 80 bytes. */
void ctl_hex_groups(char out[80], const uint8_t b[32]);
/* A required option that was not given. */
int ctl_missing_opt(const char *opt);
/* The first of a command's required options that was not given
 * (ctl_missing_opt), or CTL_OK: CTL_REQUIRED({"--in", o.in}, {"--n", o.n}). */
typedef struct ctl_required_opt {
  const char *opt;
  _Bool given;
} ctl_required_opt;
int ctl_required(const ctl_required_opt *r);
#define CTL_REQUIRED(...) ctl_required((const ctl_required_opt[]){__VA_ARGS__, {NULL, 0}})

/* A member of a JSON object (a server answer, a state file): the string
 * (NULL when absent or not a string), the integer (0 likewise). */
static inline const char *ctl_jstr(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}
static inline long long ctl_jint(const json_t *o, const char *key)
{
  return (long long)json_integer_value(json_object_get(o, key));
}

/* ---- files ------------------------------------------------------------ */
/* Read all of `path` ("-" is stdin) into b, at most max bytes (ke_read_file);
 * `what` names it in errors.  secure: in locked memory, wiped when freed. */
int ctl_read(ke_buf *b, const char *path, size_t max, int secure, const char *what);
/* ke_write_file refusing a directory others may write to (KE_WRITE_SAFE_DIR):
 * an existing file is never replaced (EEXIST is an error).  "-" writes to
 * stdout. */
int ctl_write(const char *path, const void *data, size_t len, mode_t mode);
/* The same, replacing `path` if it exists (atomically: rename over it), for
 * state that is rewritten (a policy custodian's limits and decisions). */
int ctl_write_replace(const char *path, const void *data, size_t len, mode_t mode);
/* Print a failed ke_write_file's error in escrowctl's words; CTL_FAIL. */
int ctl_write_error(const ke_io_err *e, const char *path);
/* Does path exist (lstat)? */
int ctl_exists(const char *path);
/* An output file that must be new: CTL_FAIL (printed) if path exists;
 * CTL_OK for NULL (not asked for). */
int ctl_new_file(const char *path);

/* ---- terminal --------------------------------------------------------- */
int ctl_interactive(void); /* is stdin a terminal? */
/* Passphrase from a file (one trailing "\n" or "\r\n" stripped) or, when
 * file is NULL and stdin is a terminal, from /dev/tty with echo off.
 * is_new: ask twice and require 8..1024 bytes.  With neither a file nor a
 * terminal: CTL_FAIL, saying to use --passphrase-file.
 * is_new == CTL_PASS_NEW_SHARE (a share file's passphrase): also at least
 * 12 bytes and ke_passphrase_weak_reason (the dictionary estimate), from
 * the terminal or a file alike. */
#define CTL_PASS_NEW_SHARE 2
int ctl_passphrase(ke_buf *out, const char *file, const char *prompt, int is_new);
/* One line (without its newline) from the terminal with echo off, at most
 * max bytes, into secure memory: a secret typed by hand. */
int ctl_secret_line(ke_buf *out, const char *prompt, size_t max);
/* Ask a y/N question on /dev/tty; 1 only for "y" or "yes". */
int ctl_confirm(const char *question);

/* ---- keyescrow files (ctl_files.c) --------------------------------------- */
/* pin may be NULL; otherwise the manifest's fingerprint must equal it. */
int ctl_load_manifest(ke_manifest *m, const char *path, const uint8_t *pin);
int ctl_load_share(ke_sharefile *s, const char *path);
/* pin may be NULL; otherwise the request's escrow key must have it. */
int ctl_load_request(ke_request *r, const char *path, const uint8_t *pin);
int ctl_load_reqkey(ke_reqkey *k, const char *path); /* k in secure memory */
/* A part file that does not parse is named by its custodian index when its
 * "index" field is readable. */
int ctl_load_part(ke_partfile *p, const char *path);
/* The checks of a share file that need no passphrase: it belongs to the
 * escrow key pub (its fingerprint; `whose` says where pub came from, "the
 * request's"), its index is one of pub's, and, given a manifest's name for
 * that index (name may be NULL), it names the same custodian. */
int ctl_check_share(const ke_sharefile *s, const ke_escrow_pub *pub, const char *name,
                    const char *whose);
/* The share, unsealed with the custodian's passphrase and checked against
 * pub (d_i*G == Q_i; ctl_check_share must have passed).  Unsealing proves
 * the share file's fingerprint, which its AAD binds.  d in secure memory. */
int ctl_unseal_share(ke_scalar *d, const ke_sharefile *s, const ke_escrow_pub *pub,
                     const char *passfile);
/* Read a file of at most max bytes (ctl_read) and parse it with
 * parse(out, p, len, &ferr); on failure print "PATH: why" and return from
 * the caller.  One parser signature per file type would need casts between
 * function pointer types; a macro keeps the loaders identical instead. */
#define CTL_LOAD(parse, out, path, max, secure, what)                 \
  do {                                                                \
    ke_buf b_;                                                        \
    ke_ferr e_ = {""};                                                \
    int r_ = ctl_read(&b_, (path), (max), (secure), (what));          \
    if (r_)                                                           \
      return r_;                                                      \
    ke_rc k_ = parse((out), b_.p, b_.len, &e_);                       \
    ke_buf_free(&b_);                                                 \
    if (k_) {                                                         \
      ctl_errf("%s: %s", (path), e_.msg[0] ? e_.msg : ke_rc_str(k_)); \
      return CTL_FAIL;                                                \
    }                                                                 \
  } while (0)

/* Write a writer's output (text of len bytes) and free it.  A secret text
 * (secure) is never written to standard output ("-" is refused). */
int ctl_write_text(const char *path, char *text, size_t len, mode_t mode, int secure);

#endif
