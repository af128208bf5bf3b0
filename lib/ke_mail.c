/*
 * ke_mail.c - compose and send one notification mail (ke_mail.h).
 */
#include "ke_mail.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke_util.h"

static int is_atext(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

int ke_mail_addr_ok(const char *addr)
{
  const char *at = addr ? strchr(addr, '@') : NULL;
  size_t len = addr ? strlen(addr) : 0;

  if (!at || len > KE_MAIL_ADDR_MAX || at == addr || strchr(at + 1, '@'))
    return 0;
  /* local part: dot-atom (no leading, trailing or double dot) */
  for (const char *p = addr; p < at; p++)
    if (!(is_atext(*p) || (*p == '.' && p > addr && p + 1 < at && p[1] != '.')))
      return 0;
  /* domain: at least two labels of letters, digits and hyphens */
  int dots = 0, label = 0;
  for (const char *p = at + 1; *p; p++) {
    if (*p == '.') {
      if (label == 0)
        return 0;
      dots++;
      label = 0;
    } else if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
               *p == '-') {
      label++;
    } else {
      return 0;
    }
  }
  return dots > 0 && label > 0;
}

int ke_mail_url_ok(const char *url)
{
  if (!url || !(strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0))
    return 0;
  for (const char *p = url; *p; p++)
    if (*p <= ' ' || *p > '~')
      return 0;
  return strlen(url) > 8 && strlen(url) <= 500;
}

static int ascii_only(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s >= 0x80)
      return 0;
  return 1;
}

/* A header value: ASCII as is, else RFC 2047 "=?UTF-8?B?...?=" (one
 * encoded word is fine up to our subject limit: readers accept long ones). */
static char *header_value(const char *v)
{
  char *out;
  int n;

  if (ascii_only(v))
    return strdup(v);
  size_t len = strlen(v), cap = 4 * ((len + 2) / 3) + 1;
  if (!(out = malloc(cap + 16)))
    return NULL;
  memcpy(out, "=?UTF-8?B?", 10);
  n = EVP_EncodeBlock((unsigned char *)out + 10, (const unsigned char *)v, (int)len);
  memcpy(out + 10 + n, "?=", 3);
  return out;
}

/* The body with every line ending as CRLF (SMTP's), lone CR refused. */
static char *crlf_body(const char *body)
{
  size_t len = strlen(body), o = 0;
  char *out = malloc(2 * len + 3);

  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    if (body[i] == '\r') {
      free(out);
      return NULL;
    }
    if (body[i] == '\n')
      out[o++] = '\r';
    out[o++] = body[i];
  }
  if (o < 2 || out[o - 1] != '\n') {
    out[o++] = '\r';
    out[o++] = '\n';
  }
  out[o] = '\0';
  return out;
}

ke_rc ke_mail_compose(char **out, const char *from, const char *to, const char *subject,
                      const char *body)
{
  char date[64], id[33], *subj = NULL, *text = NULL, *msg = NULL;
  uint8_t rnd[16];
  time_t now = time(NULL);
  struct tm tm;
  size_t len;

  *out = NULL;
  if (!ke_mail_addr_ok(from) || !ke_mail_addr_ok(to) || !subject ||
      strlen(subject) > KE_MAIL_SUBJECT_MAX || strpbrk(subject, "\r\n") || !body ||
      strlen(body) > KE_MAIL_BODY_MAX)
    return KE_ERR_FORMAT;
  if (!gmtime_r(&now, &tm) ||
      strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0 ||
      ke_random(rnd, sizeof rnd) != KE_OK)
    return KE_ERR_INTERNAL;
  ke_hex_encode(id, rnd, sizeof rnd);
  if (!(subj = header_value(subject)) || !(text = crlf_body(body))) {
    free(subj);
    return text ? KE_ERR_NOMEM : KE_ERR_FORMAT;
  }
  int ascii = ascii_only(text);
  len = strlen(subj) + strlen(text) * (ascii ? 1 : 2) + 512 + 3 * KE_MAIL_ADDR_MAX;
  if ((msg = malloc(len))) {
    int n = snprintf(msg, len,
                     "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
                     "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: %s\r\nAuto-Submitted: auto-generated\r\n\r\n",
                     date, from, to, subj, id, strchr(from, '@') + 1, ascii ? "7bit" : "base64");
    if (ascii) {
      snprintf(msg + n, len - (size_t)n, "%s", text);
    } else {
      /* base64 in 76-character lines (RFC 2045) */
      size_t tl = strlen(text), o = (size_t)n;
      for (size_t i = 0; i < tl; i += 57) {
        int w = EVP_EncodeBlock((unsigned char *)msg + o, (const unsigned char *)text + i,
                                (int)(tl - i < 57 ? tl - i : 57));
        o += (size_t)w;
        msg[o++] = '\r';
        msg[o++] = '\n';
      }
      msg[o] = '\0';
    }
  }
  free(subj);
  free(text);
  if (!msg)
    return KE_ERR_NOMEM;
  *out = msg;
  return KE_OK;
}

struct ke_mail_upload {
  const char *p;
  size_t left;
};

static size_t ke_mail_read(char *buf, size_t size, size_t n, void *ud)
{
  struct ke_mail_upload *u = ud;
  size_t k = size * n < u->left ? size * n : u->left;

  memcpy(buf, u->p, k);
  u->p += k;
  u->left -= k;
  return k;
}

ke_rc ke_mail_send(const ke_mail_server *srv, const char *to, const char *subject, const char *body,
                   char *err, size_t errlen)
{
  char *msg = NULL, from[KE_MAIL_ADDR_MAX + 3], rcpt[KE_MAIL_ADDR_MAX + 3];
  struct curl_slist *rcpts = NULL;
  struct ke_mail_upload up;
  CURL *c;
  CURLcode cc;
  ke_rc rc;

  if (!srv || !ke_mail_url_ok(srv->url)) {
    snprintf(err, errlen, "not an smtp:// or smtps:// URL");
    return KE_ERR_FORMAT;
  }
  if ((rc = ke_mail_compose(&msg, srv->from, to, subject, body)) != KE_OK) {
    snprintf(err, errlen, "cannot compose the message (%s)", ke_rc_str(rc));
    return rc;
  }
  snprintf(from, sizeof from, "<%s>", srv->from);
  snprintf(rcpt, sizeof rcpt, "<%s>", to);
  up = (struct ke_mail_upload){msg, strlen(msg)};
  if (!(c = curl_easy_init()) || !(rcpts = curl_slist_append(NULL, rcpt))) {
    if (c)
      curl_easy_cleanup(c);
    free(msg);
    snprintf(err, errlen, "out of memory");
    return KE_ERR_NOMEM;
  }
  curl_easy_setopt(c, CURLOPT_URL, srv->url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  /* STARTTLS or fail: never a message in clear, whatever the server offers. */
  curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
  if (srv->ca_file) {
    curl_easy_setopt(c, CURLOPT_CAINFO, srv->ca_file);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL); /* the pinned CA alone (ke_http.c) */
  }
  if (srv->user) {
    curl_easy_setopt(c, CURLOPT_USERNAME, srv->user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, srv->password ? srv->password : "");
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ke_mail_read);
  curl_easy_setopt(c, CURLOPT_READDATA, &up);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, srv->timeout_s > 0 ? srv->timeout_s : 30L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  cc = curl_easy_perform(c);
  curl_slist_free_all(rcpts);
  curl_easy_cleanup(c);
  free(msg);
  if (cc != CURLE_OK) {
    snprintf(err, errlen, "%s", curl_easy_strerror(cc));
    return KE_ERR_IO;
  }
  return KE_OK;
}
