#include "merkle_tree.hpp"

#include <cstring>

#include "sha256.hpp"

namespace forgea::core::merkle {

namespace {

// The largest power of two strictly below n (n >= 2): RFC 6962's split point k.
std::int64_t split(std::int64_t n)
{
    std::int64_t k = 1;
    while (k < n - k)  // k * 2 < n, without overflow
        k <<= 1;
    return k;
}

void reverse(Range *r, int n)
{
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        Range t = r[i];
        r[i] = r[j];
        r[j] = t;
    }
}

// Fills plan->first/count/node from plan->range.
void plan_nodes(ProofPlan *plan)
{
    plan->nodes = 0;
    for (int i = 0; i < plan->ranges; i++) {
        NodeId tmp[kMaxLevels];
        int n = range_nodes(plan->range[i].lo, plan->range[i].hi, tmp);
        plan->first[i] = plan->nodes;
        plan->count[i] = n;
        for (int j = 0; j < n && plan->nodes < kMaxPlanNodes; j++)
            plan->node[plan->nodes++] = tmp[j];
    }
}

bool lsb(std::int64_t x) { return (x & 1) != 0; }

}  // namespace

// Leaves and interior nodes hash with different prefixes, so no leaf can pass for a node
// (RFC 6962 section 2.1: second-preimage resistance of the tree).
void leaf_hash(Hasher &h, const void *data, std::size_t len, std::uint8_t out[kHashLen])
{
    h.put_byte(0x00);
    if (len > 0)
        h.put(data, len);
    h.finish(out);
}

void node_hash(Hasher &h, const std::uint8_t left[kHashLen], const std::uint8_t right[kHashLen],
               std::uint8_t out[kHashLen])
{
    h.put_byte(0x01);
    h.put(left, kHashLen);
    h.put(right, kHashLen);
    h.finish(out);
}

void empty_root(Hasher &h, std::uint8_t out[kHashLen])
{
    h.finish(out);
}

// Greedy: at each step the largest aligned power of two that fits.  For the ranges proofs use
// (lo a multiple of the largest power of two below hi - lo) this is exactly the RFC's split.
int range_nodes(std::int64_t lo, std::int64_t hi, NodeId out[kMaxLevels])
{
    int n = 0;
    while (lo < hi && n < kMaxLevels) {
        int level = 0;
        while (level < 62) {
            std::int64_t next = std::int64_t{1} << (level + 1);
            if (next > hi - lo || (lo & (next - 1)) != 0)
                break;
            level++;
        }
        out[n].level = level;
        out[n].index = lo >> level;
        n++;
        lo += std::int64_t{1} << level;
    }
    return n;
}

// MTH(D[lo:hi]) = node(MTH(first complete subtree), MTH(rest)): fold from the right.
void fold_range(Hasher &h, const std::uint8_t (*hashes)[kHashLen], int count, std::uint8_t out[kHashLen])
{
    if (count <= 0) {
        empty_root(h, out);
        return;
    }
    std::uint8_t acc[kHashLen];
    std::memcpy(acc, hashes[count - 1], kHashLen);
    for (int i = count - 2; i >= 0; i--)
        node_hash(h, hashes[i], acc, acc);
    std::memcpy(out, acc, kHashLen);
}

// RFC 6962 2.1.1, PATH(m, D[n]) unrolled: walk down from the root, at each split keep the half
// holding leaf m and record the other half; the proof lists them from the leaf up.
bool inclusion_plan(std::int64_t index, std::int64_t size, ProofPlan *plan)
{
    *plan = ProofPlan{};
    if (index < 0 || size <= 0 || index >= size)
        return false;
    std::int64_t lo = 0, hi = size;
    while (hi - lo > 1) {
        if (plan->ranges == kMaxLevels)
            return false;  // unreachable for int64 sizes; keeps the arrays safe whatever split does
        std::int64_t k = split(hi - lo);
        if (index - lo < k) {
            plan->range[plan->ranges++] = Range{lo + k, hi};
            hi = lo + k;
        } else {
            plan->range[plan->ranges++] = Range{lo, lo + k};
            lo += k;
        }
    }
    reverse(plan->range, plan->ranges);
    plan_nodes(plan);
    return true;
}

