/*
 * fuzz_ctl_policy.c - a policy custodian's policy file (ctl_policy.c) on
 * hostile bytes.
 *
 * Whatever the input, loading must not crash, leak, overflow a list or
 * hang, and a policy that loads must keep the promises the daemon relies
 * on: at least one requester list, a total limit, an alarm channel, every
 * list within its bound, and a description that can be printed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctl_policy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  /* One in-memory file, rewritten for each input: no disk, no cleanup. */
  if ((fd = memfd_create("policy", MFD_CLOEXEC)) < 0)
    abort();
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  /* The description goes nowhere; the loader's messages to stderr stay
   * (libFuzzer reports there too). */
  if (!(sink = fopen("/dev/null", "w")))
    abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ctl_policy p;
  const ctl_policy_list *lists[] = {&p.accounts,       &p.roles,        &p.persons,
                                    &p.groups_allow,   &p.groups_deny,  &p.record_states,
                                    &p.alarm_webhooks, &p.alarm_mail_to};

  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
    abort();
  if (ctl_policy_load(&p, path) != 0)
    return 0;
  if (!p.accounts.n && !p.roles.n && !p.persons.n)
    abort();
  if (!p.total_per_hour && !p.total_per_day)
    abort();
  if (!p.alarm_webhooks.n && !p.alarm_mail_to.n)
    abort();
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    if (lists[i]->n > CTL_POLICY_MAX_LIST)
      abort();
  ctl_policy_describe(&p, sink);
  ctl_policy_free(&p);
  return 0;
}
