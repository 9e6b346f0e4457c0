#!/usr/bin/env bash
# Runs inside pg_virtualenv (PGHOST/PGPORT/PGUSER/PGPASSWORD point at a throwaway cluster); started
# by bench/run.sh, which sets BENCH_ROOT and BENCH_OUT.  Steps, each skippable:
#   main      record_push vs reference (PL/pgSQL + pgcrypto) vs ceiling (one statement) under pgbench
#   wal       WAL bytes per delivery of each implementation (pg_walinspect: by record type, by relation)
#   verify    verify_chain() over BENCH_VERIFY_ROWS rows vs ref.verify_chain() (PL/pgSQL)
#   big       one ~20 MB payload (2048 commits): time and the backend's peak memory (VmHWM)
#   retention run_retention() and the worker's per-batch path (BENCH_RETENTION_PATHS) archiving
#             BENCH_RETENTION_ROWS expired attempts while record_push runs under pgbench
set -euo pipefail
cd "$BENCH_ROOT"
OUT=$BENCH_OUT
mkdir -p "$OUT/logs" "$OUT/scripts"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    CLIENTS=${BENCH_CLIENTS:-"1 4"}
    DURATION=${BENCH_DURATION:-5}
    PAYLOADS=${BENCH_PAYLOADS:-1000}
    VERIFY_ROWS=${BENCH_VERIFY_ROWS:-100000}
    BIG_COMMITS=${BENCH_BIG_COMMITS:-512}
    RETENTION_ROWS=${BENCH_RETENTION_ROWS:-100000}
    RETENTION_IDLE_SECS=${BENCH_RETENTION_IDLE_SECS:-5}
    RETENTION_PGBENCH_SECS=${BENCH_RETENTION_PGBENCH_SECS:-30}
else
    CLIENTS=${BENCH_CLIENTS:-"1 2 4 8 16"}
    DURATION=${BENCH_DURATION:-20}
    PAYLOADS=${BENCH_PAYLOADS:-5000}
    VERIFY_ROWS=${BENCH_VERIFY_ROWS:-1000000}
    BIG_COMMITS=${BENCH_BIG_COMMITS:-2048}
    RETENTION_ROWS=${BENCH_RETENTION_ROWS:-1000000}
    RETENTION_IDLE_SECS=${BENCH_RETENTION_IDLE_SECS:-15}
    RETENTION_PGBENCH_SECS=${BENCH_RETENTION_PGBENCH_SECS:-360}
fi
RETENTION_PATHS=${BENCH_RETENTION_PATHS:-"run_retention worker"}
RETENTION_DELAY_MS=${BENCH_RETENTION_DELAY_MS:-0}
IMPLS=${BENCH_IMPLS:-"record_push reference ceiling"}
WAL_IMPLS=${BENCH_WAL_IMPLS:-"record_push reference ceiling"}
WAL_DELIVERIES=${BENCH_WAL_DELIVERIES:-$([ "$QUICK" = 1 ] && echo 2000 || echo 10000)}
WARMUP=${BENCH_WARMUP:-1000}
FORKS=${BENCH_FORKS:-200}
RETRY_PCT=${BENCH_RETRY_PCT:-10}
VERIFY_CHAINS=${BENCH_VERIFY_CHAINS:-10000}
BIG_CALLS=${BENCH_BIG_CALLS:-"parse record_push parse_json record_push_json record_push_json_col reference ceiling"}
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json

ROUNDS=${BENCH_ROUNDS:-$([ "$QUICK" = 1 ] && echo 1 || echo 2)}
ROUND_SECS=$(( (DURATION + ROUNDS - 1) / ROUNDS ))

REPORT=$OUT/report.md
RESULTS=$OUT/results.tsv
ROUNDS_TSV=$OUT/rounds.tsv
SANITY=$OUT/sanity.tsv

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log"; }
psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- the machine ---------------------------------------------------------------------------------
START_LOAD=$(load)
START_UPTIME=$(uptime)
{
    echo "# forgea_audit benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    [ "$QUICK" = 1 ] && echo "**BENCH_QUICK=1: smoke run, not for quoting.**" && echo
    echo "## Machine"
    echo
    echo "- nproc: $(nproc); memory: $(free -m | awk '/^Mem:/ { print $2 }') MiB"
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "- kernel: $(uname -r)"
    echo "- PostgreSQL: $(psql -XAtc 'SELECT version()')"
    echo "- forgea_audit: built from $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(
        n=$(git -C "$BENCH_ROOT" status --porcelain -- src Makefile '*.sql' '*.control' 2>/dev/null | wc -l)
        [ "$n" -gt 0 ] && echo " + $n uncommitted changes in src/, Makefile, SQL")$(
        [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && echo ' (BENCH_SKIP_BUILD=1: the already installed build was used)')"
    echo "- cluster settings: $(psql -XAtc "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name)
        FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size',
        'checkpoint_timeout', 'work_mem', 'wal_level', 'jit')")"
    echo "- data directory: $(psql -XAtc 'SHOW data_directory') ($(df -h --output=fstype,source "$(psql -XAtc 'SHOW data_directory')" | tail -1 | tr -s ' '))"
    echo "- load at start (uptime): $START_UPTIME"
    echo
} > "$REPORT"
cat "$REPORT"

# ---- main: pgbench, three implementations --------------------------------------------------------
# The per-delivery pgbench script: ~RETRY_PCT% of calls retry one of this client's earlier
# deliveries (same GUID, same payload); the others are new deliveries with a fresh GUID and a
# payload chosen by a hash of (client, delivery number).  n counts the client's new deliveries
# (pgbench variables persist across a client's transactions; -D n=0 starts it); cbase keeps the
# warm-up's GUIDs apart from the measured run's.
write_scripts() {
    local header
    header=$(cat <<'EOF'
\set r random(1, 100)
\if :r <= :retry_pct and :n > 0
\set k random(1, :n)
\else
\set n :n + 1
\set k :n
\endif
\set pid 1 + abs(hash(:client_id * 1000003 + :k)) % :npayloads
\set cid :client_id + :cbase
EOF
)
    local payload='(SELECT body FROM bench.payload WHERE id = :pid)::jsonb' guid='bench.guid(:cid, :k)'
    printf '%s\nSELECT status FROM forgea_audit.record_push(%s, %s);\n' "$header" "$payload" "$guid" \
        > "$OUT/scripts/record_push.pgbench"
    # The same calls on an install whose "LabSession" has no fork-lookup index (the optional
    # bind_lab_session_table() step undone): what the call costs must not depend on it.
    cp "$OUT/scripts/record_push.pgbench" "$OUT/scripts/record_push_unbound.pgbench"
    printf '%s\nSELECT status FROM ref.record_push(%s, %s);\n' "$header" "$payload" "$guid" \
        > "$OUT/scripts/reference.pgbench"
    { echo "$header"; ceiling_statement "$payload" "$guid"; } > "$OUT/scripts/ceiling.pgbench"
}

# The ceiling's statement from bench/ceiling.sql, with $1 and $2 replaced.
ceiling_statement() {
    sed -n '/^-- STATEMENT BEGIN/,/^-- STATEMENT END/p' bench/ceiling.sql \
        | grep -v -e '^-- STATEMENT' -e '^PREPARE ceiling_push' \
        | sed -e "s/\\\$1/$1/g" -e "s/\\\$2/$2/g"
}

