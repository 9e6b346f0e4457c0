// The checks that the Merkle tables agree with audit_log (docs/transparency.md, "What the
// verifiers check of the tree"), made by verify_chain() (with or without a checkpoint) and by
// verify_increment(): whatever else they verify, a row the tree has lost is never passed over.
#include "merkle/merkle_store.hpp"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
}

#include "pg/datum_read.hpp"
#include "core/sha256.hpp"
#include "pg/huge_pages.hpp"
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
SPIPlanPtr horizon_plan;
SPIPlanPtr bounds_plan;

// The statements, prepared once per backend.
void prepare_plans()
{
    if (tile_plan != nullptr)
        return;
    // Committed rows below the horizon that are not leaves: an anti-join on merkle_leaf's seq
    // index (one probe or merge step per row: linear).
    Oid tile_types[2] = {INT2OID, INT8OID};
    const FaPlanSpec specs[7] = {
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
        {"SELECT horizon_seq FROM forgea_audit.merkle_state", 0, nullptr},
        {"SELECT min(seq), max(seq), (SELECT tree_size FROM forgea_audit.merkle_state) FROM forgea_audit.audit_log",
         0, nullptr},
    };
    SPIPlanPtr kept[7];
    fa_keep_plans(specs, 7, kept, "the Merkle log checks");
    horizon_plan = kept[5];
    bounds_plan = kept[6];
    unintegrated_plan = kept[0];
    state_plan = kept[1];
    checkpoints_plan = kept[2];
    leaves_plan = kept[3];
    tile_plan = kept[4];
}

constexpr int kTileLevels = (mk::kMaxLevels + mk::kTileHeight - 1) / mk::kTileHeight;

// See merkle_store.hpp.
struct FaTileCacheData {
    int64 idx[kTileLevels];
    bool present[kTileLevels];
    int hashes_len[kTileLevels];
    int interior_len[kTileLevels];
    uint8 hashes[kTileLevels][mk::kTileWidth * kHashLen];
    uint8 interior[kTileLevels][mk::kTileInterior * kHashLen];
};

// Tile (level, idx) into the cache.
void load_tile(FaTileCacheData *c, int level, int64 idx, bool read_only)
{
    Datum args[2] = {Int16GetDatum(static_cast<int16>(level)), Int64GetDatum(idx)};
    int rc = SPI_execute_plan(tile_plan, args, nullptr, read_only, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading a Merkle tile failed: %s", SPI_result_code_string(rc));
    c->idx[level] = idx;
    c->present[level] = false;
    c->hashes_len[level] = c->interior_len[level] = 0;
    // The tile's columns are toasted: their detoasted copies go in a context of their own, freed
    // once copied (left in the caller's, they added ~64 bytes per leaf until the walk ended).
    MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "forgea_audit tile", ALLOCSET_DEFAULT_SIZES);
    MemoryContext old = MemoryContextSwitchTo(scratch);
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
    MemoryContextSwitchTo(old);
    MemoryContextDelete(scratch);
    SPI_freetuptable(SPI_tuptable);
}

// The stored hash of a node, or nullptr if the store lacks it.
const uint8 *stored_node(FaTileCacheData *c, mk::NodeId node, bool read_only)
{
    mk::TilePosition p = mk::tile_position(node);
    if (p.level < 0 || p.level >= kTileLevels)
        return nullptr;
    int off = p.pos * static_cast<int>(kHashLen);
    int need = off + static_cast<int>(kHashLen);
    if (c->idx[p.level] != p.index || (p.interior ? c->interior_len[p.level] : c->hashes_len[p.level]) < need)
        load_tile(c, p.level, p.index, read_only);
    if (!c->present[p.level])
        return nullptr;
    if (p.interior)
        return need <= c->interior_len[p.level] ? c->interior[p.level] + off : nullptr;
    return need <= c->hashes_len[p.level] ? c->hashes[p.level] + off : nullptr;
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

}  // namespace

