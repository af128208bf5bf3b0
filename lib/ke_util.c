/*
 * ke_util.c - encodings, secret memory and randomness for libescrow.
 *
 * The hex and base64url codecs are branch-free per character (no table
 * lookups indexed by data), because they also carry secrets: recovery keys
 * shown to the helpdesk and decoded share material.  Only the final
 * valid/invalid decision branches.
 */
#include "ke_util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>

const char *ke_rc_str(ke_rc rc)
{
  switch (rc) {
    case KE_OK: return "ok";
    case KE_ERR_INVALID_POINT: return "invalid curve point";
    case KE_ERR_INVALID_SCALAR: return "invalid scalar";
    case KE_ERR_INVALID_INDEX: return "invalid share index";
    case KE_ERR_LENGTH: return "length out of range";
    case KE_ERR_FORMAT: return "malformed input";
    case KE_ERR_AUTH: return "authentication failed";
    case KE_ERR_FINGERPRINT: return "escrow key fingerprint mismatch";
    case KE_ERR_PROOF: return "proof or share check failed";
    case KE_ERR_THRESHOLD: return "threshold not met or invalid";
    case KE_ERR_WEAK_SECRET: return "secret refused as low-entropy";
    case KE_ERR_NOMEM: return "out of memory";
    case KE_ERR_RANDOM: return "random number generator failed";
    case KE_ERR_IO: return "I/O error";
    case KE_ERR_INTERNAL: return "internal cryptographic error";
  }
  return "unknown error";
}

/* ---- constant-time byte predicates (values 0..255 in, 0x00/0xFF out) ---- */
/* x < y for x, y in [0, 255]: the subtraction borrows into bit 8. */
static unsigned ct_lt(unsigned x, unsigned y) { return ((x - y) >> 8) & 0xFF; }
static unsigned ct_ge(unsigned x, unsigned y) { return ct_lt(x, y) ^ 0xFF; }
static unsigned ct_eq(unsigned x, unsigned y) { return ct_lt(x ^ y, 1); }

/* ---- hex ------------------------------------------------------------- */
static char hex_digit(unsigned v) /* v in 0..15 */
{
  /* '0'+v for v < 10, 'a'+v-10 otherwise, without a branch. */
  return (char)(v + '0' + (ct_lt(9, v) & ('a' - '0' - 10)));
}

void ke_hex_encode(char *out, const uint8_t *in, size_t len)
{
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = hex_digit(in[i] >> 4);
    out[2 * i + 1] = hex_digit(in[i] & 0x0F);
  }
  out[2 * len] = '\0';
}

/* Value of a hex digit, or 0x100 and up if c is not one. */
static unsigned hex_val(unsigned char ch)
{
  unsigned c = ch;
  unsigned dig = ct_ge(c, '0') & ct_lt(c, '9' + 1);
  unsigned low = ct_ge(c, 'a') & ct_lt(c, 'f' + 1);
  unsigned up = ct_ge(c, 'A') & ct_lt(c, 'F' + 1);
  unsigned v = (dig & (c - '0')) | (low & (c - 'a' + 10)) | (up & (c - 'A' + 10));
  return v | (((dig | low | up) ^ 0xFF) << 8);
}

int ke_hex_digit(char c)
{
  unsigned v = hex_val((unsigned char)c);
  return v > 0xFF ? -1 : (int)v;
}

ke_rc ke_hex_decode(uint8_t *out, size_t outlen, const char *hex)
{
  if (!hex || (!out && outlen))
    return KE_ERR_FORMAT;
  if (strlen(hex) != 2 * outlen)
    return KE_ERR_FORMAT;
  unsigned bad = 0;
  for (size_t i = 0; i < outlen; i++) {
    unsigned hi = hex_val((unsigned char)hex[2 * i]);
    unsigned lo = hex_val((unsigned char)hex[2 * i + 1]);
    bad |= (hi | lo) >> 8;
    out[i] = (uint8_t)((hi << 4) | (lo & 0x0F));
  }
  if (bad) {
    ke_wipe(out, outlen);
    return KE_ERR_FORMAT;
  }
  return KE_OK;
}

