#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

#include "json/canonical_json_text.hpp"

extern "C" {
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonfuncs.h"
#include "utils/numeric.h"
}

#include <algorithm>

#include "core/canonical_json_bytes.hpp"
#include "json/canonical_jsonb.hpp"

using forgea::core::ByteSink;
using forgea::core::Bytes;

Bytes json_number_text(const char *token, size_t len)
{
    // JSON forbids leading zeros, so -?[0-9]+ is already numeric_out's spelling, except "-0".
    size_t i = (len > 0 && token[0] == '-') ? 1 : 0;
    bool integer = i < len;
    for (; i < len && integer; i++)
        integer = token[i] >= '0' && token[i] <= '9';
    if (integer && !(len == 2 && token[0] == '-' && token[1] == '0'))
        return Bytes{token, len};
    Datum n = DirectFunctionCall3(numeric_in, CStringGetDatum(token), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    char *text = DatumGetCString(DirectFunctionCall1(numeric_out, n));
    return Bytes{text, strlen(text)};
}

namespace {

bool member_less(const JsonMember &a, const JsonMember &b)
{
    int c = forgea::core::compare_object_keys(a.key, static_cast<size_t>(a.key_len), b.key,
                                              static_cast<size_t>(b.key_len));
    if (c != 0)
        return c < 0;
    return a.order > b.order;  // of equal keys the last one first: it is the one kept
}

// Sorts members and writes {"key":value,...} with values taken from base + value offsets (value is
// an offset when base is not null, else a pointer).  write_value(member) writes one value.
template <typename WriteValue>
void write_sorted_object(JsonMember *members, int n, ByteSink &out, WriteValue write_value)
{
    // std::sort allocates nothing (std::stable_sort might, and throw): order breaks the ties.
    std::sort(members, members + n, member_less);
    out.put_byte('{');
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (i > 0 && members[i].key_len == members[i - 1].key_len &&
            memcmp(members[i].key, members[i - 1].key, members[i].key_len) == 0)
            continue;  // a repeated key: the later value (sorted first) was written
        if (!first)
            out.put_byte(',');
        first = false;
        forgea::core::write_json_string(out, members[i].key, static_cast<size_t>(members[i].key_len));
        out.put_byte(':');
        write_value(members[i]);
    }
    out.put_byte('}');
}

// One open object or array of the value being written.
struct Frame {
    bool is_object;
    int count;            // arrays: elements so far
    int buf_start;        // objects: where their members' bytes start in buf
    JsonMember *members;  // objects: here value is an offset into buf, not a pointer (buf moves as it grows)
    int nmembers;
    int capacity;
};
FA_LIVES_ACROSS_PG_CALLS(Frame);

struct CanonState {
    JsonLexContext *lex;
    ByteSink *out;
    StringInfo buf;  // the members of the open objects, in document order
    StringInfo tmp;  // a finished nested object, sorted
    Frame *frames;
    int depth;
    int capacity;
    int open_objects;
};
FA_LIVES_ACROSS_PG_CALLS(CanonState);

void emit(CanonState *s, const void *data, size_t len)
{
    if (s->open_objects > 0)
        appendBinaryStringInfo(s->buf, static_cast<const char *>(data), static_cast<int>(len));
    else
        s->out->put(data, len);
}

void emit_byte(CanonState *s, char c)
{
    if (s->open_objects > 0)
        appendStringInfoCharMacro(s->buf, c);
    else
        s->out->put_byte(static_cast<uint8_t>(c));
}

Frame *push_frame(CanonState *s, bool is_object)
{
    if (s->depth == s->capacity) {
        s->capacity = s->capacity == 0 ? 16 : s->capacity * 2;
        s->frames = static_cast<Frame *>(s->frames == nullptr ? palloc(s->capacity * sizeof(Frame))
                                                              : repalloc(s->frames, s->capacity * sizeof(Frame)));
    }
    Frame *f = &s->frames[s->depth++];
    *f = Frame{is_object, 0, s->buf->len, nullptr, 0, 0};
    return f;
}

// A buffer sink for one finished nested object.
struct BufSink final : ByteSink {
    StringInfo b;
    explicit BufSink(StringInfo buf) : b(buf) {}
    void put(const void *data, std::size_t len) override
    {
        appendBinaryStringInfo(b, static_cast<const char *>(data), static_cast<int>(len));
    }
};
FA_LIVES_ACROSS_PG_CALLS(BufSink);

void c_object_start(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    push_frame(s, true);
    s->open_objects++;
}

void c_object_end(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    Frame *f = &s->frames[s->depth - 1];
    StringInfo buf = s->buf;
    auto from_buf = [buf](ByteSink &sink) {
        return [buf, &sink](const JsonMember &m) {
            sink.put(buf->data + reinterpret_cast<intptr_t>(m.value), static_cast<size_t>(m.value_len));
        };
    };
    if (s->open_objects == 1) {
        // The outermost open object: straight to the sink.
        write_sorted_object(f->members, f->nmembers, *s->out, from_buf(*s->out));
        buf->len = f->buf_start;
    } else {
        resetStringInfo(s->tmp);
        BufSink sink(s->tmp);
        write_sorted_object(f->members, f->nmembers, sink, from_buf(sink));
        buf->len = f->buf_start;
        appendBinaryStringInfo(buf, s->tmp->data, s->tmp->len);
    }
    for (int i = 0; i < f->nmembers; i++)
        pfree(const_cast<char *>(f->members[i].key));
    if (f->members != nullptr)
        pfree(f->members);
    s->depth--;
    s->open_objects--;
}

void c_array_start(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    emit_byte(s, '[');
    push_frame(s, false);
}

void c_array_end(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    s->depth--;
    emit_byte(s, ']');
}

void c_field_start(void *state, char *fname, bool isnull)
{
    CanonState *s = static_cast<CanonState *>(state);
    Frame *f = &s->frames[s->depth - 1];
    if (f->nmembers == f->capacity) {
        f->capacity = f->capacity == 0 ? 16 : f->capacity * 2;
        f->members = static_cast<JsonMember *>(f->members == nullptr
                                                   ? palloc(f->capacity * sizeof(JsonMember))
                                                   : repalloc(f->members, f->capacity * sizeof(JsonMember)));
    }
    // The key is kept (freed with the object); the value's bytes are buf[value, value + value_len).
    f->members[f->nmembers] = JsonMember{fname, static_cast<int>(strlen(fname)),
                                         reinterpret_cast<const char *>(static_cast<intptr_t>(s->buf->len)), 0,
                                         f->nmembers};
    f->nmembers++;
}

void c_field_end(void *state, char *fname, bool isnull)
{
    CanonState *s = static_cast<CanonState *>(state);
    Frame *f = &s->frames[s->depth - 1];
    JsonMember &m = f->members[f->nmembers - 1];
    m.value_len = s->buf->len - static_cast<int>(reinterpret_cast<intptr_t>(m.value));
}

void c_element_start(void *state, bool isnull)
{
    CanonState *s = static_cast<CanonState *>(state);
    Frame *f = &s->frames[s->depth - 1];
    if (f->count++ > 0)
        emit_byte(s, ',');
}

void c_scalar(void *state, char *token, JsonTokenType type)
{
    CanonState *s = static_cast<CanonState *>(state);
    switch (type) {
        case JSON_TOKEN_STRING:
            if (s->open_objects > 0) {
                BufSink sink(s->buf);
                forgea::core::write_json_string(sink, token, strlen(token));
            } else {
                forgea::core::write_json_string(*s->out, token, strlen(token));
            }
            break;
        case JSON_TOKEN_NUMBER: {
            Bytes n = json_number_text(token, strlen(token));
            emit(s, n.data, n.len);
            if (n.data != token)
                pfree(const_cast<char *>(n.data));
            break;
        }
        case JSON_TOKEN_TRUE: emit(s, "true", 4); break;
        case JSON_TOKEN_FALSE: emit(s, "false", 5); break;
        default: emit(s, "null", 4); break;
    }
    pfree(token);
}

}  // namespace

