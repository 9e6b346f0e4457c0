// Progress of long calls (verify_chain, run_retention), for the caller and for other sessions.
//
// While such a call runs, its backend's pg_stat_activity.query reads "forgea_audit progress: ..."
// (what it has done so far), so another session can watch it (the forgea_audit.progress view); at
// the end the statement's own text is put back.  With forgea_audit.progress_notices on, every
// report is also a NOTICE to the caller.  PostgreSQL 15's pg_stat_progress_* views only know its
// own commands (VACUUM, COPY, ...), and shared memory of our own would need preloading: the
// activity text works in every session, preloaded or not.
#pragma once

extern "C" {
#include "postgres.h"
}

extern int fa_progress_rows;       // verify_chain reports every this many rows
extern bool fa_progress_notices;   // also send each report to the caller as a NOTICE

// Shows what (one line) as this backend's progress, and as a NOTICE when asked.
void fa_progress_report(const char *what);
// Shows what as this backend's progress while it is idle (a worker between two passes): stays in
// the forgea_audit.progress view until the backend reports something else.
void fa_progress_report_idle(const char *what);
// A worker pass that could not run (an error, a lock not granted in time; the error itself is in
// the server log): "worker: the <pass> pass of <time> could not run: <message>" is the worker's
// progress (forgea_audit.progress) from then on, also while it runs other passes
// (fa_worker_activity), until that pass succeeds (fa_worker_pass_done).
void fa_worker_pass_failed(const char *pass, const char *message);
void fa_worker_pass_done(const char *pass);
// The worker's pg_stat_activity line for what it starts now, after the outstanding failure if any.
void fa_worker_activity(const char *activity);
// Puts the running statement's own text back in pg_stat_activity.
void fa_progress_end();
