#!/usr/bin/env bash
# record_push() throughput with everything on (issue 22, item 5; docs/benchmarks.md, "Everything
# on"), one command, as root from the repository root after make install and make tools:
#   flock /tmp/forgea_bench.lock bash bench/everything_on.sh
# A throwaway cluster preloading the library (its worker serves database "push", checkpoints
# signed with a throwaway key).  pgbench runs record_push() (GitHub payloads from bench/setup.sql,
# 10% redeliveries) at 1 and at 8 clients, SECS seconds a round, in ABBA order ROUNDS times:
#   off: the worker's integrator, checkpoints and incremental verification off, no publisher;
#   on:  forgea_audit.merkle_interval = 1s, checkpoint_interval = 5s, verify_interval = 1s, and
#        tools/forgea_audit_publish --out DIR run every second (a loop beside pgbench).
# Each round starts once the worker's settings are applied (a new session sees them) and, for on,
# the publisher has published once.  Prints every round, then per client count the median tps of
# each mode and on/off (target >= 0.95), and what the on rounds did (checkpoints made, verified
# size, publisher runs).
# Settings: BENCH_ON_SECS (15), BENCH_ON_ROUNDS (1: off on on off), BENCH_ON_CLIENTS ("1 8"), PORT (5650).
set -euo pipefail
SECS=${BENCH_ON_SECS:-15}
ROUNDS=${BENCH_ON_ROUNDS:-1}
CLIENTS=${BENCH_ON_CLIENTS:-"1 8"}
PORT=${PORT:-5650}
if [ "${1:-}" != inner ]; then
    [ -x tools/forgea_audit_publish ] || { echo "run make tools first" >&2; exit 2; }
    export SECS ROUNDS CLIENTS
    exec pg_virtualenv -t -v 15 -c "--port=$PORT" -o shared_preload_libraries=forgea_audit \
        -o forgea_audit.database=push -o forgea_audit.merkle_interval=0 -o forgea_audit.retention_interval=0 \
        -o shared_buffers=512MB -o max_wal_size=8GB -o checkpoint_timeout=30min -o synchronous_commit=on -o fsync=on \
        bash "$0" inner
fi
echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
work=$(mktemp -d); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
createdb -E UTF8 -T template0 push
psql -X -q -d push -v nforks=200 -v npayloads=2000 \
     -v fixture="$(cat test/fixtures/github/push/api-with-new-branch.payload.json)" -f bench/setup.sql >/dev/null
psql -X -q -d push -c "CREATE EXTENSION forgea_audit" >/dev/null
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
chmod 600 "$work/key.pem"; chown postgres: "$work/key.pem" 2>/dev/null || true
q() { psql -X -q -A -t -d push -c "$1"; }
psql -X -q -d push -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$work/key.pem'" \
     -c "SELECT pg_reload_conf()" >/dev/null

# off / on: the worker's three passes, then wait until a new session sees the values.
mode() {
    local m=$1 iv=0 cp=0
    [ "$m" = on ] && { iv=1; cp=5; }
    psql -X -q -d push -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.merkle_interval = '${iv}s'" \
         -c "ALTER SYSTEM SET forgea_audit.verify_interval = '${iv}s'" \
         -c "ALTER SYSTEM SET forgea_audit.checkpoint_interval = '${cp}s'" -c "SELECT pg_reload_conf()" >/dev/null
    for ((i = 0; i < 100; i++)); do
        [ "$(q "SELECT current_setting('forgea_audit.verify_interval') = '${iv}s' OR current_setting('forgea_audit.verify_interval') = '$iv'")" = t ] && break
        sleep 0.1
    done
}
publisher() {  # every second until $1 disappears; runs counted in $1.runs
    local n=0
    while [ -e "$1" ]; do
        tools/forgea_audit_publish --out "$work/log" "dbname=push" >/dev/null 2>>"$work/publish.err" && n=$((n + 1))
        echo "$n" > "$1.runs"
        sleep 1
    done
}
cat > "$work/push.pgbench" <<'PGB'
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
# A warm-up, and a first checkpoint for the publisher.
pgbench -n -c 2 -T 3 -D n=0 -D cbase=9000 -f "$work/push.pgbench" push >/dev/null 2>&1
q "SELECT forgea_audit.checkpoint()" >/dev/null

order="off on on off"
for ((r = 1; r < ROUNDS; r++)); do order="$order off on on off"; done
cbase=0
declare -A TPS
for c in $CLIENTS; do
    for m in $order; do
        mode "$m"
        flag=$work/publishing
        if [ "$m" = on ]; then
            touch "$flag"; publisher "$flag" & ppid=$!
            for ((i = 0; i < 100; i++)); do [ -s "$flag.runs" ] && [ "$(cat "$flag.runs")" -ge 1 ] && break; sleep 0.1; done
        fi
        cp0=$(q "SELECT count(*) FROM forgea_audit.merkle_checkpoint")
        cbase=$((cbase + 100))
        tps=$(pgbench -n -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -T "$SECS" -D n=0 -D cbase=$cbase -f "$work/push.pgbench" push 2>&1 |
              grep -o 'tps = [0-9.]*' | head -1 | cut -d' ' -f3)
        extra=""
        if [ "$m" = on ]; then
            rm -f "$flag"; wait $ppid
            extra=" checkpoints=$(( $(q "SELECT count(*) FROM forgea_audit.merkle_checkpoint") - cp0 )) publisher_runs=$(cat "$flag.runs") verified_to=$(q "SELECT tree_size FROM forgea_audit.merkle_verified") of=$(q "SELECT tree_size FROM forgea_audit.merkle_state")"
            rm -f "$flag.runs"
        fi
        echo "clients=$c mode=$m tps=$tps$extra"
        TPS[$c,$m]="${TPS[$c,$m]:-} $tps"
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }
for c in $CLIENTS; do
    off=$(echo "${TPS[$c,off]}" | median); on=$(echo "${TPS[$c,on]}" | median)
    awk -v c="$c" -v a="$off" -v b="$on" 'BEGIN { printf "clients=%s median tps off=%.1f on=%.1f on/off=%.3f (target >= 0.95)\n", c, a, b, b / a }'
done
[ -s "$work/publish.err" ] && { echo "# publisher errors:"; sort "$work/publish.err" | uniq -c | head -5; }
echo "published: $(head -2 "$work/log/checkpoint" 2>/dev/null | tail -1) leaves; verify_chain ok=$(q "SELECT ok FROM forgea_audit.verify_chain()")"
