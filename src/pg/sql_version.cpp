// The C symbols of earlier SQL versions, kept as stubs that refuse to run.
//
// After the new library is installed and the server restarted (or a backend reconnects), a
// database whose extension is still at 0.1.0 calls its functions by their 0.1.0 symbol names.  The
// 0.2.0 code behind them would run against 0.1.0 tables and functions; instead each old name
// raises one clear error that says what to do.  ALTER EXTENSION forgea_audit UPDATE rebinds the
// functions to the current symbols (src/pg/sql_version.hpp).
#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "utils/regproc.h"
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
    FA_FUNCTION_SYMBOL(symbol, symbol##_0_1_0_stub, #symbol)                                        \
    {                                                                                               \
        return refuse_sql_version(fcinfo, "0.1.0", #symbol);                                        \
    }
FA_SQL_0_1_0_SYMBOLS(FA_SQL_REFUSE_0_1_0)
