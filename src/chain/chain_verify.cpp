// forgea_audit.verify_chain([checkpoint]): recompute every link of every chain (docs/chain.md,
// section 4), and, given a checkpoint kept outside the database, check that every row it sealed
// is still there unchanged (docs/checkpoints.md).
//
// One sequential pass over audit_log's heap, in the caller's snapshot, with the chain heads loaded
// beside it.  Each row's content is checked against its own row_hash as it is read; its link to
// the row before it waits, if need be, until that row has been read (core::ChainInOrder), so the
// log is read once, in physical order, through a ring buffer, without an index or SPI tuple
// copies (docs/benchmarks.md has the profile that led here).  The checks themselves are
// core::ChainWalker, which the offline verifier runs too.  Problems do not stop the pass: the
// result names the lowest seq at which anything is wrong and counts the rest.  Then, in the same
// snapshot, the Merkle tables against the log (merkle_check.cpp): no committed row below the
// horizon left out, leaves, tiles and checkpoints recomputed from the rows' row_hash.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

#include "chain/chain_append.hpp"
#include "chain/chain_verify.hpp"
#include "chain/chain_heads.hpp"
#include "chain/chain_checkpoint.hpp"
#include "merkle/merkle_store.hpp"
#include "core/chain_reorder.hpp"
#include "core/chain_verifier.hpp"
#include "core/sha256.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/sha256.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/progress.hpp"

using forgea::core::Bytes;
using forgea::core::HeadRecord;
using forgea::core::kHashLen;

namespace {

// audit_log's columns in the encoding's field order (core::AuditRecord, docs/chain.md), then
// row_hash and hash_version; found by name in the table, so their physical order does not matter.
constexpr int kColumns = 20;
const char *const kColumnNames[kColumns] = {
    "seq", "chain_id", "chain_pos", "prev_hash", "created_at", "tenant_id", "user_id",
    "actor_type", "actor_id", "action", "target_type", "target_id", "outcome", "severity",
    "metadata", "proof", "correlation_id", "parent_seq", "row_hash", "hash_version"};
const Oid kColumnTypes[kColumns] = {INT8OID, TEXTOID, INT8OID, BYTEAOID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
                                    TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
                                    JSONBOID, JSONBOID, TEXTOID, INT8OID, BYTEAOID, INT2OID};

// A core::Arena over a memory context (the pass's), which raises on out-of-memory.
class ContextArena final : public forgea::core::Arena {
public:
    explicit ContextArena(MemoryContext cxt) : cxt_(cxt) {}
    void *allocate(std::size_t bytes) override { return MemoryContextAllocHuge(cxt_, bytes); }

private:
    MemoryContext cxt_;
};
FA_LIVES_ACROSS_PG_CALLS(ContextArena);

// A text column as Bytes into the (per-row) detoasted value; NULL stays NULL for the encoding.
Bytes text_value(const FaRow &row, int attno)
{
    text *t;
    if (!fa_get_opt<SqlText>(row, attno, &t))
        return Bytes{};
    return Bytes{VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)};
}

// A text column the encoding needs (NOT NULL in audit_log): a NULL is refused, naming it.
Bytes required_text(const FaRow &row, int attno)
{
    text *t = fa_get<SqlText>(row, attno);
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
FA_LIVES_ACROSS_PG_CALLS(HeadTable);

// The chain heads of the caller's snapshot, with a seen flag each, in keep (they outlive SPI).
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
    forgea::core::FirstProblem problems;
    HeadTable heads;
    HeadTable sealed;  // from the checkpoint; count 0 without one
    ContextArena *arena = nullptr;
    forgea::core::ChainTable *chains = nullptr;
    AttrNumber attnums[kColumns] = {};  // attribute numbers (from 1) in the row's descriptor
    StringInfoData metadata;            // canonical JSON buffers, reused row after row
    StringInfoData proof;
    forgea::core::Sha256 hasher;  // the core's SHA-256: no allocation, no lock, reused row after row
    FaLogHashes *log = nullptr;  // every row's row_hash by seq, for the Merkle checks (nullptr: none kept)
};
FA_LIVES_ACROSS_PG_CALLS(Pass);

