#!/usr/bin/env bash
# Retention under load, with one command, as root on a Debian 12 machine with PostgreSQL 15:
#
#   bash bench/retention.sh
#
# The background worker itself (shared_preload_libraries = forgea_audit) archives
# BENCH_RET_ROWS (1,000,000) expired attempts while record_push runs under pgbench (8 clients,
# fsync on), once per configuration in BENCH_RET_CONFIGS, side by side in one cluster.  Each
# configuration's pgbench run has an idle window first (the same clients, before the run starts)
# and the archiving window after it, so "p99 during / idle" compares two windows of one pgbench run.
# pg_stat_activity is sampled every 0.2 s (wait events of record_push's backends, the worker,
# autovacuum; who blocks a Lock wait), pg_stat_wal / pg_stat_bgwriter are read at each window's
# edges (with the disk's writes, /proc/diskstats), and lock waits longer than deadlock_timeout
# (50 ms here) are logged (log_lock_waits).  pg_stat_bgwriter and pg_buffercache are read once a
# second: per 10 s of the archiving the log shows backend and bgwriter buffer writes, allocations,
# dirty and used buffers, record_push's samples writing a page, and what autovacuum is doing.
# docs/benchmarks.md ("Retention at 8 clients") says what is measured and shows runs.
#
# The build is installed into a private copy of PostgreSQL's installation (bin, lib, share:
# PostgreSQL finds its lib and share directories relative to its binary), and the cluster is
# initdb'd from it in a temporary directory, listening on a Unix socket there only: the benchmark
# neither writes the system's PostgreSQL directories nor sees someone else's `make install` of
# another build halfway through, and it cannot collide with anyone's port.  The cluster is stopped
# and the directory removed when the script ends, however it ends.
#
# Settings (environment):
#   BENCH_RET_ROWS=1000000        expired attempts (loaded once into a template database; each
#                                 configuration archives its own copy, CREATE DATABASE ... TEMPLATE)
#   BENCH_RET_CONFIGS="before:archive_batch_size=1000,archive_batch_delay=0 after:"
#                                 name:setting=value,... (forgea_audit.* settings by ALTER SYSTEM;
#                                 pg.<name>=value for a server setting; nothing after the colon =
#                                 this build's defaults); run in this order.  Lower bounds, measured
#                                 in the same way instead of the worker (bench/lib/copy_lower_bound.sql,
#                                 one session, archive_batch_size rows per transaction, lz4):
#                                   bench.lower_bound=1        copy the due rows into an unindexed table
#                                                              (the least WAL any row-copying archive writes)
#                                   bench.lower_bound=copyidx  ... into a table with the archive's indexes
#                                   bench.lower_bound=move     archive_batch()'s DELETE ... RETURNING into
#                                                              lab_attempt_archive, without its row locks,
#                                                              digest and audit event
#                                   bench.lower_bound=digest   no write: each batch's rows read and digested
#                                                              as archive_batch() does (an archive of whole
#                                                              partitions would still do that per row)
#                                   bench.copy_secs=N          pace any of them to take N s for all rows
#                                 e.g. "worker: lb:bench.lower_bound=1,bench.copy_secs=57"
#                                 bench.cpu_cgroup=1 runs that configuration with the server (the
#                                 running postmaster and all its processes, moved) and pgbench in a
#                                 fresh cpu cgroup, not the root one (bench/lib/in_cpu_cgroup.sh; as
#                                 a service manager runs a server), moved back after its run; e.g.
#                                 "root: cg:bench.cpu_cgroup=1" measures both side by side;
#                                 bench.cpu_cgroup=all moves this harness's shell too (the sampler's
#                                 and the polls' psql are then born in the group, as when the whole
#                                 script runs under bench/lib/in_cpu_cgroup.sh)
#   BENCH_RET_REPEATS=1           rounds; the list is reversed every second round (ABBA)
#   BENCH_RET_CLIENTS=8  BENCH_RET_IDLE_SECS=15  BENCH_RET_TAIL_SECS=3
#   BENCH_RET_CHECK_ARCHIVE=1     0 skips verify_archive() (it recomputes every digest: ~20 s at 1M)
#   BENCH_LOCK=<file>             take flock on it for the template and for each configuration's
#                                 run (a shared machine's benchmark lock: released in between)
#   BENCH_PG_CONF="..."           the cluster's settings, one per line (replaces the defaults below)
# Results: bench/out/retention-<UTC timestamp>/ (report.md, summary.tsv, samples, pgbench logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BINDIR=$($PG_CONFIG --bindir)
SHAREDIR=$($PG_CONFIG --sharedir)
PKGLIBDIR=$($PG_CONFIG --pkglibdir)

export BENCH_ROOT="$ROOT"
export BENCH_OUT="$ROOT/bench/out/retention-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$BENCH_OUT"
WORK=$(mktemp -d /tmp/forgea_retbench.XXXXXX)
chmod 755 "$WORK"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PRIVATE=$WORK/install
PGBIN=$PRIVATE$BINDIR
export PGDATA_DIR=$WORK/data SERVER_LOG=$WORK/server.log
cleanup() {
    [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" stop -m immediate >/dev/null 2>&1
    cp "$SERVER_LOG" "$BENCH_OUT/server.log" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building forgea_audit; installing it into a private copy of PostgreSQL ($PRIVATE)"
make -s -j"$(nproc)" >/dev/null
mkdir -p "$PRIVATE$(dirname "$BINDIR")" "$PRIVATE$(dirname "$SHAREDIR")"
cp -a "$(dirname "$BINDIR")" "$PRIVATE$(dirname "$(dirname "$BINDIR")")/"
cp -a "$SHAREDIR" "$PRIVATE$(dirname "$SHAREDIR")/"
[ "$PKGLIBDIR" = "$(dirname "$BINDIR")/lib" ] || { echo "unexpected layout: $PKGLIBDIR"; exit 1; }
make -s install DESTDIR="$PRIVATE" >/dev/null
[ "$("$PGBIN/pg_config" --sharedir)" = "$PRIVATE$SHAREDIR" ] || { echo "the private copy is not relocatable"; exit 1; }

# bench/run.sh's cluster (durable commits, checkpoints kept out of the run, 512 MB of buffers)
# plus the worker preloaded and the statistics the report reads.
chown postgres: "$WORK"
as_pg "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
{
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$WORK'"
    echo "port = 5432"
    echo "${BENCH_PG_CONF:-shared_buffers = 512MB
synchronous_commit = on
fsync = on
max_wal_size = 8GB
min_wal_size = 4GB
checkpoint_timeout = 30min
max_connections = 100
work_mem = 16MB}"
    echo "shared_preload_libraries = 'forgea_audit'"
    echo "track_wal_io_timing = on"
    echo "track_io_timing = on"
    echo "log_lock_waits = on"
    echo "deadlock_timeout = 50ms"
    echo "log_autovacuum_min_duration = 0"
    echo "log_checkpoints = on"
    echo "log_line_prefix = '%m [%p] %b '"
} >> "$PGDATA_DIR/postgresql.conf"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 start >/dev/null
export PGHOST=$WORK PGPORT=5432 PGUSER=postgres
bash "$ROOT/bench/lib/retention_in_cluster.sh"
echo "report: $BENCH_OUT/report.md"
