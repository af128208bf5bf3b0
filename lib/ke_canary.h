/*
 * ke_canary.h - canary records of a canary drill (docs/protocol.md section
 * 9, "Canary drills"): envelopes the auditor seals to the escrow key with
 * secrets it knows, so that a drill can prove the custodians' path (shares,
 * parts, DLEQ proofs, combination, AEAD) without opening a real key.
 *
 * Everything of a canary derives from the drill's one-time key e, so the
 * auditor needs nothing but the key it already keeps to check, at the run,
 * that each canary is its own and opens to its own secret:
 *   r      = the first HMAC-SHA256(e, "keyescrow-v1-canary-r" | ctr | drill | 00 | record)
 *            in [1, n-1] (ctr = 0, 1, ...), R = r*G the envelope's R
 *   secret = hex(HMAC-SHA256(e, "keyescrow-v1-canary-secret" | drill | 00 | record))
 *            (64 characters: a passphrase of key type "other")
 * The envelope is bound to device "canary" and volume = the record id.
 * With it goes a proof of knowledge of r (ke_dleq with base G, context
 * "keyescrow-v1-canary" | drill | 00 | record): whoever asks for parts of
 * an R whose discrete log it has proven to know learns nothing from them
 * (P_i = d_i*R = r*Q_i, computable from public values), so a canary can
 * never be a real record's R in disguise.
 */
#ifndef KE_CANARY_H
#define KE_CANARY_H

#include <stddef.h>
#include <stdint.h>

#include "ke_crypto.h"

#define KE_CANARY_DEVICE "canary"
#define KE_CANARY_SECRET_LEN 64

/* r and the secret of canary `record_id` of drill `drill_id`; both are
 * secret (ke_secure_alloc them). */
ke_rc ke_canary_derive(ke_scalar *r, uint8_t secret[KE_CANARY_SECRET_LEN], const ke_scalar *e,
                       const char *drill_id, const char *record_id);

/* The canary's envelope (*env malloc'd), its verifier and its proof of
 * knowledge of r (KE_DLEQ_LEN bytes, ke_dleq_encode). */
ke_rc ke_canary_seal(uint8_t **env, size_t *envlen, uint8_t verifier[KE_VERIFIER_LEN],
                     uint8_t proof[KE_DLEQ_LEN], const ke_scalar *e, const uint8_t fpr[KE_FPR_LEN],
                     const ke_point *Q, const char *drill_id, const char *record_id);

/* KE_OK if `proof` proves knowledge of the discrete log of R for this
 * drill and record; KE_ERR_PROOF or another error otherwise. */
ke_rc ke_canary_verify(const uint8_t *proof, size_t len, const ke_point *R, const char *drill_id,
                       const char *record_id);

#endif
