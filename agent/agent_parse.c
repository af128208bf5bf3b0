/*
 * agent_parse.c - manage-bde and fdesetup output parsers (see
 * agent_parse.h).  Local copies of secrets are wiped before returning.
 */
#include "agent_parse.h"

#include <string.h>

#include "ke_util.h"

/* ---- manage-bde ------------------------------------------------------------- */
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Does s (at least 55 bytes) have the shape dddddd-dddddd-...? */
static int password_shape(const char *s)
{
  for (int i = 0; i < KE_BITLOCKER_PASSWORD_LEN; i++) {
    if (i % 7 == 6 ? s[i] != '-' : !is_digit(s[i]))
      return 0;
  }
  return 1;
}

/* 1 found (canonical in out), 0 none, -1 the shape but a bad checksum. */
static int find_password(const char *line, size_t n, char *out, int *bad_block)
{
  for (size_t i = 0; i + KE_BITLOCKER_PASSWORD_LEN <= n; i++) {
    size_t e = i + KE_BITLOCKER_PASSWORD_LEN;
    if (i > 0 && (is_digit(line[i - 1]) || line[i - 1] == '-'))
      continue;
    if (e < n && (is_digit(line[e]) || line[e] == '-'))
      continue;
    if (!password_shape(line + i))
      continue;
    return ke_bitlocker_password_parse(out, line + i, KE_BITLOCKER_PASSWORD_LEN, bad_block) ? -1
                                                                                            : 1;
  }
  return 0;
}

/* The first GUID of the line into out; out is untouched when there is
 * none (the parser clears its buffer on a failed try, and the current
 * protector's ID must survive a line with a brace that is no GUID). */
static int find_guid(const char *line, size_t n, char *out)
{
  char g[KE_BITLOCKER_GUID_LEN + 1];

  for (size_t i = 0; i + KE_BITLOCKER_GUID_LEN <= n; i++)
    if (line[i] == '{' && ke_bitlocker_guid_parse(g, line + i, KE_BITLOCKER_GUID_LEN) == KE_OK) {
      memcpy(out, g, sizeof g);
      return 1;
    }
  return 0;
}

agent_parse_rc agent_bde_parse(const char *text, size_t len, agent_bde_protector *out, size_t max,
                               size_t *count, int *bad_block)
{
  char guid[KE_BITLOCKER_GUID_LEN + 1], pw[KE_BITLOCKER_PASSWORD_LEN + 1];
  int have_guid = 0, have_pw = 0, bad = 0;
  size_t n = 0, pos = 0;
  agent_parse_rc rc = AGENT_PARSE_OK;

  *count = 0;
  if (bad_block)
    *bad_block = 0;
  while (pos < len && rc == AGENT_PARSE_OK) {
    const char *line = text + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - line) : len - pos;
    int f;

    pos += ll + (nl ? 1 : 0);
    if (find_guid(line, ll, guid)) {
      have_guid = 1;
      have_pw = 0;
      continue;
    }
    f = find_password(line, ll, pw, &bad);
    if (f == 0)
      continue;
    if (f < 0) {
      if (bad_block)
        *bad_block = bad;
      rc = AGENT_PARSE_CHECKSUM;
    } else if (!have_guid || have_pw) {
      rc = AGENT_PARSE_FORMAT; /* a password without its own protector ID */
    } else if (n == max) {
      rc = AGENT_PARSE_TOO_MANY;
    } else {
      memcpy(out[n].id, guid, sizeof guid);
      memcpy(out[n].password, pw, sizeof pw);
      n++;
      have_pw = 1;
    }
  }
  ke_wipe(pw, sizeof pw);
  if (rc) {
    ke_wipe(out, max * sizeof *out);
    n = 0;
  }
  *count = n;
  return rc;
}

/* ---- fdesetup plist ------------------------------------------------------------ */
typedef struct xcur {
  const char *p, *end;
} xcur;

static int starts(const xcur *c, const char *s)
{
  size_t n = strlen(s);
  return (size_t)(c->end - c->p) >= n && memcmp(c->p, s, n) == 0;
}

static int skip_past(xcur *c, const char *s)
{
  size_t n = strlen(s);
  for (const char *q = c->p; (size_t)(c->end - q) >= n; q++)
    if (memcmp(q, s, n) == 0) {
      c->p = q + n;
      return 1;
    }
  return 0;
}

/* Whitespace, comments, the XML declaration and the DOCTYPE. */
static int skip_misc(xcur *c)
{
  for (;;) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
      c->p++;
    if (starts(c, "<!--")) {
      if (!skip_past(c, "-->"))
        return 0;
    } else if (starts(c, "<?")) {
      if (!skip_past(c, "?>"))
        return 0;
    } else if (starts(c, "<!DOCTYPE")) {
      if (!skip_past(c, ">"))
        return 0;
    } else {
      return 1;
    }
  }
}

