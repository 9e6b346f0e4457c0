// Reading the chain heads (forgea_audit.chain_head): what checkpoint() signs and verify_chain()
// checks every chain against.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

#include "core/chain_verifier.hpp"

extern "C" {
#include "postgres.h"
}

// Every chain head with length > 0, ordered by chain id bytewise, allocated in keep (after an SPI
// call the current context is SPI's own).  Read with SPI in the caller's snapshot.
forgea::core::HeadRecord *fa_load_chain_heads(MemoryContext keep, int64 *count);
