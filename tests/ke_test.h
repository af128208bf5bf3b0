/*
 * ke_test.h - the one check harness of the C unit tests (tests/lib, audit,
 * ctl, agent and server).  Every failed check is printed with its location
 * and counted; main() returns ke_test_result() so CTest sees the failure.
 *
 *   CHECK(cond)                 CHECK(cond, fmt, ...) prints fmt instead
 *   CHECK_RC(expr, want)        a ke_rc; names both on failure
 *   CHECK_BYTES(got, want, len) memcmp; both sides in hex on failure
 *   REQUIRE(cond)               exit(2) when the rest would be meaningless
 */
#ifndef KE_TEST_H
#define KE_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"

static int ke_test_failures;
static int ke_test_checks;

__attribute__((format(printf, 4, 5))) static inline void
ke_test_check(int ok, const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  ke_test_checks++;
  if (ok)
    return;
  ke_test_failures++;
  fprintf(stderr, "%s:%d: FAIL: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* CHECK(cond) prints the condition's text, CHECK(cond, fmt, ...) the
 * message: the argument count (up to 8) picks the form. */
#define CHECK(...)                                                                        \
  KE_CHECK_PICK_(__VA_ARGS__, KE_CHECK_MSG_, KE_CHECK_MSG_, KE_CHECK_MSG_, KE_CHECK_MSG_, \
                 KE_CHECK_MSG_, KE_CHECK_MSG_, KE_CHECK_MSG_, KE_CHECK_1_, unused)        \
  (#__VA_ARGS__, __VA_ARGS__)
#define KE_CHECK_PICK_(a1, a2, a3, a4, a5, a6, a7, a8, name, ...) name
#define KE_CHECK_1_(text, cond) ke_test_check((cond) != 0, __FILE__, __LINE__, "%s", text)
#define KE_CHECK_MSG_(text, cond, ...) ke_test_check((cond) != 0, __FILE__, __LINE__, __VA_ARGS__)

/* Check a ke_rc against the expected value and name both on failure. */
#define CHECK_RC(expr, want)                                                                 \
  do {                                                                                       \
    ke_rc got_ = (expr);                                                                     \
    ke_test_check(got_ == (want), __FILE__, __LINE__, "%s gave %d (%s), expected %s", #expr, \
                  (int)got_, ke_rc_str(got_), #want);                                        \
  } while (0)

/* Byte-for-byte comparison that prints both sides in hex on mismatch. */
#define CHECK_BYTES(got, want, len) ke_test_bytes(__FILE__, __LINE__, #got, got, want, len)

static inline void ke_test_bytes(const char *file, int line, const char *what, const void *got,
                                 const void *want, size_t len)
{
  if (memcmp(got, want, len) == 0) {
    ke_test_check(1, file, line, "%s", what);
    return;
  }
  char *g = malloc(2 * len + 1), *w = malloc(2 * len + 1);
  if (g && w) {
    ke_hex_encode(g, got, len);
    ke_hex_encode(w, want, len);
    ke_test_check(0, file, line, "%s\n  got  %s\n  want %s", what, g, w);
  } else {
    ke_test_check(0, file, line, "%s differs", what);
  }
  free(g);
  free(w);
}

/* Abort the program: used when a failure makes the rest meaningless. */
#define REQUIRE(cond)                                                      \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
      exit(2);                                                             \
    }                                                                      \
  } while (0)

static inline int ke_test_result(const char *name)
{
  if (ke_test_failures) {
    fprintf(stderr, "%s: %d of %d checks FAILED\n", name, ke_test_failures, ke_test_checks);
    return 1;
  }
  printf("%s: all %d checks passed\n", name, ke_test_checks);
  return 0;
}

#endif