void write_canonical_json_text(const char *json, int len, ByteSink &out)
{
    JsonLexContext *lex = makeJsonLexContextCstringLen(const_cast<char *>(json), len, GetDatabaseEncoding(), true);
    CanonState *s = static_cast<CanonState *>(palloc0(sizeof(CanonState)));
    s->lex = lex;
    s->out = &out;
    s->buf = makeStringInfo();
    s->tmp = makeStringInfo();

    JsonSemAction sem;
    memset(&sem, 0, sizeof sem);
    sem.semstate = s;
    sem.object_start = c_object_start;
    sem.object_end = c_object_end;
    sem.array_start = c_array_start;
    sem.array_end = c_array_end;
    sem.object_field_start = c_field_start;
    sem.object_field_end = c_field_end;
    sem.array_element_start = c_element_start;
    sem.scalar = c_scalar;

    JsonParseErrorType rc = pg_parse_json(lex, &sem);
    if (rc != JSON_SUCCESS)
        json_ereport_error(rc, lex);

    pfree(s->buf->data);
    pfree(s->buf);
    pfree(s->tmp->data);
    pfree(s->tmp);
    if (s->frames != nullptr)
        pfree(s->frames);
    pfree(s);
    if (lex->strval != nullptr) {
        pfree(lex->strval->data);
        pfree(lex->strval);
    }
    pfree(lex);
}

void write_canonical_json_object(JsonMember *members, int n, ByteSink &out)
{
    write_sorted_object(members, n, out, [&out](const JsonMember &m) {
        write_canonical_json_text(m.value, m.value_len, out);
    });
}
