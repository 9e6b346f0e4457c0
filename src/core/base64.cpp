#include "base64.hpp"

namespace forgea::core {

namespace {
const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int value_of(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
}  // namespace

void base64_encode(const std::uint8_t *data, std::size_t len, ByteSink &out)
{
    for (std::size_t i = 0; i < len; i += 3) {
        std::uint32_t v = static_cast<std::uint32_t>(data[i]) << 16;
        if (i + 1 < len) v |= static_cast<std::uint32_t>(data[i + 1]) << 8;
        if (i + 2 < len) v |= data[i + 2];
        char quad[4] = {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63],
                        i + 1 < len ? kAlphabet[(v >> 6) & 63] : '=', i + 2 < len ? kAlphabet[v & 63] : '='};
        out.put(quad, 4);
    }
}

long base64_decode(const char *s, std::size_t len, std::uint8_t *out, std::size_t cap)
{
    if (len % 4 != 0)
        return -1;
    std::size_t n = 0;
    for (std::size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = 0;
        if (last && s[i + 3] == '=') pad = s[i + 2] == '=' ? 2 : 1;
        std::uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            int d;
            if (k >= 4 - pad) {
                d = 0;
            } else {
                d = value_of(s[i + k]);
                if (d < 0)
                    return -1;
            }
            v = (v << 6) | static_cast<std::uint32_t>(d);
        }
        // Canonical: the bits dropped by padding must be zero.
        if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0))
            return -1;
        int bytes = 3 - pad;
        if (n + bytes > cap)
            return -1;
        for (int k = 0; k < bytes; k++)
            out[n++] = static_cast<std::uint8_t>(v >> (16 - 8 * k));
    }
    return static_cast<long>(n);
}

}  // namespace forgea::core
