// Restoring the transparency log's tables (docs/chain.md, "Dump and restore"): a superuser's INSERT
// into merkle_leaf, merkle_checkpoint, merkle_state, merkle_tile or merkle_verified that does not
// come from the extension's own writer is a restore (pg_restore, psql -f dump.sql), and each row is
// accepted only if it is what the integrator, checkpoint() and verify_increment() would have
// written over the rows already restored.  pg_dump writes the extension's tables in name order:
// audit_log and chain_head first, then merkle_checkpoint, merkle_leaf, merkle_state, merkle_tile,
// merkle_verified.  So:
//  * a leaf must be the next one and name an audit row that is there (and come before the state);
//  * a checkpoint's note must sign its own tree_size and root, over a log that has rows; when the
//    leaves are already there (the state row is), its root must be that of its first tree_size
//    leaves, else that is checked when the state row comes;
//  * the state must count exactly the leaves restored, every audit row below its horizon must be a
//    leaf, and every checkpoint restored must hold over the leaves: one pass over them;
//  * a tile must be exactly the hashes recomputed from the leaves it covers (from audit_log's
//    row_hash, not from other tiles), with the width the state's tree size gives it;
//  * the verified point must be the root and frontier recomputed from its first tree_size leaves.
// The state's pending mark (another cluster's transaction id) is dropped as it is restored.
// Each check reads leaves in order through a cursor, a check per leaf.  Whatever is refused fails
// its whole COPY, loudly, naming the row.
#include "pg/core_headers.hpp"  // first: see there

#include "merkle/merkle_restore.hpp"

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
}

#include <cstring>

#include "core/checkpoint_note.hpp"
#include "core/merkle_tree.hpp"
#include "pg/datum_read.hpp"
#include "pg/spi_plan.hpp"
#include "pg/sha256.hpp"

namespace mk = forgea::core::merkle;
using forgea::core::kHashLen;

