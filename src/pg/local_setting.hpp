// A setting changed for one piece of work only, never for the whole call: the work runs in a GUC
// nest level of its own, as PostgreSQL runs a function's SET clause, and the previous value is back
// when it returns (on an error, the (sub)transaction's abort restores it).  Used around statements
// that run no code but the extension's own, so that nothing the platform wrote (its triggers on
// "LabSession") ever sees the value.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

template <typename Work>
void fa_with_local_setting(const char *name, const char *value, Work work)
{
    int level = NewGUCNestLevel();
    (void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    work();
    AtEOXact_GUC(true, level);
}
