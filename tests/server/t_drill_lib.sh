# t_drill_lib.sh - the world every drill test starts from (sourced after
# lib.sh and t_auth_lib.sh, once `start_private main` has run):
#
#   drill_env        URL, W, HOME and ESCROWCTL_SERVER for the private
#                    instance, no stray escrowctl settings, the log key that
#                    custodians prove escrow events with (ESCROWCTL_LOG_KEY),
#                    and sql/own: SQL as the application / owner role
#   drill_keys T N   a T-of-N ceremony in $W/key (passphrases in $W/key.pass,
#                    FPR its fingerprint), accounts admin1, aud1 and c1..cN
#                    with tokens ADMIN, AUD and CT[i], the key published
drill_env() {
  URL=http://127.0.0.1:$PORT_main
  W=$TW
  export HOME=$W ESCROWCTL_SERVER=$URL
  unset XDG_CONFIG_HOME ESCROWCTL_LOG_KEY ESCROWCTL_CACERT ESCROWCTL_TOKEN
  http GET "$URL/v1/audit/key"
  ESCROWCTL_LOG_KEY=$(json_get verifier_key)
  export ESCROWCTL_LOG_KEY
}
sql() { app_psql "$PRIV_APP_DSN" -c "$1"; }
own() { app_psql "$PRIV_OWN_DSN" -c "$1"; }

drill_keys() {
  local t=$1 n=$2 i pf=() cust=()
  KD=$W/key
  mkdir -p "$KD.pass"
  for i in $(seq 1 "$n"); do
    echo "drill passphrase quibble-zephyr-$i" >"$KD.pass/$i"
    pf+=(--passphrase-file "$i=$KD.pass/$i")
    cust+=(--custodian "c$i")
  done
  "$ESCROWCTL" ceremony --threshold "$t" --shares "$n" "${cust[@]}" --out "$KD" \
    --scrypt-n 1024 "${pf[@]}" >/dev/null 2>&1 || fail "ceremony"
  FPR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$KD/escrow-key.json")
  mint_user "$PRIV_APP_DSN" admin1 admin
  mint_user "$PRIV_APP_DSN" aud1 auditor
  for i in $(seq 1 "$n"); do mint_user "$PRIV_APP_DSN" "c$i" custodian "$i"; done
  ADMIN=$(mint_token "$PRIV_APP_DSN" admin1)
  AUD=$(mint_token "$PRIV_APP_DSN" aud1)
  declare -gA CT
  for i in $(seq 1 "$n"); do CT[$i]=$(mint_token "$PRIV_APP_DSN" "c$i"); done
  ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" escrow-key publish --manifest "$KD/escrow-key.json" \
    --fingerprint "$FPR" >/dev/null 2>"$W/ctl.err" || fail "escrow-key publish: $(cat "$W/ctl.err")"
}
