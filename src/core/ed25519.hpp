// Ed25519 through OpenSSL: key files, signing and verifying.  Shared by the extension (signing
// checkpoints, checking them) and the offline verifier.  Nothing here calls PostgreSQL, and every
// OpenSSL object is freed before returning, so a caller in the backend holds nothing across an
// ereport.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

namespace forgea::core {

struct Ed25519Key {
    bool has_private = false;
    std::uint8_t private_key[32] = {};
    std::uint8_t public_key[32] = {};
};

// Reads a PEM file holding an Ed25519 private key (openssl genpkey -algorithm ed25519) or public
// key (openssl pkey -pubout).  On failure returns false and a message in err.
bool load_ed25519_pem(const char *path, Ed25519Key *key, char *err, std::size_t errlen);

bool ed25519_sign(const Ed25519Key &key, const void *msg, std::size_t len, std::uint8_t sig[64]);

bool ed25519_verify(const std::uint8_t public_key[32], const void *msg, std::size_t len, const std::uint8_t sig[64]);

}  // namespace forgea::core
