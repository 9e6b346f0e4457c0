// FA_LIVES_ACROSS_PG_CALLS(T): the compile-time half of the boundary rule (src/pg/boundary.hpp).
//
// A header of its own, with nothing but the standard library, so that both boundary.hpp and the
// list of core headers (core_headers.hpp, included before any PostgreSQL header) can use it without
// including each other.
#pragma once

#include <type_traits>

// For the structs that live across calls that can ereport: the compiler refuses a member with a
// destructor (a std::string, a std::vector, a smart pointer), which a longjmp would skip.
#define FA_LIVES_ACROSS_PG_CALLS(T)                                                                  \
    static_assert(std::is_trivially_destructible_v<T>,                                               \
                  #T " lives across PostgreSQL calls that can ereport (longjmp): it must be trivially " \
                  "destructible")
