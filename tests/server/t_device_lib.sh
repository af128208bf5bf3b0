# t_device_lib.sh - the world of the device API tests (sourced after lib.sh
# and t_auth_lib.sh): a private database with its own escrowd (so that row
# counts mean something while other tests run), one user and bearer token
# per role, and escrow key ceremonies made with the real escrowctl.
#
# device_world NAME [ESCROWD ENV...] sets DEV_URL, DEV_LOG, DEV_KEYS and
# exports what t_device.py reads (KE_DEV_*).
: "${KE_ESCROWCTL:?}"

# ceremony DIR: a 2-of-3 escrow key with passphrase files (cheap scrypt).
ceremony() {
  local dir=$1 i pf=()
  mkdir -p "$dir/private"
  for i in 1 2 3; do
    printf 'custodian-%d-%s\n' "$i" "$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
      >"$dir/private/pass$i"
    pf+=(--passphrase-file "$i=$dir/private/pass$i")
  done
  "$KE_ESCROWCTL" ceremony --threshold 2 --shares 3 --custodian ana --custodian ben \
    --custodian cy --out "$dir/keys" "${pf[@]}" --scrypt-n 1024 >"$dir/fpr" 2>"$dir/ceremony.err" ||
    fail "ceremony: $(cat "$dir/ceremony.err")"
}

device_world() {
  local name=$1 role
  shift
  make_private_db
  start_private "$name" "$@"
  DEV_URL=http://127.0.0.1:$(cat "$TW/$name.port")
  DEV_LOG=$TW/$name.log
  for role in admin helpdesk auditor custodian; do
    if [ $role = custodian ]; then
      mint_user "$PRIV_APP_DSN" "dev-$role" $role auto >/dev/null
    else
      mint_user "$PRIV_APP_DSN" "dev-$role" $role >/dev/null
    fi
  done
  ceremony "$TW/k1"
  ceremony "$TW/k2"
  ceremony "$TW/k3"
  export KE_DEV_URL=$DEV_URL KE_DEV_LOG=$DEV_LOG KE_DEV_WORK=$TW
  export KE_DEV_APP_DSN=$PRIV_APP_DSN KE_DEV_OWNER_DSN=$PRIV_OWN_DSN
  export KE_DEV_ADMIN=$(mint_token "$PRIV_APP_DSN" dev-admin)
  export KE_DEV_HELPDESK=$(mint_token "$PRIV_APP_DSN" dev-helpdesk)
  export KE_DEV_AUDITOR=$(mint_token "$PRIV_APP_DSN" dev-auditor)
  export KE_DEV_CUSTODIAN=$(mint_token "$PRIV_APP_DSN" dev-custodian)
  export KE_DEV_SRC=$KE_SRC KE_ESCROWCTL
}

# run_py SECTION: one section of t_device.py against the world.
run_py() {
  python3 "$HERE/t_device.py" "$1" || fail "t_device.py $1"
}
