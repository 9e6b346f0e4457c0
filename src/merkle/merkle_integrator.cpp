#include "merkle/merkle_integrator.hpp"

extern "C" {
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include "merkle/merkle_store.hpp"
#include "pg/datum_read.hpp"
#include "pg/worker_tx.hpp"

using forgea::worker::begin_tx;
using forgea::worker::end_tx;
using forgea::worker::run_catching;

namespace {

int merkle_interval_ms = 1000;
TimestampTz next_run = 0;

// One batch in a transaction of its own; false when the batch came back short (nothing more to
// take now) or the extension has no Merkle tables here (not installed, or not yet updated).
bool integrate_one_batch()
{
    begin_tx("forgea_audit: integrating audit rows into the Merkle tree");
    int rc = SPI_execute("SELECT pg_catalog.to_regprocedure('forgea_audit.merkle_integrate(bigint)') IS NOT NULL", true, 1);
    bool present = rc == SPI_OK_SELECT && SPI_processed == 1 &&
                   fa_get<SqlBool>(fa_spi_row(0, "the merkle_integrate lookup"), 1);
    int64 n = 0;
    if (present) {
        char *sql = psprintf("SELECT forgea_audit.merkle_integrate(" INT64_FORMAT ")", kMerkleBatchRows);
        rc = SPI_execute(sql, false, 1);
        if (rc != SPI_OK_SELECT || SPI_processed != 1)
            elog(ERROR, "merkle_integrate failed: %s", SPI_result_code_string(rc));
        n = fa_get<SqlInt8>(fa_spi_row(0, "forgea_audit.merkle_integrate()"), 1);
    }
    end_tx();
    return present && n == kMerkleBatchRows;
}

}  // namespace

void fa_define_merkle_settings()
{
    DefineCustomIntVariable(
        "forgea_audit.merkle_interval",
        "How often the background worker integrates committed audit rows into the Merkle tree; 0 disables it.",
        "checkpoint() integrates whatever is left first, so this only spreads the work out.",
        &merkle_interval_ms, 1000, 0, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
}

bool fa_merkle_worker_enabled()
{
    return merkle_interval_ms > 0;
}

long fa_merkle_worker_wait_ms()
{
    if (merkle_interval_ms <= 0)
        return 60 * 1000L;
    long ms = static_cast<long>((next_run - GetCurrentTimestamp()) / 1000);
    return Max(ms, 0L);
}

void fa_merkle_worker_tick(MemoryContext loop_context)
{
    if (merkle_interval_ms <= 0 || GetCurrentTimestamp() < next_run)
        return;
    next_run = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), merkle_interval_ms);
    MemoryContextSwitchTo(loop_context);
    // An ERROR is reported (server log, forgea_audit.progress) and rolled back; the worker goes on.
    // A lock not granted within kPassLockWaitMs ends up there too (merkle_integrate() bounds its
    // wait): the next interval tries again.
    (void) run_catching("integrator", [] {
        while (integrate_one_batch())
            CHECK_FOR_INTERRUPTS();
    }, loop_context);
    MemoryContextSwitchTo(loop_context);
    MemoryContextReset(loop_context);
}
