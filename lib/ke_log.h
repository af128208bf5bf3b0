/*
 * ke_log.h - structured logging: one JSON object per line on stderr.
 *
 * Every line carries "ts" (RFC 3339, UTC, milliseconds), "level", "component"
 * and "msg", then any caller fields.  Lines are written with a single write(2)
 * so that lines from concurrent threads never interleave.  Callers must never
 * pass a secret, a share or a derived key in a field: logs are not protected.
 */
#ifndef KE_LOG_H
#define KE_LOG_H

#include <jansson.h>

typedef enum ke_log_level {
  KE_LOG_DEBUG = 0,
  KE_LOG_INFO,
  KE_LOG_WARN,
  KE_LOG_ERROR,
} ke_log_level;

/* Lines below `level` are dropped.  Default: KE_LOG_INFO. */
void ke_log_set_level(ke_log_level level);
ke_log_level ke_log_get_level(void);
int ke_log_enabled(ke_log_level level);
/* "debug" | "info" | "warn" | "error" (case-insensitive).  0 on success. */
int ke_log_level_parse(const char *s, ke_log_level *out);
const char *ke_log_level_name(ke_log_level level);
/* Name put in the "component" field (copied, at most 31 bytes). */
void ke_log_set_component(const char *name);
/* Destination file descriptor (default 2). */
void ke_log_set_fd(int fd);

/* Emit `msg` with the members of `fields` (may be NULL).  Takes ownership of
 * `fields` (a json object) in every case, so callers can write
 * ke_log(KE_LOG_INFO, "x", json_pack("{s:i}", "n", 1)) without leaks. */
void ke_log(ke_log_level level, const char *msg, json_t *fields);
/* printf-style message, no extra fields. */
void ke_logf(ke_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
