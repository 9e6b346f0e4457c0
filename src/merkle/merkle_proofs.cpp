// Proofs over the stored Merkle tree (docs/transparency.md): inclusion_proof(), consistency_proof(),
// merkle_root(), and the check verify_chain(checkpoint) makes against a transparency-log note.
// Each proof is planned by the core (O(log n) complete subtrees), read in one indexed query, and
// assembled by the core: no proof reads O(n) rows.
#include "merkle/merkle_store.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

}

#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/spi_plan.hpp"
#include "core/sha256.hpp"
#include "pg/sha256.hpp"

namespace mk = forgea::core::merkle;
using forgea::core::kHashLen;

namespace {

SPIPlanPtr nodes_plan;
SPIPlanPtr size_plan;
SPIPlanPtr leaf_plan;

void prepare_plans()
{
    if (leaf_plan != nullptr)
        return;
    // One stored hash per node: a 32-byte slice of a tile's hashes or interior (stored EXTERNAL,
    // so the slice reads one TOAST chunk, not the whole tile).
    Oid tile_types[4] = {INT2ARRAYOID, INT8ARRAYOID, BOOLARRAYOID, INT4ARRAYOID};
    FaPlanSpec nodes_plan_spec = {"SELECT q.ord, pg_catalog.substring(CASE WHEN q.in_interior THEN t.interior ELSE t.hashes END, q.pos * 32 + 1, 32) "
        "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4)) "
        "  WITH ORDINALITY AS q(level, idx, in_interior, pos, ord) "
        "JOIN forgea_audit.merkle_tile t ON t.level = q.level AND t.idx = q.idx",
        4, tile_types};
    FaPlanSpec size_plan_spec = {"SELECT tree_size FROM forgea_audit.merkle_state", 0, nullptr};
    Oid int8_1[1] = {INT8OID};
    FaPlanSpec leaf_plan_spec = {"SELECT leaf_index FROM forgea_audit.merkle_leaf WHERE seq = $1", 1, int8_1};
    const FaPlanSpec specs[3] = {nodes_plan_spec, size_plan_spec, leaf_plan_spec};
    SPIPlanPtr kept[3];
    fa_keep_plans(specs, 3, kept, "the Merkle proof statements");
    nodes_plan = kept[0];
    size_plan = kept[1];
    leaf_plan = kept[2];
}

// The tree size, checked against what a caller asks for: sizes beyond it are bad input.
void check_size(const char *what, int64 size, int64 tree_size)
{
    if (size < 0 || size > tree_size)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("%s " INT64_FORMAT " is not a size of the Merkle tree, which has " INT64_FORMAT " leaves",
                               what, size, tree_size),
                        errhint("Use the tree size of a checkpoint (its second line), at most the current size.")));
}

// Reads and assembles a plan's hashes into a bytea[].
Datum proof_array(const mk::ProofPlan &plan)
{
    auto *nodes = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * Max(plan.nodes, 1)));
    if (plan.nodes > 0)
        fa_merkle_read_nodes(plan.node, plan.nodes, nodes);
    auto *hashes = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * Max(plan.ranges, 1)));
    Sha256Sink h(CurrentMemoryContext);
    mk::assemble(h, plan, nodes, hashes);
    h.release();
    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * Max(plan.ranges, 1)));
    for (int i = 0; i < plan.ranges; i++)
        elems[i] = PointerGetDatum(bytea_from_bytes(hashes[i], kHashLen));
    return PointerGetDatum(construct_array(elems, plan.ranges, BYTEAOID, -1, false, TYPALIGN_INT));
}

}  // namespace

