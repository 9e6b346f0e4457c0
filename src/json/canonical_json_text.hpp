// JSON text -> canonical JSON text (docs/chain.md), byte-identical to write_canonical_jsonb() of the
// same text cast to jsonb, without building that jsonb.  PostgreSQL's own streaming parser
// (common/jsonapi.h) drives a writer that streams arrays and scalars straight to the sink and
// buffers only objects, whose keys must be sorted (by length, then bytes) and de-duplicated the way
// jsonb does it: of repeated keys, the last one wins.  An outermost object is kept as a flat tree
// until it closes and then written once: linear in its size plus O(k log k) per object of k keys,
// whatever the nesting depth; every callback and write loop checks for interrupts.  Numbers are written as numeric_out prints
// numeric_in of their text, strings de-escaped and re-escaped by core::write_json_string.
//
// The semantic-action callbacks run inside pg_parse_json (C code that may ereport): everything they
// keep alive is palloc'd or trivially destructible.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
}

#include "core/byte_sink.hpp"
#include "core/chain_record.hpp"

// One member of a JSON object as a parser met it: the de-escaped key and the text of its value.
struct JsonMember {
    const char *key;
    int key_len;
    const char *value;
    int value_len;
    int order;  // position in the object: of repeated keys the highest order wins
};
FA_LIVES_ACROSS_PG_CALLS(JsonMember);

// How jsonb stores and prints a JSON number: numeric_out(numeric_in(token)).  token must be a
// NUL-terminated JSON number; an integer in canonical form is returned as is, without a call.
forgea::core::Bytes json_number_text(const char *token, size_t len);

// Writes the canonical JSON of the JSON value spelled by json[0..len).  Raises the errors jsonb_in
// would raise for that text (a syntax error, \u0000, a number numeric cannot hold).
void write_canonical_json_text(const char *json, int len, forgea::core::ByteSink &out);

// Writes the canonical JSON of an object from its members (any order, repeats allowed), each value
// canonicalised from its text.  Sorts members in place.  For a large object whose members a caller
// has already located: only one member's nested objects are buffered at a time.
void write_canonical_json_object(JsonMember *members, int n, forgea::core::ByteSink &out);
