// The one way the extension reads a column of a row or an argument of a call (issue 20).
//
// A Datum read before its NULL flag is looked at is a pointer to nothing: detoasting it killed the
// server process (a superuser's INSERT INTO audit_log (action) VALUES ('forged') reached the
// restore check with seq, chain_id, ... NULL).  And a row read by position is only what the code
// thinks it is if the attribute's type is the one expected: a table or function created by
// another build of the install script, or by hand, must get an error, not a misread.  So every
// read goes through the templates below, which check, in this order:
//   * that the column exists (by position: in range and not dropped; by name: found), else 42703;
//   * that its type is the expected one, else 42804;
//   * that it is not NULL, else 23502 naming the column (fa_get), or tell the caller (fa_get_opt);
// and, for arguments, that the call has that many arguments and (when the call site tells) of the
// expected type, and that a required one is not NULL (22004 naming the argument).
//
// The expected type is a tag (SqlInt8, SqlText, ...) that carries both the type OID and the one
// DatumGet* conversion that fits it, so the two cannot disagree; the compiler picks the C++ type
// of the result from the tag.  `make check-boundary` fails if a file outside this header reads a
// column or an argument any other way (heap_getattr, SPI_getbinval, PG_GETARG_*, tts_values, ...).
//
// Every refusal is an ERROR raised before the caller has written anything of the row or call at
// hand; the statement's transaction rolls back what came before.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/lifetime.hpp"

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
}

// ---- SQL types as tags ---------------------------------------------------------------------------
// Each: C, the C++ type a read gives; oid, the SQL type it expects (InvalidOid: any row type;
// ANYOID: any type, unconverted);
// from(), the conversion (detoasting for varlena types).
struct SqlBool {
    using C = bool;
    static constexpr Oid oid = BOOLOID;
    static C from(Datum d) { return DatumGetBool(d); }
};
struct SqlInt2 {
    using C = int16;
    static constexpr Oid oid = INT2OID;
    static C from(Datum d) { return DatumGetInt16(d); }
};
struct SqlInt4 {
    using C = int32;
    static constexpr Oid oid = INT4OID;
    static C from(Datum d) { return DatumGetInt32(d); }
};
struct SqlInt8 {
    using C = int64;
    static constexpr Oid oid = INT8OID;
    static C from(Datum d) { return DatumGetInt64(d); }
};
struct SqlTimestamptz {
    using C = TimestampTz;
    static constexpr Oid oid = TIMESTAMPTZOID;
    static C from(Datum d) { return DatumGetTimestampTz(d); }
};
struct SqlText {  // detoasted, possibly with a short header: VARDATA_ANY / VARSIZE_ANY_EXHDR
    using C = text *;
    static constexpr Oid oid = TEXTOID;
    static C from(Datum d) { return DatumGetTextPP(d); }
};
struct SqlTextCopy {  // a detoasted copy in the current memory context (outlives the tuple)
    using C = text *;
    static constexpr Oid oid = TEXTOID;
    static C from(Datum d) { return DatumGetTextPCopy(d); }
};
struct SqlJson {  // json is text as sent
    using C = text *;
    static constexpr Oid oid = JSONOID;
    static C from(Datum d) { return DatumGetTextPP(d); }
};
struct SqlBytea {
    using C = bytea *;
    static constexpr Oid oid = BYTEAOID;
    static C from(Datum d) { return DatumGetByteaPP(d); }
};
struct SqlJsonb {
    using C = Jsonb *;
    static constexpr Oid oid = JSONBOID;
    static C from(Datum d) { return DatumGetJsonbP(d); }
};
struct SqlUuid {
    using C = pg_uuid_t *;
    static constexpr Oid oid = UUIDOID;
    static C from(Datum d) { return DatumGetUUIDP(d); }
};
struct SqlRecord {  // any row type
    using C = HeapTupleHeader;
    static constexpr Oid oid = InvalidOid;
    static C from(Datum d) { return DatumGetHeapTupleHeader(d); }
};
struct SqlAny {  // any type: for code that dispatches on the column's type itself (canonical_row_json)
    using C = Datum;
    static constexpr Oid oid = ANYOID;
    static C from(Datum d) { return d; }
};

// ---- rows ----------------------------------------------------------------------------------------

// One row, however PostgreSQL handed it over: a heap tuple (a trigger's, an SPI result's), or
// values already deformed (a scan slot's).  what names where it comes from, for errors
// ("forgea_audit.audit_log", "the chain heads query").
struct FaRow {
    TupleDesc desc;
    HeapTuple tuple;
    const Datum *values;
    const bool *isnull;
    const char *what;
};
FA_LIVES_ACROSS_PG_CALLS(FaRow);