// Finds the columns by name and checks their types (a database whose forgea_audit objects come
// from another build of the install script gets an error, not wrong reads).
void map_columns(TupleDesc desc, Pass &p)
{
    TupleDesc picked = CreateTemplateTupleDesc(kColumns);
    for (int c = 0; c < kColumns; c++) {
        AttrNumber found = InvalidAttrNumber;
        for (int i = 0; i < desc->natts; i++) {
            Form_pg_attribute a = TupleDescAttr(desc, i);
            if (!a->attisdropped && strcmp(NameStr(a->attname), kColumnNames[c]) == 0) {
                found = static_cast<AttrNumber>(i + 1);
                break;
            }
        }
        if (found == InvalidAttrNumber)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("forgea_audit.audit_log has no column \"%s\"", kColumnNames[c]),
                            errhint("The library and the extension's SQL objects come from different builds; "
                                    "run ALTER EXTENSION forgea_audit UPDATE or reinstall.")));
        TupleDescCopyEntry(picked, static_cast<AttrNumber>(c + 1), desc, found);
        p.attnums[c] = found;
    }
    fa_require_columns(picked, kColumnTypes, kColumns, "audit_log");
}

// A chain's rows are all read: check its end against its head (and the sealed head, if any), and
// mark both seen so that heads without rows are reported afterwards.
void end_chain(forgea::core::ChainInOrder &c, Pass &p)
{
    int64 h = p.heads.find(c.chain_id);
    if (h >= 0)
        p.heads.seen[h] = true;
    int64 s = p.sealed.find(c.chain_id);
    if (s >= 0)
        p.sealed.seen[s] = true;
    c.finish(h >= 0 ? &p.heads.heads[h] : nullptr, p.problems);
}

// One row's content against its own row_hash: the record the encoding hashes, read from the
// row's values (in the relation's column order, found by map_columns).  Every column is read
// through src/pg/datum_read.hpp: a NULL where audit_log is NOT NULL (a superuser's INSERT that
// the restore check sees before PostgreSQL's NOT NULL check runs) is refused, naming the column,
// before anything is detoasted.
forgea::core::RowLink row_content(const FaRow &row, Pass &p, Bytes *chain_id)
{
    const AttrNumber *a = p.attnums;

    forgea::core::AuditRecord rec;
    rec.seq = fa_get<SqlInt8>(row, a[0]);
    rec.chain_id = required_text(row, a[1]);
    rec.chain_pos = fa_get<SqlInt8>(row, a[2]);
    bytea *prev = fa_get<SqlBytea>(row, a[3]);
    rec.prev_hash = VARSIZE_ANY_EXHDR(prev) == kHashLen ? reinterpret_cast<const uint8 *>(VARDATA_ANY(prev)) : nullptr;
    rec.created_at_unix_us = fa_get<SqlTimestamptz>(row, a[4]) + forgea::core::kUnixToPgEpochMicros;
    rec.tenant_id = text_value(row, a[5]);
    rec.user_id = text_value(row, a[6]);
    rec.actor_type = required_text(row, a[7]);
    rec.actor_id = text_value(row, a[8]);
    rec.action = required_text(row, a[9]);
    rec.target_type = text_value(row, a[10]);
    rec.target_id = text_value(row, a[11]);
    rec.outcome = required_text(row, a[12]);
    rec.severity = required_text(row, a[13]);
    canonical_jsonb_into(fa_get<SqlJsonb>(row, a[14]), &p.metadata);
    rec.metadata_json = Bytes{p.metadata.data, static_cast<size_t>(p.metadata.len)};
    Jsonb *proof;
    if (fa_get_opt<SqlJsonb>(row, a[15], &proof)) {
        canonical_jsonb_into(proof, &p.proof);
        rec.proof_json = Bytes{p.proof.data, static_cast<size_t>(p.proof.len)};
    }
    rec.correlation_id = text_value(row, a[16]);
    int64 parent_seq;
    rec.parent_seq.is_null = !fa_get_opt<SqlInt8>(row, a[17], &parent_seq);
    rec.parent_seq.value = rec.parent_seq.is_null ? 0 : parent_seq;
    bytea *stored = fa_get<SqlBytea>(row, a[18]);
    int version = fa_get<SqlInt2>(row, a[19]);

    *chain_id = rec.chain_id;
    return forgea::core::check_row_content(
        rec, reinterpret_cast<const uint8 *>(VARDATA_ANY(stored)), VARSIZE_ANY_EXHDR(stored), version, p.hasher);
}

