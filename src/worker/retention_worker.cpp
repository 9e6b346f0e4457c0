// The background worker (retention; checkpoints and verification when their intervals are set),
// and forgea_audit.retention_settings().
//
// Shaped like PostgreSQL's worker_spi and pg_cron's launcher: one loop of WaitLatch (exiting if
// the postmaster dies) -> reload on SIGHUP -> short transactions.  Each archive batch is its own
// transaction (forgea_audit.archive_batch(), the same SQL that run_retention() and pg_cron use), so
// record_push never waits behind a long retention run and a crash loses at most the batch in flight,
// which then simply did not happen.  An error in a run is logged, recorded in retention_run and
// retried at the next interval; SIGTERM ends the worker between two statements.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "pg/boundary.hpp"
#include "pg/progress.hpp"
#include "pg/datum_read.hpp"
#include "pg/settings.hpp"
#include "worker/merkle_integrator.hpp"

namespace {

// When retention is disabled, look again this often (SIGHUP wakes the worker sooner).
constexpr long kIdlePollMs = 60 * 1000;

// A palloc'd interval of seconds, for retention_settings().
Interval *seconds_interval(int seconds)
{
    Interval *iv = static_cast<Interval *>(palloc0(sizeof(Interval)));
    iv->day = seconds / SECS_PER_DAY;
    iv->time = static_cast<int64>(seconds % SECS_PER_DAY) * USECS_PER_SEC;
    return iv;
}

// One statement in one transaction of its own, as the worker runs everything.
struct TxResult {
    bool has_value;
    int64 value;
};
FA_LIVES_ACROSS_PG_CALLS(TxResult);

// The worker's unit of work: a transaction of its own, SPI, a snapshot, and what it is doing in
// pg_stat_activity.
void begin_tx(const char *activity)
{
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    fa_worker_activity(activity);
}

// Ends begin_tx's transaction and reports the worker idle.
void end_tx()
{
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_stat(false);
    pgstat_report_activity(STATE_IDLE, nullptr);
}

// The int8 of the single row an SPI call returned; anything else is an error naming what.
int64 first_int8(int rc, const char *what)
{
    if (rc < 0 || SPI_processed != 1)
        elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
    int64 v = 0;
    return fa_get_opt<SqlInt8>(fa_spi_row(0, what), 1, &v) ? v : 0;
}

// Whether forgea_audit exists in the worker's database: the library may be preloaded before
// CREATE EXTENSION, and the worker then waits instead of failing.
bool extension_installed()
{
    begin_tx("forgea_audit retention: checking the extension");
    int rc = SPI_execute("SELECT count(*) FROM pg_catalog.pg_extension WHERE extname = 'forgea_audit'", true, 1);
    bool installed = first_int8(rc, "extension lookup") > 0;
    end_tx();
    return installed;
}

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

// Runs retention once: a run row, one transaction per batch, the run row completed.
void run_once()
{
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

    for (;;) {
        CHECK_FOR_INTERRUPTS();
        begin_tx("forgea_audit retention: archiving a batch");
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
void record_error(const char *message)
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

// Now plus seconds: when a periodic task is next due.
TimestampTz after_seconds(int seconds)
{
    return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), static_cast<int64>(seconds) * 1000);
}

// Milliseconds until when, at least 0: the latch wait of the loop.
long ms_until(TimestampTz when)
{
    long secs;
    int usecs;
    TimestampDifference(GetCurrentTimestamp(), when, &secs, &usecs);
    return secs * 1000 + usecs / 1000;
}

// A checkpoint (docs/checkpoints.md) in a transaction of its own; it leaves the database through
// NOTIFY and the server log as any checkpoint does.
void make_checkpoint()
{
    begin_tx("forgea_audit: making a checkpoint");
    int rc = SPI_execute("SELECT forgea_audit.checkpoint()", false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "checkpoint failed: %s", SPI_result_code_string(rc));
    end_tx();
}

// One kind of verification the worker runs: the incremental pass every verify_interval, the full
// one every verify_full_interval.  Each remembers the last failing verdict it recorded, so that a
// log that stays broken is reported once per new first bad row and pass, not once per interval
// (the two passes can name different rows: the incremental one cannot see old rows).
struct VerifyPass {
    const char *name;      // "incremental" or "full": the failure event's metadata.pass
    const char *query;     // returns ok, first_bad_seq (0 if none), detail
    const char *activity;  // pg_stat_activity
    int64 last_reported_bad_seq;
};
FA_LIVES_ACROSS_PG_CALLS(VerifyPass);

VerifyPass incremental_pass = {"incremental",
                               "SELECT ok, coalesce(first_bad_seq, 0), detail FROM forgea_audit.verify_increment()",
                               "forgea_audit: verifying the audit rows added since the last verification", -1};
VerifyPass full_pass = {"full", "SELECT ok, coalesce(first_bad_seq, 0), detail FROM forgea_audit.verify_chain()",
                        "forgea_audit: verifying the whole audit chain", -1};

// A verification in a transaction of its own; a failure becomes a HIGH event, so it is chained
// and published on the alert channel like any other.
void run_verification(VerifyPass &pass)
{
    begin_tx(pass.activity);
    int rc = SPI_execute(pass.query, false, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "the %s verification failed: %s", pass.name, SPI_result_code_string(rc));
    FaRow result = fa_spi_row(0, pass.query);
    bool ok = fa_get<SqlBool>(result, 1);
    int64 bad = 0;
    if (!fa_get_opt<SqlInt8>(result, 2, &bad))
        bad = 0;
    text *detail_text;
    char *detail = fa_get_opt<SqlText>(result, 3, &detail_text) ? text_to_cstring(detail_text) : pstrdup("");
    if (ok) {
        pass.last_reported_bad_seq = -1;
    } else if (bad != pass.last_reported_bad_seq) {
        elog(WARNING, "forgea_audit: the audit chain does not verify (%s pass): %s", pass.name, detail);
        Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
        Datum args[3] = {Int64GetDatum(bad), CStringGetTextDatum(detail), CStringGetTextDatum(pass.name)};
        rc = SPI_execute_with_args(
            "SELECT forgea_audit.append_system('CHAIN_VERIFY_FAILED', actor_id => 'forgea_audit.worker', "
            "  target_type => 'audit_log', target_id => $1::text, chain => 'verification', outcome => 'failure', "
            "  severity => 'HIGH', metadata => jsonb_build_object('first_bad_seq', $1, 'detail', $2, 'pass', $3))",
            3, types, args, nullptr, false, 1);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "recording the failed verification failed: %s", SPI_result_code_string(rc));
        pass.last_reported_bad_seq = bad;
    }
    end_tx();
}

