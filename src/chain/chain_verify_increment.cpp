// forgea_audit.verify_increment(): verifies only the audit rows added to the Merkle tree since the
// last verified point, and records how far it got (docs/transparency.md, "Incremental
// verification").  The background worker runs it every forgea_audit.verify_interval.
//
// The verified point (merkle_verified, one row) is a tree size, the root of that many leaves and
// the frontier of complete-subtree hashes it was computed from, all recomputed by this function
// from audit_log.row_hash, never copied from merkle_tile.  The leaves [verified size, tree size)
// are then checked in batches of kBatchLeaves, each row: its content against its row_hash
// (verify_chain()'s code), its link to the row before it in its chain (as stored), and its leaf
// hash appended to the frontier; the root at every checkpoint in the range and at the end must
// equal the checkpoint's and the stored tree's.
//
// Locks (issue 23, item 2).  The pass holds merkle_verified's row (its own: passes take turns) and
// no lock the integrator or record_push need while it catches up: the leaves below the committed
// tree size never change, so the batches read them, and their rows, in fresh snapshots without
// merkle_state's lock; between batches it reports progress and passes the pause point (below).
// Only the last step takes merkle_state's lock: it integrates at most kIntegrateRows committed
// rows, verifies the few leaves added since the catch-up ended and moves the point, so the lock
// is held for one small batch.  Besides, the Merkle tables are checked against the whole log
// (merkle_check.cpp), before that last step and also without the integrator's lock.
// A failure is returned (ok = false) and the point does not move.
//
// A batch: the leaves (leaf_index, seq) through merkle_leaf's primary key; their rows through audit_log's primary
// key in seq order, one index range scan per run of nearby seqs (leaves are integrated in seq
// order, so a batch is a few runs), each row's content checked and its leaf hash kept; then the
// links, in seq order, the row before each one taken from the previous row of its chain this pass
// read (a map by chain id), or, for a chain's first row in the pass (or a row that does not follow
// the one read before it), from the (chain_id, chain_pos) index in one statement for the batch;
// then the leaf hashes into the frontier in leaf order, each node an append completes compared
// with merkle_tile by the comparison the whole-log walk uses (merkle_check.cpp).  Cost: the new
// rows, plus one index lookup per chain and pass, plus O(log n) nodes for each root.  The unlocked
// catch-up sleeps forgea_audit.(worker_)catchup_delay after every 1,000 rows (a cost delay as
// VACUUM's: it is background work that must leave the CPU to record_push).
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/genam.h"
#include "access/heapam.h"
#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"
}

#include "chain/chain_verify.hpp"
#include "chain/chain_write_guard.hpp"
#include "merkle/merkle_store.hpp"
#include "core/merkle_tree.hpp"
#include "core/sha256.hpp"
#include "pg/boundary.hpp"
#include "pg/lock_wait.hpp"
#include "pg/datum_read.hpp"
#include "pg/progress.hpp"
#include "pg/settings.hpp"
#include "pg/sha256.hpp"
#include "pg/spi_plan.hpp"

namespace mk = forgea::core::merkle;
using forgea::core::Bytes;
using forgea::core::kHashLen;
using forgea::core::Sha256;

