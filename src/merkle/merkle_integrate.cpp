// The Merkle integrator (docs/transparency.md): committed audit rows not yet in the tree become
// its next leaves, and every node they complete is appended to the tiles (merkle_tile: C2SP
// tlog-tiles of height 8, plus each tile's interior nodes).
//
// Which rows, and why none is skipped or taken twice (the argument in full is in the doc):
//  * integrations take turns on merkle_state's one row (SELECT ... FOR UPDATE), and every later
//    statement of the integration runs on a fresh READ COMMITTED snapshot, so it sees every leaf
//    the previous integration wrote: "not yet a leaf" (an anti-join on merkle_leaf's seq index)
//    never takes a row twice; merkle_leaf.seq is UNIQUE besides;
//  * rows are looked for at seq >= horizon_seq only, and the horizon moves past a seq only when
//    no transaction that could still insert a row with that seq is running.  A mark is the
//    sequence's last value L and then the next xid to be assigned, B (ReadNextFullTransactionId,
//    read after L).  A writer that drew a seq <= L drew it before L was read, and held an xid
//    before it drew it (chain_append.cpp: the chain head's row lock, and GetCurrentTransactionId
//    right before nextval); xids are handed out in order under XidGenLock, so its xid is < B.
//    A later pass settles the mark when its snapshot's xmin >= B: xmin is the oldest xid the
//    snapshot sees running (xids at or above its xmax count as running too, and xmin <= xmax),
//    so no xid < B runs, and every seq <= L is committed and visible to the next statement, or
//    rolled back for good.  (Until 2026-12 the bound was the snapshot's xmax, the latest
//    *completed* xid + 1: a writer that took its xid after the last completion and was still
//    running lies at or above it, so two passes during one open transaction moved the horizon
//    past its row, which then never became a leaf; test/pgtap/long_writers.sql.)  Every running
//    xid of the cluster below B holds the horizon back, subtransactions through their top-level
//    xid and prepared transactions included; our own xid does not (pg_current_snapshot leaves it
//    out), and needs not: our own rows are visible to our own statements;
//  * it is one transaction: a crash leaves the leaves, nodes and state of before.
#include "merkle/merkle_store.hpp"

extern "C" {
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/xid8.h"
}

#include "pg/chain_writer.hpp"
#include "pg/boundary.hpp"
#include "pg/lock_wait.hpp"
#include "pg/datum_read.hpp"
#include "pg/spi_plan.hpp"
#include "pg/sha256.hpp"

namespace mk = forgea::core::merkle;
using forgea::core::kHashLen;

