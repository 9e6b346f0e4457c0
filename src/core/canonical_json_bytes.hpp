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

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace forgea::core {

// 0: copy as is; otherwise the character after the backslash ('u' for \u00XX).
struct JsonEscapeTable {
    char esc[256];
    constexpr JsonEscapeTable() : esc()
    {
        for (int c = 0; c < 0x20; c++)
            esc[c] = 'u';
        // int subscripts: a char one is signed on x86 (clang's -Wchar-subscripts)
        esc[int{'"'}] = '"';
        esc[int{'\\'}] = '\\';
        esc[int{'\b'}] = 'b';
        esc[int{'\f'}] = 'f';
        esc[int{'\n'}] = 'n';
        esc[int{'\r'}] = 'r';
        esc[int{'\t'}] = 't';
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

// The offset of the first byte of s[0..len) that needs escaping, or len if none does: 16 bytes
// at a time with SSE2 (the tail through a padded copy, never reading past len), else with
// word_needs_escape.  Almost every string in the log needs no escape and is then copied whole.
inline std::size_t first_escape(const char *s, std::size_t len)
{
    std::size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1F);
    auto mask = [&](__m128i x) {
        __m128i below = _mm_cmpeq_epi8(_mm_min_epu8(x, control), x);  // x <= 0x1F
        return _mm_movemask_epi8(_mm_or_si128(below, _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash))));
    };
    for (; i + 16 <= len; i += 16) {
        int m = mask(_mm_loadu_si128(reinterpret_cast<const __m128i *>(s + i)));
        if (m != 0)
            return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(m)));
    }
    if (i == len)
        return len;
    if (len >= 16) {
        // The last 16 bytes, overlapping bytes already found clean (their bits are 0).  Not a padded
        // copy of the tail: its small stores then one 16-byte load could not be store-forwarded, a
        // stall that was two thirds of this function's time in verify_chain()'s profile.
        int m = mask(_mm_loadu_si128(reinterpret_cast<const __m128i *>(s + len - 16)));
        return m != 0 ? len - 16 + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(m))) : len;
    }
    // Shorter than 16 (most keys): two overlapping words, then bytes only if one needs an escape.
    if (len >= 8 && !word_needs_escape(s) && !word_needs_escape(s + len - 8))
        return len;
    for (; i < len; i++)
        if (kJsonEscapes.esc[static_cast<unsigned char>(s[i])] != 0)
            return i;
    return len;
#else
    while (i + 8 <= len && !word_needs_escape(s + i))
        i += 8;
    for (; i < len; i++)
        if (kJsonEscapes.esc[static_cast<unsigned char>(s[i])] != 0)
            return i;
    return len;
#endif
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
    std::size_t run_start = first_escape(s, len);
    if (run_start == len) {  // nothing to escape: one copy
        if (len > 0)
            out.put(s, len);
        out.put_byte('"');
        return;
    }
    if (run_start > 0)
        out.put(s, run_start);
    for (std::size_t i = run_start; i < len; i++) {
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
