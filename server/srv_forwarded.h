/*
 * srv_forwarded.h - the client's address behind trusted reverse proxies
 * (configuration key trusted_proxies; see srv_forwarded.c).
 */
#ifndef SRV_FORWARDED_H
#define SRV_FORWARDED_H

#include <netinet/in.h>
#include <stddef.h>

/* Comma-separated IPv4/IPv6 addresses (NULL or "" = none).  0, or -1 with
 * the reason in err. */
int srv_forwarded_init(const char *list, char *err, size_t errlen);
/* Are any proxies trusted?  (Without, requests need not look at the header.) */
int srv_forwarded_enabled(void);
/* If `peer` is a trusted proxy and X-Forwarded-For (`xff`, may be NULL)
 * names a client, replace `out` (holding the peer) with it; else leave it. */
void srv_forwarded_client(char out[INET6_ADDRSTRLEN], const char *peer, const char *xff);

#endif
