/*
 * ke_attest.h - share attestation (docs/protocol.md "Share attestation"):
 * a custodian proves, without revealing d_i, that they hold the share whose
 * public value is Q_i = d_i*G, answering a one-time server challenge.
 *
 * The proof is the DLEQ of ke_dleq_* with R = G, which is a Schnorr proof of
 * knowledge of d_i (P = d_i*G = Q_i; A = B = w*G), with the Fiat-Shamir
 * context "keyescrow-v1-attest" | fingerprint | nonce.  The only point the
 * custodian ever multiplies by d_i is the fixed generator, so answering a
 * challenge is never a Diffie-Hellman oracle for a point the server chose.
 */
#ifndef KE_ATTEST_H
#define KE_ATTEST_H

#include <stdint.h>

#include "ke_crypto.h"

#define KE_ATTEST_NONCE_LEN 32

/* d must be share `index` of the escrow key with fingerprint fpr (Qi its
 * public share); the proof is for the challenge nonce. */
ke_rc ke_attest_prove(ke_dleq *out, unsigned index, const ke_scalar *d, const ke_point *Qi,
                      const uint8_t fpr[KE_FPR_LEN], const uint8_t nonce[KE_ATTEST_NONCE_LEN]);
/* KE_OK if the proof holds for Qi, this key and this nonce; KE_ERR_PROOF
 * (or another error for malformed input) otherwise. */
ke_rc ke_attest_verify(const ke_dleq *proof, unsigned index, const ke_point *Qi,
                       const uint8_t fpr[KE_FPR_LEN], const uint8_t nonce[KE_ATTEST_NONCE_LEN]);

#endif
