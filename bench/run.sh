#!/usr/bin/env bash
# The benchmark, with one command on a fresh Debian 12 machine, as root:
#
#   bash bench/run.sh                 # full run, ~30 minutes on 2 cores (retention: ~10 of them)
#   BENCH_QUICK=1 bash bench/run.sh   # smoke run, ~3 minutes
#
# 1. installs what it needs if missing (postgresql-15, postgresql-server-dev-15, postgresql-contrib
#    for pgcrypto, g++, make; apt-get update only then),
# 2. builds and installs the extension from the repository root,
# 3. starts a throwaway PostgreSQL 15 cluster (pg_virtualenv -t) and runs bench/lib/in_cluster.sh in
#    it: record_push vs a PL/pgSQL+pgcrypto reference vs a one-statement ceiling under pgbench at
#    1..16 clients, WAL bytes per delivery of each, verify_chain over 1M rows, a 20 MB payload,
#    archiving 1M expired attempts; see docs/benchmarks.md.
#
# Results go to bench/out/<UTC timestamp>/ (report.md, results.tsv, pgbench logs) and
# bench/out/latest.md.  Settings (environment):
#   BENCH_QUICK=1           short durations, clients 1 and 4, 100k verify rows, 512-commit payload
#   BENCH_CLIENTS="1 2 4 8 16"   BENCH_DURATION=20 (seconds per implementation and client count)
#   BENCH_ROUNDS=2          DURATION is split into rounds, implementations in ABBA order (quick: 1)
#   BENCH_WARMUP=1000       deliveries recorded before each measured round (0: start from empty tables)
#   BENCH_IMPLS="record_push reference ceiling"   (also: record_push_unbound, record_push with the
#                           fork-lookup index dropped; BENCH_UNBOUND=1 is the short comparison below)
#   BENCH_UNBOUND=1         only bound vs unbound record_push at 2 clients, default jit = on:
#                           BENCH_IMPLS="record_push record_push_unbound" BENCH_CLIENTS=2, main step only
#   BENCH_FORKS=200  BENCH_PAYLOADS=5000  BENCH_RETRY_PCT=10
#   BENCH_VERIFY_ROWS=1000000  BENCH_VERIFY_CHAINS=10000  BENCH_BIG_COMMITS=2048
#   BENCH_BIG_CALLS="parse record_push parse_json record_push_json record_push_json_col reference ceiling"
#   BENCH_WAL_DELIVERIES=10000 (quick: 2000)  BENCH_WAL_IMPLS="record_push reference ceiling"
#   BENCH_SKIP_BUILD=1  BENCH_SKIP_MAIN=1  BENCH_SKIP_WAL=1  BENCH_SKIP_VERIFY=1  BENCH_SKIP_BIG=1  BENCH_SKIP_RETENTION=1
#   BENCH_RETENTION_ROWS (1000000), BENCH_RETENTION_IDLE_SECS (15), BENCH_RETENTION_PGBENCH_SECS (360)
#   BENCH_PG_OPTS="-o shared_buffers=512MB ..."   settings of the throwaway cluster (replaces the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BENCH_UNBOUND:-0}" = 1 ]; then
    export BENCH_IMPLS=${BENCH_IMPLS:-"record_push record_push_unbound"} BENCH_CLIENTS=${BENCH_CLIENTS:-2} BENCH_DURATION=${BENCH_DURATION:-40}
    export BENCH_SKIP_VERIFY=1 BENCH_SKIP_BIG=1 BENCH_SKIP_RETENTION=1 BENCH_ROUNDS=${BENCH_ROUNDS:-4}
fi
ROOT=$(pwd)

PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib g++ make)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    echo "== building and installing forgea_audit"
    make -s -j"$(nproc)" >/dev/null
    make -s install >/dev/null
fi

export BENCH_ROOT="$ROOT"
export BENCH_OUT="$ROOT/bench/out/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$BENCH_OUT"

# The cluster: big enough shared_buffers to hold the working set, checkpoints kept out of the
# 20-second runs, durable commits as in production: synchronous_commit=on and fsync=on
# (pg_virtualenv turns fsync off by default; -o fsync=on comes after and wins).
# shellcheck disable=SC2206
PG_OPTS=(${BENCH_PG_OPTS:--o shared_buffers=512MB -o synchronous_commit=on -o fsync=on -o max_wal_size=8GB
         -o checkpoint_timeout=30min -o max_connections=100 -o work_mem=16MB})
echo "== throwaway cluster: pg_virtualenv -t -v 15 ${PG_OPTS[*]}"
pg_virtualenv -t -v 15 "${PG_OPTS[@]}" bash "$ROOT/bench/lib/in_cluster.sh"
cp "$BENCH_OUT/report.md" "$ROOT/bench/out/latest.md"
echo "report: $BENCH_OUT/report.md (also bench/out/latest.md)"
