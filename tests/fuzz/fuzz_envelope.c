/*
 * fuzz_envelope.c - envelope parsing and opening on hostile bytes.
 *
 * The escrow key is fixed (the 3-of-5 vector key), so the seed corpus -
 * the real vector envelopes - also drives the successful open path and the
 * verifier; mutants exercise every rejection path.
 */
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ke_scalar d;
static ke_point Q;

static void init(void)
{
  static int done;
  if (done)
    return;
  if (ke_hex_decode(d.b, sizeof d.b,
                    "fe48d1e6596f66999a4d4fca521f2dd38d04445fb083e27e42c5d6cd84d851a8") ||
      ke_point_mul_base(&Q, &d))
    abort();
  done = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  init();
  ke_envelope env;
  ke_rc rc = ke_envelope_parse(&env, data, size);
  if (rc != KE_OK)
    return 0;
  /* A parsed envelope always satisfies the documented invariants. */
  if (env.len != size || env.bytes != data || size < KE_ENV_HDR_LEN + KE_SECRET_MIN + KE_TAG_LEN ||
      size > KE_ENV_HDR_LEN + KE_SECRET_MAX + KE_TAG_LEN)
    abort();
  ke_point S;
  if (ke_point_mul(&S, &d, &env.R) != KE_OK)
    abort(); /* R was validated by the parser */
  static const char *const ids[][2] = { { "dev-0001", "C:" },
                                        { "mac-7f3a", "disk1s1" },
                                        { "linux-42", "9f1c6a3e-5d7b-4b8e-a2c1-0e4f6d7c8b9a" } };
  for (size_t i = 0; i < 3; i++) {
    uint8_t *secret = NULL;
    size_t len = 0;
    rc = ke_envelope_open(&secret, &len, &env, &Q, &S, ids[i][0], ids[i][1]);
    if (rc == KE_OK) {
      if (len != size - KE_ENV_HDR_LEN - KE_TAG_LEN)
        abort();
      uint8_t v[KE_VERIFIER_LEN];
      if (ke_verifier(v, secret, len, ids[i][0], ids[i][1]) != KE_OK)
        abort();
    } else if (secret || len) {
      abort(); /* nothing may be handed out on failure */
    }
    ke_secure_free(secret, len);
  }
  return 0;
}
