/*
 * escrowctl pin list|add|remove - the client keys this custodian trusts
 * (ctl_pins.h).  A pin is made after checking the fingerprint with its
 * owner out of band (in person, or on a call where the voice is known):
 * `escrowctl key show` prints a person's own fingerprint.  Nothing here
 * talks to the server.
 */
#include <stdio.h>
#include <string.h>

#include "ctl_cmd.h"
#include "ctl_pins.h"

const char ctl_usage_pin_list[] = "usage: escrowctl pin list\n"
                                  "\n"
                                  "Lists the client keys you pinned: user, fingerprint, when.\n";

const char ctl_usage_pin_add[] =
  "usage: escrowctl pin add USER FINGERPRINT\n"
  "\n"
  "Pins USER's client key (64 hex digits, as `escrowctl key show` prints it\n"
  "on USER's machine).  Check it with USER out of band first: approve and\n"
  "drill approve act only on statements signed by a pinned key.  Replaces an\n"
  "earlier pin of USER (after a key change you checked with them).\n";

const char ctl_usage_pin_remove[] = "usage: escrowctl pin remove USER\n";

static int positional(const ctl_cmd *cmd, int argc, char **argv, int want, int *first)
{
  static const struct option opts[] = {CTL_OPT_END};
  int rc = ctl_getopt(cmd, argc, argv, opts, NULL, NULL, first);

  if (rc)
    return rc;
  if (argc - *first != want) {
    ctl_print_usage(cmd, stderr);
    return CTL_USAGE;
  }
  return CTL_OK;
}

int ctl_cmd_pin_list(const ctl_cmd *cmd, int argc, char **argv)
{
  int first, rc = positional(cmd, argc, argv, 0, &first);

  if (rc)
    return rc;
  return ctl_pin_print(stdout);
}

int ctl_cmd_pin_add(const ctl_cmd *cmd, int argc, char **argv)
{
  int first, rc = positional(cmd, argc, argv, 2, &first);
  ctl_pin_state st;
  char old[CTL_PIN_FPR_LEN + 1];

  if (rc)
    return rc;
  if (!ctl_pin_fpr_valid(argv[first + 1]))
    return ctl_err(CTL_USAGE, "FINGERPRINT must be 64 hex digits");
  if ((rc = ctl_pin_lookup(argv[first], argv[first + 1], &st, old, NULL)))
    return rc;
  if ((rc = ctl_pin_store(argv[first], argv[first + 1])))
    return rc;
  if (st == CTL_PIN_CHANGED)
    printf("re-pinned %s: %s (was %s)\n", argv[first], argv[first + 1], old);
  else
    printf("pinned %s: %s\n", argv[first], argv[first + 1]);
  return CTL_OK;
}

int ctl_cmd_pin_remove(const ctl_cmd *cmd, int argc, char **argv)
{
  int first, removed, rc = positional(cmd, argc, argv, 1, &first);

  if (rc)
    return rc;
  if ((rc = ctl_pin_remove(argv[first], &removed)))
    return rc;
  if (!removed)
    return ctl_err(CTL_FAIL, "no pin for %s", argv[first]);
  printf("removed the pin of %s\n", argv[first]);
  return CTL_OK;
}
