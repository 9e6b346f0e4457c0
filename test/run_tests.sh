#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine, as root or as a user with sudo-free pg_virtualenv:
#   1. installs what it needs (Debian packages),
#   2. builds and installs the extension,
#   3. unit-tests the pure C++ core (GoogleTest, with ASan/UBSan),
#   4. in a throwaway cluster (pg_virtualenv): pg_regress (make installcheck), then every pgTAP file
#      under test/pgtap/ in a fresh database of its own, then the integration scripts under
#      test/integration/; beside it (lane B, see below) the worker and pg_cron in preloading
#      clusters (test/worker/), the fault scripts (test/faults/) and libFuzzer over the core
#      (test/fuzz/),
#   5. the upgrade from 0.1.0 and 0.2.0 (test/upgrade/),
#   6. the Debian package, built, installed, upgraded from 0.2.0's and purged (test/package/).
# Prints the slowest results, "N passed, N failed" last, and exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

. test/lib/install_deps.sh
install_deps

make -s clean >/dev/null
make -s -j2 2>&1 | grep -E 'warning|error' && { echo "build emitted warnings or errors" >&2; exit 1; } || true
make -s install >/dev/null

make -s check-boundary   # the C++/PostgreSQL boundary rules (Makefile, src/pg/boundary.hpp)
make -s unit
bash test/package/versions_agree.sh   # forgea_audit.control, META.json and debian/changelog agree

export FA_ROOT="$ROOT"
export FA_RESULTS=$(mktemp)
export FA_TIMINGS=$(mktemp)   # "seconds name" per result, the slowest printed last
passed=3   # check-boundary, the unit tests and versions_agree above (each stops the script if it fails)
failed=0
failures=()

# One result for one command: "status NAME" to $result_lines (both lanes write there; counted at
# the end), its seconds to $FA_TIMINGS.
result_lines=$(mktemp)
trap 'rm -f "$FA_RESULTS" "$FA_TIMINGS" "$result_lines" "${lane_b_log:-}"' EXIT
record_result() {  # name, command...
    local name=$1 started=$SECONDS rc=0; shift
    "$@" || rc=$?
    echo "$((SECONDS - started)) $name" >> "$FA_TIMINGS"
    echo "$rc $name" >> "$result_lines"
}

# Two lanes at once on CI's two cores.  This shell runs the in-cluster suite (pg_regress, pgTAP,
# integration: one cluster, mostly one busy process at a time); beside it, lane B (a background
# shell) runs the worker tests (clusters of their own that mostly wait for the worker's
# intervals), the fault scripts (clusters on Unix sockets of their own) and libFuzzer on one core.
# Lane B's clusters take ports from 6000 up (free_port's FA_PORT_FROM) and the in-cluster suite's
# from 5440, so the two never pick the same one.  The tools that tests of both lanes build are
# built first, once.  Lane B's output goes to $lane_b_log, printed once it is done; its last
# result line is "end SECONDS", the suite's second at which it ended.
make -s tools test-oracle >/dev/null
lane_b_log=$(mktemp)

# A test/worker/ script in a throwaway cluster with the given settings (-o name=value ...).
in_cluster_with() {  # script, pg_virtualenv -o options...
    local script=$1; shift
    pg_virtualenv -t -v 15 -c "--port=$(FA_PORT_FROM=6000 free_port)" "$@" bash "$script"
}

