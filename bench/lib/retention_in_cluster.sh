#!/usr/bin/env bash
# Runs against the cluster bench/retention.sh started (PGHOST/PGPORT/PGUSER; BENCH_ROOT, BENCH_OUT,
# SERVER_LOG; forgea_audit preloaded).  See bench/retention.sh for what it measures and its settings.
set -euo pipefail
cd "$BENCH_ROOT"
OUT=$BENCH_OUT
mkdir -p "$OUT/logs"

ROWS=${BENCH_RET_ROWS:-1000000}
CONFIGS=${BENCH_RET_CONFIGS-"before:archive_batch_size=1000,archive_batch_delay=0 after:"}
REPEATS=${BENCH_RET_REPEATS:-1}
CLIENTS=${BENCH_RET_CLIENTS:-8}
IDLE_SECS=${BENCH_RET_IDLE_SECS:-15}
TAIL_SECS=${BENCH_RET_TAIL_SECS:-3}
CHECK_ARCHIVE=${BENCH_RET_CHECK_ARCHIVE:-1}
PAYLOADS=${BENCH_PAYLOADS:-2000}
FORKS=${BENCH_FORKS:-200}
RETRY_PCT=${BENCH_RETRY_PCT:-10}
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json
REPORT=$OUT/report.md
SUMMARY=$OUT/summary.tsv

CGROUP=bench/lib/in_cpu_cgroup.sh
# The cpu cgroup a configuration with bench.cpu_cgroup=1 runs the server in (empty: the root group);
# given back if the run ends early.
cg=
trap '[ -z "$cg" ] || bash "$CGROUP" --release "$cg"' EXIT
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log"; }
psqlq() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
val() { psql -X -At -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Polls SQL (in database $1) until it returns t, for at most $3 seconds: a hang becomes an error.
wait_for() {
    local db=$1 sql=$2 secs=$3 deadline=$((SECONDS + $3))
    until [ "$(val -d "$db" -c "$sql" 2>/dev/null)" = t ]; do
        [ $SECONDS -lt $deadline ] || { log "timed out after ${secs}s waiting for: $sql"; return 1; }
        sleep 0.2
    done
}

# ---- the template: bench's sessions and payloads, the extension, a warm-up, ROWS expired rows ----
# The expired rows are copies of the attempts the warm-up's record_push calls wrote (every column
# as record_push fills it: changed_files, delivery headers, pushed_at, ...), with a fresh
# delivery_id, sessions of their own ('sess-expired-<n>', long finished) and recorded_at 100 days
# ago in (recorded_at, id) order, by one INSERT ... SELECT over generate_series: a million in about
# 20 s where record_push would take ten minutes.  Inserting into lab_attempt is what the
# extension's own restore path does too (plain table, no write guard; the audit log is not
# touched: retention never archives it).  Then VACUUM (FREEZE, ANALYZE): 100-day-old rows have long
# been frozen and their hint bits set, so the archiving does not pay for that.
write_script() {
    cat > "$OUT/record_push.pgbench" <<'EOF'
\set r random(1, 100)
\if :r <= :retry_pct and :n > 0
\set k random(1, :n)
\else
\set n :n + 1
\set k :n
\endif
\set pid 1 + abs(hash(:client_id * 1000003 + :k)) % :npayloads
\set cid :client_id + :cbase
SELECT status FROM forgea_audit.record_push((SELECT body FROM bench.payload WHERE id = :pid)::jsonb, bench.guid(:cid, :k));
EOF
}

make_template() {
    local t0 t1
    t0=$(now)
    log "== template rb_tpl: $FORKS forks, $PAYLOADS payloads, 1000 warm-up deliveries, $ROWS expired attempts"
    createdb -E UTF8 -T template0 rb_tpl
    psqlq -d rb_tpl -v nforks="$FORKS" -v npayloads="$PAYLOADS" -v fixture="$(cat "$FIXTURE")" -f bench/setup.sql >/dev/null
    psqlq -d rb_tpl -c 'TRUNCATE "LabSession"' -c 'INSERT INTO "LabSession" SELECT * FROM bench.session_seed' \
        -c 'CREATE EXTENSION forgea_audit' -c 'SELECT forgea_audit.bind_lab_session_table()' -c 'ANALYZE' >/dev/null
    write_script
    pgbench -n -M prepared -c 2 -j 2 -t 500 -D n=0 -D cbase=1000 -D npayloads="$PAYLOADS" -D retry_pct="$RETRY_PCT" \
        -f "$OUT/record_push.pgbench" rb_tpl > "$OUT/logs/warmup.out" 2>&1 || { cat "$OUT/logs/warmup.out"; exit 1; }
    # lab_attempt's secondary indexes and its UNIQUE (delivery_id) are dropped for the load and made
    # again from their own definitions afterwards (a sorted build instead of a million random
    # inserts into a uuid B-tree and a GIN index): the same table, in a fifth of the time.
    local rebuild
    rebuild=$(val -d rb_tpl -c "
        SELECT string_agg(sql, ' ' ORDER BY sql) FROM (
            SELECT 'ALTER TABLE forgea_audit.lab_attempt ADD CONSTRAINT ' || quote_ident(conname) || ' ' || pg_get_constraintdef(oid) || ';' AS sql
            FROM pg_constraint WHERE conrelid = 'forgea_audit.lab_attempt'::regclass AND contype = 'u'
            UNION ALL
            SELECT pg_get_indexdef(indexrelid) || ';' FROM pg_index i
            WHERE indrelid = 'forgea_audit.lab_attempt'::regclass AND NOT indisprimary
              AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)) d")
    val -d rb_tpl -c "
        SELECT string_agg(sql, ' ') FROM (
            SELECT 'ALTER TABLE forgea_audit.lab_attempt DROP CONSTRAINT ' || quote_ident(conname) || ';' AS sql
            FROM pg_constraint WHERE conrelid = 'forgea_audit.lab_attempt'::regclass AND contype = 'u'
            UNION ALL
            SELECT 'DROP INDEX ' || indexrelid::regclass || ';' FROM pg_index i
            WHERE indrelid = 'forgea_audit.lab_attempt'::regclass AND NOT indisprimary
              AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)) d" | psqlq -d rb_tpl
    psqlq -d rb_tpl -v rows="$ROWS" -v seeds="$(val -d rb_tpl -c 'SELECT count(*) FROM forgea_audit.lab_attempt')" \
        -f bench/lib/expired_attempts.sql
    log "   inserted: $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
    psqlq -d rb_tpl -c "SET maintenance_work_mem = '512MB'" -c "$rebuild"
    log "   indexes made: $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }') s"
    psqlq -d rb_tpl -f bench/lib/copy_lower_bound.sql >/dev/null
    psqlq -d rb_tpl -c 'VACUUM (FREEZE, ANALYZE)' -c 'CHECKPOINT'
    # The WAL segments every configuration will find ready: about 3 kB per row (archiving writes
    # 1.9-2.4), made now (pg_switch_wal creates the next one) and kept by min_wal_size at the
    # checkpoints.  Without this the first configuration of a fresh cluster creates and zero-fills
    # a new 16 MB segment every ~0.5 s halfway through its run, holding WALWriteLock each time, and
    # every commit waits (seen as IO:WALInitWrite / WALInitSync samples and p99 x4 from then on),
    # while the next configuration reuses them: an order effect, not the configuration's.
    # (A switch reuses a recycled segment first: as many switches as segments wanted.)
    local segs
    segs=$(( ROWS * 3000 / 16777216 + 8 ))
    log "   WAL segments: $(val -d rb_tpl -c "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$'"), switching $segs times"
    for _ in $(seq "$segs"); do echo "SELECT pg_switch_wal(); SELECT txid_current();"; done | psql -X -q -d rb_tpl >/dev/null
    psqlq -d rb_tpl -c 'CHECKPOINT'
    log "   WAL segments now: $(val -d rb_tpl -c "SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}\$'")"
    t1=$(now)
    log "   template made in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s: lab_attempt $(val -d rb_tpl -c \
        "SELECT count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('forgea_audit.lab_attempt')) || ' with indexes' FROM forgea_audit.lab_attempt")"
}

