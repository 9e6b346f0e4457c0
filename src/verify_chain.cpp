// forgea_audit.verify_chain([checkpoint]): recompute every link of every chain (docs/chain.md,
// section 4), and, given a checkpoint kept outside the database, check that every row it sealed
// is still there unchanged (docs/checkpoints.md).
//
// One pass over audit_log in (chain_id, chain_pos) order, in the caller's snapshot, with the chain
// heads loaded beside it; the checks themselves are core::ChainWalker, which the offline verifier
// runs too.  Problems do not stop the pass: the result names the lowest seq at which anything is
// wrong and counts the rest.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(fa_verify_chain);
Datum fa_verify_chain(PG_FUNCTION_ARGS);
}

#include "audit_chain.hpp"
#include "checkpoint.hpp"
#include "core/chain_verifier.hpp"
#include "jsonb_canonical.hpp"
#include "pg_boundary.hpp"

using forgea::core::Bytes;
using forgea::core::HeadRecord;
using forgea::core::kHashLen;

namespace {

constexpr long kFetchRows = 10000;

Bytes text_value(Datum d, bool isnull)
{
    if (isnull)
        return Bytes{};
    text *t = DatumGetTextPP(d);
    return Bytes{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
}

// A sorted array of heads, searched by chain id; seen marks the ones a walk reached.
struct HeadTable {
    HeadRecord *heads = nullptr;
    bool *seen = nullptr;
    int64 count = 0;

    int64 find(Bytes id) const
    {
        int64 lo = 0, hi = count - 1;
        while (lo <= hi) {
            int64 mid = lo + (hi - lo) / 2;
            int c = forgea::core::compare_chain_ids(heads[mid].chain_id, id);
            if (c == 0)
                return mid;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return -1;
    }

    void with(HeadRecord *h, int64 n)
    {
        heads = h;
        count = n;
        seen = static_cast<bool *>(palloc0(Max(n, 1) * sizeof(bool)));
    }
};

HeadTable load_heads(MemoryContext keep)
{
    int64 n;
    HeadRecord *heads = fa_load_chain_heads(keep, &n);
    MemoryContext old = MemoryContextSwitchTo(keep);
    HeadTable table;
    table.with(heads, n);
    MemoryContextSwitchTo(old);
    return table;
}

// Everything one verification pass carries between rows: plain data in verification memory.
struct Pass {
    forgea::core::ChainWalker walker;
    forgea::core::FirstProblem problems;
    HeadTable heads;
    HeadTable sealed;        // from the checkpoint; count 0 without one
    StringInfoData chain_id; // the current chain's id, owned here (rows are freed per batch)
    StringInfoData metadata; // canonical JSON buffers, reused row after row
    StringInfoData proof;
    Sha256Sink hasher{true};
};

void end_chain(Pass &p)
{
    if (!p.walker.in_chain())
        return;
    Bytes id{p.chain_id.data, static_cast<size_t>(p.chain_id.len)};
    int64 h = p.heads.find(id);
    if (h >= 0)
        p.heads.seen[h] = true;
    int64 s = p.sealed.find(id);
    if (s >= 0)
        p.sealed.seen[s] = true;
    p.walker.end_chain(h >= 0 ? &p.heads.heads[h] : nullptr, p.problems);
}

void check_row(HeapTuple t, TupleDesc desc, Pass &p)
{
    Datum d[20];
    bool n[20];
    heap_deform_tuple(t, desc, d, n);

    forgea::core::AuditRecord rec;
    rec.seq = DatumGetInt64(d[0]);
    rec.chain_id = text_value(d[1], n[1]);
    rec.chain_pos = DatumGetInt64(d[2]);
    bytea *prev = DatumGetByteaPP(d[3]);
    rec.prev_hash = VARSIZE_ANY_EXHDR(prev) == kHashLen ? reinterpret_cast<const uint8 *>(VARDATA_ANY(prev)) : nullptr;
    rec.created_at_unix_us = DatumGetTimestampTz(d[4]) + forgea::core::kUnixToPgEpochMicros;
    rec.tenant_id = text_value(d[5], n[5]);
    rec.user_id = text_value(d[6], n[6]);
    rec.actor_type = text_value(d[7], n[7]);
    rec.actor_id = text_value(d[8], n[8]);
    rec.action = text_value(d[9], n[9]);
    rec.target_type = text_value(d[10], n[10]);
    rec.target_id = text_value(d[11], n[11]);
    rec.outcome = text_value(d[12], n[12]);
    rec.severity = text_value(d[13], n[13]);
    canonical_jsonb_into(DatumGetJsonbP(d[14]), &p.metadata);
    rec.metadata_json = Bytes{p.metadata.data, static_cast<size_t>(p.metadata.len)};
    if (!n[15]) {
        canonical_jsonb_into(DatumGetJsonbP(d[15]), &p.proof);
        rec.proof_json = Bytes{p.proof.data, static_cast<size_t>(p.proof.len)};
    }
    rec.correlation_id = text_value(d[16], n[16]);
    rec.parent_seq.is_null = n[17];
    rec.parent_seq.value = n[17] ? 0 : DatumGetInt64(d[17]);
    bytea *stored = DatumGetByteaPP(d[18]);
    int version = DatumGetInt16(d[19]);

    Bytes current{p.chain_id.data, static_cast<size_t>(p.chain_id.len)};
    if (!p.walker.in_chain() || forgea::core::compare_chain_ids(current, rec.chain_id) != 0) {
        end_chain(p);
        resetStringInfo(&p.chain_id);
        appendBinaryStringInfo(&p.chain_id, rec.chain_id.data, static_cast<int>(rec.chain_id.len));
        Bytes id{p.chain_id.data, static_cast<size_t>(p.chain_id.len)};
        int64 s = p.sealed.find(id);
        p.walker.start_chain(id, s >= 0 ? &p.sealed.heads[s] : nullptr);
    }
    p.walker.check_row(rec, reinterpret_cast<const uint8 *>(VARDATA_ANY(stored)), VARSIZE_ANY_EXHDR(stored), version,
                       p.hasher, p.problems);
}

void put_result(ReturnSetInfo *rsinfo, bool ok, int64 rows, bool has_bad, int64 bad_seq, const char *detail)
{
    Datum values[4] = {BoolGetDatum(ok), Int64GetDatum(rows), Int64GetDatum(bad_seq), CStringGetTextDatum(detail)};
    bool nulls[4] = {false, false, !has_bad, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

}  // namespace

extern "C" Datum fa_verify_chain(PG_FUNCTION_ARGS)
{
    return fa_cpp_entry("forgea_audit.verify_chain", [&]() -> Datum {
        // A checkpoint that is not one is bad input: refuse it before reading anything.
        forgea::core::ParsedCheckpoint *cp = nullptr;
        if (!PG_ARGISNULL(0)) {
            text *t = PG_GETARG_TEXT_PP(0);
            cp = static_cast<forgea::core::ParsedCheckpoint *>(palloc(sizeof(forgea::core::ParsedCheckpoint)));
            if (const char *why = forgea::core::parse_checkpoint(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), cp))
                ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                                errmsg("invalid checkpoint: %s", why),
                                errhint("Pass the text forgea_audit.checkpoint() returned, unchanged.")));
        }

        InitMaterializedSRF(fcinfo, 0);
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
        // Everything that must outlive an SPI call lives in keep; after SPI_connect() the current
        // context is SPI's own, which SPI_finish() frees.
        MemoryContext caller = CurrentMemoryContext;
        MemoryContext keep = AllocSetContextCreate(caller, "forgea_audit verify", ALLOCSET_DEFAULT_SIZES);
        MemoryContext batch = AllocSetContextCreate(keep, "forgea_audit verify batch", ALLOCSET_DEFAULT_SIZES);

        Pass *p = static_cast<Pass *>(MemoryContextAllocZero(keep, sizeof(Pass)));
        new (p) Pass();
        MemoryContextSwitchTo(keep);
        initStringInfo(&p->chain_id);
        initStringInfo(&p->metadata);
        initStringInfo(&p->proof);
        MemoryContextSwitchTo(caller);

        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
        p->heads = load_heads(keep);

        const char *checkpoint_note = nullptr;
        if (cp != nullptr) {
            bool is_signed;
            char *why = fa_checkpoint_signature_problem(*cp, &is_signed);
            int64 n = 0;
            HeadRecord *sealed = why == nullptr ? fa_checkpoint_heads(*cp, &n, &why) : nullptr;
            if (why != nullptr) {
                char *kept = MemoryContextStrdup(keep, why);
                SPI_finish();
                MemoryContextSwitchTo(caller);
                put_result(rsinfo, false, 0, false, 0, kept);
                MemoryContextDelete(keep);
                return (Datum) 0;
            }
            // The sealed heads point into SPI's tuple memory, alive until SPI_finish().
            p->sealed.with(sealed, n);
            MemoryContext old = MemoryContextSwitchTo(keep);
            checkpoint_note = psprintf("; the %s checkpoint of %lld rows at seq %lld holds", is_signed ? "signed" : "unsigned",
                                       static_cast<long long>(cp->body.size), static_cast<long long>(cp->body.max_seq));
            MemoryContextSwitchTo(old);
        }

        // read_only = true: the same snapshot as the heads above, so a concurrent append is either
        // wholly visible (row and head) or not at all.
        SPIPlanPtr plan = SPI_prepare("SELECT " FA_AUDIT_ROW_COLUMNS ", row_hash, hash_version "
                                      "FROM forgea_audit.audit_log ORDER BY chain_id COLLATE \"C\", chain_pos",
                                      0, nullptr);
        if (plan == nullptr)
            elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        Portal portal = SPI_cursor_open(nullptr, plan, nullptr, nullptr, true);
        for (;;) {
            SPI_cursor_fetch(portal, true, kFetchRows);
            if (SPI_processed == 0)
                break;
            static const Oid row_types[20] = {INT8OID, TEXTOID, INT8OID, BYTEAOID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
                                              TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                                              JSONBOID, JSONBOID, TEXTOID, INT8OID, BYTEAOID, INT2OID};
            fa_require_columns(SPI_tuptable->tupdesc, row_types, 20, "audit_log");
            MemoryContext old = MemoryContextSwitchTo(batch);
            for (uint64 i = 0; i < SPI_processed; i++)
                check_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, *p);
            MemoryContextSwitchTo(old);
            SPI_freetuptable(SPI_tuptable);
            MemoryContextReset(batch);
        }
        SPI_cursor_close(portal);
        end_chain(*p);
        for (int64 i = 0; i < p->heads.count; i++)
            if (!p->heads.seen[i])
                forgea::core::report_chain_removed(p->heads.heads[i], p->problems);
        for (int64 i = 0; i < p->sealed.count; i++)
            if (!p->sealed.seen[i])
                forgea::core::report_sealed_chain_missing(p->sealed.heads[i], p->problems);
        p->hasher.release();
        SPI_finish();
        MemoryContextSwitchTo(caller);

        int64 count = p->problems.count();
        char *detail;
        if (count == 0)
            detail = psprintf("verified %lld rows in %lld chains%s", static_cast<long long>(p->walker.rows()),
                              static_cast<long long>(p->walker.chains()), checkpoint_note ? checkpoint_note : "");
        else if (count == 1)
            detail = pstrdup(p->problems.first_text());
        else
            detail = psprintf("%s; %lld problems in all", p->problems.first_text(), static_cast<long long>(count));
        put_result(rsinfo, count == 0, p->walker.rows(), count > 0, p->problems.first_seq(), detail);
        MemoryContextDelete(keep);
        return (Datum) 0;
    });
}