namespace {

SPIPlanPtr state_plan;
SPIPlanPtr state_insert_plan;
SPIPlanPtr candidates_plan;
SPIPlanPtr insert_leaves_plan;
SPIPlanPtr insert_tiles_plan;
SPIPlanPtr extend_tiles_plan;
SPIPlanPtr last_value_plan;
SPIPlanPtr update_state_plan;

// The integrator's statements, prepared once per backend.
void prepare_plans()
{
    if (update_state_plan != nullptr)
        return;
    FaPlanSpec state_plan_spec = {"SELECT tree_size, horizon_seq, pending_seq, "
        "       coalesce(pending_xmax <= pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()), false) "
        "FROM forgea_audit.merkle_state FOR UPDATE",
        0, nullptr};
    FaPlanSpec state_insert_plan_spec = {"INSERT INTO forgea_audit.merkle_state DEFAULT VALUES ON CONFLICT DO NOTHING", 0, nullptr};
    // The anti-join's inner side carries the horizon too: without it the generic plan's merge
    // anti join read merkle_leaf's seq index from its first entry on every batch (O(leaves) per
    // batch: 72k rows/s at 1 M leaves, 31k at 6 M; bench/merkle.sh).
    Oid two_int8[2] = {INT8OID, INT8OID};
    FaPlanSpec candidates_plan_spec = {"SELECT a.seq, a.row_hash FROM forgea_audit.audit_log a "
        "WHERE a.seq >= $1 AND NOT EXISTS (SELECT 1 FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq AND m.seq >= $1) "
        "ORDER BY a.seq LIMIT $2",
        2, two_int8};
    Oid leaves_types[2] = {INT8OID, INT8ARRAYOID};
    FaPlanSpec insert_leaves_plan_spec = {"INSERT INTO forgea_audit.merkle_leaf (leaf_index, seq) "
        "SELECT $1 + u.o - 1, u.s FROM pg_catalog.unnest($2) WITH ORDINALITY AS u(s, o)",
        2, leaves_types};
    Oid tile_types[4] = {INT2ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID, BYTEAARRAYOID};
    FaPlanSpec insert_tiles_plan_spec = {"INSERT INTO forgea_audit.merkle_tile (level, idx, hashes, interior) "
        "SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4))", 4,
        tile_types};
    // The partial tile a level ends with grows at its end, only if it still holds what the state says.
    Oid extend_types[6] = {INT2ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, BYTEAARRAYOID, INT4ARRAYOID, BYTEAARRAYOID};
    FaPlanSpec extend_tiles_plan_spec = {"UPDATE forgea_audit.merkle_tile t SET hashes = t.hashes || u.more, interior = t.interior || u.more_interior "
        "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4), "
        "                pg_catalog.unnest($5), pg_catalog.unnest($6)) "
        "  AS u(level, idx, old_len, more, old_interior_len, more_interior) "
        "WHERE t.level = u.level AND t.idx = u.idx AND pg_catalog.octet_length(t.hashes) = u.old_len "
        "  AND pg_catalog.octet_length(t.interior) = u.old_interior_len", 6,
        extend_types};
    FaPlanSpec last_value_plan_spec = {"SELECT pg_catalog.pg_sequence_last_value('forgea_audit.audit_log_seq'::pg_catalog.regclass)",
                                0, nullptr};
    // $4: the mark's xid bound (read_mark), NULL to keep the pending one.
    Oid state_types[4] = {INT8OID, INT8OID, INT8OID, XID8OID};
    FaPlanSpec update_state_plan_spec = {"UPDATE forgea_audit.merkle_state SET tree_size = $1, horizon_seq = $2, pending_seq = $3, "
        "  pending_xmax = CASE WHEN $3 IS NULL THEN NULL WHEN $4 IS NOT NULL THEN $4 ELSE pending_xmax END, "
        "  updated_at = pg_catalog.now()",
        4, state_types};
    const FaPlanSpec specs[8] = {state_plan_spec,         state_insert_plan_spec, candidates_plan_spec,
                                 insert_leaves_plan_spec, insert_tiles_plan_spec, extend_tiles_plan_spec,
                                 last_value_plan_spec,    update_state_plan_spec};
    SPIPlanPtr kept[8];
    fa_keep_plans(specs, 8, kept, "the Merkle integrator's statements");
    state_plan = kept[0];
    state_insert_plan = kept[1];
    candidates_plan = kept[2];
    insert_leaves_plan = kept[3];
    insert_tiles_plan = kept[4];
    extend_tiles_plan = kept[5];
    last_value_plan = kept[6];
    update_state_plan = kept[7];
}

// Runs a write to the guarded Merkle tables as the extension's own writer.
void guarded_exec(SPIPlanPtr plan, Datum *values, const char *nulls)
{
    fa_as_chain_writer([&] { fa_exec_plan(plan, values, nulls, 0); });
}

// Collects what appends to a tree of old_size leaves complete, as the tile store keeps it: per
// tile level, the level-8L hashes and the interior nodes above them, each in the order the appends
// complete them; then writes them: the partial tile a level ended with is extended
// (extend_tiles_plan), the rest are new rows (insert_tiles_plan).
class TileWriter final : public mk::NodeSink {
public:
    TileWriter(int64 old_size, int64 leaves) : old_size_(old_size)
    {
        for (int t = 0; t < kTileLevels; t++) {
            int64 cap = (leaves >> (mk::kTileHeight * t)) + 2;
            hashes_[t] = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * cap));
            // A level's interior nodes number fewer than its new hashes, but for those the first new
            // hash completes above the old partial tile's hashes (at most 7).
            interior_[t] = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * (cap + mk::kTileHeight)));
            cap_[t] = cap;
        }
    }

    void node(int level, std::int64_t index, const std::uint8_t hash[kHashLen]) override
    {
        int t = level / mk::kTileHeight;
        if (t >= kTileLevels)
            elog(ERROR, "Merkle integrator: node (%d, " INT64_FORMAT ") beyond the tile levels", level, index);
        if (level % mk::kTileHeight != 0) {
            if (ni_[t] == cap_[t] + mk::kTileHeight)
                elog(ERROR, "Merkle integrator: more interior nodes than leaves allow");
            memcpy(interior_[t][ni_[t]++], hash, kHashLen);
            return;
        }
        if (index != (old_size_ >> level) + n_[t] || n_[t] == cap_[t])
            elog(ERROR, "Merkle integrator: node (%d, " INT64_FORMAT ") out of order", level, index);
        memcpy(hashes_[t][n_[t]++], hash, kHashLen);
    }

    // Writes every tile the collected hashes touch.
    void write()
    {
        int rows = 0;  // at most: each level's new hashes fill whole tiles, plus one partial at each end
        for (int t = 0; t < kTileLevels; t++)
            rows += static_cast<int>(n_[t] / mk::kTileWidth) + 2;
        ArrayDatums ins(rows), ext(kTileLevels);
        for (int t = 0; t < kTileLevels; t++) {
            int64 next = old_size_ >> (mk::kTileHeight * t);  // the level's first new hash
            int64 ip = 0;                                      // the next interior node to place
            for (int64 i = 0; i < n_[t];) {
                int off = static_cast<int>(next & (mk::kTileWidth - 1));
                int take = static_cast<int>(Min(n_[t] - i, static_cast<int64>(mk::kTileWidth - off)));
                int old_inner = mk::tile_interior_count(off);
                int inner = mk::tile_interior_count(off + take) - old_inner;
                if (ip + inner > ni_[t])
                    elog(ERROR, "Merkle integrator: fewer interior nodes than the tiles need");
                bytea *h = bytea_from_bytes(hashes_[t][i], static_cast<size_t>(take) * kHashLen);
                bytea *in = bytea_from_bytes(interior_[t][ip], static_cast<size_t>(inner) * kHashLen);
                (off == 0 ? ins : ext).add(t, next >> mk::kTileHeight, off * static_cast<int>(kHashLen), h,
                                           old_inner * static_cast<int>(kHashLen), in);
                i += take;
                ip += inner;
                next += take;
            }
            if (ip != ni_[t])
                elog(ERROR, "Merkle integrator: %d interior nodes of tile level %d left over", static_cast<int>(ni_[t] - ip), t);
        }
        if (ext.n > 0) {
            Datum args[6] = {ext.levels(), ext.indexes(), ext.int4s(ext.old_len), ext.byteas(ext.tile),
                             ext.int4s(ext.old_inner_len), ext.byteas(ext.inner)};
            guarded_exec(extend_tiles_plan, args, nullptr);
            if (SPI_processed != static_cast<uint64>(ext.n))
                ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
                                errmsg("the Merkle tile store does not end where merkle_state says the tree does"),
                                errdetail("%d of the %d partial tiles to extend are missing or of another width.",
                                          ext.n - static_cast<int>(SPI_processed), ext.n),
                                errhint("merkle_tile was damaged; verify_chain(checkpoint) tells whether the log itself is intact.")));
        }
        if (ins.n > 0) {
            Datum args[4] = {ins.levels(), ins.indexes(), ins.byteas(ins.tile), ins.byteas(ins.inner)};
            guarded_exec(insert_tiles_plan, args, nullptr);
        }
    }

