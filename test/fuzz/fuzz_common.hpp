// Shared by the libFuzzer harnesses (test/fuzz/fuzz_*.cpp): a growable sink, OpenSSL SHA-256 as the
// core's Hasher, and FA_REQUIRE, which aborts with a message so that libFuzzer keeps the input
// that broke a property as a crash artifact (a plain assert would vanish under -DNDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/byte_sink.hpp"
#include "core/hasher.hpp"
#include "../unit/openssl_sha256.hpp"

#define FA_REQUIRE(cond, what)                                                                 \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "property violated: %s (%s:%d: %s)\n", what, __FILE__, __LINE__, \
                         #cond);                                                               \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

namespace fuzz {

// Collects what the core writes.
class StringSink final : public forgea::core::ByteSink {
public:
    void put(const void *data, std::size_t len) override { s.append(static_cast<const char *>(data), len); }
    std::string s;
};

using Sha256 = forgea::test::Sha256;  // SHA-256 through OpenSSL, as the offline verifier computes it

// The input copied to a heap block of exactly its size, so that ASan sees any read past its end
// (libFuzzer's own buffer is already exact, but substrings of it are not).
inline char *exact_copy(const char *p, std::size_t n)
{
    char *c = static_cast<char *>(std::malloc(n == 0 ? 1 : n));
    if (n > 0)
        std::memcpy(c, p, n);
    return c;
}

}  // namespace fuzz
