/*
 * ke_test.h - a minimal check harness for the libescrow test programs.
 * Every failed check is printed with its location and counted; main()
 * returns ke_test_result() so CTest sees the failure.
 */
#ifndef KE_TEST_H
#define KE_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"

static int ke_test_failures;
static int ke_test_checks;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    ke_test_checks++;                                                                 \
    if (!(cond)) {                                                                    \
      ke_test_failures++;                                                             \
      fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);               \
    }                                                                                 \
  } while (0)

/* Check a ke_rc against the expected value and name both on failure. */
#define CHECK_RC(expr, want)                                                          \
  do {                                                                                \
    ke_rc got_ = (expr);                                                              \
    ke_test_checks++;                                                                 \
    if (got_ != (want)) {                                                             \
      ke_test_failures++;                                                             \
      fprintf(stderr, "%s:%d: FAIL: %s gave %d (%s), expected %s\n", __FILE__,        \
              __LINE__, #expr, (int)got_, ke_rc_str(got_), #want);                    \
    }                                                                                 \
  } while (0)

/* Byte-for-byte comparison that prints both sides in hex on mismatch. */
#define CHECK_BYTES(got, want, len) ke_test_bytes(__FILE__, __LINE__, #got, got, want, len)

static inline void ke_test_bytes(const char *file, int line, const char *what,
                                 const void *got, const void *want, size_t len)
{
  ke_test_checks++;
  if (memcmp(got, want, len) == 0)
    return;
  ke_test_failures++;
  char *g = malloc(2 * len + 1), *w = malloc(2 * len + 1);
  if (g && w) {
    ke_hex_encode(g, got, len);
    ke_hex_encode(w, want, len);
    fprintf(stderr, "%s:%d: FAIL: %s\n  got  %s\n  want %s\n", file, line, what, g, w);
  } else {
    fprintf(stderr, "%s:%d: FAIL: %s differs\n", file, line, what);
  }
  free(g);
  free(w);
}

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
