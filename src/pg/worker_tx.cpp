// The worker's own transactions and due times (worker_tx.hpp), shared by the launcher, the loop
// and the archiving.
#include "pg/core_headers.hpp"  // first: see there

#include "pg/worker_tx.hpp"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "pg/datum_read.hpp"
#include "pg/progress.hpp"

namespace forgea::worker {

// See worker_tx.hpp.
void begin_tx(const char *activity)
{
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    PushActiveSnapshot(GetTransactionSnapshot());
    fa_worker_activity(activity);
}

// See worker_tx.hpp.
void end_tx()
{
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_stat(false);
    pgstat_report_activity(STATE_IDLE, nullptr);
}

// See worker_tx.hpp.
int64 first_int8(int rc, const char *what)
{
    if (rc < 0 || SPI_processed != 1)
        elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
    int64 v = 0;
    return fa_get_opt<SqlInt8>(fa_spi_row(0, what), 1, &v) ? v : 0;
}

// See worker_tx.hpp.
TimestampTz after_seconds(int seconds)
{
    return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), static_cast<int64>(seconds) * 1000);
}

// See worker_tx.hpp.
long ms_until(TimestampTz when)
{
    long secs;
    int usecs;
    TimestampDifference(GetCurrentTimestamp(), when, &secs, &usecs);
    return secs * 1000 + usecs / 1000;
}

}  // namespace forgea::worker