namespace {

// Refuses the row being restored into forgea_audit.<table>: 23000, saying why, what is checked and
// which restore works.  The whole COPY of that table fails with it.
[[noreturn]] void refuse(const char *table, const char *why)
{
    ereport(ERROR, (errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
                    errmsg("restoring forgea_audit.%s refused: %s", table, why),
                    errdetail("A superuser may restore the transparency log's tables only as the extension wrote them: "
                              "merkle_leaf dense and in order over audit rows that are there, merkle_state counting "
                              "those leaves, each merkle_tile and merkle_verified row equal to what the leaves' audit "
                              "rows recompute, each merkle_checkpoint signing its own size and root, the root of its "
                              "first tree_size leaves."),
                    errhint("Restore from an unaltered dump of the whole extension (pg_dump writes audit_log first, "
                            "then merkle_checkpoint, merkle_leaf, merkle_state, merkle_tile), into a database where "
                            "the extension has no rows yet.")));
    pg_unreachable();
}

// Column `name` of the row being restored, of SQL type T (pg/datum_read.hpp); refuses a NULL with
// 23502 naming it (the NOT NULL constraints run only after this BEFORE trigger).
template <typename T>
typename T::C column(Relation rel, HeapTuple tuple, const char *name)
{
    return fa_get<T>(fa_row(RelationGetDescr(rel), tuple, psprintf("forgea_audit.%s", RelationGetRelationName(rel))),
                     name);
}

// A bytea column that must hold exactly len bytes (len < 0: any length); its bytes.
const uint8 *bytes_column(Relation rel, HeapTuple tuple, const char *name, int len, size_t *got = nullptr)
{
    bytea *b = column<SqlBytea>(rel, tuple, name);
    size_t n = VARSIZE_ANY_EXHDR(b);
    if (len >= 0 && n != static_cast<size_t>(len))
        refuse(RelationGetRelationName(rel), psprintf("its %s is %zu bytes, not %d", name, n, len));
    if (got != nullptr)
        *got = n;
    return reinterpret_cast<const uint8 *>(VARDATA_ANY(b));
}

// Runs a one-row query; false if it returned no row.
bool one_row(const char *sql, int nargs, Oid *types, Datum *args)
{
    int rc = SPI_execute_with_args(sql, nargs, types, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "restore check failed: %s", SPI_result_code_string(rc));
    return SPI_processed == 1;
}

// Column col of the one row a restore check's query returned, as int8; -1 if NULL.
int64 int8_at(int col)
{
    int64 v;
    return fa_get_opt<SqlInt8>(fa_spi_row(0, "the restore check's query"), col, &v) ? v : -1;
}

// The restored merkle_state's tree size, or -1 if no state row has been restored.
int64 state_size()
{
    return one_row("SELECT tree_size FROM forgea_audit.merkle_state", 0, nullptr, nullptr) ? int8_at(1) : -1;
}

// How many leaves are restored (they are dense from 0: each was checked to be the next one).
int64 leaf_count()
{
    one_row("SELECT coalesce((SELECT leaf_index + 1 FROM forgea_audit.merkle_leaf ORDER BY leaf_index DESC LIMIT 1), 0)",
            0, nullptr, nullptr);
    return int8_at(1);
}

// Reads the leaves [lo, hi) in order, with their audit rows' row_hash, and calls
// visit(index, seq, leaf hash) for each; refuses (naming `table` and `what`) if one is missing.
template <typename Visit>
void walk_leaves(const char *table, const char *what, int64 lo, int64 hi, Sha256Sink &h, Visit visit)
{
    if (lo >= hi)
        return;
    Oid types[2] = {INT8OID, INT8OID};
    Datum args[2] = {Int64GetDatum(lo), Int64GetDatum(hi)};
    SPIPlanPtr plan = SPI_prepare("SELECT m.leaf_index, m.seq, a.row_hash FROM forgea_audit.merkle_leaf m "
                                  "LEFT JOIN forgea_audit.audit_log a ON a.seq = m.seq "
                                  "WHERE m.leaf_index >= $1 AND m.leaf_index < $2 ORDER BY m.leaf_index",
                                  2, types);
    if (plan == nullptr)
        elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
    Portal portal = SPI_cursor_open(nullptr, plan, args, nullptr, true);
    int64 next = lo;
    for (;;) {
        SPI_cursor_fetch(portal, true, 10000);
        if (SPI_processed == 0)
            break;
        SPITupleTable *batch = SPI_tuptable;
        uint64 rows = SPI_processed;
        for (uint64 i = 0; i < rows; i++) {
            FaRow leaf = fa_row(batch->tupdesc, batch->vals[i], "the restore check's leaf query");
            int64 index = fa_get<SqlInt8>(leaf, 1);
            int64 seq = fa_get<SqlInt8>(leaf, 2);
            if (index != next)
                refuse(table, psprintf("%s: merkle_leaf has no leaf " INT64_FORMAT, what, next));
            bytea *rh = nullptr;
            if (!fa_get_opt<SqlBytea>(leaf, 3, &rh))
                rh = nullptr;
            if (rh == nullptr || VARSIZE_ANY_EXHDR(rh) != kHashLen)
                refuse(table, psprintf("%s: leaf " INT64_FORMAT " names audit row " INT64_FORMAT ", which is not in the log",
                                       what, index, seq));
            uint8 lh[kHashLen];
            mk::leaf_hash(h, VARDATA_ANY(rh), kHashLen, lh);
            visit(index, seq, lh);
            next++;
        }
        SPI_freetuptable(batch);
        CHECK_FOR_INTERRUPTS();
    }
    SPI_cursor_close(portal);
    SPI_freeplan(plan);
    if (next != hi)
        refuse(table, psprintf("%s: merkle_leaf has no leaf " INT64_FORMAT, what, next));
}

// The checkpoints restored so far, by tree size.
struct Checkpoints {
    int count = 0;
    int64 *id = nullptr;
    int64 *size = nullptr;
    uint8 (*root)[kHashLen] = nullptr;
};

// Every merkle_checkpoint row restored so far, by tree size (a few per day of log: kept in memory).
void load_checkpoints(Checkpoints *c)
{
    int rc = SPI_execute("SELECT id, tree_size, root FROM forgea_audit.merkle_checkpoint ORDER BY tree_size, id", true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "restore check failed: %s", SPI_result_code_string(rc));
    c->count = static_cast<int>(SPI_processed);
    c->id = static_cast<int64 *>(palloc(sizeof(int64) * Max(c->count, 1)));
    c->size = static_cast<int64 *>(palloc(sizeof(int64) * Max(c->count, 1)));
    c->root = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * Max(c->count, 1)));
    for (int i = 0; i < c->count; i++) {
        FaRow cp = fa_spi_row(static_cast<uint64>(i), "forgea_audit.merkle_checkpoint");
        c->id[i] = fa_get<SqlInt8>(cp, 1);
        c->size[i] = fa_get<SqlInt8>(cp, 2);
        bytea *r = fa_get<SqlBytea>(cp, 3);
        if (VARSIZE_ANY_EXHDR(r) != kHashLen)
            elog(ERROR, "merkle_checkpoint %lld has no 32-byte root", static_cast<long long>(c->id[i]));
        memcpy(c->root[i], VARDATA_ANY(r), kHashLen);
    }
}

