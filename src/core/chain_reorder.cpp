#include "chain_reorder.hpp"

#include <cstring>
#include <new>

namespace forgea::core {

namespace {

std::uint64_t hash_id(Bytes id)
{
    // FNV-1a, then a final mix: chain ids share long prefixes ("session:").
    std::uint64_t h = UINT64_C(14695981039346656037);
    for (std::size_t i = 0; i < id.len; i++) {
        h ^= static_cast<unsigned char>(id.data[i]);
        h *= UINT64_C(1099511628211);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

template <typename T>
T *allocate_array(Arena &arena, std::size_t n)
{
    return static_cast<T *>(arena.allocate(n * sizeof(T)));
}

}  // namespace

// A row that arrived before its predecessor waits in a min-heap on chain_pos; the array grows in the
// arena (never freed one by one), so nothing here owns memory a longjmp could leak.
void ChainInOrder::push(const RowLink &row, Arena &arena)
{
    if (n_waiting == cap_waiting) {
        std::size_t cap = cap_waiting == 0 ? 8 : cap_waiting * 2;
        RowLink *bigger = allocate_array<RowLink>(arena, cap);
        if (n_waiting > 0)
            std::memcpy(bigger, waiting, n_waiting * sizeof(RowLink));
        waiting = bigger;  // the old array stays in the arena until the pass ends
        cap_waiting = cap;
    }
    std::size_t i = n_waiting++;
    while (i > 0) {
        std::size_t parent = (i - 1) / 2;
        if (waiting[parent].chain_pos <= row.chain_pos)
            break;
        waiting[i] = waiting[parent];
        i = parent;
    }
    waiting[i] = row;
}

// Removes the heap's smallest chain_pos (waiting[0]).
void ChainInOrder::pop()
{
    RowLink last = waiting[--n_waiting];
    std::size_t i = 0;
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n_waiting)
            break;
        if (child + 1 < n_waiting && waiting[child + 1].chain_pos < waiting[child].chain_pos)
            child++;
        if (last.chain_pos <= waiting[child].chain_pos)
            break;
        waiting[i] = waiting[child];
        i = child;
    }
    if (n_waiting > 0)
        waiting[i] = last;
}

// A row in heap order: linked at once if it is the next position, else kept until its predecessors
// come; each link may release waiting rows behind it.  Rows mostly arrive in order, so the heap
// stays small.
void ChainInOrder::add(const RowLink &row, Arena &arena, ProblemSink &sink)
{
    if (row.chain_pos > walker.next_pos()) {
        push(row, arena);
        return;
    }
    walker.link_row(row, sink);
    while (n_waiting > 0 && waiting[0].chain_pos <= walker.next_pos()) {
        walker.link_row(waiting[0], sink);
        pop();
    }
}

// The scan is over: whatever still waits is linked in position order (gaps are then reported by the
// walker), and the chain's end is checked against its head.
void ChainInOrder::finish(const HeadRecord *head, ProblemSink &sink)
{
    while (n_waiting > 0) {
        walker.link_row(waiting[0], sink);
        pop();
    }
    walker.end_chain(head, sink);
}

// Doubles the open-addressing table (kept at most half full), rehashing from the stored hashes.
void ChainTable::grow()
{
    std::size_t cap = capacity_ == 0 ? 1024 : capacity_ * 2;
    ChainInOrder **slots = allocate_array<ChainInOrder *>(*arena_, cap);
    std::uint64_t *hashes = allocate_array<std::uint64_t>(*arena_, cap);
    std::memset(slots, 0, cap * sizeof *slots);
    for (std::size_t i = 0; i < capacity_; i++) {
        if (slots_[i] == nullptr)
            continue;
        std::size_t j = hashes_[i] & (cap - 1);
        while (slots[j] != nullptr)
            j = (j + 1) & (cap - 1);
        slots[j] = slots_[i];
        hashes[j] = hashes_[i];
    }
    slots_ = slots;
    hashes_ = hashes;
    capacity_ = cap;
}

// The chain's state, created on its first row with a copy of its id in the arena; chains are also
// kept in first-seen order for the final pass over them.
ChainInOrder *ChainTable::find_or_add(Bytes chain_id, bool *added)
{
    if ((count_ + 1) * 2 > capacity_)  // at most half full
        grow();
    std::uint64_t h = hash_id(chain_id);
    std::size_t j = h & (capacity_ - 1);
    while (slots_[j] != nullptr) {
        if (hashes_[j] == h && compare_chain_ids(slots_[j]->chain_id, chain_id) == 0) {
            *added = false;
            return slots_[j];
        }
        j = (j + 1) & (capacity_ - 1);
    }
    ChainInOrder *c = new (arena_->allocate(sizeof(ChainInOrder))) ChainInOrder();
    char *id = static_cast<char *>(arena_->allocate(chain_id.len + 1));
    if (chain_id.len > 0)
        std::memcpy(id, chain_id.data, chain_id.len);
    id[chain_id.len] = '\0';
    c->chain_id = Bytes{id, chain_id.len};
    slots_[j] = c;
    hashes_[j] = h;
    if (count_ == order_cap_) {
        std::size_t cap = order_cap_ == 0 ? 1024 : order_cap_ * 2;
        ChainInOrder **order = allocate_array<ChainInOrder *>(*arena_, cap);
        if (count_ > 0)
            std::memcpy(order, order_, count_ * sizeof *order);
        order_ = order;
        order_cap_ = cap;
    }
    order_[count_++] = c;
    *added = true;
    return c;
}

}  // namespace forgea::core