# ---- one configuration ---------------------------------------------------------------------------
# p50/p99 (ms), count and TPS of the pgbench transactions (log columns: client, n, latency us,
# script, end s, end us) that started at or after $1 and ended at or before $2 (epoch seconds).
window_stats() {
    local t0=$1 t1=$2
    shift 2
    cat "$@" | awk -v a="$t0" -v b="$t1" 'NF == 6 { e = $5 + $6 / 1e6; s = e - $3 / 1e6; if (s >= a && e <= b) print $3 }' \
        | sort -n | awk -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "NA NA 0 NA"; exit }
            i = int(0.50 * NR); if (i < 0.50 * NR) i++
            j = int(0.99 * NR); if (j < 0.99 * NR) j++
            printf "%.2f %.2f %d %.1f\n", v[i] / 1000, v[j] / 1000, NR, NR / w
        }'
}

# The block device the cluster's directory is on, for its write counters (/proc/diskstats).
DISK=$(basename "$(df --output=source "$PGHOST" 2>/dev/null | tail -1)")
# The counters each window's edges are read from: WAL, checkpoints, buffers, the database, and the
# disk's sectors and requests written (0 0 if it is not in /proc/diskstats).
stats() {  # db
    echo "$(stats_sql "$1") $(awk -v d="$DISK" '$3 == d { print $10, $8; f = 1 } END { if (!f) print 0, 0 }' /proc/diskstats)"
}
stats_sql() {  # db
    val -F ' ' -d "$1" -c "SELECT w.wal_records, w.wal_fpi, w.wal_bytes, w.wal_buffers_full, w.wal_write, w.wal_sync,
            round(w.wal_write_time), round(w.wal_sync_time), b.checkpoints_timed + b.checkpoints_req, b.buffers_backend,
            d.xact_commit, d.blks_read, b.buffers_clean
        FROM pg_stat_wal w, pg_stat_bgwriter b, pg_stat_database d WHERE d.datname = current_database()"
}

