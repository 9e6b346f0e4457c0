// libFuzzer harness: base64 as checkpoint notes use it (src/core/base64.hpp).  Decoding accepts
// only canonical padded base64, so whatever decodes must encode back to the same text; anything
// encoded must decode back to the same bytes; and a too-small buffer is refused, not overrun
// (the output buffers are exact-size heap blocks, so ASan sees a single byte too many).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/base64.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const char *s = reinterpret_cast<const char *>(data);

    // Text -> bytes -> text.
    std::size_t cap = size;  // decoded is never longer than its text
    auto *out = static_cast<std::uint8_t *>(std::malloc(cap == 0 ? 1 : cap));
    long n = core::base64_decode(s, size, out, cap);
    FA_REQUIRE(n >= -1 && n <= static_cast<long>(cap), "base64_decode returned an impossible length");
    if (n >= 0) {
        fuzz::StringSink again;
        core::base64_encode(out, static_cast<std::size_t>(n), again);
        FA_REQUIRE(again.s == std::string(s, size), "decoded base64 does not encode back to the same text");
        if (n > 0) {
            // One byte short: refused, and nothing written past the buffer.
            auto *small = static_cast<std::uint8_t *>(std::malloc(static_cast<std::size_t>(n) - 1 + 1));
            FA_REQUIRE(core::base64_decode(s, size, small, static_cast<std::size_t>(n) - 1) == -1,
                       "base64_decode accepted a buffer too small for the result");
            std::free(small);
        }
    }
    std::free(out);

    // Bytes -> text -> bytes.
    fuzz::StringSink text;
    core::base64_encode(data, size, text);
    FA_REQUIRE(text.s.size() == (size + 2) / 3 * 4, "base64_encode wrote another length than 4*ceil(n/3)");
    auto *back = static_cast<std::uint8_t *>(std::malloc(size == 0 ? 1 : size));
    long m = core::base64_decode(text.s.data(), text.s.size(), back, size);
    FA_REQUIRE(m == static_cast<long>(size) && (size == 0 || std::memcmp(back, data, size) == 0),
               "encoded bytes do not decode back to themselves");
    std::free(back);
    return 0;
}