inline FaRow fa_row(TupleDesc desc, HeapTuple tuple, const char *what)
{
    return FaRow{desc, tuple, nullptr, nullptr, what};
}

inline FaRow fa_row(TupleDesc desc, const Datum *values, const bool *isnull, const char *what)
{
    return FaRow{desc, nullptr, values, isnull, what};
}

// A scan slot's row (every attribute deformed once).
inline FaRow fa_slot_row(TupleTableSlot *slot, const char *what)
{
    slot_getallattrs(slot);
    return FaRow{slot->tts_tupleDescriptor, nullptr, slot->tts_values, slot->tts_isnull, what};
}

// A heap tuple deformed once into arrays palloc'd in the current memory context: for a row whose
// every column is read (heap_getattr per column would walk the tuple each time).
inline FaRow fa_deformed_row(TupleDesc desc, HeapTuple tuple, const char *what)
{
    Datum *values = static_cast<Datum *>(palloc(Max(desc->natts, 1) * sizeof(Datum)));
    bool *isnull = static_cast<bool *>(palloc(Max(desc->natts, 1) * sizeof(bool)));
    heap_deform_tuple(tuple, desc, values, isnull);
    return FaRow{desc, nullptr, values, isnull, what};
}

// A heap tuple deformed into the caller's arrays (desc->natts long), reused row after row.
inline FaRow fa_deform_into(TupleDesc desc, HeapTuple tuple, Datum *values, bool *isnull, const char *what)
{
    heap_deform_tuple(tuple, desc, values, isnull);
    return FaRow{desc, nullptr, values, isnull, what};
}

[[noreturn]] void fa_refuse_row_index(uint64 i, const char *what);

// Row i of the last SPI result.
inline FaRow fa_spi_row(uint64 i, const char *what)
{
    if (SPI_tuptable == nullptr || i >= SPI_processed)
        fa_refuse_row_index(i, what);
    return FaRow{SPI_tuptable->tupdesc, SPI_tuptable->vals[i], nullptr, nullptr, what};
}

[[noreturn]] void fa_refuse_missing_column(const FaRow &row, int attno, const char *name);
[[noreturn]] void fa_refuse_column_type(const FaRow &row, int attno, Oid expected);
[[noreturn]] void fa_refuse_null_column(const FaRow &row, int attno);
void fa_check_composite(const FaRow &row, int attno);

// The attribute number of the column named `column`; a missing one is refused (42703).
int fa_attno(const FaRow &row, const char *column);

// Column attno (from 1) of row, checked to exist and to be of the SQL type `type` (InvalidOid: a
// row type); returns whether it is NULL, and its Datum in *out when it is not.
inline bool fa_read_column(const FaRow &row, int attno, Oid type, Datum *out)
{
    if (attno < 1 || attno > row.desc->natts || TupleDescAttr(row.desc, attno - 1)->attisdropped)
        fa_refuse_missing_column(row, attno, nullptr);
    Oid actual = TupleDescAttr(row.desc, attno - 1)->atttypid;
    if (type == ANYOID)
        ;  // the caller reads the type from the descriptor
    else if (type == InvalidOid)
        fa_check_composite(row, attno);
    else if (actual != type)
        fa_refuse_column_type(row, attno, type);
    bool isnull;
    Datum d;
    if (row.tuple != nullptr) {
        d = heap_getattr(row.tuple, attno, row.desc, &isnull);
    } else {
        isnull = row.isnull[attno - 1];
        d = row.values[attno - 1];
    }
    if (!isnull)
        *out = d;
    return isnull;
}

// ---- one column of a scan slot ---------------------------------------------------------------------

// The name a slot's row goes by in a refusal: what if given, else its table's ("forgea_audit.audit_log").
const char *fa_slot_what(TupleTableSlot *slot, const char *what);

// Column attno (from 1) of a scan slot's row, with fa_read_column's checks (exists, of the SQL
// type `type`), deforming the slot only up to that column (slot_getattr), not the whole row as
// fa_slot_row does: for a scan that looks at one column of a row to decide whether to read the
// rest.  Returns whether it is NULL, and its Datum in *out when it is not.
inline bool fa_read_slot_column(TupleTableSlot *slot, int attno, Oid type, Datum *out, const char *what)
{
    TupleDesc desc = slot->tts_tupleDescriptor;
    if (attno < 1 || attno > desc->natts || TupleDescAttr(desc, attno - 1)->attisdropped)
        fa_refuse_missing_column(FaRow{desc, nullptr, nullptr, nullptr, fa_slot_what(slot, what)}, attno, nullptr);
    Oid actual = TupleDescAttr(desc, attno - 1)->atttypid;
    if (type == InvalidOid)
        fa_check_composite(FaRow{desc, nullptr, nullptr, nullptr, fa_slot_what(slot, what)}, attno);
    else if (type != ANYOID && actual != type)
        fa_refuse_column_type(FaRow{desc, nullptr, nullptr, nullptr, fa_slot_what(slot, what)}, attno, type);
    bool isnull;
    Datum d = slot_getattr(slot, attno, &isnull);
    if (!isnull)
        *out = d;
    return isnull;
}

