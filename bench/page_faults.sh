#!/usr/bin/env bash
# What a first-touch page fault costs on this machine (docs/benchmarks.md, "verify_chain, round 7"):
#
#   bash bench/page_faults.sh
#
# Writes one byte per 4 kB page of a fresh mapping, three times each, and prints the median:
# 400 MiB private and shared (as shared buffers) in 4 kB pages, shared with MAP_HUGETLB (2 MB pages:
# needs vm.nr_hugepages >= 200, else skipped and said so), and 32 MiB private with and without
# madvise(MADV_HUGEPAGE) (what src/pg/huge_pages.cpp asks for).  No PostgreSQL; ~10 s.
set -euo pipefail
python3 - <<'PY'
import mmap, time
def touch(size, flags, advise=False):
    m = mmap.mmap(-1, size, flags=flags)
    if advise:
        m.madvise(mmap.MADV_HUGEPAGE)
    t = time.perf_counter()
    for off in range(0, size, 4096):
        m[off] = 1
    d = time.perf_counter() - t
    m.close()
    return d
PRIVATE = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
SHARED = mmap.MAP_SHARED | mmap.MAP_ANONYMOUS
HUGETLB = 0x40000  # MAP_HUGETLB
cases = [("400 MiB private, 4 kB pages", 400 << 20, PRIVATE, False),
         ("400 MiB shared, 4 kB pages", 400 << 20, SHARED, False),
         ("400 MiB shared, MAP_HUGETLB", 400 << 20, SHARED | HUGETLB, False),
         ("32 MiB private, 4 kB pages", 32 << 20, PRIVATE, False),
         ("32 MiB private, MADV_HUGEPAGE", 32 << 20, PRIVATE, True)]
for name, size, flags, advise in cases:
    try:
        ts = sorted(touch(size, flags, advise) for _ in range(3))
    except OSError as e:
        print(f"{name}: skipped ({e}; MAP_HUGETLB needs vm.nr_hugepages)")
        continue
    pages = size // 4096
    print(f"{name}: median {ts[1] * 1000:.1f} ms (min {ts[0] * 1000:.1f}, max {ts[2] * 1000:.1f}), "
          f"{ts[1] / pages * 1e6:.2f} us per 4 kB page")
PY
