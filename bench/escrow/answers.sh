# shellcheck shell=bash
# bench/escrow/answers.sh - sourced: reading bench-escrow's `-o` file (one
# line per answer, `201 RECORD LEAF` for an acknowledged upload) during and
# after a run.  Used by bench/chaos/run.sh and by tests/server/
# t_escrow_load.sh and t_escrow_crash.sh, so that the proof of "nothing
# acknowledged is lost" is written once.  Needs psql, and the owner's DSN:
# the app role cannot read audit_log's leaves.

# answers_check OWNER_DSN ANSWERS [--exact]: proves every acknowledged
# upload is kept.  Prints
#
#   acknowledged N, found F, lost L, duplicated D
#   stored without an acknowledgement U, leaf index not stored K
#
# then up to 5 lost records with what was found of them.  An acknowledged
# record is found when its row is in escrow_records and the audit leaf at
# its receipt's leaf index is that record's escrow.store event.  The row's
# own leaf_index must be that index or NULL: escrowd stores it after the
# leaf is sequenced with asynchronous commit, so a PostgreSQL crash may lose
# it (srv_dk_find_leaf() finds it again on a re-upload).  Duplicated counts
# a record acknowledged twice, a record with two escrow.store leaves and a
# volume stored twice (bench-escrow uploads every record under a new
# volume).  Returns 1 if L or D is not 0; with --exact (a run without a
# crash) also if U or K is not 0: every record stored was acknowledged,
# with its index stored.
answers_check() {
  local dsn=$1 file=$2 exact=${3:-} out n found lost dup unacked noleaf
  out=$(awk '$1 == 201 { print $2 " " $3 }' "$file" |
    psql -X -q -At -F' ' -v ON_ERROR_STOP=1 "$dsn" -f /dev/fd/3 3<<'SQL'
CREATE TEMP TABLE acked (id text NOT NULL, leaf bigint NOT NULL);
\copy acked FROM pstdin WITH (DELIMITER ' ')
CREATE TEMP TABLE leaves AS
  SELECT substr(e->>'object', 8) AS id, seq FROM audit_log,
         LATERAL (SELECT convert_from(leaf, 'UTF8')::json) AS l(e)
   WHERE e->>'action' = 'escrow.store';
CREATE TEMP TABLE found AS
  SELECT DISTINCT a.id FROM acked a
    JOIN escrow_records r ON r.id = a.id AND (r.leaf_index IS NULL OR r.leaf_index = a.leaf)
    JOIN leaves l ON l.id = a.id AND l.seq = a.leaf;
SELECT (SELECT count(*) FROM acked),
       (SELECT count(*) FROM found),
       (SELECT count(DISTINCT id) FROM acked) - (SELECT count(*) FROM found),
       (SELECT count(*) - count(DISTINCT id) FROM acked)
       + (SELECT count(*) - count(DISTINCT id) FROM leaves)
       + (SELECT count(*) - count(DISTINCT (device_id, volume_id)) FROM escrow_records),
       (SELECT count(*) FROM escrow_records WHERE id NOT IN (SELECT id FROM acked)),
       (SELECT count(*) FROM escrow_records WHERE leaf_index IS NULL
                                              AND id IN (SELECT id FROM acked));
SELECT 'lost: ' || a.id || ' at leaf ' || a.leaf
       || CASE WHEN r.id IS NULL THEN ', no record row'
               ELSE ', row''s leaf_index ' || coalesce(r.leaf_index::text, 'NULL') END
       || ', escrow.store leaf ' || coalesce((SELECT string_agg(seq::text, ',') FROM leaves l
                                                WHERE l.id = a.id), 'none')
  FROM acked a LEFT JOIN escrow_records r ON r.id = a.id
 WHERE a.id NOT IN (SELECT id FROM found) LIMIT 5;
SQL
  ) || return 1
  read -r n found lost dup unacked noleaf <<<"$(head -n1 <<<"$out")"
  echo "acknowledged $n, found $found, lost $lost, duplicated $dup"
  echo "stored without an acknowledgement $unacked, leaf index not stored $noleaf"
  tail -n +2 <<<"$out"
  [ "$lost" = 0 ] && [ "$dup" = 0 ] || return 1
  [ -z "$exact" ] || { [ "$unacked" = 0 ] && [ "$noleaf" = 0 ]; }
}

# answers_last_leaf OWNER_DSN: the audit log's last leaf index (-1 if empty).
# Read once a fault has struck, every acknowledgement still to come with a
# larger index was answered after the fault.
answers_last_leaf() {
  psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "SELECT coalesce(max(seq), -1) FROM audit_log"
}

# answers_wait ANSWERS AFTER_LEAF N TIMEOUT_S: waits until the file holds N
# acknowledgements with a leaf index above AFTER_LEAF; returns 1 after
# TIMEOUT_S seconds without.
answers_wait() {
  local file=$1 after=$2 want=$3 end=$((SECONDS + $4)) n=0
  while :; do
    [ ! -f "$file" ] ||  # not there until bench-escrow has started
      n=$(awk -v a="$after" '$1 == 201 && $3 > a { n++ } END { print n + 0 }' "$file")
    [ "$n" -lt "$want" ] || return 0
    [ $SECONDS -lt $end ] || return 1
    sleep 0.02
  done
}