struct FaTileCache : FaTileCacheData {};

FaTileCache *fa_tile_cache_create()
{
    prepare_plans();
    FaTileCache *c = static_cast<FaTileCache *>(palloc(sizeof(FaTileCache)));
    for (int l = 0; l < kTileLevels; l++) {
        c->idx[l] = -1;
        c->present[l] = false;
        c->hashes_len[l] = c->interior_len[l] = 0;
    }
    return c;
}

char *fa_tile_compare(FaTileCache *c, const FaNodeList &nodes, int64 index, int64 seq, bool read_only, MemoryContext keep)
{
    for (int k = 0; k < nodes.n; k++) {
        const uint8 *stored = stored_node(c, nodes.id[k], read_only);
        if (stored != nullptr && memcmp(stored, nodes.hash_[k], kHashLen) == 0)
            continue;
        MemoryContext old = MemoryContextSwitchTo(keep);
        char *problem;
        if (nodes.id[k].level == 0)
            problem = psprintf("merkle_tile's hash of leaf " INT64_FORMAT " is %s the leaf hash of audit row " INT64_FORMAT
                               " (merkle_tile or merkle_leaf was altered)",
                               index, stored == nullptr ? "missing, not" : "not", seq);
        else
            problem = psprintf("merkle_tile's node of level %d, index " INT64_FORMAT " is %s the hash of its leaves "
                               "(merkle_tile was altered; found at leaf " INT64_FORMAT ", audit row " INT64_FORMAT ")",
                               nodes.id[k].level, nodes.id[k].index, stored == nullptr ? "missing, not" : "not",
                               index, seq);
        MemoryContextSwitchTo(old);
        return problem;
    }
    return nullptr;
}

// The leaves as a query returns them (leaf_index, seq, row_hash), fetched 10,000 at a time through
// a cursor; a row_hash stays valid until the next call.  The walks run statements of their own
// (tile reads) between calls, so the batch is kept here, not in SPI_tuptable.
FaSpiLeaves::FaSpiLeaves(SPIPlanPtr plan, Datum *args, bool read_only, const char *what) : what_(what)
{
    portal_ = SPI_cursor_open(nullptr, plan, args, nullptr, read_only);
}

bool FaSpiLeaves::next(int64 *index, int64 *seq, const uint8 **row_hash, int *row_hash_len)
{
    while (batch_ == nullptr || pos_ >= rows_) {
        if (batch_ != nullptr) {
            SPI_freetuptable(batch_);
            batch_ = nullptr;
            CHECK_FOR_INTERRUPTS();
        }
        SPI_cursor_fetch(portal_, true, 10000);
        if (SPI_processed == 0)
            return false;
        batch_ = SPI_tuptable;
        rows_ = SPI_processed;
        pos_ = 0;
    }
    FaRow row = fa_row(batch_->tupdesc, batch_->vals[pos_++], what_);
    if (!fa_get_opt<SqlInt8>(row, 1, index))
        *index = -1;
    if (!fa_get_opt<SqlInt8>(row, 2, seq))
        *seq = 0;
    bytea *rh;
    if (fa_get_opt<SqlBytea>(row, 3, &rh)) {
        *row_hash = reinterpret_cast<const uint8 *>(VARDATA_ANY(rh));
        *row_hash_len = static_cast<int>(VARSIZE_ANY_EXHDR(rh));
    } else {
        *row_hash = nullptr;
        *row_hash_len = 0;
    }
    return true;
}

void FaSpiLeaves::close()
{
    if (batch_ != nullptr)
        SPI_freetuptable(batch_);
    batch_ = nullptr;
    SPI_cursor_close(portal_);
}

