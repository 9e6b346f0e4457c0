#include "pg/core_headers.hpp"  // first: see there

#include "json/canonical_jsonb.hpp"

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
}

#include "core/canonical_json_bytes.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"

using forgea::core::ByteSink;

// The digits of a numeric that is an integer in the short on-disk format (every integer below
// 10^256 that jsonb stores), written as numeric_out prints it: sign, the first base-10000 digit
// without leading zeros, every further one as four digits.  False for any other numeric, which
// numeric_out prints.  The layout is PostgreSQL's on-disk one (src/backend/utils/adt/numeric.c,
// NumericShort), which pg_upgrade keeps: a 16-bit header (0x8000 short, 0x2000 negative, dscale in
// 0x1F80, weight in 0x007F with 0x0040 its sign), then int16 digits.
template <typename Sink>
static bool write_short_integer(const struct varlena *num, Sink &out)
{
    if (!VARATT_IS_4B_U(num) || VARSIZE(num) < VARHDRSZ + sizeof(uint16))
        return false;
    const char *p = VARDATA(num);
    uint16 header;
    memcpy(&header, p, sizeof header);
    if ((header & 0xC000) != 0x8000 || (header & 0x1F80) != 0 || (header & 0x0040) != 0)
        return false;  // not short, a fraction digit or a negative weight
    int weight = header & 0x003F;
    int ndigits = static_cast<int>((VARSIZE(num) - VARHDRSZ - sizeof(uint16)) / sizeof(int16));
    if (ndigits == 0) {
        out.put_byte('0');
        return true;
    }
    if (ndigits > weight + 1)
        return false;
    char buf[4 + 4 * 64 + 1];
    int n = 0;
    if (header & 0x2000)
        buf[n++] = '-';
    for (int d = 0; d <= weight; d++) {
        int16 digit = 0;
        if (d < ndigits)
            memcpy(&digit, p + sizeof(uint16) + d * sizeof(int16), sizeof digit);
        if (digit < 0 || digit >= 10000 || (d == 0 && digit == 0))
            return false;  // not what numeric.c writes: let numeric_out decide
        if (d == 0) {
            char tmp[4];
            int k = 0;
            while (digit > 0) {
                tmp[k++] = static_cast<char>('0' + digit % 10);
                digit = static_cast<int16>(digit / 10);
            }
            while (k > 0)
                buf[n++] = tmp[--k];
        } else {
            buf[n + 3] = static_cast<char>('0' + digit % 10);
            buf[n + 2] = static_cast<char>('0' + digit / 10 % 10);
            buf[n + 1] = static_cast<char>('0' + digit / 100 % 10);
            buf[n] = static_cast<char>('0' + digit / 1000);
            n += 4;
        }
    }
    out.put(buf, static_cast<std::size_t>(n));
    return true;
}

template <typename Sink>
static void write_container(const JsonbContainer *jc, Sink &out, bool top = false);

// One element of a container, from its JEntry and its bytes at base + offset.
template <typename Sink>
static void write_entry(JEntry entry, const char *base, uint32 offset, uint32 end, Sink &out)
{
    switch (entry & JENTRY_TYPEMASK) {
        case JENTRY_ISSTRING:
            forgea::core::write_json_string_to(out, base + offset, end - offset);
            break;
        case JENTRY_ISNUMERIC: {
            // Numerics and containers start at the next 4-byte boundary (the padding counts in
            // their length): as fillJsonbValue reads them.
            const struct varlena *num = reinterpret_cast<const struct varlena *>(base + INTALIGN(offset));
            if (!write_short_integer(num, out)) {
                // numeric_out is independent of every session setting and round-trips through
                // dump/restore: the digits PostgreSQL prints are the digits it stored.
                char *text = DatumGetCString(DirectFunctionCall1(numeric_out, PointerGetDatum(num)));
                out.put(text, strlen(text));
                pfree(text);
            }
            break;
        }
        case JENTRY_ISBOOL_TRUE:
            out.put("true", 4);
            break;
        case JENTRY_ISBOOL_FALSE:
            out.put("false", 5);
            break;
        case JENTRY_ISNULL:
            out.put("null", 4);
            break;
        case JENTRY_ISCONTAINER:
            write_container(reinterpret_cast<const JsonbContainer *>(base + INTALIGN(offset)), out);
            break;
        default:
            elog(ERROR, "unexpected jsonb entry type %u", static_cast<unsigned>(entry & JENTRY_TYPEMASK));
    }
}

// The end offset of child i, given its start (the running sum that getJsonbOffset() computes from
// the nearest stored offset).
static inline uint32 entry_end(JEntry entry, uint32 start)
{
    return JBE_HAS_OFF(entry) ? JBE_OFFLENFLD(entry) : start + JBE_OFFLENFLD(entry);
}

