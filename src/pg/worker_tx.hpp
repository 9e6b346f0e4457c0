// What the background worker's parts share (its launcher, its loop and its archiving under
// worker/, the Merkle integrator's share under merkle/): a transaction of the worker's own
// (begin_tx / end_tx, as PostgreSQL's worker_spi runs one), a pass run so that an ERROR in it is
// reported and the worker goes on (run_catching), reading the one int8 a statement returned, and
// the due-time arithmetic of the latch waits.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/memutils.h"
}

#include "pg/progress.hpp"

namespace forgea::worker {

// The worker's unit of work: a transaction of its own, SPI, a snapshot, and what it is doing in
// pg_stat_activity.
void begin_tx(const char *activity);

// Ends begin_tx's transaction and reports the worker idle.
void end_tx();

// The int8 of the single row an SPI call returned; anything else is an error naming what.
int64 first_int8(int rc, const char *what);

// Now plus seconds: when a periodic task is next due.
TimestampTz after_seconds(int seconds);

// Milliseconds until when, at least 0: the latch wait of the loop.
long ms_until(TimestampTz when);

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

}  // namespace forgea::worker