# Lane B, in order: the worker tests, the fault scripts, the fuzzers.
lane_b() {
    # The background worker and pg_cron: a cluster that preloads both.
    echo "== worker and pg_cron (shared_preload_libraries = forgea_audit, pg_cron)"
    record_result worker_and_cron in_cluster_with test/worker/worker_and_cron.sh \
        -o shared_preload_libraries=forgea_audit,pg_cron -o forgea_audit.database=postgres \
        -o forgea_audit.retention_interval=1s -o cron.database_name=postgres -o cron.use_background_workers=on \
        -o logging_collector=on

    # webhook_rejection's retention as the worker runs it (one transaction per day summed).
    echo "== worker: rejected deliveries summed per day (shared_preload_libraries = forgea_audit)"
    record_result rejection_retention in_cluster_with test/worker/rejection_retention.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres -o forgea_audit.retention_interval=1s

    # The worker's archive batches with their own wal_compression (forgea_audit.archive_wal_compression).
    echo "== worker: archive batches with archive_wal_compression (shared_preload_libraries = forgea_audit)"
    record_result archive_wal_compression in_cluster_with test/worker/archive_wal_compression.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres -o forgea_audit.retention_interval=0 \
        -o forgea_audit.archive_batch_size=10 -o wal_compression=off

    # Monitoring: forgea_audit.health through the real prometheus-postgres-exporter, the alert rules.
    echo "== monitoring (prometheus-postgres-exporter against a preloading cluster)"
    record_result monitoring in_cluster_with test/worker/monitoring.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres \
        -o forgea_audit.merkle_interval=1s -o forgea_audit.verify_interval=1s -o forgea_audit.checkpoint_interval=1s

    # The worker and a database that does not exist (logged once, waits for a reload).
    echo "== worker with a missing database (shared_preload_libraries = forgea_audit)"
    record_result missing_database in_cluster_with test/worker/missing_database.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=fa_missing_db \
        -o forgea_audit.retention_interval=1s -o logging_collector=on

    # A reader holding its transaction open never stalls the worker; passes wait for locks 5 s at most.
    echo "== worker: a reader never stalls the log (shared_preload_libraries = forgea_audit)"
    record_result reader_never_stalls in_cluster_with test/worker/reader_never_stalls.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres -o logging_collector=on

    # The worker's catch-up sleeps its own cost delay (forgea_audit.worker_catchup_delay), counted in the log.
    echo "== worker: verify_increment()'s cost delay in the worker's passes (shared_preload_libraries = forgea_audit)"
    record_result worker_catchup_delay in_cluster_with test/worker/worker_catchup_delay.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres -o forgea_audit.verify_interval=1s \
        -o forgea_audit.catchup_delay_always=on -o log_min_messages=debug1 -o logging_collector=on

    # The worker runs at forgea_audit.worker_nice (seen in /proc), reniced on reload, restarted to lower it.
    echo "== worker: its nice value (shared_preload_libraries = forgea_audit)"
    record_result worker_nice in_cluster_with test/worker/worker_nice.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres -o logging_collector=on

    # Key files that are not usable keys: refused at once, saying why; the server stays up and stops.
    echo "== worker: unusable key files (shared_preload_libraries = forgea_audit)"
    record_result key_files in_cluster_with test/worker/key_files.sh \
        -o shared_preload_libraries=forgea_audit -o forgea_audit.database=postgres -o logging_collector=on

    # Faults: scripts that make, crash, copy and promote clusters of their own (test/faults/lib.sh).
    for t in test/faults/*.sh; do
        name=$(basename "$t" .sh)
        [ "$name" = lib ] && continue
        echo "== faults $name"
        record_result "faults/$name" bash "$t"
    done

    # libFuzzer over the pure core: every test/fuzz/fuzz_*.cpp for FA_FUZZ_SECONDS (20 s) under
    # ASan and UBSan, one harness at a time here (FA_FUZZ_JOBS; the other core runs the
    # in-cluster suite); one result per harness.
    echo "== fuzz (libFuzzer, ASan + UBSan, ${FA_FUZZ_SECONDS:-20} s per harness)"
    local fuzz_log fuzz_started=$SECONDS name
    fuzz_log=$(mktemp)
    FA_FUZZ_JOBS=${FA_FUZZ_JOBS:-1} bash test/fuzz/run.sh | tee "$fuzz_log" || true
    sed -n 's/^fuzz \(fuzz_[a-z0-9_]*\): ok.*/0 fuzz\/\1/p' "$fuzz_log" >> "$result_lines"
    sed -n 's/^fuzz \(fuzz_[a-z0-9_]*\): FAIL.*/1 fuzz\/\1/p' "$fuzz_log" >> "$result_lines"
    grep -q '^fuzz: .* harnesses' "$fuzz_log" || echo "1 fuzz/run.sh" >> "$result_lines"
    rm -f "$fuzz_log"
    echo "$((SECONDS - fuzz_started)) fuzz (all harnesses)" >> "$FA_TIMINGS"
    echo "end $SECONDS" >> "$result_lines"
}
lane_b >"$lane_b_log" 2>&1 &
lane_b_pid=$!

# pg_regress, pgTAP and integration tests: one cluster, a fresh database per file.
echo "0 1 in_cluster" > "$FA_RESULTS"
# The throwaway cluster listens on $PGPORT when it is set (pg_virtualenv then exports the PG*
# variables that `make installcheck` and the scripts use inside), else on a free port.
port=${PGPORT:-$(free_port)}
pg_virtualenv -t -v 15 -c "--port=$port" bash test/lib/in_cluster.sh || true
in_cluster_ended=$SECONDS
read -r p f rest < "$FA_RESULTS"
passed=$((passed + p)); failed=$((failed + f)); [ -n "${rest:-}" ] && failures+=($rest)

# Lane B's output, once it is done.
wait "$lane_b_pid" || true
cat "$lane_b_log"
lane_b_ended=$(sed -n 's/^end \([0-9]*\)$/\1/p' "$result_lines")
[ -n "$lane_b_ended" ] || record_result lane-B-ended-early false

# Upgrading from every release (builds 0.1.0 and 0.2.0, installs each, then this build again; own cluster).
echo "== upgrade from 0.1.0 and 0.2.0"
record_result upgrade bash test/upgrade/upgrade.sh

# The Debian package: builds it (and the 0.2.0 one), lintian, installs it, a push, the upgrade from
# the 0.2.0 package, its autopkgtest, apt-get purge (test/package/deb_package.sh, about 4 minutes).
# The purge takes the extension's files out of the system directories: this build goes back after.
echo "== Debian package"
# Its build-time installcheck is left out (FA_DEB_BUILD_CHECK=0): its autopkgtest runs the same
# `make installcheck` against the installed package, and the in-cluster suite ran it on this build.
record_result deb_package env FA_DEB_BUILD_CHECK=0 bash test/package/deb_package.sh
make -s install >/dev/null

while read -r rc name; do
    [ "$rc" = end ] && continue
    if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$name"); fi
done < "$result_lines"
echo
echo "slowest (seconds): $(sort -rn "$FA_TIMINGS" | head -12 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')"
echo "whole suite: $SECONDS s (the lanes ended at $in_cluster_ended s, in-cluster suite, and ${lane_b_ended:-?} s, lane B)"
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
