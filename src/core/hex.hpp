// Lower-case hex, the one spelling of bytes as text in forgea_audit (hashes in audit metadata, in
// checkpoint notes, in the offline verifier's messages, and the \u00XX escapes of canonical JSON).
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

namespace forgea::core {

inline constexpr char kHexDigits[] = "0123456789abcdef";

// Writes the 2 * len hex digits of data to out, then a NUL: out holds 2 * len + 1 chars.
inline void write_hex(const std::uint8_t *data, std::size_t len, char *out)
{
    for (std::size_t i = 0; i < len; i++) {
        out[2 * i] = kHexDigits[data[i] >> 4];
        out[2 * i + 1] = kHexDigits[data[i] & 0xF];
    }
    out[2 * len] = '\0';
}

// The value of one hex digit (either case), or -1 if c is not one.
inline int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

}  // namespace forgea::core
