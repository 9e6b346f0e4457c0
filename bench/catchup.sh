#!/usr/bin/env bash
# verify_increment()'s first catch-up (issue 23, item 2; docs/benchmarks.md, "Catch-up"), one
# command, as root on a Debian 12 machine with PostgreSQL 15:
#   flock /tmp/forgea_bench.lock bash bench/catchup.sh
#
# Two builds side by side in one cluster: BASE (a git ref, built in a temporary checkout) and this
# working tree (NEW).  Both are installed into a private copy of PostgreSQL's installation (as
# bench/retention.sh does: nothing is written to the system's directories, nobody's `make install`
# swaps the library halfway), the cluster listens on a Unix socket in a temporary directory only.
# The library is not preloaded, so every new session loads whatever file $libdir/forgea_audit.so
# is then: the script switches builds by renaming the other build's file over it (atomic; running
# sessions keep the one they mapped).  The SQL objects are NEW's (BASE must have the same functions).
#
#   1. the log of the issue: ROWS audit rows (400,000) in CHAINS chains (4,000), written by two
#      concurrent sessions (so the chains interleave), each row with 15 metadata keys as the
#      webhook writes them; then merkle_integrate() and checkpoint(), VACUUM ANALYZE, a warm read;
#   2. the first verify_increment() (a catch-up from size 0: merkle_verified put back to its
#      initial row, guards off for that UPDATE only, in this throwaway database), per build and
#      setting in ABBA order, REPEATS times each: wall ms and the backend's CPU ms (/proc), median;
#      then verify_increment() with nothing new (NEW, median of 5);
#   3. record_push p99 under pgbench (8 clients, GitHub payloads from bench/setup.sql) in windows
#      of SECS seconds: idle, then one window of back-to-back catch-ups per configuration in ABBA
#      order with idle windows between the halves and at the end; the integrator runs
#      merkle_integrate() every 0.2 s beside it and its longest call is reported (how long a
#      catch-up held the integrator's lock).  p99 ratios against the median of the idle windows.
#
# Settings (environment):
#   BENCH_CATCHUP_BASE (main)            the ref BASE is built from
#   BENCH_CATCHUP_BASE_SO                BASE's forgea_audit.so, built before (skips that build)
#   BENCH_CATCHUP_CONFIGS ("base new:0 new:2")
#                                        build:forgea_audit.catchup_delay (ms)[:nice|:agNICE], in this order (then
#                                        reversed); "base" runs BASE with its own defaults, "new"
#                                        alone NEW's default
#   BENCH_CATCHUP_ROWS (400000)  BENCH_CATCHUP_CHAINS (4000)  BENCH_CATCHUP_SECS (10)
#   BENCH_CATCHUP_REPEATS (2)    BENCH_CATCHUP_CLIENTS (8)
#   BENCH_CATCHUP_PROFILE (0)    1: a catch-up per build under perf record -g (section 2b)
#   BENCH_CATCHUP_PROFILE_KEEP   a directory: section 2b's perf data is copied there (perf_BUILD.data)
#   BENCH_CATCHUP_WAITS (0)      1: in each window of section 3, what record_push's backends are
#                                doing, sampled from pg_stat_activity every 10 ms (wait events;
#                                "CPU" = active with no wait event: running or waiting for a CPU),
#                                and what the integrator's session is doing (int_waits)
#   BENCH_CATCHUP_IO (0)         1: section 2c, one catch-up per build under EXPLAIN (ANALYZE,
#                                BUFFERS, WAL): the buffers it dirtied and wrote, its WAL, before
#                                section 2
#   BENCH_CATCHUP_NOVACUUM (0)   1: no VACUUM and no warm read after the load (ANALYZE only): 2c's
#                                first catch-up is the first reader of the rows after the integrator
# Every catch-up of section 2 also reports the WAL it wrote (wal_b: pg_current_wal_lsn() before and
# after, in its session, nothing else running), and every window of section 3 the WAL flushes
# (pg_stat_wal with track_wal_io_timing: fdatasyncs per second, their mean ms, WAL bytes per
# transaction), the buffers written by backends, the bgwriter and checkpoints (pg_stat_bgwriter) and
# the disk's writes (/proc/diskstats of the data directory's device).
# Two more "builds" in a configuration, for control experiments in place of a catch-up: "spin"
# (a PL/pgSQL loop, pure CPU, about 1 s, no buffer or WAL) and "scan" (a sequential scan of
# audit_log reading every row's metadata: CPU and memory reads, no writes); e.g. "spin:0:ag19".
# The nice field may also be "idle" (the backend's policy SCHED_IDLE, chrt -i: any waking normal
# task preempts it at once) or combine with "+": "ag19+idle".  Section 2 prints each catch-up
# backend's policy (0 normal, 5 idle) and autogroup nice as read back from /proc.
# The nice field may also hold "cg" (alone, "new:0:cg", or combined, "ag19+cg"): that configuration
# runs with the server in a cpu cgroup of its own (bench/lib/in_cpu_cgroup.sh): before its
# catch-ups (section 2) and its window (section 3) the postmaster with all its children and this
# script (so the pgbench it starts next) are moved into a fresh group, and back to the root cpu
# group after (docs/benchmarks.md, "catchup6": in the root group every backend, a session leader,
# is its own autogroup, and a task woken across groups waits for the next tick).  With any "cg"
# configuration section 3 has idle windows in both placements ("idle" and "idle:cg"), and each
# configuration's p99 ratio is against the idle windows of its own placement.  Section 2 prints
# each catch-up backend's cpu cgroup; each window of section 3 its placement ("N of M": the
# server's processes in the group) and pgbench's cpu cgroup.  Do not combine "cg" with running
# the whole script under in_cpu_cgroup.sh (moving back goes to the root group).
# Every window with catch-ups reports how long those that began and ended inside it took under
# the clients (during_ms, median) and the rows/s that gives (during_rows_per_s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=${BENCH_CATCHUP_BASE:-main}
CONFIGS=${BENCH_CATCHUP_CONFIGS:-base new:0 new:2}
ROWS=${BENCH_CATCHUP_ROWS:-400000}
CHAINS=${BENCH_CATCHUP_CHAINS:-4000}
SECS=${BENCH_CATCHUP_SECS:-10}
REPEATS=${BENCH_CATCHUP_REPEATS:-2}
CLIENTS=${BENCH_CATCHUP_CLIENTS:-8}

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BINDIR=$($PG_CONFIG --bindir)
SHAREDIR=$($PG_CONFIG --sharedir)
PKGLIBDIR=$($PG_CONFIG --pkglibdir)
WORK=$(mktemp -d /tmp/forgea_catchup.XXXXXX)
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PRIVATE=$WORK/install
PGBIN=$PRIVATE$BINDIR
LIB=$PRIVATE$PKGLIBDIR
PGDATA_DIR=$WORK/data
cleanup() {
    [ -n "${CG:-}" ] && bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --release "$CG"
    [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" stop -m immediate >/dev/null 2>&1
    [ -d "$WORK/base_src" ] && git -C "$ROOT" worktree remove --force "$WORK/base_src" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "# builds: base = $BASE ($(git rev-parse --short "$BASE")), new = this tree ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ', modified'))"
make -s -j"$(nproc)" >/dev/null
mkdir -p "$PRIVATE$(dirname "$BINDIR")" "$PRIVATE$(dirname "$SHAREDIR")"
cp -a "$(dirname "$BINDIR")" "$PRIVATE$(dirname "$(dirname "$BINDIR")")/"
cp -a "$SHAREDIR" "$PRIVATE$(dirname "$SHAREDIR")/"
[ "$PKGLIBDIR" = "$(dirname "$BINDIR")/lib" ] || { echo "unexpected layout: $PKGLIBDIR"; exit 1; }
make -s install DESTDIR="$PRIVATE" >/dev/null
cp "$LIB/forgea_audit.so" "$WORK/new.so"
case " $CONFIGS " in *" base"*)
    if [ -n "${BENCH_CATCHUP_BASE_SO:-}" ]; then
        cp "$BENCH_CATCHUP_BASE_SO" "$WORK/base.so"
    else
        git -C "$ROOT" worktree add --detach "$WORK/base_src" "$BASE" >/dev/null 2>&1
        make -s -C "$WORK/base_src" -j"$(nproc)" forgea_audit.so >/dev/null
        cp "$WORK/base_src/forgea_audit.so" "$WORK/base.so"
    fi ;;
esac
use_build() {  # $1: base or new (spin, scan: new); new sessions load it from then on
    case $1 in spin|scan) set -- new ;; esac
    cp "$WORK/$1.so" "$LIB/.forgea_audit.so.next" && mv -f "$LIB/.forgea_audit.so.next" "$LIB/forgea_audit.so"
}

