#!/usr/bin/env bash
# The publisher's numbers (docs/benchmarks.md, "Publishing"): tools/forgea_audit_publish over a
# log of TOTAL leaves (default 10 M), from scratch and incrementally.  Not in CI.  As root from the
# repository root, after make and make tools:
#
#   bash bench/publish.sh            # grow the log if needed, measure, stop the cluster
#   bash bench/publish.sh grow       # only grow the log (resumable: stops and goes on per step)
#   bash bench/publish.sh measure    # only measure (the log must be grown)
#   bash bench/publish.sh stop       # stop the cluster (its data stays)
#
# The cluster persists between runs (BENCH_PUBLISH_PGDATA, default .bench_pgdata in the worktree;
# a 10 M-leaf log is ~5 GB) and runs a private install of this build (.bench_install: a copy of
# PostgreSQL's bin/lib/share with `make install DESTDIR=` into it), on a Unix socket in the data
# directory, port PORT: nobody's `make install` changes the library under it.
#
# How the log is grown (honestly, but not through append()): append() writes about 8,000 rows/s
# here, 20 minutes for 10 M.  bench/lib/synth_audit_rows.cpp writes the rows append('BENCH_ROW',
# metadata => {"n": seq}, chain => 'bench:<seq % 1000>') would write, hashed with the extension's
# own encoding, and a superuser COPYs them into forgea_audit.audit_log, STEP rows per COPY: the write
# guard takes that as a restore and checks each row as it lands (row_hash recomputed from the
# content, the link to its chain's previous row), so every row verifies.  After each COPY the real
# integrator, merkle_integrate(), makes them leaves and tiles (merkle_leaf, merkle_tile, as the
# worker would); at the end the chain heads are COPYed (checked the same way), the sequence set,
# a signed checkpoint() taken, and verify_chain() checks the whole log (once, untimed).
#
# What is measured (each publisher run timed alone, RUNS times; medians printed):
#   scratch      the publisher into a new directory, one per run, all removed after the last
#                (target: 10 M leaves <= 60 s), after `sync` and with the database's pages in the
#                OS cache (warm-up reads first);
#   idle         a run with nothing new;
#   incremental  10,000 rows through append() (100 per chain), checkpoint(), a run (target <= 1 s);
#   then Go's sumdb/tlog and sumdb/note read the last result (test/lib/tlog_check), untimed.
# Settings: BENCH_PUBLISH_TOTAL (10000000), BENCH_PUBLISH_STEP (1000000), BENCH_PUBLISH_RUNS (3),
#   PORT (5740), BENCH_PUBLISH_PGDATA, BENCH_PUBLISH_OUT (the output directories' parent: default
#   .bench_work in the worktree, the same disk as the cluster), BENCH_LOCK (a file: flock'ed around
#   each growth step and around the measurement, released in between), BENCH_PUBLISH_GO (1: the Go check).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TOTAL=${BENCH_PUBLISH_TOTAL:-10000000}
STEP=${BENCH_PUBLISH_STEP:-1000000}
RUNS=${BENCH_PUBLISH_RUNS:-3}
PORT=${PORT:-5740}
CHAINS=1000
PGDATA_DIR=${BENCH_PUBLISH_PGDATA:-$ROOT/.bench_pgdata}
WORK=${BENCH_PUBLISH_OUT:-$ROOT/.bench_work}
PRIVATE=$ROOT/.bench_install
tool=$ROOT/tools/forgea_audit_publish
. bench/lib/private_pg.sh
locked() { if [ -n "${BENCH_LOCK:-}" ]; then flock "$BENCH_LOCK" "$@"; else "$@"; fi; }
export PGHOST=$PGDATA_DIR PGPORT=$PORT PGUSER=postgres PGDATABASE=bench
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
ms() { date +%s%3N; }
mkdir -p "$WORK"

start() {
    [ -x "$tool" ] || { echo "run make tools first" >&2; exit 2; }
    private_install "$PRIVATE"
    # Loading settings: nothing here measures commits (the publisher only reads).
    [ -f "$PGDATA_DIR/PG_VERSION" ] || private_initdb "$PGDATA_DIR" "$PORT" <<EOF
shared_buffers = 1GB
max_wal_size = 16GB
min_wal_size = 1GB
checkpoint_timeout = 30min
wal_level = minimal
max_wal_senders = 0
synchronous_commit = off
maintenance_work_mem = 512MB
jit = off
EOF
    private_start "$PGDATA_DIR"
    if [ "$(psql -X -A -t -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'bench'")" = 0 ]; then
        createdb -E UTF8 -T template0 bench
        q "CREATE EXTENSION forgea_audit" >/dev/null
        rm -f "$WORK/heads.state"
    fi
}

