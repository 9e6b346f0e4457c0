#include "pg/core_headers.hpp"  // first: see there

#include "push/session_binding.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
}

#include "core/push_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/settings.hpp"

using forgea::core::Bytes;

namespace {

// Plans are built for one resolved table and rebuilt when the setting names another.
struct SessionPlans {
    Oid relid = InvalidOid;
    SPIPlanPtr find = nullptr;
    SPIPlanPtr touch = nullptr;
};
FA_LIVES_ACROSS_PG_CALLS(SessionPlans);
SessionPlans plans;

Oid resolve_session_table()
{
    List *names = stringToQualifiedNameList(fa_lab_session_table);
    Oid relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("lab session table %s does not exist", fa_lab_session_table),
                        errdetail("forgea_audit.lab_session_table names it; it is resolved with the current search_path."),
                        errhint("Create the platform's \"LabSession\" table, or set forgea_audit.lab_session_table to "
                                "its schema-qualified name.")));
    return relid;
}

SPIPlanPtr keep_plan(const char *sql, int nargs, Oid *types)
{
    SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
    if (plan == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                        errmsg("lab session table %s does not have the columns forgea_audit needs", fa_lab_session_table),
                        errdetail("Preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result)),
                        errhint("It needs \"id\", \"userId\", \"userForkUrl\", \"status\", \"startedAt\", "
                                "\"lastActivityAt\" and \"updatedAt\" as the platform's \"LabSession\" has them.")));
    SPI_keepplan(plan);
    return plan;
}

void prepare_plans()
{
    Oid relid = resolve_session_table();
    if (relid == plans.relid)
        return;
    if (plans.find != nullptr) {
        SPI_freeplan(plans.find);
        SPI_freeplan(plans.touch);
        plans = SessionPlans{};
    }
    const char *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
    Oid text1[1] = {TEXTOID};

    // The status list is written the same way as the partial index's predicate in
    // bind_lab_session_table(), so the planner can prove the index applies.
    char *find_sql = psprintf(
        "SELECT \"id\"::text, \"userId\"::text, count(*) OVER () FROM %s "
        "WHERE forgea_audit.repo_key(\"userForkUrl\") = $1 AND \"status\" IN ('IN_PROGRESS', 'STUCK') "
        "ORDER BY \"startedAt\" DESC, \"id\" DESC LIMIT 1",
        table);
    // Prisma stores DateTime as UTC in timestamp(3) columns.
    char *touch_sql = psprintf(
        "WITH s AS (SELECT \"id\", \"status\"::text AS old_status FROM %s "
        "           WHERE \"id\" = $1 AND \"status\" IN ('IN_PROGRESS', 'STUCK') FOR UPDATE) "
        "UPDATE %s AS t SET \"lastActivityAt\" = (now() AT TIME ZONE 'UTC'), "
        "                   \"updatedAt\" = (now() AT TIME ZONE 'UTC'), "
        "                   \"status\" = CASE WHEN t.\"status\" = 'STUCK' THEN 'IN_PROGRESS' ELSE t.\"status\" END "
        "FROM s WHERE t.\"id\" = s.\"id\" RETURNING s.old_status",
        table, table);
    SessionPlans next;
    next.find = keep_plan(find_sql, 1, text1);
    next.touch = keep_plan(touch_sql, 1, text1);
    next.relid = relid;
    plans = next;
}

Bytes text_column(HeapTuple tuple, TupleDesc desc, int col)
{
    bool isnull;
    Datum d = SPI_getbinval(tuple, desc, col, &isnull);
    if (isnull)
        return Bytes{};
    text *t = DatumGetTextPP(d);
    return Bytes{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
}

}  // namespace

ActiveSession fa_find_active_session(Bytes repo_key)
{
    prepare_plans();
    Datum args[1] = {PointerGetDatum(cstring_to_text_with_len(repo_key.data, static_cast<int>(repo_key.len)))};
    int rc = SPI_execute_plan(plans.find, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "session lookup failed: %s", SPI_result_code_string(rc));
    ActiveSession s;
    if (SPI_processed == 0)
        return s;
    HeapTuple tuple = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;
    s.found = true;
    s.id = text_column(tuple, desc, 1);
    s.user_id = text_column(tuple, desc, 2);
    s.active_count = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
    return s;
}

const char *fa_touch_session(Bytes session_id)
{
    prepare_plans();
    Datum args[1] = {PointerGetDatum(cstring_to_text_with_len(session_id.data, static_cast<int>(session_id.len)))};
    int rc = SPI_execute_plan(plans.touch, args, nullptr, false, 1);
    if (rc != SPI_OK_UPDATE_RETURNING)
        elog(ERROR, "session update failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        return nullptr;
    return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

// forgea_audit.repo_key(url text) RETURNS text: NULL for anything that is not a repository URL,
// so that an expression index over the platform's table never fails on a bad row.
FA_FUNCTION(fa_repo_key, "forgea_audit.repo_key")
{
    text *url = PG_GETARG_TEXT_PP(0);
    size_t len = VARSIZE_ANY_EXHDR(url);
    text *out = static_cast<text *>(palloc(VARHDRSZ + len + 1));
    size_t n = forgea::core::repo_key(VARDATA_ANY(url), len, VARDATA(out));
    if (n == 0)
        PG_RETURN_NULL();
    SET_VARSIZE(out, VARHDRSZ + n);
    PG_RETURN_TEXT_P(out);
}

// forgea_audit.lab_session_table() RETURNS regclass: the table record_push binds to right now.
FA_FUNCTION(fa_lab_session_table_regclass, "forgea_audit.lab_session_table")
{
    return ObjectIdGetDatum(resolve_session_table());
}
