// The RFC 6962 Merkle tree over the audit log (docs/transparency.md), pure: hashing, the root of
// n leaves, inclusion and consistency proofs, generated from stored complete-subtree hashes and
// verified from nothing but hashes.
//
// Storage model.  A complete subtree is named by (level, index): it covers the 2^level leaves
// [index << level, (index + 1) << level).  Level 0 nodes are leaf hashes.  Every hash a proof or
// a root needs is the hash of a complete subtree, or the RFC 6962 hash of a range at the right
// edge of the tree, which is a fold of at most 63 complete subtrees.  The core therefore works in
// two steps: it lists the complete subtrees it needs (a plan, O(log n) of them), the caller reads
// those hashes from wherever they are stored (one query), and the core combines them.  Nothing
// here allocates; every array has a fixed bound (tree sizes are below 2^63).
//
// The algorithms are RFC 6962 section 2.1.1 (PATH) and 2.1.2 (PROOF/SUBPROOF) for generation and
// RFC 9162 sections 2.1.3.2 and 2.1.4.2 for verification.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "hasher.hpp"

namespace forgea::core::merkle {

constexpr int kMaxLevels = 64;          // a proof has at most 63 hashes: sizes are int64
constexpr int kMaxPlanNodes = 2 * kMaxLevels;

// A complete subtree: leaves [index << level, (index + 1) << level).
struct NodeId {
    int level = 0;
    std::int64_t index = 0;
};

// A range of leaves [lo, hi) whose RFC 6962 hash (MTH) a proof carries.
struct Range {
    std::int64_t lo = 0;
    std::int64_t hi = 0;
};

// SHA-256(0x00 || data): the hash of one leaf.  For the audit log the data is the row's row_hash.
void leaf_hash(Hasher &h, const void *data, std::size_t len, std::uint8_t out[kHashLen]);

// SHA-256(0x01 || left || right): an interior node.
void node_hash(Hasher &h, const std::uint8_t left[kHashLen], const std::uint8_t right[kHashLen],
               std::uint8_t out[kHashLen]);

// SHA-256 of the empty string: the root of the empty tree.
void empty_root(Hasher &h, std::uint8_t out[kHashLen]);

// The complete subtrees that make up the leaves [lo, hi), left to right, largest first, as the
// RFC's recursion splits a range that starts at a multiple of the largest power of two below its
// size.  Returns their count (at most 63).
int range_nodes(std::int64_t lo, std::int64_t hi, NodeId out[kMaxLevels]);

// MTH of a range from the hashes of its range_nodes(), in that order: folded from the right.
void fold_range(Hasher &h, const std::uint8_t (*hashes)[kHashLen], int count, std::uint8_t out[kHashLen]);

// A proof to be read from storage: the ranges whose hashes form the proof, in proof order, and
// the complete subtrees those hashes come from (range i uses nodes [first[i], first[i] + count[i])).
struct ProofPlan {
    int ranges = 0;
    Range range[kMaxLevels];
    int first[kMaxLevels] = {};
    int count[kMaxLevels] = {};
    int nodes = 0;
    NodeId node[kMaxPlanNodes];
};

// The plan of the inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 PATH).
// False if index >= size.
bool inclusion_plan(std::int64_t index, std::int64_t size, ProofPlan *plan);

// The plan of the consistency proof between the trees of old_size and new_size leaves (RFC 6962
// PROOF).  False unless 0 <= old_size <= new_size.  Empty when old_size is 0 or equals new_size.
bool consistency_plan(std::int64_t old_size, std::int64_t new_size, ProofPlan *plan);

// The plan of the root of a tree of `size` leaves: one range [0, size).  (size 0: no nodes; the
// root is empty_root().)
void root_plan(std::int64_t size, ProofPlan *plan);

// The proof's hashes from the plan and the hashes of its nodes (node_hashes[i] for plan.node[i]).
// out must hold plan.ranges hashes.
void assemble(Hasher &h, const ProofPlan &plan, const std::uint8_t (*node_hashes)[kHashLen],
              std::uint8_t (*out)[kHashLen]);

// RFC 9162 2.1.3.2: true iff `proof` proves the leaf with hash leaf at `index` in the tree of
// `size` leaves whose root is root.
bool verify_inclusion(Hasher &h, std::int64_t index, std::int64_t size, const std::uint8_t leaf[kHashLen],
                      const std::uint8_t (*proof)[kHashLen], int proof_len, const std::uint8_t root[kHashLen]);

// The root an inclusion proof leads to (false if the proof has the wrong shape for index/size).
bool root_from_inclusion(Hasher &h, std::int64_t index, std::int64_t size, const std::uint8_t leaf[kHashLen],
                         const std::uint8_t (*proof)[kHashLen], int proof_len, std::uint8_t out[kHashLen]);

// RFC 9162 2.1.4.2: true iff `proof` proves the tree of old_size leaves with root old_root is a
// prefix of the tree of new_size leaves with root new_root.
bool verify_consistency(Hasher &h, std::int64_t old_size, std::int64_t new_size, const std::uint8_t old_root[kHashLen],
                        const std::uint8_t new_root[kHashLen], const std::uint8_t (*proof)[kHashLen], int proof_len);

// Tiles (C2SP tlog-tiles, height 8): the store keeps the tree in rows of 256 leaves' worth.  Tile
// (L, N) holds in `hashes` the hashes of the level-8L nodes [N * 256, N * 256 + width), 32 bytes
// each, concatenated: exactly the C2SP tile.  Besides, in `interior`, it holds the nodes between
// (levels 8L + 1 .. 8L + 7 above those hashes) in the order appends complete them (post-order),
// so that both columns only ever grow at their end and any complete subtree is one stored hash:
// a proof reads O(log n) hashes and computes none.  A tile is full at width 256 (254 interior
// nodes); the last one of a level may be partial.
constexpr int kTileHeight = 8;
constexpr int kTileWidth = 1 << kTileHeight;
constexpr int kTileInterior = kTileWidth - 2;  // 128 + 64 + ... + 2

// Where a complete subtree's hash is stored: tile (level, index), position `pos` (in hashes) of
// `hashes` if interior is false, else of `interior`.
struct TilePosition {
    int level = 0;            // tile level L
    std::int64_t index = 0;   // tile index N
    bool interior = false;
    int pos = 0;
};

// The position of a complete subtree's hash in the tile store.
TilePosition tile_position(NodeId node);

// How many interior nodes a tile of `width` hashes holds: those completed by its first width
// hashes (sum over k = 1..7 of width / 2^k).
int tile_interior_count(int width);

// Appending leaves: the frontier of a tree of `size` leaves is the list of complete subtrees of
// range_nodes(0, size) with their hashes.  Appending a leaf hash completes zero or more nodes,
// each handed to the sink (level 0 first: the leaf itself, then every node it completes).
class NodeSink {
public:
    virtual void node(int level, std::int64_t index, const std::uint8_t hash[kHashLen]) = 0;

protected:
    ~NodeSink() = default;
};

// A sink for appends whose nodes are not kept (recomputing a root from leaves).
class DiscardNodes final : public NodeSink {
public:
    void node(int, std::int64_t, const std::uint8_t *) override {}
};

struct Frontier {
    std::int64_t size = 0;
    int count = 0;
    NodeId id[kMaxLevels];
    std::uint8_t hash[kMaxLevels][kHashLen];