// One pass over the leaves [0, size): every checkpoint in c must have a size within them and the
// root of its first tree_size leaves.  Refuses `table`, naming the first checkpoint that does not.
void check_checkpoints(const char *table, const Checkpoints &c, int64 size)
{
    Sha256Sink h(CurrentMemoryContext);
    mk::Frontier f;
    mk::DiscardNodes drop;
    int next = 0;
    auto at_size = [&]() {
        for (; next < c.count && c.size[next] == f.size; next++) {
            uint8 computed[kHashLen];
            f.root(h, computed);
            if (memcmp(computed, c.root[next], kHashLen) != 0)
                refuse(table, psprintf("checkpoint " INT64_FORMAT " (tree size " INT64_FORMAT ") does not hold over the "
                                       "leaves: the first " INT64_FORMAT " leaves do not hash to its root (leaves were "
                                       "removed, reordered or changed, or the checkpoint was)",
                                       c.id[next], c.size[next], c.size[next]));
        }
    };
    at_size();
    int64 upto = c.count > 0 ? Min(size, c.size[c.count - 1]) : 0;
    walk_leaves(table, "checking the checkpoints", 0, upto, h, [&](int64, int64, const uint8 *lh) {
        f.append(h, lh, drop);
        at_size();
    });
    if (next < c.count)
        refuse(table, psprintf("checkpoint " INT64_FORMAT " (tree size " INT64_FORMAT ") is beyond the tree of " INT64_FORMAT
                               " leaves",
                               c.id[next], c.size[next], size));
    h.release();
}

// A restored leaf: the next one, naming an audit row that is there, and restored before the state.
// One kept plan: a restore runs this once per leaf.
void check_leaf(Relation rel, HeapTuple tuple)
{
    static SPIPlanPtr plan;
    int64 index = column<SqlInt8>(rel, tuple, "leaf_index");
    int64 seq = column<SqlInt8>(rel, tuple, "seq");
    Oid types[1] = {INT8OID};
    if (plan == nullptr) {
        // The next leaf index from the primary key's last entry: count(*) here made restoring n
        // leaves O(n^2).
        const FaPlanSpec spec = {
            "SELECT EXISTS (SELECT 1 FROM forgea_audit.audit_log WHERE seq = $1), "
            "coalesce((SELECT leaf_index + 1 FROM forgea_audit.merkle_leaf ORDER BY leaf_index DESC LIMIT 1), 0), "
            "EXISTS (SELECT 1 FROM forgea_audit.merkle_state)",
            1, types};
        fa_keep_plans(&spec, 1, &plan, "the restore check of merkle_leaf");
    }
    Datum args[1] = {Int64GetDatum(seq)};
    int rc = SPI_execute_plan(plan, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "restore check failed: %s", SPI_result_code_string(rc));
    FaRow found = fa_spi_row(0, "the restore check's leaf query");
    bool row_exists = fa_get<SqlBool>(found, 1);
    int64 leaves = int8_at(2);
    bool state = fa_get<SqlBool>(found, 3);
    if (index != leaves || !row_exists)
        refuse("merkle_leaf", psprintf("leaf " INT64_FORMAT " (seq " INT64_FORMAT ") is not the next leaf (" INT64_FORMAT
                                       ") of an audit row in the log",
                                       index, seq, leaves));
    if (state)
        refuse("merkle_leaf", psprintf("leaf " INT64_FORMAT " (seq " INT64_FORMAT ") comes after merkle_state (the state "
                                       "is restored after the leaves and was checked against them)",
                                       index, seq));
}

