// Canonical JSON text, version 1 (docs/chain.md, "Canonical JSON").
//
// The walk over a concrete JSON value (a jsonb datum in the backend, a parsed export in a verifier)
// belongs to the caller; this file owns the parts that decide bytes: string escaping and the key
// order.  No whitespace anywhere; numbers are written as PostgreSQL's numeric output prints them.
#pragma once

#include <cstddef>

#include "byte_sink.hpp"

namespace forgea::core {

// Writes s as a JSON string literal: '"', '\\' and control characters below 0x20 are escaped
// (\b \f \n \r \t, otherwise \u00XX in lower-case hex); every other byte, UTF-8 included, is copied.
void write_json_string(ByteSink &out, const char *s, std::size_t len);

// Object keys are ordered by byte length first, then bytewise: the order jsonb already stores them
// in, so the backend never has to sort.  Returns <0, 0, >0 like memcmp.
int compare_object_keys(const char *a, std::size_t alen, const char *b, std::size_t blen);

}  // namespace forgea::core