ke_rc ke_hex_decode_alloc(uint8_t **out, size_t *outlen, const char *hex)
{
  if (!out || !outlen || !hex)
    return KE_ERR_FORMAT;
  *out = NULL;
  *outlen = 0;
  size_t n = strlen(hex);
  if (n % 2)
    return KE_ERR_FORMAT;
  uint8_t *buf = malloc(n / 2 ? n / 2 : 1);
  if (!buf)
    return KE_ERR_NOMEM;
  ke_rc rc = ke_hex_decode(buf, n / 2, hex);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *outlen = n / 2;
  return KE_OK;
}

/* ---- UTF-8 ------------------------------------------------------------ */
size_t ke_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
  size_t len, i;
  uint32_t c, min;

  if (n == 0)
    return 0;
  c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, c &= 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, c &= 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, c &= 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
    return 0;
  *cp = c;
  return len;
}

/* ---- base64url ---------------------------------------------------------- */
static char b64_char(unsigned v) /* v in 0..63 */
{
  unsigned c = (ct_lt(v, 26) & (v + 'A')) | (ct_ge(v, 26) & ct_lt(v, 52) & (v - 26 + 'a')) |
               (ct_ge(v, 52) & ct_lt(v, 62) & (v - 52 + '0')) | (ct_eq(v, 62) & '-') |
               (ct_eq(v, 63) & '_');
  return (char)c;
}

/* Value of a base64url character, or 0x100 and up if it is not one. */
static unsigned b64_val(unsigned char ch)
{
  unsigned c = ch;
  unsigned up = ct_ge(c, 'A') & ct_lt(c, 'Z' + 1);
  unsigned low = ct_ge(c, 'a') & ct_lt(c, 'z' + 1);
  unsigned dig = ct_ge(c, '0') & ct_lt(c, '9' + 1);
  unsigned dash = ct_eq(c, '-'), usc = ct_eq(c, '_');
  unsigned v =
    (up & (c - 'A')) | (low & (c - 'a' + 26)) | (dig & (c - '0' + 52)) | (dash & 62) | (usc & 63);
  return v | (((up | low | dig | dash | usc) ^ 0xFF) << 8);
}

char *ke_b64url_encode(const uint8_t *in, size_t len)
{
  if (!in && len)
    return NULL;
  if (len > (SIZE_MAX - 4) / 4 * 3)
    return NULL;
  size_t olen = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
  char *out = malloc(olen + 1);
  if (!out)
    return NULL;
  size_t o = 0, i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_char(v >> 18);
    out[o++] = b64_char((v >> 12) & 63);
    out[o++] = b64_char((v >> 6) & 63);
    out[o++] = b64_char(v & 63);
  }
  if (len - i == 1) {
    out[o++] = b64_char(in[i] >> 2);
    out[o++] = b64_char((in[i] & 3) << 4);
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];
    out[o++] = b64_char(v >> 10);
    out[o++] = b64_char((v >> 4) & 63);
    out[o++] = b64_char((v & 15) << 2);
  }
  out[o] = '\0';
  return out;
}

/* Decoded length of an unpadded base64url string of length n, or
 * SIZE_MAX if no string of that length is valid (n % 4 == 1). */