namespace {

// Compares the frontier's root with every target of its size.
void meet_targets(const mk::Frontier &fr, forgea::core::Hasher &h, Target *t, int64 nt, int64 *next, int64 last_seq,
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

// A walk over the leaves in leaf order, in steps (see merkle_store.hpp): what fa_merkle_check_tree
// keeps between leaves.
struct FaTreeWalk {
    bool read_only;
    MemoryContext keep;
    FaMerkleFinding *f;
    int64 size;  // merkle_state's
    Target *t;
    int64 nt;
    int64 next;  // the next target
    mk::Frontier fr;
    FaTileCache *tiles;
    FaNodeList nodes;
    forgea::core::Sha256 h;  // the core's: no allocation per digest (core/sha256.hpp)
    int64 last_seq;
    FaSpiLeaves *spi;
    FaMemLeaves *mem;
    FaLeafSource *leaves;
    bool stop;
    bool tile_reported;
    bool done;
    int64 walked;
};
FA_LIVES_ACROSS_PG_CALLS(FaTreeWalk);

FaTreeWalk *fa_merkle_walk_begin(bool read_only, MemoryContext keep, const FaMerkleRoot *extra, int nextra,
                                 FaMerkleFinding *f, const FaLogHashes *log)
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

    FaTreeWalk *w = static_cast<FaTreeWalk *>(palloc0(sizeof(FaTreeWalk)));
    w->read_only = read_only;
    w->keep = keep;
    w->f = f;
    w->size = size;
    w->t = t;
    w->nt = nt;
    w->next = 0;
    w->fr = mk::Frontier{};
    w->tiles = fa_tile_cache_create();
    new (&w->nodes) FaNodeList();
    new (&w->h) forgea::core::Sha256();
    w->last_seq = 0;
    meet_targets(w->fr, w->h, t, nt, &w->next, w->last_seq, keep, f);

    // One walk over the leaves in leaf order: each the next one, naming a row that is there, its
    // leaf hash (from the row's row_hash) and every node it completes equal to the stored ones.
    if (log != nullptr && log->usable) {
        w->mem = static_cast<FaMemLeaves *>(palloc(sizeof(FaMemLeaves)));
        w->leaves = new (w->mem) FaMemLeaves(log, PG_INT64_MAX);
    } else {
        w->spi = static_cast<FaSpiLeaves *>(palloc(sizeof(FaSpiLeaves)));
        w->leaves = new (w->spi) FaSpiLeaves(leaves_plan, nullptr, read_only, "the Merkle leaves walk");
    }
    return w;
}

namespace {

// The nodes the append of leaf index (audit row seq) completed, in w->nodes, compared with
// merkle_tile; the first difference is the walk's one tile finding.  Both steps of the walk end so.
void compare_leaf_nodes(FaTreeWalk *w, int64 index, int64 seq)
{
    w->last_seq = seq;
    char *problem;
    if (!w->tile_reported &&
        (problem = fa_tile_compare(w->tiles, w->nodes, index, seq, w->read_only, w->keep)) != nullptr) {
        fa_merkle_finding(w->f, seq, problem);
        w->tile_reported = true;
    }
}

// The walk's step over an aligned run of kSubtreeLeaves leaves from the scan's map, all there and
// in order, with no root to meet inside the run: the run's nodes hashed two at a time
// (mk::hash_subtree), then leaf by leaf exactly what the step below does (the same nodes in the
// same order compared with merkle_tile, the same findings).  False, with nothing taken, if the run
// is not such a one: the walk then goes leaf by leaf.
bool walk_run(FaTreeWalk *w)
{
    constexpr int kRun = mk::kSubtreeLeaves;
    int64 first = w->fr.size;
    if (w->mem == nullptr || (first & (kRun - 1)) != 0 || first + kRun > w->size ||
        (w->next < w->nt && w->t[w->next].size < first + kRun))
        return false;
    int64 seqs[kRun];
    const uint8 *row_hashes[kRun];
    if (!w->mem->take_run(first, kRun, seqs, row_hashes))
        return false;
    mk::SubtreeHashes sub;
    mk::hash_subtree(row_hashes, sub);
    for (int j = 0; j < kRun; j++) {
        if (++w->walked % 10000 == 0)
            CHECK_FOR_INTERRUPTS();
        int64 index = first + j;
        // The nodes the append of leaf j completes: the leaf, then each level its end closes.
        w->nodes.n = 0;
        w->nodes.node(0, index, sub.hash[0][j]);
        for (int l = 1; l <= mk::kSubtreeLevels && ((j + 1) & ((1 << l) - 1)) == 0; l++)
            w->nodes.node(l, index >> l, sub.hash[l][((j + 1) >> l) - 1]);
        if (j == kRun - 1)  // the run's root joins the frontier, completing the nodes above it
            w->fr.append_subtree(w->h, mk::kSubtreeLevels, sub.hash[mk::kSubtreeLevels][0], w->nodes);
        compare_leaf_nodes(w, index, seqs[j]);
    }
    meet_targets(w->fr, w->h, w->t, w->nt, &w->next, w->last_seq, w->keep, w->f);
    return true;
}

}  // namespace

void fa_merkle_walk_advance(FaTreeWalk *w, bool final)
{
    int64 index, seq;
    const uint8 *rh;
    int rh_len;
    while (!w->stop && !w->done) {
        if (walk_run(w))
            continue;
        if (!final && (w->mem == nullptr || !w->mem->ready()))
            return;  // the scan has not read the next leaf's row yet
        if (!w->leaves->next(&index, &seq, &rh, &rh_len)) {
            w->done = true;
            break;
        }
        if (++w->walked % 10000 == 0)
            CHECK_FOR_INTERRUPTS();
        char *problem = nullptr;
        MemoryContext old = MemoryContextSwitchTo(w->keep);
        if (index != w->fr.size)
            problem = psprintf("the Merkle tree has no leaf " INT64_FORMAT " (merkle_leaf was altered; the next leaf is "
                               INT64_FORMAT ", audit row " INT64_FORMAT ")", w->fr.size, index, seq);
        else if (index >= w->size)
            problem = psprintf("merkle_leaf holds leaf " INT64_FORMAT " (audit row " INT64_FORMAT "), beyond merkle_state's "
                               "tree of " INT64_FORMAT " leaves (one of them was altered)", index, seq, w->size);
        else if (rh == nullptr || rh_len != static_cast<int>(kHashLen))
            problem = psprintf("leaf " INT64_FORMAT ": audit row " INT64_FORMAT " is missing (merkle_leaf names a row "
                               "audit_log does not hold)", index, seq);
        MemoryContextSwitchTo(old);
        if (problem != nullptr) {
            fa_merkle_finding(w->f, seq, problem);
            w->stop = true;
            break;
        }
        uint8 lh[kHashLen];
        mk::leaf_hash(w->h, rh, kHashLen, lh);
        w->nodes.n = 0;
        w->fr.append(w->h, lh, w->nodes);
        compare_leaf_nodes(w, index, seq);
        meet_targets(w->fr, w->h, w->t, w->nt, &w->next, w->last_seq, w->keep, w->f);
    }
}

void fa_merkle_walk_end(FaTreeWalk *w)
{
    fa_merkle_walk_advance(w, true);
    if (w->spi != nullptr)
        w->spi->close();
    if (!w->stop && w->fr.size < w->size) {
        MemoryContext old = MemoryContextSwitchTo(w->keep);
        fa_merkle_finding(w->f, 0, psprintf("the Merkle tree has no leaf " INT64_FORMAT ": merkle_state's tree has " INT64_FORMAT
                                            " leaves, merkle_leaf " INT64_FORMAT " (merkle_leaf was altered)",
                                            w->fr.size, w->size, w->fr.size));
        MemoryContextSwitchTo(old);
    }
}

int64 fa_merkle_walk_leaves(const FaTreeWalk *w)
{
    return w->walked;
}

void fa_merkle_check_tree(bool read_only, MemoryContext keep, const FaMerkleRoot *extra, int nextra,
                          FaMerkleFinding *f, const FaLogHashes *log)
{
    fa_merkle_walk_end(fa_merkle_walk_begin(read_only, keep, extra, nextra, f, log));
}

void fa_merkle_finding(FaMerkleFinding *f, int64 seq, char *text)
{
    if (f->count == 0 || (seq != 0 && (f->seq == 0 || seq < f->seq))) {
        f->seq = seq;
        f->text = text;
    }
    f->count++;
}

namespace {

// The horizon check from the scan's map: the rows below the horizon that no leaf names, the lowest
// and how many, as the anti-join counts them.  False if there is no horizon.
bool unintegrated_from(const FaLogHashes *log, bool read_only, int64 *horizon, int64 *first, int64 *n)
{
    if (SPI_execute_plan(horizon_plan, nullptr, nullptr, read_only, 1) != SPI_OK_SELECT)
        elog(ERROR, "reading merkle_state failed");
    bool have = SPI_processed == 1 && fa_get_opt<SqlInt8>(fa_spi_row(0, "forgea_audit.merkle_state"), 1, horizon);
    SPI_freetuptable(SPI_tuptable);
    if (!have)
        return false;
    *n = 0;
    *first = 0;
    // Slots are in seq order: the first one found is the lowest.
    int64 below = Min(log->slots, Max(*horizon - log->min_seq, INT64CONST(0)));
    for (int64 i = 0; i < below; i++) {
        if ((log->flags[i] & (kFaRowPresent | kFaRowIsLeaf)) != kFaRowPresent)
            continue;
        if ((*n)++ == 0)
            *first = log->min_seq + i;
    }
    return *n > 0;
}

}  // namespace

// Every committed row below the horizon must be a leaf: the integrator never looks below it again.
void fa_merkle_check_unintegrated(bool read_only, MemoryContext keep, FaMerkleFinding *f, const FaLogHashes *log)
{
    prepare_plans();
    int64 horizon, first, n;
    if (log != nullptr && log->usable) {
        if (!unintegrated_from(log, read_only, &horizon, &first, &n))
            return;
    } else {
        int rc = SPI_execute_plan(unintegrated_plan, nullptr, nullptr, read_only, 0);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "checking the Merkle horizon failed: %s", SPI_result_code_string(rc));
        if (SPI_processed != 1)
            return;  // no merkle_state row: nothing was ever integrated, so no horizon either
        FaRow row = fa_spi_row(0, "the Merkle horizon check");
        if (!fa_get_opt<SqlInt8>(row, 1, &horizon) || !fa_get_opt<SqlInt8>(row, 2, &first) ||
            !fa_get_opt<SqlInt8>(row, 3, &n))
            return;
        SPI_freetuptable(SPI_tuptable);
    }
    MemoryContext old = MemoryContextSwitchTo(keep);
    char *text = n == 1 ? psprintf("audit row " INT64_FORMAT " is below the Merkle integrator's horizon (seq " INT64_FORMAT
                                   ") but is not a leaf: no integration will take it", first, horizon)
                        : psprintf("audit row " INT64_FORMAT " is below the Merkle integrator's horizon (seq " INT64_FORMAT
                                   ") but is not a leaf: no integration will take it (" INT64_FORMAT " such rows)",
                                   first, horizon, n);
    MemoryContextSwitchTo(old);
    fa_merkle_finding(f, first, text);
}

