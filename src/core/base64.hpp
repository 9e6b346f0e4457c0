// Standard base64 (RFC 4648, with padding), as C2SP signed notes use it.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "byte_sink.hpp"

namespace forgea::core {

void base64_encode(const std::uint8_t *data, std::size_t len, ByteSink &out);

// Decodes into out (capacity cap); returns the decoded length, or -1 if s is not canonical
// padded base64 or does not fit.
long base64_decode(const char *s, std::size_t len, std::uint8_t *out, std::size_t cap);

}  // namespace forgea::core
