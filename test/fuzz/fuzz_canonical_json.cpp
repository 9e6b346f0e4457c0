// libFuzzer harness: the parts of canonical JSON (src/core/canonical_json_bytes.hpp) that decide
// bytes.  write_json_string must produce a JSON string literal that a strict decoder reads back to
// exactly the input bytes, with no raw control character, the same through the template and the
// ByteSink entry; compare_object_keys must order keys by length, then bytewise, as a total order.
#include <cstdint>
#include <string>

#include "core/canonical_json_bytes.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

namespace {

int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;  // canonical escapes are lower case
}

// A strict reader of what write_json_string may emit (RFC 8259 string, escapes below 0x20 only).
bool decode_json_string(const std::string &lit, std::string *out)
{
    if (lit.size() < 2 || lit.front() != '"' || lit.back() != '"')
        return false;
    for (std::size_t i = 1; i + 1 < lit.size(); i++) {
        unsigned char c = static_cast<unsigned char>(lit[i]);
        if (c < 0x20 || c == '"')
            return false;  // must have been escaped
        if (c != '\\') {
            *out += static_cast<char>(c);
            continue;
        }
        if (i + 2 >= lit.size())
            return false;  // a backslash right before the closing quote
        i++;
        switch (lit[i]) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
            if (i + 5 >= lit.size() || lit.compare(i + 1, 2, "00") != 0)
                return false;
            int hi = hexval(lit[i + 3]), lo = hexval(lit[i + 4]);
            if (hi < 0 || lo < 0 || hi > 1)
                return false;
            char v = static_cast<char>(hi * 16 + lo);
            if (v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
                return false;  // these have a short escape, which canonical form uses
            *out += v;
            i += 4;
            break;
        }
        default:
            return false;
        }
    }
    return true;
}

int sign(int v) { return (v > 0) - (v < 0); }

int ref_compare(const std::string &a, const std::string &b)
{
    if (a.size() != b.size())
        return a.size() < b.size() ? -1 : 1;
    return sign(a.compare(b));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const char *s = reinterpret_cast<const char *>(data);
    fuzz::StringSink via_sink, via_template;
    core::write_json_string(via_sink, s, size);
    core::write_json_string_to(via_template, s, size);
    FA_REQUIRE(via_sink.s == via_template.s, "the template and the ByteSink entry write different bytes");
    std::string back;
    FA_REQUIRE(decode_json_string(via_sink.s, &back), "write_json_string wrote an invalid or non-canonical literal");
    FA_REQUIRE(back == std::string(s, size), "the literal does not decode back to the input");

    // Key order: split the input in two at every 7th byte boundary and compare the halves.
    for (std::size_t cut = 0; cut <= size; cut += 7) {
        std::string a(s, cut), b(s + cut, size - cut);
        int ab = sign(core::compare_object_keys(a.data(), a.size(), b.data(), b.size()));
        int ba = sign(core::compare_object_keys(b.data(), b.size(), a.data(), a.size()));
        FA_REQUIRE(ab == ref_compare(a, b), "compare_object_keys is not length-then-bytewise");
        FA_REQUIRE(ab == -ba, "compare_object_keys is not antisymmetric");
        FA_REQUIRE(core::compare_object_keys(a.data(), a.size(), a.data(), a.size()) == 0, "a key differs from itself");
    }
    return 0;
}