chown postgres: "$WORK"
as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
port = 5432
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
synchronous_commit = on
fsync = on
max_connections = 50
track_wal_io_timing = on
CONF
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/server.log" -w -t 60 start >/dev/null
export PGHOST=$WORK PGPORT=5432 PGUSER=postgres
echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
createdb -E UTF8 -T template0 cu
psql -X -q -d cu -v nforks=200 -v npayloads=2000 \
     -v fixture="$(cat test/fixtures/github/push/api-with-new-branch.payload.json)" -f bench/setup.sql >/dev/null
use_build new
psql -X -q -d cu -c "CREATE EXTENSION forgea_audit" >/dev/null
q() { psql -X -q -A -t -d cu -c "$1"; }
ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

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
if [ "${BENCH_CATCHUP_NOVACUUM:-0}" = 1 ]; then   # 2c's first catch-up is then the log's first reader after the integrator
    q "ANALYZE" >/dev/null
else
    q "VACUUM ANALYZE" >/dev/null
    q "SELECT count(*), sum(length(metadata::text)) FROM forgea_audit.audit_log" >/dev/null   # warm
fi

# The configurations in ABBA order: "build:delay" words; PGOPTIONS for NEW's setting.
read -r -a order <<<"$CONFIGS"
abba=("${order[@]}")
for ((i = ${#order[@]} - 1; i >= 0; i--)); do abba+=("${order[$i]}"); done
options() {  # $1: a configuration
    case $1 in *:*) echo "-c forgea_audit.catchup_delay=$(echo "$1" | cut -d: -f2)" ;; *) echo "" ;; esac
}
# A configuration's third field (build:delay:nice): the nice value its catch-up session gives its
# own backend first, as the worker does at forgea_audit.worker_nice (0: none).  "agN" sets the
# nice value of the backend's autogroup instead (/proc/<pid>/autogroup): with the kernel's
# sched_autogroup_enabled = 1 every backend is its own autogroup (PostgreSQL's children call
# setsid()), and the scheduler shares the CPU between autogroups first, so a plain nice value
# only ranks a backend against itself.
nice_of() { case $1 in *:*:*) echo "${1##*:}" ;; *) echo 0 ;; esac; }
# A configuration's placement: "cg" if its nice field holds the token cg (or it is "idle:cg").
placement_of() {
    case $1 in idle:cg) echo cg; return ;; esac
    case "+$(nice_of "$1")+" in *+cg+*) echo cg ;; *) echo root ;; esac
}
# Moves the server (the postmaster and all its children) and this script into a fresh cpu cgroup
# (place cg) or back to the root cpu group (place root); a no-op if they are there already.
CG=""; PLACED=root
place() {
    [ "$1" = "$PLACED" ] && return 0
    local pm
    pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
    if [ "$1" = cg ]; then
        CG=$(bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --new-tree "$pm" "$$")
    else
        bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --release "$CG"
        CG=""
    fi
    PLACED=$1
}
placed_count() {  # "N of M": the server's processes in the group (or "root")
    if [ -n "$CG" ]; then bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --count "$CG" "$(head -1 "$PGDATA_DIR/postmaster.pid")"; else echo root; fi
}
cpu_cgroup_of() { awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' "/proc/$1/cgroup"; }
# One catch-up from size 0 in a new session: prints "wall_ms cpu_ms rows ok".
reset_point="ALTER TABLE forgea_audit.merkle_verified DISABLE TRIGGER USER;
UPDATE forgea_audit.merkle_verified SET tree_size = 0, frontier = '\x',
    root = '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
ALTER TABLE forgea_audit.merkle_verified ENABLE ALWAYS TRIGGER merkle_verified_guard_rows;
ALTER TABLE forgea_audit.merkle_verified ENABLE ALWAYS TRIGGER merkle_verified_guard_truncate;"
catchup_once() {
    psql -X -q -d cu -c "$reset_point" >/dev/null
    PGOPTIONS="$(options "$1")" psql -X -q -A -t -F ' ' -d cu -v nice="$(nice_of "$1")" -v what="${1%%:*}" 2>/dev/null <<'SQL'
SELECT format('COPY (SELECT 1) TO PROGRAM %L', 'renice -n ' || n || ' -p ' || pg_backend_pid() || ' >/dev/null')
FROM regexp_split_to_table(:'nice', '[+]') n WHERE n ~ '^-?[0-9]+$' AND n <> '0' \gexec
SELECT format('COPY (SELECT 1) TO PROGRAM %L', 'echo ' || substr(n, 3) || ' > /proc/' || pg_backend_pid() || '/autogroup')
FROM regexp_split_to_table(:'nice', '[+]') n WHERE n LIKE 'ag%' \gexec
SELECT format('COPY (SELECT 1) TO PROGRAM %L', 'chrt -i -p 0 ' || pg_backend_pid())
FROM regexp_split_to_table(:'nice', '[+]') n WHERE n = 'idle' \gexec
SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint AS c0 FROM pg_read_file('/proc/self/stat') s \gset
SELECT clock_timestamp() AS w0, pg_current_wal_lsn() AS l0 \gset
SELECT CASE :'what'
    WHEN 'spin' THEN 'DO $$DECLARE x bigint := 0; BEGIN FOR i IN 1..20000000 LOOP x := x + i; END LOOP; END$$'
    WHEN 'scan' THEN 'SELECT 0 AS r, sum(length(metadata::text)) > 0 AS ok FROM forgea_audit.audit_log'
    ELSE 'SELECT rows_checked AS r, ok FROM forgea_audit.verify_increment()' END AS stmt \gset
SELECT 0 AS r, true AS ok \gset
:stmt \gset
SELECT round(extract(epoch FROM clock_timestamp() - :'w0') * 1000),
       (split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint - :c0) * 1000 / 100, :r, :'ok',
       pg_wal_lsn_diff(pg_current_wal_lsn(), :'l0'),
       substring(pg_read_file('/proc/self/sched') FROM 'policy\s*:\s*(\d+)') || '/' ||
           coalesce(substring(pg_read_file('/proc/self/autogroup') FROM 'nice (-?\d+)'), '-'),
       coalesce(substring(pg_read_file('/proc/self/cgroup') FROM '\d+:(?:[a-z,]*,)?cpu(?:,[a-z,]*)?:([^\n]*)'), '-')
FROM pg_read_file('/proc/self/stat') s;
SQL
}

# BENCH_CATCHUP_IO=1: one catch-up from 0 per build under EXPLAIN (ANALYZE, BUFFERS, WAL): what it
# read, dirtied and wrote in shared buffers and the WAL it generated (nested statements included).
if [ "${BENCH_CATCHUP_IO:-0}" = 1 ]; then
    echo "# 2c. buffers and WAL of one catch-up from 0 per build (EXPLAIN ANALYZE, BUFFERS, WAL)"
    for b in base new; do
        case " $CONFIGS " in *" $b"*) ;; *) continue ;; esac
        use_build "$b"
        psql -X -q -d cu -c "$reset_point" >/dev/null
        psql -X -q -A -t -d cu -c "EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF, TIMING OFF)
            SELECT rows_checked, ok FROM forgea_audit.verify_increment()" | grep -E 'Buffers|WAL' | head -3 |
            sed "s/^ */io build=$b /"
    done
