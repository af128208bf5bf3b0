/*
 * ctl_policy.c - a policy custodian's policy file: load (strict, every
 * error with its key and line), describe, and check a request.
 *
 * The fields are one table (policy_fields): a dotted path, a kind and the
 * place in struct ctl_policy.  The loader walks the JSON object against it,
 * so an unknown key anywhere is an error, and a new field is one line.
 * jansson gives no positions for keys, so lines come from key_line(), a
 * scan of the text that follows strings and nesting just far enough to
 * find where a dotted path's key is written.
 */
#include "ctl_policy.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl_http.h"
#include "ctl_util.h"
#include "ke_http.h"
#include "ke_mail.h"
#include "ke_util.h"

#define POLICY_MAX_BYTES (64 * 1024)
#define POLICY_STR_MAX 1024

enum pf_kind {
  PF_STR,  /* char *: printable text, 1..1024 bytes */
  PF_UINT, /* unsigned in [lo, hi] */
  PF_BOOL, /* int */
  PF_LIST, /* ctl_policy_list of such strings */
  PF_PINS, /* json_t *: object of account -> 64 hex digits */
  PF_TIME, /* unsigned: "HH:MM" as minutes after midnight */
  PF_DAYS, /* unsigned: a list of day names as bits */
};

typedef struct pf {
  const char *path;
  enum pf_kind kind;
  size_t off;
  unsigned lo, hi;
} pf;

#define F(path, kind, member, lo, hi)                \
  {                                                  \
    path, kind, offsetof(ctl_policy, member), lo, hi \
  }
static const pf policy_fields[] = {
  F("requesters.accounts", PF_LIST, accounts, 0, 0),
  F("requesters.roles", PF_LIST, roles, 0, 0),
  F("requesters.persons", PF_LIST, persons, 0, 0),
  F("requester_keys", PF_PINS, requester_keys, 0, 0),
  F("pin_on_first_sight", PF_BOOL, pin_on_first_sight, 0, 0),
  F("reason_min_length", PF_UINT, reason_min_length, 0, 500),
  F("ticket_pattern", PF_STR, ticket_pattern, 0, 0),
  F("ticket_check.url", PF_STR, itsm_url, 0, 0),
  F("ticket_check.method", PF_STR, itsm_method, 0, 0),
  F("ticket_check.ca_file", PF_STR, itsm_ca_file, 0, 0),
  F("ticket_check.bearer_token_file", PF_STR, itsm_token_file, 0, 0),
  F("ticket_check.timeout_seconds", PF_UINT, itsm_timeout_s, 1, 60),
  F("device_groups.allow", PF_LIST, groups_allow, 0, 0),
  F("device_groups.deny", PF_LIST, groups_deny, 0, 0),
  F("record_states", PF_LIST, record_states, 0, 0),
  F("business_hours.time_zone", PF_STR, time_zone, 0, 0),
  F("business_hours.days", PF_DAYS, days, 0, 0),
  F("business_hours.start", PF_TIME, start_min, 0, 0),
  F("business_hours.end", PF_TIME, end_min, 0, 0),
  F("device_cooldown_seconds", PF_UINT, cooldown_s, 0, 30 * 86400),
  F("limits.requester_per_hour", PF_UINT, requester_per_hour, 1, 100000),
  F("limits.requester_per_day", PF_UINT, requester_per_day, 1, 100000),
  F("limits.total_per_hour", PF_UINT, total_per_hour, 1, 100000),
  F("limits.total_per_day", PF_UINT, total_per_day, 1, 100000),
  F("alarm.webhooks", PF_LIST, alarm_webhooks, 0, 0),
  F("alarm.webhook_secret_file", PF_STR, webhook_secret_file, 0, 0),
  F("alarm.webhook_ca_file", PF_STR, webhook_ca_file, 0, 0),
  F("alarm.mail_to", PF_LIST, alarm_mail_to, 0, 0),
  F("alarm.smtp_url", PF_STR, smtp_url, 0, 0),
  F("alarm.smtp_from", PF_STR, smtp_from, 0, 0),
  F("alarm.smtp_ca_file", PF_STR, smtp_ca_file, 0, 0),
  F("alarm.smtp_user", PF_STR, smtp_user, 0, 0),
  F("alarm.smtp_password_file", PF_STR, smtp_password_file, 0, 0),
};
#undef F
#define N_FIELDS (sizeof policy_fields / sizeof policy_fields[0])

