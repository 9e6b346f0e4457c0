// Saved SPI plans: the statements record_push, the session binding and the chain append run on
// every call are parsed and planned once per backend and kept (SPI_keepplan) in CacheMemoryContext.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
}

// One statement to prepare: its text and parameter types.
struct FaPlanSpec {
    const char *sql;
    int nargs;
    const Oid *types;
};

// Prepares every statement of specs and keeps them all, or none: a statement that fails to
// prepare raises, and the plans prepared before it are not yet kept, so they go with SPI's
// procedure memory on abort (a kept plan left behind by a half-done set would live as long as
// the backend, one more on every retry).  what names the set in the error context
// ("preparing <what>").  The caller has connected to SPI; out receives n kept plans.
void fa_keep_plans(const FaPlanSpec *specs, int n, SPIPlanPtr *out, const char *what);

// Runs a kept plan read-write (each statement takes a fresh snapshot, so it sees rows that
// concurrent transactions committed meanwhile) and raises on an SPI failure code.
int fa_exec_plan(SPIPlanPtr plan, Datum *values, const char *nulls, long tcount);
