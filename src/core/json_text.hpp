// A strict reader of JSON text (RFC 8259) for documents that arrive from outside the database and
// are checked offline: receipts (tools/forgea_audit_verify --receipt, src/core/receipt_check.hpp).
// Strict where a lenient reader would let a forger choose what is checked: a key repeated in an
// object is an error (a lenient reader keeps one of them, and which one differs between readers),
// numbers must follow RFC 8259's grammar and are kept as written (so "1e0" or "1.0" can be told
// from the integer 1), strings must be valid UTF-8 (escapes too: no lone surrogate), and nothing
// may follow the value.  The extension reads JSON through jsonb; this is for the tools only.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace forgea::core::json {

struct Value {
    enum Kind { Null, Bool, Number, String, Array, Object };
    Kind kind = Null;
    std::string text;                                    // String: decoded UTF-8; Number: as written; Bool: "true"/"false"
    std::vector<Value> items;                            // Array
    std::vector<std::pair<std::string, Value>> members;  // Object: in document order, keys unique

    // The member named key, or nullptr (also when this is not an object).
    const Value *get(const std::string &key) const;
};

struct Error {
    std::size_t offset = 0;    // byte offset in the text where the problem was seen
    const char *what = "";     // static text
};

// Objects and arrays nest at most this deep (a receipt nests 2).
constexpr int kMaxDepth = 64;

// Parses text as exactly one JSON value, with optional white space around it.  false and *err on
// anything RFC 8259 does not allow, on a repeated key in any object, and on nesting beyond
// kMaxDepth; *out is then unspecified.
bool parse(const char *text, std::size_t len, Value *out, Error *err);

// A Number whose text is a plain integer, -?(0|[1-9][0-9]*) with no fraction and no exponent, not
// "-0", within int64: true and its value.  false for anything else (other kinds included).
bool plain_int64(const Value &v, std::int64_t *out);

// The same rule for a number's text alone (the offline verifier's CSV integers too).
bool plain_int64_text(const std::string &text, std::int64_t *out);

}  // namespace forgea::core::json
