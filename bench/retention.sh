#!/usr/bin/env bash
# Retention under load, with one command, as root on a Debian 12 machine:
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
# edges, and lock waits longer than deadlock_timeout (50 ms here) are logged (log_lock_waits).
# docs/benchmarks.md ("Retention under 8 clients") says what is measured and shows runs.
#
# Settings (environment):
#   BENCH_RET_ROWS=1000000        expired attempts (loaded once into a template database; each
#                                 configuration archives its own copy, CREATE DATABASE ... TEMPLATE)
#   BENCH_RET_CONFIGS="before:archive_batch_size=1000,archive_batch_delay=0 after:"
#                                 name:setting=value,... (forgea_audit.* settings, ALTER SYSTEM; an
#                                 empty list = the defaults of this build); run in this order
#   BENCH_RET_REPEATS=1           the list is run this many times, reversed every second time (ABBA)
#   BENCH_RET_CLIENTS=8  BENCH_RET_IDLE_SECS=15  BENCH_RET_TAIL_SECS=3
#   BENCH_RET_CHECK_ARCHIVE=1     0 skips verify_archive() (it recomputes 1M digests: ~20 s)
#   BENCH_SKIP_BUILD=1            use the installed build
#   BENCH_PORT                    the throwaway cluster's port (default: pg_virtualenv's choice)
#   BENCH_PG_OPTS="-o ..."        the cluster's settings (replaces the defaults below)
# Results: bench/out/retention-<UTC timestamp>/ (report.md, summary.tsv, samples, pgbench logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    echo "== building and installing forgea_audit"
    make -s -j"$(nproc)" >/dev/null
    make -s install >/dev/null
fi

export BENCH_ROOT="$ROOT"
export BENCH_OUT="$ROOT/bench/out/retention-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$BENCH_OUT"

# bench/run.sh's cluster (durable commits, checkpoints kept out of the run, 512 MB of buffers)
# plus the worker preloaded and the statistics the report reads.
# shellcheck disable=SC2206
PG_OPTS=(${BENCH_PG_OPTS:--o shared_buffers=512MB -o synchronous_commit=on -o fsync=on -o max_wal_size=8GB
         -o checkpoint_timeout=30min -o max_connections=100 -o work_mem=16MB})
PG_OPTS+=(-o shared_preload_libraries=forgea_audit -o track_wal_io_timing=on -o track_io_timing=on
          -o log_lock_waits=on -o deadlock_timeout=50ms -o log_autovacuum_min_duration=0 -o log_checkpoints=on)
echo "== throwaway cluster: pg_virtualenv -t -v 15 ${PG_OPTS[*]}"
PORT_OPT=()
[ -n "${BENCH_PORT:-}" ] && PORT_OPT=(-c "--port=$BENCH_PORT")
pg_virtualenv -t -v 15 "${PORT_OPT[@]}" "${PG_OPTS[@]}" bash "$ROOT/bench/lib/retention_in_cluster.sh"
echo "report: $BENCH_OUT/report.md"