fi

echo "# 2. the first verify_increment(), $REPEATS catch-ups per configuration and half, ABBA: ${abba[*]}"
n=$(q "SELECT count(*) FROM forgea_audit.audit_log")
declare -A WALL CPU
for c in "${abba[@]}"; do
    use_build "${c%%:*}"
    place "$(placement_of "$c")"
    for ((r = 0; r < REPEATS; r++)); do
        read -r w u rows ok walb pol cgr < <(catchup_once "$c")
        WALL[$c]+="$w "; CPU[$c]+="$u "
        echo "catchup config=$c wall_ms=$w cpu_ms=$u rows=$rows ok=$ok wal_b=$walb policy/autogroup_nice=$pol cpu_cgroup=$cgr"
    done
done
place root
for c in "${order[@]}"; do
    w=$(tr ' ' '\n' <<<"${WALL[$c]}" | grep . | median); u=$(tr ' ' '\n' <<<"${CPU[$c]}" | grep . | median)
    echo "catchup_median config=$c wall_ms=$w cpu_ms=$u rows_per_s_wall=$(awk -v n="$n" -v w="$w" 'BEGIN {printf "%d", n * 1000 / w}') rows_per_s_cpu=$(awk -v n="$n" -v u="$u" 'BEGIN {printf "%d", n * 1000 / u}')"
