#include "pg/core_headers.hpp"  // first: see there

#include "push/session_binding.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
}

#include "core/push_rules.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/local_setting.hpp"
#include "pg/settings.hpp"
#include "pg/spi_plan.hpp"

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

// The setting's table, resolved by name without any search_path: the name must be schema-qualified,
// and a temporary table is refused whatever its name.  Resolving an unqualified name under the
// SECURITY DEFINER functions' pinned search_path (pg_catalog, pg_temp) would find only a TEMP table
// the caller created, and lab_session_table() (which runs with the caller's search_path) would
// report another table than the one record_push used.  Every caller goes through this one function.
Oid resolve_session_table(LOCKMODE lock)
{
    List *names = stringToQualifiedNameList(fa_lab_session_table);
    if (list_length(names) < 2)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("forgea_audit.lab_session_table must be a schema-qualified name, not %s",
                               fa_lab_session_table),
                        errdetail("An unqualified name would be looked up through a search_path, and pg_temp is on "
                                  "every search_path: a temporary table could stand in for the platform's."),
                        errhint("SET forgea_audit.lab_session_table = 'public.\"LabSession\"' (with its schema).")));
    Oid relid = RangeVarGetRelid(makeRangeVarFromNameList(names), lock, true);
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("lab session table %s does not exist", fa_lab_session_table),
                        errdetail("forgea_audit.lab_session_table names it."),
                        errhint("Create the platform's \"LabSession\" table, or set forgea_audit.lab_session_table to "
                                "its schema-qualified name.")));
    if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("lab session table %s is a temporary table", fa_lab_session_table),
                        errdetail("record_push works on the platform's permanent table only: a temporary table "
                                  "belongs to one session, whose role would decide what record_push runs."),
                        errhint("Set forgea_audit.lab_session_table to the schema-qualified name of the platform's table.")));
    char kind = get_rel_relkind(relid);
    if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("lab session table %s is not a table", fa_lab_session_table),
                        errhint("Set forgea_audit.lab_session_table to the schema-qualified name of the platform's table.")));
    return relid;
}

// The owner of a relation, from the syscache (as_table_owner runs the table's code as that role).
Oid relation_owner(Oid relid)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for relation %u", relid);
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
}

// Runs work as the owner of the platform's table, in a security-restricted operation, the way
// PostgreSQL runs index expressions in VACUUM, ANALYZE, CREATE INDEX and REFRESH MATERIALIZED VIEW
// (SetUserIdAndSecContext with SECURITY_RESTRICTED_OPERATION).  record_push is SECURITY DEFINER and
// its owner a superuser; everything the table can make the server run (triggers, column defaults,
// index expressions and predicates, rules, policies, the operators of its column types, and the
// planning that evaluates immutable ones) then runs with the table owner's rights, which that owner
// has anyway, and cannot SET ROLE, create temporary objects or LISTEN.  The search_path is pinned
// and every setting the work changes (set_config(..., true) in a trigger) is undone when it ends,
// so nothing it does reaches the superuser's work after it.  The user id is restored in
// PG_FINALLY; on an error the transaction (or subtransaction) abort undoes the settings, as it does
// for SECURITY DEFINER functions.
template <typename Work>
void as_table_owner(Oid relid, Work work)
{
    Oid owner = relation_owner(relid);
    Oid ns = get_namespace_oid("forgea_audit", false);
    if (pg_namespace_aclcheck(ns, owner, ACL_USAGE) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("role %s, the owner of lab session table %s, has no USAGE on schema forgea_audit",
                               GetUserNameFromId(owner, false), fa_lab_session_table),
                        errdetail("record_push and shared_forks read the platform's table as that table's owner, "
                                  "and call forgea_audit.repo_key() as that role."),
                        errhint("Run SELECT forgea_audit.bind_lab_session_table(); once (it grants that USAGE and "
                                "creates the index), or GRANT USAGE ON SCHEMA forgea_audit TO %s.",
                                quote_identifier(GetUserNameFromId(owner, false)))));
    Oid save_userid;
    int save_sec_context;
    GetUserIdAndSecContext(&save_userid, &save_sec_context);
    SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION | SECURITY_LOCAL_USERID_CHANGE);
    int save_nestlevel = NewGUCNestLevel();
    PG_TRY();
    {
        (void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
                                 GUC_ACTION_SAVE, true, 0, false);
        work();
        AtEOXact_GUC(false, save_nestlevel);
    }
    PG_FINALLY();
    {
        SetUserIdAndSecContext(save_userid, save_sec_context);
    }
    PG_END_TRY();
}