stop() { PGBIN=$PRIVATE$($PG_CONFIG --bindir); private_stop "$PGDATA_DIR"; }

# One step: STEP (or fewer) rows generated, COPYed through the restore check, integrated.
grow_step() {
    local have=$1 n=$2 t0 t1 t2
    t0=$(ms)
    "$WORK/synth_audit_rows" "$WORK/heads.state" $((have + 1)) "$n" $CHAINS |
        psql -X -q -v ON_ERROR_STOP=1 -c "COPY forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash,
              created_at, actor_type, action, outcome, severity, metadata) FROM STDIN"
    t1=$(ms)
    # The sequence as the rows' own appends would have left it: the integrator moves its horizon
    # past a seq only once the sequence has (merkle_integrate.cpp); with the sequence left behind,
    # each batch would scan the log from its first row.
    q "SELECT setval('forgea_audit.audit_log_seq', $((have + n)))" >/dev/null
    q "SELECT forgea_audit.merkle_integrate()" >/dev/null
    t2=$(ms)
    echo "grow: rows $((have + 1))..$((have + n)) copied in $((t1 - t0)) ms, integrated in $((t2 - t1)) ms"
}

grow() {
    start
    g++ -std=c++17 -O2 -Wall -Wextra -Isrc -o "$WORK/synth_audit_rows" bench/lib/synth_audit_rows.cpp \
        src/core/chain_record.cpp src/core/sha256.cpp
    if [ "$(q "SELECT count(*) FROM forgea_audit.chain_head")" != 0 ]; then
        echo "grow: the log is grown ($(q "SELECT tree_size FROM forgea_audit.merkle_state") leaves)"
        return 0
    fi
    local have
    have=$(q "SELECT coalesce(max(seq), 0) FROM forgea_audit.audit_log")
    # The state file must describe exactly the rows there (a step interrupted mid-COPY wrote none).
    if [ "$have" != 0 ] && [ "$(awk '{ if ($3 > m) m = $3 } END { print m + 0 }' "$WORK/heads.state" 2>/dev/null)" != "$have" ]; then
        echo "grow: $WORK/heads.state does not match the $have rows in the table: drop the database (dropdb bench) and grow again" >&2
        exit 1
    fi
    while [ "$have" -lt "$TOTAL" ]; do
        local n=$(( TOTAL - have < STEP ? TOTAL - have : STEP ))
        locked bash -c "$(declare -f grow_step q ms); WORK='$WORK' CHAINS=$CHAINS; grow_step $have $n"
        have=$(q "SELECT coalesce(max(seq), 0) FROM forgea_audit.audit_log")
    done
    "$WORK/synth_audit_rows" "$WORK/heads.state" --heads $CHAINS |
        psql -X -q -v ON_ERROR_STOP=1 -c "COPY forgea_audit.chain_head (chain_id, length, last_seq, last_hash) FROM STDIN"
    q "SELECT setval('forgea_audit.audit_log_seq', $have)" >/dev/null
    q "VACUUM ANALYZE forgea_audit.audit_log" >/dev/null
    q "VACUUM ANALYZE forgea_audit.merkle_leaf" >/dev/null
    q "VACUUM ANALYZE forgea_audit.merkle_tile" >/dev/null
    # A signing key, so that the checkpoints are signed and Go's note.Open can check them.
    local keys=$PGDATA_DIR/bench_key
    mkdir -p "$keys"; chown postgres: "$keys"
    [ -f "$keys/key.pem" ] || as_pg openssl genpkey -algorithm ed25519 -out "$keys/key.pem" 2>/dev/null
    psql -X -q -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$keys/key.pem'" \
         -c "ALTER SYSTEM SET forgea_audit.log_origin = 'bench.example.org/audit'" -c "SELECT pg_reload_conf()" >/dev/null
    sleep 1
    q "SELECT forgea_audit.checkpoint()" >/dev/null
    local t0 t1
    t0=$(ms); echo "grow: verify_chain(): $(q "SELECT ok::text || ' ' || detail FROM forgea_audit.verify_chain()") ($(( $(ms) - t0 )) ms)"
    q "CHECKPOINT" >/dev/null
    echo "grow: $(q "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1") leaves checkpointed;" \
         "audit_log $(q "SELECT pg_size_pretty(pg_total_relation_size('forgea_audit.audit_log'))")," \
         "merkle_leaf $(q "SELECT pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_leaf'))")," \
         "merkle_tile $(q "SELECT pg_size_pretty(pg_total_relation_size('forgea_audit.merkle_tile'))")"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2] + a[NR/2+1]) / 2}'; }

