#!/usr/bin/env bash
# record_push() throughput with everything on (issue 22, item 5; docs/benchmarks.md, "Everything
# on"), one command, as root from the repository root after make and make tools:
#   flock /tmp/forgea_bench.lock bash bench/everything_on.sh
# A throwaway cluster (this build, privately installed) preloading the library (its worker serves database "push", checkpoints
# signed with a throwaway key).  pgbench runs record_push() (GitHub payloads from bench/setup.sql,
# 10% redeliveries) at 1 and at 8 clients, SECS seconds a round, in ABBA order ROUNDS times:
#   off: the worker's integrator, checkpoints and incremental verification off, no publisher;
#   on:  forgea_audit.merkle_interval = 1s, checkpoint_interval = 5s, verify_interval = 1s, and
#        tools/forgea_audit_publish --out DIR --interval 1 beside pgbench.
# Each round starts once the worker's settings are applied (a new session sees them) and, for on,
# the publisher has published once.  Prints every round, then per client count the median tps of
# each mode and on/off (target >= 0.95), and what the on rounds did (checkpoints made, verified
# size, publisher runs).
# Every round also reports the CPU seconds per second of the worker (its /proc stat) and of the
# publisher's own process (the loop's children, `times`).  With BENCH_ON_PROFILE=1 the first off
# and the first on round at the largest client count are profiled from their 3rd second for
# BENCH_ON_PROFILE_SECS (5): `perf record -a -g` on the whole machine (samples per process kind:
# pgbench's backends, the worker, the publisher and its backends, other postgres processes, the
# rest; the worker's and the publisher backends' top functions) and pg_stat_activity sampled every
# 0.1 s (wait events of each kind of session).  Files in BENCH_ON_OUT (bench/out/everything_on-<time>).
# BENCH_ON_PUBLISH: the publisher to run (default tools/forgea_audit_publish), as one process with
# --interval 1 (BENCH_ON_LOOP=1, the default) or started anew every second (BENCH_ON_LOOP=0, as
# cron would); BENCH_ON_BASE_PUBLISH: another build of it (say main's before --interval) to
# compare with, started anew every second, in a third mode "base": the order is then
# off base on on base off.
# Settings: BENCH_ON_SECS (15), BENCH_ON_ROUNDS (1: off on on off), BENCH_ON_CLIENTS ("1 8"), PORT (5650).
set -euo pipefail
SECS=${BENCH_ON_SECS:-15}
ROUNDS=${BENCH_ON_ROUNDS:-1}
CLIENTS=${BENCH_ON_CLIENTS:-"1 8"}
PORT=${PORT:-5650}
if [ "${1:-}" != inner ]; then
    [ -x tools/forgea_audit_publish ] || { echo "run make tools first" >&2; exit 2; }
    BENCH_ON_OUT=${BENCH_ON_OUT:-$PWD/bench/out/everything_on-$(date -u +%Y%m%dT%H%M%SZ)}
    mkdir -p "$BENCH_ON_OUT"; chmod 777 "$BENCH_ON_OUT"
    export SECS ROUNDS CLIENTS BENCH_ON_OUT
    # A private install of this build and a throwaway cluster on a Unix socket (bench/lib/private_pg.sh).
    . bench/lib/private_pg.sh
    pg=$(mktemp -d /tmp/forgea_everything_on.XXXXXX); chmod 755 "$pg"
    trap 'private_stop "$pg/data"; cp "$pg/data/server.log" "$BENCH_ON_OUT/" 2>/dev/null; rm -rf "$pg"' EXIT
    private_install "$pg/install"
    private_initdb "$pg/data" "$PORT" <<EOF
