// forgea_audit.canonical_row_json(record): the text canonical_json(to_jsonb(row)) gives, written
// straight from the row.
//
// Retention digests every archived attempt (archive_batch(), docs/operations.md "Retention and archival"), and the
// profile of a batch had to_jsonb() (building a jsonb object per row, sorting its keys) and
// canonical_json() (walking it again) at about a third of the backend's CPU.  This writes the same
// bytes without the intermediate jsonb: the columns in jsonb's key order (shorter names first, then
// bytewise), each value converted the way PostgreSQL 15's to_jsonb() converts it (jsonb.c,
// datum_to_jsonb), then escaped by the canonical writer.  verify_archive() still recomputes the
// digest the documented way, canonical_json(to_jsonb(row)), so any difference shows there; the
// regression test compares both over every type lab_attempt uses and more.
//
// Column types to_jsonb() would treat specially and that are not handled here (json, composites,
// user-defined types with a cast to json) raise an error instead of producing other bytes.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
}

#include <cstdlib>
#include <new>

#include "core/canonical_json_bytes.hpp"
#include "core/sha256.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"

namespace {

using forgea::core::ByteSink;

// jsonb.c's categories, as far as this function handles them.
enum class Category { Bool, Integer, Numeric, Date, Timestamp, TimestampTz, Jsonb, Text, Other, Array };

struct Conversion {
    Category category;
    Oid type;          // base type (domains looked through, as to_jsonb does)
    FmgrInfo output;   // its output function (Numeric, Other)
    // Arrays: the element's conversion and storage.
    Category elem_category;
    Oid elem_type;
    FmgrInfo elem_output;
    int16 elem_len;
    bool elem_byval;
    char elem_align;
};
FA_LIVES_ACROSS_PG_CALLS(Conversion);

struct Column {
    int attno;         // 0-based
    const char *name;
    int name_len;
    Conversion conv;
};
FA_LIVES_ACROSS_PG_CALLS(Column);

// Per call site, in fn_mcxt: the row type's columns in key order.
struct RowPlan {
    Oid type;
    int32 typmod;
    TupleDesc desc;
    int ncolumns;
    Column *columns;
    Datum *values;
    bool *nulls;
};
FA_LIVES_ACROSS_PG_CALLS(RowPlan);

// How a column type is written (as to_jsonb would: numbers, booleans, json, arrays, text), decided
// once per column; types it cannot write exactly as to_jsonb does are refused up front.
Category categorize(Oid type, const char *column)
{
    switch (type) {
        case BOOLOID:
            return Category::Bool;
        case INT2OID:
        case INT4OID:
        case INT8OID:
            return Category::Integer;
        case FLOAT4OID:
        case FLOAT8OID:
        case NUMERICOID:
            return Category::Numeric;
        case DATEOID:
            return Category::Date;
        case TIMESTAMPOID:
            return Category::Timestamp;
        case TIMESTAMPTZOID:
            return Category::TimestampTz;
        case JSONBOID:
            return Category::Jsonb;
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID:
            return Category::Text;
        default:
            break;
    }
    if (OidIsValid(get_element_type(type)))
        return Category::Array;
    if (type == JSONOID || type_is_rowtype(type) || type >= FirstNormalObjectId)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("canonical_row_json: column \"%s\" has type %s, which it does not convert", column,
                               format_type_be(type)),
                        errhint("Use forgea_audit.canonical_json(to_jsonb(row)).")));
    return Category::Other;
}

// Looks up, once per column and call site, what writing a value of the column's type needs
// (output function, element type of an array), in mcxt so it is reused for every row.
void prepare(Conversion &c, Oid declared_type, const char *column, MemoryContext mcxt)
{
    c.type = getBaseType(declared_type);
    c.category = categorize(c.type, column);
    Oid out;
    bool varlena;
    if (c.category == Category::Numeric || c.category == Category::Other) {
        getTypeOutputInfo(c.type, &out, &varlena);
        fmgr_info_cxt(out, &c.output, mcxt);
    }
    if (c.category != Category::Array)
        return;
    c.elem_type = getBaseType(get_element_type(c.type));
    c.elem_category = categorize(c.elem_type, column);
    if (c.elem_category == Category::Array)
        elog(ERROR, "canonical_row_json: unexpected array of arrays in column \"%s\"", column);
    get_typlenbyvalalign(get_element_type(c.type), &c.elem_len, &c.elem_byval, &c.elem_align);
    if (c.elem_category == Category::Numeric || c.elem_category == Category::Other) {
        getTypeOutputInfo(c.elem_type, &out, &varlena);
        fmgr_info_cxt(out, &c.elem_output, mcxt);
    }
}

