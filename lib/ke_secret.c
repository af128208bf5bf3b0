/*
 * ke_secret.c - the low-entropy rule for recovery secrets (see ke_secret.h).
 *
 * The statistical part touches only counts and classes of the secret's
 * bytes, and the count table is wiped because byte frequencies are
 * information about the secret too.  The dictionary part hands a copy of a
 * text secret to zxcvbn (dict_bits below).
 */
#include "ke_secret.h"

#include <math.h>
#include <string.h>

#include <zxcvbn.h>

#include "ke_files.h"
#include "ke_util.h"

/* Word separators an attacker enumerates for free: zxcvbn scores each as a
 * brute-force character (about 6 bits), which makes "correct horse battery
 * staple" look like 70 bits.  They are dropped before scoring. */
static const char ke_secret_separators[] = " -_.";

/* zxcvbn's estimate (log2 of the guesses a dictionary, leet, keyboard-walk,
 * sequence, repeat and date aware attacker needs) of the text without
 * separators.  Only for text: random binary secrets are what the
 * statistical estimate is for.  The copy is in secure memory and wiped;
 * zxcvbn's own temporaries hold positions and entropies, not text, except
 * short-lived stack buffers in its matchers. */
static double dict_bits(const uint8_t *s, size_t len)
{
  char *t = ke_secure_alloc(len + 1);
  size_t n = 0;
  double bits;

  if (!t)
    return -1;
  for (size_t i = 0; i < len; i++)
    if (!memchr(ke_secret_separators, s[i], sizeof ke_secret_separators - 1))
      t[n++] = (char)s[i];
  t[n] = '\0';
  bits = n ? ZxcvbnMatch(t, NULL, NULL) : 0;
  ke_secure_free(t, len + 1);
  return bits;
}

const char *ke_secret_dict_reason(const uint8_t *s, size_t len, double min_bits)
{
  if (!s || !ke_text_valid(s, len))
    return NULL;
  double bits = dict_bits(s, len);
  if (bits < 0)
    return "it cannot be estimated (out of memory)";
  return bits < min_bits ? "it is made of dictionary words, names, keyboard patterns or "
                           "sequences (with or without substitutions)"
                         : NULL;
}

const char *ke_passphrase_weak_reason(const char *pass, size_t len)
{
  if (!pass || len < KE_PASSPHRASE_MIN_LEN)
    return "it is shorter than 12 characters";
  /* Not text (NULL): nothing a person types, nothing to estimate. */
  return ke_secret_dict_reason((const uint8_t *)pass, len, KE_PASSPHRASE_MIN_BITS);
}

const char *ke_secret_weak_reason(const uint8_t *s, size_t len)
{
  unsigned count[256] = {0};
  int cls[5] = {0};
  static const double cls_size[5] = {10, 26, 26, 33, 128};
  const char *why = NULL;
  int step_same = 1;

  if (!s || len < 2)
    return "it is too short";
  for (size_t i = 0; i < len; i++) {
    uint8_t c = s[i];
    count[c]++;
    cls[c >= '0' && c <= '9'    ? 0
        : c >= 'a' && c <= 'z'  ? 1
        : c >= 'A' && c <= 'Z'  ? 2
        : c >= 0x20 && c < 0x7f ? 3
                                : 4] = 1;
    if (i >= 2 && (uint8_t)(s[i] - s[i - 1]) != (uint8_t)(s[1] - s[0]))
      step_same = 0;
  }
  if (step_same) {
    why = s[1] == s[0] ? "it is one byte repeated" : "it is an arithmetic run";
    goto out;
  }
  for (size_t p = 1; p <= len / 2; p++) {
    size_t i = p;
    while (i < len && s[i] == s[i - p])
      i++;
    if (i == len) {
      why = "it repeats a shorter block";
      goto out;
    }
  }
  double h = 0, alphabet = 0;
  unsigned distinct = 0;
  for (int c = 0; c < 256; c++) {
    if (!count[c])
      continue;
    double p = (double)count[c] / (double)len;
    h -= p * log2(p);
    distinct++;
  }
  for (int k = 0; k < 5; k++)
    alphabet += cls[k] ? cls_size[k] : 0;
  double est = h * (double)len + (distinct - 1) / (2 * log(2.0));
  double cap = (double)len * log2(alphabet);
  if ((est < cap ? est : cap) < KE_SECRET_MIN_ENTROPY_BITS)
    why = "its estimated entropy is below 64 bits";
  else
    why = ke_secret_dict_reason(s, len, KE_SECRET_MIN_ENTROPY_BITS);
out:
  ke_wipe(count, sizeof count);
  ke_wipe(cls, sizeof cls);
  return why;
}
