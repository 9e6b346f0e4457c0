// What the worker's launcher, its loop and its archiving share: a transaction of the worker's own
// (begin_tx / end_tx, as PostgreSQL's worker_spi runs one), reading the one int8 a statement
// returned, and the due-time arithmetic of the latch waits.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
}

namespace forgea::worker {

// The worker's unit of work: a transaction of its own, SPI, a snapshot, and what it is doing in
// pg_stat_activity.
void begin_tx(const char *activity);

// Ends begin_tx's transaction and reports the worker idle.
void end_tx();

// The int8 of the single row an SPI call returned; anything else is an error naming what.
int64 first_int8(int rc, const char *what);

// Now plus seconds: when a periodic task is next due.
TimestampTz after_seconds(int seconds);

// Milliseconds until when, at least 0: the latch wait of the loop.
long ms_until(TimestampTz when);

}  // namespace forgea::worker