// Each node is one stored hash (core tile_position), all read in one statement.
void fa_merkle_read_nodes(const mk::NodeId *ids, int n, uint8 (*out)[kHashLen])
{
    prepare_plans();
    Datum *levels = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    Datum *idx = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    Datum *inner = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    Datum *pos = static_cast<Datum *>(palloc(sizeof(Datum) * n));
    for (int i = 0; i < n; i++) {
        mk::TilePosition p = mk::tile_position(ids[i]);
        levels[i] = Int16GetDatum(static_cast<int16>(p.level));
        idx[i] = Int64GetDatum(p.index);
        inner[i] = BoolGetDatum(p.interior);
        pos[i] = Int32GetDatum(p.pos);
    }
    Datum args[4] = {PointerGetDatum(construct_array(levels, n, INT2OID, 2, true, TYPALIGN_SHORT)),
                     PointerGetDatum(construct_array(idx, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)),
                     PointerGetDatum(construct_array(inner, n, BOOLOID, 1, true, TYPALIGN_CHAR)),
                     PointerGetDatum(construct_array(pos, n, INT4OID, 4, true, TYPALIGN_INT))};
    // Not read-only: a fresh snapshot after a command counter increment, so the tiles this very
    // transaction just wrote (checkpoint(), a second batch) are seen.
    int rc = SPI_execute_plan(nodes_plan, args, nullptr, false, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading Merkle tiles failed: %s", SPI_result_code_string(rc));
    int found = 0;
    for (uint64 r = 0; r < SPI_processed; r++) {
        FaRow node = fa_spi_row(r, "the Merkle node query");
        int64 ord = fa_get<SqlInt8>(node, 1);
        bytea *hash;
        if (!fa_get_opt<SqlBytea>(node, 2, &hash) || ord < 1 || ord > n || VARSIZE_ANY_EXHDR(hash) != kHashLen)
            continue;  // a tile that ends before the node: counted as missing below
        memcpy(out[ord - 1], VARDATA_ANY(hash), kHashLen);
        found++;
    }
    SPI_freetuptable(SPI_tuptable);
    if (found != n)
        ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                        errmsg("the Merkle tree store lacks %d of the %d nodes asked for", n - found, n),
                        errhint("merkle_tile was damaged; verify_chain(checkpoint) tells whether the log itself is intact.")));
}

int64 fa_merkle_tree_size()
{
    prepare_plans();
    int rc = SPI_execute_plan(size_plan, nullptr, nullptr, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading the Merkle tree size failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        return 0;
    return fa_get<SqlInt8>(fa_spi_row(0, "forgea_audit.merkle_state"), 1);
}

void fa_merkle_root_of(int64 size, uint8 out[kHashLen])
{
    mk::ProofPlan *plan = static_cast<mk::ProofPlan *>(palloc(sizeof(mk::ProofPlan)));
    mk::root_plan(size, plan);
    Sha256Sink h(CurrentMemoryContext);
    if (size == 0) {
        mk::empty_root(h, out);
    } else {
        auto *nodes = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * plan->nodes));
        fa_merkle_read_nodes(plan->node, plan->nodes, nodes);
        mk::fold_range(h, nodes, plan->nodes, out);
    }
    h.release();
}

namespace {

// The stored leaf hashes (level-0 tiles), read a tile at a time as verify walks the leaves in order.
class LeafTiles {
public:
    // The stored hash of leaf `index`, or nullptr if the store has none.
    const uint8 *hash(int64 index)
    {
        int64 tile = index >> mk::kTileHeight;
        if (tile != tile_) {
            load(tile);
            tile_ = tile;
        }
        int64 pos = index & (mk::kTileWidth - 1);
        return pos < width_ ? hashes_[pos] : nullptr;
    }

private:
    void load(int64 tile)
    {
        if (plan_ == nullptr) {
            Oid types[1] = {INT8OID};
            plan_ = SPI_prepare("SELECT hashes FROM forgea_audit.merkle_tile WHERE level = 0 AND idx = $1", 1, types);
            if (plan_ == nullptr)
                elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
            hashes_ = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * mk::kTileWidth));
        }
        Datum args[1] = {Int64GetDatum(tile)};
        if (SPI_execute_plan(plan_, args, nullptr, false, 1) != SPI_OK_SELECT)
            elog(ERROR, "reading a Merkle tile failed");
        width_ = 0;
        if (SPI_processed == 1) {
            bytea *b;
            if (fa_get_opt<SqlBytea>(fa_spi_row(0, "forgea_audit.merkle_tile"), 1, &b)) {
                width_ = Min(static_cast<int64>(VARSIZE_ANY_EXHDR(b) / kHashLen), static_cast<int64>(mk::kTileWidth));
                memcpy(hashes_, VARDATA_ANY(b), width_ * kHashLen);
            }
        }
        SPI_freetuptable(SPI_tuptable);
    }

    SPIPlanPtr plan_ = nullptr;
    uint8 (*hashes_)[kHashLen] = nullptr;
    int64 tile_ = -1;
    int64 width_ = 0;
};

}  // namespace

