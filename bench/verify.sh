#!/usr/bin/env bash
# verify_chain() on issue 23's log, side by side in one run (docs/benchmarks.md, "verify_chain on
# the issue's log"):
#
#   bash bench/verify.sh          # as root, from the repository root, after `make`
#
# The log: BENCH_VERIFY_ROWS (400,000) audit rows over BENCH_VERIFY_CHAINS (4,000) lab: chains,
# written by two concurrent sessions (each row its own transaction, so the two sessions' rows of a
# chain interleave in the heap), with the 15-key metadata of a LAB_VERIFY_ATTEMPT row; then
# checkpoint() (every row a Merkle leaf, tiles, a checkpoint), and the same number of rows on the
# PL/pgSQL reference's single chain (bench/reference_plpgsql.sql).  VACUUM ANALYZE, CHECKPOINT.
#
# The verifiers, each call in a fresh backend, rounds in ABBA order, medians and ratios:
#   base      verify_chain() of the library built from BENCH_BASE (a git revision, default 650cea0,
#             the build issue 23 measured), loaded from its own file: the same rows, the same run
#   new0, new1, new2   verify_chain() of the library built in this checkout (./forgea_audit.so) with
#             forgea_audit.verify_workers = 0 (one process), 1 and 2 parallel workers (the caller
#             reads too: parallel_leader_participation on, PostgreSQL's default); "new" is the
#             default setting (-1: one worker per CPU beyond the caller's, at most
#             max_parallel_workers_per_gather, on a log this size; the base build's -1 may differ:
#             before 0.3.0's change it asked for max_parallel_workers_per_gather)
#   ref       ref.verify_chain(), PL/pgSQL + pgcrypto
#   base_cp, new_cp   verify_chain(<the checkpoint's note>) (new_cp: the default setting)
#   base0, base1, base2   the base library with forgea_audit.verify_workers = 0, 1, 2 (as new0-2)
#   IMPL:cg   any of these with the server in a cpu cgroup of its own (bench/lib/in_cpu_cgroup.sh):
#             before the call the postmaster with all its children (so the new backend and its
#             parallel workers) and this script are moved into a fresh group, and back to the root
#             cpu group before the next call without ":cg" (docs/benchmarks.md, "verify_chain,
#             round 6": in the root group every backend, a session leader, is its own autogroup,
#             and a task woken across groups waits for the next tick).  E.g. BENCH_IMPLS="new1
#             new1:cg new2 new2:cg".  Not with the whole script run under in_cpu_cgroup.sh.
# Both libraries are bound to functions of their own (bench_lib.verify_base / verify_new, by
# absolute path), so nothing here depends on what `make install` put into $libdir beyond the SQL
# objects that CREATE EXTENSION creates.  One warm-up call of each first; "cold" is the first call
# after a restart of the server (shared buffers empty; the OS page cache is not dropped).
# Memory: VmHWM of the backend after the call, RssShmem (the shared buffers it touched, which VmHWM
# counts too) and the private peak (RssAnon sampled every ~10 ms by bench/lib/rss_sampler.sh,
# minus RssAnon before the call).
#
# Memory is the calling backend's; each parallel worker adds its own process (its per-row buffers,
# a 64 KB batch, and the 4 MB queue in the DSM segment), not sampled here.
#
# Settings: BENCH_VERIFY_ROWS (400000), BENCH_VERIFY_CHAINS (4000), BENCH_ROUNDS (3),
#   BENCH_IMPLS ("base new0 new1 new2 ref base_cp new_cp"), BENCH_BASE (650cea0), BENCH_BASE_SO (a
#   built base library instead of building BENCH_BASE), BENCH_PREWARM (1: pg_prewarm the log into
#   shared buffers after the cold calls, before the warm rounds), BENCH_COLD (1: also the cold calls of
#   BENCH_COLD_IMPLS, "new0 new2 base"), BENCH_PG_OPTS (more server settings for the cluster, space-separated
#   NAME=VALUE, e.g. "huge_pages=on": that needs vm.nr_hugepages >= ~560 for 1GB), BENCH_COLD_OS_IMPLS (none: as many more cold calls, each
#   after a restart and `echo 3 > /proc/sys/vm/drop_caches`, so that the log is read from disk: as
#   root only, and it empties the whole machine's page cache), PORT (6241).  Development: BENCH_PGENV (a file of a
#   running cluster's PG* variables) with BENCH_REUSE=1 (keep and reuse the generated database,
#   BENCH_DB, default verify) and BENCH_PGDATA (that cluster's data directory, owned by postgres,
#   for the cold calls' restarts).
# Results: bench/out/verify-<UTC>/report.md (and bench/out/verify-latest.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROWS=${BENCH_VERIFY_ROWS:-400000}
CHAINS=${BENCH_VERIFY_CHAINS:-4000}
ROUNDS=${BENCH_ROUNDS:-3}
IMPLS=${BENCH_IMPLS:-"base new0 new1 new2 ref base_cp new_cp"}
COLD_IMPLS=${BENCH_COLD_IMPLS:-"new0 new2 base"}
BASE=${BENCH_BASE:-650cea0}
COLD=${BENCH_COLD:-1}
PORT=${PORT:-6241}

