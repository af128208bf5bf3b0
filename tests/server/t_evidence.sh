#!/usr/bin/env bash
# t_evidence.sh - the signed evidence bundle (t_evidence.py), in a device
# world of its own (t_device_lib.sh): a private database, its own escrowd.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
load_fixture
device_world evid
python3 "$HERE/t_evidence.py" || fail "t_evidence.py"
stop_daemon evid
ok "reports: evidence bundle"