char *fa_merkle_check_checkpoint(int64 size, const uint8 root[kHashLen], int64 *bad_seq, const FaLogHashes *log)
{
    *bad_seq = 0;
    SPIPlanPtr plan = nullptr;
    FaSpiLeaves *spi = nullptr;
    FaLeafSource *leaves;
    if (log != nullptr && log->usable) {
        leaves = new (palloc(sizeof(FaMemLeaves))) FaMemLeaves(log, size);
    } else {
        Oid types[1] = {INT8OID};
        Datum args[1] = {Int64GetDatum(size)};
        plan = SPI_prepare(
            "SELECT m.leaf_index, m.seq, a.row_hash FROM forgea_audit.merkle_leaf m "
            "LEFT JOIN forgea_audit.audit_log a ON a.seq = m.seq "
            "WHERE m.leaf_index < $1 ORDER BY m.leaf_index",
            1, types);
        if (plan == nullptr)
            elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
        spi = new (palloc(sizeof(FaSpiLeaves))) FaSpiLeaves(plan, args, true, "the checkpoint check's leaf query");
        leaves = spi;
    }

    mk::Frontier *f = static_cast<mk::Frontier *>(palloc0(sizeof(mk::Frontier)));
    *f = mk::Frontier{};
    mk::DiscardNodes drop;
    forgea::core::Sha256 h;  // the core's: no allocation per digest (core/sha256.hpp)
    char *problem = nullptr;
    LeafTiles stored;
    int64 index, seq;
    const uint8 *rh;
    int rh_len;
    int64 walked = 0;
    while (problem == nullptr && leaves->next(&index, &seq, &rh, &rh_len)) {
        if (++walked % 10000 == 0)
            CHECK_FOR_INTERRUPTS();
        if (index != f->size) {
            problem = psprintf("the Merkle tree has no leaf " INT64_FORMAT " (merkle_leaf was altered)", f->size);
            *bad_seq = seq;
            break;
        }
        if (rh == nullptr) {
            problem = psprintf("leaf " INT64_FORMAT ": audit row %lld, which the checkpoint covers, is missing",
                               index, static_cast<long long>(seq));
            *bad_seq = seq;
            break;
        }
        uint8 lh[kHashLen];
        mk::leaf_hash(h, rh, Min(static_cast<size_t>(rh_len), kHashLen), lh);
        const uint8 *kept = stored.hash(index);
        if (*bad_seq == 0 && (kept == nullptr || memcmp(kept, lh, kHashLen) != 0))
            *bad_seq = seq;  // the row is not the one integrated: named if the root fails
        f->append(h, lh, drop);
    }
    if (spi != nullptr) {
        spi->close();
        SPI_freeplan(plan);
    }
    if (problem == nullptr && f->size < size)
        problem = psprintf("the checkpoint covers " INT64_FORMAT " leaves, the Merkle tree holds " INT64_FORMAT,
                           size, f->size);
    if (problem == nullptr) {
        uint8 computed[kHashLen];
        f->root(h, computed);
        if (memcmp(computed, root, kHashLen) != 0)
            problem = *bad_seq != 0
                          ? psprintf("the first " INT64_FORMAT " leaves do not hash to the checkpoint's root: audit row "
                                     INT64_FORMAT " is not the row integrated as its leaf (changed after integration)",
                                     size, *bad_seq)
                          : psprintf("the first " INT64_FORMAT " leaves do not hash to the checkpoint's root (rows were "
                                     "changed, removed or reordered after the checkpoint)", size);
        else if (*bad_seq != 0)
            problem = psprintf("merkle_tile's leaf hash of audit row " INT64_FORMAT " was altered (the rows match the "
                               "checkpoint; proofs read from the damaged node would not verify)", *bad_seq);
    }
    return problem;
}

