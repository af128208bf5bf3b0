/*
 * fuzz_envelope.c - envelope parsing and opening on hostile bytes.
 *
 * The escrow key is fixed (the 3-of-5 vector key), so the seed corpus -
 * the real vector envelopes - also drives the successful open path and the
 * verifier; mutants exercise every rejection path.
 *
 * The same bytes also go through the stored-verifier parser (v1 / v2) and,
 * as text, its base64url decoder: a server hands both to escrowctl drill
 * run.  Only parsed, never computed (a v2 costs a scrypt at N >= 2^17).
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

/* Whatever parses is one of the two forms, within the documented bounds. */
static void check_verifier(const uint8_t *data, size_t size)
{
  ke_verifier_info info;
  if (ke_verifier_parse(&info, data, size) == KE_OK) {
    if (info.version == 1
          ? size != KE_VERIFIER_V1_LEN
          : info.version != 2 || size != KE_VERIFIER_V2_LEN || data[0] != 'K' || data[1] != 'V' ||
              data[2] != 2 || info.log2n < KE_VERIFIER_V2_LOG2N_MIN ||
              info.log2n > KE_VERIFIER_V2_LOG2N_MAX || info.r < 2 ||
              info.r > KE_VERIFIER_V2_R_MAX || info.p < 1 || info.p > KE_VERIFIER_V2_P_MAX ||
              128ull * info.r * (1ull << info.log2n) > KE_VERIFIER_V2_MEM_MAX ||
              memcmp(info.salt, data + 6, KE_VERIFIER_SALT_LEN) != 0)
      abort();
  }
  char *s = malloc(size + 1);
  if (!s)
    return;
  memcpy(s, data, size);
  s[size] = '\0';
  uint8_t out[KE_VERIFIER_MAX];
  size_t len = 1;
  if (ke_verifier_decode(out, &len, s) == KE_OK) {
    if ((len != KE_VERIFIER_V1_LEN && len != KE_VERIFIER_V2_LEN) ||
        ke_verifier_parse(&info, out, len) != KE_OK)
      abort();
  } else if (len != 0) {
    abort();
  }
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  init();
  check_verifier(data, size);
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
  static const char *const ids[][2] = {{"dev-0001", "C:"},
                                       {"mac-7f3a", "disk1s1"},
                                       {"linux-42", "9f1c6a3e-5d7b-4b8e-a2c1-0e4f6d7c8b9a"}};
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