// jsonb's key order: shorter first, then bytewise (the canonical order, docs/chain.md).
int column_order(const void *a, const void *b)
{
    const Column *x = static_cast<const Column *>(a);
    const Column *y = static_cast<const Column *>(b);
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    return memcmp(x->name, y->name, x->name_len);
}

// The conversion plan for a row type, cached in fn_extra: canonical_row_json runs once per archived
// row, and the catalog lookups would otherwise dominate it.
RowPlan *plan_for(FunctionCallInfo fcinfo, Oid type, int32 typmod)
{
    RowPlan *plan = static_cast<RowPlan *>(fcinfo->flinfo->fn_extra);
    if (plan != nullptr && plan->type == type && plan->typmod == typmod)
        return plan;

    MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
    MemoryContext old = MemoryContextSwitchTo(mcxt);
    TupleDesc looked_up = lookup_rowtype_tupdesc(type, typmod);
    TupleDesc desc = CreateTupleDescCopy(looked_up);
    ReleaseTupleDesc(looked_up);

    plan = static_cast<RowPlan *>(palloc0(sizeof(RowPlan)));
    plan->type = type;
    plan->typmod = typmod;
    plan->desc = desc;
    plan->columns = static_cast<Column *>(palloc0(sizeof(Column) * Max(desc->natts, 1)));
    plan->values = static_cast<Datum *>(palloc(sizeof(Datum) * Max(desc->natts, 1)));
    plan->nulls = static_cast<bool *>(palloc(sizeof(bool) * Max(desc->natts, 1)));
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped)
            continue;
        Column &col = plan->columns[plan->ncolumns++];
        col.attno = i;
        col.name = NameStr(att->attname);
        col.name_len = static_cast<int>(strlen(col.name));
        prepare(col.conv, att->atttypid, col.name, mcxt);
    }
    qsort(plan->columns, plan->ncolumns, sizeof(Column), column_order);
    for (int i = 1; i < plan->ncolumns; i++)
        if (column_order(&plan->columns[i - 1], &plan->columns[i]) == 0)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("canonical_row_json: the row has two columns named \"%s\"", plan->columns[i].name)));
    MemoryContextSwitchTo(old);
    fcinfo->flinfo->fn_extra = plan;
    return plan;
}

void put_string(ByteSink &out, const char *s, size_t len)
{
    forgea::core::write_json_string(out, s, len);
}

void put_cstring(ByteSink &out, const char *s)
{
    put_string(out, s, strlen(s));
}

// One non-null value of a scalar category, as datum_to_jsonb makes it and canonical_json writes it.
void write_column_scalar(ByteSink &out, Category category, Oid type, FmgrInfo *output, Datum value)
{
    switch (category) {
        case Category::Bool:
            if (DatumGetBool(value))
                out.put("true", 4);
            else
                out.put("false", 5);
            return;
        case Category::Integer: {
            // to_jsonb makes a numeric of the integer; numeric_out prints the same digits.
            int64 v = type == INT2OID ? DatumGetInt16(value) : type == INT4OID ? DatumGetInt32(value) : DatumGetInt64(value);
            char buf[MAXINT8LEN + 1];
            int len = pg_lltoa(v, buf);
            out.put(buf, len);
            return;
        }
        case Category::Numeric: {
            // to_jsonb: the output text through numeric_in (a JSON number), unless it is NaN or
            // an infinity, which stay strings (PostgreSQL 15: output containing N, n, I or i).
            char *text = OutputFunctionCall(output, value);
            if (strpbrk(text, "NnIi") != nullptr) {
                put_cstring(out, text);
                return;
            }
            Datum num = DirectFunctionCall3(numeric_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid),
                                            Int32GetDatum(-1));
            char *digits = DatumGetCString(DirectFunctionCall1(numeric_out, num));
            out.put(digits, strlen(digits));
            return;
        }
        case Category::Date:
            put_cstring(out, JsonEncodeDateTime(nullptr, value, DATEOID, nullptr));
            return;
        case Category::Timestamp:
            put_cstring(out, JsonEncodeDateTime(nullptr, value, TIMESTAMPOID, nullptr));
            return;
        case Category::TimestampTz:
            put_cstring(out, JsonEncodeDateTime(nullptr, value, TIMESTAMPTZOID, nullptr));
            return;
        case Category::Jsonb:
            write_canonical_jsonb(DatumGetJsonbP(value), out);
            return;
        case Category::Text: {
            text *t = DatumGetTextPP(value);
            put_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
            return;
        }
        case Category::Other:
            put_cstring(out, OutputFunctionCall(output, value));
            return;
        case Category::Array:
            break;
    }
    elog(ERROR, "canonical_row_json: unexpected category");
}

