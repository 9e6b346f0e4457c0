// forgea_audit.retention_settings(): the retention settings in force, typed, for SQL callers
// (archive_batch(), run_retention() and the worker's own statements read them through it).
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "pg/boundary.hpp"
#include "pg/settings.hpp"

namespace {

// A palloc'd interval of seconds, for retention_settings().
Interval *seconds_interval(int seconds)
{
    Interval *iv = static_cast<Interval *>(palloc0(sizeof(Interval)));
    iv->day = seconds / SECS_PER_DAY;
    iv->time = static_cast<int64>(seconds % SECS_PER_DAY) * USECS_PER_SEC;
    return iv;
}

}  // namespace

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
