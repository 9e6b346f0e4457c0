// Retention's archiving as the background worker runs it: a run row, one transaction per archive
// batch (forgea_audit.archive_batch(), the same SQL that run_retention() and pg_cron use), the
// rejected deliveries' daily roll-up, the run row completed; and, after an error, the error
// recorded in retention_run.  A crash loses at most the batch in flight, which then simply did not
// happen; the loop (worker_loop.cpp) retries a failed run at the next interval.
#include "pg/core_headers.hpp"  // first: see there

#include "worker/retention_archive.hpp"

#include <malloc.h>

extern "C" {
#include "postgres.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
}

#include "pg/datum_read.hpp"
#include "pg/settings.hpp"
#include "pg/worker_tx.hpp"

using forgea::worker::begin_tx;
using forgea::worker::end_tx;
using forgea::worker::first_int8;

namespace {

// webhook_rejection's part of a run: each whole UTC day older than rejection_retention summed
// into webhook_rejection_daily with its audit event (rollup_rejections()), one day per
// transaction, until no day is due or another run holds the retention lock.
void roll_up_rejections()
{
    for (;;) {
        CHECK_FOR_INTERRUPTS();
        begin_tx("forgea_audit retention: summing a day of rejected deliveries");
        int rc = SPI_execute("SELECT r.days::int8 FROM forgea_audit.retention_settings() s, "
                             "forgea_audit.rollup_rejections(now() - s.rejection_retention) r WHERE NOT r.skipped",
                             false, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "summing rejected deliveries failed: %s", SPI_result_code_string(rc));
        int64 days = 0;
        bool more = SPI_processed == 1 &&
                    fa_get_opt<SqlInt8>(fa_spi_row(0, "forgea_audit.rollup_rejections()"), 1, &days) && days > 0;
        end_tx();
        if (!more)
            return;
    }
}

// Sets wal_compression for the rest of this transaction to forgea_audit.archive_wal_compression
// (nothing for "server").  The worker is a superuser, which wal_compression asks for; a value the
// server refuses is reported once per run as a WARNING, and the batches then run with the server's.
void use_archive_wal_compression(bool *refused)
{
    if (fa_archive_wal_compression == 0 || *refused)
        return;
    const char *name = nullptr;
    for (const config_enum_entry *e = fa_archive_wal_compression_options; e->name != nullptr; e++)
        if (e->val == fa_archive_wal_compression)
            name = e->name;
    if (name == nullptr ||
        set_config_option("wal_compression", name, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, WARNING, false) <= 0)
        *refused = true;
}

// Keeps the memory a batch frees in this process for the next batch instead of giving it back to
// the kernel.  Every batch allocates a few MB (the deleted rows' tuplestore, the digest's text,
// sorts) and frees them at its commit; with glibc's default thresholds the freed top of the heap is
// trimmed and large blocks are unmapped, so the next batch takes every page again as a fresh page
// fault: 8% of the worker's time archiving 200,000 rows (perf, docs/benchmarks.md).  The worker's
// resident memory then stays at the largest batch's (plus at most 64 MB kept free), which is
// bounded by archive_batch_size; once per process (mallopt is process-wide: this is the
// retention worker's own process, which also runs the other worker passes).
void keep_freed_memory()
{
    static bool done = false;
    if (done)
        return;
    done = true;
#if defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
    (void) mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    (void) mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
#endif
}

}  // namespace

