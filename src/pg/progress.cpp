// Progress reports through pg_stat_activity (see progress.hpp), and forgea_audit.report_progress(),
// through which the install script's PL/pgSQL (run_retention) reports its batches.
#include "pg/core_headers.hpp"  // first: see there
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
}

#include "pg/boundary.hpp"
#include "pg/progress.hpp"

int fa_progress_rows = 100000;
bool fa_progress_notices = false;

// The prefix the forgea_audit.progress view selects on.
static const char kPrefix[] = "forgea_audit progress: ";

void fa_progress_report(const char *what)
{
    char *line = psprintf("%s%s", kPrefix, what);
    pgstat_report_activity(STATE_RUNNING, line);
    if (fa_progress_notices)
        ereport(NOTICE, (errmsg("%s", line)));
    pfree(line);
}

void fa_progress_end()
{
    // In a background worker there is no statement text: the worker reports its own activity.
    if (debug_query_string != nullptr)
        pgstat_report_activity(STATE_RUNNING, debug_query_string);
}

// report_progress(message text): a progress line for this backend; NULL puts the statement's text
// back.  Owner-only (REVOKEd from PUBLIC): only the extension's own functions report.
FA_FUNCTION(fa_report_progress, "forgea_audit.report_progress")
{
    if (PG_ARGISNULL(0))
        fa_progress_end();
    else
        fa_progress_report(text_to_cstring(PG_GETARG_TEXT_PP(0)));
    PG_RETURN_VOID();
}