// A restored checkpoint: its note signs its own tree_size and root; it covers rows that are in
// the log; and, if the leaves are there already, its root is theirs.
void check_checkpoint(Relation rel, HeapTuple tuple)
{
    int64 id = column<SqlInt8>(rel, tuple, "id");
    int64 size = column<SqlInt8>(rel, tuple, "tree_size");
    const uint8 *root = bytes_column(rel, tuple, "root", kHashLen);
    text *note = column<SqlText>(rel, tuple, "note");
    auto *cp = static_cast<forgea::core::ParsedCheckpoint *>(palloc0(sizeof(forgea::core::ParsedCheckpoint)));
    if (const char *why = forgea::core::parse_checkpoint(VARDATA_ANY(note), VARSIZE_ANY_EXHDR(note), cp))
        refuse("merkle_checkpoint", psprintf("checkpoint " INT64_FORMAT ": its note is malformed (%s)", id, why));
    if (!cp->body.tree || cp->body.size != size || memcmp(cp->body.root, root, kHashLen) != 0)
        refuse("merkle_checkpoint", psprintf("checkpoint " INT64_FORMAT ": its tree_size (" INT64_FORMAT ") and root are "
                                             "not those its note signs (" INT64_FORMAT ")",
                                             id, size, cp->body.tree ? cp->body.size : -1));
    if (size < 0)
        refuse("merkle_checkpoint", psprintf("checkpoint " INT64_FORMAT ": tree size " INT64_FORMAT, id, size));
    if (size > 0 && !one_row("SELECT 1 FROM forgea_audit.audit_log LIMIT 1", 0, nullptr, nullptr))
        refuse("merkle_checkpoint", psprintf("checkpoint " INT64_FORMAT " covers " INT64_FORMAT " leaves, and the log holds "
                                             "no audit row (audit_log is restored before merkle_checkpoint)",
                                             id, size));
    int64 tree = state_size();
    if (tree < 0)
        return;  // checked with every other checkpoint when the state row is restored
    Checkpoints one;
    one.count = 1;
    one.id = &id;
    one.size = &size;
    uint8 r[1][kHashLen];
    memcpy(r[0], root, kHashLen);
    one.root = r;
    check_checkpoints("merkle_checkpoint", one, tree);
}

// A restored state: it counts exactly the leaves restored, every audit row below its horizon is a
// leaf, and every checkpoint restored before it holds over those leaves.
void check_state(Relation rel, HeapTuple tuple)
{
    int64 size = column<SqlInt8>(rel, tuple, "tree_size");
    int64 horizon = column<SqlInt8>(rel, tuple, "horizon_seq");
    int64 leaves = leaf_count();
    if (size != leaves)
        refuse("merkle_state", size > leaves
                                   ? psprintf("the state says the tree has " INT64_FORMAT " leaves, merkle_leaf holds "
                                              INT64_FORMAT " (the first missing is leaf " INT64_FORMAT ")",
                                              size, leaves, leaves)
                                   : psprintf("the state says the tree has " INT64_FORMAT " leaves, merkle_leaf holds "
                                              INT64_FORMAT, size, leaves));
    if (horizon < 1)
        refuse("merkle_state", psprintf("its horizon_seq is " INT64_FORMAT, horizon));
    Oid types[1] = {INT8OID};
    Datum args[1] = {Int64GetDatum(horizon)};
    if (one_row("SELECT a.seq FROM forgea_audit.audit_log a WHERE a.seq < $1 "
                "AND NOT EXISTS (SELECT 1 FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq) ORDER BY a.seq LIMIT 1",
                1, types, args))
        refuse("merkle_state", psprintf("audit row " INT64_FORMAT " is below the horizon (seq " INT64_FORMAT ") but is not "
                                        "a leaf of the tree",
                                        int8_at(1), horizon));
    Checkpoints all;
    load_checkpoints(&all);
    check_checkpoints("merkle_state", all, size);
}

