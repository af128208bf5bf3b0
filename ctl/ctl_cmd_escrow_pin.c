/*
 * escrowctl escrow-key pin FINGERPRINT - trust an escrow key for online
 * `retrieve` and `drill run` (ctl_escrow_pin.h).  Nothing here talks to the
 * server: the fingerprint is checked out of band (the ceremony's output, or
 * the custodians' `escrowctl share verify`).
 */
#include <stdio.h>

#include "ctl_cmd.h"
#include "ctl_escrow_pin.h"

const char ctl_usage_escrow_key_pin[] =
  "usage: escrowctl escrow-key pin FINGERPRINT\n"
  "\n"
  "Pins an escrow key (64 hex digits, as the ceremony printed it) in\n"
  "<config dir>/" CTL_ESCROW_PIN_FILE ": online `retrieve` and `drill run` then\n"
  "refuse a record under any escrow key not pinned there (unless\n"
  "--escrow-fingerprint or $ESCROWCTL_ESCROW_FINGERPRINT say otherwise).  Pin\n"
  "every key still in use during a rotation.\n";

int ctl_cmd_escrow_key_pin(const ctl_cmd *cmd, int argc, char **argv)
{
  static const struct option opts[] = {CTL_OPT_END};
  int first = 0, rc = ctl_getopt(cmd, argc, argv, opts, NULL, NULL, &first);

  if (rc)
    return rc;
  if (argc - first != 1) {
    ctl_print_usage(cmd, stderr);
    return CTL_USAGE;
  }
  return ctl_escrow_pin_add(argv[first]);
}