typedef struct loader {
  const char *file, *text;
  size_t len;
  ctl_policy *p;
} loader;

/* ---- where a key is written ---------------------------------------------- */

/* The line of the key at dotted `path` (0 if not found).  Keys are compared
 * as written; one with escapes is simply not found. */
static int key_line(const loader *L, const char *path)
{
  char stack[8][80]; /* the key of each open object level */
  int depth = -1, line = 1, in_array[8] = {0};
  const char *s = L->text, *end = L->text + L->len;

  while (s < end) {
    if (*s == '\n')
      line++;
    if (*s == '{' || *s == '[') {
      if (++depth >= 8)
        return 0;
      in_array[depth] = *s == '[';
      stack[depth][0] = '\0';
    } else if (*s == '}' || *s == ']') {
      depth--;
    } else if (*s == '"') {
      const char *b = ++s;
      while (s < end && *s != '"')
        s += (*s == '\\') ? 2 : 1;
      size_t n = (size_t)(s - b);
      const char *c = s + 1;
      while (c < end && strchr(" \t\r\n", *c))
        c++;
      if (depth >= 0 && !in_array[depth] && c < end && *c == ':' && n < sizeof stack[0]) {
        char full[400] = "";
        memcpy(stack[depth], b, n);
        stack[depth][n] = '\0';
        for (int i = 0; i <= depth; i++) {
          if (in_array[i])
            return 0; /* keys inside arrays are not ours */
          snprintf(full + strlen(full), sizeof full - strlen(full), "%s%s", i ? "." : "", stack[i]);
        }
        if (strcmp(full, path) == 0)
          return line;
      }
    }
    s++;
  }
  return 0;
}

