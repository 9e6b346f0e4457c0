// See lock_wait.hpp.
#include "pg/lock_wait.hpp"

extern "C" {
#include "utils/elog.h"
}

// A lock timeout becomes an error that says which pass could not run and why; the SQLSTATE
// (55P03) and the context PostgreSQL gave (the statement, "while locking tuple ... in relation
// merkle_state") stay.  Every other error goes on unchanged.
void fa_rethrow_pass_error(const char *pass, int wait_ms, MemoryContext context)
{
    MemoryContextSwitchTo(context);
    ErrorData *edata = CopyErrorData();
    if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE) {
        FreeErrorData(edata);
        PG_RE_THROW();
    }
    FlushErrorState();
    edata->message = psprintf("%s could not run: a lock on the Merkle log was held by another transaction for more "
                              "than %d ms", pass, wait_ms);
    edata->detail = pstrdup("An integration, a checkpoint or a verification (checkpoint(), merkle_integrate(), "
                            "verify_increment(), the background worker) holds merkle_state, merkle_verified or the "
                            "checkpoint chain's head until its transaction ends: another one is running, or a "
                            "transaction was left open after one.");
    edata->hint = pstrdup("Try again once that transaction has ended: forgea_audit.progress shows a verification or "
                          "retention that is running and how far it got, pg_stat_activity a transaction left open "
                          "(state 'idle in transaction'). To wait longer, SET lock_timeout (e.g. '5min') in this "
                          "session first; the background worker waits 5 s at most and tries again at its next "
                          "interval.");
    ReThrowError(edata);
}