# A fresh state for one implementation: its tables empty (forgea_audit: the extension dropped and
# created again, since audit_log refuses TRUNCATE), "LabSession" reloaded with only this
# implementation's lookup index; then a warm-up of WARMUP deliveries through the implementation
# itself (GUIDs of their own, cbase=1000), VACUUM ANALYZE and a checkpoint.
#
# Why the warm-up: without it every implementation starts on empty, freshly analyzed tables, and
# the plans its backends cache on their first calls (record_push's SPI plans, PL/pgSQL's plans,
# the prepared ceiling statement) are built for empty tables: the delivery lookup becomes a
# sequential scan of lab_attempt that stays cached until autovacuum's next ANALYZE invalidates it,
# so a 10-second run measures mostly that scan (see docs/benchmarks.md).  Production tables are
# not empty; after the warm-up the tables hold ~WARMUP rows with statistics, and the measured
# run's backends plan index scans from their first call.
reset_state() {
    local impl=$1
    psqlq -d bench <<'EOF'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS forgea_audit CASCADE;
SELECT ref.reset();
SELECT ceiling.reset();
DROP INDEX IF EXISTS "LabSession_ref_repo_key_idx", "LabSession_ceiling_repo_key_idx";
TRUNCATE "LabSession";
INSERT INTO "LabSession" SELECT * FROM bench.session_seed;
EOF
    case $impl in
        record_push) psqlq -d bench -c 'CREATE EXTENSION forgea_audit' -c 'SELECT forgea_audit.bind_lab_session_table()' >/dev/null ;;
        record_push_unbound) psqlq -d bench -c 'CREATE EXTENSION forgea_audit' \
                                 -c 'DROP INDEX IF EXISTS "LabSession_forgea_repo_key_idx"' >/dev/null ;;
        reference) psqlq -d bench -c 'SELECT ref.bind_lab_session_table()' >/dev/null ;;
        ceiling) psqlq -d bench -c 'SELECT ceiling.bind_lab_session_table()' >/dev/null ;;
    esac
    if [ "$WARMUP" -gt 0 ]; then
        psqlq -d bench -c 'ANALYZE'
        if ! pgbench -n -M prepared -c 2 -j 2 -t $(( (WARMUP + 1) / 2 )) -D n=0 -D cbase=1000 \
                -D npayloads="$PAYLOADS" -D retry_pct="$RETRY_PCT" -f "$OUT/scripts/$impl.pgbench" bench \
                > "$OUT/logs/warmup.out" 2>&1 || grep -q aborted "$OUT/logs/warmup.out"; then
            cat "$OUT/logs/warmup.out"
            log "warm-up failed for $impl"
            exit 1
        fi
    fi
    psqlq -d bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
}

# After a run: what was written, and whether the chain verifies.
sanity() {
    local impl=$1 schema
    case $impl in
        record_push|record_push_unbound) schema=forgea_audit ;;
        reference) schema=ref ;;
        ceiling) schema=ceiling ;;
    esac
    local verify="'n/a'"
    [ "${impl%_unbound}" = record_push ] && verify="(SELECT ok::text || ' (' || rows_checked || ' rows)' FROM forgea_audit.verify_chain())"
    [ "$impl" = reference ] && verify="(SELECT ok::text || ' (' || rows_checked || ' rows)' FROM ref.verify_chain())"
    psql -X -At -F $'\t' -d bench -c "
        SELECT (SELECT count(*) FROM $schema.lab_attempt),
               (SELECT count(*) FROM $schema.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT_DUPLICATE'),
               (SELECT count(*) FROM $schema.audit_log WHERE action NOT IN ('LAB_VERIFY_ATTEMPT', 'LAB_VERIFY_ATTEMPT_DUPLICATE', 'LAB_STATUS_TRANSITION')),
               (SELECT count(*) FROM $schema.audit_log),
               $verify"
}

# p50, p99 (ms) and count of per-transaction latencies (3rd column of pgbench --log, microseconds).
percentiles() {
    cat "$@" | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "NA NA 0"; exit }
            i = int(0.50 * NR); if (i < 0.50 * NR) i++; p50 = v[i]
            i = int(0.99 * NR); if (i < 0.99 * NR) i++; p99 = v[i]
            printf "%.2f %.2f %d\n", p50 / 1000, p99 / 1000, NR
        }'
}

