/*
 * srv_forwarded.c - the client's address behind trusted reverse proxies.
 *
 * The audit log records where each action came from, and login failures
 * are counted per address.  Behind a reverse proxy every connection comes
 * from the proxy, so with `trusted_proxies` set, a request whose TCP peer is
 * one of those addresses is attributed to the address the proxies put in
 * X-Forwarded-For.  The header is read from the right: each trusted proxy
 * appends the address it received the request from, so the rightmost entry
 * that is not itself a trusted proxy is the client as far as the trusted
 * chain can vouch; anything to its left was written by the client and is
 * ignored.  A malformed entry stops the walk and the request keeps the
 * peer's address: a forged or garbled header never yields an address the
 * proxies did not write.  From any other peer the header is ignored.
 */
#include "srv_forwarded.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define SRV_FWD_MAX 32

static struct {
  unsigned n;
  struct {
    int af;
    unsigned char a[16];
  } p[SRV_FWD_MAX];
} fwd;

/* Parse one textual address (IPv4 or IPv6); 0 or -1. */
static int srv_fwd_addr(const char *s, size_t len, int *af, unsigned char a[16])
{
  char buf[INET6_ADDRSTRLEN];

  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (inet_pton(AF_INET, buf, a) == 1) {
    *af = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, buf, a) == 1) {
    *af = AF_INET6;
    return 0;
  }
  return -1;
}

static int srv_fwd_trusted(int af, const unsigned char a[16])
{
  for (unsigned i = 0; i < fwd.n; i++)
    if (fwd.p[i].af == af && memcmp(fwd.p[i].a, a, af == AF_INET ? 4 : 16) == 0)
      return 1;
  return 0;
}

int srv_forwarded_init(const char *list, char *err, size_t errlen)
{
  fwd.n = 0;
  for (const char *s = list; s && *s;) {
    size_t len = strcspn(s, ",");
    const char *e = s + len;
    while (len && (*s == ' ' || *s == '\t'))
      s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
      len--;
    if (fwd.n == SRV_FWD_MAX) {
      snprintf(err, errlen, "trusted_proxies: at most %d addresses", SRV_FWD_MAX);
      return -1;
    }
    if (srv_fwd_addr(s, len, &fwd.p[fwd.n].af, fwd.p[fwd.n].a) != 0) {
      snprintf(err, errlen, "trusted_proxies: \"%.*s\" is not an IPv4 or IPv6 address",
               (int)(len > 64 ? 64 : len), s);
      return -1;
    }
    fwd.n++;
    s = *e ? e + 1 : e;
  }
  return 0;
}

int srv_forwarded_enabled(void) { return fwd.n > 0; }

void srv_forwarded_client(char out[INET6_ADDRSTRLEN], const char *peer, const char *xff)
{
  int af;
  unsigned char a[16];
  const char *end;

  if (!fwd.n || !xff || !peer || srv_fwd_addr(peer, strlen(peer), &af, a) != 0 ||
      !srv_fwd_trusted(af, a))
    return;
  /* Right to left over the comma-separated entries. */
  end = xff + strlen(xff);
  while (end > xff) {
    const char *start = end;
    while (start > xff && start[-1] != ',')
      start--;
    const char *s = start, *e = end;
    while (s < e && (*s == ' ' || *s == '\t'))
      s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
      e--;
    if (srv_fwd_addr(s, (size_t)(e - s), &af, a) != 0)
      return; /* garbled: keep the peer */
    if (!srv_fwd_trusted(af, a)) {
      inet_ntop(af, a, out, INET6_ADDRSTRLEN);
      return;
    }
    end = start > xff ? start - 1 : xff;
  }
}