static int bad(const loader *L, const char *path, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int bad(const loader *L, const char *path, const char *fmt, ...)
{
  char what[300];
  int line = key_line(L, path);
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (line)
    ctl_errf("policy %s, line %d: %s: %s", L->file, line, path, what);
  else
    ctl_errf("policy %s: %s: %s", L->file, path, what);
  return CTL_USAGE;
}

/* ---- values --------------------------------------------------------------- */

static int text_ok(const char *s)
{
  size_t n = strlen(s);

  if (n == 0 || n > POLICY_STR_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return 0;
  return 1;
}

/* "HH:MM" -> minutes after midnight; 24:00 allowed as an end. */
static int pf_time(const char *s, unsigned *out)
{
  unsigned h, m;
  char tail;

  if (strlen(s) != 5 || sscanf(s, "%2u:%2u%c", &h, &m, &tail) != 2 || m > 59 || h > 24 ||
      (h == 24 && m != 0))
    return 0;
  *out = h * 60 + m;
  return 1;
}

static int day_bit(const char *d)
{
  static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

  for (int i = 0; i < 7; i++)
    if (strcmp(d, days[i]) == 0)
      return i;
  return -1;
}

static int one_of(const char *v, const char *const *set)
{
  for (; *set; set++)
    if (strcmp(v, *set) == 0)
      return 1;
  return 0;
}

/* The checks a list's items need beyond being text. */
static int item_ok(const loader *L, const pf *f, const char *v)
{
  static const char *const roles[] = {"admin", "helpdesk", "custodian", "auditor", NULL};
  static const char *const states[] = {"active", "disclosed", "superseded", "rotated", NULL};

  if (strcmp(f->path, "requesters.roles") == 0 && !one_of(v, roles))
    return bad(L, f->path, "\"%s\" is not a role (admin, helpdesk, custodian, auditor)", v);
  if (strcmp(f->path, "record_states") == 0 && !one_of(v, states))
    return bad(L, f->path, "\"%s\" is not a record state (active, disclosed, superseded, rotated)",
               v);
  if (strcmp(f->path, "business_hours.days") == 0 && day_bit(v) < 0)
    return bad(L, f->path, "\"%s\" is not a day (sun, mon, tue, wed, thu, fri, sat)", v);
  if (strcmp(f->path, "alarm.mail_to") == 0 && !ke_mail_addr_ok(v))
    return bad(L, f->path, "\"%s\" is not a plain mail address", v);
  if (strcmp(f->path, "alarm.webhooks") == 0) {
    const char *u = strncmp(v, "slack:", 6) == 0 ? v + 6 : strncmp(v, "teams:", 6) == 0 ? v + 6 : v;
    size_t n;
    if (ke_http_url_check(u, 0, &n) != KE_HTTP_URL_OK)
      return bad(L, f->path,
                 "\"%s\": https:// (http:// only to loopback), with an optional "
                 "slack: or teams: prefix",
                 v);
  }
  return CTL_OK;
}

static int take_list(const loader *L, const pf *f, const json_t *v)
{
  /* PF_DAYS: bits, not a list */
  ctl_policy_list *l = f->kind == PF_LIST ? (ctl_policy_list *)((char *)L->p + f->off) : NULL;
  size_t i;
  json_t *e;
  int rc;

  if (!json_is_array(v) || json_array_size(v) > CTL_POLICY_MAX_LIST)
    return bad(L, f->path, "expected a list of at most 64 strings");
  json_array_foreach (v, i, e) {
    const char *s = json_string_value(e);
    if (!s || !text_ok(s))
      return bad(L, f->path,
                 "expected a list of non-empty strings without control "
                 "characters");
    if ((rc = item_ok(L, f, s)))
      return rc;
    if (!l) {
      L->p->days |= 1u << day_bit(s);
    } else if (!(l->item[l->n++] = strdup(s))) {
      return CTL_FAIL;
    }
  }
  return CTL_OK;
}

static int take_pins(const loader *L, const pf *f, json_t *v)
{
  const char *k;
  json_t *e;

  if (!json_is_object(v))
    return bad(L, f->path, "expected an object of account: fingerprint");
  json_object_foreach (v, k, e) {
    const char *fpr = json_string_value(e);
    uint8_t b[32];
    if (!fpr || strlen(fpr) != 64 || strspn(fpr, "0123456789abcdef") != 64 ||
        ke_hex_decode(b, sizeof b, fpr) != KE_OK)
      return bad(L, f->path, "%s: expected 64 lower-case hex digits (`escrowctl key show`)", k);
  }
  L->p->requester_keys = json_incref(v);
  return CTL_OK;
}

static int take_field(const loader *L, const pf *f, json_t *v)
{
  void *at = (char *)L->p + f->off;

  switch (f->kind) {
    case PF_BOOL:
      if (!json_is_boolean(v))
        return bad(L, f->path, "expected true or false");
      *(int *)at = json_is_true(v);
      return CTL_OK;
    case PF_TIME:
      if (!json_is_string(v) || !pf_time(json_string_value(v), at))
        return bad(L, f->path, "expected a time \"HH:MM\" (00:00 to 24:00)");
      return CTL_OK;
    case PF_UINT:
      if (!json_is_integer(v) || json_integer_value(v) < f->lo || json_integer_value(v) > f->hi) {
        char range[64];
        snprintf(range, sizeof range, "%u to %u", f->lo, f->hi);
        return bad(L, f->path, "expected a whole number, %s", range);
      }
      *(unsigned *)at = (unsigned)json_integer_value(v);
      return CTL_OK;
    case PF_STR:
      if (!json_is_string(v) || !text_ok(json_string_value(v)))
        return bad(L, f->path, "expected a non-empty string without control characters");
      return (*(char **)at = strdup(json_string_value(v))) ? CTL_OK : CTL_FAIL;
    case PF_LIST:
    case PF_DAYS: return take_list(L, f, v);
    case PF_PINS: return take_pins(L, f, v);
  }
  return CTL_FAIL;
}

/* Walk object `o` at `prefix` against the table: a key is a field, or an
 * object that some field lies under, or an error. */
static int walk(const loader *L, json_t *o, const char *prefix)
{
  const char *k;
  json_t *v;

  json_object_foreach (o, k, v) {
    char path[200];
    const pf *f = NULL;
    int under = 0, rc;
    /* Keys are [a-z_]: a key "a.b" must not pass for the field a.b. */
    if (!*k || strspn(k, "abcdefghijklmnopqrstuvwxyz_") != strlen(k) || strlen(k) > 40) {
      char quoted[48];
      const char *at;
      int line = 1;
      snprintf(quoted, sizeof quoted, "\"%.40s\"", k);
      at = strstr(L->text, quoted);
      for (const char *q = L->text; at && q < at; q++)
        line += *q == '\n';
      return ctl_err(CTL_USAGE, "policy %s, line %d: unknown key %s%s%s", L->file, at ? line : 0,
                     prefix, *prefix ? "." : "", quoted);
    }
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", k);
    for (size_t i = 0; i < N_FIELDS; i++) {
      size_t n = strlen(path);
      if (strcmp(policy_fields[i].path, path) == 0)
        f = &policy_fields[i];
      else if (strncmp(policy_fields[i].path, path, n) == 0 && policy_fields[i].path[n] == '.')
        under = 1;
    }
    if (f)
      rc = take_field(L, f, v);
    else if (under && json_is_object(v))
      rc = walk(L, v, path);
    else if (under)
      rc = bad(L, path, "expected an object");
    else
      rc = bad(L, path, "unknown key");
    if (rc)
      return rc;
  }
  return CTL_OK;
}

static int file_ok(const loader *L, const char *path, const char *file)
{
  if (file && access(file, R_OK) != 0)
    return bad(L, path, "cannot read %s", file);
  return CTL_OK;
}

/* What no single field says: what must come together, and what the
 * values mean (a regex that compiles, a time zone that exists). */
static int cross_check(const loader *L, const json_t *root)
{
  ctl_policy *p = L->p;
  size_t n;
  int rc;

  if (!p->accounts.n && !p->roles.n && !p->persons.n)
    return bad(L, "requesters", "name at least one account, role or person");
  /* A total limit: per-requester limits alone do not bound a server that
   * makes up requesters. */
  if (!p->total_per_hour && !p->total_per_day)
    return bad(L, "limits", "total_per_hour or total_per_day is required: they are the brake");
  if (!p->alarm_webhooks.n && !p->alarm_mail_to.n)
    return bad(L, "alarm", "at least one webhook or mail address is required");
  if (p->alarm_mail_to.n && (!p->smtp_url || !p->smtp_from))
    return bad(L, "alarm", "mail_to needs smtp_url and smtp_from");
  if (p->smtp_url && !ke_mail_url_ok(p->smtp_url))
    return bad(L, "alarm.smtp_url", "expected smtp://host[:port] or smtps://");
  if (p->smtp_from && !ke_mail_addr_ok(p->smtp_from))
    return bad(L, "alarm.smtp_from", "not a plain mail address");
  if (!p->smtp_user != !p->smtp_password_file)
    return bad(L, "alarm", "smtp_user and smtp_password_file go together");
  if (p->ticket_pattern) {
    int e = regcomp(&p->ticket_re, p->ticket_pattern, REG_EXTENDED | REG_NOSUB);
    if (e) {
      char msg[200];
      regerror(e, &p->ticket_re, msg, sizeof msg);
      return bad(L, "ticket_pattern", "not a POSIX extended regular expression: %s", msg);
    }
    p->has_ticket_pattern = 1;
  }
  if (json_object_get(root, "ticket_check")) {
    if (!p->itsm_url || ke_http_url_check(p->itsm_url, 0, &n) != KE_HTTP_URL_OK)
      return bad(L, "ticket_check.url", "https:// (http:// only to loopback) is required");
    if (p->itsm_method && strcmp(p->itsm_method, "GET") && strcmp(p->itsm_method, "POST"))
      return bad(L, "ticket_check.method", "GET or POST");
  }
  if (json_object_get(root, "business_hours")) {
    char zf[PATH_MAX];
    if (!p->time_zone || !p->days ||
        !json_object_get(json_object_get(root, "business_hours"), "start") ||
        !json_object_get(json_object_get(root, "business_hours"), "end"))
      return bad(L, "business_hours", "time_zone, days, start and end are all required");
    snprintf(zf, sizeof zf, "/usr/share/zoneinfo/%s", p->time_zone);
    if (strstr(p->time_zone, "..") || p->time_zone[0] == '/' || access(zf, R_OK) != 0)
      return bad(L, "business_hours.time_zone", "no such time zone: %s", p->time_zone);
    if (p->start_min == p->end_min)
      return bad(L, "business_hours", "start and end are the same time");
    p->has_hours = 1;
  }
  if (!p->record_states.n && !(p->record_states.item[p->record_states.n++] = strdup("active")))
    return CTL_FAIL;
  if ((rc = file_ok(L, "ticket_check.ca_file", p->itsm_ca_file)) ||
      (rc = file_ok(L, "ticket_check.bearer_token_file", p->itsm_token_file)) ||
      (rc = file_ok(L, "alarm.webhook_secret_file", p->webhook_secret_file)) ||
      (rc = file_ok(L, "alarm.webhook_ca_file", p->webhook_ca_file)) ||
      (rc = file_ok(L, "alarm.smtp_ca_file", p->smtp_ca_file)) ||
      (rc = file_ok(L, "alarm.smtp_password_file", p->smtp_password_file)))
    return rc;
  return CTL_OK;
}

int ctl_policy_load(ctl_policy *p, const char *path)
{
  ke_buf b;
  json_error_t je;
  json_t *root;
  loader L = {path, NULL, 0, p};
  int rc;

  memset(p, 0, sizeof *p);
  p->pin_on_first_sight = 0; /* opt-in: see ctl_policy.h */
  p->itsm_timeout_s = 10;
  if ((rc = ctl_read(&b, path, POLICY_MAX_BYTES, 0, "policy file")))
    return rc;
  L.text = (const char *)b.p;
  L.len = b.len;
  root = json_loadb(L.text, L.len, JSON_REJECT_DUPLICATES, &je);
  if (!root || !json_is_object(root)) {
    if (root)
      ctl_errf("policy %s: expected one JSON object", path);
    else
      ctl_errf("policy %s, line %d: %s", path, je.line, je.text);
    rc = CTL_USAGE;
  } else if (!(rc = walk(&L, root, ""))) {
    rc = cross_check(&L, root);
  }
  json_decref(root);
  ke_buf_free(&b);
  if (rc)
    ctl_policy_free(p);
  return rc;
}

static void list_free(ctl_policy_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->item[i]);
  l->n = 0;
}

void ctl_policy_free(ctl_policy *p)
{
  ctl_policy_list *lists[] = {&p->accounts,       &p->roles,        &p->persons,
                              &p->groups_allow,   &p->groups_deny,  &p->record_states,
                              &p->alarm_webhooks, &p->alarm_mail_to};
  char **strs[] = {&p->ticket_pattern,      &p->time_zone,       &p->itsm_url,
                   &p->itsm_method,         &p->itsm_ca_file,    &p->itsm_token_file,
                   &p->webhook_secret_file, &p->webhook_ca_file, &p->smtp_url,
                   &p->smtp_from,           &p->smtp_ca_file,    &p->smtp_user,
                   &p->smtp_password_file};

  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    list_free(lists[i]);
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    free(*strs[i]);
    *strs[i] = NULL;
  }
  if (p->has_ticket_pattern)
    regfree(&p->ticket_re);
  json_decref(p->requester_keys);
  memset(p, 0, sizeof *p);
}

