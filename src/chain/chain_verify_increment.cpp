// forgea_audit.verify_increment(): verifies only the audit rows added to the Merkle tree since the
// last verified point, and records how far it got (docs/transparency.md, "Incremental
// verification").  The background worker runs it every forgea_audit.verify_interval.
//
// The verified point (merkle_verified, one row) is a tree size, the root of that many leaves and
// the frontier of complete-subtree hashes it was computed from, all recomputed by this function
// from audit_log.row_hash, never copied from merkle_tile.  One pass over the leaves [verified size,
// tree size) then checks, for each new row: its content against its row_hash (verify_chain()'s
// code), its link to the row before it in its chain (as stored, found by the (chain_id,
// chain_pos) index), and appends its leaf hash to the frontier; the root at every checkpoint in
// the range and at the end must equal the checkpoint's and the stored tree's.  Cost: the new
// rows, plus O(log n) per row for the index lookups and O(log n) nodes for each root.  Besides, the
// Merkle tables are checked against the whole log (merkle_check.cpp: a check per leaf, no row
// content hashed), the verified point among the roots the recomputed tree must have, so the point
// is trusted only once it agrees with what is there.  A failure is returned (ok = false) and the
// point does not move.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"
}

#include "chain/chain_verify.hpp"
#include "chain/chain_write_guard.hpp"
#include "merkle/merkle_store.hpp"
#include "core/merkle_tree.hpp"
#include "pg/boundary.hpp"
#include "pg/lock_wait.hpp"
#include "pg/datum_read.hpp"
#include "pg/sha256.hpp"
#include "pg/spi_plan.hpp"

namespace mk = forgea::core::merkle;
using forgea::core::Bytes;
using forgea::core::kHashLen;