// RFC 6962 2.1.2, SUBPROOF(m, D[n], b) unrolled the same way.
bool consistency_plan(std::int64_t old_size, std::int64_t new_size, ProofPlan *plan)
{
    *plan = ProofPlan{};
    if (old_size < 0 || old_size > new_size)
        return false;
    if (old_size == 0 || old_size == new_size)
        return true;
    std::int64_t lo = 0, hi = new_size, m = old_size;
    bool whole = true;  // b: the old tree is the whole of D[lo:hi]'s left part so far
    for (;;) {
        if (m == hi - lo) {
            if (!whole)
                plan->range[plan->ranges++] = Range{lo, hi};
            break;
        }
        if (plan->ranges == kMaxLevels)
            return false;
        std::int64_t k = split(hi - lo);
        if (m <= k) {
            plan->range[plan->ranges++] = Range{lo + k, hi};
            hi = lo + k;
        } else {
            plan->range[plan->ranges++] = Range{lo, lo + k};
            m -= k;
            lo += k;
            whole = false;
        }
    }
    reverse(plan->range, plan->ranges);
    plan_nodes(plan);
    return true;
}

void root_plan(std::int64_t size, ProofPlan *plan)
{
    *plan = ProofPlan{};
    if (size > 0) {
        plan->range[plan->ranges++] = Range{0, size};
        plan_nodes(plan);
    }
}

void assemble(Hasher &h, const ProofPlan &plan, const std::uint8_t (*node_hashes)[kHashLen],
              std::uint8_t (*out)[kHashLen])
{
    for (int i = 0; i < plan.ranges; i++)
        fold_range(h, node_hashes + plan.first[i], plan.count[i], out[i]);
}