// forgea_audit.inclusion_proof(seq bigint, tree_size bigint) RETURNS TABLE(leaf_index bigint, proof bytea[])
FA_FUNCTION(fa_inclusion_proof, "forgea_audit.inclusion_proof")
{
    int64 seq = fa_arg<SqlInt8>(fcinfo, 0, "seq");
    int64 size = fa_arg<SqlInt8>(fcinfo, 1, "tree_size");
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    prepare_plans();
    check_size("tree_size", size, fa_merkle_tree_size());
    Datum arg[1] = {Int64GetDatum(seq)};
    if (SPI_execute_plan(leaf_plan, arg, nullptr, true, 1) != SPI_OK_SELECT)
        elog(ERROR, "reading merkle_leaf failed");
    if (SPI_processed == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("audit row " INT64_FORMAT " is not in the Merkle tree", seq),
                        errdetail("Either there is no such row, or it was committed after the last integration."),
                        errhint("checkpoint() (or forgea_audit.merkle_integrate()) integrates every committed row.")));
    int64 index = fa_get<SqlInt8>(fa_spi_row(0, "forgea_audit.merkle_leaf"), 1);
    if (index >= size)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("audit row " INT64_FORMAT " is leaf " INT64_FORMAT ", outside the tree of " INT64_FORMAT
                               " leaves", seq, index, size),
                        errhint("Ask for a tree size above the leaf index: a later checkpoint's.")));
    mk::ProofPlan *plan = static_cast<mk::ProofPlan *>(palloc(sizeof(mk::ProofPlan)));
    mk::inclusion_plan(index, size, plan);
    // The array must outlive SPI_finish(): SPI_datumTransfer copies it to the caller's context.
    Datum values[2] = {Int64GetDatum(index), SPI_datumTransfer(proof_array(*plan), false, -1)};
    bool nulls[2] = {false, false};
    SPI_finish();
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    return (Datum) 0;
}

// forgea_audit.consistency_proof(old_size bigint, new_size bigint) RETURNS bytea[]
FA_FUNCTION(fa_consistency_proof, "forgea_audit.consistency_proof")
{
    int64 old_size = fa_arg<SqlInt8>(fcinfo, 0, "old_size");
    int64 new_size = fa_arg<SqlInt8>(fcinfo, 1, "new_size");
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    check_size("new_size", new_size, fa_merkle_tree_size());
    if (old_size < 0 || old_size > new_size)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("old_size " INT64_FORMAT " must be between 0 and new_size " INT64_FORMAT, old_size, new_size),
                        errhint("A consistency proof goes from an earlier checkpoint's size to a later one's.")));
    mk::ProofPlan *plan = static_cast<mk::ProofPlan *>(palloc(sizeof(mk::ProofPlan)));
    mk::consistency_plan(old_size, new_size, plan);
    Datum proof = proof_array(*plan);
    Datum result = SPI_datumTransfer(proof, false, -1);
    SPI_finish();
    PG_RETURN_DATUM(result);
}

// forgea_audit.merkle_root(tree_size bigint) RETURNS bytea
FA_FUNCTION(fa_merkle_root, "forgea_audit.merkle_root")
{
    int64 size = fa_arg<SqlInt8>(fcinfo, 0, "tree_size");
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    check_size("tree_size", size, fa_merkle_tree_size());
    uint8 root[kHashLen];
    fa_merkle_root_of(size, root);
    SPI_finish();
    PG_RETURN_BYTEA_P(bytea_from_bytes(root, kHashLen));
}
