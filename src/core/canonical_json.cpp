#include "canonical_json.hpp"

#include <cstring>

namespace forgea::core {

void write_json_string(ByteSink &out, const char *s, std::size_t len)
{
    static const char hex[] = "0123456789abcdef";
    out.put_byte('"');
    std::size_t run_start = 0;
    for (std::size_t i = 0; i < len; i++) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        const char *esc = nullptr;
        char ubuf[6];
        switch (c) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                if (c < 0x20) {
                    ubuf[0] = '\\'; ubuf[1] = 'u'; ubuf[2] = '0'; ubuf[3] = '0';
                    ubuf[4] = hex[c >> 4]; ubuf[5] = hex[c & 0xF];
                }
                break;
        }
        if (esc == nullptr && c >= 0x20)
            continue;
        // Flush the unescaped run before this byte, then the escape itself.
        if (i > run_start)
            out.put(s + run_start, i - run_start);
        if (esc != nullptr)
            out.put(esc, std::strlen(esc));
        else
            out.put(ubuf, sizeof ubuf);
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
