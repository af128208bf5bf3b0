#!/usr/bin/env bash
# t_device_checkin.sh - the "checkin" section of t_device.py (see its docstring) in a
# world of its own (t_device_lib.sh): a private database, its own escrowd.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
load_fixture
device_world dev
run_py checkin
stop_daemon dev
ok "device API: checkin"