namespace {

// Rows fetched from the cursor at a time.
constexpr long kFetchRows = 5000;

SPIPlanPtr init_plan;
SPIPlanPtr lock_plan;
SPIPlanPtr checkpoints_plan;
SPIPlanPtr leaves_plan;
SPIPlanPtr advance_plan;

// The statements, prepared once per backend.  The leaves query returns audit_log's columns by
// name (what FaRowHasher reads) and, prefixed fa_, the leaf and the row before it in its chain.
void prepare_plans()
{
    if (advance_plan != nullptr)
        return;
    Oid int8_2[2] = {INT8OID, INT8OID};
    Oid advance_types[4] = {INT8OID, BYTEAOID, BYTEAOID, INT8OID};
    const FaPlanSpec specs[5] = {
        {"INSERT INTO forgea_audit.merkle_verified DEFAULT VALUES ON CONFLICT DO NOTHING", 0, nullptr},
        {"SELECT tree_size, root, frontier FROM forgea_audit.merkle_verified FOR UPDATE", 0, nullptr},
        {"SELECT tree_size, root FROM forgea_audit.merkle_checkpoint WHERE tree_size > $1 AND tree_size <= $2 "
         "ORDER BY tree_size, id", 2, int8_2},
        {"SELECT a.*, m.leaf_index AS fa_leaf_index, m.seq AS fa_leaf_seq, p.chain_pos AS fa_prev_pos, "
         "       p.seq AS fa_prev_seq, p.row_hash AS fa_prev_hash "
         "FROM forgea_audit.merkle_leaf m "
         "LEFT JOIN forgea_audit.audit_log a ON a.seq = m.seq "
         "LEFT JOIN LATERAL (SELECT q.chain_pos, q.seq, q.row_hash FROM forgea_audit.audit_log q "
         "                   WHERE q.chain_id = a.chain_id AND q.chain_pos < a.chain_pos "
         "                   ORDER BY q.chain_pos DESC LIMIT 1) p ON true "
         "WHERE m.leaf_index >= $1 AND m.leaf_index < $2 ORDER BY m.leaf_index", 2, int8_2},
        {"UPDATE forgea_audit.merkle_verified SET tree_size = $1, root = $2, frontier = $3, "
         "rows_checked = rows_checked + $4, verified_at = pg_catalog.clock_timestamp()", 4, advance_types},
    };
    SPIPlanPtr kept[5];
    fa_keep_plans(specs, 5, kept, "the incremental verification statements");
    init_plan = kept[0];
    lock_plan = kept[1];
    checkpoints_plan = kept[2];
    leaves_plan = kept[3];
    advance_plan = kept[4];
}

// Runs a write to merkle_verified as the extension's own writer (its guard lets nothing else in).
void write_state(SPIPlanPtr plan, Datum *args)
{
    fa_as_chain_writer([&] { fa_exec_plan(plan, args, nullptr, 0); });
}

// Checkpoints whose tree size lies in the range being verified, in size order.
struct CheckpointRoots {
    int64 count = 0;
    int64 *size = nullptr;
    uint8 (*root)[kHashLen] = nullptr;
    int64 next = 0;  // the first not yet compared
};
FA_LIVES_ACROSS_PG_CALLS(CheckpointRoots);

// Everything one pass carries: plain data in the pass's memory context.
struct Increment {
    int64 from_size = 0;
    int64 to_size = 0;
    int64 rows = 0;
    mk::Frontier frontier;
    CheckpointRoots checkpoints;
    forgea::core::FirstProblem problems;  // the rows' content and links
    char *tree_problem = nullptr;          // leaves, roots, the stored state
    int64 tree_bad_seq = 0;                // the row the tree problem names (0: none)
    int64 last_seq = 0;                    // the seq of the last leaf read
};
FA_LIVES_ACROSS_PG_CALLS(Increment);

// Records the first problem with the tree itself (later ones add nothing the DBA can act on).
void tree_problem(Increment &inc, int64 seq, char *text)
{
    if (inc.tree_problem == nullptr) {
        inc.tree_problem = text;
        inc.tree_bad_seq = seq;
    }
}

// Reads the verified point (creating it at size 0 the first time) and rebuilds its frontier.
// Locks it: two verifications take turns, and the second starts where the first ended.
void load_point(Increment &inc, MemoryContext keep)
{
    write_state(init_plan, nullptr);
    fa_exec_plan(lock_plan, nullptr, nullptr, 1);
    if (SPI_processed != 1)
        elog(ERROR, "forgea_audit.merkle_verified has no row");
    FaRow point = fa_spi_row(0, "forgea_audit.merkle_verified");
    inc.from_size = fa_get<SqlInt8>(point, 1);
    bytea *root = fa_get<SqlBytea>(point, 2);
    bytea *frontier = fa_get<SqlBytea>(point, 3);
    inc.frontier = mk::Frontier{};
    inc.frontier.size = inc.from_size;
    inc.frontier.count = mk::range_nodes(0, inc.from_size, inc.frontier.id);
    if (inc.from_size < 0 || VARSIZE_ANY_EXHDR(root) != kHashLen ||
        VARSIZE_ANY_EXHDR(frontier) != static_cast<size_t>(inc.frontier.count) * kHashLen) {
        tree_problem(inc, 0, MemoryContextStrdup(keep, "forgea_audit.merkle_verified was altered (its frontier does not "
                                                       "fit its tree size)"));
        return;
    }
    memcpy(inc.frontier.hash, VARDATA_ANY(frontier), inc.frontier.count * kHashLen);
    Sha256Sink h(CurrentMemoryContext);
    uint8 computed[kHashLen];
    inc.frontier.root(h, computed);  // the empty tree's root at size 0
    h.release();
    if (memcmp(computed, VARDATA_ANY(root), kHashLen) != 0)
        tree_problem(inc, 0, MemoryContextStrdup(keep, "forgea_audit.merkle_verified was altered (its frontier does not "
                                                       "hash to its root)"));
    SPI_freetuptable(SPI_tuptable);
}

// The checkpoints in (from_size, to_size], kept in keep.
void load_checkpoints(Increment &inc, MemoryContext keep)
{
    Datum args[2] = {Int64GetDatum(inc.from_size), Int64GetDatum(inc.to_size)};
    fa_exec_plan(checkpoints_plan, args, nullptr, 0);
    CheckpointRoots &c = inc.checkpoints;
    c.count = static_cast<int64>(SPI_processed);
    c.size = static_cast<int64 *>(MemoryContextAlloc(keep, sizeof(int64) * Max(c.count, 1)));
    c.root = static_cast<uint8(*)[kHashLen]>(MemoryContextAllocZero(keep, kHashLen * Max(c.count, 1)));
    for (int64 i = 0; i < c.count; i++) {
        FaRow cp = fa_spi_row(static_cast<uint64>(i), "forgea_audit.merkle_checkpoint");
        c.size[i] = fa_get<SqlInt8>(cp, 1);
        bytea *r = fa_get<SqlBytea>(cp, 2);
        memcpy(c.root[i], VARDATA_ANY(r), Min(VARSIZE_ANY_EXHDR(r), kHashLen));
    }
    SPI_freetuptable(SPI_tuptable);
}

// The frontier has reached a checkpoint's size: its root must be the checkpoint's.
void compare_checkpoints(Increment &inc, Sha256Sink &h, MemoryContext keep)
{
    CheckpointRoots &c = inc.checkpoints;
    while (c.next < c.count && c.size[c.next] == inc.frontier.size) {
        uint8 computed[kHashLen];
        inc.frontier.root(h, computed);
        if (memcmp(computed, c.root[c.next], kHashLen) != 0) {
            MemoryContext old = MemoryContextSwitchTo(keep);
            tree_problem(inc, inc.last_seq,
                         psprintf("the first " INT64_FORMAT " leaves, recomputed from the audit rows, do not hash to the "
                                  "root of the checkpoint of that size (rows or merkle_checkpoint changed)",
                                  c.size[c.next]));
            MemoryContextSwitchTo(old);
        }
        c.next++;
    }
}

// One new leaf: its row's content and link (verify_chain()'s checks), then its leaf hash into
// the frontier.  False if the leaf or its row is missing: the pass stops there.
bool check_leaf(HeapTuple t, TupleDesc d, Increment &inc, FaRowHasher *rh, Sha256Sink &h, int *cols,
                MemoryContext keep)
{
    FaRow leaf = fa_row(d, t, "the incremental verification's leaf query");
    int64 index = fa_get<SqlInt8>(leaf, cols[0]);
    int64 leaf_seq = fa_get<SqlInt8>(leaf, cols[1]);
    MemoryContext old = MemoryContextSwitchTo(keep);
    if (index != inc.frontier.size) {
        tree_problem(inc, leaf_seq, psprintf("the Merkle tree has no leaf " INT64_FORMAT " (merkle_leaf was altered)",
                                             inc.frontier.size));
        MemoryContextSwitchTo(old);
        return false;
    }
    if (fa_is_null<SqlInt8>(leaf, cols[5])) {  // audit_log's seq: NULL if the row is gone
        tree_problem(inc, leaf_seq, psprintf("leaf " INT64_FORMAT ": audit row " INT64_FORMAT " is missing (deleted "
                                             "after it was integrated)", index, leaf_seq));
        MemoryContextSwitchTo(old);
        return false;
    }
    MemoryContextSwitchTo(old);

    FaRow row = fa_deformed_row(d, t, "the incremental verification's leaf query");
    Bytes chain_id;
    forgea::core::RowLink link = fa_row_hasher_check(rh, row, &chain_id);

    forgea::core::ChainWalker walker;
    int64 prev_pos;
    if (!fa_get_opt<SqlInt8>(row, cols[2], &prev_pos)) {
        walker.start_chain(chain_id);
    } else {
        uint8 prev[kHashLen] = {};
        bytea *ph;
        if (fa_get_opt<SqlBytea>(row, cols[4], &ph) && VARSIZE_ANY_EXHDR(ph) == kHashLen)
            memcpy(prev, VARDATA_ANY(ph), kHashLen);
        walker.resume_chain(chain_id, prev_pos, fa_get<SqlInt8>(row, cols[3]), prev);
    }
    walker.link_row(link, inc.problems);

    // The leaf hash from the row's stored row_hash (as the integrator took it), not from merkle_tile.
    bytea *rh_stored = fa_get<SqlBytea>(row, cols[6]);
    uint8 lh[kHashLen];
    mk::leaf_hash(h, VARDATA_ANY(rh_stored), Min(VARSIZE_ANY_EXHDR(rh_stored), kHashLen), lh);
    mk::DiscardNodes drop;
    inc.frontier.append(h, lh, drop);
    inc.last_seq = leaf_seq;
    inc.rows++;
    compare_checkpoints(inc, h, keep);
    return true;
}

// The column numbers check_leaf reads, by name: fa_leaf_index, fa_leaf_seq, fa_prev_pos,
// fa_prev_seq, fa_prev_hash, seq, row_hash.
void find_columns(TupleDesc d, int *cols)
{
    const char *names[7] = {"fa_leaf_index", "fa_leaf_seq", "fa_prev_pos", "fa_prev_seq", "fa_prev_hash", "seq", "row_hash"};
    FaRow row = fa_row(d, static_cast<HeapTuple>(nullptr), "the incremental verification's leaf query");
    for (int i = 0; i < 7; i++)
        cols[i] = fa_attno(row, names[i]);
}

// Reads the leaves [from_size, to_size) in leaf order, checking each (check_leaf).
void scan_leaves(Increment &inc, MemoryContext keep)
{
    Datum args[2] = {Int64GetDatum(inc.from_size), Int64GetDatum(inc.to_size)};
    // Not read-only: a fresh snapshot, which sees the leaves this transaction just integrated.
    Portal portal = SPI_cursor_open(nullptr, leaves_plan, args, nullptr, false);
    MemoryContext per_batch = AllocSetContextCreate(keep, "forgea_audit verify_increment rows", ALLOCSET_DEFAULT_SIZES);
    Sha256Sink h(keep);
    FaRowHasher *rh = nullptr;
    int cols[7];
    bool go_on = true;
    while (go_on) {
        SPI_cursor_fetch(portal, true, kFetchRows);
        if (SPI_processed == 0)
            break;
        if (rh == nullptr) {
            rh = fa_row_hasher_create(SPI_tuptable->tupdesc, keep);
            find_columns(SPI_tuptable->tupdesc, cols);
        }
        for (uint64 i = 0; i < SPI_processed && go_on; i++) {
            MemoryContext old = MemoryContextSwitchTo(per_batch);
            go_on = check_leaf(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, inc, rh, h, cols, keep);
            MemoryContextSwitchTo(old);
            MemoryContextReset(per_batch);
        }
        SPI_freetuptable(SPI_tuptable);
        CHECK_FOR_INTERRUPTS();
    }
    SPI_cursor_close(portal);
    if (rh != nullptr)
        fa_row_hasher_release(rh);
    if (go_on && inc.frontier.size < inc.to_size) {
        MemoryContext old = MemoryContextSwitchTo(keep);
        tree_problem(inc, 0, psprintf("the Merkle tree has " INT64_FORMAT " leaves, merkle_leaf only " INT64_FORMAT
                                      " (merkle_leaf was altered)", inc.to_size, inc.frontier.size));
        MemoryContextSwitchTo(old);
    }
    // The end: the root recomputed from the rows must be the stored tree's.
    if (inc.tree_problem == nullptr) {
        uint8 computed[kHashLen], stored[kHashLen];
        inc.frontier.root(h, computed);
        fa_merkle_root_of(inc.to_size, stored);
        if (memcmp(computed, stored, kHashLen) != 0) {
            MemoryContext old = MemoryContextSwitchTo(keep);
            tree_problem(inc, 0, psprintf("the root of the first " INT64_FORMAT " leaves recomputed from the audit rows "
                                          "differs from the stored Merkle tree's (rows changed after they were integrated, "
                                          "or merkle_tile was altered)", inc.to_size));
            MemoryContextSwitchTo(old);
        }
    }
    h.release();
}

// Moves the verified point to the end of a pass that found nothing wrong.
void advance(Increment &inc)
{
    Sha256Sink h(CurrentMemoryContext);
    uint8 root[kHashLen];
    inc.frontier.root(h, root);
    h.release();
    Datum args[4] = {Int64GetDatum(inc.to_size), PointerGetDatum(bytea_from_bytes(root, kHashLen)),
                     PointerGetDatum(bytea_from_bytes(&inc.frontier.hash[0][0], inc.frontier.count * kHashLen)),
                     Int64GetDatum(inc.rows)};
    write_state(advance_plan, args);
}

}  // namespace

