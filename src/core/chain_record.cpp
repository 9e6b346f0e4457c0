#include "chain_record.hpp"

#include <cstring>

namespace forgea::core {

namespace {

// The encoding writes through one of two outputs: any ByteSink (the hashers, the tests), or plain
// memory sized beforehand (verify_chain()'s rows, ~50 small pieces each, hashed two at a time):
// the same code, so the two can never differ.
struct SinkOut {
    ByteSink &sink;
    void put(const void *data, std::size_t len) { sink.put(data, len); }
    void put_byte(std::uint8_t b) { sink.put_byte(b); }
};

struct MemoryOut {
    std::uint8_t *at;
    void put(const void *data, std::size_t len)
    {
        std::memcpy(at, data, len);
        at += len;
    }
    void put_byte(std::uint8_t b) { *at++ = b; }
};

template <typename Out>
void put_u32_be(Out &out, std::uint32_t v)
{
    std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                         static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out.put(b, sizeof b);
}

template <typename Out>
void put_i64_be(Out &out, std::int64_t sv)
{
    std::uint64_t v = static_cast<std::uint64_t>(sv);
    std::uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
    out.put(b, sizeof b);
}

template <typename Out>
void put_int(Out &out, std::int64_t v, FieldTag tag = FieldTag::Int64)
{
    out.put_byte(static_cast<std::uint8_t>(tag));
    put_i64_be(out, v);
}

// Length before bytes: no value can be mistaken for the start of the next field.
template <typename Out>
void put_var(Out &out, FieldTag tag, const Bytes &b)
{
    if (b.is_null()) {
        out.put_byte(static_cast<std::uint8_t>(FieldTag::Null));
        return;
    }
    out.put_byte(static_cast<std::uint8_t>(tag));
    put_u32_be(out, static_cast<std::uint32_t>(b.len));
    if (b.len > 0)
        out.put(b.data, b.len);
}

// The bytes a row's hash covers (docs/chain.md, "Encoding"): a version byte, then every field in a
// fixed order, each tagged and length-prefixed, so that NULL, empty and different splits of the
// same text never encode alike.
template <typename Out>
void encode(const AuditRecord &r, Out &out)
{
    out.put_byte(kChainEncodingVersion);
    put_int(out, r.seq);
    put_var(out, FieldTag::Text, r.chain_id);
    put_int(out, r.chain_pos);
    put_var(out, FieldTag::Bytes, Bytes{reinterpret_cast<const char *>(r.prev_hash), kHashLen});
    put_int(out, r.created_at_unix_us, FieldTag::Timestamp);
    put_var(out, FieldTag::Text, r.tenant_id);
    put_var(out, FieldTag::Text, r.user_id);
    put_var(out, FieldTag::Text, r.actor_type);
    put_var(out, FieldTag::Text, r.actor_id);
    put_var(out, FieldTag::Text, r.action);
    put_var(out, FieldTag::Text, r.target_type);
    put_var(out, FieldTag::Text, r.target_id);
    put_var(out, FieldTag::Text, r.outcome);
    put_var(out, FieldTag::Text, r.severity);
    put_var(out, FieldTag::Json, r.metadata_json);
    put_var(out, FieldTag::Json, r.proof_json);
    put_var(out, FieldTag::Text, r.correlation_id);
    if (r.parent_seq.is_null)
        out.put_byte(static_cast<std::uint8_t>(FieldTag::Null));
    else
        put_int(out, r.parent_seq.value);
}

}  // namespace

void encode_record_v1(const AuditRecord &r, ByteSink &out)
{
    SinkOut o{out};
    encode(r, o);
}

std::size_t encoded_length_bound_v1(const AuditRecord &r)
{
    const Bytes *var[] = {&r.chain_id, &r.tenant_id, &r.user_id, &r.actor_type, &r.actor_id, &r.action,
                          &r.target_type, &r.target_id, &r.outcome, &r.severity, &r.metadata_json,
                          &r.proof_json, &r.correlation_id};
    std::size_t n = 1 + 4 * 9 + 5 + kHashLen;  // version; seq, chain_pos, created_at, parent_seq; prev_hash
    for (const Bytes *b : var)
        n += 5 + b->len;
    return n;
}

std::size_t encode_record_v1_into(const AuditRecord &r, std::uint8_t *out)
{
    MemoryOut o{out};
    encode(r, o);
    return static_cast<std::size_t>(o.at - out);
}

}  // namespace forgea::core
