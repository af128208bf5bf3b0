#!/usr/bin/env bash
# t_reports.sh - the coverage report (t_reports.py) on a constructed fleet, in
# a world of its own (t_device_lib.sh): a private database, its own escrowd.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
load_fixture
device_world rep
python3 "$HERE/t_reports.py" || fail "t_reports.py"
stop_daemon rep
ok "reports: coverage"
