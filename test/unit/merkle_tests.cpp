// Unit tests of the RFC 6962 Merkle tree core (src/core/merkle_tree.*).
//
// Two independent checks:
//  1. the published test vectors of the 8-leaf tree (roots of every prefix, inclusion and
//     consistency proofs), as in transparency-dev/merkle, file proof/verify_test.go (variables
//     `roots`, `leaves`, `inclusionProofs`, `consistencyProofs`; the same vectors as
//     google/certificate-transparency's merkle_tree_test.cc);
//  2. an exhaustive comparison, for every tree size 1..70, of the core's plans (what the extension
//     runs against its stored nodes) with a direct transcription of RFC 6962's recursive MTH, PATH
//     and PROOF over the leaf list, plus verification of every proof and refusal of altered ones.
#include <gtest/gtest.h>


#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <algorithm>
#include <utility>
#include <vector>

#include "core/merkle_tree.hpp"
#include "openssl_sha256.hpp"

namespace core = forgea::core;
namespace mk = forgea::core::merkle;

namespace {

using Hash = std::vector<std::uint8_t>;

using Sha256 = forgea::test::Sha256;

Hash unhex(const std::string &s)
{
    Hash out;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return out;
}

std::string hex(const Hash &h)
{
    static const char d[] = "0123456789abcdef";
    std::string s;
    for (std::uint8_t b : h) {
        s += d[b >> 4];
        s += d[b & 15];
    }
    return s;
}

// ---- RFC 6962 2.1, transcribed recursively over the list of leaf data ------------------------

Hash ref_leaf(const Hash &data)
{
    Sha256 h;
    Hash out(32);
    mk::leaf_hash(h, data.data(), data.size(), out.data());
    return out;
}

Hash ref_node(const Hash &l, const Hash &r)
{
    Sha256 h;
    Hash out(32);
    h.put_byte(0x01);
    h.put(l.data(), 32);
    h.put(r.data(), 32);
    h.finish(out.data());
    return out;
}

std::int64_t ref_k(std::int64_t n)
{
    std::int64_t k = 1;
    while (2 * k < n)
        k *= 2;
    return k;
}

// Memoised per leaf list (the exhaustive tests ask for the same subtrees many times); each test
// that builds a leaf list calls ref_reset() first, so no stale entry outlives its list.
std::map<std::tuple<const void *, std::int64_t, std::int64_t>, Hash> memo;

void ref_reset() { memo.clear(); }

Hash ref_mth(const std::vector<Hash> &d, std::int64_t lo, std::int64_t hi)
{
    auto key = std::make_tuple(static_cast<const void *>(&d), lo, hi);
    auto it = memo.find(key);
    if (it != memo.end())
        return it->second;
    Hash out;
    if (hi - lo == 1) {
        out = ref_leaf(d[lo]);
    } else {
        std::int64_t k = ref_k(hi - lo);
        out = ref_node(ref_mth(d, lo, lo + k), ref_mth(d, lo + k, hi));
    }
    memo[key] = out;
    return out;
}

void ref_path(const std::vector<Hash> &d, std::int64_t m, std::int64_t lo, std::int64_t hi, std::vector<Hash> &out)
{
    if (hi - lo <= 1)
        return;
    std::int64_t k = ref_k(hi - lo);
    if (m < k) {
        ref_path(d, m, lo, lo + k, out);
        out.push_back(ref_mth(d, lo + k, hi));
    } else {
        ref_path(d, m - k, lo + k, hi, out);
        out.push_back(ref_mth(d, lo, lo + k));
    }
}

void ref_subproof(const std::vector<Hash> &d, std::int64_t m, std::int64_t lo, std::int64_t hi, bool b,
                  std::vector<Hash> &out)
{
    if (m == hi - lo) {
        if (!b)
            out.push_back(ref_mth(d, lo, hi));
        return;
    }
    std::int64_t k = ref_k(hi - lo);
    if (m <= k) {
        ref_subproof(d, m, lo, lo + k, b, out);
        out.push_back(ref_mth(d, lo + k, hi));
    } else {
        ref_subproof(d, m - k, lo + k, hi, false, out);
        out.push_back(ref_mth(d, lo, lo + k));
    }
}

// ---- The core, against an in-memory node store built by Frontier::append ---------------------

// Every node Frontier::append completes, by (level, index), and besides laid out as the extension's
// tile store lays it out (merkle_tile): per tile level, the level-8L hashes in order, and per tile
// the interior nodes in the order they were completed.
class Store final : public mk::NodeSink {
public:
    void node(int level, std::int64_t index, const std::uint8_t hash[core::kHashLen]) override
    {
        nodes[{level, index}] = Hash(hash, hash + 32);
        int k = level % mk::kTileHeight;
        int tl = level / mk::kTileHeight;
        if (k == 0)
            tile_hashes[tl].push_back(Hash(hash, hash + 32));
        else
            tile_interior[{tl, (index << k) >> mk::kTileHeight}].push_back(Hash(hash, hash + 32));
    }
    std::map<std::pair<int, std::int64_t>, Hash> nodes;
    std::map<int, std::vector<Hash>> tile_hashes;
    std::map<std::pair<int, std::int64_t>, std::vector<Hash>> tile_interior;
};

// What the extension's tile store answers for a complete subtree: the one hash tile_position()
// names.  Empty if the store has nothing there.
Hash from_tiles(const Store &store, mk::NodeId id)
{
    mk::TilePosition p = mk::tile_position(id);
    if (!p.interior) {
        auto it = store.tile_hashes.find(p.level);
        std::int64_t at = p.index * mk::kTileWidth + p.pos;
        if (it == store.tile_hashes.end() || at >= static_cast<std::int64_t>(it->second.size()))
            return {};
        return it->second[static_cast<std::size_t>(at)];
    }
    auto it = store.tile_interior.find({p.level, p.index});
    if (it == store.tile_interior.end() || p.pos >= static_cast<int>(it->second.size()))
        return {};
    return it->second[static_cast<std::size_t>(p.pos)];
}

struct Tree {
    explicit Tree(const std::vector<Hash> &leaves)
    {
        Sha256 h;
        for (const Hash &d : leaves) {
            std::uint8_t lh[32];
            mk::leaf_hash(h, d.data(), d.size(), lh);
            frontier.append(h, lh, store);
        }
    }

