// The C symbols of earlier SQL versions, kept as stubs that refuse to run.
//
// After the new library is installed and the server restarted (or a backend reconnects), a
// database whose extension is still at 0.1.0 or 0.2.0 calls its functions by that version's symbol
// names.  The current code behind them would run against an older version's tables and functions;
// instead each old name raises one clear error that says what to do.  ALTER EXTENSION forgea_audit
// UPDATE rebinds the functions to the current symbols (src/pg/sql_version.hpp).
//
// One exception: inside forgea_audit's own extension script (CREATE EXTENSION, ALTER EXTENSION
// UPDATE), an old name is served by the current code.  The released upgrade scripts call functions
// they bound to their own version's symbols: forgea_audit--0.1.0--0.2.0.sql REINDEXes with
// repo_key() and calls bind_lab_session_table() (both bound to _0_2 there), and its DROP INDEX
// fires the DDL guard, which calls append_system().  When the library is newer than that script
// (an 0.1.0 database updated with the 0.3.0 library installed goes 0.1.0 -> 0.2.0 -> 0.3.0 in one
// ALTER EXTENSION), refusing would make the update impossible; the last script of the chain
// rebinds every function to the current symbols in the same transaction.  A later version whose C
// code cannot serve an older script's call (it needs objects that script does not have yet) must
// handle that here; test/upgrade/upgrade.sh runs the whole chain with the current library.
#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "commands/extension.h"
#include "utils/regproc.h"
}

#include <cstring>

// Whether this backend is running forgea_audit's own CREATE EXTENSION or ALTER EXTENSION UPDATE
// script (see above: the one case an old symbol is served instead of refused).
static bool in_own_extension_script()
{
    if (!creating_extension || !OidIsValid(CurrentExtensionObject))
        return false;
    char *name = get_extension_name(CurrentExtensionObject);
    return name != nullptr && strcmp(name, "forgea_audit") == 0;
}

// Raises the refusal for an SQL function of version `sql_version` bound to `symbol`.  The
// function's own name comes from the call (flinfo), so the message names what the user called.
static Datum refuse_sql_version(FunctionCallInfo fcinfo, const char *sql_version, const char *symbol)
{
    Oid fn = fcinfo->flinfo != nullptr ? fcinfo->flinfo->fn_oid : InvalidOid;
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("forgea_audit library %s does not serve the SQL objects of version %s", FA_SQL_VERSION,
                    sql_version),
             errdetail("Function %s is bound to the C symbol \"%s\" of version %s; the installed library serves "
                       "version %s.",
                       OidIsValid(fn) ? format_procedure_qualified(fn) : "(unknown)", symbol, sql_version,
                       FA_SQL_VERSION),
             errhint("Run ALTER EXTENSION forgea_audit UPDATE in this database.")));
    pg_unreachable();
}

// Every C symbol forgea_audit--0.1.0.sql binds to (its AS 'MODULE_PATHNAME', '...' clauses).
#define FA_SQL_0_1_0_SYMBOLS(X)                                                                     \
    X(fa_record_push) X(fa_record_push_json) X(fa_append) X(fa_append_system) X(fa_verify_chain)     \
    X(fa_checkpoint) X(fa_repo_key) X(fa_lab_session_table_regclass) X(fa_canonical_json)           \
    X(fa_canonical_row_json) X(fa_retention_settings) X(fa_guard_write)

#define FA_SQL_REFUSE_0_1_0(symbol)                                                                 \
    FA_DECLARE_FUNCTION(FA_SQL_SYMBOL(symbol));                                                     \
    FA_FUNCTION_SYMBOL(symbol, symbol##_0_1_0_stub, #symbol)                                        \
    {                                                                                               \
        if (in_own_extension_script())                                                              \
            return FA_SQL_SYMBOL(symbol)(fcinfo);                                                   \
        return refuse_sql_version(fcinfo, "0.1.0", #symbol);                                        \
    }
FA_SQL_0_1_0_SYMBOLS(FA_SQL_REFUSE_0_1_0)

// Every C symbol forgea_audit--0.2.0.sql binds to (its AS 'MODULE_PATHNAME', 'fa_..._0_2' clauses).
#define FA_SQL_0_2_0_SYMBOLS(X)                                                                     \
    X(fa_guard_write) X(fa_record_push) X(fa_record_push_json) X(fa_append) X(fa_append_system)      \
    X(fa_verify_chain) X(fa_checkpoint) X(fa_merkle_integrate) X(fa_inclusion_proof)                \
    X(fa_consistency_proof) X(fa_merkle_root) X(fa_verify_increment) X(fa_repo_key)                 \
    X(fa_lab_session_table_regclass) X(fa_bind_lab_session_table) X(fa_find_shared_forks)           \
    X(fa_canonical_json) X(fa_canonical_row_json) X(fa_retention_settings) X(fa_report_progress)    \
    X(fa_end_unchecked_restore)

#define FA_SQL_REFUSE_0_2_0(name)                                                                   \
    FA_DECLARE_FUNCTION(FA_SQL_SYMBOL(name));                                                       \
    FA_FUNCTION_SYMBOL(name##_0_2, name##_0_2_0_stub, #name "_0_2")                                 \
    {                                                                                               \
        if (in_own_extension_script())                                                              \
            return FA_SQL_SYMBOL(name)(fcinfo);                                                     \
        return refuse_sql_version(fcinfo, "0.2.0", #name "_0_2");                                   \
    }
FA_SQL_0_2_0_SYMBOLS(FA_SQL_REFUSE_0_2_0)