// One dimension of an array, nested as to_jsonb nests them.
void write_dimension(ByteSink &out, const Conversion &c, int dim, int ndims, const int *dims, const Datum *elems,
                     const bool *nulls, int *next)
{
    out.put_byte('[');
    for (int i = 0; i < dims[dim]; i++) {
        if (i > 0)
            out.put_byte(',');
        if (dim + 1 < ndims) {
            write_dimension(out, c, dim + 1, ndims, dims, elems, nulls, next);
            continue;
        }
        int k = (*next)++;
        if (nulls[k])
            out.put("null", 4);
        else
            write_column_scalar(out, c.elem_category, c.elem_type, const_cast<FmgrInfo *>(&c.elem_output), elems[k]);
    }
    out.put_byte(']');
}

// A one-dimensional array as a JSON array, elements written like scalar columns.
void write_array(ByteSink &out, const Conversion &c, Datum value)
{
    ArrayType *array = DatumGetArrayTypeP(value);
    int ndims = ARR_NDIM(array);
    int *dims = ARR_DIMS(array);
    if (ArrayGetNItems(ndims, dims) <= 0) {
        out.put("[]", 2);
        return;
    }
    Datum *elems;
    bool *nulls;
    int n;
    deconstruct_array(array, ARR_ELEMTYPE(array), c.elem_len, c.elem_byval, c.elem_align, &elems, &nulls, &n);
    int next = 0;
    write_dimension(out, c, 0, ndims, dims, elems, nulls, &next);
    pfree(elems);
    pfree(nulls);
}

// The row's columns as canonical JSON, to out (canonical_row_json and rows_sha256 write the same).
void write_row(ByteSink &out, FunctionCallInfo fcinfo, HeapTupleHeader row)
{
    RowPlan *plan = plan_for(fcinfo, HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
    HeapTupleData tuple;
    tuple.t_len = HeapTupleHeaderGetDatumLength(row);
    ItemPointerSetInvalid(&tuple.t_self);
    tuple.t_tableOid = InvalidOid;
    tuple.t_data = row;
    FaRow values = fa_deform_into(plan->desc, &tuple, plan->values, plan->nulls, "the row value");

    out.put("{", 1);
    for (int i = 0; i < plan->ncolumns; i++) {
        const Column &col = plan->columns[i];
        if (i > 0)
            out.put(",", 1);
        put_string(out, col.name, col.name_len);
        out.put(":", 1);
        Datum value;
        if (!fa_get_opt<SqlAny>(values, col.attno + 1, &value))
            out.put("null", 4);
        else if (col.conv.category == Category::Array)
            write_array(out, col.conv, value);
        else
            write_column_scalar(out, col.conv.category, col.conv.type, const_cast<FmgrInfo *>(&col.conv.output), value);
    }
    out.put("}", 1);
}

// rows_sha256's state, in the aggregate's memory context: the hash so far and one reused buffer
// for a row's text (converted to UTF-8 before it is hashed, as convert_to(..., 'UTF8') did).
struct RowsDigest {
    forgea::core::Sha256 hash;
    StringInfoData text;
    bool any;
};
FA_LIVES_ACROSS_PG_CALLS(RowsDigest);

}  // namespace