// Prepared as the table's owner (see as_table_owner): parsing and planning read the table's
// catalog entries and may evaluate its immutable functions.
void prepare_plans(Oid relid)
{
    if (relid == plans.relid)
        return;
    if (plans.find != nullptr) {
        SPI_freeplan(plans.find);
        SPI_freeplan(plans.touch);
        plans = SessionPlans{};
    }
    const char *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
    static const Oid text1[1] = {TEXTOID};

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
    const FaPlanSpec specs[2] = {{find_sql, 1, text1}, {touch_sql, 1, text1}};
    SPIPlanPtr kept[2];
    fa_keep_plans(specs, 2, kept,
                  psprintf("the lab session statements on %s, which needs the columns \"id\", \"userId\", "
                           "\"userForkUrl\", \"status\", \"startedAt\", \"lastActivityAt\" and \"updatedAt\" of "
                           "the platform's \"LabSession\" (forgea_audit.lab_session_table)",
                           table));
    SessionPlans next;
    next.find = kept[0];
    next.touch = kept[1];
    next.relid = relid;
    plans = next;
}

// A text column of an SPI result as Bytes (NULL stays NULL).
Bytes text_column(const FaRow &row, int col)
{
    text *t;
    if (!fa_get_opt<SqlText>(row, col, &t))
        return Bytes{};
    return Bytes{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
}

// What find_shared_forks() reads, and the only column types it reads them in: text and varchar
// (status also a Prisma enum), timestamp and timestamptz.  Any other type is one somebody created,
// in practice the table's owner, and brings that owner's code along (a cast to text, an implicit
// cast an operator picks up, the comparison a sort uses): refused before anything is read.
enum class ColumnKind { Text, Status, Timestamp };
struct SharedForksColumn {
    const char *name;
    ColumnKind kind;
};
constexpr SharedForksColumn kSharedForksColumns[] = {{"id", ColumnKind::Text},
                                                     {"userId", ColumnKind::Text},
                                                     {"userForkUrl", ColumnKind::Text},
                                                     {"status", ColumnKind::Status},
                                                     {"startedAt", ColumnKind::Timestamp}};

// Whether find_shared_forks() reads a column of this type (see kSharedForksColumns).  An enum's
// comparisons are PostgreSQL's own (enum_eq, enum_cmp), whoever created the enum.
bool shared_forks_type_ok(Oid type, ColumnKind kind)
{
    switch (kind) {
    case ColumnKind::Text:
        return type == TEXTOID || type == VARCHAROID;
    case ColumnKind::Status:
        return type == TEXTOID || type == VARCHAROID || get_typtype(type) == TYPTYPE_ENUM;
    case ColumnKind::Timestamp:
        return type == TIMESTAMPOID || type == TIMESTAMPTZOID;
    }
    return false;
}

// Refuses, before anything of the table is read, a missing column, a column of a type
// find_shared_forks() does not read, and a caller who may not SELECT the columns: the table is
// read as its owner, so the caller's own privileges are checked here, as PostgreSQL would check
// them on a SELECT of those columns (the table's privilege, else each column's).
void check_shared_forks_access(Oid relid, Oid caller)
{
    const char *schema = get_namespace_name(get_rel_namespace(relid));
    const char *table = quote_qualified_identifier(schema, get_rel_name(relid));
    const char *caller_name = quote_identifier(GetUserNameFromId(caller, false));
    if (pg_namespace_aclcheck(get_rel_namespace(relid), caller, ACL_USAGE) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied for schema %s", quote_identifier(schema)),
                        errdetail("shared_forks shows the platform's sessions of lab session table %s to a role "
                                  "that may read them; role %s has no USAGE on its schema.",
                                  table, caller_name),
                        errhint("As the schema's owner (or a superuser), run GRANT USAGE ON SCHEMA %s TO "
                                "forgea_audit_admin; and GRANT SELECT ON %s TO forgea_audit_admin; (every admin), "
                                "or the same TO %s (this role).",
                                quote_identifier(schema), table, caller_name)));
    bool table_select = pg_class_aclcheck(relid, caller, ACL_SELECT) == ACLCHECK_OK;
    for (const SharedForksColumn &c : kSharedForksColumns) {
        AttrNumber attno = get_attnum(relid, c.name);
        if (attno == InvalidAttrNumber)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("lab session table %s has no column \"%s\"", table, c.name),
                            errdetail("shared_forks reads the columns \"id\", \"userId\", \"userForkUrl\", "
                                      "\"status\" and \"startedAt\" of the platform's \"LabSession\"."),
                            errhint("Set forgea_audit.lab_session_table to the platform's \"LabSession\" table.")));
        Oid type = get_atttype(relid, attno);
        if (!shared_forks_type_ok(type, c.kind))
            ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                            errmsg("column \"%s\" of lab session table %s has type %s, which shared_forks does not read",
                                   c.name, table, format_type_be_qualified(type)),
                            errdetail("shared_forks reads \"id\", \"userId\" and \"userForkUrl\" as text or "
                                      "varchar, \"status\" as text, varchar or an enum, \"startedAt\" as timestamp "
                                      "or timestamptz: another type brings casts and operators that its creator "
                                      "wrote (docs/security.md, case 1)."),
                            errhint("Give the column the type the platform's migrations give it (Prisma: String is "
                                    "text, DateTime is timestamp(3)).")));
        if (!table_select && pg_attribute_aclcheck(relid, attno, caller, ACL_SELECT) != ACLCHECK_OK)
            ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                            errmsg("permission denied for table %s", table),
                            errdetail("shared_forks shows the \"id\", \"userId\", \"userForkUrl\", \"status\" "
                                      "and \"startedAt\" of the platform's sessions to a role that may read them; "
                                      "role %s may not read \"%s\".",
                                      caller_name, c.name),
                            errhint("As the table's owner (or a superuser), run GRANT SELECT ON %s TO "
                                    "forgea_audit_admin; (every admin) or GRANT SELECT ON %s TO %s; (this role).",
                                    table, table, caller_name)));
    }
}

}  // namespace

