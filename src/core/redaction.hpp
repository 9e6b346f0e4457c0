// Which metadata keys and values hold secrets.  The platform's AuditService scrubbed these in
// TypeScript; now every writer gets the same rule, before anything is hashed.  The rule, as a
// reader meets it, is documented in docs/security.md ("Secret redaction").
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>

namespace forgea::core {

// The value shown instead of a secret.
constexpr const char kRedacted[] = "[REDACTED]";

// True if a JSON object key names a secret.  The key is normalised (ASCII case folded; '_', '-',
// '.' and spaces dropped; its first 255 bytes) and names a secret when
//  - it contains password, passwd, passphrase, secret, token, authorization, apikey, privatekey,
//    cookie, credential or accesskey ("api_key", "X-Api-Key", "client_secret", "set-cookie",
//    "private_key", "db_credentials", ...);
//  - or one of its words is pwd or auth: words split at '_', '-', '.', spaces and camelCase
//    ("pwd", "db_pwd", "auth", "X-Auth", "basicAuth"; not "author", "oauth_app");
//  - or the whole key is session ("session", "Session"; not "session_id", which names a lab
//    session everywhere in forgea's events).
bool is_secret_key(const char *key, std::size_t len);

// True if a string value is a credential whatever key holds it:
//  - "Bearer <credential>" or "Basic <credential>" (any case; surrounding spaces ignored; the
//    credential one word without spaces), as an Authorization header carries them;
//  - a GitHub token anywhere in it: ghp_, gho_, ghu_, ghs_, ghr_ or github_pat_ at the start or
//    after a character that is not a letter, digit or '_', followed by at least 20 letters, digits
//    or '_' (a commit message that pasted one is redacted whole);
//  - a PEM private key block anywhere in it: "-----BEGIN " and "PRIVATE KEY-----" on one line
//    (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8 keys; public keys and certificates stay).
bool is_secret_value(const char *value, std::size_t len);

}  // namespace forgea::core
