// The background worker's share of the transparency log (docs/transparency.md): every
// forgea_audit.merkle_interval it integrates committed audit rows into the Merkle tree, so that
// checkpoint() finds little left to do.  Called from the worker loop in worker/worker_loop.cpp.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
}

// Defines forgea_audit.merkle_interval; called from _PG_init.
void fa_define_merkle_settings();

// Milliseconds until the integrator is due (a cap on the worker's wait), or a long time if off.
long fa_merkle_worker_wait_ms();
// Whether forgea_audit.merkle_interval gives the worker anything to do (the launcher asks).
bool fa_merkle_worker_enabled();

// If due: integrates in batches, one transaction each, until a batch comes back short.  Errors are
// reported and rolled back here; the next interval tries again.
void fa_merkle_worker_tick(MemoryContext loop_context);