# One line of per-second rates between two stats() lines over $3 seconds.
stats_delta() {
    awk -v s="$3" -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        printf "WAL %.1f MB/s, %.0f records/s, %.0f FPI/s, wal_buffers_full %.0f/s, wal_write %.0f/s, wal_sync %.0f/s (%.0f ms write, %.0f ms sync per s), checkpoints %d, backend buffer writes %.0f/s, bgwriter buffer writes (buffers_clean) %.0f/s, disk writes %.1f MB/s in %.0f requests/s",
            (y[3] - x[3]) / s / 1e6, (y[1] - x[1]) / s, (y[2] - x[2]) / s, (y[4] - x[4]) / s, (y[5] - x[5]) / s,
            (y[6] - x[6]) / s, (y[7] - x[7]) / s, (y[8] - x[8]) / s, y[9] - x[9], (y[10] - x[10]) / s, (y[13] - x[13]) / s, (y[14] - x[14]) * 512 / s / 1e6, (y[15] - x[15]) / s }'
}

# The query that samples pg_stat_activity every 0.2 s (one psql, \watch, until killed), written to
# $2.sql: time|who|state|wait|blockers|what an autovacuum worker does ("VACUUM forgea_audit.lab_attempt"),
# who = pgbench (record_push's backends), worker, autovacuum, or the process type.
sampler() {  # db, file
    echo "SELECT round(extract(epoch FROM clock_timestamp()), 3),
                 CASE WHEN a.application_name = 'pgbench' THEN 'pgbench'
                      WHEN a.backend_type LIKE 'forgea_audit%' OR a.application_name = 'bench_copy' THEN 'worker'
                      WHEN a.backend_type = 'autovacuum worker' THEN 'autovacuum' ELSE a.backend_type END,
                 coalesce(a.state, '-'), coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU'),
                 CASE WHEN a.wait_event_type = 'Lock' THEN (SELECT string_agg(CASE WHEN b.application_name = 'pgbench' THEN 'pgbench'
                      WHEN b.backend_type LIKE 'forgea_audit%' THEN 'worker' ELSE b.backend_type END, ',')
                      FROM pg_stat_activity b WHERE b.pid = ANY (pg_blocking_pids(a.pid))) END,
                 CASE WHEN a.backend_type = 'autovacuum worker' THEN replace(a.query, 'autovacuum: ', '') END
          FROM pg_stat_activity a
          WHERE a.pid <> pg_backend_pid() AND (a.datname = '$1' OR a.backend_type IN ('checkpointer', 'walwriter'))
          \\watch 0.2" > "$2.sql"
}

# Wait-event histogram of one kind of process ($4) in the samples ($1) between $2 and $3:
# "CPU 61%, LWLock:WALWrite 20%, ..." over its samples while active.
waits() {
    awk -F'|' -v a="$2" -v b="$3" -v who="$4" '$1 >= a && $1 <= b && $2 == who && $3 == "active" { n++; c[$4]++ }
        END { if (n == 0) { print "-"; exit }
              for (k in c) printf "%s %.0f%%\n", k, 100 * c[k] / n }' "$1" | sort -k2 -t' ' -rn | head -6 | paste -sd, - | sed 's/,/, /g'
}

# The buffer pool once a second (one psql, \watch 1, until killed), to $1:
# time|buffers_backend|buffers_clean|maxwritten_clean|buffers_alloc|buffers_checkpoint|dirty buffers|buffers in use
# (pg_buffercache over all of shared_buffers: a few ms a scan, no buffer mapping locks).
# buffers_backend counts every backend's own writes of a dirty buffer, the worker's too, and (in
# PostgreSQL 15) every relation extension by a backend, which also forwards an fsync request; it reaches
# pg_stat_bgwriter when the checkpointer absorbs the backends' fsync requests, so it moves in steps
# of several seconds: read it per 10 s, not per second.
buffer_sampler_sql() {
    echo "SELECT round(extract(epoch FROM clock_timestamp()), 3), b.buffers_backend, b.buffers_clean, b.maxwritten_clean,
                 b.buffers_alloc, b.buffers_checkpoint, c.dirty, c.used
          FROM pg_stat_bgwriter b,
               (SELECT count(*) FILTER (WHERE isdirty) AS dirty, count(relfilenode) AS used FROM pg_buffercache) c
          \\watch 1"
}