measure_inner() {
    local size out t0 t1 i
    echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%H:%M) UTC"
    # The log as published before: the checkpoint of the grown size (incremental runs add to it).
    size=$(q "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
    out=$WORK/log
    rm -rf "$out" "$out".*
    # Warm-up: the tables' pages into the OS cache (untimed), so that each timed run reads the same.
    q "SELECT count(*) FROM forgea_audit.merkle_leaf m JOIN forgea_audit.audit_log a ON a.seq = m.seq" >/dev/null
    q "SELECT sum(length(hashes)) FROM forgea_audit.merkle_tile" >/dev/null
    : > "$WORK/scratch.ms"
    # Each run into a directory of its own, all removed only after the last: deleting the previous
    # run's 79,000 files right before a run (on this VM's ext4, mounted with online discard) made
    # the next run 2-3x slower than a first publication into a new directory, which it stands for.
    sync
    for ((i = 1; i <= RUNS; i++)); do
        t0=$(ms); "$tool" --out "$out.$i" >/dev/null; t1=$(ms)
        echo "scratch run $i: $size leaves in $((t1 - t0)) ms (load $(cut -d' ' -f1 /proc/loadavg))"
        echo $((t1 - t0)) >> "$WORK/scratch.ms"
        sync
    done
    mv "$out.$RUNS" "$out"
    echo "scratch: $(find "$out" -type f | wc -l) files, $(du -sb "$out" | cut -f1) bytes ($(du -sh "$out" | cut -f1) on disk)"
    : > "$WORK/idle.ms"
    for ((i = 1; i <= RUNS; i++)); do
        t0=$(ms); "$tool" --out "$out" >/dev/null; t1=$(ms)
        echo $((t1 - t0)) >> "$WORK/idle.ms"
    done
    : > "$WORK/incremental.ms"
    for ((i = 1; i <= RUNS; i++)); do
        q "SELECT count(*) FROM (SELECT forgea_audit.append('BENCH_ROW', metadata => jsonb_build_object('n', n),
                                 chain => 'bench:' || (n % $CHAINS)) FROM generate_series(1, 10000) n) x" >/dev/null
        q "SELECT forgea_audit.checkpoint()" >/dev/null
        sync
        t0=$(ms); "$tool" --out "$out" > "$WORK/incremental.out"; t1=$(ms)
        echo "incremental run $i: $(sed -n 2p "$out/checkpoint") leaves in $((t1 - t0)) ms: $(cat "$WORK/incremental.out")"
        echo $((t1 - t0)) >> "$WORK/incremental.ms"
    done
    rm -rf "$out".*
    echo "median scratch_ms=$(median < "$WORK/scratch.ms") idle_ms=$(median < "$WORK/idle.ms") incremental_ms=$(median < "$WORK/incremental.ms") (targets: scratch <= 60000 at 10 M, incremental <= 1000)"
}

go_check() {
    local out=$WORK/log keys=$PGDATA_DIR/bench_key pub origin=bench.example.org/audit hash vkey n t0 t1
    (cd test/lib/tlog_check && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="$WORK/gocache" go build -o "$WORK/tlog_check" .)
    pub=$(openssl pkey -in "$keys/key.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
    hash=$({ printf '%s\n\x01' "$origin"; echo "$pub" | base64 -d; } | sha256sum | cut -c1-8)
    vkey="$origin+$hash+$({ printf '\x01'; echo "$pub" | base64 -d; } | base64 -w0)"
    n=$(sed -n 2p "$out/checkpoint")
    local idx=() i
    for i in 0 255999 256000 $((n / 2)) $((n - 1)); do [ "$i" -lt "$n" ] && idx+=("$i"); done
    t0=$(ms); "$WORK/tlog_check" verify "$out" "$vkey" "${idx[@]}"; t1=$(ms)
    echo "go check: $n leaves read by sumdb/tlog in $((t1 - t0)) ms"
}

measure() {
    start
    [ "$(q "SELECT count(*) FROM forgea_audit.chain_head")" != 0 ] || { echo "grow the log first" >&2; exit 1; }
    # The Go check inside the lock too: it reads all 10 M entries (CPU for a while).
    locked bash -c "$(declare -f measure_inner go_check median q ms); WORK='$WORK' RUNS=$RUNS CHAINS=$CHAINS tool='$tool' PGDATA_DIR='$PGDATA_DIR'
                    measure_inner; if [ '${BENCH_PUBLISH_GO:-1}' = 1 ]; then go_check; fi"
}

case "${1:-all}" in
    grow) grow ;;
    measure) measure ;;
    stop) stop ;;
    all) grow; measure; stop ;;
    *) echo "usage: bench/publish.sh [all|grow|measure|stop]" >&2; exit 2 ;;
esac
