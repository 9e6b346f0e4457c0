// Bounded lock waits for the passes over the Merkle log (issue 20, item 5).
//
// An integration (checkpoint(), merkle_integrate(), verify_increment(), the worker's passes) takes
// merkle_state's row lock, verify_increment() also merkle_verified's, a checkpoint the checkpoint
// chain's head; each holds them to the end of its transaction.  Without a bound, a transaction
// left open after one of them made every later pass wait for as long as it stayed open (the worker
// too, and with it retention, checkpoints and verification, which run in the worker's one loop).
// fa_with_bounded_lock_wait() runs a pass with lock_timeout kPassLockWaitMs (or the caller's own, when it
// set one; never more than kPassLockWaitMs in a background worker), so a pass that
// cannot get its locks fails after that long with an error that names the pass, and the caller (the
// worker: next interval) tries again.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
}

// The longest a pass waits for a lock (lock_timeout, when that is unset or longer).
constexpr int kPassLockWaitMs = 5000;

// Called in PG_CATCH by fa_with_bounded_lock_wait: a lock timeout is re-raised as "<pass> could
// not run: ..." (SQLSTATE 55P03 kept, the original context kept); any other error as it was.
[[noreturn]] void fa_rethrow_pass_error(const char *pass, int wait_ms, MemoryContext context);

// How long a pass waits for its locks: 5 s when lock_timeout is unset (0, PostgreSQL's default:
// wait for ever); the caller's lock_timeout when it is set, lower or higher, in a session of its
// own (a DBA who SETs lock_timeout = '2min' before checkpoint() means it); at most 5 s in a
// background worker (ours, or pg_cron's), whose loop must not stall whatever postgresql.conf says.
inline int fa_pass_lock_wait_ms()
{
    if (LockTimeout <= 0)
        return kPassLockWaitMs;
    if (MyBackendType == B_BG_WORKER && LockTimeout > kPassLockWaitMs)
        return kPassLockWaitMs;
    return LockTimeout;
}

// Runs work (which takes the Merkle log's locks) with lock_timeout = fa_pass_lock_wait_ms(), in a
// GUC nest level of its own (the caller's value is back when it returns; an error's abort restores
// it as for a function's SET clause).
template <typename Work>
void fa_with_bounded_lock_wait(const char *pass, Work work)
{
    int wait_ms = fa_pass_lock_wait_ms();
    int level = NewGUCNestLevel();
    char value[32];
    snprintf(value, sizeof value, "%d", wait_ms);
    (void) set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    MemoryContext context = CurrentMemoryContext;
    PG_TRY();
    {
        work();
    }
    PG_CATCH();
    {
        fa_rethrow_pass_error(pass, wait_ms, context);
    }
    PG_END_TRY();
    AtEOXact_GUC(true, level);
}