namespace {

// Leaves per batch: about 50 ms of work; what the pass holds between two pause points.
constexpr int64 kBatchLeaves = 32768;
// Rows the last, locked step integrates at most (the rest is the integrator's, or the next pass's).
constexpr int64 kIntegrateRows = 4096;
// The catch-up runs again (unlocked) while more than this many leaves were added meanwhile.
constexpr int64 kLockedTailLeaves = 8192;
// Chains remembered between batches; beyond that the map starts again (more index lookups only).
constexpr long kMaxChains = 200000;
// Seqs this close together are read by one index range scan.
constexpr int64 kRunGap = 64;
// A batch's TID-range scan gives up once it has met this many more rows of other seqs (or other
// leaves) than the batch has: the batch is not clustered, the index reads the rest.
constexpr int64 kRangeSlackRows = 256;
// The pause point's advisory lock (bigint form: pg_advisory_lock(kPauseLockKey) pauses catch-ups),
// and the longest one pass waits there in all: a session holding it delays a pass, never stops it.
constexpr int64 kPauseLockKey = 0x666f726765610017LL;  // "forgea" and issue 23
constexpr long kPauseMaxMs = 60000;

SPIPlanPtr init_plan;
SPIPlanPtr lock_plan;
SPIPlanPtr checkpoints_plan;
SPIPlanPtr prev_plan;
SPIPlanPtr advance_plan;
SPIPlanPtr below_plan;

// The statements, prepared once per backend.
void prepare_plans()
{
    if (advance_plan != nullptr)
        return;
    Oid int8_2[2] = {INT8OID, INT8OID};
    Oid prev_types[2] = {TEXTARRAYOID, INT8ARRAYOID};
    Oid advance_types[4] = {INT8OID, BYTEAOID, BYTEAOID, INT8OID};
    Oid int8_1[1] = {INT8OID};
    const FaPlanSpec specs[6] = {
        {"INSERT INTO forgea_audit.merkle_verified DEFAULT VALUES ON CONFLICT DO NOTHING", 0, nullptr},
        {"SELECT tree_size, root, frontier, xmin FROM forgea_audit.merkle_verified FOR UPDATE", 0, nullptr},
        {"SELECT tree_size, root FROM forgea_audit.merkle_checkpoint WHERE tree_size > $1 AND tree_size <= $2 "
         "ORDER BY tree_size, id", 2, int8_2},
        // The row before each (chain, position) in its chain, as stored: what the link is checked against.
        {"SELECT u.o, p.chain_pos, p.seq, p.row_hash "
         "FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) WITH ORDINALITY AS u(c, pos, o) "
         "CROSS JOIN LATERAL (SELECT q.chain_pos, q.seq, q.row_hash FROM forgea_audit.audit_log q "
         "                    WHERE q.chain_id = u.c AND q.chain_pos < u.pos "
         "                    ORDER BY q.chain_pos DESC LIMIT 1) p", 2, prev_types},
        {"UPDATE forgea_audit.merkle_verified SET tree_size = $1, root = $2, frontier = $3, "
         "rows_checked = rows_checked + $4, verified_at = pg_catalog.clock_timestamp()", 4, advance_types},
        // Committed rows below the horizon (an index-only count on seq's primary key).
        {"SELECT count(*) FROM forgea_audit.audit_log WHERE seq < $1", 1, int8_1},
    };
    SPIPlanPtr kept[6];
    fa_keep_plans(specs, 6, kept, "the incremental verification statements");
    init_plan = kept[0];
    lock_plan = kept[1];
    checkpoints_plan = kept[2];
    prev_plan = kept[3];
    advance_plan = kept[4];
    below_plan = kept[5];
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

// The last row of each chain the pass has read: the row before the chain's next one.
struct ChainEntry {
    uint64 key;  // hash of the chain id (the table's key); id tells collisions apart
    char *id;
    int len;
    int64 pos;
    int64 seq;
    uint8 hash[kHashLen];
};

constexpr int kTileLevels = (mk::kMaxLevels + mk::kTileHeight - 1) / mk::kTileHeight;

// Where the pass reads audit_log directly (its heap and primary key), and the chain map.
struct RowSource {
    Relation rel = nullptr;
    Relation pkey = nullptr;
    AttrNumber seq_att = InvalidAttrNumber;
    AttrNumber hash_att = InvalidAttrNumber;
    Relation leaf_rel = nullptr;   // merkle_leaf and its primary key (leaf_index)
    Relation leaf_pkey = nullptr;
    AttrNumber leaf_index_att = InvalidAttrNumber;
    AttrNumber leaf_seq_att = InvalidAttrNumber;
    FaRowHasher *hasher = nullptr;
    MemoryContext map_cxt = nullptr;
    HTAB *chains = nullptr;
};

struct Batch;
AttrNumber column(Relation rel, const char *name);

// Everything one pass carries: plain data in the pass's memory context.
struct Increment {
    int64 from_size = 0;
    int64 to_size = 0;
    int64 rows = 0;
    int64 batches = 0;
    bool full_checks = false;  // the whole-log walks ran (quick_whole_log found something changed)
    long paused_ms = 0;  // time spent at the pause point, in all
    bool throttled = false;  // in the unlocked catch-up: forgea_audit.catchup_delay applies
    int64 since_delay = 0;   // rows checked since the last delay point
    int64 sleeps = 0;        // how many sleeps, in all
    int64 skipped = 0;       // delay points that did not sleep: nobody else wrote WAL (catchup_delay_always off)
    XLogRecPtr wal_seen = InvalidXLogRecPtr;  // the WAL's insert position at the last delay point
    mk::Frontier frontier;
    CheckpointRoots checkpoints;
    RowSource src;
    FaTileCache *tiles = nullptr;
    FaNodeList *nodes = nullptr;
    Batch *batch = nullptr;  // the batch arrays, reused batch after batch
    TransactionId verified_xid = InvalidTransactionId;  // merkle_verified's xmin: the last pass that moved it
    uint8 verified_root[kHashLen] = {};                  // the root at from_size, from the stored frontier
    forgea::core::FirstProblem problems;  // the rows' content and links
    char *tree_problem = nullptr;          // leaves, roots, the stored state
    int64 tree_bad_seq = 0;                // the row the tree problem names (0: none)
    int64 last_seq = 0;                    // the seq of the last leaf read
    int64 heap_rows = 0;                   // rows read by a batch's TID-range scan (the rest: the index)
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
    Datum xmin = 0;
    if (fa_read_column(point, 4, XIDOID, &xmin))
        fa_refuse_null_column(point, 4);
    inc.verified_xid = DatumGetTransactionId(xmin);
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
    Sha256 h;  // the core's: no allocation, no OpenSSL context per digest
    uint8 computed[kHashLen];
    inc.frontier.root(h, computed);  // the empty tree's root at size 0
    if (memcmp(computed, VARDATA_ANY(root), kHashLen) != 0)
        tree_problem(inc, 0, MemoryContextStrdup(keep, "forgea_audit.merkle_verified was altered (its frontier does not "
                                                       "hash to its root)"));
    SPI_freetuptable(SPI_tuptable);
}

// The checkpoints in (frontier size, to], kept in keep.
void load_checkpoints(Increment &inc, int64 to, MemoryContext keep)
{
    Datum args[2] = {Int64GetDatum(inc.frontier.size), Int64GetDatum(to)};
    fa_exec_plan(checkpoints_plan, args, nullptr, 0);
    CheckpointRoots &c = inc.checkpoints;
    c.count = static_cast<int64>(SPI_processed);
    c.next = 0;
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
void compare_checkpoints(Increment &inc, Sha256 &h, MemoryContext keep)
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

// The nodes the last append completed against merkle_tile (merkle_check.cpp's comparison, which
// the whole-log walk uses too), each tile read in a fresh snapshot: it sees the tiles of every
// leaf the pass read.  The first difference is the tree problem.
void compare_nodes(Increment &inc, int64 index, int64 seq, MemoryContext keep)
{
    if (inc.tree_problem != nullptr)
        return;
    char *problem = fa_tile_compare(inc.tiles, *inc.nodes, index, seq, false, keep);
    if (problem != nullptr)
        tree_problem(inc, seq, problem);
}

// Opens audit_log and its primary key for the pass's direct reads, with the checks the executor
// would make (verify_increment() runs as the extension's owner, who reads every row unless
// row-level security was forced on the table: then a verdict over the visible rows would be wrong).
void open_rows(Increment &inc, MemoryContext keep)
{
    RowSource &s = inc.src;
    s.rel = table_openrv(makeRangeVar(const_cast<char *>("forgea_audit"), const_cast<char *>("audit_log"), -1),
                         AccessShareLock);
    AclResult acl = pg_class_aclcheck(RelationGetRelid(s.rel), GetUserId(), ACL_SELECT);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(s.rel));
    if (check_enable_rls(RelationGetRelid(s.rel), InvalidOid, true) == RLS_ENABLED)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("verify_increment() must read every row of forgea_audit.audit_log, and row-level "
                               "security hides some from the extension's owner"),
                        errhint("ALTER TABLE forgea_audit.audit_log NO FORCE ROW LEVEL SECURITY;")));
    Oid pkey = RelationGetPrimaryKeyIndex(s.rel);
    if (!OidIsValid(pkey))
        elog(ERROR, "forgea_audit.audit_log has no primary key");
    s.pkey = index_open(pkey, AccessShareLock);
    TupleDesc d = RelationGetDescr(s.rel);
    for (int i = 0; i < d->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(d, i);
        if (a->attisdropped)
            continue;
        if (strcmp(NameStr(a->attname), "seq") == 0)
            s.seq_att = static_cast<AttrNumber>(i + 1);
        else if (strcmp(NameStr(a->attname), "row_hash") == 0)
            s.hash_att = static_cast<AttrNumber>(i + 1);
    }
    if (s.seq_att == InvalidAttrNumber || s.hash_att == InvalidAttrNumber ||
        s.pkey->rd_index->indnatts != 1 || s.pkey->rd_index->indkey.values[0] != s.seq_att)
        elog(ERROR, "forgea_audit.audit_log's primary key is not its seq column");
    s.hasher = fa_row_hasher_create(d, keep);
    s.leaf_rel = table_openrv(makeRangeVar(const_cast<char *>("forgea_audit"), const_cast<char *>("merkle_leaf"), -1),
                              AccessShareLock);
    acl = pg_class_aclcheck(RelationGetRelid(s.leaf_rel), GetUserId(), ACL_SELECT);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(s.leaf_rel));
    if (check_enable_rls(RelationGetRelid(s.leaf_rel), InvalidOid, true) == RLS_ENABLED)
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("verify_increment() must read every row of forgea_audit.merkle_leaf, and row-level "
                               "security hides some from the extension's owner"),
                        errhint("ALTER TABLE forgea_audit.merkle_leaf NO FORCE ROW LEVEL SECURITY;")));
    s.leaf_index_att = column(s.leaf_rel, "leaf_index");
    s.leaf_seq_att = column(s.leaf_rel, "seq");
    Oid leaf_pkey = RelationGetPrimaryKeyIndex(s.leaf_rel);
    if (!OidIsValid(leaf_pkey))
        elog(ERROR, "forgea_audit.merkle_leaf has no primary key");
    s.leaf_pkey = index_open(leaf_pkey, AccessShareLock);
    if (s.leaf_pkey->rd_index->indnatts != 1 || s.leaf_pkey->rd_index->indkey.values[0] != s.leaf_index_att)
        elog(ERROR, "forgea_audit.merkle_leaf's primary key is not its leaf_index column");
    s.map_cxt = AllocSetContextCreate(keep, "forgea_audit verify_increment chains", ALLOCSET_DEFAULT_SIZES);
}

