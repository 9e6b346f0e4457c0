// The worker's launcher: registered from _PG_init when the library is preloaded, it connects to no
// database and starts the worker proper (worker_loop.cpp) when that has something to do and its
// database exists.
#include "pg/core_headers.hpp"  // first: see there

#include "worker/launcher.hpp"

extern "C" {
#include "postgres.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include <cstring>

#include "merkle/merkle_integrator.hpp"
#include "pg/boundary.hpp"
#include "pg/settings.hpp"
#include "pg/worker_tx.hpp"

using forgea::worker::after_seconds;
using forgea::worker::ms_until;

// Registers the worker from _PG_init while shared_preload_libraries loads (see launcher.hpp).
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
