/*
 * fuzz_part.c - sealed parts and DLEQ wire proofs on hostile bytes.
 *
 * The requester key, request id and index are those of the part vector, so
 * the seeds open; everything that opens or decodes is then verified against
 * the vector's public share and R.
 */
#include <stdlib.h>
#include <string.h>

#include "ke_crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ke_scalar e;
static ke_point E, Qi, R;

static void init(void)
{
  static int done;
  if (done)
    return;
  uint8_t q[KE_POINT_LEN], r[KE_POINT_LEN];
  if (ke_hex_decode(e.b, sizeof e.b,
                    "2591c674ea8032f0f8ce8298598954bd208929f7a61bcdfcef96940b8deb603a") ||
      ke_point_mul_base(&E, &e) ||
      ke_hex_decode(q, sizeof q,
                    "03d191a80be0228ad98dd80a0a963e9b15b457f70a598675fb05dfad8c4f3a6646") ||
      ke_hex_decode(r, sizeof r,
                    "0325e78c46241c6c145d6f3144abe585c0a581d298c6d5059f21de40de695d47a5") ||
      ke_point_parse(&Qi, q, sizeof q) || ke_point_parse(&R, r, sizeof r))
    abort();
  done = 1;
}

static void check_proof(const ke_dleq *p)
{
  /* Whatever the verdict, verification must not crash; a proof that
   * verifies must re-encode to a proof that verifies. */
  ke_rc rc = ke_dleq_verify(p, 1, &Qi, &R, (const uint8_t *)"req-7", 5);
  if (rc == KE_OK) {
    uint8_t w[KE_DLEQ_LEN];
    ke_dleq back;
    ke_dleq_encode(w, p);
    if (ke_dleq_decode(&back, w, sizeof w) || memcmp(&back, p, sizeof back))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  init();
  ke_dleq p;
  if (ke_dleq_decode(&p, data, size) == KE_OK) {
    uint8_t w[KE_DLEQ_LEN];
    ke_dleq_encode(w, &p);
    if (size != KE_DLEQ_LEN || memcmp(w, data, size) != 0)
      abort(); /* the wire form is canonical */
    check_proof(&p);
  }
  if (ke_part_open(&p, data, size, &e, &E, "req-7", 1) == KE_OK) {
    if (size != KE_PART_LEN)
      abort();
    check_proof(&p);
  }
  return 0;
}