/* ---- in words ------------------------------------------------------------- */

static void say_list(FILE *f, const char *what, const ctl_policy_list *l)
{
  if (!l->n)
    return;
  fprintf(f, "  %s:", what);
  for (size_t i = 0; i < l->n; i++)
    fprintf(f, "%s %s", i ? "," : "", l->item[i]);
  fputc('\n', f);
}

static void say_limit(FILE *f, const char *what, unsigned n)
{
  if (n)
    fprintf(f, "  at most %u approval%s %s\n", n, n == 1 ? "" : "s", what);
}

void ctl_policy_describe(const ctl_policy *p, FILE *f)
{
  static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

  fprintf(f, "Approves a retrieval request when all of these hold:\n");
  say_list(f, "requester account (signed by their client key) is one of", &p->accounts);
  say_list(f, "or the requester's role is one of", &p->roles);
  say_list(f, "or the requester's person id is one of", &p->persons);
  if (p->reason_min_length)
    fprintf(f, "  the reason has at least %u characters\n", p->reason_min_length);
  if (p->has_ticket_pattern)
    fprintf(f, "  the ticket matches /%s/%s\n", p->ticket_pattern,
            p->ticket_pattern[0] == '^' && p->ticket_pattern[strlen(p->ticket_pattern) - 1] == '$'
              ? ""
              : "  (WARNING: not anchored with ^...$: any ticket containing a match passes)");
  say_list(f, "the device's group is one of", &p->groups_allow);
  say_list(f, "the device's group is none of", &p->groups_deny);
  say_list(f, "the record's state is one of", &p->record_states);
  if (p->has_hours) {
    fprintf(f, "  it is between %02u:%02u and %02u:%02u in %s, on", p->start_min / 60,
            p->start_min % 60, p->end_min / 60, p->end_min % 60, p->time_zone);
    for (int i = 0; i < 7; i++)
      if (p->days & (1u << i))
        fprintf(f, " %s", days[i]);
    fputc('\n', f);
  }
  if (p->cooldown_s)
    fprintf(f, "  no approval for the same device in the last %u s\n", p->cooldown_s);
  if (p->itsm_url)
    fprintf(f, "  %s %s answers 2xx for the ticket and device\n",
            p->itsm_method ? p->itsm_method : "GET", p->itsm_url);
  fprintf(f, "  the requester's client key is %s\n",
          p->pin_on_first_sight
            ? "the one pinned in the policy or by trust-key, or on first sight"
            : "the one pinned in the policy or by `escrowctl custodian trust-key`");
  fprintf(f, "  the record's escrow event is proven in the signed audit log\n");
  fprintf(f, "Limits (a trip stops all approvals and raises the alarm until `escrowctl "
             "custodian rearm`):\n");
  say_limit(f, "per requester per hour", p->requester_per_hour);
  say_limit(f, "per requester per day", p->requester_per_day);
  say_limit(f, "in total per hour", p->total_per_hour);
  say_limit(f, "in total per day", p->total_per_day);
  fprintf(f, "Alarm to:");
  for (size_t i = 0; i < p->alarm_webhooks.n; i++)
    fprintf(f, " %s", p->alarm_webhooks.item[i]);
  for (size_t i = 0; i < p->alarm_mail_to.n; i++)
    fprintf(f, " mailto:%s", p->alarm_mail_to.item[i]);
  fputc('\n', f);
}

