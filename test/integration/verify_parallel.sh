#!/usr/bin/env bash
# verify_chain()'s parallel pass (forgea_audit.verify_workers, docs/operations.md; the design in
# src/chain/chain_verify.cpp, "The parallel pass"), on a small log where it is forced on:
#   * with two workers asked for and the leader not reading (parallel_leader_participation off),
#     its DEBUG1 line says two workers were launched and checked every row: the path really ran;
#   * on the same rows, intact and after each tamper (in a transaction that is rolled back), the
#     verdict (ok, rows_checked, first_bad_seq, detail) is byte for byte the serial pass's, and the
#     parallel pass's own count and first bad seq of the chain problems (its DEBUG1 line) are those
#     of the serial pass that then words the verdict;
#   * the Merkle walk, which the leader now advances while the workers scan (as their rows
#     arrive): after each tamper of the Merkle tables (a leaf deleted, two swapped, a tile's leaf
#     hash or interior node changed, a checkpoint's or the state's size edited, a leaf naming a
#     missing row), verify_chain() and verify_chain(<checkpoint>) give the serial verdicts byte
#     for byte, with the leader reading blocks too and without;
#   * an error in a worker (a NULL where audit_log is NOT NULL) is the leader's clean ERROR, the
#     same SQLSTATE and message as the serial pass's;
#   * forgea_audit.verify_workers = 0, and the default on a log below min_parallel_table_scan_size:
#     no parallel pass;
#   * the default asks for one worker per CPU beyond the caller's: none with the calling backend
#     pinned to one CPU, one on two CPUs (not max_parallel_workers_per_gather = 2), none with that
#     at 0; an explicit verify_workers = 2 on one CPU is obeyed.
# Runs with PGDATABASE etc. pointing at a fresh database from test/lib/in_cluster.sh; cwd = repo root.
set -uo pipefail
. test/lib/checks.sh
db=$PGDATABASE

# 600 rows over 7 chains, with the webhook's kind of metadata, all of them Merkle leaves.
q "$db" "SELECT count(forgea_audit.append(action => 'LAB_STEP_CHECKED', actor_type => 'webhook', actor_id => 'github',
             target_type => 'lab_step', target_id => g::text, chain => 'lab:sess-' || (g % 7),
             metadata => jsonb_build_object('delivery_id', md5(g::text)::uuid, 'attempt_id', g, 'ref', 'refs/heads/main',
                                            'forced', g % 2 = 0, 'note', repeat('x', g % 50))))
         FROM generate_series(1, 600) g" >/dev/null
q "$db" "CREATE TABLE pv_note AS SELECT forgea_audit.checkpoint() AS note" >/dev/null

# One verify_chain() call with `workers`, after `tamper` (SQL, in the same transaction, rolled back):
# the verdict on stdout, the pass's DEBUG1 lines (verify_chain: ...) in $work/debug.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
verdict() {  # workers, tamper SQL[, parallel_leader_participation (off)[, also verify_chain(<checkpoint>) (no)]]
    local with_note=""
    [ "${4:-no}" = yes ] && with_note="SELECT ok, rows_checked, first_bad_seq, detail FROM forgea_audit.verify_chain((SELECT note FROM pv_note));"
    psql -X -q -A -t -d "$db" 2>"$work/stderr" <<SQL
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
ALTER TABLE forgea_audit.merkle_leaf DISABLE TRIGGER USER;
ALTER TABLE forgea_audit.merkle_tile DISABLE TRIGGER USER;
ALTER TABLE forgea_audit.merkle_checkpoint DISABLE TRIGGER USER;
ALTER TABLE forgea_audit.merkle_state DISABLE TRIGGER USER;
\o /dev/null
$2;
\o
SET LOCAL forgea_audit.verify_workers = $1;
SET LOCAL parallel_leader_participation = ${3:-off};
SET LOCAL client_min_messages = debug1;
SELECT ok, rows_checked, rows_checked = (SELECT count(*) FROM forgea_audit.audit_log), first_bad_seq, detail
FROM forgea_audit.verify_chain();
$with_note
ROLLBACK;
SQL
    grep -o 'verify_chain: .*' "$work/stderr" > "$work/debug"
}

