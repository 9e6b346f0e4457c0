// The Merkle tree's storage in PostgreSQL (docs/transparency.md): merkle_leaf, merkle_tile,
// merkle_state.  The tree arithmetic is core/merkle_tree.hpp; this is where its nodes are read
// and written.  Every function here needs SPI to be connected.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
}

#include "core/chain_record.hpp"
#include "core/merkle_tree.hpp"

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
// With log non-null and usable, the leaves' row_hash come from it instead of a join with
// audit_log (the same answers: see FaLogHashes).
struct FaLogHashes;
char *fa_merkle_check_checkpoint(int64 size, const uint8 root[forgea::core::kHashLen], int64 *bad_seq,
                                 const FaLogHashes *log = nullptr);

// What verify_chain()'s one pass over audit_log keeps for the Merkle checks, so that they need no
// join of merkle_leaf with audit_log (which read the whole log a second and third time): every
// row's row_hash by seq, and every leaf's seq by leaf index, read from merkle_leaf's heap.  The
// walks read the leaves from it in leaf order and get exactly what the join would have handed
// them, as long as the layout is the regular one: seqs unique, every row_hash 32 bytes, every leaf
// index unique and within merkle_state's tree.  Anything else (only a damaged log has it) clears
// `usable`, and the checks run their SQL as before.  Memory: 33 bytes per seq between the lowest
// and the highest, 8 per leaf; above kFaLogHashesMaxBytes the checks run their SQL instead.
constexpr int64 kFaLogHashesMaxBytes = INT64CONST(1) << 30;
constexpr uint8 kFaRowPresent = 1;
constexpr uint8 kFaRowIsLeaf = 2;
constexpr int64 kFaNoLeaf = PG_INT64_MIN;
struct FaLogHashes {
    bool usable = false;
    int64 min_seq = 0;
    int64 slots = 0;                                 // seqs min_seq .. min_seq + slots - 1
    uint8 (*row_hash)[forgea::core::kHashLen] = nullptr;
    uint8 *flags = nullptr;                          // kFaRowPresent | kFaRowIsLeaf, per seq
    int64 tree_size = 0;                             // merkle_state's
    int64 *leaf_seq = nullptr;                       // by leaf index, kFaNoLeaf where none
};

// Sizes the arrays from audit_log's lowest and highest seq and merkle_state's tree size, in keep;
// leaves log unusable (the checks then run their SQL) if they would exceed the limit.  In the
// caller's snapshot (SPI connected, read only).
void fa_log_hashes_init(FaLogHashes *log, MemoryContext keep);

// One audit row as the scan read it: row_hash nullptr if it is not 32 bytes.
inline void fa_log_hashes_add(FaLogHashes *log, int64 seq, const uint8 *row_hash)
{
    if (!log->usable)
        return;
    int64 slot = seq - log->min_seq;
    if (row_hash == nullptr || slot < 0 || slot >= log->slots || (log->flags[slot] & kFaRowPresent) != 0) {
        log->usable = false;
        return;
    }
    log->flags[slot] |= kFaRowPresent;
    memcpy(log->row_hash[slot], row_hash, forgea::core::kHashLen);
}

// Reads merkle_leaf's heap (in the active snapshot) into the leaf map.
void fa_log_hashes_read_leaves(FaLogHashes *log);

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
void fa_merkle_check_unintegrated(bool read_only, MemoryContext keep, FaMerkleFinding *f,
                                  const FaLogHashes *log = nullptr);

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
// With log (usable), the leaves and their rows' row_hash come from it (see FaLogHashes).
void fa_merkle_check_tree(bool read_only, MemoryContext keep, const FaMerkleRoot *extra, int nextra,
                          FaMerkleFinding *f, const FaLogHashes *log = nullptr);

// fa_merkle_check_tree in steps, so that verify_chain()'s parallel pass walks the leaves while the
// scan still fills log: begin (merkle_state, the checkpoints, the targets: as above), advance
// (the leaves in leaf order as long as the next one's row has been read; every leaf left if
// final), end (the rest, and the check that the leaves reach merkle_state's size).  The same
// leaves in the same order with the same data: the findings are those of fa_merkle_check_tree,
// which is begin + end.  A log that becomes unusable while the walk runs (a seq read twice, a
// row_hash not 32 bytes) invalidates it: the caller then discards f and walks again by SQL.
// Tiles are read by SPI (read only) as the walk reaches them.
struct FaTreeWalk;
FaTreeWalk *fa_merkle_walk_begin(bool read_only, MemoryContext keep, const FaMerkleRoot *extra, int nextra,
                                 FaMerkleFinding *f, const FaLogHashes *log);
void fa_merkle_walk_advance(FaTreeWalk *w, bool final);
void fa_merkle_walk_end(FaTreeWalk *w);
int64 fa_merkle_walk_leaves(const FaTreeWalk *w);  // leaves walked so far

