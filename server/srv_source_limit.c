/*
 * srv_source_limit.c - per-source budgets a minute (srv_source_limit.h).
 */
#include "srv_source_limit.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* FNV-1a: spreads addresses over the slots; not a security boundary (a
 * client choosing a colliding address only shares a budget). */
static size_t srv_source_slot(const char *s)
{
  uint32_t h = 2166136261u;

  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 16777619u;
  return h % SRV_SOURCE_LIMIT_SLOTS;
}

int srv_source_limit_take(struct srv_source_limit *l, const char *source, unsigned *retry_after)
{
  time_t now = time(NULL), minute = now / 60;
  size_t i = srv_source_slot(source ? source : "");
  int ok;

  pthread_mutex_lock(&l->mu);
  if (l->slot[i].minute != minute || strcmp(l->slot[i].source, source ? source : "") != 0) {
    if (l->slot[i].minute != minute) /* a new minute: the slot's budget is back */
      l->slot[i].n = 0;
    l->slot[i].minute = minute;
    snprintf(l->slot[i].source, sizeof l->slot[i].source, "%s", source ? source : "");
  }
  ok = l->slot[i].n < l->per_minute;
  if (ok)
    l->slot[i].n++;
  pthread_mutex_unlock(&l->mu);
  *retry_after = ok ? 0 : (unsigned)(60 - now % 60);
  return ok;
}