static size_t b64_decoded_len(size_t n)
{
  if (n % 4 == 1)
    return SIZE_MAX;
  return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* Decode n characters into out (b64_decoded_len(n) bytes). */
static ke_rc b64_decode_into(uint8_t *out, const char *in, size_t n)
{
  unsigned bad = 0;
  size_t o = 0, i = 0;
  for (; i + 4 <= n; i += 4) {
    unsigned a = b64_val((unsigned char)in[i]), b = b64_val((unsigned char)in[i + 1]);
    unsigned c = b64_val((unsigned char)in[i + 2]), d = b64_val((unsigned char)in[i + 3]);
    bad |= a | b | c | d;
    uint32_t v = (a & 63) << 18 | (b & 63) << 12 | (c & 63) << 6 | (d & 63);
    out[o++] = (uint8_t)(v >> 16);
    out[o++] = (uint8_t)(v >> 8);
    out[o++] = (uint8_t)v;
  }
  if (n - i == 2) {
    unsigned a = b64_val((unsigned char)in[i]), b = b64_val((unsigned char)in[i + 1]);
    bad |= a | b;
    bad |= (b & 15) << 8; /* non-canonical: unused bits set */
    out[o++] = (uint8_t)((a & 63) << 2 | (b & 63) >> 4);
  } else if (n - i == 3) {
    unsigned a = b64_val((unsigned char)in[i]), b = b64_val((unsigned char)in[i + 1]);
    unsigned c = b64_val((unsigned char)in[i + 2]);
    bad |= a | b | c;
    bad |= (c & 3) << 8;
    out[o++] = (uint8_t)((a & 63) << 2 | (b & 63) >> 4);
    out[o++] = (uint8_t)((b & 15) << 4 | (c & 63) >> 2);
  }
  if (bad >> 8) {
    ke_wipe(out, o);
    return KE_ERR_FORMAT;
  }
  return KE_OK;
}

ke_rc ke_b64url_decode(uint8_t **out, size_t *outlen, const char *in, int secure)
{
  if (!out || !outlen || !in)
    return KE_ERR_FORMAT;
  *out = NULL;
  *outlen = 0;
  size_t n = strlen(in);
  size_t dlen = b64_decoded_len(n);
  if (dlen == SIZE_MAX)
    return KE_ERR_FORMAT;
  uint8_t *buf = secure ? ke_secure_alloc(dlen) : malloc(dlen ? dlen : 1);
  if (!buf)
    return KE_ERR_NOMEM;
  ke_rc rc = b64_decode_into(buf, in, n);
  if (rc) {
    if (secure)
      ke_secure_free(buf, dlen);
    else
      free(buf);
    return rc;
  }
  *out = buf;
  *outlen = dlen;
  return KE_OK;
}

ke_rc ke_b64url_decode_fixed(uint8_t *out, size_t outlen, const char *in)
{
  if (!in || (!out && outlen))
    return KE_ERR_FORMAT;
  size_t n = strlen(in);
  size_t dlen = b64_decoded_len(n);
  if (dlen == SIZE_MAX)
    return KE_ERR_FORMAT;
  if (dlen != outlen)
    return KE_ERR_LENGTH;
  return b64_decode_into(out, in, n);
}

int ke_b64url_chars(const char *s, size_t len)
{
  return s && strlen(s) == len &&
         strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

/* ---- initialisation and secret memory ----------------------------------- */
/*
 * Two homes for secrets:
 *  - OpenSSL's secure heap, created by ke_init(): one locked, no-dump arena
 *    with guard pages.  BN_secure_new() and BN_CTX_secure_new() draw from it
 *    (they silently use the ordinary heap when it does not exist, which is
 *    why every program calls ke_init() first), and so do small
 *    ke_secure_alloc() blocks.  OpenSSL returns NULL when the arena is full,
 *    so large blocks are kept out of it and a full arena falls through to:
 *  - one anonymous mapping per block: whole pages that can be mlock()ed and
 *    marked MADV_DONTDUMP without touching memory other allocations share.
 *    A header in front of the returned pointer records the mapping size, so
 *    freeing does not depend on the caller passing back the exact length.
 * Under AddressSanitizer ke_secure_alloc() uses plain calloc instead, so
 * that overflows of secret buffers are still caught (the arena is opaque
 * to ASan); the arena itself is still created for OpenSSL's BIGNUMs.
 */
#if defined(__SANITIZE_ADDRESS__)
#define KE_SECURE_USE_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KE_SECURE_USE_MALLOC 1
#endif
#endif

#define KE_SECURE_HDR 32 /* keeps the user pointer 16-byte aligned */
#define KE_SECURE_MIN_BLOCK 16

static CRYPTO_ONCE ke_init_once = CRYPTO_ONCE_STATIC_INIT;
static int ke_init_ok;

static void ke_init_heap(void)
{
  /* 1 MiB holds thousands of P-256 BIGNUMs and every small secret block
   * escrowctl, the agent or the server keeps at once; it is locked memory,
   * so it stays well under the usual 8 MiB RLIMIT_MEMLOCK.  OpenSSL answers
   * 1 (created and locked), 2 (created, lock refused) or 0 (not created). */
  if (CRYPTO_secure_malloc_initialized())
    ke_init_ok = 1;
  else
    ke_init_ok = CRYPTO_secure_malloc_init(KE_SECURE_HEAP_SIZE, KE_SECURE_MIN_BLOCK) != 0;
}

ke_rc ke_init(void)
{
  if (!CRYPTO_THREAD_run_once(&ke_init_once, ke_init_heap))
    return KE_ERR_INTERNAL;
  return ke_init_ok ? KE_OK : KE_ERR_NOMEM;
}

void *ke_secure_alloc(size_t len)
{
  if (len > SIZE_MAX / 2)
    return NULL;
#ifndef KE_SECURE_USE_MALLOC
  if (len <= KE_SECURE_SMALL && CRYPTO_secure_malloc_initialized()) {
    /* A full arena is an ordinary outcome here, not an error to leave in
     * OpenSSL's queue (some versions queue one): the block then gets a
     * mapping of its own. */
    ERR_set_mark();
    void *p = OPENSSL_secure_zalloc(len ? len : 1);
    ERR_pop_to_mark();
    if (p)
      return p;
  }
  long pg = sysconf(_SC_PAGESIZE);
  size_t page = pg > 0 ? (size_t)pg : 4096;
  size_t total = (len + KE_SECURE_HDR + page - 1) / page * page;
  uint8_t *base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED)
    return NULL;
  (void)mlock(base, total); /* best effort: RLIMIT_MEMLOCK may refuse */
#ifdef MADV_DONTDUMP
  (void)madvise(base, total, MADV_DONTDUMP);
#endif
#else
  size_t total = len + KE_SECURE_HDR;
  uint8_t *base = calloc(1, total);
  if (!base)
    return NULL;
#endif
  memcpy(base, &total, sizeof total);
  return base + KE_SECURE_HDR;
}

void ke_secure_free(void *p, size_t len)
{
  if (!p)
    return;
  if (CRYPTO_secure_allocated(p)) {
    /* The length the caller passes may be short; the arena knows the
     * block's real size, and OPENSSL_secure_clear_free wipes that much. */
    OPENSSL_secure_clear_free(p, len);
    return;
  }
  (void)len; /* the header knows the real size */
  uint8_t *base = (uint8_t *)p - KE_SECURE_HDR;
  size_t total;
  memcpy(&total, base, sizeof total);
  OPENSSL_cleanse(base, total);
#ifdef KE_SECURE_USE_MALLOC
  free(base);
#else
  (void)munlock(base, total);
  (void)munmap(base, total);
#endif
}

int ke_ct_eq(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len) == 0; }

