#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

#include "json/canonical_json_text.hpp"

extern "C" {
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
}

#include <algorithm>

#include "core/canonical_json_bytes.hpp"
#include "json/canonical_jsonb.hpp"

using forgea::core::ByteSink;
using forgea::core::Bytes;

// How jsonb would print a number token: integers in canonical form are returned as they are,
// anything else goes through numeric_in and numeric_out.
Bytes json_number_text(const char *token, size_t len)
{
    // JSON forbids leading zeros, so -?[0-9]+ is already numeric_out's spelling, except "-0".
    size_t i = (len > 0 && token[0] == '-') ? 1 : 0;
    bool integer = i < len;
    for (; i < len && integer; i++)
        integer = token[i] >= '0' && token[i] <= '9';
    // Beyond numeric's 131,072 digits before the point numeric_in refuses it (22003), as jsonb_in
    // does: such integers take the long way, so both front ends accept exactly the same numbers.
    if (integer && len <= 1000 && !(len == 2 && token[0] == '-' && token[1] == '0'))
        return Bytes{token, len};
    Datum n = DirectFunctionCall3(numeric_in, CStringGetDatum(token), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
    char *text = DatumGetCString(DirectFunctionCall1(numeric_out, n));
    return Bytes{text, strlen(text)};
}

namespace {

// Canonical key order (length, then bytes); of equal keys the last one first: it is the one kept.
bool member_less(const JsonMember &a, const JsonMember &b)
{
    int c = forgea::core::compare_object_keys(a.key, static_cast<size_t>(a.key_len), b.key,
                                              static_cast<size_t>(b.key_len));
    if (c != 0)
        return c < 0;
    return a.order > b.order;
}

// Sorts members and writes {"key":value,...}, skipping the earlier of repeated keys;
// write_value(member) writes one value.  O(n log n) in the members, one interrupt check per member.
template <typename WriteValue>
void write_sorted_object(JsonMember *members, int n, ByteSink &out, WriteValue write_value)
{
    // std::sort allocates nothing (std::stable_sort might, and throw): order breaks the ties.
    std::sort(members, members + n, member_less);
    out.put_byte('{');
    bool first = true;
    for (int i = 0; i < n; i++) {
        CHECK_FOR_INTERRUPTS();
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

// While an object is open nothing can be written (its keys must be sorted first), so what the
// parser reports inside it is kept as a tree laid out flat, in document order:
//
//   arena    every byte of canonical output except objects' braces, keys, colons and commas:
//            scalars and arrays' brackets and commas, appended once and never moved;
//   nodes    one per object, in the order they open (pre-order), with the arena range and the
//            node range (its own index up to subtree_end) of everything inside it;
//   members  one per key, chained per object, with the arena range and node range of its value.
//
// When the outermost open object closes, it is written by walking the tree: each object's members
// sorted, each member's value written from its arena range with its child objects spliced in at
// their places.  Every byte is appended once and written once, whatever the nesting depth; sorting
// is O(k log k) per object.  (Copying each finished object's sorted text into its parent, as an
// earlier version did, costs the depth times the size: 10,000 levels over 10 MB ran for 35 s.)
struct Node {
    int arena_start;
    int arena_end;
    int first_member;  // index into members, -1 when empty; chained by Member::next
    int last_member;
    int nmembers;
    int subtree_end;   // the first node index after this object's descendants
};
FA_LIVES_ACROSS_PG_CALLS(Node);

struct Member {
    char *key;  // palloc'd by the parser; freed when the outermost object is written
    int key_len;
    int value_start;  // arena range of the value
    int value_end;
    int node_start;   // node range of the value: its objects (and theirs)
    int node_end;
    int next;         // the object's next member, or -1
};
FA_LIVES_ACROSS_PG_CALLS(Member);

// One open object or array.
struct Frame {
    bool is_object;
    int count;  // arrays: elements so far
    int node;   // objects: its node
};
FA_LIVES_ACROSS_PG_CALLS(Frame);

struct CanonState {
    ByteSink *out;
    StringInfo arena;
    Node *nodes;
    int nnodes;
    int node_capacity;
    Member *members;
    int nmembers;
    int member_capacity;
    Frame *frames;
    int depth;
    int capacity;
    int open_objects;
};
FA_LIVES_ACROSS_PG_CALLS(CanonState);

template <typename T>
T *grow(T *array, int *capacity, int needed)
{
    if (needed <= *capacity)
        return array;
    if (*capacity >= PG_INT32_MAX / 2)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("JSON value too large to canonicalise")));
    int next = *capacity == 0 ? 16 : *capacity * 2;
    T *grown = static_cast<T *>(array == nullptr ? MemoryContextAllocHuge(CurrentMemoryContext, next * sizeof(T))
                                                 : repalloc_huge(array, next * sizeof(T)));
    *capacity = next;
    return grown;
}

void emit(CanonState *s, const void *data, size_t len)
{
    if (s->open_objects > 0)
        appendBinaryStringInfo(s->arena, static_cast<const char *>(data), static_cast<int>(len));
    else
        s->out->put(data, len);
}

void emit_byte(CanonState *s, char c)
{
    if (s->open_objects > 0)
        appendStringInfoCharMacro(s->arena, c);
    else
        s->out->put_byte(static_cast<uint8_t>(c));
}

Frame *push_frame(CanonState *s, bool is_object)
{
    s->frames = grow(s->frames, &s->capacity, s->depth + 1);
    Frame *f = &s->frames[s->depth++];
    *f = Frame{is_object, 0, -1};
    return f;
}

// A sink that appends to the arena (for escaped strings written inside an object).
struct ArenaSink final : ByteSink {
    StringInfo b;
    explicit ArenaSink(StringInfo buf) : b(buf) {}
    void put(const void *data, std::size_t len) override
    {
        appendBinaryStringInfo(b, static_cast<const char *>(data), static_cast<int>(len));
    }
};
FA_LIVES_ACROSS_PG_CALLS(ArenaSink);

void write_node(const CanonState *s, int node, ByteSink &out);

// Writes the value whose arena range is [start, end) and whose objects are the nodes
// [node, node_end): the bytes between them as they are, each direct child object in canonical form.
void write_value_range(const CanonState *s, int start, int end, int node, int node_end, ByteSink &out)
{
    int pos = start;
    while (node < node_end) {
        CHECK_FOR_INTERRUPTS();
        const Node &child = s->nodes[node];
        out.put(s->arena->data + pos, static_cast<size_t>(child.arena_start - pos));
        write_node(s, node, out);
        pos = child.arena_end;
        node = child.subtree_end;
    }
    out.put(s->arena->data + pos, static_cast<size_t>(end - pos));
}

// One object: its members gathered, sorted, the last of repeated keys kept.
void write_node(const CanonState *s, int node, ByteSink &out)
{
    check_stack_depth();
    const Node &n = s->nodes[node];
    JsonMember *sorted = static_cast<JsonMember *>(MemoryContextAllocHuge(CurrentMemoryContext,
                                                                          Max(n.nmembers, 1) * sizeof(JsonMember)));
    int k = 0;
    for (int m = n.first_member; m >= 0; m = s->members[m].next, k++) {
        const Member &mm = s->members[m];
        // value: the member's index (the writer below looks it up); order: its place in the object.
        sorted[k] = JsonMember{mm.key, mm.key_len, reinterpret_cast<const char *>(static_cast<intptr_t>(m)), 0, k};
    }
    write_sorted_object(sorted, k, out, [s, &out](const JsonMember &jm) {
        const Member &mm = s->members[static_cast<int>(reinterpret_cast<intptr_t>(jm.value))];
        write_value_range(s, mm.value_start, mm.value_end, mm.node_start, mm.node_end, out);
    });
    pfree(sorted);
}

// Semantic actions of the streaming parser: each writes the canonical form of what it sees.  Object
// members are buffered (key and value text) so that they can be sorted into canonical key order.
void c_object_start(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    CHECK_FOR_INTERRUPTS();
    s->nodes = grow(s->nodes, &s->node_capacity, s->nnodes + 1);
    int node = s->nnodes++;
    s->nodes[node] = Node{s->arena->len, s->arena->len, -1, -1, 0, node + 1};
    Frame *f = push_frame(s, true);
    f->node = node;
    s->open_objects++;
}

void c_object_end(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    Frame *f = &s->frames[s->depth - 1];
    Node &n = s->nodes[f->node];
    n.arena_end = s->arena->len;
    n.subtree_end = s->nnodes;
    s->depth--;
    s->open_objects--;
    if (s->open_objects > 0)
        return;
    // The outermost open object: write it, and start the next one on an empty tree.
    write_node(s, f->node, *s->out);
    for (int i = 0; i < s->nmembers; i++)
        pfree(s->members[i].key);
    s->nmembers = 0;
    s->nnodes = 0;
    resetStringInfo(s->arena);
}

void c_array_start(void *state)
{
    CanonState *s = static_cast<CanonState *>(state);
    CHECK_FOR_INTERRUPTS();
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
    CHECK_FOR_INTERRUPTS();
    Frame *f = &s->frames[s->depth - 1];
    Node &n = s->nodes[f->node];
    s->members = grow(s->members, &s->member_capacity, s->nmembers + 1);
    int m = s->nmembers++;
    s->members[m] = Member{fname, static_cast<int>(strlen(fname)), s->arena->len, s->arena->len, s->nnodes,
                           s->nnodes, -1};
    if (n.last_member >= 0)
        s->members[n.last_member].next = m;
    else
        n.first_member = m;
    n.last_member = m;
    n.nmembers++;
}

void c_field_end(void *state, char *fname, bool isnull)
{
    CanonState *s = static_cast<CanonState *>(state);
    Frame *f = &s->frames[s->depth - 1];
    Member &m = s->members[s->nodes[f->node].last_member];
    m.value_end = s->arena->len;
    m.node_end = s->nnodes;
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
    CHECK_FOR_INTERRUPTS();
    switch (type) {
        case JSON_TOKEN_STRING:
            if (s->open_objects > 0) {
                ArenaSink sink(s->arena);
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

// Parses json[0..len) once with PostgreSQL's streaming parser and writes its canonical JSON
// (see the tree above); arrays and scalars outside any object go straight to the sink.
void write_canonical_json_text(const char *json, int len, ByteSink &out)
{
    JsonLexContext *lex = makeJsonLexContextCstringLen(const_cast<char *>(json), len, GetDatabaseEncoding(), true);
    CanonState *s = static_cast<CanonState *>(palloc0(sizeof(CanonState)));
    s->out = &out;
    s->arena = makeStringInfo();

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

    pfree(s->arena->data);
    pfree(s->arena);
    if (s->nodes != nullptr)
        pfree(s->nodes);
    if (s->members != nullptr)
        pfree(s->members);
    if (s->frames != nullptr)
        pfree(s->frames);
    pfree(s);
    if (lex->strval != nullptr) {
        pfree(lex->strval->data);
        pfree(lex->strval);
    }
    pfree(lex);
}

// The root object of a payload whose members a caller located: each value canonicalised from its
// own text, so only one member's objects are held at a time.
void write_canonical_json_object(JsonMember *members, int n, ByteSink &out)
{
    write_sorted_object(members, n, out, [&out](const JsonMember &m) {
        write_canonical_json_text(m.value, m.value_len, out);
    });
}