/* ---- checking a request --------------------------------------------------- */

static int in_list(const ctl_policy_list *l, const char *v)
{
  for (size_t i = 0; v && i < l->n; i++)
    if (strcmp(l->item[i], v) == 0)
      return 1;
  return 0;
}

static size_t utf8_chars(const char *s)
{
  size_t n = 0;

  for (; *s; s++)
    n += ((unsigned char)*s & 0xc0) != 0x80;
  return n;
}

/* Is `now` inside the business hours, in their time zone?  The process's
 * TZ is switched for the conversion and put back (the daemon is one
 * thread). */
static int within_hours(const ctl_policy *p, time_t now, char *why, size_t whylen)
{
  char *old = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
  struct tm tm;
  unsigned m;
  int in;

  setenv("TZ", p->time_zone, 1);
  tzset();
  localtime_r(&now, &tm);
  if (old) {
    setenv("TZ", old, 1);
    free(old);
  } else {
    unsetenv("TZ");
  }
  tzset();
  m = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
  in = p->start_min < p->end_min ? (m >= p->start_min && m < p->end_min)
                                 : (m >= p->start_min || m < p->end_min);
  in = in && (p->days & (1u << tm.tm_wday));
  if (!in)
    snprintf(why, whylen, "it is %04d-%02d-%02d %02d:%02d in %s, outside the business hours",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, p->time_zone);
  return in;
}