// Runs f, the worker's pass called pass; on an ERROR, reports it (server log), rolls back, shows
// that the pass could not run in forgea_audit.progress until the next pass starts, and returns
// the message instead of exiting.  (Without this an ERROR in a worker becomes FATAL and the
// worker restarts.)
template <typename F>
char *run_catching(const char *pass, F f, MemoryContext keep)
{
    MemoryContext loop_context = CurrentMemoryContext;
    char *volatile failure = nullptr;
    PG_TRY();
    {
        f();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(keep);
        ErrorData *edata = CopyErrorData();
        failure = pstrdup(edata->message);
        FreeErrorData(edata);
        HOLD_INTERRUPTS();
        EmitErrorReport();
        AbortCurrentTransaction();
        SPI_finish();  // no-op if not connected; clears SPI state after an abort
        FlushErrorState();
        fa_worker_pass_failed(pass, failure);
        RESUME_INTERRUPTS();
        MemoryContextSwitchTo(loop_context);
    }
    PG_END_TRY();
    if (failure == nullptr)
        fa_worker_pass_done(pass);
    return failure;
}

}  // namespace

// Registers the worker from _PG_init while shared_preload_libraries loads (see settings.hpp).
// The worker is two processes.  The launcher, registered at startup, connects to no database
// (shared catalogs only, like PostgreSQL's logical replication launcher) and starts the worker
// proper, a dynamic background worker connected to forgea_audit.database, only when that worker
// has something to do and the database exists.  A missing database is logged once, with a hint,
// and the launcher waits for a configuration reload; with every interval at 0 nothing is started
// or logged at all.  (Registering the worker itself with a restart time made a missing database a
// FATAL every bgw_restart_time seconds, forever: BackgroundWorkerInitializeConnection cannot
// report it any other way.)
void fa_register_retention_worker()
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 10;  // seconds: after a crash or pg_terminate_backend, come back soon
    strlcpy(worker.bgw_library_name, "forgea_audit", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "fa_worker_launcher_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "forgea_audit launcher", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "forgea_audit launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

namespace {

// Whether the worker proper would do anything with the settings in force.
bool worker_has_work()
{
    return fa_retention_interval_s > 0 || fa_checkpoint_interval_s > 0 || fa_verify_interval_s > 0 ||
           fa_verify_full_interval_s > 0 ||
           fa_merkle_worker_enabled();
}

// Is forgea_audit.database there?  Read from pg_database, a shared catalog, with a plain heap
// scan as PostgreSQL's own database-less launchers do (autovacuum's get_database_list, the logical
// replication launcher).  get_database_oid()'s index scan made the launcher exit FATAL ("cannot
// read pg_class without having selected a database") when a reload came after enough catalog
// changes elsewhere (a CREATE EXTENSION) to overflow its invalidation queue: the worker then came
// up only after the launcher's 10 s restart, and with a FATAL in the log.
bool worker_database_exists()
{
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    (void) GetTransactionSnapshot();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    bool exists = false;
    HeapTuple tup;
    while (!exists && HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection))) {
        Form_pg_database db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
        exists = strcmp(NameStr(db->datname), fa_worker_database) == 0;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();
    return exists;
}

// Starts the worker proper; it tells this process (bgw_notify_pid) when it stops.
BackgroundWorkerHandle *start_worker()
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;  // the launcher decides
    strlcpy(worker.bgw_library_name, "forgea_audit", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "fa_retention_worker_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "forgea_audit retention worker", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "forgea_audit retention", BGW_MAXLEN);
    worker.bgw_notify_pid = MyProcPid;
    BackgroundWorkerHandle *handle = nullptr;
    if (!RegisterDynamicBackgroundWorker(&worker, &handle))
        return nullptr;
    return handle;
}

}  // namespace