serial=$(verdict 0 "SELECT 1")
check "intact: the serial pass verifies every row the transaction sees" "$(cut -d'|' -f1,3 <<<"$serial")" "t|t"
n=$(cut -d'|' -f2 <<<"$serial")
check "forgea_audit.verify_workers = 0: no parallel pass" "$(grep -c 'parallel pass' "$work/debug")" 0
parallel=$(verdict 2 "SELECT 1")
check "intact: the parallel pass gives the serial verdict, byte for byte" "$parallel" "$serial"
check "... and it ran: two workers launched, the leader out, the workers checked every row" \
    "$(grep -o 'parallel pass with [^;]*' "$work/debug")" "parallel pass with 2 of 2 workers: $n rows, $n of them checked by the workers"
check "... and found nothing, so the log was read once" "$(grep -c 'serial pass' "$work/debug")" 0

# Each tamper: the verdicts agree, and the parallel pass found the chain problems the serial pass did.
tamper() {  # description, SQL
    local s p found redone
    s=$(verdict 0 "$2")
    p=$(verdict 2 "$2")
    check "$1: verify_chain() says not ok" "$(cut -d'|' -f1 <<<"$s")" f
    check "$1: the parallel pass gives the serial verdict, byte for byte" "$p" "$s"
    found=$(sed -n 's/.*the parallel pass found \([0-9]*\) problems, first at seq \([0-9]*\).*/\1 \2/p' "$work/debug")
    redone=$(sed -n 's/.*the serial pass found \([0-9]*\) problems, first at seq \([0-9]*\).*/\1 \2/p' "$work/debug")
    check "$1: the workers ran, and the parallel pass found the serial pass's chain problems (count, first seq)" \
        "$(grep -c 'parallel pass with 2 of 2 workers' "$work/debug") $found" "1 $redone"
}
mid="(SELECT seq FROM forgea_audit.audit_log WHERE chain_id = 'lab:sess-3' ORDER BY chain_pos OFFSET 40 LIMIT 1)"
tamper "one row's metadata changed" \
    "UPDATE forgea_audit.audit_log SET metadata = metadata || '{\"ref\": \"refs/heads/evil\"}' WHERE seq = $mid"
tamper "a row removed" "DELETE FROM forgea_audit.audit_log WHERE seq = $mid"
tamper "a chain's last row removed" \
    "DELETE FROM forgea_audit.audit_log WHERE seq = (SELECT last_seq FROM forgea_audit.chain_head WHERE chain_id = 'lab:sess-5')"
tamper "a whole chain removed" "DELETE FROM forgea_audit.audit_log WHERE chain_id = 'lab:sess-6'"
tamper "a row_hash cut short (the Merkle checks fall back to SQL)" \
    "ALTER TABLE forgea_audit.audit_log DROP CONSTRAINT audit_log_hash_len_check;
     UPDATE forgea_audit.audit_log SET row_hash = '\\x00' WHERE seq = $mid"
tamper "two rows of one chain changed, far apart" \
    "UPDATE forgea_audit.audit_log SET actor_id = 'mallory' WHERE seq IN ($mid, (SELECT max(seq) - 3 FROM forgea_audit.audit_log))"
tamper "the log rewritten in reverse seq order, then one row changed" \
    "CREATE TEMP TABLE saved_log AS SELECT * FROM forgea_audit.audit_log; DELETE FROM forgea_audit.audit_log;
     INSERT INTO forgea_audit.audit_log SELECT * FROM saved_log ORDER BY seq DESC;
     UPDATE forgea_audit.audit_log SET target_id = 'x' WHERE seq = 2"