done

use_build new
nothing=()
for i in 1 2 3 4 5; do
    t0=$(ms); q "SELECT ok FROM forgea_audit.verify_increment()" >/dev/null; t1=$(ms); nothing+=($((t1 - t0)))
done
echo "verify_increment_nothing_new_ms (new, each a new session)=$(printf '%s\n' "${nothing[@]}" | median) (all: ${nothing[*]})"

# BENCH_CATCHUP_PROFILE=1: one more catch-up from 0 per build (base, then new) under
# `perf record -g -p <its backend>`; the top symbols, self and inclusive, of each.
if [ "${BENCH_CATCHUP_PROFILE:-0}" = 1 ]; then
    echo "# 2b. profile: one catch-up from 0 per build, perf record -g -p <backend>"
    for b in base new; do
        case " $CONFIGS " in *" $b"*) ;; *) continue ;; esac
        use_build "$b"
        psql -X -q -d cu -c "$reset_point" >/dev/null
        PGAPPNAME=cu_profile_$b psql -X -q -A -t -d cu \
            -c "SELECT pg_sleep(1)" -c "SELECT rows_checked, ok FROM forgea_audit.verify_increment()" > "$WORK/prof_$b.out" &
        ppid=$!
        pid=""
        for _ in $(seq 100); do
            pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'cu_profile_$b' LIMIT 1")
            [ -n "$pid" ] && break
            sleep 0.05
        done
        perf record -q -g -o "$WORK/perf_$b.data" -p "$pid" >/dev/null 2>&1 &
        perfpid=$!
        wait "$ppid"
        kill -INT "$perfpid" 2>/dev/null || true; wait "$perfpid" || true
        echo "profile build=$b result=$(tr '\n' ' ' < "$WORK/prof_$b.out")"
        [ -n "${BENCH_CATCHUP_PROFILE_KEEP:-}" ] && cp "$WORK/perf_$b.data" "$BENCH_CATCHUP_PROFILE_KEEP/perf_$b.data"
        echo "profile build=$b self (top 15):"
        perf report -q -g none -i "$WORK/perf_$b.data" --no-children --sort symbol --percent-limit 1.5 2>/dev/null | grep '%' | head -15 || true  # head ends the pipe early
        echo "profile build=$b inclusive, below fa_verify_increment_guarded (top 25):"
        perf report -q -g none -i "$WORK/perf_$b.data" --children --sort symbol --percent-limit 3 2>/dev/null |
            awk '$1 ~ /%$/ && $1 + 0 < 95' | head -25 || true
    done
