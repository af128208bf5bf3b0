#!/usr/bin/env bash
# t_scope.sh - scoped roles (t_scope.py), in a device world of its own
# (t_device_lib.sh): a private database, its own escrowd.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
load_fixture
device_world scope
python3 "$HERE/t_scope.py" || fail "t_scope.py"
stop_daemon scope
ok "scoped roles"