# The Merkle tables tampered with: the leader walks the tree while the workers scan; the verdicts,
# with and without the checkpoint, are the serial pass's, byte for byte, the leader reading blocks
# of its own (parallel_leader_participation on) or only linking and walking (off).
tamper_merkle() {  # description, SQL
    local s p leader
    s=$(verdict 0 "$2" off yes)
    check "$1: verify_chain() and verify_chain(<checkpoint>) say not ok" "$(cut -d'|' -f1 <<<"$s" | sort -u | tr '\n' ' ')" "f "
    for leader in on off; do
        p=$(verdict 2 "$2" $leader yes)
        check "$1, leader reading $leader: the parallel pass gives the serial verdicts, byte for byte" "$p" "$s"
        check "$1, leader reading $leader: the workers ran" "$(grep -c 'parallel pass with 2 of 2 workers' "$work/debug")" 2
    done
}
tamper_merkle "a leaf in the middle deleted" "DELETE FROM forgea_audit.merkle_leaf WHERE leaf_index = 300"
tamper_merkle "the last leaf deleted" \
    "DELETE FROM forgea_audit.merkle_leaf WHERE leaf_index = (SELECT max(leaf_index) FROM forgea_audit.merkle_leaf)"
tamper_merkle "leaves 5 and 6 swapped" \
    "CREATE TEMP TABLE sw AS SELECT leaf_index, seq FROM forgea_audit.merkle_leaf WHERE leaf_index IN (5, 6);
     UPDATE forgea_audit.merkle_leaf SET seq = -1 WHERE leaf_index = 5;
     UPDATE forgea_audit.merkle_leaf SET seq = (SELECT seq FROM sw WHERE leaf_index = 5) WHERE leaf_index = 6;
     UPDATE forgea_audit.merkle_leaf SET seq = (SELECT seq FROM sw WHERE leaf_index = 6) WHERE leaf_index = 5"
tamper_merkle "a leaf hash byte of the second tile" \
    "UPDATE forgea_audit.merkle_tile SET hashes = set_byte(hashes, 40, (get_byte(hashes, 40) + 1) % 256) WHERE level = 0 AND idx = 1"
tamper_merkle "an interior node byte" \
    "UPDATE forgea_audit.merkle_tile SET interior = set_byte(interior, 64, (get_byte(interior, 64) + 1) % 256) WHERE level = 0 AND idx = 0"
tamper_merkle "the checkpoint's tree_size edited" "UPDATE forgea_audit.merkle_checkpoint SET tree_size = tree_size - 1"
tamper_merkle "merkle_state's tree_size edited" "UPDATE forgea_audit.merkle_state SET tree_size = tree_size + 1"
tamper_merkle "a leaf naming a row that is not there" "UPDATE forgea_audit.merkle_leaf SET seq = 100000 WHERE leaf_index = 450"
tamper_merkle "a leaf's row deleted" \
    "DELETE FROM forgea_audit.audit_log WHERE seq = (SELECT seq FROM forgea_audit.merkle_leaf WHERE leaf_index = 200)"

# An error in a worker: the leader's ERROR, as the serial pass raises it.
null="ALTER TABLE forgea_audit.audit_log ALTER COLUMN actor_type DROP NOT NULL;
      UPDATE forgea_audit.audit_log SET actor_type = NULL WHERE seq = $mid"
err() {  # workers
    psql -X -q -A -t -d "$db" -v VERBOSITY=verbose 2>&1 <<SQL | grep '^ERROR'
\set VERBOSITY verbose
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
$null;
SET LOCAL forgea_audit.verify_workers = $1;
SET LOCAL parallel_leader_participation = off;
SELECT ok FROM forgea_audit.verify_chain();
ROLLBACK;
SQL
}
serial_err=$(err 0)
check "a NULL actor_type: the serial pass raises 23502 naming the column" "$(grep -c '23502.*actor_type' <<<"$serial_err")" 1
check "... and with the workers reading every row, the leader raises the same ERROR" "$(err 2)" "$serial_err"
check "the session is fine afterwards (no worker left, no parallel mode)" \
    "$(psql -X -q -A -t -d "$db" -c "SET forgea_audit.verify_workers = 2" -c "SELECT ok FROM forgea_audit.verify_chain()")" t

# The default (-1) on this small log: below min_parallel_table_scan_size, no parallel pass.
psql -X -q -A -t -d "$db" -c "SET client_min_messages = debug1" -c "SELECT ok FROM forgea_audit.verify_chain()" \
    2>"$work/stderr" >/dev/null
check "the default on a small log: no parallel pass" "$(grep -c 'parallel pass' "$work/stderr")" 0

