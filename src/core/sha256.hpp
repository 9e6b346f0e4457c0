// SHA-256 (FIPS 180-4) in the core, without allocation or locks: the verifiers' hash.
//
// verify_chain() hashes every row (~700 bytes) and, for the Merkle checks, two or three 33- or
// 65-byte messages per leaf.  Through PostgreSQL's cryptohash (OpenSSL 3's EVP), every digest paid
// an EVP init with provider look-ups under a lock, and a one-shot Sha256Sink a context allocated
// and freed with the resource owner: 38% of verify_chain()'s profile was in libcrypto for ~0.3 ms
// of actual compression per 1,000 rows (docs/benchmarks.md).  This one is a plain struct: state,
// a 64-byte block buffer and a length, reused row after row.  The compression runs on the CPU's
// SHA extensions (x86-64 SHA-NI) when it has them, else in portable C++; both are tested against
// OpenSSL at every length from 0 to 1,100 bytes and arbitrary splits (test/unit/core_tests.cpp).
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "hasher.hpp"

namespace forgea::core {

class Sha256 final : public Hasher {
public:
    Sha256() { reset(); }
    void put(const void *data, std::size_t len) override;
    void finish(std::uint8_t out[kHashLen]) override;
    void reset();

    // Which compression runs (for the tests): true if the CPU's SHA extensions are used.
    static bool hardware();
    // Tests only: use the portable compression even where the extensions exist.
    static void force_portable(bool on);

private:
    std::uint32_t state_[8];
    std::uint64_t length_;  // bytes put so far
    std::size_t pending_;   // bytes in block_
    std::uint8_t block_[64];
};

// The SHA-256 of len bytes at data.
void sha256(const void *data, std::size_t len, std::uint8_t out[kHashLen]);

// The SHA-256 of two messages at once: with the SHA extensions, the blocks both have are
// compressed interleaved (a block's rounds are one chain of dependent instructions, so a single
// message leaves the unit idle between them; a second fills it: 1.8-2.2x the throughput here),
// the longer one's remaining blocks alone.  Without them, one after the other.  verify_chain()
// hashes its rows two at a time with it.
void sha256_pair(const void *a, std::size_t alen, std::uint8_t outa[kHashLen], const void *b, std::size_t blen,
                 std::uint8_t outb[kHashLen]);

}  // namespace forgea::core
