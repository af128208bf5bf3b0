/*
 * srv_source_limit.h - a budget of events per source address and minute,
 * kept in this process: for unauthenticated calls that cost something
 * but are no login failures (srv_login_limits.h counts those, in the
 * database, across instances).  An SSO start stores a row, a device-flow
 * start calls the identity provider: a flood of either from one address
 * is refused with 429 before it costs anything.  Per instance on purpose:
 * the limit is against one client hammering one server, and needs no
 * database round trip.
 *
 * A fixed table of slots, the source hashed to one: two sources that
 * share a slot share its budget for that minute (at worst, a client is
 * refused a little early), and memory never grows.
 */
#ifndef SRV_SOURCE_LIMIT_H
#define SRV_SOURCE_LIMIT_H

#include <netinet/in.h>
#include <pthread.h>
#include <time.h>

#define SRV_SOURCE_LIMIT_SLOTS 512

struct srv_source_limit {
  unsigned per_minute;
  pthread_mutex_t mu;
  struct {
    char source[INET6_ADDRSTRLEN];
    time_t minute;
    unsigned n;
  } slot[SRV_SOURCE_LIMIT_SLOTS];
};
#define SRV_SOURCE_LIMIT_INIT(n)                       \
  {                                                    \
    .per_minute = (n), .mu = PTHREAD_MUTEX_INITIALIZER \
  }

/* Take one event for `source` now: 1 when within the budget, 0 when the
 * source must wait (for the rest of the minute: *retry_after seconds). */
int srv_source_limit_take(struct srv_source_limit *l, const char *source, unsigned *retry_after);

#endif