void ke_wipe(void *p, size_t len)
{
  if (p && len)
    OPENSSL_cleanse(p, len);
}

/* ---- randomness -------------------------------------------------------- */
ke_rc ke_random(uint8_t *out, size_t len)
{
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    if (RAND_priv_bytes(out, chunk) != 1)
      return KE_ERR_RANDOM;
    out += chunk;
    len -= (size_t)chunk;
  }
  return KE_OK;
}

/* ---- ids --------------------------------------------------------------- */
int ke_b32_id_ok(const char *s, const char *prefix)
{
  size_t p = strlen(prefix);

  if (!s || strlen(s) != KE_B32_ID_LEN || strncmp(s, prefix, p) != 0)
    return 0;
  for (size_t i = p; i < KE_B32_ID_LEN; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
      return 0;
  return 1;
}

ke_rc ke_b32_id_new(char out[KE_B32_ID_LEN + 1], const char *prefix)
{
  static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
  uint8_t r[KE_B32_ID_LEN - 4];

  if (strlen(prefix) != 4 || ke_random(r, sizeof r) != KE_OK)
    return KE_ERR_RANDOM;
  memcpy(out, prefix, 4);
  for (size_t i = 0; i < sizeof r; i++)
    out[4 + i] = b32[r[i] % 32]; /* 256 is a multiple of 32: uniform */
  out[KE_B32_ID_LEN] = '\0';
  return KE_OK;
}

/* ---- Ed25519 ------------------------------------------------------------ */
ke_rc ke_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64])
{
  EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
  EVP_MD_CTX *ctx = pk ? EVP_MD_CTX_new() : NULL;
  ke_rc rc = pk ? KE_ERR_INTERNAL : KE_ERR_AUTH;

  /* OpenSSL refuses a key that does not decode and a non-canonical S
   * (RFC 8032 section 5.1.7). */
  if (ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1)
    rc = EVP_DigestVerify(ctx, sig, 64, msg, len) == 1 ? KE_OK : KE_ERR_AUTH;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pk);
  return rc;
}