    // What the extension does: plan, read the plan's nodes, assemble.
    std::vector<Hash> run(const mk::ProofPlan &plan)
    {
        std::vector<std::uint8_t> nodes(32 * static_cast<std::size_t>(plan.nodes) + 32);
        for (int i = 0; i < plan.nodes; i++) {
            Hash got = from_tiles(store, plan.node[i]);
            EXPECT_EQ(got.size(), 32u) << "node (" << plan.node[i].level << ", " << plan.node[i].index
                                       << ") is not in the tiles";
            if (got.size() == 32)
                std::memcpy(&nodes[32 * i], got.data(), 32);
        }
        std::vector<std::uint8_t> out(32 * static_cast<std::size_t>(plan.ranges) + 32);
        Sha256 h;
        mk::assemble(h, plan, reinterpret_cast<const std::uint8_t(*)[32]>(nodes.data()),
                     reinterpret_cast<std::uint8_t(*)[32]>(out.data()));
        std::vector<Hash> proof;
        for (int i = 0; i < plan.ranges; i++)
            proof.emplace_back(out.begin() + 32 * i, out.begin() + 32 * (i + 1));
        return proof;
    }

    Hash root(std::int64_t size)
    {
        mk::ProofPlan plan;
        mk::root_plan(size, &plan);
        if (size == 0) {
            Sha256 h;
            Hash r(32);
            mk::empty_root(h, r.data());
            return r;
        }
        return run(plan)[0];
    }

    std::vector<Hash> inclusion(std::int64_t index, std::int64_t size)
    {
        mk::ProofPlan plan;
        EXPECT_TRUE(mk::inclusion_plan(index, size, &plan));
        return run(plan);
    }

    std::vector<Hash> consistency(std::int64_t m, std::int64_t n)
    {
        mk::ProofPlan plan;
        EXPECT_TRUE(mk::consistency_plan(m, n, &plan));
        return run(plan);
    }

