/*
 * ke_util.h - encodings, secret memory and small helpers for libescrow.
 *
 * Every function returns a ke_rc.  KE_OK is 0 so that `if (rc) goto out;`
 * reads naturally.  Nothing here does I/O policy (no logging, no exit()).
 */
#ifndef KE_UTIL_H
#define KE_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef enum ke_rc {
  KE_OK = 0,
  KE_ERR_INVALID_POINT,  /* not on P-256, infinity, bad encoding/length   */
  KE_ERR_INVALID_SCALAR, /* not in [1, n-1] or not 32 bytes               */
  KE_ERR_INVALID_INDEX,  /* share index 0, > N, or duplicated             */
  KE_ERR_LENGTH,         /* a length outside its allowed range            */
  KE_ERR_FORMAT,         /* bad magic/version/encoding                    */
  KE_ERR_AUTH,           /* AEAD tag did not verify (wrong key, tampered) */
  KE_ERR_FINGERPRINT,    /* escrow key fingerprint mismatch               */
  KE_ERR_PROOF,          /* DLEQ proof did not verify                     */
  KE_ERR_THRESHOLD,      /* not enough parts / bad threshold parameters   */
  KE_ERR_WEAK_SECRET,    /* secret refused as low-entropy                 */
  KE_ERR_NOMEM,
  KE_ERR_RANDOM, /* the CSPRNG failed                             */
  KE_ERR_IO,
  KE_ERR_INTERNAL, /* an OpenSSL call failed unexpectedly           */
} ke_rc;

/* Short, stable, human readable text for an rc (never contains data). */
const char *ke_rc_str(ke_rc rc);

/* ---- hex ------------------------------------------------------------- */
/* Lower-case hex.  `out` must hold 2*len+1 bytes; it is NUL terminated. */
void ke_hex_encode(char *out, const uint8_t *in, size_t len);
/* Decode exactly `outlen` bytes from a hex string of length 2*outlen
 * (either case).  Anything else is KE_ERR_FORMAT. */
ke_rc ke_hex_decode(uint8_t *out, size_t outlen, const char *hex);
/* Decode a hex string of any even length into a malloc'd buffer. */
ke_rc ke_hex_decode_alloc(uint8_t **out, size_t *outlen, const char *hex);
/* The value of one hex digit (either case), -1 if c is not one. */
int ke_hex_digit(char c);

/* ---- UTF-8 ------------------------------------------------------------ */
/* Decode the one sequence at s[0..n), strictly (no overlong forms,
 * surrogates or values above U+10FFFF): its length, or 0 if invalid. */
size_t ke_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* ---- base64url without padding (RFC 4648 section 5) ------------------- */
/* Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *ke_b64url_encode(const uint8_t *in, size_t len);
/* Strict decoder: rejects padding, whitespace, non-alphabet characters and
 * non-canonical trailing bits.  *out is malloc'd (free with free(), or with
 * ke_secure_free() if it held a secret: pass secure=1 to get locked memory). */
ke_rc ke_b64url_decode(uint8_t **out, size_t *outlen, const char *in, int secure);
/* Decode into a fixed-size buffer; the decoded length must be exactly outlen. */
ke_rc ke_b64url_decode_fixed(uint8_t *out, size_t outlen, const char *in);
/* 1 if s is exactly len characters of the base64url alphabet (a shape
 * check for text that is signed as it stands, not decoded). */
int ke_b64url_chars(const char *s, size_t len);

/* ---- ids --------------------------------------------------------------- */
/* The ids escrowd makes ("dev-", "rec-", "drl-"...): the 4-character
 * prefix, then lower-case base32 (a-z 2-7) up to KE_B32_ID_LEN. */
#define KE_B32_ID_LEN 30
int ke_b32_id_ok(const char *s, const char *prefix);
/* A new such id of a 4-character prefix and 26 random characters, into
 * out[KE_B32_ID_LEN + 1]; KE_ERR_RANDOM without randomness. */
ke_rc ke_b32_id_new(char out[KE_B32_ID_LEN + 1], const char *prefix);

/* ---- Ed25519 (RFC 8032) ------------------------------------------------ */
/* KE_OK if sig is pub's signature over msg, KE_ERR_AUTH if it is not (or
 * pub does not decode), KE_ERR_INTERNAL if OpenSSL failed. */
ke_rc ke_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64]);

/* ---- initialisation ----------------------------------------------------- */
/* Call once at the top of main(), before any thread starts (it is also
 * safe to call again, and from several threads).  Creates OpenSSL's secure
 * heap (KE_SECURE_HEAP_SIZE bytes, mlock()ed, excluded from core dumps, with
 * guard pages) so that the secret BIGNUMs of BN_secure_new/BN_CTX_secure_new
 * and small ke_secure_alloc() blocks live in locked memory; without it they
 * are ordinary heap.  A heap that could be created but not locked (mlock
 * refused by RLIMIT_MEMLOCK) still counts as success: the memory is then
 * only excluded from core dumps.  KE_ERR_NOMEM if the heap cannot be created
 * at all; everything keeps working then, on the ordinary heap. */
#define KE_SECURE_HEAP_SIZE (1u << 20)
ke_rc ke_init(void);

/* ---- secret memory ----------------------------------------------------- */
/* Allocations for secrets: zeroed, mlock()ed where the OS allows (failure to
 * lock is not an error), excluded from core dumps where possible.
 * ke_secure_free() wipes with OPENSSL_cleanse before releasing.  Both accept
 * NULL.  Blocks of up to KE_SECURE_SMALL bytes come from OpenSSL's secure
 * heap once ke_init() has run; larger blocks, and any block while that heap
 * is full, get a locked anonymous mapping of their own, so the heap stays
 * available to OpenSSL's secret BIGNUMs and a full heap never makes this
 * return NULL.  NULL means the system is out of memory. */
#define KE_SECURE_SMALL 4096
void *ke_secure_alloc(size_t len);
void ke_secure_free(void *p, size_t len);
/* Constant-time equality: 1 if equal.  Wraps CRYPTO_memcmp. */
int ke_ct_eq(const void *a, const void *b, size_t len);
/* Wipe: wraps OPENSSL_cleanse. */
void ke_wipe(void *p, size_t len);

/* ---- randomness -------------------------------------------------------- */
ke_rc ke_random(uint8_t *out, size_t len);

#endif