if [ "${1:-}" != inner ]; then
    LIBDIR=$(mktemp -d /tmp/forgea_verify_bench.XXXXXX)
    chmod 755 "$LIBDIR"
    if [ -n "${BENCH_BASE_SO:-}" ]; then
        cp "$BENCH_BASE_SO" "$LIBDIR/base.so"
    else
        echo "== building the base library from $BASE"
        mkdir "$LIBDIR/src"
        git -C "$ROOT" archive "$BASE" | tar -x -C "$LIBDIR/src"
        make -C "$LIBDIR/src" -s -j2 forgea_audit.so >/dev/null
        cp "$LIBDIR/src/forgea_audit.so" "$LIBDIR/base.so"
        rm -rf "$LIBDIR/src"
    fi
    [ -f forgea_audit.so ] || make -s -j2 >/dev/null
    cp forgea_audit.so "$LIBDIR/new.so"
    chmod 644 "$LIBDIR"/*.so
    export LIBDIR ROWS CHAINS ROUNDS IMPLS COLD_IMPLS BASE COLD
    export OUT="$ROOT/bench/out/verify-$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$OUT"
    if [ -n "${BENCH_PGENV:-}" ]; then   # a running cluster's PG* variables (development: BENCH_REUSE=1)
        set -a; . "$BENCH_PGENV"; set +a
        bash "$0" inner
    else
        extra=(); for o in ${BENCH_PG_OPTS:-}; do extra+=(-o "$o"); done
        pg_virtualenv -t -v 15 -c "--port=$PORT" -o shared_buffers=1GB -o max_wal_size=8GB -o checkpoint_timeout=30min \
            -o work_mem=16MB -o jit=off "${extra[@]}" bash "$0" inner
    fi
    cp "$OUT/report.md" "$ROOT/bench/out/verify-latest.md"
    rm -rf "$LIBDIR"
    echo "report: $OUT/report.md"
    exit 0
fi

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }
# An IMPL:cg call runs with the server (the postmaster and its children) and this script in a fresh
# cpu cgroup; other calls in the root cpu group.  place_for IMPL moves them if they are not there.
CG=""; PLACED=root
trap '[ -z "$CG" ] || bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --release "$CG"' EXIT
postmaster_pid() { head -n1 "$(q -c 'SHOW data_directory')/postmaster.pid"; }
place_for() {
    local want=root
    case $1 in *:cg) want=cg ;; esac
    [ "$want" = "$PLACED" ] && return 0
    if [ "$want" = cg ]; then
        CG=$(bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --new-tree "$(postmaster_pid)" "$$")
    else
        bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --release "$CG"
        CG=""
    fi
    PLACED=$want
}
placement() {  # for the log: root, or cg(N of M: the server's processes in the group)
    if [ -n "$CG" ]; then echo "cg($(bash "$ROOT/bench/lib/in_cpu_cgroup.sh" --count "$CG" "$(postmaster_pid)"))"; else echo root; fi
}
DB=${BENCH_DB:-verify}
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
symbol() { nm -D --defined-only "$1" | awk -v f="$2" '$3 ~ "^" f "_0_[0-9]+$" { print $3 }' | sort | tail -1; }

if [ "${BENCH_REUSE:-0}" = 1 ] && psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    log "reusing database $DB (BENCH_REUSE=1)"
else
createdb -E UTF8 -T template0 "$DB"
q -f test/fixtures/app-schema/lab_session.sql >/dev/null
q -c 'CREATE EXTENSION forgea_audit'
q -f bench/reference_plpgsql.sql >/dev/null
q <<EOF
-- The metadata record_push writes for a LAB_VERIFY_ATTEMPT row: 15 keys, ~530 bytes (STABLE, so
-- that it is inlined).
CREATE FUNCTION fill_meta(i int) RETURNS jsonb LANGUAGE sql STABLE AS \$\$
    SELECT jsonb_build_object('delivery_id', md5(i::text)::uuid, 'commit_sha', substr(md5(i || 'a') || md5(i || 'b'), 1, 40),
        'ref', 'refs/heads/main', 'repository', 'https://github.com/Student-' || (i % 10000) || '/git-basics',
        'repository_id', 700000000 + i % 10000, 'payload_sha256', md5(i || 'c') || md5(i || 'd'),
        'sender', 'Student-' || (i % 10000), 'attempt_id', i, 'session_id', 'sess-' || (i % 10000),
        'before_sha', substr(md5(i || 'e') || md5(i || 'f'), 1, 40), 'commit_count', 1 + i % 4,
        'changed_path_count', 1 + i % 9, 'created', false, 'deleted', false, 'forced', false) \$\$;
-- One of the two writers: its half of the rows, each its own transaction; the two sessions visit
-- every chain, shifted by half the chains, so a chain's rows come from both and interleave.
CREATE PROCEDURE fill_forgea(sess int, nrows int, nchains int) LANGUAGE plpgsql AS \$\$
DECLARE i int;
BEGIN
    FOR k IN 0 .. nrows / 2 - 1 LOOP
        i := 2 * k + sess;
        PERFORM forgea_audit.append(action => 'LAB_STEP_CHECKED', actor_type => 'webhook', actor_id => 'github',
                                    target_type => 'lab_step', target_id => i::text, metadata => fill_meta(i),
                                    correlation_id => md5(i::text)::uuid::text, user_id => 'user-' || (k % nchains),
                                    chain => 'lab:sess-' || ((k * 37 + sess * (nchains / 2)) % nchains));
        COMMIT;
    END LOOP;
END \$\$;
CREATE PROCEDURE fill_ref(nrows int) LANGUAGE plpgsql AS \$\$
BEGIN
    FOR i IN 1..nrows LOOP
        PERFORM ref.append('LAB_STEP_CHECKED', 'webhook', 'github', 'lab_step', i::text, 'success', 'INFO',
                           fill_meta(i), md5(i::text)::uuid::text, NULL, 'user-' || (i % 10000));
        IF i % 100 = 0 THEN COMMIT; END IF;
    END LOOP;
END \$\$;
EOF

log "writing $ROWS rows over $CHAINS chains from two sessions, and $ROWS reference rows"
t0=$(date +%s)
q -c "SET synchronous_commit = off" -c "CALL fill_forgea(0, $ROWS, $CHAINS)" &
a=$!
q -c "SET synchronous_commit = off" -c "CALL fill_forgea(1, $ROWS, $CHAINS)" &
b=$!
q -c "SET synchronous_commit = off" -c "CALL fill_ref($ROWS)" &
c=$!
wait $a; wait $b; wait $c
log "written in $(( $(date +%s) - t0 )) s; integrating and signing a checkpoint"
q -c "CREATE TABLE bench_note AS SELECT forgea_audit.checkpoint() AS note"
q -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
fi
q <<EOF
DROP SCHEMA IF EXISTS bench_lib CASCADE;
CREATE SCHEMA bench_lib;
CREATE FUNCTION bench_lib.verify_base(checkpoint text DEFAULT NULL)
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS '$LIBDIR/base.so', '$(symbol "$LIBDIR/base.so" fa_verify_chain)';
EOF
# Its own session: creating a C function loads its library, and two builds of the library (both
# defining the forgea_audit.* settings) cannot be loaded into one backend.
q <<EOF
CREATE FUNCTION bench_lib.verify_new(checkpoint text DEFAULT NULL)
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE c VOLATILE SET search_path = pg_catalog, pg_temp
    AS '$LIBDIR/new.so', '$(symbol "$LIBDIR/new.so" fa_verify_chain)';
EOF
interleave=$(q -c "SELECT round(avg(n), 2) FROM (SELECT count(*) AS n FROM (SELECT chain_id,
    ctid, lag(chain_id) OVER (ORDER BY ctid) AS prev FROM forgea_audit.audit_log) x
    WHERE chain_id IS DISTINCT FROM prev GROUP BY chain_id) y")
sizes=$(q -c "SELECT pg_size_pretty(pg_total_relation_size('forgea_audit.audit_log')) || ' (+ Merkle tables ' ||
    pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_leaf') + pg_total_relation_size('forgea_audit.merkle_tile')) ||
    ') / ' || coalesce(pg_size_pretty(pg_total_relation_size(to_regclass('ref.audit_log'))), '-')")
nrows=$(q -c "SELECT count(*) FROM forgea_audit.audit_log")
refrows=0
[ -n "$(q -c "SELECT to_regclass('ref.audit_log')")" ] && refrows=$(q -c "SELECT count(*) FROM ref.audit_log")
leaves=$(q -c "SELECT tree_size FROM forgea_audit.merkle_state")

# One call in a fresh backend: "seconds VmHWM_kB RssShmem_kB result".
call() {
    local sql
    set -- "${1%:cg}"   # the placement is place_for's
    case $1 in
        base) sql="SELECT * FROM bench_lib.verify_base()" ;;
        base[0-9]) sql="SET forgea_audit.verify_workers = ${1#base}; SELECT * FROM bench_lib.verify_base()" ;;
        new) sql="SELECT * FROM bench_lib.verify_new()" ;;
        new[0-9]) sql="SET forgea_audit.verify_workers = ${1#new}; SELECT * FROM bench_lib.verify_new()" ;;
        ref) sql="SELECT * FROM ref.verify_chain()" ;;
        base_cp) sql="SELECT * FROM bench_lib.verify_base((SELECT note FROM bench_note))" ;;
        new_cp) sql="SELECT * FROM bench_lib.verify_new((SELECT note FROM bench_note))" ;;
        *) echo "unknown verifier: $1" >&2; exit 2 ;;
    esac
    rm -f "$OUT/rss.stop" "$OUT/rss.peak"
    q -F ' ' <<SQL
SELECT pg_backend_pid() AS pid, substring(s from 'RssAnon:\s*(\d+) kB') AS anon0
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') AS s \gset
\setenv BENCH_PID :pid
\! bash bench/lib/rss_sampler.sh $OUT/rss &
SELECT clock_timestamp() AS t0 \gset
$sql \g $OUT/last.out
\! touch $OUT/rss.stop
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3), substring(s from 'VmHWM:\s*(\d+) kB'),
       substring(s from 'RssShmem:\s*(\d+) kB'), :anon0
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') AS s;
SQL
    while [ ! -e "$OUT/rss.peak" ]; do sleep 0.01; done
}

restart() {
    if [ -n "${BENCH_PGDATA:-}" ]; then
        su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D '$BENCH_PGDATA' -w -m fast restart" >/dev/null
    else
        pg_ctlcluster 15 regress restart 2>/dev/null || pg_ctlcluster "$(ls /etc/postgresql 2>/dev/null | head -1)" regress restart
    fi
    until q -c 'SELECT 1' >/dev/null 2>&1; do sleep 0.2; done
}

echo -e "impl\tround\tseconds\tvmhwm_kb\trssshmem_kb\tprivate_peak_kb\tresult" > "$OUT/rounds.tsv"
# One call of impl and its rounds.tsv row; sets s (seconds), h (VmHWM), sh (RssShmem) and pp (the
# private peak) for the caller's log line.
measured_call() {  # impl, round
    read -r s h sh a0 < <(call "$1")
    while [ ! -e "$OUT/rss.peak" ]; do sleep 0.01; done
    pp=$(( $(cat "$OUT/rss.peak") - a0 ))
    echo -e "$1\t$2\t$s\t$h\t$sh\t$pp\t$(tr '\t|' '  ' < "$OUT/last.out")" >> "$OUT/rounds.tsv"
}
# One cold call of impl after a restart (shared buffers empty), its round and its log line; with
# drop_os, the OS page cache dropped too (root only), so the heap is read from disk.
cold_call() {  # impl, round (cold | cold_os), what the log line says, drop_os (0 | 1)
    restart
    if [ "$4" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
    place_for "$1"
    measured_call "$1" "$2"
    log "$3 $1: ${s}s $(tr '|' ' ' < "$OUT/last.out" | cut -c1-100) placement=$(placement)"
}
if [ "$COLD" = 1 ]; then
    for impl in $COLD_IMPLS; do cold_call "$impl" cold cold 0; done
    for impl in ${BENCH_COLD_OS_IMPLS:-}; do cold_call "$impl" cold_os "cold, OS page cache dropped," 1; done
fi
# BENCH_PREWARM=1: the log's heap read into shared buffers first (pg_prewarm), so that the scans
# find it there ("warm" in PostgreSQL's sense).  Without it, a heap larger than a quarter of
# shared_buffers is read through the scan's ring buffer and never kept, so after a restart every
# call reads it from the OS page cache (verify_chain() keeps the ring on purpose:
# docs/benchmarks.md, "verify_chain, round 3").
if [ "${BENCH_PREWARM:-0}" = 1 ]; then
    q -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" -c "SELECT pg_prewarm('forgea_audit.audit_log'), pg_prewarm('forgea_audit.merkle_leaf'),
        pg_prewarm('forgea_audit.merkle_tile')" >/dev/null
    [ -n "$(q -c "SELECT to_regclass('ref.audit_log')")" ] && q -c "SELECT pg_prewarm('ref.audit_log')" >/dev/null
    log "prewarmed: audit_log, merkle_leaf, merkle_tile (and ref.audit_log) read into shared buffers"
fi
for impl in $IMPLS; do place_for "$impl"; call "$impl" >/dev/null; done   # warm-up
order=($IMPLS)
for r in $(seq 1 "$ROUNDS"); do
    seqs=("${order[@]}")
    if [ $((r % 2)) = 0 ]; then seqs=(); for ((i=${#order[@]}-1; i>=0; i--)); do seqs+=("${order[$i]}"); done; fi
    for impl in "${seqs[@]}"; do
        place_for "$impl"
        measured_call "$impl" "$r"
        log "round $r $impl: ${s}s VmHWM ${h} kB (shmem ${sh}, private peak ${pp}) $(tr '|' ' ' < "$OUT/last.out" | cut -c1-100) placement=$(placement)"
    done
done
place_for root

# The CPUs the server may run on: verify_workers = -1 asks for one worker per CPU beyond the caller's.
srvcpus=$(taskset -pc "$(head -n1 "$(q -c 'SHOW data_directory')/postmaster.pid")" 2>/dev/null | sed 's/.*: //') || true
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { awk -F'\t' -v i="$1" '$1 == i && $2 !~ /^cold/ { print $3 }' "$OUT/rounds.tsv" | median; }
{
    echo "# verify_chain on issue 23's log, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), load at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- base: $BASE${BENCH_BASE_SO:+ (the library $BENCH_BASE_SO)}; new: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
        [ -n "$(git status --porcelain -- src 2>/dev/null)" ] && echo ' + uncommitted changes in src/')"
    echo "- log: $nrows audit rows ($leaves Merkle leaves) over $CHAINS chains, two writers (runs of one chain in heap order: $interleave per chain); $refrows reference rows; sizes $sizes"
    echo "- warm rounds: $([ "${BENCH_PREWARM:-0}" = 1 ] && echo 'the log prewarmed into shared buffers (pg_prewarm)' || echo 'the heap read through the scan ring, from the OS page cache')"
    echo "- cluster: shared_buffers=1GB, jit=off, huge_pages $(q -c 'SHOW huge_pages')${BENCH_PG_OPTS:+, extra settings: $BENCH_PG_OPTS}, max_parallel_workers_per_gather $(q -c 'SHOW max_parallel_workers_per_gather'), max_parallel_workers $(q -c 'SHOW max_parallel_workers'), server CPUs (the postmaster's affinity) $srvcpus; each call in a fresh backend after one warm-up call of each; $ROUNDS rounds in ABBA order"
    echo
    echo "| verifier | median s | rows/s | VmHWM MiB (max) | RssShmem MiB | private peak MiB (max) | result (last) |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for impl in $IMPLS; do
        m=$(med "$impl")
        hw=$(awk -F'\t' -v i="$impl" '$1 == i && $4 > x { x = $4 } END { printf "%d", x / 1024 }' "$OUT/rounds.tsv")
        sh=$(awk -F'\t' -v i="$impl" '$1 == i && $5 > x { x = $5 } END { printf "%d", x / 1024 }' "$OUT/rounds.tsv")
        pp=$(awk -F'\t' -v i="$impl" '$1 == i && $6 > x { x = $6 } END { printf "%d", x / 1024 }' "$OUT/rounds.tsv")
        res=$(awk -F'\t' -v i="$impl" '$1 == i { x = $7 } END { print substr(x, 1, 90) }' "$OUT/rounds.tsv")
        echo "| $impl | $m | $(awk -v n="$nrows" -v s="$m" 'BEGIN { printf "%.0f", n / s }') | $hw | $sh | $pp | $res |"
    done
    echo
    pairs=("base new" "base1 new1" "base2 new2" "base0 new0" "ref new" "base new0" "base new2" "new0 new1" "new0 new2" "new1 new2" "ref new0" "ref new1" "ref new2" "base_cp new_cp" "ref new_cp")
    for pair in "${pairs[@]}"; do set -- $pair; pairs+=("$1:cg $2:cg"); done   # the same pairs in the cgroup
    for impl in $IMPLS; do case $impl in *:cg) pairs+=("${impl%:cg} $impl") ;; esac; done   # root vs cgroup
    for pair in "${pairs[@]}"; do
        set -- $pair
        a=$(med "$1"); b=$(med "$2")
        [ -n "$a" ] && [ -n "$b" ] && echo "- $2 vs $1: $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')x faster (median $b s vs $a s)"
    done
    if [ "$COLD" = 1 ]; then
        echo "- cold (first call after a server restart): $(awk -F'\t' '$2 == "cold" { printf "%s %s s; ", $1, $3 }' "$OUT/rounds.tsv")"
        if [ -n "${BENCH_COLD_OS_IMPLS:-}" ]; then
            echo "- cold from disk (after a restart and dropping the OS page cache): $(awk -F'\t' '$2 == "cold_os" { printf "%s %s s; ", $1, $3 }' "$OUT/rounds.tsv")"
        fi
    fi
    echo
    echo "Every round: $OUT/rounds.tsv"
} > "$OUT/report.md"
cat "$OUT/report.md"