FA_WORKER_MAIN(fa_worker_launcher_main)
{
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    pgstat_report_appname("forgea_audit launcher");

    BackgroundWorkerHandle *worker = nullptr;
    bool reported_missing = false;     // logged for the settings in force; a reload clears it
    TimestampTz not_before = 0;        // a worker that stopped is restarted 10 s later at the earliest
    for (;;) {
        long wait_ms = -1;  // until a signal: a reload, or the worker starting or stopping
        if (worker != nullptr) {
            pid_t pid;
            if (GetBackgroundWorkerPid(worker, &pid) == BGWH_STOPPED) {
                pfree(worker);
                worker = nullptr;
                not_before = after_seconds(10);
                continue;
            }
        } else if (worker_has_work()) {
            if (GetCurrentTimestamp() < not_before) {
                wait_ms = Max(ms_until(not_before), 1L);
            } else if (!worker_database_exists()) {
                if (!reported_missing)
                    ereport(LOG, (errmsg("forgea_audit worker: database \"%s\" does not exist; waiting for a configuration "
                                         "reload", fa_worker_database),
                                  errhint("Create the database, or set forgea_audit.database to the database where "
                                          "CREATE EXTENSION forgea_audit ran, then reload (SELECT pg_reload_conf()).")));
                reported_missing = true;
            } else {
                worker = start_worker();
                if (worker == nullptr) {
                    ereport(LOG, (errmsg("forgea_audit worker: no background worker slot free; trying again in 10 s"),
                                  errhint("Raise max_worker_processes.")));
                    not_before = after_seconds(10);
                    continue;
                }
            }
        }
        int events = WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (wait_ms >= 0 ? WL_TIMEOUT : 0);
        (void) WaitLatch(MyLatch, events, wait_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
            reported_missing = false;
            not_before = 0;
        }
    }
}

