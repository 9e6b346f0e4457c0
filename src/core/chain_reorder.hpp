// Rows of many chains arriving in any order (verify_chain() reads the heap in physical order, one
// sequential pass, instead of an index-ordered pass that visits a heap page per row), handed to
// each chain's ChainWalker in chain_pos order.
//
// Appends to one chain are serialised by its chain_head lock, so a chain's rows are nearly in
// order on disk: a row normally links at once, and only rows that overtook an earlier one (two
// backends filling different pages) wait, as ~100-byte RowLinks, in a per-chain min-heap.  Memory
// is that of the chain table plus the rows waiting at any moment, not of the whole log.
//
// No destructors, no owned memory: everything comes from an Arena (a PostgreSQL memory context in
// the backend) and goes away with it.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "chain_verifier.hpp"

namespace forgea::core {

class Arena {
public:
    virtual void *allocate(std::size_t bytes) = 0;  // never null: the arena raises or aborts instead

protected:
    ~Arena() = default;
};

// One chain: its walker and the rows that came before their turn.
struct ChainInOrder {
    Bytes chain_id;  // owned by the arena
    ChainWalker walker;
    RowLink *waiting = nullptr;  // a min-heap on chain_pos
    std::size_t n_waiting = 0;
    std::size_t cap_waiting = 0;

    // Links row if it is the next position (and then every waiting row that follows it), or
    // keeps it until its turn.  A position already passed (a duplicate) is linked at once, so
    // the walker reports it.
    void add(const RowLink &row, Arena &arena, ProblemSink &sink);

    // Links the rows still waiting, in chain_pos order (the walker reports the gaps before them),
    // and ends the chain against its head (nullptr: no head row).
    void finish(const HeadRecord *head, ProblemSink &sink);

private:
    void push(const RowLink &row, Arena &arena);
    void pop();
};

// Chain id -> ChainInOrder, open addressing; chains are also kept in the order they were first
// seen, so a pass over the same heap reports the same way every time.
class ChainTable {
public:
    explicit ChainTable(Arena &arena) : arena_(&arena) {}

    // The chain's entry; *added says it is new (its walker has not started yet).
    ChainInOrder *find_or_add(Bytes chain_id, bool *added);

    std::size_t size() const { return count_; }
    ChainInOrder &at(std::size_t i) { return *order_[i]; }  // in first-seen order

private:
    void grow();

    Arena *arena_;
    ChainInOrder **slots_ = nullptr;  // capacity_ entries, a power of two
    ChainInOrder **order_ = nullptr;  // count_ entries used
    std::uint64_t *hashes_ = nullptr;
    std::size_t capacity_ = 0;
    std::size_t count_ = 0;
    std::size_t order_cap_ = 0;
};

}  // namespace forgea::core
