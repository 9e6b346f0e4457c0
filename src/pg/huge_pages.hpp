// Large arrays of one call in transparent huge pages, where the kernel gives them on request.
//
// A fresh backend, and every parallel worker, pays a page fault on the first touch of each 4 kB
// page it allocates.  verify_chain()'s leader fills ~20 MB for issue 23's 400k-row log (the Merkle
// map's row hashes, its chain table): ~5,000 faults.  On the 2-vCPU VM this project measures on, a
// fault took 11-17 us (docs/benchmarks.md, "verify_chain, round 7"): ~70 ms of a 0.47 s call.  One
// 2 MB page costs about one fault.  Debian's kernels default to THP "madvise" (only regions that
// ask get huge pages), so the arrays ask, with madvise(MADV_HUGEPAGE), before anything touches them.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "utils/memutils.h"
}

// Allocates bytes in cxt as MemoryContextAllocExtended(cxt, bytes, flags | MCXT_ALLOC_HUGE) does
// (nullptr only with MCXT_ALLOC_NO_OOM), and asks for huge pages for every whole 2 MB-aligned
// 2 MB inside it before it is touched (MCXT_ALLOC_ZERO zeroes it after that).  Below 2 MB, or
// where the kernel refuses, it is an ordinary allocation: the advice only changes the page size.
void *fa_alloc_in_huge_pages(MemoryContext cxt, Size bytes, int flags);

// The size of a transparent huge page on x86-64 (and of the alignment the advice needs).
constexpr Size kFaHugePageBytes = Size{2} * 1024 * 1024;

// bytes in cxt starting on a kFaHugePageBytes boundary, all of it advised as above: one huge page
// more is allocated and the part before the boundary is never touched (address space, not memory).
// The pointer is not the allocation's start, so it must not be pfree'd: it goes with cxt.
void *fa_alloc_huge_page_aligned(MemoryContext cxt, Size bytes);

// Bytes this backend has had huge pages advised for since the last call with reset (a DEBUG1
// line of verify_chain() reports it, and a test reads it).
Size fa_huge_page_bytes_advised(bool reset);
