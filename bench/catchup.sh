#!/usr/bin/env bash
# verify_increment()'s first catch-up (issue 23, item 2; docs/benchmarks.md, "Catch-up"), in a
# throwaway cluster, one command:
#   flock /tmp/forgea_bench.lock bash bench/catchup.sh        (as root, after make install)
#   1. the log of the issue: ROWS audit rows (400,000) in CHAINS chains (4,000), written by two
#      concurrent sessions (so the chains interleave), each row with 15 metadata keys as the
#      webhook writes them; then merkle_integrate() and checkpoint(), VACUUM ANALYZE, a warm read;
#   2. side by side in this run: verify_chain() over the log, then the first verify_increment()
#      (rows/s of both), then verify_increment() with nothing new (median of 5);
#   3. record_push p99 under pgbench (8 clients, GitHub payloads from bench/setup.sql) in windows
#      of SECS seconds, idle / during back-to-back catch-ups / idle / during, in one run: each
#      catch-up of the window starts from size 0 again (merkle_verified put back to its initial
#      row, guards off for that UPDATE only, in this throwaway database); the integrator runs
#      merkle_integrate() every 0.2 s beside it, and the longest wait it saw for merkle_state is
#      reported (how long a catch-up held the integrator's lock).
# Settings: BENCH_CATCHUP_ROWS (400000), BENCH_CATCHUP_CHAINS (4000), BENCH_CATCHUP_SECS (15),
#           PORT (5650).
set -euo pipefail
ROWS=${BENCH_CATCHUP_ROWS:-400000}
CHAINS=${BENCH_CATCHUP_CHAINS:-4000}
SECS=${BENCH_CATCHUP_SECS:-15}
PORT=${PORT:-5650}
if [ "${1:-}" != inner ]; then
    export ROWS CHAINS SECS
    exec pg_virtualenv -t -v 15 -c "--port=$PORT" -o shared_buffers=512MB -o max_wal_size=8GB \
        -o checkpoint_timeout=30min -o synchronous_commit=on -o fsync=on -o max_connections=50 \
        bash "$0" inner
fi
echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
createdb -E UTF8 -T template0 cu
psql -X -q -d cu -v nforks=200 -v npayloads=2000 \
     -v fixture="$(cat test/fixtures/github/push/api-with-new-branch.payload.json)" -f bench/setup.sql >/dev/null
psql -X -q -d cu -c "CREATE EXTENSION forgea_audit" >/dev/null
q() { psql -X -q -A -t -d cu -c "$1"; }
ms() { date +%s%3N; }

echo "# 1. $ROWS rows in $CHAINS chains, two concurrent writers"
half=$((ROWS / 2))
load() {  # $1: 0 or 1 (the writer), its chains are those of its parity
    psql -X -q -A -t -d cu -c "SELECT count(forgea_audit.append('BENCH_PUSH', chain => 'bench:' || ((g * 2 + $1) % $CHAINS),
        target_type => 'bench_attempt', target_id => g::text, user_id => 'student-' || (g % 997),
        metadata => jsonb_build_object('delivery_id', md5(g::text), 'repository', 'org/repo-' || (g % 211),
            'ref', 'refs/heads/main', 'before', md5('b' || g), 'after', md5('a' || g), 'pusher', 'user' || (g % 997),
            'commits', g % 7, 'forced', g % 13 = 0, 'created', false, 'deleted', false, 'head_message', 'fix step ' || g,
            'lab_id', 'lab-' || (g % 17), 'session_status', 'IN_PROGRESS', 'received_at', '2026-12-06T22:00:00Z',
            'size_bytes', 1000 + g % 5000))) FROM generate_series(1, $half) g" >/dev/null
}
t0=$(ms); load 0 & load 1 & wait; t1=$(ms)
echo "load_ms=$((t1 - t0))"
t0=$(ms); q "SELECT forgea_audit.merkle_integrate()" >/dev/null; q "SELECT forgea_audit.checkpoint()" >/dev/null; t1=$(ms)
echo "integrate_and_checkpoint_ms=$((t1 - t0))"
q "VACUUM ANALYZE" >/dev/null
q "SELECT count(*), sum(length(metadata::text)) FROM forgea_audit.audit_log" >/dev/null   # warm

