// jsonb -> canonical JSON text (docs/chain.md), to a StringInfo or any ByteSink (the SHA-256 sink of
// pg/sha256.hpp included).
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
}

#include "core/byte_sink.hpp"
#include "core/chain_record.hpp"

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
FA_LIVES_ACROSS_PG_CALLS(StringInfoSink);

// Writes the canonical JSON text of a jsonb value (object, array or scalar) to out.
void write_canonical_jsonb(const Jsonb *jb, forgea::core::ByteSink &out);

// The canonical JSON text of jb as a palloc'd StringInfo.
StringInfo canonical_jsonb_text(const Jsonb *jb);

// The same into buf, which is reset first (for callers that reuse one buffer per row).
void canonical_jsonb_into(const Jsonb *jb, StringInfo buf);