# Per 10 s of the archiving ($2..$3): the buffer samples' ($1) backend and bgwriter writes and
# buffer allocations per second, the dirty and the used buffers at the slice's end ("0:be 5200/s
# cl 310/s alloc 6000/s dirty 41.2k used 65.5k"; shared_buffers = 512MB is 65.5k), and the
# record_push backends' share of active samples ($4) writing a data page themselves
# (IO:DataFileWrite) and waiting for the WAL flush (LWLock:WALWrite + IO:WALSync/WALWrite).
buffer_series() {
    awk -F'|' -v a="$2" -v b="$3" -v act="$4" '
        FILENAME == act { if ($2 == "pgbench" && $3 == "active" && $1 >= a && $1 <= b) { k = int(($1 - a) / 10); n[k]++
                              if ($4 == "IO:DataFileWrite") dw[k]++; if ($4 ~ /^(LWLock:WALWrite|IO:WALSync|IO:WALWrite)$/) ww[k]++ } next }
        NF >= 8 { t[++m] = $1; be[m] = $2; cl[m] = $3; al[m] = $5; di[m] = $7; us[m] = $8 }
        function at(x,   i, r) { r = 1; for (i = 1; i <= m; i++) if (t[i] <= x) r = i; return r }
        END {
            if (m < 2) { print "-"; exit }
            for (k = 0; a + 10 * k < b; k++) {
                x = a + 10 * k; y = (a + 10 * k + 10 < b) ? a + 10 * k + 10 : b
                i = at(x); j = at(y); d = t[j] - t[i]
                printf "%s%d:be %.0f/s cl %.0f/s alloc %.0f/s dirty %.1fk used %.1fk dfw %.0f%% wal %.0f%%", (k ? "; " : ""), 10 * k,
                    (d > 0) ? (be[j] - be[i]) / d : 0, (d > 0) ? (cl[j] - cl[i]) / d : 0, (d > 0) ? (al[j] - al[i]) / d : 0, di[j] / 1000, us[j] / 1000,
                    n[k] ? 100 * dw[k] / n[k] : 0, n[k] ? 100 * ww[k] / n[k] : 0
            }
            print ""
        }' "$4" "$1"
}

# Per 10 s of the archiving ($2..$3): the share of the samples' ($1) ticks with an autovacuum worker
# active, and what it did then: "0:0%; 10:40% VACUUM forgea_audit.lab_attempt_archive; ...".
av_series() {
    awk -F'|' -v a="$2" -v b="$3" '$1 >= a && $1 <= b { k = int(($1 - a) / 10); if (!(($1) in seen)) { seen[$1] = 1; n[k]++ }
            if ($2 == "autovacuum" && $3 == "active") { if (!(($1) in av)) { av[$1] = 1; c[k]++ }
                                                        if ($6 != "" && !((k, $6) in did)) { did[k, $6] = 1; w[k] = w[k] " " $6 } } }
        END { for (k = 0; a + 10 * k < b; k++) printf "%s%d:%.0f%%%s", (k ? "; " : ""), 10 * k, n[k] ? 100 * c[k] / n[k] : 0, w[k]; print "" }' "$1"
}

lock_waits() {  # samples, t0, t1: pgbench samples waiting on a Lock, and who blocked them
    awk -F'|' -v a="$2" -v b="$3" '$1 >= a && $1 <= b && $2 == "pgbench" && $3 == "active" { n++ }
        $1 >= a && $1 <= b && $2 == "pgbench" && $4 ~ /^Lock:/ { l++; c[$4 " by " $5]++ }
        END { printf "%d of %d", l, n; for (k in c) printf "; %s x%d", k, c[k]; print "" }' "$1"
}

