// jsonb -> canonical JSON text (docs/chain.md), and SHA-256 through PostgreSQL's cryptohash.
#pragma once

extern "C" {
#include "postgres.h"
#include "common/cryptohash.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
}

#include "core/byte_sink.hpp"
#include "core/chain_record.hpp"
#include "core/hasher.hpp"

// A sink that appends to a palloc'd StringInfo.
class StringInfoSink final : public forgea::core::ByteSink {
public:
    explicit StringInfoSink(StringInfo buf) : buf_(buf) {}
    void put_byte(uint8 b)
    {
        if (buf_->len + 1 < buf_->maxlen) {
            buf_->data[buf_->len++] = static_cast<char>(b);
            buf_->data[buf_->len] = '\0';
            return;
        }
        appendStringInfoChar(buf_, static_cast<char>(b));
    }
    void put(const void *data, std::size_t len) override
    {
        // The canonical writer puts many tiny pieces: copy in place while they fit.
        if (static_cast<std::size_t>(buf_->len) + len < static_cast<std::size_t>(buf_->maxlen)) {
            memcpy(buf_->data + buf_->len, data, len);
            buf_->len += static_cast<int>(len);
            buf_->data[buf_->len] = '\0';
            return;
        }
        appendBinaryStringInfo(buf_, static_cast<const char *>(data), static_cast<int>(len));
    }

private:
    StringInfo buf_;
};

// SHA-256 through PostgreSQL's cryptohash, fed as a sink: a 20 MB payload is hashed without a
// 20 MB copy.  The context is created on the first put() and freed by finish(); one left behind by
// an error belongs to the resource owner, which frees it on abort.  Small pieces (a record's
// encoding is ~40 of them) are gathered in a buffer first: one cryptohash update per row instead
// of one per field, which was a sixth of verify_chain()'s time.
class Sha256Sink final : public forgea::core::Hasher {
public:
    // A reusable sink keeps its context between finish() calls (one per row of a verification,
    // not one allocation per row); its owner calls release() when done.
    explicit Sha256Sink(bool reusable = false) : reusable_(reusable) {}
    void put(const void *data, std::size_t len) override;
    void finish(uint8 out[forgea::core::kHashLen]) override;
    void release();

private:
    void start();
    void update(const void *data, std::size_t len);
    void flush();
    pg_cryptohash_ctx *ctx_ = nullptr;
    bool reusable_;
    std::size_t pending_ = 0;
    uint8 buf_[2048];
};

// Writes the canonical JSON text of a jsonb value (object, array or scalar) to out.
void write_canonical_jsonb(const Jsonb *jb, forgea::core::ByteSink &out);

// The canonical JSON text of jb as a palloc'd StringInfo.
StringInfo canonical_jsonb_text(const Jsonb *jb);

// The same into buf, which is reset first (for callers that reuse one buffer per row).
void canonical_jsonb_into(const Jsonb *jb, StringInfo buf);

void sha256_bytes(const void *data, size_t len, uint8 out[forgea::core::kHashLen]);

// A palloc'd bytea holding a copy of data (hashes go to SQL as bytea).
bytea *bytea_from_bytes(const uint8 *data, size_t len);