/* The ITSM check: GET URL?ticket=T&device=D&hostname=H&request=R, or POST
 * the same as a JSON object; 2xx passes.  Failing closed: a transport
 * error or any other status declines. */
static int itsm_ok(const ctl_policy *p, const ke_request *r, const json_t *view, char *why,
                   size_t whylen)
{
  const char *url = p->itsm_url, *slash = strchr(strstr(url, "://") + 3, '/');
  const char *host = ctl_jstr(view, "hostname") ?: "";
  const int post = p->itsm_method && strcmp(p->itsm_method, "POST") == 0;
  char base[POLICY_STR_MAX + 1], path[3 * POLICY_STR_MAX], err[KE_HTTP_ERRLEN] = "";
  char e_t[400], e_d[200], e_h[400], e_r[128], auth[600] = "";
  const char *headers[3] = {"Content-Type: application/json", NULL, NULL};
  char *body = NULL;
  ke_http *h = NULL;
  ke_http_resp resp = {0};
  ke_rc k;
  int ok = 0;

  snprintf(base, sizeof base, "%.*s", (int)(slash ? (size_t)(slash - url) : strlen(url)), url);
  if (ctl_http_escape(e_t, sizeof e_t, r->requester.ticket) ||
      ctl_http_escape(e_d, sizeof e_d, r->device) || ctl_http_escape(e_h, sizeof e_h, host) ||
      ctl_http_escape(e_r, sizeof e_r, r->request_id)) {
    snprintf(why, whylen, "the ticket or device cannot be put into the ITSM URL");
    return 0;
  }
  if (post)
    snprintf(path, sizeof path, "%s", slash ? slash : "/");
  else
    snprintf(path, sizeof path, "%s%sticket=%s&device=%s&hostname=%s&request=%s",
             slash ? slash : "/", strchr(slash ? slash : "", '?') ? "&" : "?", e_t, e_d, e_h, e_r);
  if (p->itsm_token_file) {
    ke_buf t;
    if (ctl_read(&t, p->itsm_token_file, 512, 1, "ITSM token file") == CTL_OK) {
      t.p[strcspn(t.p, "\r\n")] = '\0';
      snprintf(auth, sizeof auth, "Authorization: Bearer %s", t.p);
      ke_buf_free(&t);
      headers[1] = auth;
    }
  }
  if (post) {
    json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "ticket", r->requester.ticket, "device_id",
                          r->device, "hostname", host, "request_id", r->request_id);
    body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
  }
  ke_http_req q = {post ? "POST" : "GET",
                   base,
                   path,
                   body,
                   headers,
                   p->itsm_ca_file,
                   5,
                   (long)p->itsm_timeout_s,
                   64 * 1024,
                   "keyescrow-custodian",
                   NULL};
  if ((k = ke_http_new(&h)) == KE_OK)
    k = ke_http_perform(h, &q, &resp, err, sizeof err);
  if (k)
    snprintf(why, whylen, "the ITSM check at %s failed: %s", base, err[0] ? err : ke_rc_str(k));
  else if (!(ok = resp.status >= 200 && resp.status < 300))
    snprintf(why, whylen, "the ITSM check at %s answered %ld for ticket %s", base, resp.status,
             r->requester.ticket);
  ke_http_resp_free(&resp);
  ke_http_free(h);
  free(body);
  ke_wipe(auth, sizeof auth);
  return ok;
}

