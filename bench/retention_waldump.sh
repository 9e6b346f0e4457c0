#!/usr/bin/env bash
# What the archiving writes to the WAL, record type by record type, one command, as root on a
# Debian 12 machine with PostgreSQL 15:
#
#   bash bench/retention_waldump.sh
#
# A private cluster (bench/lib/private_pg.sh: this build installed into a copy of PostgreSQL,
# listening on a socket in its data directory only, stopped and removed at the end) gets
# bench/retention.sh's data on a small scale: bench/setup.sql's sessions and payloads, 1,000
# deliveries through record_push, then BENCH_WD_ROWS expired copies of them (the same
# bench/lib/expired_attempts.sql), VACUUM (FREEZE, ANALYZE), CHECKPOINT.  Then archive_batch() runs batch after
# batch as the worker runs it (one transaction each, wal_compression = BENCH_WD_WAL_COMPRESSION,
# passing the resume position on), and
# `pg_waldump --stats=record` is printed over exactly the WAL of the first BENCH_WD_SHOW batches
# and of the whole run (pg_current_wal_insert_lsn() before and after).  Nothing else writes WAL
# meanwhile.  docs/benchmarks.md ("the archiving's WAL record by record") shows a run.
#   BENCH_WD_ROWS=20000  BENCH_WD_BATCH=1000  BENCH_WD_WAL_COMPRESSION=lz4  BENCH_WD_SHOW=1
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${BENCH_WD_ROWS:-20000}; BATCH=${BENCH_WD_BATCH:-1000}; WALCOMP=${BENCH_WD_WAL_COMPRESSION:-lz4}
SHOW=${BENCH_WD_SHOW:-1}
. bench/lib/private_pg.sh
WORK=$(mktemp -d /tmp/forgea_waldump.XXXXXX); chmod 755 "$WORK"
DATA=$WORK/data
trap 'private_stop "$DATA"; rm -rf "$WORK"' EXIT
make -s -j"$(nproc)" >/dev/null
private_install "$WORK/install"
private_initdb "$DATA" 5432 <<CONF
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
wal_compression = $WALCOMP
shared_preload_libraries = 'forgea_audit'
CONF
private_start "$DATA" 9>&-
export PGHOST=$DATA PGPORT=5432 PGUSER=postgres
P="psql -X -q -v ON_ERROR_STOP=1 -d wd"
createdb wd
$P -v nforks=200 -v npayloads=2000 -v fixture="$(cat test/fixtures/github/push/api-with-new-branch.payload.json)" -f bench/setup.sql >/dev/null
$P -c 'TRUNCATE "LabSession"' -c 'INSERT INTO "LabSession" SELECT * FROM bench.session_seed' \
   -c 'CREATE EXTENSION forgea_audit' -c 'SELECT forgea_audit.bind_lab_session_table()' >/dev/null
$P -c "SELECT count(*) FROM (SELECT * FROM bench.payload ORDER BY id LIMIT 1000) p,
       LATERAL forgea_audit.record_push(p.body::jsonb, gen_random_uuid()::text) r" >/dev/null
$P -v rows="$ROWS" -v seeds="$($P -At -c 'SELECT count(*) FROM forgea_audit.lab_attempt')" -f bench/lib/expired_attempts.sql >/dev/null
$P -c 'VACUUM (FREEZE, ANALYZE)' -c 'CHECKPOINT'
$P -At -F ' ' -c "SELECT 'lab_attempt rows', count(*), 'bytes a row', avg(pg_column_size(a.*))::int, 'heap pages',
                  pg_relation_size('forgea_audit.lab_attempt') / 8192 FROM forgea_audit.lab_attempt a"
waldump() { as_pg "$PGBIN/pg_waldump" -p "$DATA/pg_wal" --stats=record -s "$1" -e "$2" 2>&1 | awk 'NR <= 2 || /[0-9]/'; }
lsn() { $P -At -c "SELECT pg_current_wal_insert_lsn()"; }
cut=$($P -At -c "SELECT now() - interval '50 days'")
pos="NULL, NULL"; b=0; moved=0; start=$(lsn); t0=$(date +%s.%N)
while :; do
    b=$((b + 1)); l0=$(lsn)
    out=$($P -At -F, -c "SET wal_compression = $WALCOMP;
        SELECT archived, quote_literal(resume_recorded_at) || '::timestamptz', resume_id FROM forgea_audit.archive_batch('$cut', $BATCH, $pos)")
    n=${out%%,*}; pos=${out#*,}; l1=$(lsn)
    [ "$n" -gt 0 ] || break
    moved=$((moved + n))
    if [ "$b" -le "$SHOW" ]; then
        echo "== batch $b: $n rows, $l0 .. $l1: $($P -At -c "SELECT round(('$l1'::pg_lsn - '$l0'::pg_lsn) / $n, 1)") bytes a row"
        waldump "$l0" "$l1"
    fi
    [ "$n" -lt "$BATCH" ] && break
done
echo "== all $((b - 1)) batches, $moved rows in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s, $start .. $l1: $($P -At -c "SELECT round(('$l1'::pg_lsn - '$start'::pg_lsn) / greatest($moved, 1), 1)") bytes a row"
waldump "$start" "$l1"
