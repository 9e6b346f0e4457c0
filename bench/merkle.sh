#!/usr/bin/env bash
# The transparency log's numbers (docs/benchmarks.md, "Transparency log"), short, in a throwaway
# cluster that preloads the library (the worker integrates when forgea_audit.merkle_interval > 0):
#   1. integrator throughput: ROWS audit rows appended, then one merkle_integrate() over all of them;
#   2. inclusion_proof() latency at the largest tree (TOTAL leaves), 2000 random leaves;
#   3. append() throughput under pgbench with the worker's integrator off, then on (ABBA rounds).
# Run as root from the repository root, after make install, under the bench lock:
#   flock /tmp/forgea_bench.lock bash bench/merkle.sh
# Settings: BENCH_MERKLE_ROWS (200000), BENCH_MERKLE_TOTAL (1000000), BENCH_MERKLE_SECS (10), PORT (6245).
set -euo pipefail
ROWS=${BENCH_MERKLE_ROWS:-200000}
TOTAL=${BENCH_MERKLE_TOTAL:-1000000}
SECS=${BENCH_MERKLE_SECS:-10}
PORT=${PORT:-6245}
if [ "${1:-}" != inner ]; then
    export ROWS TOTAL SECS
    exec pg_virtualenv -t -v 15 -c "--port=$PORT" -o shared_preload_libraries=forgea_audit \
        -o forgea_audit.database=bench -o forgea_audit.merkle_interval=0 -o forgea_audit.retention_interval=0 \
        -o shared_buffers=256MB -o max_wal_size=4GB -o synchronous_commit=off \
        bash "$0" inner
fi
createdb -E UTF8 -T template0 bench
psql -X -q -d bench -c "CREATE EXTENSION forgea_audit" >/dev/null
q() { psql -X -q -A -t -d bench -c "$1"; }
ms() { date +%s%3N; }
append_rows() {  # how many
    q "SELECT count(*) FROM (SELECT forgea_audit.append('BENCH_ROW', metadata => jsonb_build_object('n', n),
                                                         chain => 'bench:' || (n % 1000))
                             FROM generate_series(1, $1) n) x" >/dev/null
}

echo "# 1. integrator: $ROWS rows appended, then integrated in one call"
append_rows "$ROWS"
t0=$(ms); n=$(q "SELECT forgea_audit.merkle_integrate()"); t1=$(ms)
echo "integrate_rows=$n integrate_ms=$((t1 - t0)) rows_per_s=$(( n * 1000 / (t1 - t0 + 1) ))"

echo "# 2. inclusion_proof latency at $TOTAL leaves"
left=$((TOTAL - ROWS))
while [ "$left" -gt 0 ]; do
    step=$(( left < 200000 ? left : 200000 ))
    append_rows "$step"
    t0=$(ms); n=$(q "SELECT forgea_audit.merkle_integrate()"); t1=$(ms)
    echo "integrate_rows=$n integrate_ms=$((t1 - t0)) rows_per_s=$(( n * 1000 / (t1 - t0 + 1) ))"
    left=$((left - step))
done
q "VACUUM ANALYZE forgea_audit.merkle_tile" >/dev/null; q "VACUUM ANALYZE forgea_audit.merkle_leaf" >/dev/null
size=$(q "SELECT tree_size FROM forgea_audit.merkle_state")
psql -X -q -A -t -d bench <<SQL
CREATE TEMP TABLE picks AS SELECT seq FROM forgea_audit.merkle_leaf WHERE leaf_index IN
    (SELECT (random() * ($size - 1))::bigint FROM generate_series(1, 2000));
SELECT count(*) FROM picks, LATERAL forgea_audit.inclusion_proof(picks.seq, $size) p;   -- warm the cache
DO \$\$
DECLARE t0 timestamptz := clock_timestamp(); n int; len int;
BEGIN
    SELECT count(*), max(cardinality(p.proof)) INTO n, len FROM picks, LATERAL forgea_audit.inclusion_proof(picks.seq, $size) p;
    RAISE NOTICE 'tree_size=$size proofs=% proof_len_max=% mean_ms=%', n, len,
        round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000 / n, 4);
    t0 := clock_timestamp();
    PERFORM forgea_audit.consistency_proof($size / 3, $size) FROM generate_series(1, 200);
    RAISE NOTICE 'consistency_proof mean_ms=%', round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000 / 200, 4);
    t0 := clock_timestamp();
    PERFORM forgea_audit.checkpoint();
    RAISE NOTICE 'checkpoint with nothing to integrate: ms=%', round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 2);
END
\$\$;
SQL
q "SELECT 'storage: merkle_tile ' || pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_tile')) || ', merkle_leaf ' || pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_leaf')) || ', audit_log ' || pg_size_pretty(pg_total_relation_size('forgea_audit.audit_log')) || ' for ' || (SELECT tree_size FROM forgea_audit.merkle_state) || ' leaves'"

echo "# 3. append() under pgbench (4 clients, ${SECS}s rounds): integrator off / on / on / off"
cat > /tmp/merkle_bench_append.pgbench <<'PGB'
\set c random(1, 5000)
SELECT forgea_audit.append('BENCH_PUSH', metadata => '{"k": 1}', chain => 'push:' || :c);
PGB
set_interval() {
    q "ALTER SYSTEM SET forgea_audit.merkle_interval = '$1'" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    sleep 1
}
round() {  # label interval
    set_interval "$2"
    local tps
    tps=$(pgbench -n -M prepared -c 4 -j 2 -T "$SECS" -f /tmp/merkle_bench_append.pgbench bench 2>/dev/null \
          | awk '/^tps/ { print $3; exit }')
    local behind
    behind=$(q "SELECT (SELECT count(*) FROM forgea_audit.audit_log) - tree_size FROM forgea_audit.merkle_state")
    echo "round=$1 merkle_interval=$2 tps=$tps rows_not_yet_leaves_at_end=$behind"
}
round A 0
round B 1s
round B 1s
round A 0
