// SHA-256 through OpenSSL as the core's Hasher, the way the offline verifier computes it: shared by
// the unit tests (test/unit/) and the fuzz harnesses (test/fuzz/fuzz_common.hpp).  The tools keep
// their own, which stop with a message when OpenSSL fails; here a failure shows as a wrong digest.
#pragma once

#include <cstddef>
#include <cstdint>

#include <openssl/evp.h>

#include "core/hasher.hpp"

namespace forgea::test {

class Sha256 final : public forgea::core::Hasher {
public:
    Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(ctx_); }
    Sha256(const Sha256 &) = delete;
    Sha256 &operator=(const Sha256 &) = delete;
    void put(const void *data, std::size_t len) override { EVP_DigestUpdate(ctx_, data, len); }
    void finish(std::uint8_t out[forgea::core::kHashLen]) override
    {
        unsigned int n = 0;
        EVP_DigestFinal_ex(ctx_, out, &n);
        EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    }

private:
    EVP_MD_CTX *ctx_;
};

}  // namespace forgea::test