// Collects the nodes of one tile while the leaves it covers are appended to an empty frontier: the
// level-8L hashes and the interior nodes above them, in the order appends complete them (as the
// integrator's TileWriter stores them).  A complete subtree's hash depends on its leaves only, so
// an empty frontier gives the same nodes as the whole tree.
class TileNodes final : public mk::NodeSink {
public:
    TileNodes(int base, uint8 (*hashes)[kHashLen], uint8 (*interior)[kHashLen])
        : base_(base), hashes_(hashes), interior_(interior)
    {
    }
    void node(int level, std::int64_t, const std::uint8_t hash[kHashLen]) override
    {
        if (level == base_ && n_ < mk::kTileWidth)
            memcpy(hashes_[n_++], hash, kHashLen);
        else if (level > base_ && level < base_ + mk::kTileHeight && ni_ < mk::kTileInterior)
            memcpy(interior_[ni_++], hash, kHashLen);
    }
    int hashes() const { return n_; }
    int interior() const { return ni_; }

private:
    int base_;
    uint8 (*hashes_)[kHashLen];
    uint8 (*interior_)[kHashLen];
    int n_ = 0;
    int ni_ = 0;
};

// A restored tile: after the state, with the width the tree size gives it, holding exactly the
// hashes recomputed from the leaves it covers.
void check_tile(Relation rel, HeapTuple tuple)
{
    int level = column<SqlInt2>(rel, tuple, "level");
    int64 idx = column<SqlInt8>(rel, tuple, "idx");
    size_t hashes_len, interior_len;
    const uint8 *hashes = bytes_column(rel, tuple, "hashes", -1, &hashes_len);
    const uint8 *interior = bytes_column(rel, tuple, "interior", -1, &interior_len);
    const char *what = psprintf("tile (%d, " INT64_FORMAT ")", level, idx);
    int64 size = state_size();
    if (size < 0)
        refuse("merkle_tile", psprintf("%s: no merkle_state row was restored (the state is restored before the tiles, and "
                                       "checked against the leaves)",
                                       what));
    int base = level * mk::kTileHeight;
    int64 nodes = (level >= 0 && base < 63) ? (size >> base) : 0;  // complete level-base nodes in the tree
    if (idx < 0 || idx > (nodes >> mk::kTileHeight) || idx * mk::kTileWidth >= nodes)
        refuse("merkle_tile", psprintf("%s is beyond the tree of " INT64_FORMAT " leaves", what, size));
    int width = static_cast<int>(Min(static_cast<int64>(mk::kTileWidth), nodes - idx * mk::kTileWidth));
    int inner = mk::tile_interior_count(width);
    if (hashes_len != static_cast<size_t>(width) * kHashLen || interior_len != static_cast<size_t>(inner) * kHashLen)
        refuse("merkle_tile", psprintf("%s holds %zu hashes and %zu interior nodes; the tree of " INT64_FORMAT " leaves "
                                       "gives it %d and %d",
                                       what, hashes_len / kHashLen, interior_len / kHashLen, size, width, inner));
    auto *want = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * mk::kTileWidth));
    auto *want_inner = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * mk::kTileInterior));
    TileNodes sink(base, want, want_inner);
    Sha256Sink h(CurrentMemoryContext);
    mk::Frontier f;
    int64 lo = (idx * mk::kTileWidth) << base;
    int64 hi = lo + (static_cast<int64>(width) << base);
    walk_leaves("merkle_tile", what, lo, hi, h, [&](int64, int64, const uint8 *lh) { f.append(h, lh, sink); });
    h.release();
    if (sink.hashes() != width || sink.interior() != inner)
        elog(ERROR, "%s: recomputed %d hashes and %d interior nodes, expected %d and %d", what, sink.hashes(),
             sink.interior(), width, inner);
    for (int i = 0; i < width; i++)
        if (memcmp(want[i], hashes + static_cast<size_t>(i) * kHashLen, kHashLen) != 0)
            refuse("merkle_tile", psprintf("%s does not hold the hashes of the leaves it covers (its hash %d, of leaf "
                                           INT64_FORMAT ", differs)",
                                           what, i, (idx * mk::kTileWidth + i) << base));
    for (int i = 0; i < inner; i++)
        if (memcmp(want_inner[i], interior + static_cast<size_t>(i) * kHashLen, kHashLen) != 0)
            refuse("merkle_tile", psprintf("%s does not hold the hashes of the leaves it covers (its interior node %d "
                                           "differs)",
                                           what, i));
}