run_config() {  # label, settings, round
    local label=$1 settings=$2 round=$3 db="rb_${1//[^a-z0-9_]/_}_$3" kv k v lower_bound=0 copy_secs=0 cpu_cgroup=0
    local prefix="$OUT/logs/$db"
    log "-- $label (round $round): ${settings:-defaults}"
    # (Autovacuum may be in the template for a moment: CREATE DATABASE then fails; try again.)
    local tries=0
    until psql -X -q -d postgres -c "CREATE DATABASE $db TEMPLATE rb_tpl STRATEGY FILE_COPY" 2>"$prefix.createdb.err"; do
        tries=$((tries + 1))
        [ $tries -lt 100 ] || { cat "$prefix.createdb.err"; exit 1; }
        sleep 0.3
    done
    psqlq -d postgres -c "ALTER SYSTEM RESET ALL" >/dev/null
    IFS=',' read -r -a kv <<< "$settings"
    for k in "${kv[@]}"; do
        [ -n "$k" ] || continue
        v=${k#*=}; k=${k%%=*}
        case $k in
            pg.*) psqlq -d postgres -c "ALTER SYSTEM SET ${k#pg.} = '$v'" >/dev/null ;;   # a server setting
            bench.lower_bound) lower_bound=$v ;;   # 1, copyidx, move, digest: bench/lib/copy_lower_bound.sql, not the worker
            bench.copy_secs) copy_secs=$v ;;       # ... paced to copy ROWS in this many seconds (0: unpaced)
            bench.cpu_cgroup) cpu_cgroup=$v ;;     # 1: the server and pgbench in a cpu cgroup of their own; all: this harness too
            *) psqlq -d postgres -c "ALTER SYSTEM SET forgea_audit.$k = '$v'" >/dev/null ;;
        esac
    done
    # bench.cpu_cgroup=1: the running postmaster and all its processes move into a fresh cpu cgroup
    # (what it forks from now on, the worker for $db and pgbench's backends, is born there), and
    # pgbench starts in it; after the run everything goes back to the root group.  all: this shell
    # too, so the processes it starts (the sampler's and the polls' psql) are born there.
    local postmaster runner=()
    postmaster=$(head -1 "$PGDATA_DIR/postmaster.pid")
    if [ "$cpu_cgroup" != 0 ]; then
        cg=$(bash "$CGROUP" --new-tree "$postmaster")
        runner=(bash "$CGROUP" --join "$cg")
        [ "$cpu_cgroup" != all ] || bash "$CGROUP" --move-tree "$cg" $$
    fi
    psqlq -d postgres -c "ALTER SYSTEM SET forgea_audit.database = '$db'" \
        -c "ALTER SYSTEM SET forgea_audit.retention_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
    wait_for postgres "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND datname = '$db')" 60
    psqlq -d "$db" -c CHECKPOINT
    local in_force
    in_force=$(val -d "$db" -c "SELECT string_agg(replace(name, 'forgea_audit.', '') || '=' || setting || coalesce(unit, ''), ', ' ORDER BY name)
        FROM pg_settings WHERE name LIKE 'forgea_audit.archive%' OR source = 'configuration file' AND name IN ('wal_compression')")
    [ "$cpu_cgroup" = 0 ] || in_force="$in_force, cpu cgroup of its own$( [ "$cpu_cgroup" != all ] || echo ' (the harness too)')"
    # psql itself in the background (its pid is what is killed), without the lock's descriptor:
    # a sampler that outlived its run would hold BENCH_LOCK for everyone.
    sampler "$db" "$prefix.samples"
    psql -X -At -F '|' -d postgres -f "$prefix.samples.sql" > "$prefix.samples" 2>/dev/null 9>&- &
    local sampler_pid=$!
    buffer_sampler_sql > "$prefix.buffers.sql"
    psql -X -At -F '|' -d postgres -f "$prefix.buffers.sql" > "$prefix.buffers" 2>/dev/null 9>&- &
    local bufsampler_pid=$!
    local load_idle t_start s0 s1 s2
    load_idle=$(load)
    t_start=$(now)
    "${runner[@]}" pgbench 9>&- -n -M prepared -c "$CLIENTS" -j 2 -T 600 -D n=0 -D cbase=$((20000 + round * 1000)) -D npayloads="$PAYLOADS" \
        -D retry_pct="$RETRY_PCT" --log --log-prefix="$prefix" -f "$OUT/record_push.pgbench" "$db" > "$prefix.pgbench.out" 2>&1 &
    local pgb=$!
    sleep 2
    s0=$(stats "$db")
    sleep "$IDLE_SECS"
    local t_idle_end load_during
    t_idle_end=$(now)
    s1=$(stats "$db")
    load_during=$(load)
    # Start a run now: retention_interval 1s schedules one a second later; back to 0 once it has
    # started (the worker reads its settings again only after the run).
    # The worker's own CPU time over the run (utime + stime of its process, /proc/<pid>/stat): on a
    # shared machine its CPU seconds per row are steadier than the wall time.
    local wpid cpu0 cpu1 copier=
    if [ "$lower_bound" != 0 ]; then
        # The lower bound: one session (wal_compression lz4, as the worker's batches) copies the due rows as archive_batch() would read them (its
        # batch size and cutoff), into bench.archive_copy; its backend is this run's "worker".
        local copy_args
        copy_args=$(val -d "$db" -c "SELECT quote_literal(now() - attempt_retention) || '::timestamptz, ' || archive_batch_size
            FROM forgea_audit.retention_settings()")
        PGAPPNAME=bench_copy psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "SET wal_compression = lz4" -c "CALL bench.copy_lower_bound($copy_args,
            $(awk -v r="$ROWS" -v s="$copy_secs" 'BEGIN { print (s > 0) ? r / s : 0 }'), '$( [ "$lower_bound" = 1 ] && echo copy || echo "$lower_bound" )')" \
            -c "SELECT pg_sleep(30)" > "$prefix.copy.out" 2>&1 9>&- &
        copier=$!
        wait_for "$db" "SELECT EXISTS (SELECT FROM bench.copy_run)" 60
        wpid=$(val -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_copy' AND datname = '$db' LIMIT 1")
        cpu0=$(awk '{ print $14 + $15 }' "/proc/$wpid/stat" 2>/dev/null || echo NA)
        wait_for "$db" "SELECT EXISTS (SELECT FROM bench.copy_run WHERE finished_at IS NOT NULL)" 400
        cpu1=$(awk '{ print $14 + $15 }' "/proc/$wpid/stat" 2>/dev/null || echo NA)
        # (its session stays 30 s after the copy, for /proc; ended here)
        grep -q ERROR "$prefix.copy.out" && { cat "$prefix.copy.out"; exit 1; }
        kill "$copier" 2>/dev/null || true
        wait "$copier" 2>/dev/null || true
    else
    wpid=$(val -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND datname = '$db' LIMIT 1")
    cpu0=$(awk '{ print $14 + $15 }' "/proc/$wpid/stat" 2>/dev/null || echo NA)
    psqlq -d postgres -c "ALTER SYSTEM SET forgea_audit.retention_interval = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
    wait_for "$db" "SELECT EXISTS (SELECT FROM forgea_audit.retention_run WHERE driver = 'worker')" 60
    psqlq -d postgres -c "ALTER SYSTEM SET forgea_audit.retention_interval = 0" -c "SELECT pg_reload_conf()" >/dev/null
    wait_for "$db" "SELECT EXISTS (SELECT FROM forgea_audit.retention_run WHERE driver = 'worker' AND finished_at IS NOT NULL)" 400
    cpu1=$(awk '{ print $14 + $15 }' "/proc/$wpid/stat" 2>/dev/null || echo NA)
    fi
    s2=$(stats "$db")
    # Which of the server's processes were in the group at the end of the archiving (all of them,
    # or the setting did not hold), and pgbench.
    local in_group=root
    [ -z "$cg" ] || in_group="server $(bash "$CGROUP" --count "$cg" "$postmaster"), pgbench $(bash "$CGROUP" --count "$cg" "$pgb"), harness $(bash "$CGROUP" --count "$cg" $$)"
    local load_end
    load_end=$(load)
    sleep "$TAIL_SECS"
    kill "$pgb" "$sampler_pid" "$bufsampler_pid" 2>/dev/null || true
    wait "$pgb" "$sampler_pid" "$bufsampler_pid" 2>/dev/null || true
    grep -m3 -e aborted -e ERROR "$prefix.pgbench.out" && { log "pgbench failed"; exit 1; }

    local r a0 a1 archived batches err secs
    if [ "$lower_bound" != 0 ]; then
        r=$(val -F ' ' -d "$db" -c "SELECT extract(epoch FROM started_at), extract(epoch FROM finished_at), copied, batches, '-'
            FROM bench.copy_run")
    else
    r=$(val -F ' ' -d "$db" -c "SELECT extract(epoch FROM started_at), extract(epoch FROM finished_at), archived, batches,
            coalesce(error, '-') FROM forgea_audit.retention_run WHERE driver = 'worker' ORDER BY id LIMIT 1")
    fi
    read -r a0 a1 archived batches err <<< "$r"
    secs=$(awk -v a="$a0" -v b="$a1" 'BEGIN { printf "%.1f", b - a }')
    local i_p50 i_p99 i_n i_tps d_p50 d_p99 d_n d_tps ratio
    read -r i_p50 i_p99 i_n i_tps < <(window_stats "$(awk -v a="$t_start" 'BEGIN { printf "%.6f", a + 2 }')" "$t_idle_end" "$prefix".[0-9]*)
    read -r d_p50 d_p99 d_n d_tps < <(window_stats "$a0" "$a1" "$prefix".[0-9]*)
    ratio=$(awk -v a="$d_p99" -v b="$i_p99" 'BEGIN { if (a != "NA" && b > 0) printf "%.2f", a / b; else print "NA" }')
    local idle_secs
    idle_secs=$(awk -v a="$t_start" -v b="$t_idle_end" 'BEGIN { print b - a - 2 }')
    local wcpu
    wcpu=$(awk -v a="$cpu0" -v b="$cpu1" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (a == "NA" || b == "NA") print "NA"; else printf "%.1f", (b - a) / hz }')
    log "   archived $archived in $batches batches, ${secs} s ($(awk -v n="$archived" -v s="$secs" 'BEGIN { printf "%.0f", n / s }') rows/s), error: $err; worker CPU ${wcpu} s"
    log "   record_push idle: p50 $i_p50 ms, p99 $i_p99 ms, $i_tps TPS ($i_n); during: p50 $d_p50 ms, p99 $d_p99 ms, $d_tps TPS ($d_n); p99 during/idle $ratio"
    local w_idle w_during
    w_idle=$(stats_delta "$s0" "$s1" "$idle_secs")
    w_during=$(stats_delta "$s1" "$s2" "$(awk -v a="$t_idle_end" -v b="$a1" 'BEGIN { print b - a }')")
    log "   idle:   $w_idle"
    log "   during: $w_during"
    # p99 per 10 s from the archiving's start: a cliff shows as a step (WAL segments created, autovacuum).
    local series
    series=$(cat "$prefix".[0-9]* | awk -v a="$a0" -v b="$a1" 'NF == 6 { e = $5 + $6 / 1e6; if (e >= a && e <= b) print int((e - a) / 10) * 10, $3 }' \
        | sort -k1,1n -k2,2n | awk '{ if ($1 != w && n) { printf "%s:%.0f ", w, v[(int(0.99 * n) > 0) ? int(0.99 * n) : 1] / 1000; n = 0 } w = $1; v[++n] = $2 }
                                 END { if (n) printf "%s:%.0f", w, v[(int(0.99 * n) > 0) ? int(0.99 * n) : 1] / 1000 }')
    log "   record_push p99 (ms) per 10 s of the archiving: $series"
    local bseries bidle
    bseries=$(buffer_series "$prefix.buffers" "$a0" "$a1" "$prefix.samples")
    bidle=$(buffer_series "$prefix.buffers" "$t_start" "$t_idle_end" "$prefix.samples")
    log "   buffers per 10 s of the archiving (be = buffers_backend incl. extensions, cl = buffers_clean, alloc = buffers_alloc, dirty/used buffers at the slice's end, dfw/wal = record_push samples in IO:DataFileWrite / WAL flush): $bseries"
    log "   buffers per 10 s of the idle window: $bidle"
    local avs
    avs=$(av_series "$prefix.samples" "$a0" "$a1")
    log "   autovacuum per 10 s of the archiving (share of 0.2 s samples with one active; what it did): $avs"
    local pw_idle pw_during ww lw_idle lw_during av
    pw_idle=$(waits "$prefix.samples" "$t_start" "$t_idle_end" pgbench)
    pw_during=$(waits "$prefix.samples" "$a0" "$a1" pgbench)
    ww=$(waits "$prefix.samples" "$a0" "$a1" worker)
    av=$(waits "$prefix.samples" "$a0" "$a1" autovacuum)
    lw_idle=$(lock_waits "$prefix.samples" "$t_start" "$t_idle_end")
    lw_during=$(lock_waits "$prefix.samples" "$a0" "$a1")
    log "   record_push backends (active samples) idle: $pw_idle; lock waits $lw_idle"
    log "   record_push backends (active samples) during: $pw_during; lock waits $lw_during"
    local walinit
    walinit=$(awk -F'|' -v a="$a0" -v b="$a1" '$1 >= a && $1 <= b && $4 ~ /WALInit/' "$prefix.samples" | wc -l)
    log "   worker during: $ww; autovacuum during: $av; samples of any process creating a WAL segment (IO:WALInit*): $walinit"

    # No row lost, nothing archived twice, what was due is gone, the archive matches its events.
    local checks
    if [ "$lower_bound" = 1 ]; then
        checks="copied all due rows: $(val -d "$db" -c "SELECT (SELECT count(*) FROM bench.archive_copy) = $ROWS")"
    elif [ "$lower_bound" = digest ]; then
        checks="digested all due rows: $(val -d "$db" -c "SELECT copied = $ROWS FROM bench.copy_run")"
    elif [ "$lower_bound" = copyidx ]; then
        checks="copied all due rows: $(val -d "$db" -c "SELECT (SELECT count(*) FROM bench.archive_copy_idx) = $ROWS")"
    elif [ "$lower_bound" = move ]; then
        checks="moved all due rows, none left: $(val -F ' ' -d "$db" -c "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = $ROWS,
            NOT EXISTS (SELECT FROM forgea_audit.lab_attempt WHERE recorded_at < now() - interval '90 days')")"
    else
    checks=$(val -F ' ' -d "$db" -c "
        SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) + (SELECT count(*) FROM forgea_audit.lab_attempt_archive)
               = $ROWS + (SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT'),
               (SELECT count(*) FROM forgea_audit.lab_attempt l JOIN forgea_audit.lab_attempt_archive a USING (id)),
               (SELECT count(*) FROM forgea_audit.lab_attempt WHERE recorded_at < now() - interval '90 days'),
               (SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE') = $batches,
               $( [ "$CHECK_ARCHIVE" = 1 ] && echo "(SELECT ok FROM forgea_audit.verify_archive())" || echo "'skipped'" ),
               (SELECT ok FROM forgea_audit.verify_chain())")
    fi
    log "   cpu cgroup: $in_group"
    log "   checks (live + archived = expected, in both, due left live, one event per batch, verify_archive, verify_chain): $checks"
    local lockwait_log
    lockwait_log=$(awk -v a="$(date -u -d "@${a0%.*}" '+%F %T')" -v b="$(date -u -d "@$(( ${a1%.*} + 1 ))" '+%F %T')" \
        '($1 " " substr($2, 1, 8)) >= a && ($1 " " substr($2, 1, 8)) <= b && /still waiting for/' "$SERVER_LOG" | wc -l)
    printf '%s\n' "$label|$round|$in_force|$archived|$batches|$secs|$err|$i_p50|$i_p99|$i_tps|$d_p50|$d_p99|$d_tps|$ratio|$load_idle|$load_during / $load_end|$pw_idle|$pw_during|$lw_during|$ww|$w_idle|$w_during|$checks|$lockwait_log|$walinit|$av|$series|$wcpu|$in_group|$bseries|$bidle|$avs" >> "$SUMMARY"
    psqlq -d postgres -c "ALTER SYSTEM RESET ALL" -c "SELECT pg_reload_conf()" >/dev/null
    psqlq -d postgres -c "DROP DATABASE $db WITH (FORCE)"
    if [ -n "$cg" ]; then
        bash "$CGROUP" --release "$cg"
        cg=
    fi
}

# ---- the run -------------------------------------------------------------------------------------
{
    echo "# forgea_audit retention benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -m | awk '/^Mem:/ { print $2 }') MiB, kernel $(uname -r)"
    echo "- $(psql -XAtc 'SELECT version()')"
    echo "- forgea_audit built from $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(
        n=$(git status --porcelain -- src Makefile '*.sql' 2>/dev/null | wc -l); [ "$n" -gt 0 ] && echo " + $n uncommitted files")"
    echo "- cluster: $(psql -XAtc "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings
        WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'checkpoint_timeout', 'wal_buffers',
                       'wal_compression', 'full_page_writes', 'autovacuum', 'deadlock_timeout')")"
    echo "- $ROWS expired attempts; record_push under pgbench, $CLIENTS clients, -j 2; idle window ${IDLE_SECS} s"
    echo "- load at start: $(uptime)"
    echo
} > "$REPORT"
: > "$SUMMARY"
# Runs "$@" holding BENCH_LOCK (if set): the template is one go, each configuration's run another
# (about 2.5 minutes at 1M rows); others may measure in between, the cluster waits.
with_lock() {
    if [ -n "${BENCH_LOCK:-}" ]; then
        log "   waiting for $BENCH_LOCK"
        exec 9>>"$BENCH_LOCK"
        flock 9
        "$@"
        flock -u 9
        exec 9>&-
    else
        "$@"
    fi
}

round() {  # r
    local order=$CONFIGS c
    [ $(($1 % 2)) -eq 0 ] && order=$(echo "$CONFIGS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for c in $order; do
        with_lock run_config "${c%%:*}" "${c#*:}" "$1"
    done
}

# (pg_buffercache in postgres: the buffer sampler reads it)
psqlq -d postgres -c 'CREATE EXTENSION IF NOT EXISTS pg_buffercache'
with_lock make_template
for r in $(seq 1 "$REPEATS"); do
    round "$r"
done

{
    echo "| config | round | settings | archived | batches | seconds | worker CPU s | idle p50 / p99 ms | idle TPS | during p50 / p99 ms | during TPS | p99 during / idle | load idle, during / end |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s / %s | %s | **%s** | %s, %s |\n", $1, $2, $3, $4, $5, $6, $28, $8, $9, $10, $11, $12, $13, $14, $15, $16 }' "$SUMMARY"
    echo
    awk -F'|' '{ printf "- %s round %s: checks %s (error: %s); lock waits logged (> deadlock_timeout): %s; WAL segment creation samples: %s; cpu cgroup: %s\n  - record_push idle: %s\n  - record_push during: %s; Lock waits: %s\n  - worker: %s; autovacuum: %s\n  - idle: %s\n  - during: %s\n  - record_push p99 (ms) per 10 s of the archiving: %s\n  - buffers per 10 s of the archiving (be/cl: buffers_backend/buffers_clean per s; dirty buffers at the slice end; record_push samples in IO:DataFileWrite / WAL flush): %s\n  - the same in the idle window: %s\n  - autovacuum per 10 s of the archiving: %s\n", $1, $2, $23, $7, $24, $25, $29, $17, $18, $19, $20, $26, $21, $22, $27, $30, $31, $32 }' "$SUMMARY"
    echo
    echo "Medians per config (over rounds): seconds, worker CPU, idle p99, during p99, ratio"
    awk -F'|' '{ s[$1] = s[$1] " " $6; i[$1] = i[$1] " " $9; d[$1] = d[$1] " " $12; q[$1] = q[$1] " " $14; u[$1] = u[$1] " " $28 }
        function med(str,   a, n, k, j, t) { n = split(str, a, " "); for (k = 1; k <= n; k++) for (j = k + 1; j <= n; j++) if (a[j] + 0 < a[k] + 0) { t = a[k]; a[k] = a[j]; a[j] = t }
                                 return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        END { for (c in s) printf "- %s: %s s, worker CPU %s s, idle p99 %s ms, during p99 %s ms, ratio %s\n", c, med(s[c]), med(u[c]), med(i[c]), med(d[c]), med(q[c]) }' "$SUMMARY"
    echo
    echo "- load at end: $(uptime)"
} >> "$REPORT"
cat "$REPORT"
