// An Arena (chain_reorder.hpp) that cuts small pieces from few large blocks.
//
// verify_chain()'s chain table asks for many small pieces (a chain's state, its id, its queue of
// waiting rows).  Cut from slabs that double from kFirstSlab to kMaxSlab, they lie together in
// large blocks, and the backend can give the large ones huge pages (src/pg/huge_pages.hpp): one
// page fault per 2 MB instead of per 4 kB.  Nothing is freed piece by piece; the blocks go with
// whatever owns them (in the backend, the call's memory context).
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>

#include "chain_reorder.hpp"

namespace forgea::core {

// Where the slabs come from: never null (the source raises or aborts instead), aligned as
// malloc's.
class BlockSource {
public:
    virtual void *block(std::size_t bytes) = 0;

protected:
    ~BlockSource() = default;
};

class SlabArena final : public Arena {
public:
    static constexpr std::size_t kFirstSlab = 64 * 1024;
    static constexpr std::size_t kMaxSlab = 4 * 1024 * 1024;
    static constexpr std::size_t kAlign = alignof(std::max_align_t);

    explicit SlabArena(BlockSource &source) : source_(&source) {}

    // A piece of a slab, or a block of its own for a piece over kMaxSlab / 4.
    void *allocate(std::size_t bytes) override
    {
        bytes = (bytes + kAlign - 1) & ~(kAlign - 1);
        if (bytes > kMaxSlab / 4)
            return source_->block(bytes);
        if (bytes > left_)
            new_slab(bytes);
        char *p = next_;
        next_ += bytes;
        left_ -= bytes;
        return p;
    }

    std::size_t slab_bytes() const { return slab_; }  // the last slab's size (tests)

private:
    // A fresh slab of at least bytes (<= kMaxSlab / 4): twice the last one, up to kMaxSlab.  What
    // was left of the last one is not used again.
    void new_slab(std::size_t bytes)
    {
        slab_ = slab_ == 0 ? kFirstSlab : (slab_ * 2 < kMaxSlab ? slab_ * 2 : kMaxSlab);
        while (slab_ < bytes)
            slab_ *= 2;
        next_ = static_cast<char *>(source_->block(slab_));
        left_ = slab_;
    }

    BlockSource *source_;
    std::size_t slab_ = 0;
    char *next_ = nullptr;
    std::size_t left_ = 0;
};

}  // namespace forgea::core