echo "# 2. verify_chain() and the first verify_increment(), same log, same run"
n=$(q "SELECT count(*) FROM forgea_audit.audit_log")
t0=$(ms); vc=$(q "SELECT ok FROM forgea_audit.verify_chain()"); t1=$(ms)
echo "verify_chain ok=$vc rows=$n ms=$((t1 - t0)) rows_per_s=$(( n * 1000 / (t1 - t0 + 1) ))"
t0=$(ms); vi=$(q "SELECT ok || ' ' || rows_checked FROM forgea_audit.verify_increment()"); t1=$(ms)
r=${vi#* }
echo "first_verify_increment ok=${vi% *} rows=$r ms=$((t1 - t0)) rows_per_s=$(( r * 1000 / (t1 - t0 + 1) ))"
idle=()
for i in 1 2 3 4 5; do
    t0=$(ms); q "SELECT ok FROM forgea_audit.verify_increment()" >/dev/null; t1=$(ms); idle+=($((t1 - t0)))
done
echo "verify_increment_nothing_new_ms=$(printf '%s\n' "${idle[@]}" | sort -n | sed -n 3p) (all: ${idle[*]})"

echo "# 3. record_push p99, 8 clients, ${SECS}s windows: idle, catch-ups, idle, catch-ups"
cat > /tmp/catchup_bench_push.pgbench <<'PGB'
\set k random(1, 1000000000)
\set pid 1 + abs(hash(:client_id * 1000003 + :k)) % 2000
SELECT status FROM forgea_audit.record_push((SELECT body FROM bench.payload WHERE id = :pid)::jsonb, bench.guid(:client_id + 100, :k));
PGB
# A catch-up from size 0, again and again, until the file $1 disappears.
catchups() {
    local n=0
    while [ -e "$1" ]; do
        psql -X -q -A -t -d cu >/dev/null <<'SQL'
ALTER TABLE forgea_audit.merkle_verified DISABLE TRIGGER USER;
UPDATE forgea_audit.merkle_verified SET tree_size = 0, frontier = '\x',
    root = '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
ALTER TABLE forgea_audit.merkle_verified ENABLE ALWAYS TRIGGER merkle_verified_guard_rows;
ALTER TABLE forgea_audit.merkle_verified ENABLE ALWAYS TRIGGER merkle_verified_guard_truncate;
SELECT ok FROM forgea_audit.verify_increment();
SQL
        n=$((n + 1))
    done
    echo "$n" > "$1.count"
}
# The integrator every 0.2 s, in one session (a DO block committing after each call) until
# bench.stop has a row; prints its longest merkle_integrate() call in ms.
q "CREATE TABLE bench.stop (round text)"
integrator() {
    psql -X -q -A -t -d cu -c "DO \$\$
DECLARE t0 timestamptz; worst double precision := 0;
BEGIN
    LOOP
        EXIT WHEN EXISTS (SELECT FROM bench.stop WHERE round = '$1');
        t0 := clock_timestamp();
        PERFORM forgea_audit.merkle_integrate();
        worst := greatest(worst, extract(epoch FROM clock_timestamp() - t0) * 1000);
        COMMIT;
        PERFORM pg_sleep(0.2);
    END LOOP;
    RAISE NOTICE 'worst=%', round(worst::numeric, 1);
END \$\$" 2>&1 | sed -n 's/.*worst=//p' > "$dir/$1.max"
}
p99() {  # pgbench per-transaction log lines: client txno latency_us ...
    cat "$@" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}'
}
dir=$(mktemp -d); chmod 777 "$dir"
declare -A P99 TPS
for round in idle1 catchup1 idle2 catchup2; do
    flag=$dir/$round.running; touch "$flag"
    integrator "$round" & ipid=$!
    case $round in catchup*) catchups "$flag" & cpid=$! ;; esac
    (cd "$dir" && pgbench -n -c 8 -j 2 -T "$SECS" -f /tmp/catchup_bench_push.pgbench -l --log-prefix="$round.log" cu > "$round.out" 2>&1)
    rm -f "$flag"; q "INSERT INTO bench.stop VALUES ('$round')"; wait $ipid; case $round in catchup*) wait $cpid ;; esac
    P99[$round]=$(p99 "$dir/$round.log".*)
    TPS[$round]=$(grep -o 'tps = [0-9.]*' "$dir/$round.out" | head -1 | cut -d' ' -f3)
    extra=""; [ -e "$flag.count" ] && extra=" catchups=$(cat "$flag.count")"
    echo "$round record_push_p99_ms=${P99[$round]} tps=${TPS[$round]} integrator_longest_call_ms=$(cat "$dir/$round.max")$extra"
done
awk -v a="${P99[idle1]}" -v b="${P99[idle2]}" -v c="${P99[catchup1]}" -v d="${P99[catchup2]}" \
    'BEGIN { idle = (a + b) / 2; busy = (c + d) / 2; printf "p99 idle=%.2f ms, during catch-ups=%.2f ms, ratio=%.2f (target <= 1.5)\n", idle, busy, busy / idle }'
q "SELECT ok FROM forgea_audit.verify_chain()" | sed 's/^/verify_chain at the end: ok=/'
rm -rf "$dir"
dropdb cu