shared_preload_libraries = 'forgea_audit'
forgea_audit.database = 'push'
forgea_audit.merkle_interval = 0
forgea_audit.retention_interval = 0
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
synchronous_commit = on
fsync = on
log_connections = on
log_line_prefix = '%m [%p] '
EOF
    private_start "$pg/data"
    PGHOST=$pg/data PGPORT=$PORT PGUSER=postgres SERVER_LOG=$pg/data/server.log POSTMASTER_PID=$(head -1 "$pg/data/postmaster.pid") \
        bash "$0" inner
    exit $?
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
    [ "$m" != off ] && { iv=1; cp=5; }
    psql -X -q -d push -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.merkle_interval = '${iv}s'" \
         -c "ALTER SYSTEM SET forgea_audit.verify_interval = '${iv}s'" \
         -c "ALTER SYSTEM SET forgea_audit.checkpoint_interval = '${cp}s'" -c "SELECT pg_reload_conf()" >/dev/null
    for ((i = 0; i < 100; i++)); do
        [ "$(q "SELECT current_setting('forgea_audit.verify_interval') = '${iv}s' OR current_setting('forgea_audit.verify_interval') = '$iv'")" = t ] && break
        sleep 0.1
    done
}
PUBLISH=${BENCH_ON_PUBLISH:-tools/forgea_audit_publish}
LOOP=${BENCH_ON_LOOP:-1}
BASE_PUBLISH=${BENCH_ON_BASE_PUBLISH:-}
publisher() {  # $2 every second until $1 disappears; its CPU in $1.cpu.  $3 = loop: one process
    # (--interval 1, one connection); else a new process (and connection) per second, as cron would.
    local n=0 lp
    if [ "$3" = loop ]; then
        PGAPPNAME=forgea_audit_publish "$2" --out "$work/log" --interval 1 "dbname=push" >/dev/null 2>>"$work/publish.err" & lp=$!
        for ((i = 0; i < 100; i++)); do [ -s "$work/log/checkpoint" ] && break; sleep 0.1; done
        echo 1 > "$1.runs"
        while [ -e "$1" ]; do sleep 0.2; done
        kill -TERM "$lp"; wait "$lp" || true
    else
        while [ -e "$1" ]; do
            PGAPPNAME=forgea_audit_publish "$2" --out "$work/log" "dbname=push" >/dev/null 2>>"$work/publish.err" && n=$((n + 1))
            echo "$n" > "$1.runs"
            sleep 1
        done
    fi
    times > "$1.times"  # not in a pipeline: that would be a subshell with no children
    tail -1 "$1.times" | awk '{ for (i = 1; i <= 2; i++) { split($i, t, "m"); s += t[1] * 60 + t[2] } print s }' > "$1.cpu"  # children's user + system seconds
}
# CPU seconds (user + system) of process $1 so far.
cpu_of() { [ -n "$1" ] || { echo 0; return; }; awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
worker_pid() { q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' LIMIT 1"; }
OUT=$BENCH_ON_OUT
PROFILE=${BENCH_ON_PROFILE:-0}
PROFILE_SECS=${BENCH_ON_PROFILE_SECS:-5}
# pg_stat_activity every 0.1 s into $1 until $2 disappears: kind, state, wait event per active session.
sampler() {
    while [ -e "$2" ]; do
        q "SELECT CASE WHEN application_name = 'pgbench' THEN 'pgbench' WHEN application_name = 'forgea_audit_publish' THEN 'publisher'
                       WHEN backend_type LIKE 'forgea_audit%' OR application_name LIKE 'forgea_audit%' THEN 'worker'
                       ELSE backend_type END, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-')
           FROM pg_stat_activity WHERE state IS DISTINCT FROM 'idle' AND pid <> pg_backend_pid()
             AND backend_type NOT IN ('checkpointer', 'background writer', 'walwriter', 'logical replication launcher', 'autovacuum launcher', 'archiver')" >> "$1" 2>/dev/null || true
        sleep 0.1
    done
}
# perf record -a -g of the round's seconds 3..3+PROFILE_SECS, and the samples summarised by kind.
profile_round() {
    local tag=$1
    local pids=$OUT/$tag.pgbench_pids
    sleep 2
    q "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'" > "$pids"
    local wpid; wpid=$(worker_pid)
    touch "$OUT/$tag.sampling"; sampler "$OUT/$tag.waits" "$OUT/$tag.sampling" & local spid=$!
    perf record -a -g -F 499 -o "$OUT/$tag.perf.data" -- sleep "$PROFILE_SECS" >/dev/null 2>&1 || true
    rm -f "$OUT/$tag.sampling"; wait $spid || true
    # This cluster's processes: the publisher's backends (log_connections names their
    # application), the rest of the postmaster's children (walwriter, checkpointer, autovacuum...).
    grep -o '\[[0-9]*\] LOG:  connection authorized: .*application_name=forgea_audit_publish' "$SERVER_LOG" |
        sed 's/^\[\([0-9]*\)\].*/\1/' > "$OUT/$tag.publisher_pids" || true
    { echo "$POSTMASTER_PID"; ps -o pid= --ppid "$POSTMASTER_PID" | tr -d ' '; } > "$OUT/$tag.cluster_pids"
    perf report -i "$OUT/$tag.perf.data" --no-children --sort pid,comm --stdio -g none 2>/dev/null |
        awk -v wpid="$wpid" -v pidfile="$pids" -v pubfile="$OUT/$tag.publisher_pids" -v clfile="$OUT/$tag.cluster_pids" '
             BEGIN { while ((getline p < pidfile) > 0) pg[p] = 1; while ((getline p < pubfile) > 0) pub[p] = 1;
                     while ((getline p < clfile) > 0) cl[p] = 1 }
             /^ *[0-9.]+%/ { pct = $1; sub(/%/, "", pct); split($2, a, ":"); pid = a[1]; comm = $NF;
                  if (pid in pg) kind = "record_push backends"; else if (pid == wpid) kind = "worker";
                  else if (pid in pub) kind = "publisher backends";
                  else if (comm == "pgbench") kind = "pgbench"; else if (comm ~ /forgea_audit_p/) kind = "publisher (tool)";
                  else if (pid in cl) kind = "this cluster: walwriter, checkpointer, autovacuum...";
                  else if (comm == "postgres") kind = "postgres of other clusters";
                  else if (comm == "swapper") kind = "idle"; else kind = "other: " comm;
                  sum[kind] += pct }
             END { for (k in sum) printf "  %6.2f%%  %s\n", sum[k], k }' | sort -rn > "$OUT/$tag.kinds"
    echo "# $tag: perf samples by process kind (whole machine, ${PROFILE_SECS} s)"; cat "$OUT/$tag.kinds"
    if [ -n "$wpid" ]; then
        echo "# $tag: the worker's top functions"
        perf report -i "$OUT/$tag.perf.data" --no-children --pid "$wpid" --sort dso,sym --stdio -g none 2>/dev/null | grep -E '^ *[0-9]' | head -12
    fi
    echo "# $tag: the publisher backends' top functions"
    perf report -i "$OUT/$tag.perf.data" --no-children --pid "$(paste -sd, "$OUT/$tag.publisher_pids")" --sort dso,sym --stdio -g none 2>/dev/null | grep -E '^ *[0-9]' | head -12 || true
    echo "# $tag: pg_stat_activity samples (kind | wait type | wait event: count)"
    sort "$OUT/$tag.waits" | uniq -c | sort -rn | head -14
    echo "# $tag: perf samples, top functions of the record_push backends"
    perf report -i "$OUT/$tag.perf.data" --no-children --pid "$(paste -sd, "$pids")" --sort dso,sym --stdio -g none 2>/dev/null | grep -E '^ *[0-9]' | head -8 || true
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
# ... and one round's worth at the largest client count, not measured: the first measured round
# ran 30-40% slower than the rest without it (the tables' and indexes' first pages, the plans).
PGAPPNAME=pgbench pgbench -n -c "${CLIENTS##* }" -j 2 -T "$(( SECS / 2 + 1 ))" -D n=0 -D cbase=8000 -f "$work/push.pgbench" push >/dev/null 2>&1

abba="off on on off"
[ -n "$BASE_PUBLISH" ] && abba="off base on on base off"
order=$abba
for ((r = 1; r < ROUNDS; r++)); do order="$order $abba"; done
cbase=0
declare -A TPS
for c in $CLIENTS; do
    for m in $order; do
        mode "$m"
        flag=$work/publishing
        if [ "$m" != off ]; then
            bin=$PUBLISH; [ "$m" = base ] && bin=$BASE_PUBLISH
            how=process; [ "$m" = on ] && [ "$LOOP" = 1 ] && how=loop
            touch "$flag"; publisher "$flag" "$bin" "$how" & ppid=$!
            for ((i = 0; i < 100; i++)); do [ -s "$flag.runs" ] && [ "$(cat "$flag.runs")" -ge 1 ] && break; sleep 0.1; done
        fi
        cp0=$(q "SELECT count(*) FROM forgea_audit.merkle_checkpoint")
        pub0=$(q "SELECT count(*) FROM forgea_audit.published_checkpoint")
        cbase=$((cbase + 100))
        wpid=$(worker_pid); w0=$(cpu_of "$wpid"); t0=$(date +%s.%N)
        lsn0=$(q "SELECT pg_current_wal_lsn()"); fl0=$(q "SELECT wal_sync FROM pg_stat_wal")
        prof=""
        last_c=${CLIENTS##* }
        if [ "$PROFILE" = 1 ] && [ "$c" = "$last_c" ] && [ ! -e "$OUT/c$c-$m.perf.data" ]; then
            profile_round "c$c-$m" > "$OUT/c$c-$m.profile" 2>&1 & prof=$!
        fi
        tps=$(PGAPPNAME=pgbench pgbench -n -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -T "$SECS" -D n=0 -D cbase=$cbase -f "$work/push.pgbench" push 2>&1 |
              grep -o 'tps = [0-9.]*' | head -1 | cut -d' ' -f3)
        if [ -n "$prof" ]; then wait "$prof" || true; fi
        secs=$(echo "$(date +%s.%N) - $t0" | bc)
        wcpu=$(echo "scale=3; ($(cpu_of "$wpid") - $w0) / $secs" | bc)
        walb=$(q "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0')"); fl1=$(q "SELECT wal_sync FROM pg_stat_wal")
        extra=" wal_bytes_per_push=$(echo "$walb / ($tps * $SECS)" | bc) wal_syncs_per_s=$(echo "($fl1 - $fl0) / $secs" | bc) worker_cpu_per_s=$wcpu"
        if [ "$m" != off ]; then
            rm -f "$flag"; wait $ppid
            extra="$extra publisher_cpu_per_s=$(echo "scale=3; $(cat "$flag.cpu") / $secs" | bc) checkpoints=$(( $(q "SELECT count(*) FROM forgea_audit.merkle_checkpoint") - cp0 )) published=$(( $(q "SELECT count(*) FROM forgea_audit.published_checkpoint") - pub0 )) verified_to=$(q "SELECT tree_size FROM forgea_audit.merkle_verified") of=$(q "SELECT tree_size FROM forgea_audit.merkle_state")"
            rm -f "$flag.runs" "$flag.cpu" "$flag.times"
        fi
        echo "clients=$c mode=$m tps=$tps$extra"
        TPS[$c,$m]="${TPS[$c,$m]:-} $tps"
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }
for c in $CLIENTS; do
    off=$(echo "${TPS[$c,off]}" | median); on=$(echo "${TPS[$c,on]}" | median)
    awk -v c="$c" -v a="$off" -v b="$on" 'BEGIN { printf "clients=%s median tps off=%.1f on=%.1f on/off=%.3f (target >= 0.95)\n", c, a, b, b / a }'
    if [ -n "$BASE_PUBLISH" ]; then
        base=$(echo "${TPS[$c,base]}" | median)
        awk -v c="$c" -v a="$off" -v b="$base" -v o="$on" 'BEGIN { printf "clients=%s median tps base=%.1f base/off=%.3f on/base=%.3f\n", c, b, b / a, o / b }'
    fi
done
[ -s "$work/publish.err" ] && { echo "# publisher errors:"; sort "$work/publish.err" | uniq -c | head -5; }
for f in "$OUT"/*.profile; do [ -e "$f" ] && cat "$f"; done
echo "published: $(head -2 "$work/log/checkpoint" 2>/dev/null | tail -1) leaves; verify_chain ok=$(q "SELECT ok FROM forgea_audit.verify_chain()")"