// The chain map, empty (created, or emptied once it holds kMaxChains chains).
void reset_chains(RowSource &s)
{
    if (s.chains != nullptr && hash_get_num_entries(s.chains) < kMaxChains)
        return;
    if (s.chains != nullptr)
        hash_destroy(s.chains);
    MemoryContextReset(s.map_cxt);
    HASHCTL ctl;
    ctl.keysize = sizeof(uint64);
    ctl.entrysize = sizeof(ChainEntry);
    ctl.hcxt = s.map_cxt;
    s.chains = hash_create("forgea_audit verify_increment chains", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

void close_rows(Increment &inc)
{
    RowSource &s = inc.src;
    if (s.hasher != nullptr)
        fa_row_hasher_release(s.hasher);
    if (s.pkey != nullptr)
        index_close(s.pkey, AccessShareLock);
    if (s.leaf_pkey != nullptr)
        index_close(s.leaf_pkey, AccessShareLock);
    if (s.leaf_rel != nullptr)
        table_close(s.leaf_rel, AccessShareLock);
    if (s.rel != nullptr)
        table_close(s.rel, AccessShareLock);
    s = RowSource{};
}

// One batch's leaves and what was read of their rows: arrays of kBatchLeaves, allocated once a
// pass (a fresh megabyte or two per batch was a tenth of the catch-up's time in page faults).
struct Batch {
    int64 n = 0;            // leaves read
    int64 *seq = nullptr;   // by position in the batch (leaf index - first)
    int64 *order = nullptr; // positions by seq
    bool *found = nullptr;
    uint8 (*leaf)[kHashLen] = nullptr;  // the row's stored row_hash (its first kHashLen bytes): the leaf's data
    uint8 *leaf_len = nullptr;          // ... its length
    forgea::core::RowLink *link = nullptr;
    Bytes *chain = nullptr;
    bool *has_prev = nullptr;  // the row before it in its chain is known (else: the chain's first row)
    bool *need_prev = nullptr; // ... must be looked up
    int64 *prev_pos = nullptr;
    int64 *prev_seq = nullptr;
    uint8 (*prev_hash)[kHashLen] = nullptr;
};
FA_LIVES_ACROSS_PG_CALLS(Batch);

// Sorts positions by their seq (qsort_arg).
int by_seq(const void *a, const void *b, void *arg)
{
    const int64 *seq = static_cast<const int64 *>(arg);
    int64 x = seq[*static_cast<const int64 *>(a)], y = seq[*static_cast<const int64 *>(b)];
    return x < y ? -1 : x > y ? 1 : 0;
}

// The batch arrays, for batches of up to kBatchLeaves leaves, in keep.
Batch *batch_alloc(MemoryContext keep)
{
    MemoryContext old = MemoryContextSwitchTo(keep);
    Batch *b = static_cast<Batch *>(palloc(sizeof(Batch)));
    new (b) Batch();
    int64 cap = kBatchLeaves;
    b->seq = static_cast<int64 *>(palloc(sizeof(int64) * cap));
    b->order = static_cast<int64 *>(palloc(sizeof(int64) * cap));
    b->found = static_cast<bool *>(palloc(sizeof(bool) * cap));
    b->leaf = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * cap));
    b->leaf_len = static_cast<uint8 *>(palloc(cap));
    b->link = static_cast<forgea::core::RowLink *>(palloc(sizeof(forgea::core::RowLink) * cap));
    b->chain = static_cast<Bytes *>(palloc(sizeof(Bytes) * cap));
    b->has_prev = static_cast<bool *>(palloc(sizeof(bool) * cap));
    b->need_prev = static_cast<bool *>(palloc(sizeof(bool) * cap));
    b->prev_pos = static_cast<int64 *>(palloc(sizeof(int64) * cap));
    b->prev_seq = static_cast<int64 *>(palloc(sizeof(int64) * cap));
    b->prev_hash = static_cast<uint8(*)[kHashLen]>(palloc(kHashLen * cap));
    MemoryContextSwitchTo(old);
    return b;
}

bool tid_of(Relation rel, Relation index, Snapshot snap, TupleTableSlot *slot, int64 key, ItemPointerData *tid);
TableScanDesc begin_block_range(Relation rel, Snapshot snap, const ItemPointerData &first, const ItemPointerData &last,
                                int64 wanted);

// The leaves [from, to) by a TID-range scan of merkle_leaf's heap from leaf from's block to leaf
// to - 1's (the integrator appends them in leaf order): true if it found each of them exactly
// once, their seqs in b.seq; else false and the caller reads them through the index.
bool read_leaves_by_blocks(RowSource &s, Batch &b, Snapshot snap, TupleTableSlot *slot, int64 from, int64 to)
{
    int64 want = to - from;
    ItemPointerData first, last;
    if (want <= 0 || !tid_of(s.leaf_rel, s.leaf_pkey, snap, slot, from, &first) ||
        !tid_of(s.leaf_rel, s.leaf_pkey, snap, slot, to - 1, &last))
        return false;
    TableScanDesc scan = begin_block_range(s.leaf_rel, snap, first, last, want);
    if (scan == nullptr)
        return false;
    memset(b.found, 0, sizeof(bool) * static_cast<size_t>(want));
    int64 got = 0, others = 0;
    bool twice = false;
    while (!twice && others <= want + kRangeSlackRows &&
           table_scan_getnextslot_tidrange(scan, ForwardScanDirection, slot)) {
        int64 index;
        if (!fa_slot_get_opt<SqlInt8>(slot, s.leaf_index_att, &index, "forgea_audit.merkle_leaf") || index < from ||
            index >= to) {
            if ((++others & 1023) == 0)
                CHECK_FOR_INTERRUPTS();
            continue;
        }
        if (b.found[index - from]) {
            twice = true;  // the index's answer is the one that counts
            break;
        }
        b.found[index - from] = true;
        b.seq[index - from] = fa_slot_get<SqlInt8>(slot, s.leaf_seq_att, "forgea_audit.merkle_leaf");
        got++;
    }
    table_endscan(scan);
    ExecClearTuple(slot);
    if (twice || got != want)
        return false;
    b.n = want;
    return true;
}

// The batch's leaves [from, to) (to - from <= kBatchLeaves), dense from `from` (a gap ends the
// batch: the caller reports it), in a fresh snapshot: by a TID-range scan of their heap blocks
// when that finds all of them once, else through merkle_leaf's primary key.
void read_leaves(RowSource &s, Batch &b, int64 from, int64 to)
{
    Snapshot snap = RegisterSnapshot(GetLatestSnapshot());
    TupleTableSlot *slot = table_slot_create(s.leaf_rel, nullptr);
    if (!read_leaves_by_blocks(s, b, snap, slot, from, to)) {
        IndexScanDesc scan = index_beginscan(s.leaf_rel, s.leaf_pkey, snap, 2, 0);
        ScanKeyData keys[2];
        ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
        ScanKeyInit(&keys[1], 1, BTLessStrategyNumber, F_INT8LT, Int64GetDatum(to));
        index_rescan(scan, keys, 2, nullptr, 0);
        b.n = 0;
        while (b.n < to - from && index_getnext_slot(scan, ForwardScanDirection, slot)) {
            if (fa_slot_get<SqlInt8>(slot, s.leaf_index_att, "forgea_audit.merkle_leaf") != from + b.n)
                break;
            b.seq[b.n++] = fa_slot_get<SqlInt8>(slot, s.leaf_seq_att, "forgea_audit.merkle_leaf");
        }
        index_endscan(scan);
    }
    ExecDropSingleTupleTableSlot(slot);
    UnregisterSnapshot(snap);
    for (int64 i = 0; i < b.n; i++)
        b.order[i] = i;
    qsort_arg(b.order, b.n, sizeof(int64), by_seq, b.seq);
    size_t n = static_cast<size_t>(b.n);
    memset(b.found, 0, sizeof(bool) * n);
    for (int64 i = 0; i < b.n; i++) {
        b.link[i] = forgea::core::RowLink{};
        b.chain[i] = Bytes{};
    }
    memset(b.has_prev, 0, sizeof(bool) * n);
    memset(b.need_prev, 0, sizeof(bool) * n);
    memset(b.prev_pos, 0, sizeof(int64) * n);
    memset(b.prev_seq, 0, sizeof(int64) * n);
    memset(b.prev_hash, 0, kHashLen * n);
}

