#include "canonical_json_bytes.hpp"

#include <cstring>

namespace forgea::core {

void write_json_string(ByteSink &out, const char *s, std::size_t len)
{
    write_json_string_to(out, s, len);
}

int compare_object_keys(const char *a, std::size_t alen, const char *b, std::size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return alen == 0 ? 0 : std::memcmp(a, b, alen);
}

}  // namespace forgea::core
