// The one place C++ and PostgreSQL error handling meet.
//
// PostgreSQL reports errors with siglongjmp; C++ with exceptions.  Neither may cross into the other:
// a longjmp over a live C++ object skips its destructor, and an exception unwinding through
// PostgreSQL frames is undefined behaviour (in practice, a crashed backend and a restarted cluster).
//
// The rules this extension keeps, and what holds each one:
//   * Every extern "C" symbol PostgreSQL calls is defined by one of the macros below
//     (FA_FUNCTION for SQL-callable functions, FA_WORKER_MAIN for a background worker's main,
//     FA_PARALLEL_MAIN for a parallel worker's entry point, FA_MODULE_INIT for _PG_init).  The macro defines the C symbol and makes the body the
//     argument of fa_guard(): any C++ exception is caught there and turned into an ereport(ERROR)
//     *after* the catch block has ended, so the exception object is gone before PostgreSQL
//     longjmps.  `make check-boundary` (run by test/run_tests.sh) fails if PG_FUNCTION_INFO_V1 or an extern "C"
//     definition appears anywhere else, so the guard cannot be forgotten.
//   * Code between an entry point and PostgreSQL calls keeps only trivially destructible data
//     (plain structs, pointers into palloc'd memory), so an ereport may longjmp straight through
//     it: there is nothing to destroy.  Each struct that lives across PostgreSQL calls says so with
//     FA_LIVES_ACROSS_PG_CALLS(T), a static_assert the compiler checks.  Code that holds an object
//     with a destructor does not call PostgreSQL.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/lifetime.hpp"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include "pg/sql_version.hpp"  // FA_SQL_SYMBOL: the version suffix of every exported SQL function

#include <cstring>
#include <exception>
#include <new>
#include <type_traits>

// A copy of s that cannot itself longjmp (allocation failure gives nullptr): used inside a catch
// block, where an ereport would leave the exception object behind.
inline char *fa_copy_message_nothrow(const char *s)
{
    std::size_t len = strlen(s);
    char *copy = static_cast<char *>(
        MemoryContextAllocExtended(CurrentMemoryContext, len + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM));
    if (copy != nullptr)
        memcpy(copy, s, len + 1);
    return copy;
}

// The guard every entry point runs its body through (via the macros below, never by hand).
// PostgreSQL's error stacks are saved on entry and restored before raising: a C++ exception thrown
// inside a PG_TRY block in the body leaves PG_exception_stack pointing at that block's dead
// frame, and an ereport through it would jump there (pg_duckdb's __CPPFunctionGuard__ does the
// same).  The exception's whole message is kept, not truncated to a buffer.
template <typename R, typename... Args>
R fa_guard(const char *function_name, R (*body)(Args...), Args... args)
{
    static_assert((std::is_trivially_destructible_v<Args> && ...),
                  "entry point arguments cross longjmps: they must be trivially destructible");
    sigjmp_buf *saved_exception_stack = PG_exception_stack;
    ErrorContextCallback *saved_context_stack = error_context_stack;
    const char *message = nullptr;
    bool out_of_memory = false;
    try {
        return body(args...);
    } catch (const std::bad_alloc &) {
        out_of_memory = true;
    } catch (const std::exception &e) {
        message = fa_copy_message_nothrow(e.what());
        out_of_memory = message == nullptr;
    } catch (...) {
        message = "unknown C++ exception";
    }
    // The exception object no longer exists here; longjmp is safe.
    PG_exception_stack = saved_exception_stack;
    error_context_stack = saved_context_stack;
    if (out_of_memory)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory in %s", function_name)));
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("internal error in %s: %s", function_name, message),
                    errhint("This is a bug in forgea_audit; nothing was written.")));
    pg_unreachable();
}

// Defines the SQL-callable C function `name` and opens its body, which runs under fa_guard():
//     FA_FUNCTION(fa_repo_key, "forgea_audit.repo_key")
//     {
//         ... fa_arg<SqlText>(fcinfo, 0, "url") ... return ...;   // (pg/datum_read.hpp)
//     }
// sql_name is what an internal error names.  The exported C symbol carries the suffix of the SQL
// version the library serves (src/pg/sql_version.hpp): fa_repo_key_0_2, named in the install
// script as AS 'MODULE_PATHNAME', 'fa_repo_key_0_2'.
#define FA_FUNCTION(name, sql_name) FA_FUNCTION_SYMBOL(FA_SQL_SYMBOL(name), name, sql_name)

// The same with the exported symbol given (FA_FUNCTION's suffixed one, or an earlier version's
// name for the stubs in src/pg/sql_version.cpp); `name` names the guarded body.
#define FA_FUNCTION_SYMBOL(symbol, name, sql_name) FA_FUNCTION_SYMBOL_(symbol, name, sql_name)
#define FA_FUNCTION_SYMBOL_(symbol, name, sql_name)                  \
    extern "C" {                                                     \
    PG_FUNCTION_INFO_V1(symbol);                                     \
    }                                                                \
    static Datum name##_guarded(PG_FUNCTION_ARGS);                   \
    extern "C" Datum symbol(PG_FUNCTION_ARGS)                        \
    {                                                                \
        return fa_guard<Datum, FunctionCallInfo>(sql_name, name##_guarded, fcinfo); \
    }                                                                \
    static Datum name##_guarded(PG_FUNCTION_ARGS)

// Declares an SQL-callable entry point defined in another file (by FA_FUNCTION), so that C++ may
// call it: src/pg/sql_version.cpp's stubs of earlier versions hand a call on to the current one.
#define FA_DECLARE_FUNCTION(symbol) FA_DECLARE_FUNCTION_(symbol)
#define FA_DECLARE_FUNCTION_(symbol) extern "C" Datum symbol(PG_FUNCTION_ARGS)

// Defines a background worker's main (its name goes into bgw_function_name) and opens its body:
//     FA_WORKER_MAIN(fa_retention_worker_main) { ... }   // the Datum argument is `arg`
#define FA_WORKER_MAIN(name)                                          \
    extern "C" PGDLLEXPORT void name(Datum arg);                      \
    static void name##_guarded(Datum arg);                            \
    extern "C" void name(Datum arg)                                   \
    {                                                                 \
        fa_guard<void, Datum>(#name, name##_guarded, arg);            \
    }                                                                 \
    static void name##_guarded(Datum arg)

// Defines a parallel worker's entry point (the function name CreateParallelContext() is given;
// PostgreSQL's ParallelWorkerMain calls it in each worker once the leader's state is restored):
//     FA_PARALLEL_MAIN(fa_verify_worker_main) { ... }   // the arguments are `seg` and `toc`
#define FA_PARALLEL_MAIN(name)                                                          \
    extern "C" PGDLLEXPORT void name(dsm_segment *seg, shm_toc *toc);                   \
    static void name##_guarded(dsm_segment *seg, shm_toc *toc);                        \
    extern "C" void name(dsm_segment *seg, shm_toc *toc)                                \
    {                                                                                   \
        fa_guard<void, dsm_segment *, shm_toc *>(#name, name##_guarded, seg, toc);      \
    }                                                                                   \
    static void name##_guarded(dsm_segment *seg, shm_toc *toc)

// Defines _PG_init, the library's load hook, and opens its body: FA_MODULE_INIT() { ... }
#define FA_MODULE_INIT()                                              \
    extern "C" PGDLLEXPORT void _PG_init(void);                       \
    static void fa_module_init_guarded();                             \
    extern "C" void _PG_init(void)                                    \
    {                                                                 \
        fa_guard<void>("_PG_init", fa_module_init_guarded);           \
    }                                                                 \
    static void fa_module_init_guarded()
