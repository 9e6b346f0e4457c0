// forgea_audit.archive_pace(): archive_batch() calls it once per row it writes into
// lab_attempt_archive, and it sleeps whenever this backend's own WAL has run ahead of
// forgea_audit.archive_wal_rate (a token bucket of bytes per second, with a small burst).
//
// Why: record_push at 8 clients is bound by the WAL flush (group commit on one disk), and each
// flush carries whatever WAL was inserted before it.  A batch writes its WAL unevenly: the delete
// half (row locks, deletes, the full-page images of lab_attempt's pages) is CPU-bound and light,
// the insert half (the archive's heap rows and three B-trees, ~80% of the batch's bytes) comes in a
// burst as fast as the disk can sync it, and every commit in that burst waits for it
// (docs/benchmarks.md, "Retention at 8 clients").  Pausing between batches does not touch the
// burst; pacing the rows inside it does.  It never changes what is archived: it returns true.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/timestamp.h"
}

#include <algorithm>

#include "pg/boundary.hpp"
#include "pg/settings.hpp"

namespace {

// The bucket may hold this much WAL written at full speed before pacing starts (a few rows'
// worth: pacing is per millisecond, not per row).
constexpr double kBurstBytes = 64.0 * 1024;
// After a second without a call (between runs, or a new statement after a long pause) the bucket
// starts full again: what was not written then is not owed later.
constexpr int64 kIdleResetUs = 1000 * 1000;
// One sleep is at most this long (a long one is split, with interrupts checked in between).
constexpr long kMaxSleepUs = 100 * 1000;

struct PaceState {
    double tokens;          // bytes that may still be written without sleeping
    uint64 last_wal_bytes;  // this backend's pgWalUsage.wal_bytes at the last call
    TimestampTz last_time;  // 0: no call yet
};
FA_LIVES_ACROSS_PG_CALLS(PaceState);
PaceState pace = {0, 0, 0};

// Microseconds from `from` to `to`, never negative (the wall clock may be set back).
double elapsed_us(TimestampTz from, TimestampTz to)
{
    return to > from ? static_cast<double>(to - from) : 0.0;
}

}  // namespace

// forgea_audit.archive_pace(): true, after sleeping as long as this backend's WAL since the last
// call exceeds forgea_audit.archive_wal_rate's budget (nothing when it is 0).
FA_FUNCTION(fa_archive_pace, "forgea_audit.archive_pace")
{
    if (fa_archive_wal_rate_kb <= 0)
        PG_RETURN_BOOL(true);
    const double bytes_per_us = static_cast<double>(fa_archive_wal_rate_kb) * 1024.0 / 1e6;
    TimestampTz now = GetCurrentTimestamp();
    uint64 wal_bytes = pgWalUsage.wal_bytes;
    // A clock set back (now before the last call) counts as no time passed, not as a debt.
    if (pace.last_time == 0 || now - pace.last_time > kIdleResetUs || wal_bytes < pace.last_wal_bytes)
        pace.tokens = kBurstBytes;
    else
        pace.tokens = std::min(kBurstBytes, pace.tokens + bytes_per_us * elapsed_us(pace.last_time, now));
    pace.tokens -= static_cast<double>(wal_bytes - pace.last_wal_bytes);
    pace.last_wal_bytes = wal_bytes;
    pace.last_time = now;
    // Over budget: sleep until the bucket is half full again.  Fewer, longer sleeps than one per
    // row: each costs a wake-up and, on a busy machine, a wait for a CPU.
    // pg_usleep, not WaitLatch: microseconds, not milliseconds (at 64 MB/s a millisecond is 64 kB,
    // the whole burst).  A signal ends it early; interrupts are checked after each sleep.
    if (pace.tokens < 0) {
        while (pace.tokens < kBurstBytes / 2) {
            long us = std::min(kMaxSleepUs, static_cast<long>((kBurstBytes / 2 - pace.tokens) / bytes_per_us) + 1);
            pgstat_report_wait_start(PG_WAIT_EXTENSION);
            pg_usleep(us);
            pgstat_report_wait_end();
            CHECK_FOR_INTERRUPTS();
            TimestampTz after = GetCurrentTimestamp();
            pace.tokens += bytes_per_us * elapsed_us(pace.last_time, after);
            pace.last_time = after;
        }
        pace.tokens = std::min(kBurstBytes, pace.tokens);
    }
    PG_RETURN_BOOL(true);
}