// The nodes one append completed (the core's Frontier::append reports them here), kept so that
// they are compared with the stored ones after the core returned: the comparison runs SPI, which
// may raise, and must not from inside core code.
class FaNodeList final : public forgea::core::merkle::NodeSink {
public:
    void node(int level, std::int64_t index, const std::uint8_t hash[forgea::core::kHashLen]) override
    {
        if (n < forgea::core::merkle::kMaxLevels + 1) {
            id[n].level = level;
            id[n].index = index;
            memcpy(hash_[n], hash, forgea::core::kHashLen);
            n++;
        }
    }
    int n = 0;
    forgea::core::merkle::NodeId id[forgea::core::merkle::kMaxLevels + 1];
    uint8 hash_[forgea::core::merkle::kMaxLevels + 1][forgea::core::kHashLen];
};

// The one comparison of recomputed nodes with merkle_tile, for both walks: verify_chain()'s over
// every leaf (fa_merkle_check_tree) and verify_increment()'s over the new ones.  The cache holds
// one tile per tile level: a walk goes in leaf order, so it reads each tile once (a cached tile
// shorter than a node's place is read again: the integrator may have extended it since).
struct FaTileCache;
FaTileCache *fa_tile_cache_create();  // palloc'd in the current memory context

// The nodes the append of leaf `index` (audit row seq) completed, against merkle_tile: nullptr if
// each is stored and equal, else the first difference in the DBA's words, palloc'd in keep.
// read_only: tiles read in the caller's snapshot, else each in a fresh one.
char *fa_tile_compare(FaTileCache *c, const FaNodeList &nodes, int64 index, int64 seq, bool read_only,
                      MemoryContext keep);

// Where the leaf walks read the leaves from: in leaf_index order, each with the seq it names and
// that row's row_hash (nullptr: no such row), as "merkle_leaf LEFT JOIN audit_log ORDER BY
// leaf_index" returns them.
class FaLeafSource {
public:
    virtual bool next(int64 *index, int64 *seq, const uint8 **row_hash, int *row_hash_len) = 0;

protected:
    ~FaLeafSource() = default;
};

// The leaves below limit, from a usable FaLogHashes.
class FaMemLeaves final : public FaLeafSource {
public:
    FaMemLeaves(const FaLogHashes *log, int64 limit) : log_(log), end_(Min(limit, log->tree_size)) {}
    // Whether next() would hand over a leaf whose row the scan has read, or the end (a walk that
    // runs beside the scan waits otherwise).
    bool ready()
    {
        while (pos_ < end_ && log_->leaf_seq[pos_] == kFaNoLeaf)
            pos_++;
        if (pos_ >= end_)
            return true;
        return row_hash_of(log_->leaf_seq[pos_]) != nullptr;
    }
    bool next(int64 *index, int64 *seq, const uint8 **row_hash, int *row_hash_len) override
    {
        // A missing index is skipped: the next one present is what the join hands over after a gap.
        while (pos_ < end_ && log_->leaf_seq[pos_] == kFaNoLeaf)
            pos_++;
        if (pos_ >= end_)
            return false;
        *index = pos_;
        *seq = log_->leaf_seq[pos_++];
        *row_hash = row_hash_of(*seq);
        *row_hash_len = *row_hash != nullptr ? static_cast<int>(forgea::core::kHashLen) : 0;
        return true;
    }
    // The next n leaves, taken only if next() would hand them over as leaves first .. first + n - 1
    // each with its row read (no index missing, none beyond the end): their seqs and row_hash.
    // Otherwise nothing is taken, and the walk goes on leaf by leaf (and reports what is wrong).
    bool take_run(int64 first, int n, int64 *seqs, const uint8 **row_hashes)
    {
        if (pos_ != first || first + n > end_)
            return false;
        for (int j = 0; j < n; j++) {
            int64 seq = log_->leaf_seq[first + j];
            if (seq == kFaNoLeaf || (row_hashes[j] = row_hash_of(seq)) == nullptr)
                return false;
            seqs[j] = seq;
        }
        pos_ += n;
        return true;
    }

private:
    // The row_hash the scan read for audit row seq, or nullptr if it read no such row.
    const uint8 *row_hash_of(int64 seq) const
    {
        int64 slot = seq - log_->min_seq;
        bool there = slot >= 0 && slot < log_->slots && (log_->flags[slot] & kFaRowPresent) != 0;
        return there ? log_->row_hash[slot] : nullptr;
    }

    const FaLogHashes *log_;
    int64 end_;
    int64 pos_ = 0;
};
FA_LIVES_ACROSS_PG_CALLS(FaMemLeaves);

// The leaves from a query returning (leaf_index, seq, row_hash) in leaf order, through a cursor;
// close() when done.
class FaSpiLeaves final : public FaLeafSource {
public:
    FaSpiLeaves(SPIPlanPtr plan, Datum *args, bool read_only, const char *what);
    bool next(int64 *index, int64 *seq, const uint8 **row_hash, int *row_hash_len) override;
    void close();

private:
    Portal portal_ = nullptr;
    SPITupleTable *batch_ = nullptr;
    uint64 rows_ = 0;
    uint64 pos_ = 0;
    const char *what_;
};
FA_LIVES_ACROSS_PG_CALLS(FaSpiLeaves);