private:
    static constexpr int kTileLevels = (mk::kMaxLevels + mk::kTileHeight - 1) / mk::kTileHeight;

    // One statement's rows, as the arrays its unnest() takes.
    struct ArrayDatums {
        explicit ArrayDatums(int capacity)
            : cap(capacity), level(alloc(capacity)), idx(alloc(capacity)), old_len(alloc(capacity)),
              tile(alloc(capacity)), old_inner_len(alloc(capacity)), inner(alloc(capacity))
        {
        }
        static Datum *alloc(int n) { return static_cast<Datum *>(palloc(sizeof(Datum) * n)); }
        void add(int l, int64 i, int32 len, bytea *b, int32 inner_len, bytea *in)
        {
            if (n == cap)
                elog(ERROR, "Merkle integrator: more tiles than leaves allow");
            level[n] = Int16GetDatum(static_cast<int16>(l));
            idx[n] = Int64GetDatum(i);
            old_len[n] = Int32GetDatum(len);
            tile[n] = PointerGetDatum(b);
            old_inner_len[n] = Int32GetDatum(inner_len);
            inner[n] = PointerGetDatum(in);
            n++;
        }
        Datum levels() const { return PointerGetDatum(construct_array(level, n, INT2OID, 2, true, TYPALIGN_SHORT)); }
        Datum indexes() const { return PointerGetDatum(construct_array(idx, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE)); }
        Datum int4s(Datum *v) const { return PointerGetDatum(construct_array(v, n, INT4OID, 4, true, TYPALIGN_INT)); }
        Datum byteas(Datum *v) const { return PointerGetDatum(construct_array(v, n, BYTEAOID, -1, false, TYPALIGN_INT)); }

        int n = 0;
        int cap;
        Datum *level;
        Datum *idx;
        Datum *old_len;
        Datum *tile;
        Datum *old_inner_len;
        Datum *inner;
    };

    int64 old_size_;
    uint8 (*hashes_[kTileLevels])[kHashLen];
    uint8 (*interior_[kTileLevels])[kHashLen];
    int64 cap_[kTileLevels];
    int64 n_[kTileLevels] = {};
    int64 ni_[kTileLevels] = {};
};

