/*
 * ke_secret.h - the one rule, shared by escrow-agent and escrowctl, for
 * refusing a recovery secret that looks low in entropy (DESIGN: "the agent
 * refuses a low-entropy secret unless forced").
 *
 * A guessable secret would let whoever holds the database (or a copy of
 * an envelope's verifier) test guesses offline: the verifier of a secret a
 * person may have chosen is scrypt-hardened (v2, ke_crypto.h), and this
 * check keeps weak secrets out in the first place.
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
/* ke_secret_weak_reason also refuses text that zxcvbn (libzxcvbn, the
 * C port of Dropbox's estimator) scores below 64 bits once the separators
 * space, '-', '_' and '.' are removed: dictionary words and names with or
 * without leet substitutions ("P@ssw0rd"), keyboard walks ("qwertyuiop"),
 * sequences, repeats, dates, and phrases of common words ("correct horse
 * battery staple").  Separators are dropped because an attacker tries them
 * for free; machine formats keep well over 64 bits without them (the
 * lowest scores in 100000 random samples each: BitLocker 48 digits 109,
 * FileVault 24 characters 82, the agent's LUKS 40 base32 139).  Non-text
 * secrets (invalid UTF-8, controls) are left to the statistical estimate. */

/* The dictionary estimate alone: NULL if `s` is not text or scores at
 * least min_bits. */
const char *ke_secret_dict_reason(const uint8_t *s, size_t len, double min_bits);

/* Share-file passphrases (escrowctl ceremony): at least 12 characters and,
 * for text, a dictionary estimate of at least 50 bits.  The passphrase is
 * stretched by scrypt N >= 2^17 (about 0.3 s and 128 MiB per guess), so 50
 * bits are far beyond an offline attack on a stolen file. */
#define KE_PASSPHRASE_MIN_LEN 12
#define KE_PASSPHRASE_MIN_BITS 50.0
const char *ke_passphrase_weak_reason(const char *pass, size_t len);

#endif