#define DECLINE(name, ...)                           \
  do {                                               \
    snprintf(rule, CTL_POLICY_RULE_MAX, "%s", name); \
    snprintf(why, whylen, __VA_ARGS__);              \
    return 1;                                        \
  } while (0)

int ctl_policy_cooldown(const ctl_policy *p, time_t now, time_t last_approval,
                        char rule[CTL_POLICY_RULE_MAX], char *why, size_t whylen)
{
  if (p->cooldown_s && last_approval && now - last_approval < (time_t)p->cooldown_s)
    DECLINE("device_cooldown", "a key of this device was approved %lld s ago (cool-down %u s)",
            (long long)(now - last_approval), p->cooldown_s);
  return 0;
}

int ctl_policy_check(const ctl_policy *p, const ke_request *r, const json_t *view, time_t now,
                     time_t last_approval, char rule[CTL_POLICY_RULE_MAX], char *why, size_t whylen)
{
  const ke_retrieval_signed *q = &r->requester;
  const char *role = ctl_jstr(view, "requester_role");
  const char *person = ctl_jstr(view, "requester_person");
  const char *group = ctl_jstr(view, "device_group");
  const char *state = ctl_jstr(view, "record_state");

  if (!in_list(&p->accounts, q->user) && !in_list(&p->roles, role) && !in_list(&p->persons, person))
    DECLINE("requester_allowed", "requester %s (role %s) is not allowed by this policy", q->user,
            role ? role : "?");
  if (utf8_chars(q->reason) < p->reason_min_length)
    DECLINE("reason_length", "the reason has fewer than %u characters", p->reason_min_length);
  if (p->has_ticket_pattern && regexec(&p->ticket_re, q->ticket, 0, NULL, 0) != 0)
    DECLINE("ticket_pattern", "ticket \"%s\" does not match /%s/", q->ticket, p->ticket_pattern);
  if (!group || (p->groups_allow.n && !in_list(&p->groups_allow, group)) ||
      in_list(&p->groups_deny, group))
    DECLINE("device_group", "device group %s is not allowed", group ? group : "?");
  if (!in_list(&p->record_states, state))
    DECLINE("record_state", "the record is %s, which needs a human custodian",
            state ? state : "of unknown state");
  if (p->has_hours && !within_hours(p, now, why, whylen)) {
    snprintf(rule, CTL_POLICY_RULE_MAX, "business_hours");
    return 1;
  }
  if (ctl_policy_cooldown(p, now, last_approval, rule, why, whylen))
    return 1;
  if (p->itsm_url && !itsm_ok(p, r, view, why, whylen)) {
    snprintf(rule, CTL_POLICY_RULE_MAX, "ticket_check");
    return 1;
  }
  return 0;
}
