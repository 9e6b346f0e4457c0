#include "redaction.hpp"

#include <cstring>

namespace forgea::core {

// Whether a metadata key names a secret: compared case-, separator- and position-insensitively
// ("X-Api-Key", "client_secret"), so that a secret is redacted before it is hashed into the chain
// forever.
bool is_secret_key(const char *key, std::size_t len)
{
    static const char *const kSecretWords[] = {"password", "passwd", "secret", "token", "authorization",
                                               "apikey", "privatekey", "cookie", "credential", "accesskey"};
    // Normalise into a bounded buffer: keys longer than this are compared on their first bytes.
    char norm[256];
    std::size_t n = 0;
    for (std::size_t i = 0; i < len && n < sizeof norm - 1; i++) {
        char c = key[i];
        if (c == '_' || c == '-' || c == '.' || c == ' ')
            continue;
        norm[n++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    norm[n] = '\0';
    for (const char *word : kSecretWords)
        if (std::strstr(norm, word) != nullptr)
            return true;
    return false;
}

}  // namespace forgea::core
