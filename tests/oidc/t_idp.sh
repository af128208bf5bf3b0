#!/usr/bin/env bash
# oidc.idp: the test IdP starts, provisions, answers the flows escrowd will
# use (t_idp.py), and stops on SIGTERM with status 0.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/idp.sh"
W=$(mktemp -d "${KE_OIDC_OUT:-${TMPDIR:-/tmp}}/idp.XXXXXX")
trap 'rc=$?; idp_stop "$W" || true; [ $rc = 0 ] || tail -n 30 "$W/glewlwyd.log" >&2; exit $rc' EXIT
IDP_REDIRECT_URIS="https://127.0.0.1:9/callback http://127.0.0.1/cli" idp_start "$W"
echo "[oidc.idp] ok: glewlwyd $(glewlwyd --version 2>&1 | tail -n 1) serving at $(. "$W/idp.env"; echo "$IDP_URL")"
python3 "$HERE/t_idp.py" "$W"
idp_stop "$W"
[ "$(cat "$W/glewlwyd.rc")" = 0 ] || { echo "[oidc.idp] FAIL: glewlwyd exit status $(cat "$W/glewlwyd.rc")" >&2; exit 1; }
echo "[oidc.idp] ok: stopped (exit status 0)"
rm -rf "$W"
