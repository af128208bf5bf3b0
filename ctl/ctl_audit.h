/*
 * ctl_audit.h - what `escrowctl audit verify` and `audit export` share:
 * reading the log page by page, and the witness state (the pinned log key
 * and the last verified checkpoint) kept in the configuration directory.
 */
#ifndef CTL_AUDIT_H
#define CTL_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_http.h"
#include "ke_note.h"

/* Called for each entry the server returns, in order.  `index` is the
 * server's claim; the callee checks it.  Returns CTL_OK to go on, or an
 * exit code to stop (CTL_MISSING_STOP: stop quietly, not an error). */
typedef int (*ctl_audit_leaf_fn)(void *ctx, int64_t index, const uint8_t *leaf, size_t len);
#define CTL_AUDIT_STOP (-2)

/* Read entries [start, end) (end < 0: up to the tree size the server
 * reports at the first page).  *size (may be NULL) gets that tree size.
 * Returns CTL_OK, CTL_AUDIT_STOP passed through from fn, or an exit code
 * (printed). */
int ctl_audit_fetch(ctl_http *h, int64_t start, int64_t end, ctl_audit_leaf_fn fn, void *ctx,
                    int64_t *size);

/* Default witness files: <config dir>/audit-log-key and
 * <config dir>/audit-checkpoint. */
int ctl_audit_default_path(char *out, size_t outlen, const char *file);

/* Create the configuration directory (and its parents) 0700 if needed. */
int ctl_audit_config_dir(void);

/* flock(how) on the lock file `file` of the configuration directory, held
 * while the state it guards is read and replaced.  The descriptor, or -1
 * (printed). */
int ctl_audit_lock(const char *file, int how);

/* The log key to trust: `arg` (--log-key), else $ESCROWCTL_LOG_KEY, else the
 * pinned file.  *from_file = 1 when it came from the pinned file.  CTL_OK,
 * or CTL_USAGE/CTL_FAIL (printed) when none is given or it is malformed. */
int ctl_audit_log_key(ke_note_verifier *v, char **vkey_text, const char *arg, int *from_file);

/* Replace `path` atomically with `data` (mode 0600): a temporary file in the
 * same directory, fsync, rename, fsync of the directory. */
int ctl_audit_replace(const char *path, const char *data, size_t len);

#endif