// One heap row: its content checked (row_content), then its link handed to its chain's reorder
// buffer, since the heap is not in chain order.
void check_row(const FaRow &row, Pass &p)
{
    forgea::core::AuditRecord rec;
    forgea::core::RowLink link = row_content(row, p, &rec.chain_id);
    if (p.log != nullptr)
        fa_log_hashes_add(p.log, link.seq, link.stored_ok ? link.hash : nullptr);

    bool added;
    forgea::core::ChainInOrder *c = p.chains->find_or_add(rec.chain_id, &added);
    if (added) {
        int64 s = p.sealed.find(c->chain_id);
        c->walker.start_chain(c->chain_id, s >= 0 ? &p.sealed.heads[s] : nullptr);
    }
    c->add(link, *p.arena, p.problems);
}

// Reads every row of audit_log visible to the caller's snapshot, in physical order.
void scan_log(Pass &p, MemoryContext per_row)
{
    Relation rel = table_openrv(makeRangeVar(const_cast<char *>("forgea_audit"), const_cast<char *>("audit_log"), -1),
                                AccessShareLock);
    // The scan goes under the executor: make the checks it would make.  verify_chain() runs as the
    // extension's owner, who reads every row unless someone forced row-level security on the
    // table, in which case a verdict over the rows left visible would be a wrong one.
    AclResult acl = pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(rel));
    if (check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("verify_chain() must read every row of forgea_audit.audit_log, and row-level security "
                               "hides some from the extension's owner"),
                        errhint("ALTER TABLE forgea_audit.audit_log NO FORCE ROW LEVEL SECURITY;")));
    map_columns(RelationGetDescr(rel), p);

    // Progress, every forgea_audit.progress_rows rows, against the planner's estimate of the total.
    double estimate = rel->rd_rel->reltuples;
    int64 rows_read = 0;

    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, nullptr);
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
        CHECK_FOR_INTERRUPTS();
        if (++rows_read % fa_progress_rows == 0) {
            char *what = estimate > 0 ? psprintf("verify_chain: %lld rows read of about %.0f", static_cast<long long>(rows_read), estimate)
                                      : psprintf("verify_chain: %lld rows read", static_cast<long long>(rows_read));
            fa_progress_report(what);
            pfree(what);
        }
        FaRow row = fa_slot_row(slot, "forgea_audit.audit_log");
        MemoryContext old = MemoryContextSwitchTo(per_row);
        check_row(row, p);
        MemoryContextSwitchTo(old);
        MemoryContextReset(per_row);  // detoasted values
    }
    table_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, AccessShareLock);
    if (rows_read >= fa_progress_rows)
        fa_progress_end();
}

}  // namespace

// For the write guard's restore check (chain_write_guard.cpp): one audit_log tuple's content
// against its own row_hash, exactly as verify_chain() checks it.
forgea::core::RowLink fa_restored_row_content(Relation rel, HeapTuple tuple, Bytes *chain_id)
{
    Pass *p = static_cast<Pass *>(palloc0(sizeof(Pass)));
    new (p) Pass();
    map_columns(RelationGetDescr(rel), *p);
    initStringInfo(&p->metadata);
    initStringInfo(&p->proof);
    new (&p->hasher) forgea::core::Sha256();
    FaRow row = fa_deformed_row(RelationGetDescr(rel), tuple, "forgea_audit.audit_log");
    forgea::core::RowLink link = row_content(row, *p, chain_id);
    p->hasher.reset();
    return link;
}

// See chain_verify.hpp: the row hashing of verify_chain(), for rows read through SPI
// (verify_increment()).  A Pass carries the column map, the canonical JSON buffers and the hasher.
struct FaRowHasher {
    Pass pass;
};

FaRowHasher *fa_row_hasher_create(TupleDesc desc, MemoryContext keep)
{
    MemoryContext old = MemoryContextSwitchTo(keep);
    FaRowHasher *rh = static_cast<FaRowHasher *>(palloc0(sizeof(FaRowHasher)));
    new (&rh->pass) Pass();
    map_columns(desc, rh->pass);
    initStringInfo(&rh->pass.metadata);
    initStringInfo(&rh->pass.proof);
    new (&rh->pass.hasher) forgea::core::Sha256();
    MemoryContextSwitchTo(old);
    return rh;
}