# One pgbench run of one implementation at c clients, round r, from a fresh state.
run_round() {
    local impl=$1 c=$2 r=$3
    local j=$((c < 2 ? c : 2))
    local prefix="$OUT/logs/${impl}_c${c}_r${r}"
    reset_state "$impl"
    local load_before
    load_before=$(load)
    log "pgbench $impl: $c clients, $j threads, round $r, ${ROUND_SECS}s (load $load_before)"
    if ! pgbench -n -M prepared -c "$c" -j "$j" -T "$ROUND_SECS" -D n=0 -D cbase=0 -D npayloads="$PAYLOADS" \
            -D retry_pct="$RETRY_PCT" --log --log-prefix="$prefix" -f "$OUT/scripts/$impl.pgbench" bench \
            > "$prefix.out" 2>&1; then
        cat "$prefix.out"
        log "pgbench failed for $impl at $c clients"
        exit 1
    fi
    if grep -q 'aborted' "$prefix.out"; then
        grep -m5 -e 'aborted' -e 'ERROR' "$prefix.out" || true
        log "a pgbench client aborted for $impl at $c clients"
        exit 1
    fi
    local tps failed n
    tps=$(awk '/^tps = / { print $3; exit }' "$prefix.out")
    failed=$(awk -F': ' '/^number of failed transactions/ { split($2, a, " "); print a[1] }' "$prefix.out")
    n=$(cat "$prefix".[0-9]* | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$c" "$r" "$tps" "$n" "${failed:-0}" >> "$ROUNDS_TSV"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$c" "$r" "$load_before" "$(load)" "$n" "$(sanity "$impl")" >> "$SANITY"
    log "  -> tps $tps, $n transactions"
}

# All rounds of one client count, then one result line per implementation: TPS = the mean of the
# rounds' TPS (equal durations), p50/p99 over all the rounds' transactions.  Odd rounds run the
# implementations in order, even rounds in reverse, so drift in the machine's load (other work on
# it) falls on all of them alike.
run_clients() {
    local c=$1 r impl order
    for r in $(seq 1 "$ROUNDS"); do
        order=$IMPLS
        [ $((r % 2)) -eq 0 ] && order=$(echo "$IMPLS" | tr ' ' '\n' | tac | tr '\n' ' ')
        for impl in $order; do
            run_round "$impl" "$c" "$r"
        done
    done
    local tps n failed p50 p99 cnt
    for impl in $IMPLS; do
        read -r tps n failed < <(awk -F'\t' -v i="$impl" -v c="$c" '$1 == i && $2 == c { t += $4; n += $5; f += $6; k++ }
                                 END { printf "%.1f %d %d\n", t / k, n, f }' "$ROUNDS_TSV")
        read -r p50 p99 cnt < <(percentiles "$OUT/logs/${impl}_c${c}_r"*.[0-9]*)
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$c" "$tps" "$p50" "$p99" "$n" "$failed" >> "$RESULTS"
        log "$impl at $c clients: tps $tps, p50 $p50 ms, p99 $p99 ms ($n transactions, $failed failed)"
    done
}

# The wide table: one row per client count, ratios of TPS.
results_table() {
    awk -F'\t' -v impls="$IMPLS" '
        { tps[$1, $2] = $3; p50[$1, $2] = $4; p99[$1, $2] = $5; if (!($2 in seen)) { seen[$2] = 1; order[++nc] = $2 } }
        function cell(i, c) { return ((i, c) in tps) ? sprintf("%s | %s | %s", tps[i, c], p50[i, c], p99[i, c]) : "- | - | -" }
        function ratio(a, b, c) { return (((a, c) in tps) && ((b, c) in tps) && tps[b, c] > 0) ? sprintf("%.2f", tps[a, c] / tps[b, c]) : "-" }
        END {
            n = split(impls, im, " ")
            h = "| clients |"; s = "|---:|"
            for (k = 1; k <= n; k++) { h = h " " im[k] " TPS | p50 ms | p99 ms |"; s = s "---:|---:|---:|" }
            h = h " record_push / reference (TPS) | record_push / ceiling (TPS) | unbound / bound (TPS) |"; s = s "---:|---:|---:|"
            print h; print s
            for (q = 1; q <= nc; q++) {
                c = order[q]; line = "| " c " |"
                for (k = 1; k <= n; k++) line = line " " cell(im[k], c) " |"
                line = line " " ratio("record_push", "reference", c) " | " ratio("record_push", "ceiling", c) " | " ratio("record_push_unbound", "record_push", c) " |"
                print line
            }
        }' "$RESULTS"
}

# The database bench (sessions, payloads, the reference and the ceiling) and the pgbench scripts;
# used by main_step, and by retention_step when the main step was skipped.
setup_bench() {
    log "== setting up database bench ($FORKS forks, $PAYLOADS payloads)"
    createdb -E UTF8 -T template0 bench
    psqlq -d bench -v nforks="$FORKS" -v npayloads="$PAYLOADS" -v fixture="$(cat "$FIXTURE")" \
        -f bench/setup.sql | tee "$OUT/payloads.txt"
    psqlq -d bench -f bench/reference_plpgsql.sql
    psqlq -d bench -f bench/ceiling.sql
    PAYLOAD_DESC=$(psql -X -At -d bench -c "
        SELECT 'JSON text avg ' || round(avg(length(payload::text))) || ' bytes (min ' || min(length(payload::text))
               || ', max ' || max(length(payload::text)) || '), stored avg ' || round(avg(pg_column_size(payload)))
               || ' bytes compressed, ' || min(jsonb_array_length(payload -> 'commits')) || '-'
               || max(jsonb_array_length(payload -> 'commits')) || ' commits'
        FROM bench.payload")
    write_scripts
}

main_step() {
    log "== main"
    setup_bench
    : > "$RESULTS"
    : > "$SANITY"
    : > "$ROUNDS_TSV"
    # Interleaved: all implementations at 1 client, then at 2, ...; see run_clients.
    for c in $CLIENTS; do
        run_clients "$c"
    done
    {
        echo "## pgbench: record_push vs reference vs ceiling"
        echo
        echo "One run. Each configuration: ${DURATION}s of \`pgbench -M prepared\` (-j = min(clients, 2)) in $ROUNDS"
        echo "round(s) of ${ROUND_SECS}s, each from a fresh state (tables emptied, then $WARMUP warm-up deliveries through the"
        echo "same implementation, VACUUM ANALYZE, CHECKPOINT), implementations in ABBA order; TPS = mean of the rounds,"
        echo "p50/p99 over all their transactions. $FORKS forks with one active session each, $PAYLOADS payloads"
        echo "($PAYLOAD_DESC), ${RETRY_PCT}% of calls retry an earlier delivery."
        echo "TPS = transactions per second; p50/p99 = latency percentiles (ms) from pgbench's per-transaction log."
        echo
        results_table
        echo
        echo "Each run: the load average (1, 5, 15 min) before and after it, the transactions pgbench logged, and what"
        echo "the tables hold after it, warm-up included: lab_attempt rows, LAB_VERIFY_ATTEMPT_DUPLICATE rows, audit"
        echo "rows other than attempt/duplicate/status transition (none expected), all audit rows, and whether the"
        echo "chain verifies."
        echo
        echo "| implementation | clients | round | load before | load after | transactions | lab_attempt rows | duplicates | other | audit rows | verify |"
        echo "|---|---:|---:|---|---|---:|---:|---:|---:|---:|---|"
        awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$SANITY"
        echo
    } >> "$REPORT"
}

# ---- verify: verify_chain over many rows ---------------------------------------------------------
verify_step() {
    log "== verify: $VERIFY_ROWS audit rows for each implementation"
    createdb -E UTF8 -T template0 verify
    psqlq -d verify -f test/fixtures/app-schema/lab_session.sql
    psqlq -d verify -c 'CREATE EXTENSION forgea_audit'
    psqlq -d verify -f bench/reference_plpgsql.sql
    psqlq -d verify <<'EOF'
-- The metadata of a typical LAB_VERIFY_ATTEMPT row (about 530 bytes of JSON).  append() keeps
-- record_push's actions and the session:/repository: chains for the extension itself, so the rows
-- are LAB_STEP_CHECKED events on lab:<session> chains: the same shape and size.
-- STABLE (like jsonb_build_object) so that it is inlined.
CREATE FUNCTION fill_meta(i int) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('delivery_id', md5(i::text)::uuid, 'commit_sha', substr(md5(i || 'a') || md5(i || 'b'), 1, 40),
        'ref', 'refs/heads/main', 'repository', 'https://github.com/Student-' || (i % 10000) || '/git-basics',
        'repository_id', 700000000 + i % 10000, 'payload_sha256', md5(i || 'c') || md5(i || 'd'),
        'sender', 'Student-' || (i % 10000), 'attempt_id', i, 'session_id', 'sess-' || (i % 10000),
        'before_sha', substr(md5(i || 'e') || md5(i || 'f'), 1, 40), 'commit_count', 1 + i % 4,
        'changed_path_count', 1 + i % 9, 'created', false, 'deleted', false, 'forced', false) $$;
CREATE PROCEDURE fill_forgea(nrows int, nchains int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..nrows LOOP
        PERFORM forgea_audit.append(action => 'LAB_STEP_CHECKED', actor_type => 'webhook', actor_id => 'github',
                                    target_type => 'lab_step', target_id => i::text, metadata => fill_meta(i),
                                    correlation_id => md5(i::text)::uuid::text, user_id => 'user-' || (i % nchains),
                                    chain => 'lab:sess-' || (i % nchains));
        IF i % 100 = 0 THEN COMMIT; END IF;
    END LOOP;
END $$;
CREATE PROCEDURE fill_ref(nrows int) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..nrows LOOP
        PERFORM ref.append('LAB_STEP_CHECKED', 'webhook', 'github', 'lab_step', i::text, 'success', 'INFO',
                           fill_meta(i), md5(i::text)::uuid::text, NULL, 'user-' || (i % 10000));
        IF i % 100 = 0 THEN COMMIT; END IF;
    END LOOP;
END $$;
EOF
    local t0 t1 fill_fa fill_ref
    t0=$(now); psqlq -d verify -c "SET synchronous_commit = off" -c "CALL fill_forgea($VERIFY_ROWS, $VERIFY_CHAINS)"; t1=$(now)
    fill_fa=$(elapsed "$t0" "$t1")
    log "  forgea_audit.append x $VERIFY_ROWS over $VERIFY_CHAINS chains: ${fill_fa}s"
    t0=$(now); psqlq -d verify -c "SET synchronous_commit = off" -c "CALL fill_ref($VERIFY_ROWS)"; t1=$(now)
    fill_ref=$(elapsed "$t0" "$t1")
    log "  ref.append x $VERIFY_ROWS (one chain): ${fill_ref}s"
    psqlq -d verify -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
    local sizes
    sizes=$(psql -X -At -d verify -c "SELECT pg_size_pretty(pg_total_relation_size('forgea_audit.audit_log')) || ' / ' || pg_size_pretty(pg_total_relation_size('ref.audit_log'))")

    local rows=() impl fn run secs h0 h1 shm a0 apeak prefix out
    for impl in forgea_audit ref; do
        fn="$impl.verify_chain()"
        for run in 1 2; do
            read -r secs h0 h1 shm a0 apeak prefix < <(measure verify "SELECT * FROM $fn")
            out=$(tr '|' '/' < "$prefix.out")
            log "  $fn run $run: ${secs}s, VmHWM ${h0} -> ${h1} kB (RssShmem ${shm} kB), RssAnon ${a0} -> peak ${apeak} kB: $out"
            rows+=("| \`$fn\` | $run | $secs | $(awk -v n="$VERIFY_ROWS" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') | $((h1 / 1024)) | $((shm / 1024)) | $(((apeak - a0) / 1024)) | $out |")
        done
    done
    {
        echo "## verify_chain over $VERIFY_ROWS rows"
        echo
        echo "Rows written with \`forgea_audit.append\` over $VERIFY_CHAINS chains (${fill_fa}s, $(awk -v n="$VERIFY_ROWS" -v s="$fill_fa" 'BEGIN { printf "%.0f", n / s }') rows/s) and"
        echo "with \`ref.append\` on the reference's single chain (${fill_ref}s, $(awk -v n="$VERIFY_ROWS" -v s="$fill_ref" 'BEGIN { printf "%.0f", n / s }') rows/s), each from one"
        echo "session (a PL/pgSQL loop, COMMIT every 100 rows, synchronous_commit off), with the metadata of a typical"
        echo "LAB_VERIFY_ATTEMPT row (~530 bytes of JSON). Table + indexes: $sizes (forgea_audit / ref)."
        echo "Then VACUUM ANALYZE, CHECKPOINT, and each verifier twice in a fresh backend (run 2 finds the data cached)."
        echo "Memory: VmHWM = the backend's peak resident set, which includes the shared buffers it read (RssShmem"
        echo "at the end); private peak = the highest RssAnon sampled every ~10 ms during the call, minus RssAnon before."
        echo
        echo "| verifier | run | seconds | rows/s | VmHWM (MiB) | RssShmem (MiB) | private peak (MiB) | ok / rows_checked / first_bad_seq / detail |"
        echo "|---|---:|---:|---:|---:|---:|---:|---|"
        printf '%s\n' "${rows[@]}"
        echo
    } >> "$REPORT"
    dropdb verify
}

# ---- measuring one call ---------------------------------------------------------------------------
# Runs one statement in a fresh backend of database $1 and prints: seconds, VmHWM before, VmHWM
# after, RssShmem after, RssAnon before, peak RssAnon during the call (all kB), and the prefix of
# the files it left ($prefix.out holds the statement's output).
measure() {
    local db=$1 sql=$2 prefix
    prefix=$(mktemp -u "$OUT/logs/measure.XXXXXX")
    psql -X -At -v ON_ERROR_STOP=1 -d "$db" > "$prefix.res" <<SQL
SELECT pg_backend_pid() AS pid, substring(s from 'VmHWM:\s*(\d+) kB') AS hwm0, substring(s from 'RssAnon:\s*(\d+) kB') AS anon0
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') AS s \gset
\setenv BENCH_PID :pid
\! bash bench/lib/rss_sampler.sh $prefix &
SELECT clock_timestamp() AS t0 \gset
$sql \g $prefix.out
SELECT format('%s %s %s %s %s', round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 3), :hwm0,
              substring(s from 'VmHWM:\s*(\d+) kB'), substring(s from 'RssShmem:\s*(\d+) kB'), :anon0)
FROM pg_read_file('/proc/' || pg_backend_pid() || '/status') AS s;
\! touch $prefix.stop
SQL
    while [ ! -e "$prefix.peak" ]; do sleep 0.01; done
    echo "$(cat "$prefix.res") $(cat "$prefix.peak") $prefix"
}

# ---- big: one ~20 MB payload ---------------------------------------------------------------------
big_step() {
    log "== big: a payload of $BIG_COMMITS commits"
    createdb -E UTF8 -T template0 big
    psqlq -d big -v nforks=10 -v npayloads=10 -v fixture="$(cat "$FIXTURE")" -f bench/setup.sql >/dev/null
    psqlq -d big -f bench/reference_plpgsql.sql
    psqlq -d big -f bench/ceiling.sql
    psqlq -d big -v fixture="$(cat "$FIXTURE")" -v commits="$BIG_COMMITS" <<'EOF' >/dev/null
CREATE EXTENSION forgea_audit;
SELECT forgea_audit.bind_lab_session_table(), ref.bind_lab_session_table(), ceiling.bind_lab_session_table();
INSERT INTO "LabSession" SELECT * FROM bench.session_seed;
CREATE TABLE bench.big AS
SELECT p AS payload, p::text AS body, p::text::json AS body_json
FROM bench.make_payload(:'fixture'::jsonb, 1, 424242, :commits, 220, 340, 6000, 1800) AS p;
VACUUM ANALYZE;
EOF
    local desc
    desc=$(psql -X -At -F ', ' -d big -c "
        SELECT round(length(payload::text) / 1048576.0, 1) || ' MB as JSON text',
               round(pg_column_size(payload) / 1048576.0, 1) || ' MB stored (compressed)',
               jsonb_array_length(payload -> 'commits') || ' commits',
               (SELECT sum(jsonb_array_length(c -> 'added') + jsonb_array_length(c -> 'modified')
                           + jsonb_array_length(c -> 'removed'))
                FROM jsonb_array_elements(payload -> 'commits') AS c) || ' file entries'
        FROM bench.big")
    log "  payload: $desc"
    local rows=() label sql r secs h0 h1 shm
    local payload='(SELECT body FROM bench.big)::jsonb'
    for r in 1 2 3; do
        for label in $BIG_CALLS; do
            case $label in
                parse) sql="SELECT jsonb_typeof(body::jsonb) FROM bench.big" ;;
                record_push) sql="SELECT * FROM forgea_audit.record_push($payload, bench.guid(90, $r))" ;;
                parse_json) sql="SELECT json_typeof(body::json) FROM bench.big" ;;
                record_push_json) sql="SELECT * FROM forgea_audit.record_push_json((SELECT body FROM bench.big)::json, bench.guid(93, $r))" ;;
                record_push_json_col) sql="SELECT * FROM forgea_audit.record_push_json((SELECT body_json FROM bench.big), bench.guid(94, $r))" ;;
                reference) sql="SELECT * FROM ref.record_push($payload, bench.guid(91, $r))" ;;
                ceiling) sql=$(ceiling_statement "$payload" "bench.guid(92, $r)" | sed '$ s/;[[:space:]]*$//') ;;
            esac
            read -r secs h0 h1 shm a0 apeak prefix < <(measure big "$sql")
            log "  $label run $r: ${secs}s, VmHWM ${h0} -> ${h1} kB (RssShmem ${shm} kB), RssAnon ${a0} -> peak ${apeak} kB"
            rows+=("| $label | $r | $secs | $((h0 / 1024)) | $((h1 / 1024)) | $(((h1 - h0) / 1024)) | $((shm / 1024)) | $(((apeak - a0) / 1024)) |")
        done
    done
    local check
    check=$(psql -X -At -F ' | ' -d big -c "
        SELECT 'record_push', commit_count, cardinality(changed_paths), pg_column_size(changed_files) FROM forgea_audit.lab_attempt WHERE delivery_id = bench.guid(90, 1)::uuid
        UNION ALL
        SELECT 'record_push_json', commit_count, cardinality(changed_paths), pg_column_size(changed_files) FROM forgea_audit.lab_attempt WHERE delivery_id = bench.guid(93, 1)::uuid
        UNION ALL
        SELECT 'reference', commit_count, cardinality(changed_paths), pg_column_size(changed_files) FROM ref.lab_attempt WHERE delivery_id = bench.guid(91, 1)::uuid
        UNION ALL
        SELECT 'ceiling', commit_count, cardinality(changed_paths), pg_column_size(changed_files) FROM ceiling.lab_attempt WHERE delivery_id = bench.guid(92, 1)::uuid")
    local same
    same=$(psql -X -At -d big -c "
        SELECT count(DISTINCT (payload_sha256, changed_paths, changed_files::text, commit_count)) || ' distinct (payload_sha256, changed_paths, changed_files, commit_count) over '
               || count(*) || ' attempts of record_push and record_push_json'
        FROM forgea_audit.lab_attempt WHERE delivery_id IN (SELECT bench.guid(c, r)::uuid FROM generate_series(1, 3) r, unnest(ARRAY[90, 93, 94]) c)")
    log "  $same"
    {
        echo "## One large payload"
        echo
        echo "Payload: $desc. Each call in a fresh backend, given \`body::jsonb\` (the payload's JSON text, read"
        echo "from a table and parsed, as the webhook route would send it), so every row includes parsing its"
        echo "JSON text: the \`parse\` row is \`SELECT jsonb_typeof(body::jsonb)\` alone. VmHWM is the"
        echo "backend's peak resident set from /proc/<pid>/status (it includes shared memory the backend touched;"
        echo "RssShmem is that part at the end); private peak = the highest RssAnon sampled every ~10 ms during the"
        echo "call, minus RssAnon before it. Runs 2 and 3 of each find the previous runs' session rows and audit"
        echo "chain in place (new GUIDs: each run records a new attempt). \`record_push_json\` is given"
        echo "\`body::json\` (json's input function checks the syntax and keeps the text; \`parse_json\` is that"
        echo "alone); \`record_push_json_col\` reads a json column, as a bind parameter of type json would arrive."
        echo
        echo "| call | run | seconds | VmHWM before (MiB) | VmHWM after (MiB) | VmHWM growth (MiB) | RssShmem after (MiB) | private peak (MiB) |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        printf '%s\n' "${rows[@]}"
        echo
        echo "Attempt rows written by run 1 (implementation | commit_count | distinct changed paths | changed_files bytes):"
        echo
        echo '```'
        echo "$check"
        echo "$same"
        echo '```'
        echo
    } >> "$REPORT"
    dropdb big
}

# ---- wal: WAL bytes per delivery -----------------------------------------------------------------
# For each implementation in WAL_IMPLS, from its fresh state (reset_state: warm-up, VACUUM ANALYZE,
# CHECKPOINT), WAL_DELIVERIES calls of the main step's pgbench script (2 clients, -t), autovacuum
# off for the window so that only the deliveries write: WAL = pg_wal_lsn_diff of
# pg_current_wal_lsn() after and before.  pg_walinspect splits it by record type
# (pg_get_wal_stats) and by relation (pg_get_wal_records_info: each record counted whole for the
# relation of its first block reference; records without one, e.g. commits, as "(no relation)").
# The window starts right after a CHECKPOINT, so it includes the full-page images of every page
# the deliveries touch first (a production server pays them once per page per checkpoint); the
# table shows the bytes with and without them.  chain_head's n_tup_upd / n_tup_hot_upd over the
# window (forgea_audit and the reference) say whether the head updates were HOT.
wal_rows() { echo "$OUT/wal.tsv"; }

wal_impl() {
    local impl=$1 schema
    case $impl in
        record_push|record_push_unbound) schema=forgea_audit ;;
        reference) schema=ref ;;
        ceiling) schema=ceiling ;;
    esac
    reset_state "$impl"
    psqlq -d bench -c 'CREATE EXTENSION IF NOT EXISTS pg_walinspect' -c 'ALTER SYSTEM SET autovacuum = off' \
        -c 'SELECT pg_reload_conf()' >/dev/null
    sleep 1
    local hot0 lsn0 lsn1 hot1
    hot0=$(psql -X -At -F ' ' -d bench -c "SELECT coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0)
                                            FROM pg_stat_user_tables WHERE schemaname = '$schema' AND relname = 'chain_head'")
    lsn0=$(psql -X -At -d bench -c 'SELECT pg_current_wal_lsn()')
    local per=$(( (WAL_DELIVERIES + 1) / 2 ))
    if ! pgbench -n -M prepared -c 2 -j 2 -t "$per" -D n=0 -D cbase=5000 -D npayloads="$PAYLOADS" \
            -D retry_pct="$RETRY_PCT" -f "$OUT/scripts/$impl.pgbench" bench > "$OUT/logs/wal_$impl.out" 2>&1 \
            || grep -q aborted "$OUT/logs/wal_$impl.out"; then
        cat "$OUT/logs/wal_$impl.out"; log "pgbench failed (wal, $impl)"; exit 1
    fi
    lsn1=$(psql -X -At -d bench -c 'SELECT pg_current_wal_lsn()')
    sleep 1   # the pgbench backends flush their statistics as they exit
    hot1=$(psql -X -At -F ' ' -d bench -c "SELECT coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0)
                                            FROM pg_stat_user_tables WHERE schemaname = '$schema' AND relname = 'chain_head'")
    psqlq -d bench -c 'ALTER SYSTEM RESET autovacuum' -c 'SELECT pg_reload_conf()' >/dev/null
    local n=$((per * 2))
    local bytes fpi rec
    read -r bytes fpi rec < <(psql -X -At -F ' ' -d bench -c "
        SELECT pg_wal_lsn_diff('$lsn1', '$lsn0')::bigint, sum(fpi_size)::bigint, sum(record_size)::bigint
        FROM pg_get_wal_stats('$lsn0', '$lsn1', false)")
    local upd hot
    upd=$(( ${hot1% *} - ${hot0% *} )); hot=$(( ${hot1#* } - ${hot0#* } ))
    [ "$schema" = ceiling ] && { upd="-"; hot="-"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$n" "$bytes" "$fpi" "$rec" "$upd" "$hot" >> "$(wal_rows)"
    log "   $impl: $n deliveries, $bytes WAL bytes ($((bytes / n)) per delivery; full-page images $fpi), chain_head updates $upd, HOT $hot"
    # by record type
    psql -X -At -F $'\t' -d bench -c "
        SELECT '$impl', \"resource_manager/record_type\", count, record_size, fpi_size, combined_size
        FROM pg_get_wal_stats('$lsn0', '$lsn1', true) WHERE count > 0" >> "$OUT/wal_types.tsv"
    # by relation (first block reference of each record)
    psql -X -At -F $'\t' -d bench -c "
        WITH r AS (
            SELECT (regexp_match(block_ref, 'rel \d+/\d+/(\d+)'))[1]::oid AS filenode, record_length, fpi_length
            FROM pg_get_wal_records_info('$lsn0', '$lsn1'))
        SELECT '$impl', coalesce((SELECT c.relnamespace::regnamespace || '.' || c.relname FROM pg_class c
                                  WHERE c.relfilenode = r.filenode
                                     OR (c.relfilenode = 0 AND pg_relation_filenode(c.oid) = r.filenode) LIMIT 1),
                                 CASE WHEN filenode IS NULL THEN '(no relation)' ELSE 'filenode ' || filenode END) AS rel,
               count(*), sum(record_length), sum(fpi_length)
        FROM r GROUP BY 2 ORDER BY 4 DESC" >> "$OUT/wal_rels.tsv"
}

wal_step() {
    log "== wal: WAL bytes per delivery, $WAL_DELIVERIES deliveries each ($WAL_IMPLS)"
    if ! psql -X -At -d bench -c 'SELECT 1' >/dev/null 2>&1; then
        setup_bench
    fi
    [ -s "$OUT/scripts/record_push.pgbench" ] || write_scripts
    : > "$(wal_rows)"; : > "$OUT/wal_types.tsv"; : > "$OUT/wal_rels.tsv"
    local impl
    for impl in $WAL_IMPLS; do
        wal_impl "$impl"
    done
    {
        echo "## WAL bytes per delivery"
        echo
        echo "Each implementation from its fresh state ($WARMUP warm-up deliveries, VACUUM ANALYZE, CHECKPOINT), then"
        echo "$WAL_DELIVERIES calls of the main step's script (pgbench -c 2 -t, ${RETRY_PCT}% retries), autovacuum off:"
        echo "WAL = pg_wal_lsn_diff(pg_current_wal_lsn() after, before). The window starts at a checkpoint, so it"
        echo "holds a full-page image of every page first touched in it; \"without FPI\" leaves them out."
        echo "chain_head updates / HOT: pg_stat_user_tables n_tup_upd / n_tup_hot_upd of the chain head table over the window."
        echo
        echo "| implementation | deliveries | WAL bytes | bytes / delivery | without FPI / delivery | / ceiling | without FPI / ceiling | chain_head updates | HOT |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        awk -F'\t' '{ impl[NR] = $1; n[NR] = $2; b[NR] = $3; f[NR] = $4; u[NR] = $6; h[NR] = $7
                      if ($1 == "ceiling") { cb = $3 / $2; cf = ($3 - $4) / $2 } }
            END { for (i = 1; i <= NR; i++) {
                    pd = b[i] / n[i]; pf = (b[i] - f[i]) / n[i]
                    printf "| %s | %d | %d | %.0f | %.0f | %s | %s | %s | %s |\n", impl[i], n[i], b[i], pd, pf,
                           (cb > 0 ? sprintf("%.2f", pd / cb) : "-"), (cf > 0 ? sprintf("%.2f", pf / cf) : "-"), u[i], h[i] } }' "$(wal_rows)"
        echo
        echo "By relation (each WAL record counted whole for the relation of its first block reference), bytes per delivery,"
        echo "the ten largest per implementation; FPI = the part that is full-page images:"
        echo
        echo "| implementation | relation | records / delivery | bytes / delivery | of which FPI |"
        echo "|---|---|---:|---:|---:|"
        awk -F'\t' 'NR == FNR { n[$1] = $2; next }
                    { if (++k[$1] <= 10) printf "| %s | %s | %.2f | %.0f | %.0f |\n", $1, $2, $3 / n[$1], $4 / n[$1], $5 / n[$1] }' \
            "$(wal_rows)" "$OUT/wal_rels.tsv"
        echo
        echo "By record type (pg_get_wal_stats), bytes per delivery, the eight largest per implementation:"
        echo
        echo "| implementation | record type | records / delivery | bytes / delivery | of which FPI |"
        echo "|---|---|---:|---:|---:|"
        sort -t $'\t' -k1,1 -s -k6,6nr "$OUT/wal_types.tsv" | awk -F'\t' 'NR == FNR { n[$1] = $2; next }
                    { if (++k[$1] <= 8) printf "| %s | %s | %.2f | %.0f | %.0f |\n", $1, $2, $3 / n[$1], $6 / n[$1], $5 / n[$1] }' \
            "$(wal_rows)" -
        echo
    } >> "$REPORT"
}

# ---- retention: archiving expired attempts while record_push runs ----------------------------------
# For each path (run_retention(): one transaction for the whole run, as pg_cron or a DBA would call
# it; batches: archive_batch(now() - 90 days, 1000) in its own transaction each, as the background
# worker does): a fresh state (reset_state record_push, warm-up included), RETENTION_ROWS expired
# attempts inserted straight into lab_attempt (recorded_at 100 days ago), VACUUM ANALYZE, CHECKPOINT;
# then an idle record_push baseline (4 clients, -j 2, RETENTION_IDLE_SECS), then the same pgbench run
# with -T RETENTION_PGBENCH_SECS in the background and, 2 s into it, the archiving.  The "during"
# numbers are over the overlap window only: transactions that started after the archiving started
# and finished before it finished (pgbench's per-transaction log has each one's end time and
# latency).  RETENTION_PGBENCH_SECS is chosen to outlast the archiving; the report says if it did not.
retention_rows() { echo "$OUT/retention.tsv"; }

# TPS, p50, p99 (ms) and count of the transactions in pgbench logs $3.. that started at or after
# epoch $1 and ended at or before epoch $2 (log columns: client, n, latency us, script, end s, end us).
# TPS is over the part of the window pgbench covered: from $1 to min($2, pgbench's last end time).
window_stats() {
    local t0=$1 t1=$2 last
    shift 2
    last=$(cat "$@" | awk -v b="$t1" '{ e = $5 + $6 / 1e6; if (e > m) m = e } END { printf "%.6f", (m < b ? m : b) }')
    cat "$@" | awk -v a="$t0" -v b="$t1" '{ e = $5 + $6 / 1e6; s = e - $3 / 1e6; if (s >= a && e <= b) print $3 }' \
        | sort -n | awk -v w="$(awk -v a="$t0" -v b="$last" 'BEGIN { print b - a }')" '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "NA NA NA 0"; exit }
            i = int(0.50 * NR); if (i < 0.50 * NR) i++; p50 = v[i]
            i = int(0.99 * NR); if (i < 0.99 * NR) i++; p99 = v[i]
            printf "%.1f %.2f %.2f %d\n", NR / w, p50 / 1000, p99 / 1000, NR
        }'
}

# Samples pg_stat_activity every ~0.5 s until $1.stop exists: per sample, how many pgbench backends
# wait on a heavyweight lock (wait_event_type = Lock) and on what; one line per sample in $1.locks.
lock_sampler() {
    local prefix=$1
    while [ ! -e "$prefix.stop" ]; do
        psql -X -At -d bench -c "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') || ' ' ||
                coalesce(string_agg(DISTINCT wait_event, ',') FILTER (WHERE wait_event_type = 'Lock'), '-')
            FROM pg_stat_activity WHERE application_name = 'pgbench'" >> "$prefix.locks" 2>/dev/null || true
        sleep 0.5
    done
}

retention_pgbench() {
    # $1 log prefix, $2 seconds, $3 cbase (GUIDs of their own per run)
    pgbench -n -M prepared -c 4 -j 2 -T "$2" -D n=0 -D cbase="$3" -D npayloads="$PAYLOADS" \
        -D retry_pct="$RETRY_PCT" --log --log-prefix="$1" -f "$OUT/scripts/record_push.pgbench" bench > "$1.out" 2>&1
}

retention_path() {
    local path=$1 cbase=$2
    local prefix="$OUT/logs/retention_$path"
    log "-- retention $path: fresh state, $RETENTION_ROWS expired attempts"
    reset_state record_push
    local t0 t1
    t0=$(now)
    psqlq -d bench -c "INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths,
            changed_files, commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url,
            repository_key, payload_sha256, recorded_at)
        SELECT 'sess-expired-' || (g % 1000), gen_random_uuid(), substr(md5(g::text) || md5(g::text || 'x'), 1, 40),
               'refs/heads/main', ARRAY['README.md', 'src/main.c'], '{\"added\": [], \"modified\": [\"README.md\", \"src/main.c\"], \"removed\": []}',
               1, false, false, false, false, false, 'https://github.com/expired/fork-' || (g % 1000),
               'github.com/expired/fork-' || (g % 1000), sha256(g::text::bytea), now() - interval '100 days'
        FROM generate_series(1, $RETENTION_ROWS) g"
    psqlq -d bench -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
    t1=$(now)
    log "   inserted, vacuumed, checkpointed in $(elapsed "$t0" "$t1")s; lab_attempt $(psql -X -At -d bench -c "SELECT pg_size_pretty(pg_total_relation_size('forgea_audit.lab_attempt'))") with indexes"

    # idle baseline
    local load_idle
    load_idle=$(load)
    log "   idle baseline: record_push, 4 clients, ${RETENTION_IDLE_SECS}s (load $load_idle)"
    if ! retention_pgbench "${prefix}_idle" "$RETENTION_IDLE_SECS" "$cbase" || grep -q aborted "${prefix}_idle.out"; then
        cat "${prefix}_idle.out"; log "pgbench failed (retention $path, idle)"; exit 1
    fi
    local idle_tps idle_p50 idle_p99 idle_n
    idle_tps=$(awk '/^tps = / { printf "%.1f", $3; exit }' "${prefix}_idle.out")
    read -r idle_p50 idle_p99 idle_n < <(percentiles "${prefix}_idle".[0-9]*)
    log "   idle: tps $idle_tps, p50 $idle_p50 ms, p99 $idle_p99 ms ($idle_n transactions)"

    # under archiving
    local load_during
    load_during=$(load)
    log "   archiving ($path) under record_push, pgbench -T $RETENTION_PGBENCH_SECS (load $load_during)"
    retention_pgbench "${prefix}_during" "$RETENTION_PGBENCH_SECS" $((cbase + 1000)) &
    local pgb=$!
    sleep 2
    rm -f "$prefix.stop" "$prefix.locks"
    lock_sampler "$prefix" &
    local sampler=$!
    local a0 a1 archived batches extra=""
    a0=$(now)
    if [ "$path" = run_retention ]; then
        psql -X -At -F ' ' -v ON_ERROR_STOP=1 -d bench -c "SELECT archived, batches, skipped FROM forgea_audit.run_retention()" \
            > "$prefix.result" 2>&1 || { cat "$prefix.result"; log "run_retention failed"; }
        a1=$(now)
        read -r archived batches extra < "$prefix.result" || true
        extra="skipped=$extra"
    else
        local nb=$(( (RETENTION_ROWS + 999) / 1000 + 2 )) i
        if [ "$path" = batches ]; then
            for i in $(seq 1 "$nb"); do
                echo "SELECT archived, skipped FROM forgea_audit.archive_batch(now() - interval '90 days', 1000);"
            done
        else
            # worker: what the background worker runs, one transaction per batch, each batch
            # resuming after the position the previous one returned, RETENTION_DELAY_MS between them
            # (worker_d<ms>: that many ms, as with forgea_audit.archive_batch_delay)
            local delay_ms=$RETENTION_DELAY_MS
            case $path in worker_d*) delay_ms=${path#worker_d} ;; esac
            echo "\\set r ''"
            echo "\\set i ''"
            for i in $(seq 1 "$nb"); do
                echo "SELECT archived, skipped, resume_recorded_at AS r, resume_id AS i FROM forgea_audit.archive_batch(now() - interval '90 days', 1000, nullif(:'r', '')::timestamptz, nullif(:'i', '')::bigint) \\gset"
                echo "\\echo :archived :skipped"
                if [ "$delay_ms" -gt 0 ]; then echo "SELECT pg_sleep($delay_ms / 1000.0) \\g /dev/null"; fi
            done
        fi > "$OUT/scripts/retention_$path.sql"
        psql -X -At -F ' ' -v ON_ERROR_STOP=1 -d bench -f "$OUT/scripts/retention_$path.sql" \
            > "$prefix.result" 2>&1 || { tail -5 "$prefix.result"; log "archive_batch loop failed"; }
        a1=$(now)
        archived=$(awk '{ s += $1 } END { print s + 0 }' "$prefix.result")
        batches=$(awk '$1 > 0' "$prefix.result" | wc -l)
        extra="skipped batches=$(awk '$2 == "t"' "$prefix.result" | wc -l)"
    fi
    touch "$prefix.stop"
    wait "$sampler" || true
    local secs
    secs=$(elapsed "$a0" "$a1")
    if ! wait "$pgb" || grep -q aborted "${prefix}_during.out"; then
        grep -m5 -e aborted -e ERROR "${prefix}_during.out" || true; log "pgbench failed (retention $path, during)"; exit 1
    fi
    local pg_end covered=yes
    pg_end=$(cat "${prefix}_during".[0-9]* | awk '{ e = $5 + $6 / 1e6; if (e > m) m = e } END { printf "%.3f", m }')
    awk -v e="$pg_end" -v b="$a1" 'BEGIN { exit !(e < b) }' && covered="NO (pgbench ended $(elapsed "$pg_end" "$a1")s before the archiving)"
    local d_tps d_p50 d_p99 d_n
    read -r d_tps d_p50 d_p99 d_n < <(window_stats "$a0" "$a1" "${prefix}_during".[0-9]*)
    local all_tps
    all_tps=$(awk '/^tps = / { printf "%.1f", $3; exit }' "${prefix}_during.out")
    local lock_samples lock_hits lock_events
    lock_samples=$(wc -l < "$prefix.locks" 2>/dev/null || echo 0)
    lock_hits=$(awk '$1 > 0' "$prefix.locks" 2>/dev/null | wc -l)
    lock_events=$(awk '$1 > 0 { print $2 }' "$prefix.locks" 2>/dev/null | tr ',' '\n' | sort -u | paste -sd, -)
    local rate ratio
    rate=$(awk -v n="$archived" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    ratio=$(awk -v a="$d_p99" -v b="$idle_p99" 'BEGIN { if (b > 0 && a != "NA") printf "%.2f", a / b; else print "NA" }')
    log "   $path: archived $archived in $batches batches, ${secs}s ($rate rows/s, $extra); record_push during it: tps $d_tps, p50 $d_p50 ms, p99 $d_p99 ms ($d_n transactions), p99 ratio $ratio; pgbench covered it: $covered; lock-wait samples $lock_hits/$lock_samples ${lock_events:-}"

    # checks
    local checks
    checks=$(psql -X -At -F $'\t' -d bench -c "
        SELECT (SELECT count(*) FROM forgea_audit.lab_attempt),
               (SELECT count(*) FROM forgea_audit.lab_attempt_archive),
               $RETENTION_ROWS + (SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT'),
               (SELECT count(*) FROM forgea_audit.lab_attempt l JOIN forgea_audit.lab_attempt_archive a USING (id)),
               (SELECT count(*) FROM forgea_audit.lab_attempt WHERE recorded_at < now() - interval '90 days'),
               (SELECT ok::text || ' (' || batches_checked || ' batches)' FROM forgea_audit.verify_archive()),
               (SELECT ok::text || ' (' || rows_checked || ' rows)' FROM forgea_audit.verify_chain()),
               (SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE')")
    local live arch expected both due va vc nevents
    IFS=$'\t' read -r live arch expected both due va vc nevents <<< "$checks"
    local sum=$((live + arch)) total_ok=no
    [ "$sum" -eq "$expected" ] && total_ok=yes
    log "   checks: live $live + archived $arch = $sum, expected $expected ($total_ok); in both: $both; due left live: $due; verify_archive $va; verify_chain $vc; RETENTION_ARCHIVE events $nevents"
    printf '%s\n' "$path|$RETENTION_ROWS|$archived|$batches|$secs|$rate|$extra|$idle_tps|$idle_p50|$idle_p99|$idle_n|$d_tps|$d_p50|$d_p99|$d_n|$ratio|$all_tps|$covered|$lock_hits/$lock_samples ${lock_events:-}|$load_idle|$load_during|$live|$arch|$expected|$total_ok|$both|$due|$va|$vc|$nevents" \
        >> "$(retention_rows)"
}

retention_step() {
    log "== retention: $RETENTION_ROWS expired attempts, run_retention() and the worker's per-batch path, under record_push"
    if ! psql -X -At -d bench -c 'SELECT 1' >/dev/null 2>&1; then
        setup_bench
    fi
    [ -s "$OUT/scripts/record_push.pgbench" ] || write_scripts
    : > "$(retention_rows)"
    local path cbase=20000
    for path in $RETENTION_PATHS; do
        retention_path "$path" "$cbase"
        cbase=$((cbase + 10000))
    done
    {
        echo "## Retention"
        echo
        echo "Each path from a fresh state (extension dropped and created, $WARMUP warm-up deliveries), then"
        echo "$RETENTION_ROWS expired attempts inserted straight into \`lab_attempt\` (recorded_at = now() - 100 days),"
        echo "VACUUM ANALYZE, CHECKPOINT. Idle: record_push under pgbench (4 clients, -j 2, ${RETENTION_IDLE_SECS}s, the main"
        echo "step's script, GUIDs of its own). During: the same pgbench run with -T $RETENTION_PGBENCH_SECS started 2 s before the archiving;"
        echo "its TPS/p50/p99 count only the transactions that started after the archiving started and ended before"
        echo "it ended (the overlap window). \`run_retention\` = \`SELECT * FROM forgea_audit.run_retention()\`, one"
        echo "transaction, archive_batch_size $(psql -X -At -d bench -c 'SELECT archive_batch_size FROM forgea_audit.retention_settings()');"
        echo "\`batches\` = one psql session running \`SELECT ... FROM forgea_audit.archive_batch(now() - interval '90 days', 1000);\`"
        echo "lines with autocommit, one transaction per batch, no position (as a cron job looping over archive_batch would);"
        echo "\`worker\` = the same, each batch resuming after the position the previous one returned, as the background"
        echo "worker does, with ${RETENTION_DELAY_MS} ms between batches (BENCH_RETENTION_DELAY_MS); \`worker_d<ms>\`: with <ms> ms"
        echo "between batches, as \`forgea_audit.archive_batch_delay\` makes the worker pause."
        echo "Lock waits: pgbench backends with wait_event_type = Lock in pg_stat_activity, sampled every ~0.5 s."
        echo
        echo "| path | archived | batches | seconds | rows/s | idle TPS | idle p50 | idle p99 | during TPS | during p50 | during p99 | p99 during / idle | pgbench covered the archiving | lock-wait samples | load idle / during |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
        awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n",
                     $1, $3, $4, $5, $6, $8, $9, $10, $12, $13, $14, $16, $18, $19, $20, $21 }' "$(retention_rows)"
        echo
        echo "Targets (issue 5, reported, not asserted): archiving $RETENTION_ROWS in <= 60 s; record_push p99 during <= 2x idle p99."
        echo
        echo "| path | within 60 s | p99 <= 2x idle | live + archived = expected | in both | due left live | verify_archive | verify_chain | RETENTION_ARCHIVE events |"
        echo "|---|---|---|---|---:|---:|---|---|---:|"
        awk -F'|' '{ printf "| %s | %s | %s | %s + %s = %s (expected %s: %s) | %s | %s | %s | %s | %s |\n",
                     $1, ($5 <= 60 ? "yes" : "no"), ($16 != "NA" && $16 <= 2 ? "yes" : "no"), $22, $23, $22 + $23, $24, $25,
                     $26, $27, $28, $29, $30 }' "$(retention_rows)"
        echo
        echo "Expected = the $RETENTION_ROWS inserted + one per LAB_VERIFY_ATTEMPT audit row (every attempt record_push wrote,"
        echo "warm-up included). Skipped (another run held the retention lock): $(awk -F'|' '{ printf "%s: %s; ", $1, $7 }' "$(retention_rows)")"
        echo "record_push TPS over the whole during-run (-T $RETENTION_PGBENCH_SECS, mostly after the archiving): $(awk -F'|' '{ printf "%s: %s; ", $1, $17 }' "$(retention_rows)")"
        echo
    } >> "$REPORT"
}

if [ "${BENCH_SKIP_MAIN:-0}" = 1 ]; then log "== main: skipped (BENCH_SKIP_MAIN=1)"; else main_step; fi
if [ "${BENCH_SKIP_WAL:-0}" = 1 ]; then log "== wal: skipped (BENCH_SKIP_WAL=1)"; else wal_step; fi
if [ "${BENCH_SKIP_VERIFY:-0}" = 1 ]; then log "== verify: skipped (BENCH_SKIP_VERIFY=1)"; else verify_step; fi
if [ "${BENCH_SKIP_BIG:-0}" = 1 ]; then log "== big: skipped (BENCH_SKIP_BIG=1)"; else big_step; fi
if [ "${BENCH_SKIP_RETENTION:-0}" = 1 ]; then log "== retention: skipped (BENCH_SKIP_RETENTION=1)"; else retention_step; fi

{
    echo "## Load"
    echo
    echo "- at start: $START_UPTIME"
    echo "- at end:   $(uptime)"
    echo "- (the benchmark itself keeps up to 16 clients + their backends busy; load from other work on the"
    echo "  machine shows up as a higher load average than the client count explains)"
} >> "$REPORT"
echo
cat "$REPORT"
