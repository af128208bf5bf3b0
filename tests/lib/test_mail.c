/*
 * test_mail.c - ke_mail: which addresses and URLs are accepted, and the
 * message it composes (headers that cannot be injected into, RFC 2047
 * subjects, CRLF lines, base64 for UTF-8 bodies).  Sending is tested end to
 * end against a real relay (server.retrieval.mail).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke_mail.h"
#include "ke_test.h"

static void compose_refused(const char *from, const char *to, const char *subject, const char *body)
{
  char *m = (char *)"x";
  CHECK_RC(ke_mail_compose(&m, from, to, subject, body), KE_ERR_FORMAT);
  CHECK(m == NULL);
}

int main(void)
{
  static const char *const good[] = {"a@b.example", "first.last+tag@mail.example.org",
                                     "o'hara@x-y.example", NULL};
  static const char *const bad[] = {"",
                                    "a",
                                    "@b.example",
                                    "a@",
                                    "a@b",
                                    "a@b.",
                                    "a@.b",
                                    "a..b@c.example",
                                    ".a@c.example",
                                    "a.@c.example",
                                    "a@b@c.example",
                                    "Bob <b@c.example>",
                                    "a b@c.example",
                                    "a@c.example\r\nBcc: x@y.example",
                                    "a@c_d.example",
                                    "\"a\"@c.example",
                                    NULL};
  char *m = NULL, big[KE_MAIL_BODY_MAX + 2];

  for (int i = 0; good[i]; i++)
    CHECK(ke_mail_addr_ok(good[i]));
  for (int i = 0; bad[i]; i++) {
    CHECK(!ke_mail_addr_ok(bad[i]));
    if (ke_mail_addr_ok(bad[i]))
      fprintf(stderr, "  accepted %s\n", bad[i]);
  }
  CHECK(ke_mail_url_ok("smtp://relay.example:587") && ke_mail_url_ok("smtps://relay.example"));
  CHECK(!ke_mail_url_ok("http://relay.example") && !ke_mail_url_ok("smtp://a b") &&
        !ke_mail_url_ok("smtp://") && !ke_mail_url_ok(NULL));

  /* ASCII: 7bit, CRLF everywhere, the headers exactly once. */
  CHECK_RC(ke_mail_compose(&m, "k@e.example", "c@e.example", "[keyescrow] Request: r on h",
                           "line one\nline two"),
           KE_OK);
  CHECK(m && strstr(m, "\r\nTo: <c@e.example>\r\n") && strstr(m, "\r\nFrom: <k@e.example>\r\n") &&
        strstr(m, "Subject: [keyescrow] Request: r on h\r\n") &&
        strstr(m, "Content-Transfer-Encoding: 7bit\r\n") &&
        strstr(m, "\r\n\r\nline one\r\nline two\r\n") && strncmp(m, "Date: ", 6) == 0 &&
        strstr(m, "Message-ID: <") && strstr(m, "@e.example>\r\n"));
  for (const char *p = m; p && *p; p++)
    CHECK(*p != '\n' || (p > m && p[-1] == '\r')); /* no bare LF */
  free(m);

  /* UTF-8: an encoded-word subject, a base64 body that decodes back. */
  CHECK_RC(ke_mail_compose(&m, "k@e.example", "c@e.example", "Gerät müller", "Grüße\n"), KE_OK);
  CHECK(m && strstr(m, "Subject: =?UTF-8?B?R2Vyw6R0IG3DvGxsZXI=?=\r\n") &&
        strstr(m, "Content-Transfer-Encoding: base64\r\n"));
  if (m) {
    unsigned char dec[64];
    const char *b = strstr(m, "\r\n\r\n") + 4;
    int n = EVP_DecodeBlock(dec, (const unsigned char *)b, (int)strcspn(b, "\r"));
    CHECK(n >= 9 && memcmp(dec,
                           "Gr\xc3\xbc\xc3\x9f"
                           "e\r\n",
                           9) == 0);
  }
  free(m);

  /* Nothing can add a header or a recipient; sizes are bounded. */
  compose_refused("k@e.example", "c@e.example", "x\r\nBcc: all@e.example", "b");
  compose_refused("k@e.example", "c@e.example", "x\nBcc: all@e.example", "b");
  compose_refused("k@e.example", "c@e.example\r\nBcc: all@e.example", "s", "b");
  compose_refused("k <k@e.example>", "c@e.example", "s", "b");
  compose_refused("k@e.example", "c@e.example", "s", "lone\rcr");
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  compose_refused("k@e.example", "c@e.example", "s", big);
  return ke_test_result("test_mail");
}
