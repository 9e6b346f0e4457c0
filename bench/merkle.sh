#!/usr/bin/env bash
# The transparency log's numbers (docs/benchmarks.md, "Transparency log"), in a throwaway cluster
# that preloads the library (the worker integrates when forgea_audit.merkle_interval > 0):
#   1. integrator throughput: ROWS real audit rows (append()), then one merkle_integrate() over them;
#   2. growth to TOTAL leaves (default 10 M) with synthetic audit rows inserted directly (the
#      integrator reads only seq and row_hash; the guards are switched off for the load and the rows
#      do not verify: this database is for measuring the tree, nothing else), integrated 1 M rows
#      per call; then inclusion_proof() / consistency_proof() latency at TOTAL leaves (2000 random
#      leaves, after one warm pass) and what a checkpoint costs with 0 and with 1000 new rows;
#   3. record_push() throughput under pgbench (4 clients, GitHub payloads from bench/setup.sql, 10%
#      redeliveries) with the worker's integrator off and on (merkle_interval 0 / 1s), ABBA rounds,
#      each round after the worker's state was checked (running or not), in database "push".
# Run as root from the repository root, after make install, under the bench lock:
#   flock /tmp/forgea_bench.lock bash bench/merkle.sh
# Settings: BENCH_MERKLE_ROWS (200000), BENCH_MERKLE_TOTAL (10000000), BENCH_MERKLE_SECS (20),
#           BENCH_MERKLE_ROUNDS (2: ABBA twice), PORT (6245).
set -euo pipefail
ROWS=${BENCH_MERKLE_ROWS:-200000}
TOTAL=${BENCH_MERKLE_TOTAL:-10000000}
SECS=${BENCH_MERKLE_SECS:-20}
ROUNDS=${BENCH_MERKLE_ROUNDS:-2}
PORT=${PORT:-6245}
if [ "${1:-}" != inner ]; then
    export ROWS TOTAL SECS ROUNDS
    exec pg_virtualenv -t -v 15 -c "--port=$PORT" -o shared_preload_libraries=forgea_audit \
        -o forgea_audit.database=push -o forgea_audit.merkle_interval=0 -o forgea_audit.retention_interval=0 \
        -o shared_buffers=512MB -o max_wal_size=8GB -o checkpoint_timeout=30min -o synchronous_commit=on -o fsync=on \
        bash "$0" inner
fi
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
createdb -E UTF8 -T template0 bench
psql -X -q -d bench -c "CREATE EXTENSION forgea_audit" >/dev/null
q() { psql -X -q -A -t -d bench -c "$1"; }
ms() { date +%s%3N; }

echo "# 1. integrator: $ROWS rows appended (append(), 1000 chains), then integrated in one call"
q "SELECT count(*) FROM (SELECT forgea_audit.append('BENCH_ROW', metadata => jsonb_build_object('n', n),
                                                    chain => 'bench:' || (n % 1000))
                         FROM generate_series(1, $ROWS) n) x" >/dev/null
q "CHECKPOINT" >/dev/null
t0=$(ms); n=$(q "SELECT forgea_audit.merkle_integrate()"); t1=$(ms)
echo "integrate_rows=$n integrate_ms=$((t1 - t0)) rows_per_s=$(( n * 1000 / (t1 - t0 + 1) ))"

echo "# 2. growth to $TOTAL leaves with synthetic rows, 1 M per integrate call"
# The DDL guard (an event trigger) refuses DISABLE TRIGGER on audit_log since the restore checks:
# switched off here, in this throwaway database only (ALTER EVENT TRIGGER fires no event trigger).
q "DO \$\$ DECLARE e name; BEGIN FOR e IN SELECT evtname FROM pg_event_trigger LOOP
       EXECUTE format('ALTER EVENT TRIGGER %I DISABLE', e); END LOOP; END \$\$" >/dev/null
q "ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER" >/dev/null
have=$(q "SELECT count(*) FROM forgea_audit.audit_log")
while [ "$have" -lt "$TOTAL" ]; do
    step=$(( TOTAL - have < 1000000 ? TOTAL - have : 1000000 ))
    base=$(q "SELECT coalesce(max(seq), 0) FROM forgea_audit.audit_log")
    q "INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type, action, outcome, severity)
       SELECT s, 'synth:' || (s % 1000), s / 1000 + 1, '\\x$(printf '0%.0s' {1..64})'::bytea, sha256(int8send(s)), now(),
              'system', 'BENCH_SYNTH', 'success', 'INFO'
       FROM generate_series($base + 1, $base + $step) s" >/dev/null
    q "SELECT setval('forgea_audit.audit_log_seq', $base + $step)" >/dev/null
    q "CHECKPOINT" >/dev/null
    t0=$(ms); n=$(q "SELECT forgea_audit.merkle_integrate()"); t1=$(ms)
    have=$((have + step))
    echo "leaves=$have integrate_rows=$n integrate_ms=$((t1 - t0)) rows_per_s=$(( n * 1000 / (t1 - t0 + 1) ))"
done
# The guards back as the install script sets them (ENABLE ALWAYS).
q "DO \$\$ DECLARE t name; BEGIN FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'forgea_audit.audit_log'::regclass AND NOT tgisinternal LOOP
       EXECUTE format('ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER %I', t); END LOOP; END \$\$" >/dev/null
q "DO \$\$ DECLARE e name; BEGIN FOR e IN SELECT evtname FROM pg_event_trigger LOOP
       EXECUTE format('ALTER EVENT TRIGGER %I ENABLE', e); END LOOP; END \$\$" >/dev/null
