// The extension's own tables read by key through their unique indexes, without the planner, the
// way pg_cron reads its job table (systable_beginscan with the index): what a row lookup costs
// does not depend on statistics, cached plans or planner settings (an analysed-empty table, a plan
// cached while it was empty, enable_seqscan, jit).
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
}

// One unique key of one of forgea_audit's tables: the table, its unique index on the column, the
// column and the type's equality function (F_UUID_EQ, F_TEXTEQ, ...).
struct FaKey {
    const char *table;
    const char *index;
    const char *column;
    RegProcedure equal;
};

// Reads the row of spec's table whose key equals key, as a fresh snapshot sees it (like SPI's
// read-write statements: the command counter is advanced first, and in READ COMMITTED the snapshot
// is new, so a row a concurrent transaction committed meanwhile is seen).  When there is one, calls
// read(tuple, descriptor) while the tuple is valid (copy what you keep) and returns true.
typedef void (*FaRowReader)(HeapTuple tuple, TupleDesc desc, void *arg);
bool fa_read_by_key(const FaKey &spec, Datum key, FaRowReader read, void *arg);

// The column's number in the table (raises if it has none: a library and SQL objects that differ).
AttrNumber fa_column(const FaKey &spec, const char *column);