// forgea_audit.canonical_row_json(row): the canonical JSON text of a row, byte-identical to
// canonical_json(to_jsonb(row)) without building the jsonb.
FA_FUNCTION(fa_canonical_row_json, "forgea_audit.canonical_row_json")
{
    HeapTupleHeader row = fa_arg<SqlRecord>(fcinfo, 0, "row_value");
    StringInfo buf = makeStringInfo();
    StringInfoSink out(buf);
    write_row(out, fcinfo, row);
    PG_RETURN_TEXT_P(cstring_to_text_with_len(buf->data, buf->len));
}

// forgea_audit.rows_sha256(row ORDER BY ...), the aggregate archive_batch() digests the moved rows
// with: the SHA-256 of their canonical_row_json texts joined by newlines, in UTF-8, the bytes
// sha256(convert_to(string_agg(canonical_row_json(row), E'\n' ORDER BY ...), 'UTF8')) hashes,
// without building that text (1.5 MB per batch of 1,000 attempts, copied twice: a tenth of the
// worker's time archiving, in string_agg, convert_to and the page faults of their fresh memory).
// Step: one row into the hash.
FA_FUNCTION(fa_rows_sha256_step, "forgea_audit.rows_sha256")
{
    MemoryContext aggcxt;
    if (!AggCheckCallContext(fcinfo, &aggcxt))
        elog(ERROR, "forgea_audit.rows_sha256: the step function called outside an aggregate");
    Datum state_datum;
    RowsDigest *state = nullptr;
    if (fa_arg_opt<SqlAny>(fcinfo, 0, &state_datum))
        state = reinterpret_cast<RowsDigest *>(DatumGetPointer(state_datum));
    if (state == nullptr) {
        state = static_cast<RowsDigest *>(MemoryContextAllocZero(aggcxt, sizeof(RowsDigest)));
        new (&state->hash) forgea::core::Sha256();
        MemoryContext old = MemoryContextSwitchTo(aggcxt);
        initStringInfo(&state->text);
        MemoryContextSwitchTo(old);
        state->any = false;
    }
    HeapTupleHeader row;
    if (!fa_arg_opt<SqlRecord>(fcinfo, 1, &row))
        PG_RETURN_POINTER(state);  // string_agg skips a NULL: so does this
    resetStringInfo(&state->text);
    {
        StringInfoSink out(&state->text);
        if (state->any)
            out.put("\n", 1);
        write_row(out, fcinfo, row);
    }
    char *utf8 = pg_server_to_any(state->text.data, state->text.len, PG_UTF8);
    state->hash.put(utf8, utf8 == state->text.data ? static_cast<size_t>(state->text.len) : strlen(utf8));
    if (utf8 != state->text.data)
        pfree(utf8);
    state->any = true;
    PG_RETURN_POINTER(state);
}

// Final: the digest as bytea, NULL for no rows (as sha256 of string_agg's NULL).
FA_FUNCTION(fa_rows_sha256_final, "forgea_audit.rows_sha256")
{
    if (!AggCheckCallContext(fcinfo, nullptr))
        elog(ERROR, "forgea_audit.rows_sha256: the final function called outside an aggregate");
    Datum state_datum;
    if (!fa_arg_opt<SqlAny>(fcinfo, 0, &state_datum) || DatumGetPointer(state_datum) == nullptr)
        PG_RETURN_NULL();
    RowsDigest *state = reinterpret_cast<RowsDigest *>(DatumGetPointer(state_datum));
    if (!state->any)
        PG_RETURN_NULL();
    // The state stays usable: finish() into a copy, as a final function must not change it.
    forgea::core::Sha256 copy = state->hash;
    uint8 digest[forgea::core::kHashLen];
    copy.finish(digest);
    bytea *out = static_cast<bytea *>(palloc(VARHDRSZ + sizeof digest));
    SET_VARSIZE(out, VARHDRSZ + sizeof digest);
    memcpy(VARDATA(out), digest, sizeof digest);
    PG_RETURN_BYTEA_P(out);
}