// forgea_audit.find_shared_forks(): the forks (repo_key) that more than one active session points
// at, each with all its sessions, newest first.  Not SECURITY DEFINER: the caller's privileges on
// the platform's table are checked, and the table is then read as its owner in a
// security-restricted operation (as_table_owner), like record_push reads it, so that nothing the
// owner attached to it (casts and operators of its column types, policies, index expressions the
// planner loads) runs with a superuser's or an admin's rights (issue 20, item 4).
FA_FUNCTION(fa_find_shared_forks, "forgea_audit.find_shared_forks")
{
    Oid caller = GetUserId();
    Oid relid = resolve_session_table(AccessShareLock);
    check_shared_forks_access(relid, caller);
    const char *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid));
    // Every name qualified; the status list is a constant, the other columns read as they are.
    char *sql = psprintf(
        "SELECT k.key, pg_catalog.count(*), "
        "       pg_catalog.array_agg(s.\"id\"::pg_catalog.text ORDER BY s.\"startedAt\" DESC, s.\"id\" DESC), "
        "       pg_catalog.array_agg(s.\"userId\"::pg_catalog.text ORDER BY s.\"startedAt\" DESC, s.\"id\" DESC), "
        "       pg_catalog.array_agg(s.\"userForkUrl\"::pg_catalog.text ORDER BY s.\"startedAt\" DESC, s.\"id\" DESC), "
        "       pg_catalog.max(s.\"startedAt\")::pg_catalog.timestamp "
        "FROM %s s, LATERAL (SELECT forgea_audit.repo_key(s.\"userForkUrl\"::pg_catalog.text) AS key) k "
        "WHERE s.\"status\" IN ('IN_PROGRESS', 'STUCK') AND k.key IS NOT NULL "
        "GROUP BY k.key HAVING pg_catalog.count(*) > 1 ORDER BY 2 DESC, 1",
        table);

    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int rc = 0;
    as_table_owner(relid, [&] { rc = SPI_execute(sql, true, 0); });
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading the shared forks failed: %s", SPI_result_code_string(rc));
    TupleDesc desc = SPI_tuptable->tupdesc;
    Datum values[6];
    bool nulls[6];
    if (desc->natts != lengthof(values) || rsinfo->setDesc->natts != lengthof(values))
        elog(ERROR, "find_shared_forks: %d result columns, %d declared", desc->natts, rsinfo->setDesc->natts);
    // The values go to the result as they are (NULL flags with them): their types must be the
    // declared ones.
    for (int c = 0; c < desc->natts; c++)
        if (TupleDescAttr(desc, c)->atttypid != TupleDescAttr(rsinfo->setDesc, c)->atttypid)
            elog(ERROR, "find_shared_forks: result column %d has type %s, %s declared", c + 1,
                 format_type_be(TupleDescAttr(desc, c)->atttypid),
                 format_type_be(TupleDescAttr(rsinfo->setDesc, c)->atttypid));
    for (uint64 i = 0; i < SPI_processed; i++) {
        CHECK_FOR_INTERRUPTS();
        (void) fa_deform_into(desc, SPI_tuptable->vals[i], values, nulls, "the shared forks query");
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);  // copies the values
    }
    SPI_finish();
    return (Datum) 0;
}