// Runs retention once: a run row, one transaction per batch, the run row completed.
void fa_retention_run_once()
{
    keep_freed_memory();
    begin_tx("forgea_audit retention: starting a run");
    int rc = SPI_execute("INSERT INTO forgea_audit.retention_run (driver, started_at, cutoff) "
                         "SELECT 'worker', clock_timestamp(), now() - s.attempt_retention "
                         "FROM forgea_audit.retention_settings() s RETURNING id",
                         false, 1);
    int64 run_id = first_int8(rc, "starting a retention run");
    end_tx();

    // The position the next batch starts after: the (recorded_at, id) of the last row moved, so
    // no batch scans again over what earlier batches of this run deleted (see archive_batch()).
    Oid argtypes[3] = {INT8OID, TIMESTAMPTZOID, INT8OID};
    Datum args[3] = {Int64GetDatum(run_id), TimestampTzGetDatum(0), Int64GetDatum(0)};
    char nulls[3] = {' ', 'n', 'n'};
    int64 archived = 0;
    int batches = 0;
    bool skipped = false;
    bool compression_refused = false;

    for (;;) {
        CHECK_FOR_INTERRUPTS();
        begin_tx("forgea_audit retention: archiving a batch");
        use_archive_wal_compression(&compression_refused);
        rc = SPI_execute_with_args(
            "SELECT b.archived, b.skipped, s.archive_batch_size::int8, b.resume_recorded_at, b.resume_id "
            "FROM forgea_audit.retention_run r, forgea_audit.retention_settings() s, "
            "     forgea_audit.archive_batch(r.cutoff, s.archive_batch_size, $2, $3) b WHERE r.id = $1",
            3, argtypes, args, nulls, false, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "archive batch failed: %s", SPI_result_code_string(rc));
        FaRow row = fa_spi_row(0, "forgea_audit.archive_batch()");
        int64 moved = fa_get<SqlInt8>(row, 1);
        skipped = fa_get<SqlBool>(row, 2);
        int64 batch_size = fa_get<SqlInt8>(row, 3);
        // Pass-by-value (int64) values: they outlive the SPI tuple table.
        TimestampTz resume_at;
        int64 resume_id;
        if (fa_get_opt<SqlTimestamptz>(row, 4, &resume_at) && fa_get_opt<SqlInt8>(row, 5, &resume_id)) {
            args[1] = TimestampTzGetDatum(resume_at);
            args[2] = Int64GetDatum(resume_id);
            nulls[1] = nulls[2] = ' ';
        }
        // Progress: the run's row counts this batch in the batch's own transaction, so
        // retention_status shows batches and rows as they commit, not only when the run ends.
        if (!skipped && moved > 0) {
            Oid progress_types[2] = {INT8OID, INT8OID};
            Datum progress_args[2] = {Int64GetDatum(run_id), Int64GetDatum(moved)};
            rc = SPI_execute_with_args("UPDATE forgea_audit.retention_run SET archived = archived + $2, "
                                       "batches = batches + 1 WHERE id = $1",
                                       2, progress_types, progress_args, nullptr, false, 0);
            if (rc != SPI_OK_UPDATE)
                elog(ERROR, "recording a retention batch failed: %s", SPI_result_code_string(rc));
        }
        end_tx();
        if (skipped || moved == 0)
            break;
        archived += moved;
        batches++;
        if (moved < batch_size)
            break;
        // Throttle: leave the CPU and the WAL to the application between two batches.  A signal
        // (SIGTERM, SIGHUP) ends the pause early; SIGTERM then ends the worker below.
        if (fa_archive_batch_delay_ms > 0) {
            pgstat_report_activity(STATE_IDLE, "forgea_audit retention: pausing between batches");
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, fa_archive_batch_delay_ms,
                             PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
    }

    if (!skipped)
        roll_up_rejections();

    begin_tx("forgea_audit retention: finishing a run");
    Oid done_types[4] = {INT8OID, INT8OID, INT4OID, BOOLOID};
    Datum done_args[4] = {Int64GetDatum(run_id), Int64GetDatum(archived), Int32GetDatum(batches), BoolGetDatum(skipped)};
    rc = SPI_execute_with_args(
        "UPDATE forgea_audit.retention_run SET finished_at = clock_timestamp(), archived = $2, batches = $3, "
        "  skipped = $4, oldest_kept = (SELECT min(recorded_at) FROM forgea_audit.lab_attempt), "
        "  lock_holder = CASE WHEN $4 THEN forgea_audit.retention_lock_holder() END WHERE id = $1",
        4, done_types, done_args, nullptr, false, 0);
    if (rc != SPI_OK_UPDATE)
        elog(ERROR, "finishing a retention run failed: %s", SPI_result_code_string(rc));
    end_tx();
    if (archived > 0 || skipped)
        elog(LOG, "forgea_audit retention: archived " INT64_FORMAT " attempts in %d batches%s", archived, batches,
             skipped ? " (another run held the retention lock)" : "");
}

// After an error: the run's partial work is committed batch by batch; say what failed.
void fa_retention_record_error(const char *message)
{
    begin_tx("forgea_audit retention: recording an error");
    Oid types[1] = {TEXTOID};
    Datum args[1] = {CStringGetTextDatum(message)};
    int rc = SPI_execute_with_args(
        "WITH open AS (SELECT id FROM forgea_audit.retention_run WHERE driver = 'worker' AND finished_at IS NULL "
        "              ORDER BY id DESC LIMIT 1) "
        "UPDATE forgea_audit.retention_run r SET finished_at = clock_timestamp(), error = $1 FROM open WHERE r.id = open.id",
        1, types, args, nullptr, false, 0);
    if (rc == SPI_OK_UPDATE && SPI_processed == 0)
        SPI_execute_with_args("INSERT INTO forgea_audit.retention_run (driver, started_at, finished_at, error) "
                              "VALUES ('worker', clock_timestamp(), clock_timestamp(), $1)",
                              1, types, args, nullptr, false, 0);
    end_tx();
}