q "VACUUM ANALYZE forgea_audit.merkle_tile" >/dev/null; q "VACUUM ANALYZE forgea_audit.merkle_leaf" >/dev/null
size=$(q "SELECT tree_size FROM forgea_audit.merkle_state")
psql -X -q -A -t -d bench <<SQL
CREATE TEMP TABLE picks AS SELECT seq FROM forgea_audit.merkle_leaf WHERE leaf_index IN
    (SELECT (random() * ($size - 1))::bigint FROM generate_series(1, 2000));
SELECT count(*) FROM picks, LATERAL forgea_audit.inclusion_proof(picks.seq, $size) p;   -- warm the cache
DO \$\$
DECLARE t0 timestamptz; n int; len int; per_call numeric[] := '{}'; s bigint;
BEGIN
    -- One call at a time, timed one by one: the median and the 99th percentile.
    FOR s IN SELECT seq FROM picks LOOP
        t0 := clock_timestamp();
        PERFORM * FROM forgea_audit.inclusion_proof(s, $size);
        per_call := per_call || (extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric;
    END LOOP;
    SELECT max(cardinality(p.proof)) INTO len FROM (SELECT seq FROM picks LIMIT 10) x, LATERAL forgea_audit.inclusion_proof(x.seq, $size) p;
    RAISE NOTICE 'inclusion_proof tree_size=$size proofs=% proof_len=% median_ms=% p99_ms=%', cardinality(per_call), len,
        round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(per_call) v)::numeric, 4),
        round((SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY v) FROM unnest(per_call) v)::numeric, 4);
    t0 := clock_timestamp();
    PERFORM forgea_audit.consistency_proof(($size / 3) + g, $size) FROM generate_series(1, 200) g;
    RAISE NOTICE 'consistency_proof mean_ms=%', round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000 / 200, 4);
END
\$\$;
SQL
t0=$(ms); q "SELECT forgea_audit.checkpoint()" >/dev/null; t1=$(ms)
echo "checkpoint at $size leaves, integrating what is left: ms=$((t1 - t0))"
t0=$(ms); q "SELECT forgea_audit.checkpoint()" >/dev/null; t1=$(ms)
echo "checkpoint with nothing new: ms=$((t1 - t0))"
q "SELECT count(*) FROM (SELECT forgea_audit.append('BENCH_ROW', chain => 'late:' || (n % 10)) FROM generate_series(1, 1000) n) x" >/dev/null
t0=$(ms); q "SELECT forgea_audit.checkpoint()" >/dev/null; t1=$(ms)
echo "checkpoint with 1000 new rows: ms=$((t1 - t0))"
q "SELECT 'storage: merkle_tile ' || pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_tile')) || ', merkle_leaf ' || pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_leaf')) || ', audit_log ' || pg_size_pretty(pg_total_relation_size('forgea_audit.audit_log')) || ' for ' || (SELECT tree_size FROM forgea_audit.merkle_state) || ' leaves'"
dropdb bench

echo "# 3. record_push() under pgbench (4 clients, ${SECS}s rounds): integrator off / on / on / off, x$ROUNDS"
createdb -E UTF8 -T template0 push
psql -X -q -d push -v nforks=200 -v npayloads=2000 \
     -v fixture="$(cat test/fixtures/github/push/api-with-new-branch.payload.json)" -f bench/setup.sql >/dev/null
psql -X -q -d push -c "CREATE EXTENSION forgea_audit" >/dev/null
cat > /tmp/merkle_bench_push.pgbench <<'PGB'
\set r random(1, 100)
\if :r <= 10 and :n > 0
\set k random(1, :n)
\else
\set n :n + 1
\set k :n
\endif
\set pid 1 + abs(hash(:client_id * 1000003 + :k)) % 2000
\set cid :client_id + :cbase
SELECT status FROM forgea_audit.record_push((SELECT body FROM bench.payload WHERE id = :pid)::jsonb, bench.guid(:cid, :k));
PGB
qp() { psql -X -q -A -t -d push -c "$1"; }
set_interval() {  # interval, then wait until the worker is (1s) or is not integrating
    qp "ALTER SYSTEM SET forgea_audit.merkle_interval = '$1'" >/dev/null
    qp "SELECT pg_reload_conf()" >/dev/null
    local want i
    want=$([ "$1" = 0 ] && echo 0 || echo 1)
    for ((i = 0; i < 40; i++)); do
        [ "$(qp "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")" = "$want" ] && break
        sleep 0.5
    done
    qp "SELECT forgea_audit.merkle_integrate()" >/dev/null   # start each round with the tree caught up
    qp "CHECKPOINT" >/dev/null
    echo "worker processes now: $(qp "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'") (wanted $want)"
}
r=0
round() {  # label interval
    set_interval "$2"
    r=$((r + 1))
    local out tps lat before after
    before=$(qp "SELECT tree_size FROM forgea_audit.merkle_state")
    out=$(pgbench -n -M prepared -c 4 -j 2 -T "$SECS" -D n=0 -D cbase=$((r * 100000)) -f /tmp/merkle_bench_push.pgbench push 2>/dev/null)
    tps=$(echo "$out" | awk '/^tps/ { print $3; exit }')
    lat=$(echo "$out" | awk '/^latency average/ { print $4; exit }')
    after=$(qp "SELECT tree_size FROM forgea_audit.merkle_state")
    echo "round=$1 merkle_interval=$2 tps=$tps latency_avg_ms=$lat leaves_integrated_during_round=$((after - before)) rows_not_yet_leaves_at_end=$(qp "SELECT (SELECT count(*) FROM forgea_audit.audit_log) - tree_size FROM forgea_audit.merkle_state")"
}
for ((k = 0; k < ROUNDS; k++)); do
    round A 0
    round B 1s
    round B 1s
    round A 0
done
