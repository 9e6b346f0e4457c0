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
// Puts the running statement's own text back in pg_stat_activity.
void fa_progress_end();
