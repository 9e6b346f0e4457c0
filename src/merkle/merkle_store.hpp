// The Merkle tree's storage in PostgreSQL (docs/transparency.md): merkle_leaf, merkle_tile,
// merkle_state.  The tree arithmetic is core/merkle_tree.hpp; this is where its nodes are read
// and written.  Every function here needs SPI to be connected.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
}

// Rows the integrator takes per batch when the caller sets no limit (each batch is one pass of
// its statements; checkpoint() runs batches until one comes back short).
constexpr int64 kMerkleBatchRows = 20000;

// Integrates at most max_rows committed audit rows not yet in the tree (docs/transparency.md,
// "Which rows, in which order") and returns how many; *tree_size gets the size after it.
// Raises unless the transaction is READ COMMITTED.
int64 fa_merkle_integrate_batch(int64 max_rows, int64 *tree_size);

// Integrates until nothing committed is left; returns the rows taken and the final size.
int64 fa_merkle_integrate_all(int64 *tree_size);

// The current tree size (merkle_state), 0 before the first integration.
int64 fa_merkle_tree_size();

// Reads the hashes of the given complete subtrees, in that order, each folded from its slice of
// one tile (core tile_slice); raises if one is missing (the
// caller checked the sizes, so a missing node is a damaged store).
void fa_merkle_read_nodes(const forgea::core::merkle::NodeId *ids, int n, uint8 (*out)[forgea::core::kHashLen]);

// The root of the first `size` leaves, from stored nodes (size <= the tree size).
void fa_merkle_root_of(int64 size, uint8 out[forgea::core::kHashLen]);

// verify_chain(checkpoint) for a transparency-log note: recomputes the root over the first `size`
// leaves from the audit rows' row_hash (not from merkle_tile) and compares it with `root`.
// nullptr if it holds, else a palloc'd sentence; *bad_seq gets the first leaf's seq that differs
// from the stored tree (0 if none can be named).
char *fa_merkle_check_checkpoint(int64 size, const uint8 root[forgea::core::kHashLen], int64 *bad_seq);

// What the Merkle log checks found (merkle_check.cpp): the problem with the lowest seq (seq 0: one
// that names no row, kept only if nothing names one), and how many in all.
struct FaMerkleFinding {
    char *text = nullptr;
    int64 seq = 0;
    int64 count = 0;
};

// Adds a problem to f (text palloc'd by the caller, in memory that outlives SPI_finish()).
// The checks below put their texts in keep.
void fa_merkle_finding(FaMerkleFinding *f, int64 seq, char *text);

// Reports every committed audit row below merkle_state's horizon that is not a leaf (the
// integrator never looks below the horizon again, so such a row would stay out of the tree
// for good), naming the lowest.  read_only: in the caller's snapshot (verify_chain()), else in a
// fresh one (verify_increment(), after it integrated).
void fa_merkle_check_unintegrated(bool read_only, MemoryContext keep, FaMerkleFinding *f);

// A root the tree must have at a size, besides every checkpoint's: what names it goes in the
// report ("merkle_verified").
struct FaMerkleRoot {
    int64 size;
    uint8 root[forgea::core::kHashLen];
    const char *what;
};

// The Merkle tables against audit_log, over the whole log, one walk over the leaves in leaf order
// (a check per leaf): leaves dense from 0 and no more than merkle_state's tree size, each naming a
// row that is there; the leaf hash of each row (from its row_hash) and every node its append
// completes equal to those stored in merkle_tile; every checkpoint's size within the tree and its
// root that of its first tree_size leaves (and so for extra[0..nextra)).  Problems go to f (the
// first of each walk: a walk stops at a missing leaf or row).  read_only as above.
void fa_merkle_check_tree(bool read_only, MemoryContext keep, const FaMerkleRoot *extra, int nextra,
                          FaMerkleFinding *f);
