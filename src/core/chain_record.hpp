// The audit row as the chain sees it, and its canonical byte encoding (docs/chain.md).
//
// Everything here is plain data pointing at bytes someone else owns: inside the backend those are
// palloc'd or inside a tuple, so nothing in this struct needs a destructor.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "byte_sink.hpp"

namespace forgea::core {

constexpr std::uint8_t kChainEncodingVersion = 1;
constexpr std::size_t kHashLen = 32;  // SHA-256

// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's timestamp epoch).
constexpr std::int64_t kUnixToPgEpochMicros = INT64_C(946684800000000);

// A nullable byte string.  data == nullptr means SQL NULL; a present empty value has len == 0.
struct Bytes {
    const char *data = nullptr;
    std::size_t len = 0;

    bool is_null() const { return data == nullptr; }
};

struct NullableInt64 {
    bool is_null = true;
    std::int64_t value = 0;
};

// Field order here is the order of the encoding; docs/chain.md lists the same order.
struct AuditRecord {
    std::int64_t seq = 0;
    Bytes chain_id;
    std::int64_t chain_pos = 0;
    const std::uint8_t *prev_hash = nullptr;  // kHashLen bytes
    std::int64_t created_at_unix_us = 0;      // microseconds since 1970-01-01T00:00:00Z
    Bytes tenant_id;
    Bytes user_id;
    Bytes actor_type;
    Bytes actor_id;
    Bytes action;
    Bytes target_type;
    Bytes target_id;
    Bytes outcome;
    Bytes severity;
    Bytes metadata_json;  // canonical JSON text (canonical_json.hpp)
    Bytes proof_json;     // canonical JSON text, or NULL
    Bytes correlation_id;
    NullableInt64 parent_seq;
};

// Field type tags of encoding version 1.
enum class FieldTag : std::uint8_t {
    Null = 'N',
    Int64 = 'I',
    Text = 'T',
    Bytes = 'B',
    Json = 'J',
    Timestamp = 'Z',
};

// Writes the version byte followed by every field of r, each as tag + payload.
void encode_record_v1(const AuditRecord &r, ByteSink &out);

// The same bytes into plain memory of at least encoded_length_bound_v1(r) bytes (no sink, no
// virtual call per piece: verify_chain()'s rows); returns their length.
std::size_t encoded_length_bound_v1(const AuditRecord &r);
std::size_t encode_record_v1_into(const AuditRecord &r, std::uint8_t *out);

}  // namespace forgea::core