// The keys of the last two root objects written that had kKeyCacheMinKeys or more, none needing an
// escape: their key JEntries and key bytes as stored, and the text each key is written as (a comma
// before every key but the first, the quoted key, the colon).  The log's metadata objects of one
// action share their keys (a LAB_VERIFY_ATTEMPT row's 15, of the ~24 strings its metadata has), so
// the verifier re-serialising every row's metadata writes the keys from here, after two memcmp,
// instead of checking each for escapes and copying it in pieces; two entries, so that a row's
// metadata and proof, or two actions' rows in turn, do not evict each other.  An object whose key
// JEntries and bytes are an entry's has exactly its keys in this order (the JEntries give each
// key's length), so the text is the same.  A miss fills the older entry and writes from it (the
// keys checked once, as without the cache).  Per backend; an error while the object's values are
// written leaves the entry valid.
constexpr uint32 kKeyCacheMinKeys = 4;
constexpr uint32 kKeyCacheMaxKeys = 32;
constexpr uint32 kKeyCacheMaxBytes = 512;
struct KeyCache {
    uint32 count;      // keys; 0: empty
    uint32 key_bytes;  // the keys' bytes, as stored (an object's first value starts there)
    JEntry entries[kKeyCacheMaxKeys];
    char keys[kKeyCacheMaxBytes];
    uint32 piece_end[kKeyCacheMaxKeys];  // key i's text is text[piece_end[i - 1] .. piece_end[i])
    char text[kKeyCacheMaxBytes + 4 * kKeyCacheMaxKeys];
};
static KeyCache key_cache[2];
static int key_cache_older;  // the entry the next miss refills

// The entry holding the object's keys, or nullptr.  Equal key JEntries give equal key lengths, so
// the keys' bytes (where the first value starts) are then the entry's key_bytes.
static inline const KeyCache *key_cache_find(const JEntry *children, uint32 count, const char *base)
{
    for (const KeyCache &c : key_cache)
        if (c.count == count && memcmp(c.entries, children, count * sizeof(JEntry)) == 0 &&
            memcmp(c.keys, base, c.key_bytes) == 0)
            return &c;
    return nullptr;
}

// Puts an object's keys (key_bytes of them, from base) into the older entry and returns it; nullptr
// (and the entry left empty) if they are too many or too long, or one needs an escape.
static const KeyCache *key_cache_fill(const JEntry *children, uint32 count, const char *base, uint32 key_bytes)
{
    if (count < kKeyCacheMinKeys || count > kKeyCacheMaxKeys || key_bytes > kKeyCacheMaxBytes)
        return nullptr;
    KeyCache &c = key_cache[key_cache_older];
    c.count = 0;
    uint32 start = 0, at = 0;
    for (uint32 i = 0; i < count; i++) {
        uint32 end = JBE_HAS_OFF(children[i]) ? JBE_OFFLENFLD(children[i]) : start + JBE_OFFLENFLD(children[i]);
        if (end < start || end > key_bytes || forgea::core::first_escape(base + start, end - start) != end - start)
            return nullptr;
        if (i > 0)
            c.text[at++] = ',';
        c.text[at++] = '"';
        memcpy(c.text + at, base + start, end - start);
        at += end - start;
        c.text[at++] = '"';
        c.text[at++] = ':';
        c.piece_end[i] = at;
        start = end;
    }
    if (start != key_bytes)
        return nullptr;
    memcpy(c.entries, children, count * sizeof(JEntry));
    memcpy(c.keys, base, key_bytes);
    c.key_bytes = key_bytes;
    c.count = count;
    key_cache_older ^= 1;
    return &c;
}

