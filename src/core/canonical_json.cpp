#include "canonical_json.hpp"

#include <cstring>

namespace forgea::core {

namespace {

// 0: copy as is; otherwise the character after the backslash ('u' for \u00XX).
struct EscapeTable {
    char esc[256];
    constexpr EscapeTable() : esc()
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
constexpr EscapeTable kEscapes;

}  // namespace

void write_json_string(ByteSink &out, const char *s, std::size_t len)
{
    static const char hex[] = "0123456789abcdef";
    out.put_byte('"');
    std::size_t run_start = 0;
    for (std::size_t i = 0; i < len; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        char e = kEscapes.esc[c];
        if (e == 0)
            continue;
        // Flush the unescaped run before this byte, then the escape itself.
        if (i > run_start)
            out.put(s + run_start, i - run_start);
        if (e == 'u') {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
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

int compare_object_keys(const char *a, std::size_t alen, const char *b, std::size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return alen == 0 ? 0 : std::memcmp(a, b, alen);
}

}  // namespace forgea::core