forgea::core::RowLink fa_row_hasher_check(FaRowHasher *rh, const FaRow &row, Bytes *chain_id)
{
    return row_content(row, rh->pass, chain_id);
}

void fa_row_hasher_release(FaRowHasher *rh)
{
    rh->pass.hasher.reset();
}

namespace {

// The one result row verify_chain() returns.
void put_result(ReturnSetInfo *rsinfo, bool ok, int64 rows, bool has_bad, int64 bad_seq, const char *detail)
{
    Datum values[4] = {BoolGetDatum(ok), Int64GetDatum(rows), Int64GetDatum(bad_seq), CStringGetTextDatum(detail)};
    bool nulls[4] = {false, false, !has_bad, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

}  // namespace

// forgea_audit.verify_chain(checkpoint text DEFAULT NULL): one pass over the heap in the caller's
// snapshot (docs/chain.md, "Verification").  Everything that outlives an SPI call or a row lives in
// keep; per-row detoasting in per_row, reset after each row.
FA_FUNCTION(fa_verify_chain, "forgea_audit.verify_chain")
{
    // A checkpoint that is not one is bad input: refuse it before reading anything.
    forgea::core::ParsedCheckpoint *cp = nullptr;
    text *t;
    if (fa_arg_opt<SqlText>(fcinfo, 0, &t)) {
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

    Pass *p = static_cast<Pass *>(MemoryContextAllocZero(keep, sizeof(Pass)));
    new (p) Pass();
    MemoryContextSwitchTo(keep);
    p->arena = new (palloc(sizeof(ContextArena))) ContextArena(keep);
    p->chains = new (palloc(sizeof(forgea::core::ChainTable))) forgea::core::ChainTable(*p->arena);
    initStringInfo(&p->metadata);
    initStringInfo(&p->proof);
    MemoryContextSwitchTo(caller);

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    p->heads = load_heads(keep);

    // The Merkle checks take the leaves' row_hash from the scan instead of joining audit_log again.
    p->log = static_cast<FaLogHashes *>(MemoryContextAllocZero(keep, sizeof(FaLogHashes)));
    fa_log_hashes_init(p->log, keep);

    const char *checkpoint_note = nullptr;
    bool tree_checkpoint = false;
    if (cp != nullptr) {
        bool is_signed;
        char *why = fa_checkpoint_signature_problem(*cp, &is_signed);
        int64 n = 0;
        int64 bad_seq = 0;
        HeadRecord *sealed = nullptr;
        if (why == nullptr && cp->body.tree)  // 0.2.0: the root over the first tree_size leaves, after the scan
            tree_checkpoint = true;
        else if (why == nullptr)              // 0.1.0: the heads its CHECKPOINT event sealed
            sealed = fa_checkpoint_heads(*cp, &n, &why);
        if (why != nullptr) {
            char *kept = MemoryContextStrdup(keep, why);
            SPI_finish();
            MemoryContextSwitchTo(caller);
            put_result(rsinfo, false, 0, bad_seq != 0, bad_seq, kept);
            MemoryContextDelete(keep);
            return (Datum) 0;
        }
        // The sealed heads point into SPI's tuple memory, alive until SPI_finish().
        p->sealed.with(sealed, n);
        MemoryContext old = MemoryContextSwitchTo(keep);
        if (cp->body.tree)
            checkpoint_note = psprintf("; the %s checkpoint of %lld leaves holds", is_signed ? "signed" : "unsigned",
                                       static_cast<long long>(cp->body.size));
        else
            checkpoint_note = psprintf("; the %s checkpoint of %lld rows at seq %lld holds", is_signed ? "signed" : "unsigned",
                                       static_cast<long long>(cp->body.size), static_cast<long long>(cp->body.max_seq));
        MemoryContextSwitchTo(old);
    }

    // The heads were read by SPI in read-only mode, that is in the active snapshot, and the
    // scan uses the same one: a concurrent append is either wholly visible (row and head) or
    // not at all.
    MemoryContext per_row = AllocSetContextCreate(keep, "forgea_audit verify row", ALLOCSET_DEFAULT_SIZES);
    new (&p->hasher) forgea::core::Sha256();
    scan_log(*p, per_row);
    int64 rows = 0;
    for (size_t i = 0; i < p->chains->size(); i++) {
        forgea::core::ChainInOrder &c = p->chains->at(i);
        end_chain(c, *p);
        rows += c.walker.rows();
    }
    for (int64 i = 0; i < p->heads.count; i++)
        if (!p->heads.seen[i])
            forgea::core::report_chain_removed(p->heads.heads[i], p->problems);
    for (int64 i = 0; i < p->sealed.count; i++)
        if (!p->sealed.seen[i])
            forgea::core::report_sealed_chain_missing(p->sealed.heads[i], p->problems);
    p->hasher.reset();
    fa_log_hashes_read_leaves(p->log);
    // The Merkle tables against the rows just read (same snapshot), and a transparency-log
    // checkpoint: the root over its first tree_size leaves, recomputed from the rows' row_hash; if
    // that fails, it is the whole answer.  From the scan's map, the tree walk meets the
    // checkpoint's root as one more target: a walk that finds nothing at all has checked
    // everything the checkpoint's own walk would (the leaves up to its size there, each row there,
    // each stored leaf hash equal, the root equal), so that walk runs only if something was found,
    // to give its answer as before.
    FaMerkleFinding *walk = static_cast<FaMerkleFinding *>(MemoryContextAllocZero(keep, sizeof(FaMerkleFinding)));
    bool walked = false;
    if (tree_checkpoint && p->log->usable) {
        FaMerkleRoot *target = static_cast<FaMerkleRoot *>(MemoryContextAllocZero(keep, sizeof(FaMerkleRoot)));
        target->size = cp->body.size;
        memcpy(target->root, cp->body.root, kHashLen);
        target->what = "the checkpoint given";
        fa_merkle_check_tree(true, keep, target, 1, walk, p->log);
        walked = true;
    }
    if (tree_checkpoint && (!walked || walk->count > 0)) {
        int64 bad_seq = 0;
        char *why = fa_merkle_check_checkpoint(cp->body.size, cp->body.root, &bad_seq, p->log);
        if (why != nullptr) {
            char *kept = MemoryContextStrdup(keep, why);
            SPI_finish();
            MemoryContextSwitchTo(caller);
            put_result(rsinfo, false, 0, bad_seq != 0, bad_seq, kept);
            MemoryContextDelete(keep);
            return (Datum) 0;
        }
        // It holds, so its root was met as a target and added nothing to what the walk found.
    }
    FaMerkleFinding *tree = static_cast<FaMerkleFinding *>(MemoryContextAllocZero(keep, sizeof(FaMerkleFinding)));
    fa_merkle_check_unintegrated(true, keep, tree, p->log);
    if (!walked)
        fa_merkle_check_tree(true, keep, nullptr, 0, walk, p->log);
    if (walk->count > 0) {  // as if the walk had reported into tree after the horizon check
        fa_merkle_finding(tree, walk->seq, walk->text);
        tree->count += walk->count - 1;
    }
    SPI_finish();
    MemoryContextSwitchTo(caller);

    // The lowest seq first, whichever check named it.
    int64 count = p->problems.count() + tree->count;
    const char *first = p->problems.first_text();
    int64 first_seq = p->problems.first_seq();
    if (tree->count > 0 &&
        (p->problems.count() == 0 || (tree->seq != 0 && tree->seq < p->problems.first_seq()))) {
        first = tree->text;
        first_seq = tree->seq;
    }
    char *detail;
    if (count == 0)
        detail = psprintf("verified %lld rows in %lld chains%s", static_cast<long long>(rows),
                          static_cast<long long>(p->chains->size()), checkpoint_note ? checkpoint_note : "");
    else if (count == 1)
        detail = pstrdup(first);
    else
        detail = psprintf("%s; %lld problems in all", first, static_cast<long long>(count));
    put_result(rsinfo, count == 0, rows, count > 0 && first_seq != 0, first_seq, detail);
    MemoryContextDelete(keep);
    return (Datum) 0;
}