// Walks the binary container itself (no JsonbIterator: no JsonbValue per token, no allocation):
// children in storage order, which for an object is its keys sorted by (length, bytes) with
// duplicates removed, exactly the canonical order; then the values, in the same order.  A raw
// scalar (the root of '5'::jsonb) is written without its one-element array.  Only the root object
// (top) uses and fills the key cache: a nested one could refill it while its parent's keys are
// written from it.
template <typename Sink>
static void write_container(const JsonbContainer *jc, Sink &out, bool top)
{
    check_stack_depth();
    CHECK_FOR_INTERRUPTS();
    uint32 header = jc->header;
    uint32 count = header & JB_CMASK;
    const JEntry *children = jc->children;
    if (header & JB_FOBJECT) {
        const char *base = reinterpret_cast<const char *>(children + 2 * count);
        uint32 key_start = 0;
        out.put_byte('{');
        const KeyCache *kc = nullptr;
        uint32 value_start;
        if (top && count >= kKeyCacheMinKeys && (kc = key_cache_find(children, count, base)) != nullptr) {
            value_start = kc->key_bytes;
        } else {
            value_start = count > 0 ? getJsonbOffset(jc, static_cast<int>(count)) : 0;
            if (top && count >= kKeyCacheMinKeys)
                kc = key_cache_fill(children, count, base, value_start);
        }
        if (kc != nullptr) {
            uint32 piece_start = 0;
            for (uint32 i = 0; i < count; i++) {
                out.put(kc->text + piece_start, kc->piece_end[i] - piece_start);
                piece_start = kc->piece_end[i];
                uint32 value_end = entry_end(children[count + i], value_start);
                write_entry(children[count + i], base, value_start, value_end, out);
                value_start = value_end;
            }
            out.put_byte('}');
            return;
        }
        for (uint32 i = 0; i < count; i++) {
            if (i > 0)
                out.put_byte(',');
            uint32 key_end = entry_end(children[i], key_start);
            forgea::core::write_json_string_to(out, base + key_start, key_end - key_start);
            out.put_byte(':');
            uint32 value_end = entry_end(children[count + i], value_start);
            write_entry(children[count + i], base, value_start, value_end, out);
            key_start = key_end;
            value_start = value_end;
        }
        out.put_byte('}');
        return;
    }
    const char *base = reinterpret_cast<const char *>(children + count);
    bool raw_scalar = (header & JB_FSCALAR) != 0;
    if (!raw_scalar)
        out.put_byte('[');
    uint32 start = 0;
    for (uint32 i = 0; i < count; i++) {
        if ((i & 1023) == 1023)
            CHECK_FOR_INTERRUPTS();
        if (i > 0)
            out.put_byte(',');
        uint32 end = entry_end(children[i], start);
        write_entry(children[i], base, start, end, out);
        start = end;
    }
    if (!raw_scalar)
        out.put_byte(']');
}

// A template so that a concrete sink's put() is inlined (see write_json_string_to).
template <typename Sink>
static void write_canonical(const Jsonb *jb, Sink &out)
{
    write_container(&jb->root, out, true);
}

// The canonical writer through the ByteSink interface, for callers without a concrete sink type.
void write_canonical_jsonb(const Jsonb *jb, ByteSink &out)
{
    write_canonical(jb, out);
}

namespace {

// A sink over a StringInfo that keeps its write position itself, and sets len and the closing NUL
// once at the end: StringInfoSink re-reads data, len and maxlen after every byte it stores (a char
// store may alias them) and stores a NUL each time, which showed in verify_chain()'s profile.
class CursorSink final : public ByteSink {
public:
    explicit CursorSink(StringInfo buf) : buf_(buf), at_(buf->data + buf->len), end_(buf->data + buf->maxlen - 1) {}
    void put_byte(uint8 b)
    {
        if (at_ == end_)
            grow(1);
        *at_++ = static_cast<char>(b);
    }
    void put(const void *data, std::size_t len) override
    {
        if (static_cast<std::size_t>(end_ - at_) < len)
            grow(len);
        memcpy(at_, data, len);
        at_ += len;
    }
    // Sets the StringInfo's length and NUL; the sink is not used afterwards.
    void done()
    {
        buf_->len = static_cast<int>(at_ - buf_->data);
        buf_->data[buf_->len] = '\0';
    }

private:
    // Room for len more bytes (and the NUL): enlargeStringInfo may raise (past 1 GB), with nothing
    // to destroy here.
    void grow(std::size_t len)
    {
        buf_->len = static_cast<int>(at_ - buf_->data);
        enlargeStringInfo(buf_, static_cast<int>(len));
        at_ = buf_->data + buf_->len;
        end_ = buf_->data + buf_->maxlen - 1;
    }

    StringInfo buf_;
    char *at_;
    char *end_;
};
FA_LIVES_ACROSS_PG_CALLS(CursorSink);

}  // namespace

// Into a new palloc'd StringInfo (the append hashes and stores it).
StringInfo canonical_jsonb_text(const Jsonb *jb)
{
    StringInfo buf = makeStringInfo();
    CursorSink sink(buf);
    write_canonical(jb, sink);
    sink.done();
    return buf;
}

// Into a reused buffer: verify_chain encodes two jsonb columns per row without a new allocation.
void canonical_jsonb_into(const Jsonb *jb, StringInfo buf)
{
    resetStringInfo(buf);
    CursorSink sink(buf);
    write_canonical(jb, sink);
    sink.done();
}

// forgea_audit.canonical_json(jsonb) RETURNS text: the bytes the chain hashes for a jsonb value,
// for anyone re-implementing the verifier to compare against.
FA_FUNCTION(fa_canonical_json, "forgea_audit.canonical_json")
{
    StringInfo text = canonical_jsonb_text(fa_arg<SqlJsonb>(fcinfo, 0, "value"));
    PG_RETURN_TEXT_P(cstring_to_text_with_len(text->data, text->len));
}
