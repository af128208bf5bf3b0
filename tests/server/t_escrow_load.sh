#!/usr/bin/env bash
# t_escrow_load.sh - 64 agents (bench-escrow, one device each) upload, and
# check in after every 4th upload, for 10 s on a database that is never analysed (autovacuum off on its tables:
# the planner knows nothing, as on a new deployment's enrolment day).
# Correctness, not speed: no timing is asserted.  It checks that
#   - every upload is answered 201 and every check-in 200: no db_conflict,
#     nothing else;
#   - escrowd saw no serialization failure or deadlock at all (unrelated
#     devices never conflict) and its retry wrapper gave up on nothing;
#   - every acknowledged upload is in escrow_records with its receipt's
#     leaf index, that leaf is its escrow.store event, and there is no
#     record without an acknowledgement;
#   - the tables really were never analysed.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
. "$KE_SRC/bench/escrow/answers.sh"
: "${KE_BENCH_ESCROW:?}"
AGENTS=64
SECS=10
load_fixture
make_private_db
TABLES="escrow_records request_nonces devices audit_queue audit_log audit_tree"
for t in $TABLES; do
  app_psql "$PRIV_OWN_DSN" -c "ALTER TABLE $t SET (autovacuum_enabled = false)"
done
start_private load ESCROWD_THREADS=16 ESCROWD_PER_IP_CONNECTION_LIMIT=0
URL=http://127.0.0.1:$(cat "$TW/load.port")
mint_user "$PRIV_APP_DSN" load-admin admin >/dev/null
export ESCROWCTL_TOKEN
ESCROWCTL_TOKEN=$(mint_token "$PRIV_APP_DSN" load-admin)
ceremony "$TW/k"
"$KE_ESCROWCTL" escrow-key publish --server "$URL" --manifest "$TW/k/keys/escrow-key.json" \
  >/dev/null 2>"$TW/err" || fail "publish: $(cat "$TW/err")"
ETOK=$("$KE_ESCROWCTL" enroll-token create --server "$URL" --group load --uses 1000 \
  --expires 1d 2>"$TW/err") || fail "enroll-token: $(cat "$TW/err")"

"$KE_BENCH_ESCROW" -u "$URL" -k "$ETOK" -m "$TW/k/keys/escrow-key.json" -c $AGENTS -t $SECS \
  -w 0 -i 5 -o "$TW/answers" >"$TW/load.out" 2>"$TW/load.err" ||
  fail "bench-escrow: $(cat "$TW/load.err")"
log "$(cat "$TW/load.out")"

acked=$(grep -c '^201 ' "$TW/answers" || true)
[ "$acked" -ge $AGENTS ] || fail "only $acked uploads acknowledged"
checkins=$(grep -c '^200 -$' "$TW/answers" || true)
[ "$checkins" -ge $AGENTS ] || fail "only $checkins check-ins answered"
if grep -Ev '^(201 rec-[a-z2-7]{26} [0-9]+|200 -)$' "$TW/answers" >"$TW/refused"; then
  fail "answers other than 201 and 200: $(sort "$TW/refused" | uniq -c | head)"
fi
if grep -E '"db_conflict"|gave up after repeated' "$TW/load.log" >/dev/null; then
  fail "escrowd answered db_conflict or gave up on a transaction"
fi
ok "$acked uploads and $checkins check-ins by $AGENTS agents, none refused"

http GET "$URL/metrics"
expect_status 200 metrics
grep -x 'escrowd_db_transactions_given_up_total 0' "$BODYF" >/dev/null ||
  fail "give-up counter: $(grep given_up "$BODYF")"
grep -x 'escrowd_db_errors_total{kind="serialization"} 0' "$BODYF" >/dev/null ||
  fail "conflicts between devices: $(grep 'kind="serialization"' "$BODYF")"
ok "no serialization failure, give-up counter 0"

# Acknowledged = stored, each with its leaf index, each leaf its event; no
# crash here, so also nothing stored without an acknowledgement.
answers_check "$PRIV_OWN_DSN" "$TW/answers" --exact >"$TW/check" 2>&1 ||
  fail "acknowledged uploads: $(cat "$TW/check")"
ok "every acknowledged upload stored once, at its receipt's leaf index: $(head -n1 "$TW/check")"

for t in escrow_records request_nonces; do
  a=$(app_psql "$PRIV_OWN_DSN" -c "SELECT coalesce(last_analyze, last_autoanalyze)::text IS NULL
        AND (SELECT reltuples FROM pg_class WHERE oid = '$t'::regclass) < 0
        FROM pg_stat_user_tables WHERE relname = '$t'")
  [ "$a" = t ] || fail "$t was analysed during the test: its premise does not hold"
done
stop_daemon load
ok "escrow under load on a never-analysed database"
