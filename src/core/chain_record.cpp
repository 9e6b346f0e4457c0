#include "chain_record.hpp"

namespace forgea::core {

namespace {

void put_u32_be(ByteSink &out, std::uint32_t v)
{
    std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                         static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
    out.put(b, sizeof b);
}

void put_i64_be(ByteSink &out, std::int64_t sv)
{
    std::uint64_t v = static_cast<std::uint64_t>(sv);
    std::uint8_t b[8];
    for (int i = 7; i >= 0; i--) {
        b[i] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
    out.put(b, sizeof b);
}

void put_int(ByteSink &out, std::int64_t v, FieldTag tag = FieldTag::Int64)
{
    out.put_byte(static_cast<std::uint8_t>(tag));
    put_i64_be(out, v);
}

// Length before bytes: no value can be mistaken for the start of the next field.
void put_var(ByteSink &out, FieldTag tag, const Bytes &b)
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

}  // namespace

// The bytes a row's hash covers (docs/chain.md, "Encoding"): a version byte, then every field in a
// fixed order, each tagged and length-prefixed, so that NULL, empty and different splits of the
// same text never encode alike.
void encode_record_v1(const AuditRecord &r, ByteSink &out)
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

}  // namespace forgea::core
