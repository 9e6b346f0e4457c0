// The one place C++ and PostgreSQL error handling meet.
//
// PostgreSQL reports errors with siglongjmp; C++ with exceptions.  Neither may cross into the other:
// a longjmp over a live C++ object skips its destructor, and an exception unwinding through
// PostgreSQL frames is undefined behaviour (in practice, a crashed backend and a restarted cluster).
//
// The rule this extension keeps:
//   * Every extern "C" entry point runs its body through fa_cpp_entry(): any C++ exception is
//     caught there and turned into an ereport(ERROR) *after* the catch block has ended, so the
//     exception object is gone before PostgreSQL longjmps.
//   * Code between an entry point and PostgreSQL calls keeps only trivially destructible data
//     (plain structs, pointers into palloc'd memory).  So an ereport from PostgreSQL may longjmp
//     straight through it: there is nothing to destroy.  The static_assert below holds callers to
//     that for the lambda they pass in.
//   * The pure core (src/core) never calls PostgreSQL, so the reverse guard (PG error -> C++
//     exception, pg_duckdb's PostgresFunctionGuard) has nothing to guard here and is not written.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

#include <cstring>
#include <exception>
#include <new>
#include <type_traits>

template <typename Body>
Datum fa_cpp_entry(const char *function_name, Body &&body)
{
    static_assert(std::is_trivially_destructible<std::remove_reference_t<Body>>::value,
                  "entry point bodies must capture only trivially destructible state");
    char message[256];
    message[0] = '\0';
    bool out_of_memory = false;
    try {
        return body();
    } catch (const std::bad_alloc &) {
        out_of_memory = true;
    } catch (const std::exception &e) {
        strlcpy(message, e.what(), sizeof message);
    } catch (...) {
        strlcpy(message, "unknown C++ exception", sizeof message);
    }
    // The exception object no longer exists here; longjmp is safe.
    if (out_of_memory)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY),
                        errmsg("out of memory in %s", function_name)));
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg("internal error in %s: %s", function_name, message),
                    errhint("This is a bug in forgea_audit; nothing was written.")));
    pg_unreachable();
}
