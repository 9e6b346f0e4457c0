#!/usr/bin/env bash
# verify_chain()'s time and memory on a log of millions of rows (issue 23 item 4: VmHWM at 1 M and
# 10 M rows), side by side with bench/verify.sh's implementations:
#
#   BENCH_PGENV=<a running cluster's PG* variables> BENCH_BIG_ROWS=10000000 bash bench/verify_big.sh
#
# Writing 10 M rows through append() one transaction a row (as bench/verify.sh writes issue 23's
# log) would take over an hour of both cores here; so the log is grown the way bench/publish.sh
# grows its own: bench/lib/synth_audit_rows --webhook writes the rows append() would write for
# issue 23's log (LAB_STEP_CHECKED, the webhook's 15-key metadata, ~1 KB a row, chain
# 'lab:sess-<seq % chains>', every chain's rows interleaved with all the others'), hashed with
# the extension's own encoding, and a superuser COPYs them into forgea_audit.audit_log 1 M at a
# time: the write guard takes that as a restore and checks every row as it lands (row_hash
# recomputed from its content, the link to its chain's previous row), so every row verifies.
# After each COPY the real integrator, merkle_integrate(), makes them leaves and tiles; at the end
# chain_head is COPYed (checked the same way), a checkpoint() taken, VACUUM ANALYZE.  Then
# bench/verify.sh measures on that database (BENCH_REUSE=1): BENCH_IMPLS (default "new0 new1
# new2 ref"-less: the PL/pgSQL reference has no rows here), BENCH_ROUNDS (1).
#
# Settings: BENCH_BIG_ROWS (10000000), BENCH_BIG_CHAINS (rows / 100), BENCH_DB (verify<rows>),
#   BENCH_LOCK (a lock file taken per growth step and for the measurement, e.g.
#   /tmp/forgea_bench.lock), and bench/verify.sh's (BENCH_IMPLS, BENCH_ROUNDS, BENCH_BASE_SO, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_BIG_ROWS:-10000000}
CHAINS=${BENCH_BIG_CHAINS:-$((ROWS / 100))}
DB=${BENCH_DB:-verify$ROWS}
STEP=1000000
[ -n "${BENCH_PGENV:-}" ] && { set -a; . "$BENCH_PGENV"; set +a; }
locked() { if [ -n "${BENCH_LOCK:-}" ]; then flock "$BENCH_LOCK" "$@"; else "$@"; fi; }
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
WORK=$(mktemp -d /tmp/forgea_verify_big.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
g++ -std=c++17 -O2 -Wall -Wextra -Isrc -o "$WORK/synth_audit_rows" bench/lib/synth_audit_rows.cpp \
    src/core/chain_record.cpp src/core/sha256.cpp
STATE=${BENCH_BIG_STATE:-/tmp/forgea_verify_big_$DB.state}

if ! psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    createdb -E UTF8 -T template0 "$DB"
    q -f test/fixtures/app-schema/lab_session.sql >/dev/null
    q -c 'CREATE EXTENSION forgea_audit'
    rm -f "$STATE"
fi
have=$(q -c "SELECT coalesce(max(seq), 0) FROM forgea_audit.audit_log")
if [ "$have" != 0 ] && [ "$(awk '{ if ($3 > m) m = $3 } END { print m + 0 }' "$STATE" 2>/dev/null)" != "$have" ]; then
    echo "verify_big: $STATE does not match the $have rows in $DB: dropdb $DB and start again" >&2
    exit 1
fi
grow_step() {
    local have=$1 n=$2 t0 t1 t2
    t0=$(date +%s%3N)
    "$WORK/synth_audit_rows" "$STATE" $((have + 1)) "$n" "$CHAINS" --webhook |
        q -c "COPY forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type, action,
              outcome, severity, metadata, user_id, actor_id, target_type, target_id, correlation_id) FROM STDIN"
    t1=$(date +%s%3N)
    q -c "SELECT setval('forgea_audit.audit_log_seq', $((have + n)))" >/dev/null
    q -c "SELECT forgea_audit.merkle_integrate()" >/dev/null
    t2=$(date +%s%3N)
    echo "[$(date -u +%H:%M:%S)] rows $((have + 1))..$((have + n)): copied in $((t1 - t0)) ms, integrated in $((t2 - t1)) ms"
}
if [ "$(q -c "SELECT count(*) FROM forgea_audit.chain_head")" = 0 ]; then
    while [ "$have" -lt "$ROWS" ]; do
        n=$(( ROWS - have < STEP ? ROWS - have : STEP ))
        export -f grow_step q; export WORK STATE CHAINS DB
        locked bash -c "grow_step $have $n"
        have=$(q -c "SELECT coalesce(max(seq), 0) FROM forgea_audit.audit_log")
    done
    "$WORK/synth_audit_rows" "$STATE" --heads "$CHAINS" --webhook |
        q -c "COPY forgea_audit.chain_head (chain_id, length, last_seq, last_hash) FROM STDIN"
    q -c "SELECT setval('forgea_audit.audit_log_seq', $have)" >/dev/null
    q -c "CREATE TABLE bench_note AS SELECT forgea_audit.checkpoint() AS note"
    q -c 'VACUUM ANALYZE forgea_audit.audit_log' -c 'VACUUM ANALYZE forgea_audit.merkle_leaf' -c 'CHECKPOINT'
fi
echo "verify_big: $DB holds $have rows over $CHAINS chains; measuring"
BENCH_REUSE=1 BENCH_DB=$DB BENCH_VERIFY_ROWS=$ROWS BENCH_VERIFY_CHAINS=$CHAINS BENCH_IMPLS=${BENCH_IMPLS:-"new0 new1 new2"} \
    BENCH_ROUNDS=${BENCH_ROUNDS:-1} BENCH_COLD=${BENCH_COLD:-0} locked bash bench/verify.sh