// Sizes the scan's map (see merkle_store.hpp) from the lowest and highest seq and the tree size.
void fa_log_hashes_init(FaLogHashes *log, MemoryContext keep)
{
    prepare_plans();
    *log = FaLogHashes{};
    if (SPI_execute_plan(bounds_plan, nullptr, nullptr, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "reading audit_log's seq range failed");
    FaRow row = fa_spi_row(0, "audit_log's seq range");
    int64 lo = 0, hi = -1, size = 0;
    if (!fa_get_opt<SqlInt8>(row, 1, &lo) || !fa_get_opt<SqlInt8>(row, 2, &hi)) {
        lo = 0;
        hi = -1;
    }
    if (!fa_get_opt<SqlInt8>(row, 3, &size))
        size = 0;
    SPI_freetuptable(SPI_tuptable);
    // In doubles first: a damaged seq range must not overflow the arithmetic.
    double bytes = (static_cast<double>(hi) - static_cast<double>(lo) + 1) * (kHashLen + 1) + static_cast<double>(size) * 8;
    if (size < 0 || bytes > static_cast<double>(kFaLogHashesMaxBytes))
        return;
    log->min_seq = lo;
    log->slots = hi - lo + 1;
    log->tree_size = size;
    int flags = MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM;
    // In huge pages where the kernel gives them: ~41 bytes a row, each 4 kB page otherwise a fault
    // (pg/huge_pages.hpp).
    log->row_hash = static_cast<uint8(*)[kHashLen]>(fa_alloc_in_huge_pages(keep, Max(log->slots, 1) * kHashLen, flags));
    log->flags = static_cast<uint8 *>(fa_alloc_in_huge_pages(keep, Max(log->slots, 1), flags | MCXT_ALLOC_ZERO));
    log->leaf_seq = static_cast<int64 *>(fa_alloc_in_huge_pages(keep, Max(size, 1) * sizeof(int64), flags));
    if (log->row_hash == nullptr || log->flags == nullptr || log->leaf_seq == nullptr)
        return;  // no memory for the map: the checks run their SQL
    for (int64 i = 0; i < size; i++)
        log->leaf_seq[i] = kFaNoLeaf;
    log->usable = true;
}

// merkle_leaf's heap in physical order, in the active snapshot: each leaf's seq by its index, and
// each row a leaf names marked.  A leaf outside the tree or a second one at an index leaves the
// map unusable (the walks then read what the SQL returns, and report it as they always did).
void fa_log_hashes_read_leaves(FaLogHashes *log)
{
    if (!log->usable)
        return;
    Relation rel = table_openrv(makeRangeVar(const_cast<char *>("forgea_audit"), const_cast<char *>("merkle_leaf"), -1),
                                AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    AttrNumber index_att = InvalidAttrNumber, seq_att = InvalidAttrNumber;
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(desc, i);
        if (a->attisdropped || a->atttypid != INT8OID)
            continue;
        if (strcmp(NameStr(a->attname), "leaf_index") == 0)
            index_att = static_cast<AttrNumber>(i + 1);
        else if (strcmp(NameStr(a->attname), "seq") == 0)
            seq_att = static_cast<AttrNumber>(i + 1);
    }
    // Row-level security forced on the table would hide leaves from the SQL: let it decide.
    if (index_att == InvalidAttrNumber || seq_att == InvalidAttrNumber ||
        check_enable_rls(RelationGetRelid(rel), InvalidOid, true) == RLS_ENABLED) {
        log->usable = false;
        table_close(rel, AccessShareLock);
        return;
    }
    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, nullptr);
    int64 n = 0;
    while (log->usable && table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
        if (++n % 10000 == 0)
            CHECK_FOR_INTERRUPTS();
        FaRow leaf = fa_slot_row(slot, "forgea_audit.merkle_leaf");
        int64 index = 0, seq = 0;
        bool index_null = !fa_get_opt<SqlInt8>(leaf, index_att, &index);
        bool seq_null = !fa_get_opt<SqlInt8>(leaf, seq_att, &seq);
        if (index_null || seq_null || index < 0 || index >= log->tree_size || log->leaf_seq[index] != kFaNoLeaf) {
            log->usable = false;
            break;
        }
        log->leaf_seq[index] = seq;
        int64 s = seq - log->min_seq;
        if (s >= 0 && s < log->slots)
            log->flags[s] |= kFaRowIsLeaf;
    }
    table_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, AccessShareLock);
}
