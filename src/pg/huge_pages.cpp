#include "pg/huge_pages.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>

namespace {
Size advised_bytes = 0;
}  // namespace

void *fa_alloc_in_huge_pages(MemoryContext cxt, Size bytes, int flags)
{
    void *p = MemoryContextAllocExtended(cxt, bytes, (flags & ~MCXT_ALLOC_ZERO) | MCXT_ALLOC_HUGE);
    if (p == nullptr)
        return nullptr;
#ifdef MADV_HUGEPAGE
    if (bytes >= kFaHugePageBytes) {
        std::uintptr_t start = TYPEALIGN(kFaHugePageBytes, reinterpret_cast<std::uintptr_t>(p));
        std::uintptr_t end = TYPEALIGN_DOWN(kFaHugePageBytes, reinterpret_cast<std::uintptr_t>(p) + bytes);
        // EINVAL where the kernel has no THP: the memory is then used in small pages, as before.
        if (end > start && madvise(reinterpret_cast<void *>(start), end - start, MADV_HUGEPAGE) == 0)
            advised_bytes += end - start;
    }
#endif
    if ((flags & MCXT_ALLOC_ZERO) != 0)
        std::memset(p, 0, bytes);
    return p;
}

void *fa_alloc_huge_page_aligned(MemoryContext cxt, Size bytes)
{
    char *raw = static_cast<char *>(fa_alloc_in_huge_pages(cxt, bytes + kFaHugePageBytes, 0));
    return reinterpret_cast<void *>(TYPEALIGN(kFaHugePageBytes, reinterpret_cast<std::uintptr_t>(raw)));
}

Size fa_huge_page_bytes_advised(bool reset)
{
    Size n = advised_bytes;
    if (reset)
        advised_bytes = 0;
    return n;
}