// The worker: one loop (WaitLatch, SIGHUP reload, due tasks), each task in transactions of its own
// and caught by run_catching, so an error is logged and retried next interval, not a restart.
FA_WORKER_MAIN(fa_retention_worker_main)
{
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(fa_worker_database, nullptr, 0);
    pgstat_report_appname("forgea_audit retention worker");
    elog(LOG, "forgea_audit retention worker started in database \"%s\"", fa_worker_database);
    // Started by the launcher (above), which restarts it when it stops.

    MemoryContext loop_context =
        AllocSetContextCreate(TopMemoryContext, "forgea_audit worker loop", ALLOCSET_DEFAULT_SIZES);
    TimestampTz next_retention = GetCurrentTimestamp();
    TimestampTz next_checkpoint = after_seconds(fa_checkpoint_interval_s);
    TimestampTz next_verify = after_seconds(fa_verify_interval_s);
    TimestampTz next_full_verify = after_seconds(fa_verify_full_interval_s);
    bool warned_missing = false;

    for (;;) {
        long wait_ms = kIdlePollMs;
        if (fa_retention_interval_s > 0)
            wait_ms = Min(wait_ms, ms_until(next_retention));
        if (fa_checkpoint_interval_s > 0)
            wait_ms = Min(wait_ms, ms_until(next_checkpoint));
        if (fa_verify_interval_s > 0)
            wait_ms = Min(wait_ms, ms_until(next_verify));
        if (fa_verify_full_interval_s > 0)
            wait_ms = Min(wait_ms, ms_until(next_full_verify));
        wait_ms = Min(wait_ms, fa_merkle_worker_wait_ms());
        if (wait_ms > 0) {
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
        CHECK_FOR_INTERRUPTS();

        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            int old_retention = fa_retention_interval_s;
            int old_checkpoint = fa_checkpoint_interval_s;
            int old_verify = fa_verify_interval_s;
            int old_full_verify = fa_verify_full_interval_s;
            char *old_database = pstrdup(fa_worker_database);
            ProcessConfigFile(PGC_SIGHUP);
            if (strcmp(old_database, fa_worker_database) != 0) {
                // A worker is bound to one database for life: exit, and the launcher starts a
                // new one that connects to the new database (once it exists).
                elog(LOG, "forgea_audit worker: forgea_audit.database changed from \"%s\" to \"%s\"; restarting",
                     old_database, fa_worker_database);
                proc_exit(1);
            }
            pfree(old_database);
            if (fa_retention_interval_s != old_retention) {
                elog(LOG, "forgea_audit worker: retention_interval is now %d s", fa_retention_interval_s);
                next_retention = after_seconds(fa_retention_interval_s);
            }
            if (fa_checkpoint_interval_s != old_checkpoint) {
                elog(LOG, "forgea_audit worker: checkpoint_interval is now %d s", fa_checkpoint_interval_s);
                next_checkpoint = after_seconds(fa_checkpoint_interval_s);
            }
            if (fa_verify_interval_s != old_verify) {
                elog(LOG, "forgea_audit worker: verify_interval is now %d s", fa_verify_interval_s);
                next_verify = after_seconds(fa_verify_interval_s);
            }
            if (fa_verify_full_interval_s != old_full_verify) {
                elog(LOG, "forgea_audit worker: verify_full_interval is now %d s", fa_verify_full_interval_s);
                next_full_verify = after_seconds(fa_verify_full_interval_s);
            }
            continue;
        }

        fa_merkle_worker_tick(loop_context);  // the transparency log (merkle_integrator.cpp)

        bool retention_due = fa_retention_interval_s > 0 && GetCurrentTimestamp() >= next_retention;
        bool checkpoint_due = fa_checkpoint_interval_s > 0 && GetCurrentTimestamp() >= next_checkpoint;
        bool verify_due = fa_verify_interval_s > 0 && GetCurrentTimestamp() >= next_verify;
        bool full_verify_due = fa_verify_full_interval_s > 0 && GetCurrentTimestamp() >= next_full_verify;
        if (!retention_due && !checkpoint_due && !verify_due && !full_verify_due)
            continue;
        if (verify_due)
            next_verify = after_seconds(fa_verify_interval_s);
        if (full_verify_due)
            next_full_verify = after_seconds(fa_verify_full_interval_s);
        if (retention_due)
            next_retention = after_seconds(fa_retention_interval_s);
        if (checkpoint_due)
            next_checkpoint = after_seconds(fa_checkpoint_interval_s);

        MemoryContextSwitchTo(loop_context);
        MemoryContextReset(loop_context);
        bool installed = false;
        char *failure = run_catching("extension check", [&] { installed = extension_installed(); }, loop_context);
        if (failure == nullptr && !installed) {
            if (!warned_missing)
                elog(LOG, "forgea_audit worker: extension forgea_audit is not installed in database \"%s\"; "
                          "nothing to do", fa_worker_database);
            warned_missing = true;
            continue;
        }
        warned_missing = false;
        if (failure == nullptr && retention_due) {
            failure = run_catching("retention", [] { run_once(); }, loop_context);
            if (failure != nullptr) {
                const char *message = failure;
                // Reported by run_catching already; if even recording it fails, the next interval tries again.
                (void) run_catching("retention error record", [&] { record_error(message); }, loop_context);
            }
        }
        if (installed && checkpoint_due)
            (void) run_catching("checkpoint", [] { make_checkpoint(); }, loop_context);
        if (installed && verify_due)
            (void) run_catching("incremental verification", [] { run_verification(incremental_pass); }, loop_context);
        if (installed && full_verify_due)
            (void) run_catching("full verification", [] { run_verification(full_pass); }, loop_context);
    }
}

// forgea_audit.retention_settings(): the settings in force, typed, for SQL callers.
FA_FUNCTION(fa_retention_settings, "forgea_audit.retention_settings")
{
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "retention_settings must return a composite type");
    desc = BlessTupleDesc(desc);
    Interval *delay = static_cast<Interval *>(palloc0(sizeof(Interval)));
    delay->time = static_cast<int64>(fa_archive_batch_delay_ms) * 1000;
    Datum values[6] = {IntervalPGetDatum(seconds_interval(fa_attempt_retention_s)), Int32GetDatum(fa_archive_batch_size),
                       IntervalPGetDatum(seconds_interval(fa_retention_interval_s)),
                       CStringGetTextDatum(fa_worker_database ? fa_worker_database : ""), IntervalPGetDatum(delay),
                       IntervalPGetDatum(seconds_interval(fa_rejection_retention_s))};
    bool nulls[6] = {false, false, false, false, false, false};
    return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}