    // Appends one leaf (its leaf hash); every node completed by it goes to sink.
    void append(Hasher &h, const std::uint8_t leaf[kHashLen], NodeSink &sink);
    // Appends a complete subtree of 2^level leaves at once, given its root (the tree's size a
    // multiple of 2^level): the frontier that many appends would leave; the nodes above the
    // subtree that it completes go to sink (the subtree's own nodes, root included, do not).
    void append_subtree(Hasher &h, int level, const std::uint8_t root[kHashLen], NodeSink &sink);
    // The root of the current tree (of the empty tree at size 0).
    void root(Hasher &h, std::uint8_t out[kHashLen]) const;
};

// Every node of a complete subtree of kSubtreeLeaves leaves, from the leaves' data (32 bytes each:
// the audit rows' row_hash), hashed two at a time (core sha256_pair: the SHA extensions compress
// two independent messages in about the time of one).  hash[l][i] is node (l, first/2^l + i) of
// the subtree at leaf `first`: the same bytes as leaf_hash and node_hash give one at a time.
// verify_chain()'s Merkle walk takes aligned runs of leaves this way (~2 SHA-256 blocks of the
// three a leaf costs are then paired).
constexpr int kSubtreeLevels = 4;
constexpr int kSubtreeLeaves = 1 << kSubtreeLevels;
struct SubtreeHashes {
    std::uint8_t hash[kSubtreeLevels + 1][kSubtreeLeaves][kHashLen];
};
void hash_subtree(const std::uint8_t *const leaf_data[kSubtreeLeaves], SubtreeHashes &out);

}  // namespace forgea::core::merkle
