/*
 * test_ct.c - the secret scalar arithmetic runs in constant time, checked
 * the "ctgrind" way: run under valgrind's memcheck with the secret inputs
 * marked undefined.  memcheck then reports every branch, table index or
 * memory address that depends on them ("Conditional jump or move depends on
 * uninitialised value(s)"), and --error-exitcode turns a report into a
 * failure.  Results are marked defined again before they are compared.
 *
 * Covered: ke_mod_n_add, ke_mod_n_mul_public (secret x, public k),
 * ke_dleq_response (the s = w - c d of every DLEQ proof, secret w and d)
 * and ke_shamir_eval (the ceremony's f(i), secret coefficients).  OpenSSL's
 * BN_mod_sub(w, c d), which this replaced, fails the check.
 *
 * Run without valgrind it only checks the results (the client requests
 * are no-ops), which CTest does not register: see CMakeLists.txt.
 */
#include <valgrind/memcheck.h>

#include "ke_internal.h"
#include "ke_test.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static ke_scalar scalar(uint8_t fill, uint8_t last)
{
  ke_scalar s;
  memset(s.b, fill, sizeof s.b);
  s.b[0] = 0x7F; /* below n */
  s.b[KE_SCALAR_LEN - 1] = last;
  return s;
}

int main(void)
{
  ke_scalar w = scalar(0x3C, 0x11), d = scalar(0xA5, 0x02), c = scalar(0x5F, 0x99);
  uint8_t s1[KE_SCALAR_LEN], s2[KE_SCALAR_LEN], r[KE_SCALAR_LEN];

  /* Reference results, computed while everything is still defined. */
  CHECK_RC(ke_dleq_response(s1, w.b, c.b, d.b), KE_OK);

  SECRET(w.b, sizeof w.b);
  SECRET(d.b, sizeof d.b);
  CHECK_RC(ke_dleq_response(s2, w.b, c.b, d.b), KE_OK);
  PUBLIC(s2, sizeof s2);
  CHECK_BYTES(s2, s1, KE_SCALAR_LEN);

  ke_mod_n_add(r, w.b, d.b);
  ke_mod_n_mul_public(r, c.b, r);
  PUBLIC(r, sizeof r);

  /* The ceremony's evaluation, with secret coefficients. */
  ke_scalar coef[4] = {scalar(0x01, 0x01), scalar(0x77, 0x02), scalar(0xFE, 0x03),
                       scalar(0x80, 0x04)};
  uint8_t f1[KE_SCALAR_LEN], f2[KE_SCALAR_LEN];
  PUBLIC(w.b, sizeof w.b);
  PUBLIC(d.b, sizeof d.b);
  ke_shamir_eval(f1, coef, 4, 200);
  SECRET(coef, sizeof coef);
  ke_shamir_eval(f2, coef, 4, 200);
  PUBLIC(f2, sizeof f2);
  PUBLIC(coef, sizeof coef);
  CHECK_BYTES(f2, f1, KE_SCALAR_LEN);

  if (!RUNNING_ON_VALGRIND)
    fprintf(stderr, "test_ct: not under valgrind, results only\n");
  return ke_test_result("test_ct");
}