// A restored verified point: within the tree, its root and frontier those recomputed from its
// first tree_size leaves (verify_increment() trusts it and checks only what comes after).
void check_verified(Relation rel, HeapTuple tuple)
{
    int64 size = column<SqlInt8>(rel, tuple, "tree_size");
    const uint8 *root = bytes_column(rel, tuple, "root", kHashLen);
    size_t frontier_len;
    const uint8 *frontier = bytes_column(rel, tuple, "frontier", -1, &frontier_len);
    const char *what = psprintf("the verified point (tree size " INT64_FORMAT ")", size);
    int64 tree = state_size();
    if (size < 0 || (size > 0 && tree < 0))
        refuse("merkle_verified", psprintf("%s: no merkle_state row was restored (the state is restored before "
                                           "merkle_verified, and checked against the leaves)",
                                           what));
    if (size > tree && size > 0)
        refuse("merkle_verified", psprintf("%s is beyond the tree of " INT64_FORMAT " leaves", what, tree));
    Sha256Sink h(CurrentMemoryContext);
    mk::Frontier f;
    mk::DiscardNodes drop;
    walk_leaves("merkle_verified", what, 0, size, h, [&](int64, int64, const uint8 *lh) { f.append(h, lh, drop); });
    uint8 computed[kHashLen];
    f.root(h, computed);
    h.release();
    if (memcmp(computed, root, kHashLen) != 0)
        refuse("merkle_verified", psprintf("%s is not the tree of the restored leaves: its root differs", what));
    if (frontier_len != static_cast<size_t>(f.count) * kHashLen ||
        memcmp(frontier, &f.hash[0][0], frontier_len) != 0)
        refuse("merkle_verified", psprintf("%s is not the tree of the restored leaves: its frontier differs", what));
}

// The pending mark of a restored state, dropped: pending_xmax is a transaction id of the cluster
// that was dumped, meaningless here (a mark above this cluster's xids would keep the horizon where
// the dump left it for as many transactions).  Without a mark the integrator's next pass sets one
// of this cluster; the horizon itself stays, every row below it being a leaf (check_state).
HeapTuple without_pending_mark(Relation rel, HeapTuple tuple)
{
    TupleDesc desc = RelationGetDescr(rel);
    int cols[2] = {SPI_fnumber(desc, "pending_seq"), SPI_fnumber(desc, "pending_xmax")};
    if (cols[0] <= 0 || cols[1] <= 0)
        elog(ERROR, "forgea_audit.merkle_state has no pending_seq or pending_xmax column");
    Datum values[2] = {0, 0};
    bool nulls[2] = {true, true};
    return heap_modify_tuple_by_cols(tuple, desc, 2, cols, values, nulls);
}

}  // namespace

HeapTuple fa_check_restored_merkle(TriggerData *td)
{
    const char *table = RelationGetRelationName(td->tg_relation);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    if (strcmp(table, "merkle_leaf") == 0)
        check_leaf(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "merkle_checkpoint") == 0)
        check_checkpoint(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "merkle_state") == 0)
        check_state(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "merkle_tile") == 0)
        check_tile(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "merkle_verified") == 0)
        check_verified(td->tg_relation, td->tg_trigtuple);
    else
        elog(ERROR, "forgea_audit.guard_write(): no restore check for table %s", table);
    SPI_finish();
    // After SPI_finish: the row must outlive SPI's memory (it is built in the trigger's context).
    if (strcmp(table, "merkle_state") == 0)
        return without_pending_mark(td->tg_relation, td->tg_trigtuple);
    return td->tg_trigtuple;
}