// The delay this pass sleeps (settings.hpp): the worker's setting in the background worker
// (the only background worker that calls verify_increment()), else the session's.
double catchup_delay_ms()
{
    if (IsBackgroundWorker && fa_worker_catchup_delay_ms >= 0)
        return fa_worker_catchup_delay_ms;
    return fa_catchup_delay_ms;
}

// Which setting catchup_delay_ms() read, for the pass's summary.
const char *catchup_delay_setting()
{
    return IsBackgroundWorker && fa_worker_catchup_delay_ms >= 0 ? "worker_catchup_delay" : "catchup_delay";
}

// The WAL's insert position: it moves whenever anybody writes WAL (record_push's commits, the
// integrator, autovacuum); the catch-up itself writes next to none (docs/benchmarks.md, "Catch-up").
XLogRecPtr wal_position()
{
    return RecoveryInProgress() ? GetXLogReplayRecPtr(nullptr) : GetXLogInsertRecPtr();
}

// The cost delay (forgea_audit.catchup_delay): after every kCatchupDelayRows rows of the unlocked
// catch-up, a sleep, as vacuum_delay_point() does (no lock is held here but merkle_verified's row
// and buffer pins: nobody waits for it).  The locked last step never sleeps.  Unless
// forgea_audit.catchup_delay_always is on, the sleep is skipped when nobody wrote WAL since the
// last delay point: the writers the delay makes room for are not there, and a catch-up on an
// otherwise idle server runs at full speed (on this 2-vCPU VM the delay is what keeps WAL flushes
// fast while writers commit, docs/benchmarks.md; with nobody committing it only costs time).
void delay_point(Increment &inc)
{
    double ms = catchup_delay_ms();
    if (!inc.throttled || ms <= 0 || ++inc.since_delay < kCatchupDelayRows)
        return;
    inc.since_delay = 0;
    if (!fa_catchup_delay_always) {
        XLogRecPtr now = wal_position();
        bool writers = now != inc.wal_seen;
        inc.wal_seen = now;
        if (!writers) {
            inc.skipped++;
            CHECK_FOR_INTERRUPTS();
            return;
        }
    }
    pgstat_report_wait_start(PG_WAIT_EXTENSION);
    pg_usleep(static_cast<long>(ms * 1000));
    pgstat_report_wait_end();
    inc.sleeps++;
    // What was written while it slept counts for the next point: were the writers still there?
    inc.wal_seen = wal_position();
    CHECK_FOR_INTERRUPTS();
}

// The pending rows hashed (two at once: fa_row_hasher_pend), each one's link and chain id (copied
// into batch_cxt) given to its sorted positions pend[i][0] .. pend[i][1] - 1.
void settle_rows(RowSource &s, Batch &b, const int64 (*pend)[2], MemoryContext batch_cxt)
{
    forgea::core::RowLink links[2];
    Bytes ids[2];
    int n = fa_row_hasher_settle(s.hasher, links, ids);
    for (int i = 0; i < n; i++) {
        char *id = static_cast<char *>(MemoryContextAlloc(batch_cxt, Max(ids[i].len, 1)));
        memcpy(id, ids[i].data, ids[i].len);
        for (int64 k = pend[i][0]; k < pend[i][1]; k++) {
            int64 p = b.order[k];
            b.link[p] = links[i];
            b.chain[p] = Bytes{id, ids[i].len};
        }
    }
}

// The TID of the visible row whose index key (the index's only column, int8) is key, through
// the index; false if there is none.  Where a batch's heap read begins and ends.
bool tid_of(Relation rel, Relation index, Snapshot snap, TupleTableSlot *slot, int64 key, ItemPointerData *tid)
{
    IndexScanDesc scan = index_beginscan(rel, index, snap, 1, 0);
    ScanKeyData k;
    ScanKeyInit(&k, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(key));
    index_rescan(scan, &k, 1, nullptr, 0);
    bool found = index_getnext_slot(scan, ForwardScanDirection, slot);
    if (found)
        *tid = slot->tts_tid;
    index_endscan(scan);
    ExecClearTuple(slot);
    return found;
}

// A TID-range scan of the heap blocks from first's block to last's, whole blocks, or nullptr if
// that range is not clustered enough to be worth it: more blocks than the rows wanted (rows in
// insertion order fill a block with several), or last before first.
TableScanDesc begin_block_range(Relation rel, Snapshot snap, const ItemPointerData &first, const ItemPointerData &last,
                                int64 wanted)
{
    BlockNumber lo = ItemPointerGetBlockNumber(&first), hi = ItemPointerGetBlockNumber(&last);
    if (hi < lo || static_cast<int64>(hi - lo) + 1 > wanted)
        return nullptr;
    ItemPointerData mintid, maxtid;
    ItemPointerSet(&mintid, lo, FirstOffsetNumber);
    ItemPointerSet(&maxtid, hi, MaxOffsetNumber);
    return table_beginscan_tidrange(rel, snap, &mintid, &maxtid);
}