    Store store;
    mk::Frontier frontier;
};

std::vector<std::uint8_t> flat(const std::vector<Hash> &p)
{
    std::vector<std::uint8_t> out(32 * p.size() + 32);
    for (std::size_t i = 0; i < p.size(); i++)
        std::memcpy(&out[32 * i], p[i].data(), 32);
    return out;
}

bool inclusion_ok(std::int64_t index, std::int64_t size, const Hash &leaf, const std::vector<Hash> &proof,
                  const Hash &root)
{
    Sha256 h;
    std::vector<std::uint8_t> f = flat(proof);
    return mk::verify_inclusion(h, index, size, leaf.data(), reinterpret_cast<const std::uint8_t(*)[32]>(f.data()),
                                static_cast<int>(proof.size()), root.data());
}

bool consistency_ok(std::int64_t m, std::int64_t n, const Hash &r1, const Hash &r2, const std::vector<Hash> &proof)
{
    Sha256 h;
    std::vector<std::uint8_t> f = flat(proof);
    return mk::verify_consistency(h, m, n, r1.data(), r2.data(), reinterpret_cast<const std::uint8_t(*)[32]>(f.data()),
                                  static_cast<int>(proof.size()));
}

// ---- The published vectors (transparency-dev/merkle proof/verify_test.go) --------------------

const std::vector<Hash> kLeaves = {
    unhex(""), unhex("00"), unhex("10"), unhex("2021"), unhex("3031"), unhex("40414243"),
    unhex("5051525354555657"), unhex("606162636465666768696a6b6c6d6e6f"),
};

const std::vector<std::string> kRoots = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct Vector {
    std::int64_t a, b;  // inclusion: leaf index (0-based), tree size; consistency: sizes
    std::vector<std::string> proof;
};

// inclusionProofs there are 1-based leaf numbers; here 0-based indexes.
const std::vector<Vector> kInclusion = {
    {0, 1, {}},
    {0, 8, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8, {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

const std::vector<Vector> kConsistency = {
    {1, 1, {}},
    {1, 8, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5, {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

std::vector<std::string> hexes(const std::vector<Hash> &p)
{
    std::vector<std::string> out;
    for (const Hash &h : p)
        out.push_back(hex(h));
    return out;
}

std::vector<Hash> unhexes(const std::vector<std::string> &p)
{
    std::vector<Hash> out;
    for (const std::string &s : p)
        out.push_back(unhex(s));
    return out;
}

}  // namespace

TEST(MerkleVectors, EmptyTreeRootIsSha256OfNothing)
{
    Tree t({});
    EXPECT_EQ(hex(t.root(0)), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(MerkleVectors, RootOfEveryPrefixOfTheEightLeafTree)
{
    Tree t(kLeaves);
    for (std::int64_t n = 1; n <= 8; n++)
        EXPECT_EQ(hex(t.root(n)), kRoots[n - 1]) << "size " << n;
    Sha256 h;
    Hash r(32);
    t.frontier.root(h, r.data());
    EXPECT_EQ(hex(r), kRoots[7]);
}

TEST(MerkleVectors, InclusionProofsAreGeneratedAsPublishedAndVerify)
{
    Tree t(kLeaves);
    for (const Vector &v : kInclusion) {
        EXPECT_EQ(hexes(t.inclusion(v.a, v.b)), v.proof) << "leaf " << v.a << " of " << v.b;
        EXPECT_TRUE(inclusion_ok(v.a, v.b, ref_leaf(kLeaves[v.a]), unhexes(v.proof), unhex(kRoots[v.b - 1])));
    }
}

TEST(MerkleVectors, ConsistencyProofsAreGeneratedAsPublishedAndVerify)
{
    Tree t(kLeaves);
    for (const Vector &v : kConsistency) {
        EXPECT_EQ(hexes(t.consistency(v.a, v.b)), v.proof) << v.a << " -> " << v.b;
        EXPECT_TRUE(consistency_ok(v.a, v.b, unhex(kRoots[v.a - 1]), unhex(kRoots[v.b - 1]), unhexes(v.proof)));
    }
}

TEST(MerkleVectors, EdgeCasesOfVerification)
{
    Hash some = unhex("abacaba000000000000000000000000000000000000000000060061e00123456");
    Hash empty = unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // No leaf is in the empty tree; an index past the end is in no tree.
    EXPECT_FALSE(inclusion_ok(0, 0, some, {}, empty));
    EXPECT_FALSE(inclusion_ok(1, 1, some, {}, some));
    EXPECT_TRUE(inclusion_ok(0, 1, some, {}, some));  // a one-leaf tree's root is its leaf hash
    // The empty tree is a prefix of everything; equal sizes need equal roots and no proof.
    EXPECT_TRUE(consistency_ok(0, 5, empty, some, {}));
    EXPECT_FALSE(consistency_ok(0, 5, empty, some, {some}));
    EXPECT_TRUE(consistency_ok(3, 3, some, some, {}));
    EXPECT_FALSE(consistency_ok(3, 3, some, empty, {}));
    EXPECT_FALSE(consistency_ok(3, 3, some, some, {some}));
    EXPECT_FALSE(consistency_ok(4, 3, some, some, {}));  // the past is not consistent with the future
    EXPECT_FALSE(consistency_ok(1, 2, some, some, {}));  // a real step with no proof
    mk::ProofPlan plan;
    EXPECT_FALSE(mk::inclusion_plan(8, 8, &plan));
    EXPECT_FALSE(mk::consistency_plan(9, 8, &plan));
}

// Every proof of every tree up to 70 leaves: generated from stored nodes exactly as RFC 6962's
// recursion over the leaves gives it, accepted by the verifier, and refused once altered.
TEST(MerkleExhaustive, InclusionForEveryLeafOfEveryTreeUpTo70)
{
    const std::int64_t kMax = 70;
    ref_reset();
    std::vector<Hash> leaves;
    for (std::int64_t i = 0; i < kMax; i++)
        leaves.push_back(Hash{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i * 7), 0x5a});
    Tree t(leaves);
    Hash some = unhex("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (std::int64_t n = 1; n <= kMax; n++) {
        Hash root = ref_mth(leaves, 0, n);
        ASSERT_EQ(hex(t.root(n)), hex(root)) << "root of " << n;
        for (std::int64_t m = 0; m < n; m++) {
            std::vector<Hash> want;
            ref_path(leaves, m, 0, n, want);
            std::vector<Hash> proof = t.inclusion(m, n);
            ASSERT_EQ(hexes(proof), hexes(want)) << "leaf " << m << " of " << n;
            Hash leaf = ref_leaf(leaves[m]);
            ASSERT_TRUE(inclusion_ok(m, n, leaf, proof, root)) << "leaf " << m << " of " << n;

            SCOPED_TRACE("leaf " + std::to_string(m) + " of " + std::to_string(n));
            for (std::size_t i = 0; i < proof.size(); i++)
                for (int bit = 0; bit < 256; bit += 37) {
                    std::vector<Hash> bad = proof;
                    bad[i][bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
                    EXPECT_FALSE(inclusion_ok(m, n, leaf, bad, root)) << "element " << i << " bit " << bit;
                }
            Hash bad_leaf = leaf;
            bad_leaf[31] ^= 1;
            EXPECT_FALSE(inclusion_ok(m, n, bad_leaf, proof, root));
            Hash bad_root = root;
            bad_root[0] ^= 0x80;
            EXPECT_FALSE(inclusion_ok(m, n, leaf, proof, bad_root));
            if (m + 1 < n) {
                EXPECT_FALSE(inclusion_ok(m + 1, n, leaf, proof, root));
            }
            if (m > 0) {
                EXPECT_FALSE(inclusion_ok(m - 1, n, leaf, proof, root));
            }
            EXPECT_FALSE(inclusion_ok(m, 2 * n, leaf, proof, root));
            std::vector<Hash> longer = proof;
            longer.push_back(some);
            EXPECT_FALSE(inclusion_ok(m, n, leaf, longer, root));
            std::vector<Hash> prepended = proof;
            prepended.insert(prepended.begin(), root);
            EXPECT_FALSE(inclusion_ok(m, n, leaf, prepended, root));
            if (!proof.empty()) {
                std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
                EXPECT_FALSE(inclusion_ok(m, n, leaf, shorter, root));
            }
        }
    }
}

TEST(MerkleExhaustive, ConsistencyForEveryPairOfSizesUpTo70)
{
    const std::int64_t kMax = 70;
    ref_reset();
    std::vector<Hash> leaves;
    for (std::int64_t i = 0; i < kMax; i++)
        leaves.push_back(Hash{static_cast<std::uint8_t>(0xc0 ^ i), static_cast<std::uint8_t>(i >> 3)});
    Tree t(leaves);
    std::vector<Hash> roots(kMax + 1);
    for (std::int64_t n = 1; n <= kMax; n++)
        roots[n] = ref_mth(leaves, 0, n);
    Hash some = unhex("abacaba000000000000000000000000000000000000000000060061e00123456");
    for (std::int64_t n = 1; n <= kMax; n++)
        for (std::int64_t m = 1; m <= n; m++) {
            std::vector<Hash> want;
            if (m < n)
                ref_subproof(leaves, m, 0, n, true, want);
            std::vector<Hash> proof = t.consistency(m, n);
            ASSERT_EQ(hexes(proof), hexes(want)) << m << " -> " << n;
            ASSERT_TRUE(consistency_ok(m, n, roots[m], roots[n], proof)) << m << " -> " << n;
            if (m == n)
                continue;

            SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
            for (std::size_t i = 0; i < proof.size(); i++) {
                std::vector<Hash> bad = proof;
                bad[i][i % 32] ^= 0x10;
                EXPECT_FALSE(consistency_ok(m, n, roots[m], roots[n], bad)) << "element " << i;
            }
            EXPECT_FALSE(consistency_ok(m, n, roots[n], roots[m], proof));  // swapped roots
            Hash bad_old = roots[m];
            bad_old[5] ^= 1;
            EXPECT_FALSE(consistency_ok(m, n, bad_old, roots[n], proof));
            Hash bad_new = roots[n];
            bad_new[5] ^= 1;
            EXPECT_FALSE(consistency_ok(m, n, roots[m], bad_new, proof));
            if (m > 1) {
                EXPECT_FALSE(consistency_ok(m - 1, n, roots[m], roots[n], proof));
            }
            if (m + 1 < n) {
                EXPECT_FALSE(consistency_ok(m + 1, n, roots[m], roots[n], proof));
            }
            std::vector<Hash> longer = proof;
            longer.push_back(some);
            EXPECT_FALSE(consistency_ok(m, n, roots[m], roots[n], longer));
            std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
            EXPECT_FALSE(consistency_ok(m, n, roots[m], roots[n], shorter));
            EXPECT_FALSE(consistency_ok(m, n, roots[m], roots[n], {}));
        }
}

// The frontier only ever names the nodes the root of its size needs, and every node a proof plan
// names for any size up to the current one is one the appends handed to the store.
TEST(MerkleFrontier, HoldsTheRootNodesOfItsSize)
{
    std::vector<Hash> leaves;
    Tree t(leaves);
    Sha256 h;
    Hash empty(32), root0(32);
    mk::empty_root(h, empty.data());
    t.frontier.root(h, root0.data());
    EXPECT_EQ(hex(root0), hex(empty));  // size 0: the empty tree's root (callers rely on it)
    for (std::int64_t n = 1; n <= 300; n++) {
        std::uint8_t lh[32] = {static_cast<std::uint8_t>(n)};
        t.frontier.append(h, lh, t.store);
        mk::NodeId want[mk::kMaxLevels];
        int count = mk::range_nodes(0, n, want);
        ASSERT_EQ(t.frontier.count, count) << n;
        for (int i = 0; i < count; i++) {
            EXPECT_EQ(t.frontier.id[i].level, want[i].level);
            EXPECT_EQ(t.frontier.id[i].index, want[i].index);
        }
    }
    EXPECT_EQ(t.store.nodes.size(), 596u);  // sum of floor(300 / 2^level): every complete subtree, once
}

// hash_subtree gives the bytes leaf_hash and node_hash give one at a time, and append_subtree of
// its root leaves the frontier (and reports the nodes above the subtree) that the appends of its
// leaves one by one do, at every aligned size up to 20 subtrees.
TEST(MerkleSubtree, PairedHashesAndAppendEqualAppendsOneByOne)
{
    Sha256 h;
    std::vector<Hash> data;
    for (int i = 0; i < 20 * mk::kSubtreeLeaves; i++) {
        Hash d(32);
        for (int b = 0; b < 32; b++)
            d[b] = static_cast<std::uint8_t>(i * 31 + b * 7 + (i >> 3));
        data.push_back(d);
    }
    struct Nodes final : mk::NodeSink {
        std::vector<std::string> seen;
        void node(int level, std::int64_t index, const std::uint8_t hash[32]) override
        {
            seen.push_back(std::to_string(level) + "/" + std::to_string(index) + ":" + hex(Hash(hash, hash + 32)));
        }
    };
    mk::Frontier one, batched;
    for (int s = 0; s < 20; s++) {
        Nodes by_one, by_batch;
        const std::uint8_t *leaves[mk::kSubtreeLeaves];
        std::vector<std::string> subtree_nodes;  // what the appends one by one report at level <= 4
        for (int j = 0; j < mk::kSubtreeLeaves; j++) {
            leaves[j] = data[s * mk::kSubtreeLeaves + j].data();
            std::uint8_t lh[32];
            mk::leaf_hash(h, leaves[j], 32, lh);
            one.append(h, lh, by_one);
        }
        mk::SubtreeHashes sub;
        mk::hash_subtree(leaves, sub);
        // Every node of the subtree, as the appends reported it.
        for (int l = 0; l <= mk::kSubtreeLevels; l++)
            for (int i = 0; i < (mk::kSubtreeLeaves >> l); i++) {
                std::int64_t index = (static_cast<std::int64_t>(s) * mk::kSubtreeLeaves >> l) + i;
                std::string want = std::to_string(l) + "/" + std::to_string(index) + ":" + hex(Hash(sub.hash[l][i], sub.hash[l][i] + 32));
                EXPECT_NE(std::find(by_one.seen.begin(), by_one.seen.end(), want), by_one.seen.end()) << s << " " << want;
            }
        batched.append_subtree(h, mk::kSubtreeLevels, sub.hash[mk::kSubtreeLevels][0], by_batch);
        std::vector<std::string> above;
        for (const std::string &n : by_one.seen)
            if (std::stoi(n) > mk::kSubtreeLevels)
                above.push_back(n);
        EXPECT_EQ(by_batch.seen, above) << s;
        ASSERT_EQ(batched.size, one.size);
        ASSERT_EQ(batched.count, one.count);
        for (int i = 0; i < one.count; i++) {
            EXPECT_EQ(batched.id[i].level, one.id[i].level);
            EXPECT_EQ(batched.id[i].index, one.id[i].index);
            EXPECT_EQ(0, std::memcmp(batched.hash[i], one.hash[i], 32));
        }
    }
}

// The tile store (C2SP tlog-tiles, height 8, plus each tile's interior nodes) gives every complete
// subtree of trees past two tile levels the hash Frontier::append computed for it, and each
// tile's interior holds exactly tile_interior_count(width) nodes.
TEST(MerkleTiles, EveryCompleteSubtreeIsOneStoredHash)
{
    std::vector<Hash> leaves;
    Tree t(leaves);
    Sha256 h;
    const std::int64_t n = 2 * 256 * 8 + 37;  // level-1 tiles with nodes up to level 11 above them
    for (std::int64_t i = 0; i < n; i++) {
        std::uint8_t lh[32] = {static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)};
        t.frontier.append(h, lh, t.store);
    }
    int checked = 0;
    for (const auto &[id, hash] : t.store.nodes) {
        Hash got = from_tiles(t.store, mk::NodeId{id.first, id.second});
        ASSERT_EQ(hex(got), hex(hash)) << "node (" << id.first << ", " << id.second << ")";
        checked++;
    }
    EXPECT_EQ(checked, 8262);  // every complete subtree of 4133 leaves (sum of 4133 >> level), once
    for (const auto &[tile, interior] : t.store.tile_interior) {
        std::int64_t width = std::min<std::int64_t>(mk::kTileWidth, static_cast<std::int64_t>(t.store.tile_hashes[tile.first].size()) - tile.second * mk::kTileWidth);
        EXPECT_EQ(static_cast<int>(interior.size()), mk::tile_interior_count(static_cast<int>(width))) << tile.first << "/" << tile.second;
    }
    EXPECT_EQ(mk::tile_interior_count(256), mk::kTileInterior);
    mk::TilePosition p = mk::tile_position(mk::NodeId{11, 1});  // leaves [2048, 4096): level-8 hashes 8..15
    EXPECT_EQ(p.level, 1);
    EXPECT_EQ(p.index, 0);
    EXPECT_TRUE(p.interior);
    EXPECT_EQ(p.pos, mk::tile_interior_count(15) + 2);
    p = mk::tile_position(mk::NodeId{0, 300});  // leaf 300: hash 44 of level-0 tile 1
    EXPECT_EQ(p.level, 0);
    EXPECT_EQ(p.index, 1);
    EXPECT_FALSE(p.interior);
    EXPECT_EQ(p.pos, 44);
    p = mk::tile_position(mk::NodeId{1, 0});  // the first interior node of tile 0
    EXPECT_TRUE(p.interior);
    EXPECT_EQ(p.pos, 0);
}
