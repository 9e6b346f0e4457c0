// The library's own writer, as the write guard sees it.
//
// audit_log, chain_head and the Merkle tables refuse every write unless it comes from this library
// (chain/chain_write_guard.cpp, merkle/merkle_restore.cpp).  A writer runs its statements through
// fa_as_chain_writer, which raises fa_chain_write_depth around them; the guard's triggers let a
// write through only while it is above 0.  It lives here, below both the chain and the Merkle
// log, because both write guarded tables.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
}

// How deeply this backend is inside the library's own writer (0: not at all).
inline int fa_chain_write_depth = 0;

// Runs work as the library's own writer: the depth raised for its statements and lowered again
// however it ends (an ERROR passes on after that).  Every guarded write goes through here.
template <typename Work>
void fa_as_chain_writer(Work work)
{
    fa_chain_write_depth++;
    PG_TRY();
    {
        work();
    }
    PG_FINALLY();
    {
        fa_chain_write_depth--;
    }
    PG_END_TRY();
}
