// Progress reports through pg_stat_activity (see progress.hpp), and forgea_audit.report_progress(),
// through which the install script's PL/pgSQL (run_retention) reports its batches.
#include "pg/core_headers.hpp"  // first: see there
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
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

void fa_progress_report_idle(const char *what)
{
    char *line = psprintf("%s%s", kPrefix, what);
    pgstat_report_activity(STATE_IDLE, line);
    pfree(line);
}

// The worker's outstanding failure: "the <pass> pass of <time> could not run: <message>", and the
// pass it belongs to ("" when none).  Process-local: only the worker sets it.
static char failed_pass[64];
static char failure_line[1024];

void fa_worker_pass_failed(const char *pass, const char *message)
{
    strlcpy(failed_pass, pass, sizeof failed_pass);
    snprintf(failure_line, sizeof failure_line, "worker: the %s pass of %s could not run: %s", pass,
             timestamptz_to_str(GetCurrentTimestamp()), message != nullptr ? message : "(no message)");
    fa_progress_report_idle(failure_line);
}

void fa_worker_pass_done(const char *pass)
{
    if (strcmp(failed_pass, pass) == 0)
        failed_pass[0] = failure_line[0] = '\0';
}

void fa_worker_activity(const char *activity)
{
    if (failure_line[0] == '\0') {
        pgstat_report_activity(STATE_RUNNING, activity);
        return;
    }
    char *line = psprintf("%s%s; now: %s", kPrefix, failure_line, activity);
    pgstat_report_activity(STATE_RUNNING, line);
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
    text *message;
    if (!fa_arg_opt<SqlText>(fcinfo, 0, &message))
        fa_progress_end();
    else
        fa_progress_report(text_to_cstring(message));
    PG_RETURN_VOID();
}
