/*
 * agent_run.h - run a platform tool (manage-bde, fdesetup) without a shell.
 *
 * Their output carries recovery secrets, so it is captured in locked
 * memory that is wiped when freed, and never logged.  The tool path is
 * injectable (--manage-bde, --fdesetup), which is how the tests drive the
 * providers with scripts that print recorded real outputs.
 */
#ifndef AGENT_RUN_H
#define AGENT_RUN_H

#include "agent.h"

#define AGENT_RUN_MAX_OUTPUT (256u * 1024)
#define AGENT_RUN_TIMEOUT 120u

/* Run argv (argv[0] a path, or a name searched in PATH) with `in` (may be
 * NULL) on its stdin and its stdout captured in *out (secure; free with
 * ke_buf_free).  stderr is inherited.  *status is the exit status, or
 * -1 if it was killed by a signal or the timeout.  AGENT_FAIL (logged)
 * only when it could not be run at all or its output was too large. */
int agent_run(const char *const *argv, const void *in, size_t inlen, ke_buf *out, int *status);

#endif