// RFC 9162 2.1.3.2, with fn/sn the leaf's and the last leaf's index at the current level.
bool root_from_inclusion(Hasher &h, std::int64_t index, std::int64_t size, const std::uint8_t leaf[kHashLen],
                         const std::uint8_t (*proof)[kHashLen], int proof_len, std::uint8_t out[kHashLen])
{
    if (index < 0 || size <= 0 || index >= size || proof_len < 0)
        return false;
    std::int64_t fn = index, sn = size - 1;
    std::uint8_t r[kHashLen];
    std::memcpy(r, leaf, kHashLen);
    for (int i = 0; i < proof_len; i++) {
        if (sn == 0)
            return false;  // the proof is longer than the path
        if (lsb(fn) || fn == sn) {
            node_hash(h, proof[i], r, r);
            if (!lsb(fn))
                while (!lsb(fn) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            node_hash(h, r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return false;  // the proof is shorter than the path
    std::memcpy(out, r, kHashLen);
    return true;
}

bool verify_inclusion(Hasher &h, std::int64_t index, std::int64_t size, const std::uint8_t leaf[kHashLen],
                      const std::uint8_t (*proof)[kHashLen], int proof_len, const std::uint8_t root[kHashLen])
{
    std::uint8_t r[kHashLen];
    return root_from_inclusion(h, index, size, leaf, proof, proof_len, r) && std::memcmp(r, root, kHashLen) == 0;
}

// RFC 9162 2.1.4.2.  Two roots are rebuilt from one path: the old one from the nodes left of the
// old tree's last leaf, the new one from all of them.
bool verify_consistency(Hasher &h, std::int64_t old_size, std::int64_t new_size, const std::uint8_t old_root[kHashLen],
                        const std::uint8_t new_root[kHashLen], const std::uint8_t (*proof)[kHashLen], int proof_len)
{
    if (old_size < 0 || new_size < old_size || proof_len < 0)
        return false;
    if (old_size == new_size)
        return proof_len == 0 && std::memcmp(old_root, new_root, kHashLen) == 0;
    if (old_size == 0)
        return proof_len == 0;  // the empty tree is a prefix of every tree
    if (proof_len == 0)
        return false;

    // When the old tree is a complete subtree its root is the path's first node, not in the proof.
    bool old_is_power = (old_size & (old_size - 1)) == 0;
    int i = 0;
    const std::uint8_t *first = old_is_power ? old_root : proof[i++];
    std::int64_t fn = old_size - 1, sn = new_size - 1;
    while (lsb(fn)) {
        fn >>= 1;
        sn >>= 1;
    }
    std::uint8_t fr[kHashLen], sr[kHashLen];
    std::memcpy(fr, first, kHashLen);
    std::memcpy(sr, first, kHashLen);
    for (; i < proof_len; i++) {
        if (sn == 0)
            return false;
        if (lsb(fn) || fn == sn) {
            node_hash(h, proof[i], fr, fr);
            node_hash(h, proof[i], sr, sr);
            if (!lsb(fn))
                while (!lsb(fn) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            node_hash(h, sr, proof[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && std::memcmp(fr, old_root, kHashLen) == 0 && std::memcmp(sr, new_root, kHashLen) == 0;
}

// The frontier holds range_nodes(0, size): levels strictly decreasing.  A new leaf is a level-0
// node; two equal levels at the end merge into their parent, repeatedly.
int tile_interior_count(int width)
{
    int n = 0;
    for (int k = 1; k < kTileHeight; k++)
        n += width >> k;
    return n;
}

// A node at level l = 8L + k covers the 2^k level-8L hashes [j * 2^k, (j + 1) * 2^k) of one tile
// (2^k divides 256, and the node is aligned on its own size).  It is completed by the append of
// the last of them, e = (j + 1) * 2^k - 1, as the k-th of the nodes that append completes; before
// that append the tile held tile_interior_count(e) interior nodes.
TilePosition tile_position(NodeId node)
{
    TilePosition p;
    p.level = node.level / kTileHeight;
    int k = node.level % kTileHeight;
    std::int64_t first = node.index << k;
    p.index = first >> kTileHeight;
    int local = static_cast<int>(first & (kTileWidth - 1));
    if (k == 0) {
        p.pos = local;
        return p;
    }
    p.interior = true;
    int e = local + (1 << k) - 1;
    p.pos = tile_interior_count(e) + (k - 1);
    return p;
}

// One leaf is a subtree of level 0 whose root (the leaf hash) is also a node the sink gets.
void Frontier::append(Hasher &h, const std::uint8_t leaf[kHashLen], NodeSink &sink)
{
    sink.node(0, size, leaf);
    append_subtree(h, 0, leaf, sink);
}

void Frontier::append_subtree(Hasher &h, int level, const std::uint8_t root[kHashLen], NodeSink &sink)
{
    id[count] = NodeId{level, size >> level};
    std::memcpy(hash[count], root, kHashLen);
    count++;
    while (count >= 2 && id[count - 1].level == id[count - 2].level) {
        NodeId parent{id[count - 2].level + 1, id[count - 2].index >> 1};
        node_hash(h, hash[count - 2], hash[count - 1], hash[count - 2]);
        id[count - 2] = parent;
        count--;
        sink.node(parent.level, parent.index, hash[count - 1]);
    }
    size += std::int64_t{1} << level;
}

void hash_subtree(const std::uint8_t *const leaf_data[kSubtreeLeaves], SubtreeHashes &out)
{
    // The messages: 0x00 || data (33 bytes) for a leaf, 0x01 || left || right (65) for a node.
    std::uint8_t msg[2][1 + 2 * kHashLen];
    for (int i = 0; i < kSubtreeLeaves; i += 2) {
        msg[0][0] = 0x00;
        msg[1][0] = 0x00;
        std::memcpy(msg[0] + 1, leaf_data[i], kHashLen);
        std::memcpy(msg[1] + 1, leaf_data[i + 1], kHashLen);
        sha256_pair(msg[0], 1 + kHashLen, out.hash[0][i], msg[1], 1 + kHashLen, out.hash[0][i + 1]);
    }
    for (int l = 1; l <= kSubtreeLevels; l++) {
        int n = kSubtreeLeaves >> l;
        for (int i = 0; i < n; i += 2) {
            for (int k = 0; k < 2 && i + k < n; k++) {
                msg[k][0] = 0x01;
                std::memcpy(msg[k] + 1, out.hash[l - 1][2 * (i + k)], kHashLen);
                std::memcpy(msg[k] + 1 + kHashLen, out.hash[l - 1][2 * (i + k) + 1], kHashLen);
            }
            if (i + 1 < n)
                sha256_pair(msg[0], sizeof msg[0], out.hash[l][i], msg[1], sizeof msg[1], out.hash[l][i + 1]);
            else
                sha256(msg[0], sizeof msg[0], out.hash[l][i]);
        }
    }
}

void Frontier::root(Hasher &h, std::uint8_t out[kHashLen]) const
{
    fold_range(h, hash, count, out);
}

}  // namespace forgea::core::merkle