# With that threshold at 0, the default asks for one worker per CPU beyond the caller's, at most
# max_parallel_workers_per_gather: the calling backend is pinned (taskset, as `taskset -c` pins a
# server started under it, whose backends inherit its CPUs) to the first n CPUs this script may
# run on, then verify_chain() runs in it; its DEBUG1 line says how many workers it asked for and
# how many were launched.  Two workers beside the leader on two CPUs were slower than one
# (docs/benchmarks.md, "verify_chain, round 4").
cpus=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' '\n' |
       awk -F- '{ for (c = $1; c <= ($2 == "" ? $1 : $2); c++) print c }')
cat >"$work/pin.sh" <<'EOF_PIN'
# pid, n, file: pins the process to the first n of the CPUs listed (one a line) in the file.
taskset -pc "$(head -n "$2" "$3" | paste -sd,)" "$1" >/dev/null
EOF_PIN
echo "$cpus" >"$work/cpus"
workers_pinned() {  # n CPUs, settings SQL: the DEBUG1 line's "parallel pass with X of Y workers", or nothing
    psql -X -q -A -t -d "$db" >/dev/null 2>"$work/stderr" <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv FA_PIN_PID :pid
\! bash $work/pin.sh "\$FA_PIN_PID" $1 $work/cpus || echo 'ERROR: taskset failed' >&2
SET client_min_messages = debug1;
SET min_parallel_table_scan_size = 0;
$2
SELECT ok FROM forgea_audit.verify_chain();
SQL
    grep -q '^ERROR' "$work/stderr" && cat "$work/stderr"
    grep -o 'parallel pass with [0-9]* of [0-9]* workers' "$work/stderr"
}
check "the default, the caller on one CPU: no parallel pass" "$(workers_pinned 1 "")" ""
check "verify_workers = 2 on one CPU: obeyed, two workers" \
    "$(workers_pinned 1 "SET forgea_audit.verify_workers = 2;")" "parallel pass with 2 of 2 workers"
if [ "$(wc -l <"$work/cpus")" -ge 2 ]; then
    check "the default, the caller on two CPUs: one worker (max_parallel_workers_per_gather = 2)" \
        "$(workers_pinned 2 "SET max_parallel_workers_per_gather = 2;")" "parallel pass with 1 of 1 workers"
    check "the default on two CPUs with max_parallel_workers_per_gather = 0: no parallel pass" \
        "$(workers_pinned 2 "SET max_parallel_workers_per_gather = 0;")" ""
else
    echo "# skipped (not passed): the default on two CPUs; this script may run on one CPU only"
fi

# The Merkle map's arrays in huge pages (pg/huge_pages.hpp): its row hashes are one slot a seq from
# the lowest to the highest, so a gap of 200,000 seqs (as a sequence may have: rollbacks, a setval)
# makes them 6.4 MB, three 2 MB pages of which lie wholly inside.  Where the kernel offers
# transparent huge pages on request (enabled = madvise or always) at least two are asked for;
# where it says never, none.  The verdict is the same either way.
q "$db" "SELECT setval('forgea_audit.audit_log_seq', 200000)" >/dev/null
q "$db" "SELECT forgea_audit.append(action => 'LAB_STEP_CHECKED', actor_type => 'webhook', actor_id => 'github',
             target_type => 'lab_step', target_id => 'after-the-gap', chain => 'lab:sess-0')" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
psql -X -q -A -t -d "$db" >"$work/out" 2>"$work/stderr" <<SQL
SET client_min_messages = debug1;
SELECT ok, rows_checked = (SELECT count(*) FROM forgea_audit.audit_log) FROM forgea_audit.verify_chain();
SQL
check "a log with a gap of 200,000 seqs verifies, every row" "$(cat "$work/out")" "t|t"
kb=$(grep -o 'huge pages asked for [0-9]* kB' "$work/stderr" | grep -o '[0-9]*')
case $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null) in
    *'[always]'*|*'[madvise]'*)
        check "huge pages asked for the 6.4 MB map (at least 4096 kB; got '${kb}')" "$([ -n "$kb" ] && [ "$kb" -ge 4096 ] && echo yes)" yes ;;
    *)
        check "no transparent huge pages here: none asked for" "$kb" "0" ;;
esac

exit $((failures > 0))
