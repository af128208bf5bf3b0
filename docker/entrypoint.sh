#!/bin/sh
# escrowd container entrypoint.
#   serve (default): migrate as the owner role, then serve as the app role.
#   anything else:   passed to escrowd (e.g. `migrate --status`, `config`).
# Set ESCROWD_MIGRATE_ON_START=0 when migrations are run as a separate job.
set -eu
if [ "${1:-serve}" = serve ]; then
  if [ "${ESCROWD_MIGRATE_ON_START:-1}" = 1 ]; then
    escrowd migrate
  fi
  # exec: escrowd becomes PID 1 and receives SIGTERM itself (graceful stop).
  exec escrowd serve
fi
exec escrowd "$@"
