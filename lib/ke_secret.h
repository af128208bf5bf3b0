/*
 * ke_secret.h - the one rule, shared by escrow-agent and escrowctl, for
 * refusing a recovery secret that looks low in entropy (DESIGN: "the agent
 * refuses a low-entropy secret unless forced").
 *
 * The verifier uploaded with every envelope is an HMAC keyed by the secret,
 * so a guessable secret would let whoever holds the database test guesses
 * offline.  This check keeps that from happening by accident.
 */
#ifndef KE_SECRET_H
#define KE_SECRET_H

#include <stddef.h>
#include <stdint.h>

/* Secrets estimated below this are refused. */
#define KE_SECRET_MIN_ENTROPY_BITS 64.0

/* NULL if `s` passes; otherwise a short static reason that never quotes the
 * secret ("it is one byte repeated", ...).  A heuristic, not a measurement:
 * it catches what people and broken generators produce (one byte repeated, a
 * repeated block, an arithmetic run like "abcdef..."), and estimates the rest
 * as the smaller of
 *   - the empirical Shannon entropy of the bytes times the length, with the
 *     Miller-Madow correction (D-1)/(2 ln 2) for D distinct values, and
 *   - length * log2(size of the character classes used: 10 digits, 26 lower,
 *     26 upper, 33 other printable ASCII, 128 other bytes).
 * A 48-digit BitLocker recovery password scores about 180 bits, 16 random
 * bytes about 70; 16 random decimal digits (about 53 bits) are refused.
 * Inputs shorter than 2 bytes are refused as too short. */
const char *ke_secret_weak_reason(const uint8_t *s, size_t len);

#endif
