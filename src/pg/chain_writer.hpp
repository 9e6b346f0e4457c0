// The library's own writer, as the write guard sees it.
//
// audit_log, chain_head and the Merkle tables refuse every write unless it comes from this library
// (chain/chain_write_guard.cpp, merkle/merkle_restore.cpp).  A writer raises fa_chain_write_depth
// around its statements; the guard's triggers let a write through only while it is above 0.  It
// lives here, below both the chain and the Merkle log, because both write guarded tables.
#pragma once

// How deeply this backend is inside the library's own writer (0: not at all).
inline int fa_chain_write_depth = 0;