fi

echo "# 3. record_push p99, $CLIENTS clients, ${SECS}s windows"
cat > "$WORK/push.pgbench" <<'PGB'
\set k random(1, 1000000000)
\set pid 1 + abs(hash(:client_id * 1000003 + :k)) % 2000
SELECT status FROM forgea_audit.record_push((SELECT body FROM bench.payload WHERE id = :pid)::jsonb, bench.guid(:client_id + 100, :k));
PGB
# Catch-ups from size 0 of configuration $2, back to back, until the file $1 disappears.
# Each one's wall ms goes to $1.walls if the window was still on when it ended.
catchups() {
    local n=0 w rest
    : > "$1.walls"
    while [ -e "$1" ]; do
        read -r w rest < <(catchup_once "$2")
        [ -e "$1" ] && echo "$w" >> "$1.walls"
        n=$((n + 1))
    done
    echo "$n" > "$1.count"
}
# The integrator every 0.2 s, in one session (a DO block committing after each call) until
# bench.stop has a row for the window; writes its longest merkle_integrate() call in ms.
q "CREATE TABLE bench.stop (round text)"
integrator() {
    PGAPPNAME=cu_integrator psql -X -q -A -t -d cu -c "DO \$\$
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
END \$\$" 2>&1 | sed -n 's/.*worst=//p' > "$WORK/$1.max"
}
# BENCH_CATCHUP_WAITS=1: pg_stat_activity's record_push backends (pgbench's), sampled every 10 ms
# until bench.stop has a row for the window; the five most frequent states with their shares.
q "CREATE TABLE bench.waits (round text, what text)"
sampler() {
    psql -X -q -A -t -d cu -c "DO \$\$
BEGIN
    LOOP
        EXIT WHEN EXISTS (SELECT FROM bench.stop WHERE round = '$1');
        INSERT INTO bench.waits SELECT '$1' || CASE application_name WHEN 'cu_integrator' THEN ':int' ELSE '' END,
            coalesce(wait_event_type || ':' || wait_event, 'CPU')
        FROM pg_stat_activity WHERE application_name IN ('pgbench', 'cu_integrator') AND state = 'active'
            AND pid <> pg_backend_pid() AND wait_event IS DISTINCT FROM 'PgSleep';
        COMMIT;
        PERFORM pg_sleep(0.01);
    END LOOP;
END \$\$" >/dev/null 2>&1
}
waits_of() {
    q "SELECT string_agg(what || ' ' || round(100.0 * n / total) || '%', ', ' ORDER BY n DESC)
       FROM (SELECT what, count(*) AS n, sum(count(*)) OVER () AS total FROM bench.waits WHERE round = '$1'
             GROUP BY what) w" |
        awk -F', ' '{out = $1; for (i = 2; i <= 5 && i <= NF; i++) out = out ", " $i; print out}'
}
p99() {  # pgbench per-transaction log lines: client txno latency_us ...
    cat "$@" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.2f", a[i]/1000}'
}
idles=(idle)
for c in "${order[@]}"; do [ "$(placement_of "$c")" = cg ] && { idles=(idle idle:cg); break; }; done
windows=("${idles[@]}")
half=${#order[@]}
for ((i = 0; i < ${#abba[@]}; i++)); do
    windows+=("${abba[$i]}")
    [ $((i + 1)) -eq "$half" ] && windows+=("${idles[@]}")
done
windows+=("${idles[@]}")
# The WAL flushes, buffer writes and disk writes, cumulative: "syncs sync_ms wal_bytes backend clean checkpoint ios sectors".
DEV=$(basename "$(df --output=source "$PGDATA_DIR" | tail -1)")
io_counters() {
    local pg disk
    pg=$(q "SELECT w.wal_sync, w.wal_sync_time, w.wal_bytes, b.buffers_backend, b.buffers_clean, b.buffers_checkpoint
            FROM pg_stat_wal w, pg_stat_bgwriter b" | tr '|' ' ')
    disk=$(awk -v d="$DEV" '$3 == d {print $8, $10}' /proc/diskstats)
    echo "$pg ${disk:-0 0}"
}
io_delta() {  # $1, $2: io_counters before and after; $3: seconds, $4: transactions
    awk -v a="$1" -v b="$2" -v secs="$3" -v tx="$4" 'BEGIN {
        split(a, x, " "); split(b, y, " "); for (i = 1; i <= 8; i++) d[i] = y[i] - x[i]
        printf "syncs_per_s=%.0f sync_ms=%.2f wal_b_per_tx=%.0f buf_written(backend,bgwriter,checkpoint)=%d,%d,%d disk_writes=%d disk_mb=%.1f",
            d[1] / secs, d[1] ? d[2] / d[1] : 0, tx ? d[3] / tx : 0, d[4], d[5], d[6], d[7], d[8] * 512 / 1048576 }'
}
# The CPU the record_push backends used (cores), read from /proc just before the window ends.
clients_cpu() {  # $1: file to write
    sleep "$(awk -v s="$SECS" 'BEGIN {print s - 0.5}')"
    local t=0 pid
    for pid in $(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench'"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    awk -v t="$t" -v s="$SECS" 'BEGIN {printf "%.2f", t / 100 / (s - 0.5)}' > "$1"
}
declare -A P99S
w=0
for c in "${windows[@]}"; do
    w=$((w + 1)); name="w$w"
    flag=$WORK/$name.running; touch "$flag"
    place "$(placement_of "$c")"
    integrator "$name" & ipid=$!
    spid=""; [ "${BENCH_CATCHUP_WAITS:-0}" = 1 ] && { sampler "$name" & spid=$!; }
    if [ "${c%%:*}" != idle ]; then use_build "${c%%:*}"; catchups "$flag" "$c" & cpid=$!; fi
    io0=$(io_counters)
    clients_cpu "$WORK/$name.cpu" &
    (cpu_cgroup_of "$BASHPID" > "$WORK/$name.cg"; cd "$WORK" && exec pgbench -n -c "$CLIENTS" -j 2 -T "$SECS" -f push.pgbench -l --log-prefix="$name.log" cu > "$name.out" 2>&1)
    io1=$(io_counters)
    rm -f "$flag"; q "INSERT INTO bench.stop VALUES ('$name')"; wait $ipid; [ "${c%%:*}" != idle ] && wait $cpid
    [ -n "$spid" ] && wait "$spid"
    p=$(p99 "$WORK/$name.log".*)
    P99S[$c]+="$p "
    tps=$(grep -o 'tps = [0-9.]*' "$WORK/$name.out" | head -1 | cut -d' ' -f3)
    extra=" placement=$PLACED($(placed_count)) pgbench_cpu_cgroup=$(cat "$WORK/$name.cg")"
    if [ -e "$flag.count" ]; then
        extra="$extra catchups=$(cat "$flag.count")"
        if [ -s "$flag.walls" ]; then
            dm=$(median < "$flag.walls")
            extra="$extra during_ms=$dm (of $(grep -c . "$flag.walls"): $(tr '\n' ' ' < "$flag.walls" | sed 's/ $//')) during_rows_per_s=$(awk -v n="$n" -v w="$dm" 'BEGIN {printf "%d", n * 1000 / w}')"
        fi
    fi
    ntx=$(grep -o 'number of transactions actually processed: [0-9]*' "$WORK/$name.out" | grep -o '[0-9]*$')
    wait  # clients_cpu
    extra="$extra clients_cpu_cores=$(cat "$WORK/$name.cpu") $(io_delta "$io0" "$io1" "$SECS" "${ntx:-0}")"
    [ -n "$spid" ] && extra="$extra waits=[$(waits_of "$name")] int_waits=[$(waits_of "$name:int")]"
    echo "window=$name config=$c record_push_p99_ms=$p tps=$tps integrator_longest_call_ms=$(cat "$WORK/$name.max")$extra"
    rm -f "$WORK/$name.log".*
done
place root
declare -A IDLE
for i in "${idles[@]}"; do
    IDLE[$i]=$(tr ' ' '\n' <<<"${P99S[$i]}" | grep . | median)
    echo "p99 $i (median of windows ${P99S[$i]}) = ${IDLE[$i]} ms"
done
for c in "${order[@]}"; do
    m=$(tr ' ' '\n' <<<"${P99S[$c]}" | grep . | median)
    i=idle; [ "$(placement_of "$c")" = cg ] && i=idle:cg
    echo "p99 config=$c windows=${P99S[$c]% } median=$m ratio=$(awk -v a="$m" -v b="${IDLE[$i]}" 'BEGIN {printf "%.2f", a / b}') (against $i; target <= 1.5)"
done
use_build new
q "SELECT ok FROM forgea_audit.verify_chain()" | sed 's/^/verify_chain at the end: ok=/'
