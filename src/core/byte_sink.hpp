// A place the pure core writes bytes to.
//
// The core never allocates on its own: the PostgreSQL adapter hands it a sink backed by a palloc'd
// StringInfo (or straight into a SHA-256 context), a standalone tool can hand it one backed by
// std::string.  Keeping the interface this small is what lets the same encoding code run inside the
// backend, where a C++ object with a destructor must never be alive across an ereport, and outside it.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

namespace forgea::core {

class ByteSink {
public:
    virtual void put(const void *data, std::size_t len) = 0;

    void put_byte(std::uint8_t b) { put(&b, 1); }

protected:
    // Non-virtual and protected: sinks are never deleted through this interface, and keeping the
    // destructor trivial keeps every sink trivially destructible.
    ~ByteSink() = default;
};

}  // namespace forgea::core
