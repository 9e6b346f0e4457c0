// Which metadata keys hold secrets.  The platform's AuditService scrubbed these in TypeScript;
// now every writer gets the same rule, before anything is hashed.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>

namespace forgea::core {

// The value shown instead of a secret.
constexpr const char kRedacted[] = "[REDACTED]";

// True if a JSON object key names a secret: case-insensitively, ignoring '_', '-', '.' and
// spaces, it contains password, passwd, secret, token, authorization, apikey, privatekey, cookie,
// credential or accesskey ("api_key", "X-Api-Key", "GitHubToken", "set-cookie", ...).
bool is_secret_key(const char *key, std::size_t len);

}  // namespace forgea::core
