// The refusals of src/pg/datum_read.hpp: out of line, as they are the cold path of every read.
#include "pg/core_headers.hpp"  // first: see there

#include "pg/datum_read.hpp"

extern "C" {
#include "postgres.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

namespace {

const char *kBuildHint = "The installed library and the extension's SQL objects differ: run ALTER EXTENSION forgea_audit "
                         "UPDATE, or reinstall the matching version.";

// The column's name, for messages.
const char *column_name(const FaRow &row, int attno)
{
    if (attno >= 1 && attno <= row.desc->natts)
        return NameStr(TupleDescAttr(row.desc, attno - 1)->attname);
    return "?";
}

// The function being called, for messages ("forgea_audit.append").
const char *function_name(FunctionCallInfo fcinfo)
{
    Oid fn = fcinfo->flinfo != nullptr ? fcinfo->flinfo->fn_oid : InvalidOid;
    if (fn == InvalidOid)
        return "forgea_audit function";
    char *name = get_func_name(fn);
    Oid ns = get_func_namespace(fn);
    char *schema = ns != InvalidOid ? get_namespace_name(ns) : nullptr;
    if (name == nullptr)
        return "forgea_audit function";
    return schema != nullptr ? quote_qualified_identifier(schema, name) : name;
}

}  // namespace

// Row i of an SPI result that has fewer rows: the code expected a row the query did not give.
void fa_refuse_row_index(uint64 i, const char *what)
{
    ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND),
                    errmsg("%s returned %llu rows; forgea_audit read row %llu", what,
                           static_cast<unsigned long long>(SPI_tuptable != nullptr ? SPI_processed : 0),
                           static_cast<unsigned long long>(i + 1)),
                    errhint("%s", kBuildHint)));
    pg_unreachable();
}

// A column that is not there (by position, or by name when name is given).
void fa_refuse_missing_column(const FaRow &row, int attno, const char *name)
{
    if (name != nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("%s has no column \"%s\"", row.what, name),
                        errhint("%s", kBuildHint)));
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN), errmsg("%s has no column %d", row.what, attno),
                    errhint("%s", kBuildHint)));
    pg_unreachable();
}

// A column of another type than the one the code reads it as.
void fa_refuse_column_type(const FaRow &row, int attno, Oid expected)
{
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("column \"%s\" of %s has type %s, where forgea_audit reads %s", column_name(row, attno),
                           row.what, format_type_be(TupleDescAttr(row.desc, attno - 1)->atttypid),
                           format_type_be(expected)),
                    errhint("%s", kBuildHint)));
    pg_unreachable();
}

// A column read as a row value must hold one.
void fa_check_composite(const FaRow &row, int attno)
{
    Oid actual = TupleDescAttr(row.desc, attno - 1)->atttypid;
    if (actual != RECORDOID && !type_is_rowtype(actual))
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("column \"%s\" of %s has type %s, where forgea_audit reads a row", column_name(row, attno),
                               row.what, format_type_be(actual)),
                        errhint("%s", kBuildHint)));
}

// A NULL where the code needs a value: a missing value (23502), named.
void fa_refuse_null_column(const FaRow &row, int attno)
{
    ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
                    errmsg("null value in column \"%s\" of %s", column_name(row, attno), row.what),
                    errdetail("forgea_audit needs this column's value (to check or extend the hash chain, or to "
                              "answer the call); the row is refused and nothing is written.")));
    pg_unreachable();
}

// A scan slot's row, named for a refusal: the caller's words, else its table's qualified name.
const char *fa_slot_what(TupleTableSlot *slot, const char *what)
{
    if (what != nullptr)
        return what;
    Oid rel = slot->tts_tableOid;
    char *name = OidIsValid(rel) ? get_rel_name(rel) : nullptr;
    if (name == nullptr)
        return "a scanned row";
    char *schema = get_namespace_name(get_rel_namespace(rel));
    return schema != nullptr ? quote_qualified_identifier(schema, name) : name;
}

// The attribute number of a column by name.
int fa_attno(const FaRow &row, const char *column)
{
    for (int i = 0; i < row.desc->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(row.desc, i);
        if (!a->attisdropped && strcmp(NameStr(a->attname), column) == 0)
            return i + 1;
    }
    fa_refuse_missing_column(row, 0, column);
}

// A call with fewer arguments than the library reads: its SQL declaration is not the library's.
void fa_refuse_missing_arg(FunctionCallInfo fcinfo, int n)
{
    ereport(ERROR, (errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
                    errmsg("%s was called with %d arguments; the library reads argument %d", function_name(fcinfo),
                           static_cast<int>(PG_NARGS()), n + 1),
                    errhint("%s", kBuildHint)));
    pg_unreachable();
}

// An argument of another type than the one the library reads it as.
void fa_refuse_arg_type(FunctionCallInfo fcinfo, int n, Oid expected, Oid actual)
{
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("argument %d of %s has type %s, where the library reads %s", n + 1, function_name(fcinfo),
                           format_type_be(actual), expected == InvalidOid ? "a row" : format_type_be(expected)),
                    errhint("%s", kBuildHint)));
    pg_unreachable();
}

// The argument's type as the call site gives it (a call from SQL; InvalidOid otherwise), against
// the expected one (a domain over it is that type too; InvalidOid expects a row type).
void fa_check_arg_type(FunctionCallInfo fcinfo, int n, Oid expected)
{
    if (expected == ANYOID || fcinfo->flinfo == nullptr || fcinfo->flinfo->fn_expr == nullptr)
        return;
    Oid actual = get_fn_expr_argtype(fcinfo->flinfo, n);
    if (actual == InvalidOid || actual == expected)
        return;
    if (expected == InvalidOid) {
        if (actual != RECORDOID && !type_is_rowtype(actual))
            fa_refuse_arg_type(fcinfo, n, expected, actual);
        return;
    }
    if (getBaseType(actual) != expected)
        fa_refuse_arg_type(fcinfo, n, expected, actual);
}

// A NULL where the function needs a value (22004), named, with the caller's hint.
void fa_refuse_null_arg(FunctionCallInfo fcinfo, int n, const char *name, const char *hint)
{
    if (hint != nullptr)
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("%s: %s must not be NULL", function_name(fcinfo), name), errhint("%s", hint)));
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s: %s must not be NULL", function_name(fcinfo), name)));
    pg_unreachable();
}