/* Skip one element (the cursor is at its '<'), nested ones included. */
static int skip_element(xcur *c)
{
  int depth = 0;

  do {
    if (!skip_misc(c) || c->p >= c->end)
      return 0;
    if (*c->p != '<') {
      /* Character data: up to the next tag. */
      const char *q = memchr(c->p, '<', (size_t)(c->end - c->p));
      if (!q)
        return 0;
      c->p = q;
      continue;
    }
    int closing = c->p + 1 < c->end && c->p[1] == '/';
    const char *gt = memchr(c->p, '>', (size_t)(c->end - c->p));
    if (!gt)
      return 0;
    int selfclose = gt[-1] == '/';
    c->p = gt + 1;
    if (closing)
      depth--;
    else if (!selfclose)
      depth++;
    if (depth < 0)
      return 0;
  } while (depth > 0);
  return 1;
}

/* Text up to `close`, entities decoded, into out (NUL terminated). */
static int read_text(xcur *c, const char *close, char *out, size_t cap)
{
  size_t o = 0;

  while (c->p < c->end && !starts(c, close)) {
    char ch = *c->p;
    if (ch == '<')
      return 0;
    if (ch == '&') {
      static const struct {
        const char *ent;
        char ch;
      } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
      };
      size_t k;
      for (k = 0; k < sizeof ents / sizeof ents[0]; k++)
        if (starts(c, ents[k].ent))
          break;
      if (k == sizeof ents / sizeof ents[0])
        return 0; /* numeric references never occur in fdesetup's output */
      ch = ents[k].ch;
      c->p += strlen(ents[k].ent) - 1;
    }
    if (o + 1 >= cap)
      return 0;
    out[o++] = ch;
    c->p++;
  }
  if (!starts(c, close))
    return 0;
  c->p += strlen(close);
  out[o] = '\0';
  return 1;
}

int agent_fv_key_valid(const char *s)
{
  if (!s || strlen(s) != AGENT_FV_KEY_LEN)
    return 0;
  for (int i = 0; i < AGENT_FV_KEY_LEN; i++) {
    char ch = s[i];
    if (i % 5 == 4 ? ch != '-' : !((ch >= 'A' && ch <= 'Z') || is_digit(ch)))
      return 0;
  }
  return 1;
}

agent_parse_rc agent_fv_parse(const char *text, size_t len, agent_fv_plist *out)
{
  xcur c = {text, text + len};
  char key[128], val[256];
  int seen_key = 0, seen_lv = 0, seen_hw = 0, seen_sn = 0;
  agent_parse_rc rc = AGENT_PARSE_FORMAT;

  memset(out, 0, sizeof *out);
  if (!skip_misc(&c) || !starts(&c, "<plist") || !skip_past(&c, ">") || !skip_misc(&c) ||
      !starts(&c, "<dict>"))
    goto out;
  c.p += 6;
  for (;;) {
    char *dst = NULL;
    size_t cap = 0;
    int *seen = NULL;

    if (!skip_misc(&c))
      goto out;
    if (starts(&c, "</dict>"))
      break;
    if (!starts(&c, "<key>"))
      goto out;
    c.p += 5;
    if (!read_text(&c, "</key>", key, sizeof key) || !skip_misc(&c))
      goto out;
    if (!strcmp(key, "RecoveryKey"))
      dst = out->recovery_key, cap = sizeof out->recovery_key, seen = &seen_key;
    else if (!strcmp(key, "LVUUID"))
      dst = out->lv_uuid, cap = sizeof out->lv_uuid, seen = &seen_lv;
    else if (!strcmp(key, "HardwareUUID"))
      dst = out->hardware_uuid, cap = sizeof out->hardware_uuid, seen = &seen_hw;
    else if (!strcmp(key, "SerialNumber"))
      dst = out->serial, cap = sizeof out->serial, seen = &seen_sn;
    if (!dst) {
      if (!skip_element(&c))
        goto out;
      continue;
    }
    if ((*seen)++)
      goto out; /* two values for one key: which would count? */
    if (starts(&c, "<string/>")) {
      c.p += 9;
      val[0] = '\0';
    } else if (starts(&c, "<string>")) {
      c.p += 8;
      if (!read_text(&c, "</string>", val, sizeof val))
        goto out;
    } else {
      goto out;
    }
    if (strlen(val) >= cap)
      goto out;
    memcpy(dst, val, strlen(val) + 1);
  }
  if (!agent_fv_key_valid(out->recovery_key))
    goto out;
  rc = AGENT_PARSE_OK;
out:
  ke_wipe(val, sizeof val);
  if (rc)
    ke_wipe(out, sizeof *out);
  return rc;
}
