// Canonical JSON text, version 1 (docs/chain.md, "Canonical JSON").
//
// The walk over a concrete JSON value (a jsonb datum in the backend, a parsed export in a verifier)
// belongs to the caller; this file owns the parts that decide bytes: string escaping and the key
// order.  No whitespace anywhere; numbers are written as PostgreSQL's numeric output prints them.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "byte_sink.hpp"
#include "hex.hpp"

namespace forgea::core {

// 0: copy as is; otherwise the character after the backslash ('u' for \u00XX).
struct JsonEscapeTable {
    char esc[256];
    constexpr JsonEscapeTable() : esc()
    {
        for (int c = 0; c < 0x20; c++)
            esc[c] = 'u';
        esc['"'] = '"';
        esc['\\'] = '\\';
        esc['\b'] = 'b';
        esc['\f'] = 'f';
        esc['\n'] = 'n';
        esc['\r'] = 'r';
        esc['\t'] = 't';
    }
};
inline constexpr JsonEscapeTable kJsonEscapes;

// True if any of the 8 bytes at p is below 0x20, '"' or '\\' (bytes >= 0x80 never are).
inline bool word_needs_escape(const char *p)
{
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    constexpr std::uint64_t ones = UINT64_C(0x0101010101010101);
    constexpr std::uint64_t highs = UINT64_C(0x8080808080808080);
    auto has_zero = [&](std::uint64_t x) { return (x - ones) & ~x & highs; };
    // A byte below 0x20: (b - 0x20) borrows into its high bit, unless b itself had it set.
    std::uint64_t below = (w - ones * 0x20) & ~w & highs;
    return (below | has_zero(w ^ (ones * '"')) | has_zero(w ^ (ones * '\\'))) != 0;
}

// Writes s as a JSON string literal: '"', '\\' and control characters below 0x20 are escaped
// (\b \f \n \r \t, otherwise \u00XX in lower-case hex); every other byte, UTF-8 included, is copied.
//
// A template so that a caller holding a concrete (final) sink gets its put() inlined: the
// verifier re-serialises every row's metadata, and a virtual call per piece was a tenth of it.
template <typename Sink>
void write_json_string_to(Sink &out, const char *s, std::size_t len)
{
    out.put_byte('"');
    std::size_t run_start = 0;
    for (std::size_t i = 0; i < len; i++) {
        // Skip 8 bytes at a time while none of them needs escaping (almost all text).
        while (i + 8 <= len && !word_needs_escape(s + i))
            i += 8;
        if (i >= len)
            break;
        unsigned char c = static_cast<unsigned char>(s[i]);
        char e = kJsonEscapes.esc[c];
        if (e == 0)
            continue;
        // Flush the unescaped run before this byte, then the escape itself.
        if (i > run_start)
            out.put(s + run_start, i - run_start);
        if (e == 'u') {
            char u[6] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};
            out.put(u, sizeof u);
        } else {
            char pair[2] = {'\\', e};
            out.put(pair, sizeof pair);
        }
        run_start = i + 1;
    }
    if (len > run_start)
        out.put(s + run_start, len - run_start);
    out.put_byte('"');
}

// The same through the ByteSink interface.
void write_json_string(ByteSink &out, const char *s, std::size_t len);

// Object keys are ordered by byte length first, then bytewise: the order jsonb already stores them
// in, so the backend never has to sort.  Returns <0, 0, >0 like memcmp.
int compare_object_keys(const char *a, std::size_t alen, const char *b, std::size_t blen);

}  // namespace forgea::core