// forgea_audit.verify_increment() RETURNS TABLE (ok, rows_checked, first_bad_seq, detail,
// from_size, to_size): integrates what has committed, then verifies the leaves added since the
// verified point and, if all holds, moves the point to the tree's size.
FA_FUNCTION(fa_verify_increment, "forgea_audit.verify_increment")
{
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    MemoryContext caller = CurrentMemoryContext;
    MemoryContext keep = AllocSetContextCreate(caller, "forgea_audit verify_increment", ALLOCSET_DEFAULT_SIZES);
    Increment *inc = static_cast<Increment *>(MemoryContextAllocZero(keep, sizeof(Increment)));
    new (inc) Increment();

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    prepare_plans();
    int64 size = 0;
    // Its locks (merkle_verified, merkle_state) are waited for at most kPassLockWaitMs (pg/lock_wait.hpp).
    fa_with_bounded_lock_wait("verify_increment()", [&] {
        load_point(*inc, keep);  // first: the lock, so that integrations and passes keep one order
        fa_merkle_integrate_all(&size);
    });
    // The verified point is trusted only if the tree, recomputed from the rows, still has its root.
    FaMerkleRoot *verified_point = static_cast<FaMerkleRoot *>(MemoryContextAllocZero(keep, sizeof(FaMerkleRoot)));
    verified_point->size = inc->from_size;
    verified_point->what = "the last verified point (merkle_verified)";
    {
        Sha256Sink h(CurrentMemoryContext);
        inc->frontier.root(h, verified_point->root);
        h.release();
    }
    bool point_intact = inc->tree_problem == nullptr;
    inc->to_size = size;
    if (inc->tree_problem == nullptr && inc->to_size < inc->from_size)
        tree_problem(*inc, 0, MemoryContextStrdup(keep, psprintf("the Merkle tree has " INT64_FORMAT " leaves, fewer than "
                                                                 "the " INT64_FORMAT " already verified (merkle_state was "
                                                                 "altered)", inc->to_size, inc->from_size)));
    if (inc->tree_problem == nullptr) {
        // The stored tree must still have, at the verified size, the root this function computed.
        uint8 stored[kHashLen], verified[kHashLen];
        fa_merkle_root_of(inc->from_size, stored);
        Sha256Sink h(CurrentMemoryContext);
        inc->frontier.root(h, verified);
        h.release();
        if (memcmp(stored, verified, kHashLen) != 0)
            tree_problem(*inc, 0, MemoryContextStrdup(keep, "the stored Merkle tree no longer has the root verified "
                                                            "before (merkle_tile was altered)"));
    }
    if (inc->tree_problem == nullptr) {
        load_checkpoints(*inc, keep);
        scan_leaves(*inc, keep);
    }
    // The whole log: no committed row below the horizon is missing from the tree, and the Merkle
    // tables agree with the rows and with the verified point.
    FaMerkleFinding *lost = static_cast<FaMerkleFinding *>(MemoryContextAllocZero(keep, sizeof(FaMerkleFinding)));
    fa_merkle_check_unintegrated(false, keep, lost);
    fa_merkle_check_tree(false, keep, verified_point, point_intact ? 1 : 0, lost);
    int64 count = inc->problems.count() + (inc->tree_problem != nullptr ? 1 : 0) + lost->count;
    if (lost->count > 0 && (inc->tree_problem == nullptr || inc->tree_bad_seq == 0 || lost->seq < inc->tree_bad_seq)) {
        inc->tree_problem = lost->text;
        inc->tree_bad_seq = lost->seq;
    }
    if (count == 0)
        advance(*inc);
    SPI_finish();
    MemoryContextSwitchTo(caller);

    // The row problems name a row; a tree problem names one when it can.  The lower seq first.
    const char *first;
    int64 bad = 0;
    if (inc->problems.count() > 0 &&
        (inc->tree_problem == nullptr || inc->tree_bad_seq == 0 || inc->problems.first_seq() <= inc->tree_bad_seq)) {
        first = inc->problems.first_text();
        bad = inc->problems.first_seq();
    } else {
        first = inc->tree_problem;
        bad = inc->tree_bad_seq;
    }
    char *detail;
    if (count == 0 && inc->rows == 0)
        detail = psprintf("no new rows since the last pass; the tree of %lld leaves holds",
                          static_cast<long long>(inc->to_size));
    else if (count == 0)
        detail = psprintf("verified %lld new rows (leaves %lld to %lld); the tree of %lld leaves holds",
                          static_cast<long long>(inc->rows), static_cast<long long>(inc->from_size),
                          static_cast<long long>(inc->to_size - 1), static_cast<long long>(inc->to_size));
    else if (count == 1)
        detail = pstrdup(first);
    else
        detail = psprintf("%s; %lld problems in all", first, static_cast<long long>(count));
    Datum values[6] = {BoolGetDatum(count == 0), Int64GetDatum(inc->rows), Int64GetDatum(bad),
                       CStringGetTextDatum(detail), Int64GetDatum(inc->from_size), Int64GetDatum(inc->to_size)};
    bool nulls[6] = {false, false, count == 0 || bad == 0, false, false, false};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    MemoryContextDelete(keep);
    return (Datum) 0;
}