// forgea_audit.bind_lab_session_table() RETURNS text: grants the platform table's owner USAGE on
// schema forgea_audit (record_push and shared_forks call repo_key() as that role), then creates the
// fork lookup's index AS THAT OWNER, in a security-restricted operation (as_table_owner): the
// extension's owner never runs DDL on a table somebody else owns, and the CREATE INDEX is checked
// against the owner's own privileges.  An owner that may not create it (no CREATE on the table's
// schema) gets a refusal naming the statement to run itself.  An index already there is left as
// it is, without the "already exists" notice (CREATE EXTENSION binds, and so may a migration).
FA_FUNCTION(fa_bind_lab_session_table, "forgea_audit.bind_lab_session_table")
{
    Oid relid = resolve_session_table(AccessShareLock);
    Oid owner = relation_owner(relid);
    Oid table_ns = get_rel_namespace(relid);
    const char *schema = get_namespace_name(table_ns);
    const char *relname = get_rel_name(relid);
    const char *table = quote_qualified_identifier(schema, relname);
    const char *owner_name = quote_identifier(GetUserNameFromId(owner, false));
    // The first 40 characters of the table's name (as 0.1.0 named it: left(relname, 40)).
    int prefix = pg_mbcharcliplen(relname, static_cast<int>(strlen(relname)), 40);
    char *index = psprintf("%.*s_forgea_repo_key_idx", prefix, relname);

    Oid existing = get_relname_relid(index, table_ns);
    bool index_exists =
        OidIsValid(existing) && get_rel_relkind(existing) == RELKIND_INDEX && IndexGetRelation(existing, false) == relid;

    // The status list is written as record_push's lookup writes it, so the planner proves the
    // partial index applies (session_binding.cpp, prepare_plans).
    char *create = psprintf("CREATE INDEX IF NOT EXISTS %s ON %s (forgea_audit.repo_key(\"userForkUrl\"), "
                            "\"startedAt\" DESC) WHERE \"status\" IN ('IN_PROGRESS', 'STUCK')",
                            quote_identifier(index), table);
    if (!index_exists && pg_namespace_aclcheck(table_ns, owner, ACL_CREATE) != ACLCHECK_OK)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("role %s, the owner of lab session table %s, may not create an index on it",
                               owner_name, table),
                        errdetail("bind_lab_session_table() creates the fork lookup's index as the table's owner, "
                                  "and that role has no CREATE on schema %s.",
                                  quote_identifier(schema)),
                        errhint("As role %s, run %s; then SELECT forgea_audit.bind_lab_session_table(); (or GRANT "
                                "CREATE ON SCHEMA %s TO %s and bind again).",
                                owner_name, create, quote_identifier(schema), owner_name)));

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    // As the extension's owner (this function is SECURITY DEFINER): the schema is the extension's.
    if (pg_namespace_aclcheck(get_namespace_oid("forgea_audit", false), owner, ACL_USAGE) != ACLCHECK_OK) {
        if (SPI_execute(psprintf("GRANT USAGE ON SCHEMA forgea_audit TO %s", owner_name), false, 0) != SPI_OK_UTILITY)
            elog(ERROR, "granting USAGE on schema forgea_audit to %s failed", owner_name);
        CommandCounterIncrement();
    }
    if (!index_exists) {
        int rc = 0;
        as_table_owner(relid, [&] { rc = SPI_execute(create, false, 0); });
        if (rc != SPI_OK_UTILITY)
            elog(ERROR, "creating index %s failed: %s", index, SPI_result_code_string(rc));
    }
    SPI_finish();
    PG_RETURN_TEXT_P(cstring_to_text(index));
}

