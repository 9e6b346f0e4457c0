// SHA-256 as the core sees it: a sink that can be finished.  The backend implements it with
// PostgreSQL's cryptohash, the offline verifier with OpenSSL; the core only feeds bytes.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstdint>

#include "byte_sink.hpp"
#include "chain_record.hpp"

namespace forgea::core {

class Hasher : public ByteSink {
public:
    // Writes the digest of everything put so far and starts over.
    virtual void finish(std::uint8_t out[kHashLen]) = 0;

protected:
    ~Hasher() = default;
};

// SHA-256 of one record's encoding (chain_record.hpp).
inline void hash_record_v1(const AuditRecord &r, Hasher &h, std::uint8_t out[kHashLen])
{
    encode_record_v1(r, h);
    h.finish(out);
}

}  // namespace forgea::core
