// The restore checks of the transparency log's tables (merkle_leaf, merkle_checkpoint,
// merkle_state, merkle_tile, merkle_verified): see merkle_restore.cpp.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "commands/trigger.h"
}

// Checks a superuser's INSERT into one of the Merkle tables that did not come from the
// extension's own writer (a restore) against what is restored already; raises (23000, naming
// the row) unless it is what the extension itself would have written.  Returns the row to
// store: the one given, but for merkle_state, whose pending mark is dropped (see there).
HeapTuple fa_check_restored_merkle(TriggerData *td);
