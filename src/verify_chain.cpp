// forgea_audit.verify_chain(): recompute every link of every chain (docs/chain.md, "Verifying").
//
// One pass over audit_log in (chain_id, chain_pos) order, in the caller's snapshot, with the chain
// heads loaded beside it.  Problems do not stop the pass: the result names the lowest seq at which
// anything is wrong and counts the rest.
extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
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
#include "jsonb_canonical.hpp"
#include "pg_boundary.hpp"

using forgea::core::Bytes;
using forgea::core::kHashLen;

namespace {

constexpr long kFetchRows = 10000;

struct ChainHead {
    char *chain_id;
    size_t chain_id_len;
    int64 length;
    int64 last_seq;
    uint8 last_hash[kHashLen];
    bool seen;
};

struct Verdict {
    int64 rows = 0;
    int64 chains = 0;
    int64 problems = 0;
    int64 first_bad_seq = 0;
    char *first_detail = nullptr;

    void problem(int64 seq, char *detail)
    {
        problems++;
        if (first_detail == nullptr || seq < first_bad_seq) {
            first_bad_seq = seq;
            first_detail = detail;
        }
    }
};

// The chain currently being walked; its id lives in verification memory, not in a batch.
struct ChainCursor {
    bool active = false;
    StringInfoData id;
    int64 last_pos = 0;
    int64 last_seq = 0;
    uint8 last_hash[kHashLen];
};

int compare_ids(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, Min(alen, blen));
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

ChainHead *find_head(ChainHead *heads, int64 n, const char *id, size_t len)
{
    int64 lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64 mid = lo + (hi - lo) / 2;
        int c = compare_ids(heads[mid].chain_id, heads[mid].chain_id_len, id, len);
        if (c == 0)
            return &heads[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return nullptr;
}

Bytes text_value(Datum d, bool isnull)
{
    if (isnull)
        return Bytes{};
    text *t = DatumGetTextPP(d);
    return Bytes{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
}

ChainHead *load_heads(int64 *count)
{
    int rc = SPI_execute("SELECT chain_id, length, last_seq, last_hash FROM forgea_audit.chain_head "
                         "ORDER BY chain_id COLLATE \"C\"",
                         true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading chain heads failed: %s", SPI_result_code_string(rc));
    *count = static_cast<int64>(SPI_processed);
    ChainHead *heads = static_cast<ChainHead *>(
        MemoryContextAllocHuge(CurrentMemoryContext, Max(SPI_processed, 1) * sizeof(ChainHead)));
    for (uint64 i = 0; i < SPI_processed; i++) {
        HeapTuple t = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        Datum id_datum = SPI_getbinval(t, desc, 1, &isnull);
        Bytes id = text_value(id_datum, isnull);
        ChainHead &h = heads[i];
        h.chain_id = pnstrdup(id.data, id.len);
        h.chain_id_len = id.len;
        h.length = DatumGetInt64(SPI_getbinval(t, desc, 2, &isnull));
        Datum last_seq = SPI_getbinval(t, desc, 3, &isnull);
        h.last_seq = isnull ? 0 : DatumGetInt64(last_seq);
        bytea *hash = DatumGetByteaPP(SPI_getbinval(t, desc, 4, &isnull));
        memset(h.last_hash, 0, kHashLen);
        memcpy(h.last_hash, VARDATA_ANY(hash), Min(VARSIZE_ANY_EXHDR(hash), kHashLen));
        h.seen = false;
    }
    SPI_freetuptable(SPI_tuptable);
    return heads;
}

void finish_chain(ChainCursor &c, ChainHead *heads, int64 nheads, Verdict &v, MemoryContext keep)
{
    if (!c.active)
        return;
    ChainHead *h = find_head(heads, nheads, c.id.data, c.id.len);
    MemoryContext old = MemoryContextSwitchTo(keep);
    if (h == nullptr) {
        v.problem(c.last_seq, psprintf("chain \"%s\": rows up to seq " INT64_FORMAT " have no chain_head row "
                                       "(the head was deleted)", c.id.data, c.last_seq));
    } else {
        h->seen = true;
        if (h->length != c.last_pos || h->last_seq != c.last_seq || memcmp(h->last_hash, c.last_hash, kHashLen) != 0)
            // A shortened chain is reported at the seq its head says it ended with.
            v.problem(h->length > c.last_pos ? h->last_seq : c.last_seq,
                      psprintf("chain \"%s\": chain_head records " INT64_FORMAT " rows ending at seq " INT64_FORMAT
                               ", the log holds " INT64_FORMAT " rows ending at seq " INT64_FORMAT
                               " (rows at the tail were removed, or the head was changed)",
                               c.id.data, h->length, h->last_seq, c.last_pos, c.last_seq));
    }
    MemoryContextSwitchTo(old);
    v.chains++;
    c.active = false;
}

void check_row(HeapTuple t, TupleDesc desc, ChainCursor &c, ChainHead *heads, int64 nheads, Verdict &v,
               MemoryContext keep)
{
    Datum d[20];
    bool n[20];
    heap_deform_tuple(t, desc, d, n);

    forgea::core::AuditRecord rec;
    rec.seq = DatumGetInt64(d[0]);
    rec.chain_id = text_value(d[1], n[1]);
    rec.chain_pos = DatumGetInt64(d[2]);
    bytea *prev = DatumGetByteaPP(d[3]);
    uint8 prev_hash[kHashLen] = {0};
    bool prev_ok = VARSIZE_ANY_EXHDR(prev) == kHashLen;
    if (prev_ok)
        memcpy(prev_hash, VARDATA_ANY(prev), kHashLen);
    rec.prev_hash = prev_hash;
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
    StringInfo metadata = canonical_jsonb_text(DatumGetJsonbP(d[14]));
    rec.metadata_json = Bytes{metadata->data, static_cast<size_t>(metadata->len)};
    if (!n[15]) {
        StringInfo proof = canonical_jsonb_text(DatumGetJsonbP(d[15]));
        rec.proof_json = Bytes{proof->data, static_cast<size_t>(proof->len)};
    }
    rec.correlation_id = text_value(d[16], n[16]);
    rec.parent_seq.is_null = n[17];
    rec.parent_seq.value = n[17] ? 0 : DatumGetInt64(d[17]);
    bytea *stored = DatumGetByteaPP(d[18]);
    int16 version = DatumGetInt16(d[19]);

    v.rows++;
    bool new_chain = !c.active || compare_ids(c.id.data, c.id.len, rec.chain_id.data, rec.chain_id.len) != 0;
    if (new_chain) {
        finish_chain(c, heads, nheads, v, keep);
        resetStringInfo(&c.id);
        appendBinaryStringInfo(&c.id, rec.chain_id.data, static_cast<int>(rec.chain_id.len));
        c.active = true;
        c.last_pos = 0;
        memset(c.last_hash, 0, kHashLen);  // the genesis link
    }

    MemoryContext old = MemoryContextSwitchTo(keep);
    const char *where = psprintf("chain \"%s\" position " INT64_FORMAT " (seq " INT64_FORMAT ")", c.id.data,
                                 rec.chain_pos, rec.seq);
    if (version != forgea::core::kChainEncodingVersion)
        v.problem(rec.seq, psprintf("%s: unknown hash_version %d", where, version));
    if (rec.chain_pos != c.last_pos + 1)
        v.problem(rec.seq, psprintf("%s: expected position " INT64_FORMAT
                                    " (rows are missing before this one)", where, c.last_pos + 1));
    if (!prev_ok || memcmp(prev_hash, c.last_hash, kHashLen) != 0)
        v.problem(rec.seq, psprintf("%s: prev_hash does not match the %s", where,
                                    c.last_pos == 0 ? "chain's genesis (32 zero bytes)" : "previous row's row_hash"));
    if (c.last_pos > 0 && rec.seq <= c.last_seq)
        v.problem(rec.seq, psprintf("%s: seq does not increase along the chain", where));
    MemoryContextSwitchTo(old);

    uint8 computed[kHashLen];
    {
        Sha256Sink sink;
        forgea::core::encode_record_v1(rec, sink);
        sink.finish(computed);
    }
    bool hash_ok = VARSIZE_ANY_EXHDR(stored) == kHashLen && memcmp(VARDATA_ANY(stored), computed, kHashLen) == 0;
    if (!hash_ok) {
        old = MemoryContextSwitchTo(keep);
        v.problem(rec.seq, psprintf("%s: row_hash does not match the row's content (the row was changed after "
                                    "it was written)", where));
        MemoryContextSwitchTo(old);
    }

    // Link the next row to what this row claims, so one altered row is reported once.
    c.last_pos = rec.chain_pos;
    c.last_seq = rec.seq;
    if (VARSIZE_ANY_EXHDR(stored) == kHashLen)
        memcpy(c.last_hash, VARDATA_ANY(stored), kHashLen);
    else
        memcpy(c.last_hash, computed, kHashLen);
}

}  // namespace

extern "C" Datum fa_verify_chain(PG_FUNCTION_ARGS)
{
    return fa_cpp_entry("forgea_audit.verify_chain", [&]() -> Datum {
        InitMaterializedSRF(fcinfo, 0);
        ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);

        MemoryContext keep = AllocSetContextCreate(CurrentMemoryContext, "forgea_audit verify", ALLOCSET_DEFAULT_SIZES);
        MemoryContext batch = AllocSetContextCreate(keep, "forgea_audit verify batch", ALLOCSET_DEFAULT_SIZES);

        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");

        MemoryContext old = MemoryContextSwitchTo(keep);
        int64 nheads;
        ChainHead *heads = load_heads(&nheads);
        Verdict v;
        ChainCursor c;
        initStringInfo(&c.id);
        MemoryContextSwitchTo(old);

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
            old = MemoryContextSwitchTo(batch);
            for (uint64 i = 0; i < SPI_processed; i++)
                check_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c, heads, nheads, v, keep);
            MemoryContextSwitchTo(old);
            SPI_freetuptable(SPI_tuptable);
            MemoryContextReset(batch);
        }
        SPI_cursor_close(portal);
        finish_chain(c, heads, nheads, v, keep);

        old = MemoryContextSwitchTo(keep);
        for (int64 i = 0; i < nheads; i++)
            if (!heads[i].seen && heads[i].length > 0)
                v.problem(heads[i].last_seq,
                          psprintf("chain \"%s\": chain_head records " INT64_FORMAT " rows ending at seq " INT64_FORMAT
                                   ", the log holds none (the whole chain was removed)",
                                   heads[i].chain_id, heads[i].length, heads[i].last_seq));
        MemoryContextSwitchTo(old);

        SPI_finish();

        Datum values[4];
        bool nulls[4] = {false, false, v.problems == 0, false};
        values[0] = BoolGetDatum(v.problems == 0);
        values[1] = Int64GetDatum(v.rows);
        values[2] = Int64GetDatum(v.first_bad_seq);
        char *detail = v.problems == 0
                           ? psprintf("verified " INT64_FORMAT " rows in " INT64_FORMAT " chains", v.rows, v.chains)
                       : v.problems == 1
                           ? v.first_detail
                           : psprintf("%s; " INT64_FORMAT " problems in all", v.first_detail, v.problems);
        values[3] = CStringGetTextDatum(detail);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
        MemoryContextDelete(keep);
        return (Datum) 0;
    });
}