// See the header.  Runs as the table's owner with the kept lookup plan; more than one active
// session for a fork is reported (the newest wins), not refused.
ActiveSession fa_find_active_session(Bytes repo_key)
{
    // Resolved once for the whole call: the lock (the one the UPDATE takes anyway) keeps the name
    // from being moved to another table before fa_touch_session() uses the same relid.
    Oid relid = resolve_session_table(RowExclusiveLock);
    Datum args[1] = {PointerGetDatum(cstring_to_text_with_len(repo_key.data, static_cast<int>(repo_key.len)))};
    int rc = 0;
    // jit = off for the lookup only: it reads one fork's sessions, and without the index
    // (bind_lab_session_table() is optional) its cost grows with the table until every call would
    // compile it; JIT never pays for itself on a lookup that returns one row.  A SELECT on the
    // table runs none of the platform's triggers; touching the session (below) runs with the
    // caller's settings.
    as_table_owner(relid, [&] {
        fa_with_local_setting("jit", "off", [&] {
            prepare_plans(relid);
            rc = SPI_execute_plan(plans.find, args, nullptr, false, 1);
        });
    });
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "session lookup failed: %s", SPI_result_code_string(rc));
    ActiveSession s;
    s.table = relid;
    if (SPI_processed == 0)
        return s;
    FaRow row = fa_spi_row(0, "the lab session lookup");
    s.found = true;
    s.id = text_column(row, 1);
    s.user_id = text_column(row, 2);
    s.active_count = fa_get<SqlInt8>(row, 3);
    return s;
}

// See the header.  Locks the session row, moves lastActivityAt/updatedAt and STUCK -> IN_PROGRESS,
// and returns the status it had, for the audit row.
const char *fa_touch_session(const ActiveSession &s)
{
    Datum args[1] = {PointerGetDatum(cstring_to_text_with_len(s.id.data, static_cast<int>(s.id.len)))};
    int rc = 0;
    as_table_owner(s.table, [&] {
        prepare_plans(s.table);
        rc = SPI_execute_plan(plans.touch, args, nullptr, false, 1);
    });
    if (rc != SPI_OK_UPDATE_RETURNING)
        elog(ERROR, "session update failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        return nullptr;
    return text_to_cstring(fa_get<SqlText>(fa_spi_row(0, "the lab session update"), 1));
}

// forgea_audit.repo_key(url text) RETURNS text: NULL for anything that is not a repository URL,
// so that an expression index over the platform's table never fails on a bad row.
FA_FUNCTION(fa_repo_key, "forgea_audit.repo_key")
{
    text *url = fa_arg<SqlText>(fcinfo, 0, "url");
    size_t len = VARSIZE_ANY_EXHDR(url);
    text *out = static_cast<text *>(palloc(VARHDRSZ + len + 1));
    size_t n = forgea::core::repo_key(VARDATA_ANY(url), len, VARDATA(out));
    if (n == 0)
        PG_RETURN_NULL();
    SET_VARSIZE(out, VARHDRSZ + n);
    PG_RETURN_TEXT_P(out);
}

// forgea_audit.lab_session_table() RETURNS regclass: the table record_push binds to right now,
// resolved by the same function record_push uses (no search_path involved, so whoever calls it
// sees the same table).
FA_FUNCTION(fa_lab_session_table_regclass, "forgea_audit.lab_session_table")
{
    return ObjectIdGetDatum(resolve_session_table(AccessShareLock));
}
