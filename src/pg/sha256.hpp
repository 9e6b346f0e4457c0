// SHA-256 in the backend, through PostgreSQL's cryptohash (common/cryptohash.h): the sink the chain
// hashes records and payloads with, and the bytea a digest goes to SQL as.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

#include "core/chain_record.hpp"
#include "core/hasher.hpp"

extern "C" {
#include "postgres.h"
#include "common/cryptohash.h"
}

// SHA-256 through PostgreSQL's cryptohash, fed as a sink: a 20 MB payload is hashed without a
// 20 MB copy.  The context is created on the first put() and freed by finish(); one left behind by
// an error belongs to the resource owner, which frees it on abort.  Small pieces (a record's
// encoding is ~40 of them) are gathered in a buffer first: one cryptohash update per row instead
// of one per field, which was a sixth of verify_chain()'s time.
class Sha256Sink final : public forgea::core::Hasher {
public:
    Sha256Sink() = default;
    // A reusable sink keeps its context between finish() calls (one per row of a verification,
    // not one allocation per row); its owner calls release() when done.  The context is created
    // at once, in owner: a per-row memory context may be current when the first row is hashed and
    // is reset after it, and without OpenSSL PostgreSQL pallocs the hash state in the current
    // context (with OpenSSL in TopMemoryContext), so a lazily created state would be freed under
    // the sink after the first row.
    explicit Sha256Sink(MemoryContext owner) : owner_(owner) { start(); }
    void put(const void *data, std::size_t len) override;
    void finish(uint8 out[forgea::core::kHashLen]) override;
    void release();

private:
    void start();
    void update(const void *data, std::size_t len);
    void flush();
    pg_cryptohash_ctx *ctx_ = nullptr;
    MemoryContext owner_ = nullptr;  // non-null: reusable, and where its state lives
    std::size_t pending_ = 0;
    uint8 buf_[2048];
};
FA_LIVES_ACROSS_PG_CALLS(Sha256Sink);

// The SHA-256 of len bytes at data.
void sha256_bytes(const void *data, size_t len, uint8 out[forgea::core::kHashLen]);

// A palloc'd bytea holding a copy of data (hashes go to SQL as bytea).
bytea *bytea_from_bytes(const uint8 *data, size_t len);
