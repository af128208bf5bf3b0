/*
 * audit_test.h - tiny check macros shared by the audit suite's programs.
 * A failed CHECK prints where and why and counts; main() returns non-zero
 * if anything failed.
 */
#ifndef AUDIT_TEST_H
#define AUDIT_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int t_failures;
static long t_checks;

#define CHECK(cond)                                                       \
  do {                                                                    \
    t_checks++;                                                           \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      t_failures++;                                                       \
    }                                                                     \
  } while (0)

#define CHECK_RC(expr, want)                                              \
  do {                                                                    \
    int got_ = (int)(expr);                                               \
    t_checks++;                                                           \
    if (got_ != (int)(want)) {                                            \
      fprintf(stderr, "%s:%d: %s returned %d, wanted %d\n", __FILE__, __LINE__, \
              #expr, got_, (int)(want));                                  \
      t_failures++;                                                       \
    }                                                                     \
  } while (0)

/* Abort the program: used when a failure makes the rest meaningless. */
#define REQUIRE(cond)                                                     \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
      exit(2);                                                            \
    }                                                                     \
  } while (0)

static int t_report(const char *name)
{
  printf("%s: %ld checks, %d failures\n", name, t_checks, t_failures);
  return t_failures ? 1 : 0;
}

#endif