// The first sorted position whose seq is seq, or -1 if the batch has none; hint (the position
// after the last row taken) first, as a heap read in insertion order meets the seqs in order.
int64 sorted_position(const Batch &b, int64 seq, int64 hint)
{
    if (hint < b.n && b.seq[b.order[hint]] == seq && (hint == 0 || b.seq[b.order[hint - 1]] != seq))
        return hint;
    int64 lo = 0, hi = b.n;  // lower bound of seq
    while (lo < hi) {
        int64 mid = lo + (hi - lo) / 2;
        if (b.seq[b.order[mid]] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b.n && b.seq[b.order[lo]] == seq ? lo : -1;
}

// What read_rows carries from row to row.
struct RowTaker {
    int64 pend[2][2];  // the pending rows' sorted positions [from, to)
    int64 hint = 0;    // the sorted position after the last row taken
};

// One row of audit_log (in the slot) for the batch: if its seq is a leaf of the batch not yet
// read, its content is pended for hashing (its link and chain id come with the next row's,
// settle_rows) and its leaf hash kept at each of its positions (a leaf named twice, merkle_leaf
// altered: every position of that seq gets the row).  False if the row is not one of the batch's
// or was read already.
bool take_row(Increment &inc, Batch &b, Sha256 &h, TupleTableSlot *slot, RowTaker &t, MemoryContext batch_cxt,
              MemoryContext per_row)
{
    RowSource &s = inc.src;
    int64 seq;
    if (!fa_slot_get_opt<SqlInt8>(slot, s.seq_att, &seq, "forgea_audit.audit_log"))
        return false;
    int64 first = sorted_position(b, seq, t.hint);
    if (first < 0 || b.found[b.order[first]])
        return false;  // a row of another batch, or not yet a leaf; or read already
    MemoryContext old = MemoryContextSwitchTo(per_row);
    FaRow row = fa_slot_row(slot, "forgea_audit.audit_log");
    int n = fa_row_hasher_pend(s.hasher, row);
    bytea *stored = fa_get<SqlBytea>(row, s.hash_att);
    size_t len = Min(VARSIZE_ANY_EXHDR(stored), kHashLen);
    int64 next = first;
    for (; next < b.n && b.seq[b.order[next]] == seq; next++) {
        int64 p = b.order[next];
        b.found[p] = true;
        memcpy(b.leaf[p], VARDATA_ANY(stored), len);
        b.leaf_len[p] = static_cast<uint8>(len);
    }
    t.pend[n - 1][0] = first;
    t.pend[n - 1][1] = next;
    t.hint = next;
    MemoryContextSwitchTo(old);
    if (n == 2)
        settle_rows(s, b, t.pend, batch_cxt);
    MemoryContextReset(per_row);
    CHECK_FOR_INTERRUPTS();
    delay_point(inc);
    return true;
}

// The batch's rows, in a fresh snapshot (it sees every row whose leaf the leaves query saw: a row
// commits before its leaf), each one's content checked against its row_hash and its leaf hash
// kept (take_row).  Rows are appended in seq order, so a batch's rows mostly fill a range of heap
// blocks: first that range is read by a TID-range scan (one visibility pass per page, no btree
// descent or HOT-chain search per row), from the block of the batch's lowest seq to that of its
// highest (found through the primary key); it stops early once it has met kRangeSlackRows more
// rows of other seqs than the batch has (not clustered after all).  Then every row not read yet
// (outside the range: a row updated elsewhere, rows placed out of order; or none: a missing row)
// through the primary key, one index range scan per run of nearby seqs, as before.  Both read
// with the one snapshot, so they see the rows an index fetch of each would.  A leaf whose row is
// not there stays !found.
void read_rows(Increment &inc, Batch &b, Sha256 &h, MemoryContext batch_cxt, MemoryContext per_row)
{
    RowSource &s = inc.src;
    Snapshot snap = RegisterSnapshot(GetLatestSnapshot());
    TupleTableSlot *slot = table_slot_create(s.rel, nullptr);
    RowTaker t;
    int64 taken = 0;
    ItemPointerData first_tid, last_tid;
    if (b.n > 0 && tid_of(s.rel, s.pkey, snap, slot, b.seq[b.order[0]], &first_tid) &&
        tid_of(s.rel, s.pkey, snap, slot, b.seq[b.order[b.n - 1]], &last_tid)) {
        TableScanDesc scan = begin_block_range(s.rel, snap, first_tid, last_tid, b.n);
        if (scan != nullptr) {
            int64 others = 0;
            while (others <= b.n + kRangeSlackRows &&
                   table_scan_getnextslot_tidrange(scan, ForwardScanDirection, slot)) {
                if (take_row(inc, b, h, slot, t, batch_cxt, per_row))
                    taken++;
                else if ((++others & 1023) == 0)
                    CHECK_FOR_INTERRUPTS();
            }
            table_endscan(scan);
            inc.heap_rows += taken;
        }
    }
    if (taken < b.n) {
        IndexScanDesc scan = index_beginscan(s.rel, s.pkey, snap, 2, 0);
        ScanKeyData keys[2];
        int64 k = 0;
        for (;;) {
            while (k < b.n && b.found[b.order[k]])
                k++;
            if (k == b.n)
                break;
            // One run: sorted seqs not read yet, no more than kRunGap apart.
            int64 end = k + 1, last = k;
            for (; end < b.n; end++) {
                if (b.found[b.order[end]])
                    continue;
                if (b.seq[b.order[end]] - b.seq[b.order[last]] > kRunGap)
                    break;
                last = end;
            }
            ScanKeyInit(&keys[0], s.seq_att, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(b.seq[b.order[k]]));
            ScanKeyInit(&keys[1], s.seq_att, BTLessEqualStrategyNumber, F_INT8LE, Int64GetDatum(b.seq[b.order[last]]));
            keys[0].sk_attno = keys[1].sk_attno = 1;  // the index's first (only) column
            index_rescan(scan, keys, 2, nullptr, 0);
            t.hint = k;
            while (index_getnext_slot(scan, ForwardScanDirection, slot))
                (void) take_row(inc, b, h, slot, t, batch_cxt, per_row);
            k = last + 1;
        }
        index_endscan(scan);
    }
    settle_rows(s, b, t.pend, batch_cxt);
    ExecDropSingleTupleTableSlot(slot);
    UnregisterSnapshot(snap);
}

// The row before each of the batch's rows in its chain: the last row of that chain this pass read,
// if the row follows it; else looked up in the table (one statement for the batch).  Positions at
// or after stop are not linked (the pass ends at the first missing row).
void find_previous(Increment &inc, Batch &b, int64 stop)
{
    RowSource &s = inc.src;
    int64 lookups = 0;
    for (int64 k = 0; k < b.n; k++) {
        int64 p = b.order[k];
        if (p >= stop || !b.found[p])
            continue;
        Bytes id = b.chain[p];
        uint64 key = hash_bytes_extended(reinterpret_cast<const unsigned char *>(id.data), static_cast<int>(id.len), 0);
        bool present;
        ChainEntry *e = static_cast<ChainEntry *>(hash_search(s.chains, &key, HASH_ENTER, &present));
        bool same = present && static_cast<size_t>(e->len) == id.len && memcmp(e->id, id.data, id.len) == 0;
        if (same && e->pos == b.link[p].chain_pos - 1) {
            b.has_prev[p] = true;
            b.prev_pos[p] = e->pos;
            b.prev_seq[p] = e->seq;
            memcpy(b.prev_hash[p], e->hash, kHashLen);
        } else {
            b.need_prev[p] = true;
            lookups++;
        }
        if (!same) {
            e->id = static_cast<char *>(MemoryContextAlloc(s.map_cxt, Max(id.len, 1)));
            memcpy(e->id, id.data, id.len);
            e->len = static_cast<int>(id.len);
        }
        e->pos = b.link[p].chain_pos;
        e->seq = b.link[p].seq;
        memcpy(e->hash, b.link[p].hash, kHashLen);
    }
    if (lookups == 0)
        return;
    Datum *ids = static_cast<Datum *>(palloc(sizeof(Datum) * lookups));
    Datum *pos = static_cast<Datum *>(palloc(sizeof(Datum) * lookups));
    int64 *at = static_cast<int64 *>(palloc(sizeof(int64) * lookups));
    int64 m = 0;
    for (int64 k = 0; k < b.n; k++) {
        int64 p = b.order[k];
        if (p >= stop || !b.need_prev[p])
            continue;
        ids[m] = PointerGetDatum(cstring_to_text_with_len(b.chain[p].data, static_cast<int>(b.chain[p].len)));
        pos[m] = Int64GetDatum(b.link[p].chain_pos);
        at[m++] = p;
    }
    Datum args[2] = {PointerGetDatum(construct_array(ids, static_cast<int>(m), TEXTOID, -1, false, TYPALIGN_INT)),
                     PointerGetDatum(construct_array(pos, static_cast<int>(m), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE))};
    fa_exec_plan(prev_plan, args, nullptr, 0);
    for (uint64 r = 0; r < SPI_processed; r++) {
        FaRow row = fa_spi_row(r, "the incremental verification's chain lookup");
        int64 o = fa_get<SqlInt8>(row, 1);
        if (o < 1 || o > m)
            continue;
        int64 p = at[o - 1];
        b.has_prev[p] = true;
        b.prev_pos[p] = fa_get<SqlInt8>(row, 2);
        b.prev_seq[p] = fa_get<SqlInt8>(row, 3);
        bytea *ph;
        if (fa_get_opt<SqlBytea>(row, 4, &ph) && VARSIZE_ANY_EXHDR(ph) == kHashLen)
            memcpy(b.prev_hash[p], VARDATA_ANY(ph), kHashLen);
    }
    SPI_freetuptable(SPI_tuptable);
}

// The batch's aligned run of kSubtreeLeaves leaves from position p, each row read and its row_hash
// kHashLen bytes, with no checkpoint's size inside the run: its leaf and node hashes two at a time
// (mk::hash_subtree, as the whole-log walk's walk_run in merkle_check.cpp), then leaf by leaf
// exactly what verify_batch()'s single step does (the same nodes in the same order compared with
// merkle_tile, the same findings; the checkpoint at the run's end after it).  False, with nothing
// done, if the run is not such a one: the caller then goes leaf by leaf.
bool append_run(Increment &inc, Batch &b, int64 p, int64 stop, Sha256 &h, MemoryContext keep)
{
    constexpr int kRun = mk::kSubtreeLeaves;
    int64 first = inc.frontier.size;
    const CheckpointRoots &c = inc.checkpoints;
    if ((first & (kRun - 1)) != 0 || p + kRun > stop || (c.next < c.count && c.size[c.next] < first + kRun))
        return false;
    const uint8 *data[kRun];
    for (int j = 0; j < kRun; j++) {
        if (b.leaf_len[p + j] != kHashLen)
            return false;
        data[j] = b.leaf[p + j];
    }
    mk::SubtreeHashes sub;
    mk::hash_subtree(data, sub);
    for (int j = 0; j < kRun; j++) {
        int64 index = first + j;
        // The nodes the append of leaf j completes: the leaf, then each level its end closes.
        inc.nodes->n = 0;
        inc.nodes->node(0, index, sub.hash[0][j]);
        for (int l = 1; l <= mk::kSubtreeLevels && ((j + 1) & ((1 << l) - 1)) == 0; l++)
            inc.nodes->node(l, index >> l, sub.hash[l][((j + 1) >> l) - 1]);
        if (j == kRun - 1)  // the run's root joins the frontier, completing the nodes above it
            inc.frontier.append_subtree(h, mk::kSubtreeLevels, sub.hash[mk::kSubtreeLevels][0], *inc.nodes);
        compare_nodes(inc, index, b.seq[p + j], keep);
        inc.last_seq = b.seq[p + j];
        inc.rows++;
    }
    compare_checkpoints(inc, h, keep);
    return true;
}

// The leaves [from, to): each row's content and link (verify_chain()'s checks), then its leaf hash
// into the frontier, in leaf order (aligned runs of 16 hashed two at a time: append_run).  False if a leaf or its row is missing: the pass stops there.
bool verify_batch(Increment &inc, int64 from, int64 to, Sha256 &h, MemoryContext keep, MemoryContext batch_cxt,
                  MemoryContext per_row)
{
    MemoryContext old = MemoryContextSwitchTo(batch_cxt);
    if (inc.batch == nullptr)
        inc.batch = batch_alloc(keep);
    Batch &b = *inc.batch;
    read_leaves(inc.src, b, from, to);
    read_rows(inc, b, h, batch_cxt, per_row);
    int64 stop = 0;
    while (stop < b.n && b.found[stop])
        stop++;
    reset_chains(inc.src);
    find_previous(inc, b, stop);
    for (int64 k = 0; k < b.n; k++) {
        int64 p = b.order[k];
        if (p >= stop)
            continue;
        forgea::core::ChainWalker walker;
        if (b.has_prev[p])
            walker.resume_chain(b.chain[p], b.prev_pos[p], b.prev_seq[p], b.prev_hash[p]);
        else
            walker.start_chain(b.chain[p]);
        walker.link_row(b.link[p], inc.problems);
    }
    for (int64 p = 0; p < stop;) {
        if (append_run(inc, b, p, stop, h, keep)) {
            p += mk::kSubtreeLeaves;
            continue;
        }
        uint8 lh[kHashLen];
        mk::leaf_hash(h, b.leaf[p], b.leaf_len[p], lh);
        inc.nodes->n = 0;
        inc.frontier.append(h, lh, *inc.nodes);
        compare_nodes(inc, from + p, b.seq[p], keep);
        inc.last_seq = b.seq[p];
        inc.rows++;
        compare_checkpoints(inc, h, keep);
        p++;
    }
    MemoryContextSwitchTo(keep);
    bool go_on = true;
    if (stop < b.n) {
        tree_problem(inc, b.seq[stop], psprintf("leaf " INT64_FORMAT ": audit row " INT64_FORMAT " is missing (deleted "
                                                "after it was integrated)", from + stop, b.seq[stop]));
        go_on = false;
    } else if (b.n < to - from) {
        tree_problem(inc, 0, psprintf("the Merkle tree has no leaf " INT64_FORMAT " (merkle_leaf was altered)", from + b.n));
        go_on = false;
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(batch_cxt);
    return go_on;
}

// Between two batches: the progress row, then the pause point (when forgea_audit.catchup_pause_point
// is on).  Whoever holds the pause lock
// (pg_advisory_lock(kPauseLockKey)) keeps the pass here, holding no lock but merkle_verified's
// row, until it lets go or kPauseMaxMs have passed in this pass (tests stop a catch-up at a known
// point with it; nobody can stop the worker's passes with it for good).
void between_batches(Increment &inc, int64 target)
{
    char *what = psprintf("verify_increment: %lld of %lld new leaves verified, %lld batches",
                          static_cast<long long>(inc.frontier.size - inc.from_size),
                          static_cast<long long>(target - inc.from_size), static_cast<long long>(inc.batches));
    fa_progress_report(what);
    LOCKTAG tag;
    // As pg_advisory_lock(bigint) names it (adt/lockfuncs.c, SET_LOCKTAG_INT64).
    SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, static_cast<uint32>(static_cast<uint64>(kPauseLockKey) >> 32),
                         static_cast<uint32>(kPauseLockKey), 1);
    bool reported = false;
    // Only when a superuser asked for the pause point (forgea_audit.catchup_pause_point): else any
    // session that can take an advisory lock could hold every pass up to kPauseMaxMs.
    for (; fa_catchup_pause_point;) {
        if (LockAcquire(&tag, ShareLock, true, true) != LOCKACQUIRE_NOT_AVAIL) {
            LockRelease(&tag, ShareLock, true);
            break;
        }
        if (inc.paused_ms >= kPauseMaxMs)
            break;
        if (!reported) {
            char *paused = psprintf("%s; paused between batches (pause lock held)", what);
            fa_progress_report(paused);
            pfree(paused);
            reported = true;
        }
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        inc.paused_ms += 10;
        CHECK_FOR_INTERRUPTS();
    }
    if (reported)
        fa_progress_report(what);
    pfree(what);
}

// Verifies the leaves from the frontier's size up to target, in batches; pausable between them.
bool catch_up(Increment &inc, int64 target, bool pausable, Sha256 &h, MemoryContext keep, MemoryContext batch_cxt,
              MemoryContext per_row)
{
    load_checkpoints(inc, target, keep);
    inc.throttled = pausable;
    inc.wal_seen = wal_position();
    bool go_on = true;
    bool first = true;
    while (go_on && inc.frontier.size < target) {
        if (pausable && !first)
            between_batches(inc, target);
        first = false;
        int64 to = Min(inc.frontier.size + kBatchLeaves, target);
        go_on = verify_batch(inc, inc.frontier.size, to, h, keep, batch_cxt, per_row);
        inc.batches++;
        CHECK_FOR_INTERRUPTS();
    }
    inc.throttled = false;
    return go_on;
}

// True if a tuple was written (inserted, or updated into this version) by a transaction whose
// xid follows the one that last moved the verified point: after that pass began.  The raw xmin,
// frozen or not (a version frozen after an edit is still an edit).
bool written_since(HeapTuple t, TransactionId verified)
{
    TransactionId x = HeapTupleHeaderGetRawXmin(t->t_data);
    if (!TransactionIdIsNormal(x))
        return false;  // bootstrap or frozen before 9.4: written long before any pass
    return TransactionIdFollows(x, verified);
}

// Attribute number of a column of a relation, by name (raises if it has none).
AttrNumber column(Relation rel, const char *name)
{
    TupleDesc d = RelationGetDescr(rel);
    for (int i = 0; i < d->natts; i++) {
        Form_pg_attribute a = TupleDescAttr(d, i);
        if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
            return static_cast<AttrNumber>(i + 1);
    }
    elog(ERROR, "forgea_audit.%s has no column \"%s\"", RelationGetRelationName(rel), name);
}

// An int8 (or int2) column of a heap tuple; false if NULL.
bool int_column(HeapTuple t, Relation rel, AttrNumber att, int64 *out)
{
    FaRow row = fa_row(RelationGetDescr(rel), t, RelationGetRelationName(rel));
    Oid type = TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid;
    Datum d = 0;
    if ((type != INT2OID && type != INT8OID) || fa_read_column(row, att, type, &d))
        return false;  // NULL, or not the type the install script gives it: "changed"
    *out = type == INT2OID ? DatumGetInt16(d) : DatumGetInt64(d);
    return true;
}

// What the whole-log checks need to know, read from the Merkle tables' heaps in one snapshot.
struct QuickState {
    int64 size = 0;          // merkle_state's tree size
    int64 horizon = 1;       // and horizon
    int64 leaves = 0;        // merkle_leaf's rows
    int64 leaves_below = 0;  // ... naming a seq below the horizon
    const char *changed = nullptr;  // the first thing found changed below the verified size
};

// The incremental form of the whole-log checks (merkle_check.cpp), for the leaves below the
// verified size, which the pass that verified them checked and which no extension code changes:
// merkle_leaf is dense up to merkle_state's size; no leaf, tile or checkpoint wholly below the
// verified size was written since the pass that verified it (its xmin, against merkle_verified's:
// an edit writes a new version; the integrator only extends the tiles a level ends with, and a
// restore is checked as it is restored); and as many committed rows lie below the horizon as
// leaves name (with the leaves dense and their seqs unique, every such row is a leaf).  One read
// of merkle_leaf's heap (about 40 bytes a leaf, no row content) and of merkle_tile's and
// merkle_checkpoint's (one row per 256 leaves, per checkpoint; tiles not detoasted), and an
// index-only count.  True if all holds; false sends the caller to the full checks, which name
// the problem.
bool quick_whole_log(Increment &inc, MemoryContext keep)
{
    if (!TransactionIdIsNormal(inc.verified_xid))
        return false;
    int64 v = inc.from_size;
    QuickState q;
    Snapshot snap = RegisterSnapshot(GetLatestSnapshot());
    auto open = [](const char *name) {
        return table_openrv(makeRangeVar(const_cast<char *>("forgea_audit"), const_cast<char *>(name), -1), AccessShareLock);
    };
    bool state_row = false;
    {
        Relation rel = open("merkle_state");
        AttrNumber size_att = column(rel, "tree_size"), horizon_att = column(rel, "horizon_seq");
        TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
        HeapTuple t;
        while ((t = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            if (state_row || !int_column(t, rel, size_att, &q.size) || !int_column(t, rel, horizon_att, &q.horizon))
                q.changed = "merkle_state";
            state_row = true;
        }
        table_endscan(scan);
        table_close(rel, AccessShareLock);
    }
    {
        Relation rel = open("merkle_leaf");
        AttrNumber index_att = column(rel, "leaf_index"), seq_att = column(rel, "seq");
        TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
        HeapTuple t;
        while ((t = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            int64 index, seq;
            if (!int_column(t, rel, index_att, &index) || !int_column(t, rel, seq_att, &seq) || index < 0 ||
                index >= q.size || (index < v && written_since(t, inc.verified_xid)))
                q.changed = "merkle_leaf";
            q.leaves++;
            if (seq < q.horizon)
                q.leaves_below++;
            if ((q.leaves & 4095) == 0)
                CHECK_FOR_INTERRUPTS();
        }
        table_endscan(scan);
        table_close(rel, AccessShareLock);
    }
    {
        Relation rel = open("merkle_tile");
        AttrNumber level_att = column(rel, "level"), idx_att = column(rel, "idx"), hashes_att = column(rel, "hashes");
        TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
        HeapTuple t;
        while ((t = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            if (!written_since(t, inc.verified_xid))
                continue;
            int64 level, idx;
            Datum h = 0;
            bool isnull = fa_read_column(fa_row(RelationGetDescr(rel), t, "forgea_audit.merkle_tile"), hashes_att,
                                         BYTEAOID, &h);
            if (!int_column(t, rel, level_att, &level) || !int_column(t, rel, idx_att, &idx) || isnull || level < 0 ||
                level >= kTileLevels) {
                q.changed = "merkle_tile";
                continue;
            }
            // The tile's hashes are level-8L nodes [idx * 256, idx * 256 + width); a tree of v
            // leaves has v >> 8L such nodes.  Wholly below them: it cannot have changed.
            int64 width = static_cast<int64>((toast_raw_datum_size(h) - VARHDRSZ) / kHashLen);
            if (idx * mk::kTileWidth + width <= (v >> (mk::kTileHeight * level)))
                q.changed = "merkle_tile";
        }
        table_endscan(scan);
        table_close(rel, AccessShareLock);
    }
    {
        Relation rel = open("merkle_checkpoint");
        AttrNumber size_att = column(rel, "tree_size"), root_att = column(rel, "root");
        TableScanDesc scan = table_beginscan(rel, snap, 0, nullptr);
        HeapTuple t;
        while ((t = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
            int64 size;
            if (!int_column(t, rel, size_att, &size) || size > q.size) {
                q.changed = "merkle_checkpoint";
                continue;
            }
            if (!written_since(t, inc.verified_xid) || size > v)
                continue;  // older than the pass; or in the range this pass compares
            // Made since the pass: at the verified size its root must be the verified root.
            Datum r = 0;
            bool isnull = fa_read_column(fa_row(RelationGetDescr(rel), t, "forgea_audit.merkle_checkpoint"), root_att,
                                         BYTEAOID, &r);
            bytea *root = isnull ? nullptr : DatumGetByteaPP(r);
            if (size < v || root == nullptr || VARSIZE_ANY_EXHDR(root) != kHashLen ||
                memcmp(VARDATA_ANY(root), inc.verified_root, kHashLen) != 0)
                q.changed = "merkle_checkpoint";
        }
        table_endscan(scan);
        table_close(rel, AccessShareLock);
    }
    UnregisterSnapshot(snap);
    if (q.changed != nullptr || !state_row || q.leaves != q.size) {
        elog(DEBUG1, "verify_increment: the whole-log checks run in full: %s (%lld leaves, tree of %lld)",
             q.changed != nullptr ? q.changed : "merkle_state", static_cast<long long>(q.leaves),
             static_cast<long long>(q.size));
        return false;
    }
    // As many committed rows below the horizon as leaves naming one: a fresh snapshot, which sees
    // every row the leaves read above name (they committed before their leaves).
    Datum arg[1] = {Int64GetDatum(q.horizon)};
    fa_exec_plan(below_plan, arg, nullptr, 1);
    int64 rows_below = fa_get<SqlInt8>(fa_spi_row(0, "the rows below the horizon"), 1);
    SPI_freetuptable(SPI_tuptable);
    (void) keep;
    if (rows_below != q.leaves_below)
        elog(DEBUG1, "verify_increment: the whole-log checks run in full: %lld rows below the horizon, %lld leaves name one",
             static_cast<long long>(rows_below), static_cast<long long>(q.leaves_below));
    return rows_below == q.leaves_below;
}

// Moves the verified point to the end of a pass that found nothing wrong.
void advance(Increment &inc)
{
    Sha256 h;  // the core's: no allocation, no OpenSSL context per digest
    uint8 root[kHashLen];
    inc.frontier.root(h, root);
    Datum args[4] = {Int64GetDatum(inc.to_size), PointerGetDatum(bytea_from_bytes(root, kHashLen)),
                     PointerGetDatum(bytea_from_bytes(&inc.frontier.hash[0][0], inc.frontier.count * kHashLen)),
                     Int64GetDatum(inc.rows)};
    write_state(advance_plan, args);
}

// The end: the root recomputed from the rows must be the stored tree's at the same size.
void compare_final_root(Increment &inc, Sha256 &h, MemoryContext keep)
{
    if (inc.tree_problem != nullptr)
        return;
    uint8 computed[kHashLen], stored[kHashLen];
    inc.frontier.root(h, computed);
    fa_merkle_root_of(inc.frontier.size, stored);
    if (memcmp(computed, stored, kHashLen) != 0) {
        MemoryContext old = MemoryContextSwitchTo(keep);
        tree_problem(inc, 0, psprintf("the root of the first " INT64_FORMAT " leaves recomputed from the audit rows "
                                      "differs from the stored Merkle tree's (rows changed after they were integrated, "
                                      "or merkle_tile was altered)", inc.frontier.size));
        MemoryContextSwitchTo(old);
    }
}

}  // namespace

// forgea_audit.verify_increment() RETURNS TABLE (ok, rows_checked, first_bad_seq, detail,
// from_size, to_size): verifies the leaves added since the verified point (catching up without
// the integrator's lock), integrates a last small batch of what has committed and verifies it
// too, and, if all holds, moves the point to the tree's size.
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
    // merkle_verified's lock is waited for at most kPassLockWaitMs (pg/lock_wait.hpp).
    fa_with_bounded_lock_wait("verify_increment()", [&] { load_point(*inc, keep); });
    // The verified point is trusted only if the tree, recomputed from the rows, still has its root.
    FaMerkleRoot *verified_point = static_cast<FaMerkleRoot *>(MemoryContextAllocZero(keep, sizeof(FaMerkleRoot)));
    verified_point->size = inc->from_size;
    verified_point->what = "the last verified point (merkle_verified)";
    {
        Sha256 h;  // the core's: no allocation, no OpenSSL context per digest
        inc->frontier.root(h, verified_point->root);
    }
    memcpy(inc->verified_root, verified_point->root, kHashLen);
    bool point_intact = inc->tree_problem == nullptr;
    int64 committed = fa_merkle_tree_size();
    if (inc->tree_problem == nullptr && committed < inc->from_size)
        tree_problem(*inc, 0, MemoryContextStrdup(keep, psprintf("the Merkle tree has " INT64_FORMAT " leaves, fewer than "
                                                                 "the " INT64_FORMAT " already verified (merkle_state was "
                                                                 "altered)", committed, inc->from_size)));
    if (inc->tree_problem == nullptr) {
        // The stored tree must still have, at the verified size, the root this function computed.
        uint8 stored[kHashLen];
        fa_merkle_root_of(inc->from_size, stored);
        if (memcmp(stored, verified_point->root, kHashLen) != 0)
            tree_problem(*inc, 0, MemoryContextStrdup(keep, "the stored Merkle tree no longer has the root verified "
                                                            "before (merkle_tile was altered)"));
    }
    MemoryContext batch_cxt = AllocSetContextCreate(keep, "forgea_audit verify_increment batch", ALLOCSET_DEFAULT_SIZES);
    MemoryContext per_row = AllocSetContextCreate(keep, "forgea_audit verify_increment row", ALLOCSET_DEFAULT_SIZES);
    Sha256 *h = static_cast<Sha256 *>(MemoryContextAlloc(keep, sizeof(Sha256)));
    new (h) Sha256();
    open_rows(*inc, keep);
    {
        MemoryContext old = MemoryContextSwitchTo(keep);
        inc->tiles = fa_tile_cache_create();
        MemoryContextSwitchTo(old);
    }
    inc->nodes = static_cast<FaNodeList *>(MemoryContextAlloc(keep, sizeof(FaNodeList)));
    new (inc->nodes) FaNodeList();
    bool go_on = inc->tree_problem == nullptr;
    // The catch-up, holding no lock the integrator or record_push need; again while the
    // integrator added more than a small tail meanwhile (at most a few rounds).
    for (int round = 0; go_on && round < 4; round++) {
        go_on = catch_up(*inc, committed, true, *h, keep, batch_cxt, per_row);
        int64 now = fa_merkle_tree_size();
        if (now - inc->frontier.size <= kLockedTailLeaves)
            break;
        committed = now;
    }
    // The whole log: no committed row below the horizon is missing from the tree, and the Merkle
    // tables agree with the rows and with the verified point (still without the integrator's
    // lock).  The leaves the catch-up read were checked against the tiles and checkpoints as it
    // went; for those below the verified size, the incremental form (quick_whole_log), and the
    // full walks of every leaf only if it finds anything changed (they name what).
    FaMerkleFinding *lost = static_cast<FaMerkleFinding *>(MemoryContextAllocZero(keep, sizeof(FaMerkleFinding)));
    inc->full_checks = !point_intact || !quick_whole_log(*inc, keep);
    if (inc->full_checks) {
        fa_merkle_check_unintegrated(false, keep, lost);
        fa_merkle_check_tree(false, keep, verified_point, point_intact ? 1 : 0, lost);
    }
    // The last step, under merkle_state's lock (bounded wait): a small batch of what has committed
    // is integrated, the leaves added since the catch-up verified, the point moved.
    int64 size = committed;
    if (go_on && inc->tree_problem == nullptr)
        fa_with_bounded_lock_wait("verify_increment()", [&] {
            fa_merkle_integrate_batch(kIntegrateRows, &size);
            go_on = catch_up(*inc, size, false, *h, keep, batch_cxt, per_row);
        });
    inc->to_size = Max(size, inc->from_size);
    if (go_on && inc->tree_problem == nullptr && inc->frontier.size < inc->to_size)
        tree_problem(*inc, 0, MemoryContextStrdup(keep, psprintf("the Merkle tree has " INT64_FORMAT " leaves, merkle_leaf only " INT64_FORMAT
                                       " (merkle_leaf was altered)", inc->to_size, inc->frontier.size)));
    compare_final_root(*inc, *h, keep);
    close_rows(*inc);
    if (inc->batches > 1)
        fa_progress_end();
    elog(DEBUG1, "verify_increment: %lld rows checked in %lld batches, %lld sleeps of %g ms (forgea_audit.%s), %lld "
         "delay points without a sleep (nobody else wrote WAL), %lld rows read by block range",
         static_cast<long long>(inc->rows), static_cast<long long>(inc->batches), static_cast<long long>(inc->sleeps),
         catchup_delay_ms(), catchup_delay_setting(), static_cast<long long>(inc->skipped),
         static_cast<long long>(inc->heap_rows));
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