// One column of a scan slot the caller needs a value of: NULL is refused with 23502 naming it.
// what names the row in errors (nullptr: its table's name).
template <typename T>
[[nodiscard]] typename T::C fa_slot_get(TupleTableSlot *slot, int attno, const char *what = nullptr)
{
    Datum d = 0;
    if (fa_read_slot_column(slot, attno, T::oid, &d, what))
        fa_refuse_null_column(FaRow{slot->tts_tupleDescriptor, nullptr, nullptr, nullptr, fa_slot_what(slot, what)},
                              attno);
    return T::from(d);
}

// One column of a scan slot that may be NULL: false when it is (*out untouched), else true.
template <typename T>
[[nodiscard]] bool fa_slot_get_opt(TupleTableSlot *slot, int attno, typename T::C *out, const char *what = nullptr)
{
    Datum d = 0;
    if (fa_read_slot_column(slot, attno, T::oid, &d, what))
        return false;
    *out = T::from(d);
    return true;
}

// A column the caller needs a value of: NULL is refused with 23502 naming it.
template <typename T>
[[nodiscard]] typename T::C fa_get(const FaRow &row, int attno)
{
    Datum d = 0;
    if (fa_read_column(row, attno, T::oid, &d))
        fa_refuse_null_column(row, attno);
    return T::from(d);
}

template <typename T>
[[nodiscard]] typename T::C fa_get(const FaRow &row, const char *column)
{
    return fa_get<T>(row, fa_attno(row, column));
}

// A column that may be NULL: false when it is (*out untouched), else true with the value.
template <typename T>
[[nodiscard]] bool fa_get_opt(const FaRow &row, int attno, typename T::C *out)
{
    Datum d = 0;
    if (fa_read_column(row, attno, T::oid, &d))
        return false;
    *out = T::from(d);
    return true;
}

template <typename T>
[[nodiscard]] bool fa_get_opt(const FaRow &row, const char *column, typename T::C *out)
{
    return fa_get_opt<T>(row, fa_attno(row, column), out);
}

// Whether a column is NULL (its type checked all the same), for a read that needs only that.
template <typename T>
[[nodiscard]] bool fa_is_null(const FaRow &row, int attno)
{
    Datum d = 0;
    return fa_read_column(row, attno, T::oid, &d);
}

// ---- arguments -----------------------------------------------------------------------------------

[[noreturn]] void fa_refuse_missing_arg(FunctionCallInfo fcinfo, int n);
[[noreturn]] void fa_refuse_arg_type(FunctionCallInfo fcinfo, int n, Oid expected, Oid actual);
[[noreturn]] void fa_refuse_null_arg(FunctionCallInfo fcinfo, int n, const char *name, const char *hint);
void fa_check_arg_type(FunctionCallInfo fcinfo, int n, Oid expected);

// Argument n (from 0) of the call, checked to exist and, where the call site says which type it
// passes (a call from SQL; not a direct call), to be of the SQL type `type`; returns whether it
// is NULL, and its Datum in *out when it is not.  A function declared STRICT is not called with
// a NULL, but its SQL may be created otherwise (by hand, by another build): the check holds anyway.
inline bool fa_read_arg(FunctionCallInfo fcinfo, int n, Oid type, Datum *out)
{
    if (n < 0 || n >= PG_NARGS())
        fa_refuse_missing_arg(fcinfo, n);
    fa_check_arg_type(fcinfo, n, type);
    if (fcinfo->args[n].isnull)
        return true;
    *out = fcinfo->args[n].value;
    return false;
}

// An argument the function needs: NULL is refused with 22004 naming it (and the hint, if given).
template <typename T>
[[nodiscard]] typename T::C fa_arg(FunctionCallInfo fcinfo, int n, const char *name, const char *hint = nullptr)
{
    Datum d = 0;
    if (fa_read_arg(fcinfo, n, T::oid, &d))
        fa_refuse_null_arg(fcinfo, n, name, hint);
    return T::from(d);
}

// An argument that may be NULL: false when it is (*out untouched), else true with the value.
template <typename T>
[[nodiscard]] bool fa_arg_opt(FunctionCallInfo fcinfo, int n, typename T::C *out)
{
    Datum d = 0;
    if (fa_read_arg(fcinfo, n, T::oid, &d))
        return false;
    *out = T::from(d);
    return true;
}
