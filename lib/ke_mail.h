/*
 * ke_mail.h - one plain-text notification mail over SMTP, through libcurl.
 *
 * The transport is always encrypted: smtp:// URLs require STARTTLS
 * (CURLUSESSL_ALL: a server that does not offer it, or a downgrade by
 * someone in between, fails the send instead of sending in clear) and
 * smtps:// is TLS from the start.  The server's certificate is checked
 * against ca_file alone when one is given (the system store is then off,
 * as in ke_http), and its name against the URL's host.
 *
 * Messages are RFC 5322 with MIME: Date, Message-ID, From, To, Subject
 * (RFC 2047 encoded when not ASCII) and a UTF-8 text body.  Header values
 * never hold CR or LF, so no caller text can add a header or a recipient.
 * No secret may ever be put into a mail: callers send public metadata only.
 */
#ifndef KE_MAIL_H
#define KE_MAIL_H

#include <stddef.h>

#include "ke_crypto.h"

#define KE_MAIL_ADDR_MAX 254
#define KE_MAIL_SUBJECT_MAX 200
#define KE_MAIL_BODY_MAX 8192

typedef struct ke_mail_server {
  const char *url;      /* smtp://host[:port] (STARTTLS) or smtps://host[:port] */
  const char *ca_file;  /* PEM CA bundle to trust alone; NULL = the system store */
  const char *user;     /* SMTP AUTH user, or NULL for none */
  const char *password; /* with user */
  const char *from;     /* addr-spec of the envelope sender and the From header */
  long timeout_s;       /* whole-transfer timeout; 0 = 30 s */
} ke_mail_server;

/* 1 if `addr` is a plain addr-spec we send to: local@domain, dot-atom
 * local part, at most 254 bytes, no display name, nothing to quote. */
int ke_mail_addr_ok(const char *addr);

/* 1 if `url` is an smtp:// or smtps:// URL of printable ASCII. */
int ke_mail_url_ok(const char *url);

/* Compose the message (into a malloc'd, NUL-terminated buffer, CRLF line
 * ends) for the tests and the sender.  KE_ERR_FORMAT for a bad address, a
 * subject with CR/LF or too long, or a body too long. */
ke_rc ke_mail_compose(char **out, const char *from, const char *to, const char *subject,
                      const char *body);

/* Send one message to `to`.  KE_OK once the server accepted it for
 * delivery; otherwise an error with a one-line reason in err (the SMTP or
 * TLS error: callers retry later). */
ke_rc ke_mail_send(const ke_mail_server *srv, const char *to, const char *subject, const char *body,
                   char *err, size_t errlen);

#endif