// The frontier of a tree of `size` leaves, from its stored nodes.
void load_frontier(int64 size, mk::Frontier *f)
{
    *f = mk::Frontier{};
    f->size = size;
    f->count = mk::range_nodes(0, size, f->id);
    if (f->count > 0)
        fa_merkle_read_nodes(f->id, f->count, f->hash);
}

// Column col of the single row the last SPI call (the state query) returned, as int8; 0 if NULL.
int64 get_int8(int col, bool *isnull)
{
    int64 v = 0;
    *isnull = !fa_get_opt<SqlInt8>(fa_spi_row(0, "forgea_audit.merkle_state"), col, &v);
    return v;
}

// A new mark (see the header): the sequence's last value L, then the next xid to be assigned,
// read in that order.  Every transaction that drew a seq <= L held an xid before it drew it
// (chain_append.cpp assigns one first), so that xid is below the bound; once no xid below the
// bound runs (a later snapshot's xmin >= bound), every seq <= L is committed or never will be.
// False if the sequence was never drawn from.
bool read_mark(int64 *last_value, FullTransactionId *bound)
{
    fa_exec_plan(last_value_plan, nullptr, nullptr, 1);
    bool isnull;
    *last_value = get_int8(1, &isnull);
    SPI_freetuptable(SPI_tuptable);
    // After the read: nextval's buffer lock on the sequence page and XidGenLock order the writer's
    // xid assignment, its nextval, our read and this one.
    *bound = ReadNextFullTransactionId();
    return !isnull;
}

}  // namespace

