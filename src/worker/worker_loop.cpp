// The background worker proper (retention; checkpoints and verification when their intervals are
// set; the Merkle integrator's ticks), started by the launcher (launcher.cpp).
//
// Shaped like PostgreSQL's worker_spi and pg_cron's launcher: one loop of WaitLatch (exiting if
// the postmaster dies) -> reload on SIGHUP -> short transactions (retention_archive.cpp: one per
// archive batch), so record_push never waits behind a long retention run.  An error in a pass is
// logged, recorded (retention's in retention_run) and retried at the next interval; SIGTERM ends
// the worker between two statements.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "merkle/merkle_integrator.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/progress.hpp"
#include "pg/settings.hpp"
#include "worker/retention_archive.hpp"
#include "pg/worker_tx.hpp"

using forgea::worker::after_seconds;
using forgea::worker::begin_tx;
using forgea::worker::end_tx;
using forgea::worker::first_int8;
using forgea::worker::ms_until;
using forgea::worker::run_catching;

namespace {

// When retention is disabled, look again this often (SIGHUP wakes the worker sooner).
constexpr long kIdlePollMs = 60 * 1000;

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

// The worker's nice value when it started (the postmaster's): forgea_audit.worker_nice never takes
// it below that.
int start_nice = 0;

// This process's nice value into *nice; false if getpriority() failed (-1 is also a valid nice
// value, so only errno tells them apart).
bool read_own_nice(int *nice)
{
    errno = 0;
    *nice = getpriority(PRIO_PROCESS, 0);
    return !(*nice == -1 && errno != 0);
}

// The nice value of this process's autogroup (/proc/self/autogroup, "/autogroup-N nice V") into
// *nice; false if the kernel has no such file (no CONFIG_SCHED_AUTOGROUP) or it reads otherwise.
bool read_autogroup_nice(int *nice)
{
    int fd = open("/proc/self/autogroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *at = strstr(buf, " nice ");
    return at != nullptr && sscanf(at, " nice %d", nice) == 1;
}

// Sets this process's autogroup's nice value to target.  With the kernel's autogroups on
// (sched_autogroup_enabled), the scheduler shares the CPU between autogroups first and a process's
// own nice value only ranks it inside its group; every PostgreSQL child calls setsid() and so is
// an autogroup of its own: without this, the worker's nice value would not make it give way to
// record_push's backends at all (docs/benchmarks.md, "the autogroup").  Only raised here (an
// unprivileged process cannot lower it; apply_worker_nice restarts the worker for that, and a new
// process starts in a new group at 0).  Fails soft: no such file, nothing to do; refused, a WARNING.
void apply_autogroup_nice(int target)
{
    int current;
    // Only a session leader's group is its own (a new session, a new group): never renice others.
    if (getsid(0) != getpid() || !read_autogroup_nice(&current) || current >= target)
        return;
    int fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
    char value[16];
    int len = snprintf(value, sizeof(value), "%d\n", target);
    if (fd < 0 || write(fd, value, static_cast<size_t>(len)) != len)
        elog(WARNING, "forgea_audit worker: could not set its autogroup's nice value to %d: %m", target);
    else
        elog(DEBUG1, "forgea_audit worker: its autogroup runs at nice %d", target);
    if (fd >= 0)
        close(fd);
}

// Sets the worker process's nice value to forgea_audit.worker_nice (at least the postmaster's), so
// that its passes (retention batches, catch-ups, checkpoints) run on idle CPU at full speed and
// yield it to record_push's backends, as a niced batch job does.  Only this process: the launcher
// and every session keep the postmaster's priority.  Raising the value works unprivileged;
// lowering it needs CAP_SYS_NICE, so the worker exits instead and the launcher starts a new one
// from the postmaster (which runs at start_nice) that raises it to the new value.  Nice, not
// SCHED_IDLE: a niced worker holding a WAL insertion or buffer lock still gets its CPU share and
// releases it, where SCHED_IDLE could leave it descheduled behind a saturated CPU.  The worker's
// autogroup, where the kernel has them, gets forgea_audit.worker_nice (apply_autogroup_nice).
void apply_worker_nice()
{
    int target = Max(fa_worker_nice, start_nice);
    int current;
    if (!read_own_nice(&current)) {
        elog(WARNING, "forgea_audit worker: getpriority failed: %m");
        return;
    }
    int group;
    if (target < current || (read_autogroup_nice(&group) && group > fa_worker_nice)) {
        elog(LOG, "forgea_audit worker: forgea_audit.worker_nice is now %d (was %d); restarting", target, current);
        proc_exit(1);
    }
    if (target > current) {
        if (setpriority(PRIO_PROCESS, 0, target) != 0)
            elog(WARNING, "forgea_audit worker: could not set nice value %d: %m", target);
        else
            elog(DEBUG1, "forgea_audit worker: running at nice %d", target);
    }
    apply_autogroup_nice(fa_worker_nice);  // the sessions' groups run at 0 whatever the postmaster's nice
}

}  // namespace

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
    if (!read_own_nice(&start_nice))
        start_nice = 0;
    apply_worker_nice();
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
            apply_worker_nice();
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
            failure = run_catching("retention", [] { fa_retention_run_once(); }, loop_context);
            if (failure != nullptr) {
                const char *message = failure;
                // Reported by run_catching already; if even recording it fails, the next interval tries again.
                (void) run_catching("retention error record", [&] { fa_retention_record_error(message); }, loop_context);
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
