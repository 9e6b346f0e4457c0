#include "ed25519.hpp"

#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace forgea::core {

namespace {

void openssl_error(const char *what, char *err, std::size_t errlen)
{
    char detail[256];
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, detail, sizeof detail);
    else
        std::snprintf(detail, sizeof detail, "no detail");
    std::snprintf(err, errlen, "%s: %s", what, detail);
    ERR_clear_error();
}

}  // namespace

// A private key file gives both halves, a public key file the public one (has_private says which);
// the OpenSSL objects are freed before returning, whatever happens.
bool load_ed25519_pem(const char *path, Ed25519Key *key, char *err, std::size_t errlen)
{
    *key = Ed25519Key{};
    FILE *f = std::fopen(path, "r");
    if (f == nullptr) {
        std::snprintf(err, errlen, "could not open \"%s\": %s", path, std::strerror(errno));
        return false;
    }
    EVP_PKEY *pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    if (pkey == nullptr) {
        ERR_clear_error();
        std::rewind(f);
        pkey = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
    } else {
        key->has_private = true;
    }
    std::fclose(f);
    if (pkey == nullptr) {
        openssl_error("not a PEM Ed25519 key", err, errlen);
        return false;
    }
    bool ok = EVP_PKEY_id(pkey) == EVP_PKEY_ED25519;
    if (!ok) {
        std::snprintf(err, errlen, "\"%s\" holds a key of another type than Ed25519", path);
    } else {
        std::size_t n = 32;
        ok = EVP_PKEY_get_raw_public_key(pkey, key->public_key, &n) == 1 && n == 32;
        if (ok && key->has_private) {
            n = 32;
            ok = EVP_PKEY_get_raw_private_key(pkey, key->private_key, &n) == 1 && n == 32;
        }
        if (!ok)
            openssl_error("could not read the raw Ed25519 key", err, errlen);
    }
    EVP_PKEY_free(pkey);
    return ok;
}

// Signs msg; every OpenSSL object is freed and its error queue cleared before returning, so a
// backend caller holds nothing across its next ereport.
bool ed25519_sign(const Ed25519Key &key, const void *msg, std::size_t len, std::uint8_t sig[64])
{
    if (!key.has_private)
        return false;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.private_key, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    std::size_t siglen = 64;
    bool ok = pkey != nullptr && ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, static_cast<const unsigned char *>(msg), len) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

// Verifies sig over msg with a raw public key; frees everything it made.
bool ed25519_verify(const std::uint8_t public_key[32], const void *msg, std::size_t len, const std::uint8_t sig[64])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = pkey != nullptr && ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, static_cast<const unsigned char *>(msg), len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

}  // namespace forgea::core