int64 fa_merkle_integrate_batch(int64 max_rows, int64 *tree_size)
{
    if (IsolationUsesXactSnapshot())
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("the Merkle integrator needs READ COMMITTED, this transaction is %s",
                               IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
                        errdetail("With one snapshot for the whole transaction it could not see rows and leaves "
                                  "committed after the transaction began."),
                        errhint("Call checkpoint() or merkle_integrate() in a READ COMMITTED transaction.")));
    prepare_plans();

    // Take our turn (one integration at a time), creating the state row on first use.
    for (;;) {
        fa_exec_plan(state_plan, nullptr, nullptr, 0);
        if (SPI_processed == 1)
            break;
        guarded_exec(state_insert_plan, nullptr, nullptr);
    }
    bool isnull;
    int64 size = get_int8(1, &isnull);
    int64 horizon = get_int8(2, &isnull);
    bool no_pending;
    int64 pending = get_int8(3, &no_pending);
    bool resolved = fa_get<SqlBool>(fa_spi_row(0, "forgea_audit.merkle_state"), 4);

    mk::Frontier *f = static_cast<mk::Frontier *>(palloc(sizeof(mk::Frontier)));
    load_frontier(size, f);

    Datum args[4] = {Int64GetDatum(horizon), Int64GetDatum(max_rows)};
    fa_exec_plan(candidates_plan, args, nullptr, 0);
    int64 n = static_cast<int64>(SPI_processed);
    int64 *seqs = static_cast<int64 *>(palloc(sizeof(int64) * Max(n, 1)));
    auto *leaf_hashes = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * Max(n, 1)));
    {
        Sha256Sink h(CurrentMemoryContext);
        for (int64 i = 0; i < n; i++) {
            FaRow candidate = fa_spi_row(static_cast<uint64>(i), "the integrator's candidate rows");
            seqs[i] = fa_get<SqlInt8>(candidate, 1);
            bytea *rh = fa_get<SqlBytea>(candidate, 2);
            if (VARSIZE_ANY_EXHDR(rh) != kHashLen)
                elog(ERROR, "audit row " INT64_FORMAT " has no 32-byte row_hash", seqs[i]);
            mk::leaf_hash(h, VARDATA_ANY(rh), kHashLen, leaf_hashes[i]);
        }
        h.release();
    }
    SPI_freetuptable(SPI_tuptable);

    if (n > 0) {
        TileWriter tiles(size, n);
        Sha256Sink h(CurrentMemoryContext);
        for (int64 i = 0; i < n; i++) {
            if ((i & 1023) == 0)
                CHECK_FOR_INTERRUPTS();
            f->append(h, leaf_hashes[i], tiles);
        }
        h.release();
        Datum *seq_datums = static_cast<Datum *>(palloc(sizeof(Datum) * n));
        for (int64 i = 0; i < n; i++)
            seq_datums[i] = Int64GetDatum(seqs[i]);
        Datum leaf_args[2] = {Int64GetDatum(size),
                              PointerGetDatum(construct_array(seq_datums, static_cast<int>(n), INT8OID, 8,
                                                              FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
        guarded_exec(insert_leaves_plan, leaf_args, nullptr);
        tiles.write();
    }

    // The horizon: once the pending mark is resolved, every seq up to it is a leaf now, unless
    // the batch was cut short, in which case only the seqs up to the last one taken are.
    int64 new_horizon = horizon;
    bool need_mark = no_pending;
    if (!no_pending && resolved) {
        int64 done_upto = pending + 1;
        if (n > 0 && n == max_rows)
            done_upto = Min(done_upto, seqs[n - 1] + 1);
        new_horizon = Max(horizon, done_upto);
        need_mark = new_horizon == pending + 1;
    }
    Datum state_args[4] = {Int64GetDatum(f->size), Int64GetDatum(new_horizon), Int64GetDatum(pending), Datum(0)};
    char state_nulls[5] = "   n";
    if (need_mark) {
        int64 last_value;
        FullTransactionId bound;
        if (read_mark(&last_value, &bound) && last_value >= new_horizon) {
            state_args[2] = Int64GetDatum(last_value);
            state_args[3] = FullTransactionIdGetDatum(bound);
            state_nulls[3] = ' ';
        } else {
            state_nulls[2] = 'n';
        }
    }
    guarded_exec(update_state_plan, state_args, state_nulls);
    *tree_size = f->size;
    return n;
}

int64 fa_merkle_integrate_all(int64 *tree_size)
{
    int64 total = 0;
    for (;;) {
        int64 n = fa_merkle_integrate_batch(kMerkleBatchRows, tree_size);
        total += n;
        if (n < kMerkleBatchRows)
            return total;
        CHECK_FOR_INTERRUPTS();
    }
}

// forgea_audit.merkle_integrate(max_rows bigint DEFAULT NULL) RETURNS bigint
FA_FUNCTION(fa_merkle_integrate, "forgea_audit.merkle_integrate")
{
    int64 max_rows;
    if (!fa_arg_opt<SqlInt8>(fcinfo, 0, &max_rows))
        max_rows = -1;
    if (max_rows == 0 || max_rows < -1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("merkle_integrate: max_rows must be positive or NULL, not " INT64_FORMAT, max_rows),
                        errhint("Pass NULL to integrate every committed row.")));
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int64 size;
    int64 n = 0;
    // The state's lock is waited for at most kPassLockWaitMs (pg/lock_wait.hpp).
    fa_with_bounded_lock_wait("merkle_integrate()", [&] {
        n = max_rows < 0 ? fa_merkle_integrate_all(&size) : fa_merkle_integrate_batch(max_rows, &size);
    });
    SPI_finish();
    PG_RETURN_INT64(n);
}
