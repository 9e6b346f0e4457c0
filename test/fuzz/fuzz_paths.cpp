// libFuzzer harness: the changed-path set of a push (sort_unique_paths, count_distinct_paths in
// src/core/push_rules.hpp).  The input is split at '\n' into paths, each line's first byte choosing
// its kind (added/modified/removed); the result must equal a std::set of (path, kind) in bytewise
// order, and the distinct count that of the paths alone.
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/push_rules.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const char *s = reinterpret_cast<const char *>(data);
    std::vector<core::PathRef> paths;
    std::set<std::pair<std::string, int>> ref;
    std::set<std::string> distinct;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= size; i++) {
        if (i < size && s[i] != '\n')
            continue;
        if (i > start) {
            auto kind = static_cast<core::ChangeKind>(static_cast<unsigned char>(s[start]) % core::kChangeKinds);
            const char *p = s + start + 1;
            std::uint32_t len = static_cast<std::uint32_t>(i - start - 1);
            paths.push_back({p, len, kind});
            ref.emplace(std::string(p, len), static_cast<int>(kind));
            distinct.emplace(p, len);
        }
        start = i + 1;
    }
    std::size_t n = core::sort_unique_paths(paths.data(), paths.size());
    FA_REQUIRE(n == ref.size(), "sort_unique_paths kept another number of (path, kind) pairs");
    std::size_t i = 0;
    for (const auto &r : ref) {
        FA_REQUIRE(std::string(paths[i].data, paths[i].len) == r.first, "paths are not in bytewise order");
        FA_REQUIRE(static_cast<int>(paths[i].kind) == r.second, "kinds are not in order within a path");
        i++;
    }
    FA_REQUIRE(core::count_distinct_paths(paths.data(), n) == distinct.size(), "count_distinct_paths is wrong");
    return 0;
}
