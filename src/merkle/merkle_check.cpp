// The checks that the Merkle tables agree with audit_log (docs/transparency.md, "What the
// verifiers check of the tree"), made by verify_chain() (with or without a checkpoint) and by
// verify_increment(): whatever else they verify, a row the tree has lost is never passed over.
#include "merkle/merkle_store.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
}

#include "pg/datum_read.hpp"
#include "pg/sha256.hpp"
#include "pg/spi_plan.hpp"

namespace mk = forgea::core::merkle;
using forgea::core::kHashLen;

namespace {

SPIPlanPtr unintegrated_plan;
SPIPlanPtr state_plan;
SPIPlanPtr checkpoints_plan;
SPIPlanPtr leaves_plan;
SPIPlanPtr tile_plan;

// The statements, prepared once per backend.
void prepare_plans()
{
    if (tile_plan != nullptr)
        return;
    // Committed rows below the horizon that are not leaves: an anti-join on merkle_leaf's seq
    // index (one probe or merge step per row: linear).
    Oid tile_types[2] = {INT2OID, INT8OID};
    const FaPlanSpec specs[5] = {
        {"SELECT s.horizon_seq, u.first, u.n FROM forgea_audit.merkle_state s CROSS JOIN LATERAL ("
         "  SELECT min(a.seq) AS first, count(*) AS n FROM forgea_audit.audit_log a WHERE a.seq < s.horizon_seq "
         "  AND NOT EXISTS (SELECT 1 FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq)) u",
         0, nullptr},
        {"SELECT tree_size FROM forgea_audit.merkle_state", 0, nullptr},
        {"SELECT id, tree_size, root FROM forgea_audit.merkle_checkpoint ORDER BY tree_size, id", 0, nullptr},
        // Every leaf in leaf order with its row's row_hash (NULL if the row is gone).
        {"SELECT m.leaf_index, m.seq, a.row_hash FROM forgea_audit.merkle_leaf m "
         "LEFT JOIN forgea_audit.audit_log a ON a.seq = m.seq ORDER BY m.leaf_index",
         0, nullptr},
        {"SELECT hashes, interior FROM forgea_audit.merkle_tile WHERE level = $1 AND idx = $2", 2, tile_types},
    };
    SPIPlanPtr kept[5];
    fa_keep_plans(specs, 5, kept, "the Merkle log checks");
    unintegrated_plan = kept[0];
    state_plan = kept[1];
    checkpoints_plan = kept[2];
    leaves_plan = kept[3];
    tile_plan = kept[4];
}

constexpr int kTileLevels = (mk::kMaxLevels + mk::kTileHeight - 1) / mk::kTileHeight;

// The nodes one append completed, kept so that they are compared after the core returned (the
// comparison runs SPI, which may raise: not from inside core code).
class NodeList final : public mk::NodeSink {
public:
    void node(int level, std::int64_t index, const std::uint8_t hash[kHashLen]) override
    {
        if (n < mk::kMaxLevels + 1) {
            id[n].level = level;
            id[n].index = index;
            memcpy(hash_[n], hash, kHashLen);
            n++;
        }
    }
    int n = 0;
    mk::NodeId id[mk::kMaxLevels + 1];
    uint8 hash_[mk::kMaxLevels + 1][kHashLen];
};

// The stored tiles one walk reads, one per tile level at a time: the walk visits each level's
// tiles in index order, so each tile is read once.
struct TileCache {
    int64 idx[kTileLevels];
    bool present[kTileLevels];
    int hashes_len[kTileLevels];
    int interior_len[kTileLevels];
    uint8 hashes[kTileLevels][mk::kTileWidth * kHashLen];
    uint8 interior[kTileLevels][mk::kTileInterior * kHashLen];
};

// Tile (level, idx) into the cache.
void load_tile(TileCache *c, int level, int64 idx, bool read_only)
{
    Datum args[2] = {Int16GetDatum(static_cast<int16>(level)), Int64GetDatum(idx)};
    int rc = SPI_execute_plan(tile_plan, args, nullptr, read_only, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading a Merkle tile failed: %s", SPI_result_code_string(rc));
    c->idx[level] = idx;
    c->present[level] = false;
    c->hashes_len[level] = c->interior_len[level] = 0;
    if (SPI_processed == 1) {
        FaRow row = fa_spi_row(0, "forgea_audit.merkle_tile");
        bytea *h, *i;
        if (fa_get_opt<SqlBytea>(row, 1, &h) && fa_get_opt<SqlBytea>(row, 2, &i)) {
            c->hashes_len[level] = static_cast<int>(Min(VARSIZE_ANY_EXHDR(h), sizeof c->hashes[level]));
            c->interior_len[level] = static_cast<int>(Min(VARSIZE_ANY_EXHDR(i), sizeof c->interior[level]));
            memcpy(c->hashes[level], VARDATA_ANY(h), c->hashes_len[level]);
            memcpy(c->interior[level], VARDATA_ANY(i), c->interior_len[level]);
            c->present[level] = true;
        }
    }
    SPI_freetuptable(SPI_tuptable);
}

// The stored hash of a node, or nullptr if the store lacks it.
const uint8 *stored_node(TileCache *c, mk::NodeId node, bool read_only)
{
    mk::TilePosition p = mk::tile_position(node);
    if (p.level < 0 || p.level >= kTileLevels)
        return nullptr;
    if (c->idx[p.level] != p.index)
        load_tile(c, p.level, p.index, read_only);
    if (!c->present[p.level])
        return nullptr;
    int off = p.pos * static_cast<int>(kHashLen);
    if (p.interior)
        return off + static_cast<int>(kHashLen) <= c->interior_len[p.level] ? c->interior[p.level] + off : nullptr;
    return off + static_cast<int>(kHashLen) <= c->hashes_len[p.level] ? c->hashes[p.level] + off : nullptr;
}

// A root the walk must meet at a size: the checkpoints', then the callers'.
struct Target {
    int64 size;
    uint8 root[kHashLen];
    const char *what;  // "the checkpoint of id 7", "merkle_verified", ...
};

// Targets by size (pg_qsort).
int by_size(const void *a, const void *b)
{
    int64 x = static_cast<const Target *>(a)->size, y = static_cast<const Target *>(b)->size;
    return x < y ? -1 : x > y ? 1 : 0;
}

// Compares the frontier's root with every target of its size.
void meet_targets(const mk::Frontier &fr, Sha256Sink &h, Target *t, int64 nt, int64 *next, int64 last_seq,
                  MemoryContext keep, FaMerkleFinding *f)
{
    while (*next < nt && t[*next].size <= fr.size) {
        Target &x = t[(*next)++];
        if (x.size != fr.size)
            continue;  // beyond the leaves: reported where the walk ends
        uint8 computed[kHashLen];
        fr.root(h, computed);
        if (memcmp(computed, x.root, kHashLen) != 0) {
            MemoryContext old = MemoryContextSwitchTo(keep);
            fa_merkle_finding(f, last_seq,
                              psprintf("the first " INT64_FORMAT " leaves, recomputed from the audit rows, do not hash to "
                                       "the root of %s (it, the leaves or the rows were altered)", x.size, x.what));
            MemoryContextSwitchTo(old);
        }
    }
}

}  // namespace

void fa_merkle_check_tree(bool read_only, MemoryContext keep, const FaMerkleRoot *extra, int nextra,
                          FaMerkleFinding *f)
{
    prepare_plans();
    MemoryContext old;

    // The state's size (a tree without a state row has no leaves).
    if (SPI_execute_plan(state_plan, nullptr, nullptr, read_only, 1) != SPI_OK_SELECT)
        elog(ERROR, "reading merkle_state failed");
    int64 size = 0;
    if (SPI_processed == 1 && !fa_get_opt<SqlInt8>(fa_spi_row(0, "forgea_audit.merkle_state"), 1, &size))
        size = 0;
    SPI_freetuptable(SPI_tuptable);

    // The roots to meet: every checkpoint's, then the caller's, by size.
    if (SPI_execute_plan(checkpoints_plan, nullptr, nullptr, read_only, 0) != SPI_OK_SELECT)
        elog(ERROR, "reading merkle_checkpoint failed");
    int64 ncp = static_cast<int64>(SPI_processed);
    int64 nt = ncp + nextra;
    Target *t = static_cast<Target *>(palloc0(sizeof(Target) * Max(nt, 1)));
    for (int64 i = 0; i < ncp; i++) {
        FaRow row = fa_spi_row(static_cast<uint64>(i), "forgea_audit.merkle_checkpoint");
        int64 id = 0;
        bytea *r;
        if (!fa_get_opt<SqlInt8>(row, 2, &t[i].size))
            t[i].size = -1;
        if (!fa_get_opt<SqlInt8>(row, 1, &id))
            id = 0;
        t[i].what = psprintf("the checkpoint of id " INT64_FORMAT, id);
        if (fa_get_opt<SqlBytea>(row, 3, &r))
            memcpy(t[i].root, VARDATA_ANY(r), Min(VARSIZE_ANY_EXHDR(r), kHashLen));
    }
    SPI_freetuptable(SPI_tuptable);
    for (int i = 0; i < nextra; i++) {
        t[ncp + i].size = extra[i].size;
        memcpy(t[ncp + i].root, extra[i].root, kHashLen);
        t[ncp + i].what = extra[i].what;
    }
    // Sizes outside the tree can never be met.
    for (int64 i = 0; i < nt; i++)
        if (t[i].size < 0 || t[i].size > size) {
            old = MemoryContextSwitchTo(keep);
            fa_merkle_finding(f, 0, psprintf("%s claims a tree of " INT64_FORMAT " leaves, merkle_state's tree has " INT64_FORMAT
                                             " (one of them was altered)", t[i].what, t[i].size, size));
            MemoryContextSwitchTo(old);
        }
    pg_qsort(t, nt, sizeof(Target), by_size);

    mk::Frontier *fr = static_cast<mk::Frontier *>(palloc0(sizeof(mk::Frontier)));
    *fr = mk::Frontier{};
    TileCache *tiles = static_cast<TileCache *>(palloc(sizeof(TileCache)));
    for (int l = 0; l < kTileLevels; l++)
        tiles->idx[l] = -1;
    NodeList *nodes = static_cast<NodeList *>(palloc(sizeof(NodeList)));
    new (nodes) NodeList();
    Sha256Sink h(CurrentMemoryContext);
    int64 next = 0;
    int64 last_seq = 0;
    meet_targets(*fr, h, t, nt, &next, last_seq, keep, f);

    // One walk over the leaves in leaf order: each the next one, naming a row that is there, its
    // leaf hash (from the row's row_hash) and every node it completes equal to the stored ones.
    Portal portal = SPI_cursor_open(nullptr, leaves_plan, nullptr, nullptr, read_only);
    bool stop = false, tile_reported = false;
    while (!stop) {
        SPI_cursor_fetch(portal, true, 10000);
        if (SPI_processed == 0)
            break;
        SPITupleTable *batch = SPI_tuptable;  // the tile reads run statements of their own
        uint64 rows = SPI_processed;
        for (uint64 r = 0; r < rows && !stop; r++) {
            FaRow row = fa_row(batch->tupdesc, batch->vals[r], "the Merkle leaves walk");
            int64 index, seq;
            bytea *rh = nullptr;
            if (!fa_get_opt<SqlInt8>(row, 1, &index))
                index = -1;
            if (!fa_get_opt<SqlInt8>(row, 2, &seq))
                seq = 0;
            bool rh_null = !fa_get_opt<SqlBytea>(row, 3, &rh);
            char *problem = nullptr;
            old = MemoryContextSwitchTo(keep);
            if (index != fr->size)
                problem = psprintf("the Merkle tree has no leaf " INT64_FORMAT " (merkle_leaf was altered; the next leaf is "
                                   INT64_FORMAT ", audit row " INT64_FORMAT ")", fr->size, index, seq);
            else if (index >= size)
                problem = psprintf("merkle_leaf holds leaf " INT64_FORMAT " (audit row " INT64_FORMAT "), beyond merkle_state's "
                                   "tree of " INT64_FORMAT " leaves (one of them was altered)", index, seq, size);
            else if (rh_null || VARSIZE_ANY_EXHDR(rh) != kHashLen)
                problem = psprintf("leaf " INT64_FORMAT ": audit row " INT64_FORMAT " is missing (merkle_leaf names a row "
                                   "audit_log does not hold)", index, seq);
            MemoryContextSwitchTo(old);
            if (problem != nullptr) {
                fa_merkle_finding(f, seq, problem);
                stop = true;
                break;
            }
            uint8 lh[kHashLen];
            mk::leaf_hash(h, VARDATA_ANY(rh), kHashLen, lh);
            nodes->n = 0;
            fr->append(h, lh, *nodes);
            last_seq = seq;
            for (int k = 0; k < nodes->n && !tile_reported; k++) {
                const uint8 *stored = stored_node(tiles, nodes->id[k], read_only);
                if (stored != nullptr && memcmp(stored, nodes->hash_[k], kHashLen) == 0)
                    continue;
                old = MemoryContextSwitchTo(keep);
                if (nodes->id[k].level == 0)
                    problem = psprintf("merkle_tile's hash of leaf " INT64_FORMAT " is %s the leaf hash of audit row "
                                       INT64_FORMAT " (merkle_tile or merkle_leaf was altered)",
                                       index, stored == nullptr ? "missing, not" : "not", seq);
                else
                    problem = psprintf("merkle_tile's node of level %d, index " INT64_FORMAT " is %s the hash of its leaves "
                                       "(merkle_tile was altered; found at leaf " INT64_FORMAT ", audit row " INT64_FORMAT ")",
                                       nodes->id[k].level, nodes->id[k].index, stored == nullptr ? "missing, not" : "not",
                                       index, seq);
                MemoryContextSwitchTo(old);
                fa_merkle_finding(f, seq, problem);
                tile_reported = true;
            }
            meet_targets(*fr, h, t, nt, &next, last_seq, keep, f);
        }
        SPI_freetuptable(batch);
        CHECK_FOR_INTERRUPTS();
    }
    SPI_cursor_close(portal);
    h.release();
    if (!stop && fr->size < size) {
        old = MemoryContextSwitchTo(keep);
        fa_merkle_finding(f, 0, psprintf("the Merkle tree has no leaf " INT64_FORMAT ": merkle_state's tree has " INT64_FORMAT
                                         " leaves, merkle_leaf " INT64_FORMAT " (merkle_leaf was altered)",
                                         fr->size, size, fr->size));
        MemoryContextSwitchTo(old);
    }
}

void fa_merkle_finding(FaMerkleFinding *f, int64 seq, char *text)
{
    if (f->count == 0 || (seq != 0 && (f->seq == 0 || seq < f->seq))) {
        f->seq = seq;
        f->text = text;
    }
    f->count++;
}

// Every committed row below the horizon must be a leaf: the integrator never looks below it again.
void fa_merkle_check_unintegrated(bool read_only, MemoryContext keep, FaMerkleFinding *f)
{
    prepare_plans();
    int rc = SPI_execute_plan(unintegrated_plan, nullptr, nullptr, read_only, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "checking the Merkle horizon failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        return;  // no merkle_state row: nothing was ever integrated, so no horizon either
    FaRow row = fa_spi_row(0, "the Merkle horizon check");
    int64 horizon, first, n;
    if (!fa_get_opt<SqlInt8>(row, 1, &horizon) || !fa_get_opt<SqlInt8>(row, 2, &first) ||
        !fa_get_opt<SqlInt8>(row, 3, &n))
        return;
    SPI_freetuptable(SPI_tuptable);
    MemoryContext old = MemoryContextSwitchTo(keep);
    char *text = n == 1 ? psprintf("audit row " INT64_FORMAT " is below the Merkle integrator's horizon (seq " INT64_FORMAT
                                   ") but is not a leaf: no integration will take it", first, horizon)
                        : psprintf("audit row " INT64_FORMAT " is below the Merkle integrator's horizon (seq " INT64_FORMAT
                                   ") but is not a leaf: no integration will take it (" INT64_FORMAT " such rows)",
                                   first, horizon, n);
    MemoryContextSwitchTo(old);
    fa_merkle_finding(f, first, text);
}
