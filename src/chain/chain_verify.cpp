// forgea_audit.verify_chain([checkpoint]): recompute every link of every chain (docs/chain.md,
// section 4), and, given a checkpoint kept outside the database, check that every row it sealed
// is still there unchanged (docs/checkpoints.md).
//
// One sequential pass over audit_log's heap, in the caller's snapshot, with the chain heads loaded
// beside it.  Each row's content is checked against its own row_hash as it is read; its link to
// the row before it waits, if need be, until that row has been read (core::ChainInOrder), so the
// log is read once, in physical order, through a ring buffer, without an index or SPI tuple
// copies (docs/benchmarks.md has the profile that led here).  The checks themselves are
// core::ChainWalker, which the offline verifier runs too.  With forgea_audit.verify_workers, parallel
// workers share the heap scan and check the rows' content, and this backend links them (see "The
// parallel pass" below; the verdict stays the serial one).  Problems do not stop the pass: the
// result names the lowest seq at which anything is wrong and counts the rest.  Then, in the same
// snapshot, the Merkle tables against the log (merkle_check.cpp): no committed row below the
// horizon left out, leaves, tiles and checkpoints recomputed from the rows' row_hash.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/parallel.h"
#include "access/relscan.h"
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
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
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
#include "core/slab_arena.hpp"
#include "core/chain_verifier.hpp"
#include "core/sha256.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/huge_pages.hpp"
#include "pg/sha256.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"
#include "pg/progress.hpp"
#include "pg/settings.hpp"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

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

// The chain table's slabs (core/slab_arena.hpp) from a memory context (the pass's), which raises
// on out-of-memory; those of a huge page or more start on a huge page's boundary, in huge pages
// (pg/huge_pages.hpp).  Freed with the context.
class ContextBlocks final : public forgea::core::BlockSource {
public:
    explicit ContextBlocks(MemoryContext cxt) : cxt_(cxt) {}
    void *block(std::size_t bytes) override
    {
        return bytes < kFaHugePageBytes ? MemoryContextAlloc(cxt_, bytes) : fa_alloc_huge_page_aligned(cxt_, bytes);
    }

private:
    MemoryContext cxt_;
};
FA_LIVES_ACROSS_PG_CALLS(ContextBlocks);
// The pass's arena: its block source and the slabs cut from it, allocated together.
struct ContextArena {
    ContextBlocks blocks;
    forgea::core::SlabArena slabs;
    explicit ContextArena(MemoryContext cxt) : blocks(cxt), slabs(blocks) {}
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

// A row the scan read and encoded, waiting for its hash: the scans hash rows two at a time
// (core sha256_pair: two interleaved compressions are ~2x the throughput of one on SHA-NI).  Its
// encoding and chain id are copies (the row's detoasted values are freed row after row).
struct PendingRow {
    forgea::core::RowLink link;  // all but the hash checks (core row_link_of)
    StringInfoData encoding;     // the bytes row_hash covers (core encode_record_v1)
    StringInfoData chain_id;
    bool stored_ok = false;      // row_hash is kHashLen bytes, copied into stored
    uint8 stored[kHashLen] = {};
};
FA_LIVES_ACROSS_PG_CALLS(PendingRow);

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
    int64 rows_read = 0;         // for the progress reports
    double estimate = 0;         // the planner's idea of the total
    PendingRow pending[2];       // the scans' rows, read and encoded, hashed two at a time
    int npending = 0;
    FaTreeWalk *walk = nullptr;  // the Merkle walk the parallel pass's leader advances as rows arrive
};
FA_LIVES_ACROSS_PG_CALLS(Pass);

// The pending rows' buffers, in the current memory context (the pass's).
void init_pending(Pass &p)
{
    for (PendingRow &r : p.pending) {
        initStringInfo(&r.encoding);
        initStringInfo(&r.chain_id);
    }
    p.npending = 0;
}

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
void read_record(const FaRow &row, Pass &p, forgea::core::AuditRecord &rec, bytea **stored, int *version)
{
    const AttrNumber *a = p.attnums;

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
    *stored = fa_get<SqlBytea>(row, a[18]);
    *version = fa_get<SqlInt2>(row, a[19]);
}

// One row's content checked at once (the restore check, verify_increment()'s SPI rows).
forgea::core::RowLink row_content(const FaRow &row, Pass &p, Bytes *chain_id)
{
    forgea::core::AuditRecord rec;
    bytea *stored;
    int version;
    read_record(row, p, rec, &stored, &version);
    *chain_id = rec.chain_id;
    return forgea::core::check_row_content(
        rec, reinterpret_cast<const uint8 *>(VARDATA_ANY(stored)), VARSIZE_ANY_EXHDR(stored), version, p.hasher);
}

// One row read and encoded into the next pending slot (its hash comes with the next row's).
void pend_row(const FaRow &row, Pass &p)
{
    PendingRow &r = p.pending[p.npending];
    forgea::core::AuditRecord rec;
    bytea *stored;
    int version;
    read_record(row, p, rec, &stored, &version);
    r.link = forgea::core::row_link_of(rec, version);
    resetStringInfo(&r.encoding);
    size_t bound = forgea::core::encoded_length_bound_v1(rec);
    if (bound >= MaxAllocSize)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("audit row %lld is too large to verify", static_cast<long long>(rec.seq))));
    enlargeStringInfo(&r.encoding, static_cast<int>(bound));
    r.encoding.len = static_cast<int>(forgea::core::encode_record_v1_into(rec, reinterpret_cast<uint8 *>(r.encoding.data)));
    Assert(static_cast<size_t>(r.encoding.len) <= bound);
    resetStringInfo(&r.chain_id);
    appendBinaryStringInfoNT(&r.chain_id, rec.chain_id.data, static_cast<int>(rec.chain_id.len));
    r.stored_ok = VARSIZE_ANY_EXHDR(stored) == kHashLen;
    if (r.stored_ok)
        memcpy(r.stored, VARDATA_ANY(stored), kHashLen);
    p.npending++;
}

// Hashes the pending rows (two at once, or the last one alone) and hands each, in the order they
// were read, to emit(link, chain_id).
template <typename Emit>
void settle_pending(Pass &p, Emit emit)
{
    if (p.npending == 0)
        return;
    uint8 computed[2][kHashLen];
    PendingRow *r = p.pending;
    if (p.npending == 2)
        forgea::core::sha256_pair(r[0].encoding.data, r[0].encoding.len, computed[0], r[1].encoding.data,
                                  r[1].encoding.len, computed[1]);
    else
        forgea::core::sha256(r[0].encoding.data, r[0].encoding.len, computed[0]);
    for (int i = 0; i < p.npending; i++) {
        forgea::core::settle_row_content(r[i].link, computed[i], r[i].stored_ok ? r[i].stored : nullptr,
                                         r[i].stored_ok ? kHashLen : 0);
        emit(r[i].link, Bytes{r[i].chain_id.data, static_cast<size_t>(r[i].chain_id.len)});
    }
    p.npending = 0;
}

// A row's link, its content checked (here or in a parallel worker): its row_hash kept for the
// Merkle checks, then handed to its chain's reorder buffer, since the heap is not in chain order.
void link_row(Pass &p, Bytes chain_id, const forgea::core::RowLink &link)
{
    if (p.log != nullptr)
        fa_log_hashes_add(p.log, link.seq, link.stored_ok ? link.hash : nullptr);

    bool added;
    forgea::core::ChainInOrder *c = p.chains->find_or_add(chain_id, &added);
    if (added) {
        int64 s = p.sealed.find(c->chain_id);
        c->walker.start_chain(c->chain_id, s >= 0 ? &p.sealed.heads[s] : nullptr);
    }
    c->add(link, p.arena->slabs, p.problems);
}

// The pending rows hashed and linked (this process's own rows).
void link_pending(Pass &p)
{
    settle_pending(p, [&p](const forgea::core::RowLink &link, Bytes chain_id) { link_row(p, chain_id, link); });
}

// Progress, every forgea_audit.progress_rows rows, against the planner's estimate of the total.
void count_row(Pass &p)
{
    if (++p.rows_read % fa_progress_rows != 0)
        return;
    char *what = p.estimate > 0 ? psprintf("verify_chain: %lld rows read of about %.0f", static_cast<long long>(p.rows_read), p.estimate)
                                : psprintf("verify_chain: %lld rows read", static_cast<long long>(p.rows_read));
    fa_progress_report(what);
    pfree(what);
}

// Checks, in this process, the rows a scan hands out (the whole heap, or this process's share of
// a parallel scan), at most limit of them (-1: all); returns how many.
int64 scan_rows(TableScanDesc scan, TupleTableSlot *slot, Pass &p, MemoryContext per_row, int64 limit)
{
    int64 n = 0;
    for (; limit < 0 || n < limit; n++) {
        if (!table_scan_getnextslot(scan, ForwardScanDirection, slot))
            break;
        CHECK_FOR_INTERRUPTS();
        count_row(p);
        FaRow row = fa_slot_row(slot, "forgea_audit.audit_log");
        MemoryContext old = MemoryContextSwitchTo(per_row);
        pend_row(row, p);
        MemoryContextSwitchTo(old);
        MemoryContextReset(per_row);  // detoasted values (the pending row holds copies)
        if (p.npending == 2)
            link_pending(p);
    }
    link_pending(p);
    return n;
}

// ---- The parallel pass (forgea_audit.verify_workers) ----
//
// The content checks (canonical JSON, SHA-256 of each row's encoding) need no order and are most
// of the work; the links need each chain's rows in chain_pos order, and are cheap.  So workers
// share one parallel heap scan (PostgreSQL's: block chunks handed out in turn, in the leader's
// snapshot) and check each row's content; each sends what the link checks need of a row (a
// RowLink and the chain id, ~100 bytes) to the leader through its own shm_mq, in batches.  The
// leader links them exactly as the serial pass links its own rows, and, unless
// parallel_leader_participation is off, takes blocks of the same scan itself between batches.
// The workers run no user-controlled code: a heap scan of a relation OID, this file's readers
// and the core's hashing, nothing looked up by name (no operator, function or cast); PostgreSQL
// starts them as the leader's user and security context with its settings, so search_path is
// verify_chain()'s pinned one.

constexpr uint64 kKeyShared = UINT64CONST(0xFA0A7E0000000001);
constexpr uint64 kKeyScan = UINT64CONST(0xFA0A7E0000000002);
constexpr uint64 kKeyQueues = UINT64CONST(0xFA0A7E0000000003);
constexpr Size kQueueBytes = 4 * 1024 * 1024;  // per worker: ~40,000 rows, what a worker sends while the leader reads the
                                                // heads and the leaf map (scan_parallel_launch)
constexpr int kBatchBytes = 64 * 1024;     // a worker sends its rows in messages of about this size
constexpr int64 kLeaderRows = 256;         // the leader's own rows between two looks at the queues

struct VerifyShared {
    Oid relid;
};

// One row on the wire: what RowLink holds, then chain_id_len bytes of chain id.
struct WireRow {
    int64 seq;
    int64 chain_pos;
    uint32 chain_id_len;
    int16 hash_version;
    uint8 flags;  // 1 prev_ok, 2 stored_ok, 4 content_ok
    uint8 pad;
    uint8 prev_hash[kHashLen];
    uint8 hash[kHashLen];
};

// Appends one checked row to a worker's batch.
void put_wire_row(StringInfo out, const forgea::core::RowLink &link, Bytes chain_id)
{
    WireRow w;
    w.seq = link.seq;
    w.chain_pos = link.chain_pos;
    w.chain_id_len = static_cast<uint32>(chain_id.len);
    w.hash_version = static_cast<int16>(link.hash_version);
    w.flags = static_cast<uint8>((link.prev_ok ? 1 : 0) | (link.stored_ok ? 2 : 0) | (link.content_ok ? 4 : 0));
    w.pad = 0;
    memcpy(w.prev_hash, link.prev_hash, kHashLen);
    memcpy(w.hash, link.hash, kHashLen);
    appendBinaryStringInfoNT(out, reinterpret_cast<const char *>(&w), sizeof w);
    if (chain_id.len > 0)
        appendBinaryStringInfoNT(out, chain_id.data, static_cast<int>(chain_id.len));
}

// Links the rows of one worker's message, in the order the worker read them.
void link_batch(Pass &p, const char *data, Size nbytes)
{
    Size at = 0;
    while (at < nbytes) {
        WireRow w;
        if (nbytes - at < sizeof w)
            elog(ERROR, "verify_chain: a parallel worker sent a truncated row");
        memcpy(&w, data + at, sizeof w);
        at += sizeof w;
        if (nbytes - at < w.chain_id_len)
            elog(ERROR, "verify_chain: a parallel worker sent a truncated row");
        forgea::core::RowLink link;
        link.seq = w.seq;
        link.chain_pos = w.chain_pos;
        link.hash_version = w.hash_version;
        link.prev_ok = (w.flags & 1) != 0;
        link.stored_ok = (w.flags & 2) != 0;
        link.content_ok = (w.flags & 4) != 0;
        memcpy(link.prev_hash, w.prev_hash, kHashLen);
        memcpy(link.hash, w.hash, kHashLen);
        Bytes chain_id{data + at, w.chain_id_len};
        at += w.chain_id_len;
        count_row(p);
        link_row(p, chain_id, link);
    }
}

// Links every message waiting in the workers' queues; returns whether there was any.  A queue
// whose worker has detached (done, or failed: WaitForParallelWorkersToFinish then raises its
// error) is dropped once it is empty.
bool drain_queues(Pass &p, shm_mq_handle **queues, int n, int *active)
{
    bool any = false;
    for (int i = 0; i < n; i++) {
        while (queues[i] != nullptr) {
            Size nbytes;
            void *data;
            shm_mq_result r = shm_mq_receive(queues[i], &nbytes, &data, true);
            if (r == SHM_MQ_WOULD_BLOCK)
                break;
            if (r == SHM_MQ_DETACHED) {
                queues[i] = nullptr;
                (*active)--;
                break;
            }
            any = true;
            link_batch(p, static_cast<const char *>(data), nbytes);
            CHECK_FOR_INTERRUPTS();
        }
    }
    return any;
}

// The path of this library as loaded, for the workers to load the same file (a build loaded
// from elsewhere than $libdir, as bench/verify.sh does, runs its own code in its workers).
const char *this_library()
{
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&link_batch), &info) == 0 || info.dli_fname == nullptr)
        return "forgea_audit";
    return info.dli_fname;
}

// The CPUs this backend may run on (its affinity mask, inherited from the postmaster unless
// someone pinned it: what nproc counts), at least 1; the online CPUs if the mask cannot be read.
int cpus_available()
{
    for (int ncpus = CPU_SETSIZE; ncpus <= (1 << 16); ncpus *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpus);
        if (set == nullptr)
            break;
        size_t size = CPU_ALLOC_SIZE(ncpus);
        CPU_ZERO_S(size, set);
        int rc = sched_getaffinity(0, size, set);
        int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        int err = errno;
        CPU_FREE(set);
        if (rc == 0)
            return Max(n, 1);
        if (err != EINVAL)  // EINVAL: the kernel's mask is larger than ours
            break;
    }
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? static_cast<int>(Min(online, static_cast<long>(INT_MAX))) : 1;
}

// How many workers to ask for (forgea_audit.verify_workers); 0: read alone.  The default (-1) asks
// for one per CPU beyond the leader's, at most max_parallel_workers_per_gather: the leader reads
// blocks too, and a worker more than the CPUs made the call slower, not faster (two workers on
// two CPUs were 0.95-0.97x of one: docs/benchmarks.md, "verify_chain, round 4").
int workers_for(Relation rel)
{
    if (fa_verify_workers == 0 || IsInParallelMode() || max_parallel_workers == 0)
        return 0;
    if (fa_verify_workers > 0)
        return fa_verify_workers;
    if (RelationGetNumberOfBlocks(rel) < static_cast<BlockNumber>(min_parallel_table_scan_size))
        return 0;
    return Min(max_parallel_workers_per_gather, cpus_available() - 1);
}

// The Merkle walk (merkle_check.cpp) over the leaves whose rows have been read: in the parallel
// pass, the leader walks between batches, while the workers still scan, instead of alone after
// the scan (it was ~30% of the leader's time, with the workers idle).  Only while the map is
// usable: if it is not at the end, verify_chain() discards the walk and runs it by SQL.
void advance_walk(Pass &p)
{
    if (p.walk != nullptr && p.log != nullptr && p.log->usable)
        fa_merkle_walk_advance(p.walk, false);
}

// A parallel pass launched and not yet run (see scan_parallel_run).
struct ParallelScan {
    ParallelContext *pcxt = nullptr;
    ParallelTableScanDesc pscan = nullptr;
    shm_mq_handle **queues = nullptr;
    int nworkers = 0;  // asked for
    int launched = 0;
    int active = 0;  // queues still attached
};
FA_LIVES_ACROSS_PG_CALLS(ParallelScan);

// Starts the parallel pass over rel (see above): the workers begin to scan at once, while this
// backend still reads what it needs before it links (the chain heads, the Merkle leaf map: ~10%
// of a call at 400k rows, during which the other core was idle).  What they send meanwhile waits
// in their queues, which hold that much (kQueueBytes).  Leaves the backend in parallel mode; the
// leader's SPI reads until scan_parallel_run are read only, in the same snapshot.
ParallelScan *scan_parallel_launch(Relation rel, Snapshot snapshot, int nworkers, MemoryContext keep)
{
    EnterParallelMode();
    ParallelContext *pcxt = CreateParallelContext(this_library(), "fa_verify_worker_main", nworkers);
    Size scan_bytes = table_parallelscan_estimate(rel, snapshot);
    shm_toc_estimate_chunk(&pcxt->estimator, sizeof(VerifyShared));
    shm_toc_estimate_chunk(&pcxt->estimator, scan_bytes);
    shm_toc_estimate_chunk(&pcxt->estimator, mul_size(kQueueBytes, nworkers));
    shm_toc_estimate_keys(&pcxt->estimator, 3);
    InitializeParallelDSM(pcxt);  // without a DSM segment, pcxt->nworkers becomes 0

    auto *shared = static_cast<VerifyShared *>(shm_toc_allocate(pcxt->toc, sizeof(VerifyShared)));
    shared->relid = RelationGetRelid(rel);
    shm_toc_insert(pcxt->toc, kKeyShared, shared);
    auto pscan = static_cast<ParallelTableScanDesc>(shm_toc_allocate(pcxt->toc, scan_bytes));
    table_parallelscan_initialize(rel, pscan, snapshot);
    // From block 0, not where another scan of the log last was (synchronized scans): the leader's
    // Merkle walk takes the leaves in leaf order, that is about heap order, as their rows arrive,
    // and a scan starting in the middle left it waiting until the scan wrapped around, then with
    // the leaves of the blocks read first still to walk after the workers were done (15-20 ms of
    // a 0.4 s call with one core idle, depending on where the last scan stopped).
    pscan->phs_syncscan = false;
    shm_toc_insert(pcxt->toc, kKeyScan, pscan);
    char *queue_space = nullptr;
    if (pcxt->nworkers > 0) {
        queue_space = static_cast<char *>(shm_toc_allocate(pcxt->toc, mul_size(kQueueBytes, pcxt->nworkers)));
        for (int i = 0; i < pcxt->nworkers; i++)
            shm_mq_set_receiver(shm_mq_create(queue_space + i * kQueueBytes, kQueueBytes), MyProc);
        shm_toc_insert(pcxt->toc, kKeyQueues, queue_space);
    }
    LaunchParallelWorkers(pcxt);

    auto *ps = static_cast<ParallelScan *>(MemoryContextAllocZero(keep, sizeof(ParallelScan)));
    new (ps) ParallelScan();
    ps->pcxt = pcxt;
    ps->pscan = pscan;
    ps->nworkers = nworkers;
    ps->launched = pcxt->nworkers_launched;
    ps->queues = static_cast<shm_mq_handle **>(MemoryContextAllocZero(keep, Max(ps->launched, 1) * sizeof(shm_mq_handle *)));
    MemoryContext old = MemoryContextSwitchTo(keep);
    for (int i = 0; i < ps->launched; i++)
        ps->queues[i] = shm_mq_attach(reinterpret_cast<shm_mq *>(queue_space + i * kQueueBytes), pcxt->seg,
                                      pcxt->worker[i].bgwhandle);
    MemoryContextSwitchTo(old);
    ps->active = ps->launched;
    return ps;
}

// Links what the workers have sent so far, between the leader's reads before its own share (the
// queues then have room again).  Nothing if no parallel pass runs.
void scan_parallel_drain(ParallelScan *ps, Pass &p)
{
    if (ps != nullptr)
        drain_queues(p, ps->queues, ps->launched, &ps->active);
}

// The rest of the parallel pass: afterwards p holds what the serial pass would have (every row's
// content checked and linked, the Merkle map filled).
void scan_parallel_run(Relation rel, ParallelScan *ps, Pass &p, MemoryContext per_row)
{
    ParallelContext *pcxt = ps->pcxt;
    int launched = ps->launched;
    shm_mq_handle **queues = ps->queues;
    int nworkers = ps->nworkers;

    // The leader's share, with a look at the queues every kLeaderRows rows (so that no worker
    // waits long on a full queue); alone if no worker could be launched.
    int64 leader_rows = 0;
    bool leader_reads = parallel_leader_participation || launched == 0;
    if (leader_reads) {
        TupleTableSlot *slot = table_slot_create(rel, nullptr);
        TableScanDesc scan = table_beginscan_parallel(rel, ps->pscan);
        for (;;) {
            int64 n = scan_rows(scan, slot, p, per_row, kLeaderRows);
            leader_rows += n;
            drain_queues(p, queues, launched, &ps->active);
            advance_walk(p);
            if (n < kLeaderRows)
                break;
        }
        table_endscan(scan);
        ExecDropSingleTupleTableSlot(slot);
    }
    while (ps->active > 0) {
        if (drain_queues(p, queues, launched, &ps->active)) {
            advance_walk(p);
            continue;
        }
        if (ps->active == 0)
            break;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, WAIT_EVENT_MQ_RECEIVE);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    WaitForParallelWorkersToFinish(pcxt);  // raises a worker's error, if one failed
    DestroyParallelContext(pcxt);
    ExitParallelMode();
    elog(DEBUG1, "verify_chain: parallel pass with %d of %d workers%s: %lld rows, %lld of them checked by the workers; "
         "%lld Merkle leaves walked during the scan",
         launched, nworkers, leader_reads ? " and the leader" : "", static_cast<long long>(p.rows_read),
         static_cast<long long>(p.rows_read - leader_rows),
         static_cast<long long>(p.walk != nullptr ? fa_merkle_walk_leaves(p.walk) : 0));
}

// After a pass: every chain's end against its head, then the heads and sealed heads no chain
// reached; returns the rows the chains hold.
int64 finish_chains(Pass &p)
{
    int64 rows = 0;
    for (size_t i = 0; i < p.chains->size(); i++) {
        forgea::core::ChainInOrder &c = p.chains->at(i);
        end_chain(c, p);
        rows += c.walker.rows();
    }
    for (int64 i = 0; i < p.heads.count; i++)
        if (!p.heads.seen[i])
            forgea::core::report_chain_removed(p.heads.heads[i], p.problems);
    for (int64 i = 0; i < p.sealed.count; i++)
        if (!p.sealed.seen[i])
            forgea::core::report_sealed_chain_missing(p.sealed.heads[i], p.problems);
    return rows;
}

// audit_log opened for the pass, and the parallel pass launched if there is one (scan_log_begin).
struct LogScan {
    Relation rel = nullptr;
    int nworkers = 0;
    ParallelScan *parallel = nullptr;  // nullptr: the serial pass only
};
FA_LIVES_ACROSS_PG_CALLS(LogScan);

// Opens audit_log for the pass, with the checks the executor would make, and launches the
// parallel workers (forgea_audit.verify_workers) so that they scan while this backend reads the
// heads and the leaf map (scan_log_end does the rest).
LogScan scan_log_begin(Pass &p, MemoryContext keep)
{
    LogScan s;
    s.rel = table_openrv(makeRangeVar(const_cast<char *>("forgea_audit"), const_cast<char *>("audit_log"), -1),
                         AccessShareLock);
    Relation rel = s.rel;
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
    p.estimate = rel->rd_rel->reltuples;
    p.rows_read = 0;
    s.nworkers = workers_for(rel);
    if (s.nworkers > 0)
        s.parallel = scan_parallel_launch(rel, GetActiveSnapshot(), s.nworkers, keep);
    return s;
}

// Reads every row of audit_log visible to the caller's snapshot, in physical order (the serial
// pass), or shared out to parallel workers (forgea_audit.verify_workers).  A parallel pass that
// found a problem in the chains is followed by the serial pass, whose verdict is the one given:
// the parallel pass links each chain's rows in the same chain_pos order, but they arrive in
// another order, which (in a damaged log only: duplicate positions, two problems at one seq)
// could word or count the problems differently.  So the verdict stays byte for byte the serial
// one, and a clean log, the case that matters for speed, is read once.  The Merkle map the
// parallel pass filled is the same in any order and is kept.
int64 scan_log_end(LogScan &s, Pass &p, MemoryContext per_row, MemoryContext keep)
{
    Relation rel = s.rel;
    int nworkers = s.nworkers;
    bool serial = true;
    int64 rows = 0;
    if (s.parallel != nullptr) {
        scan_parallel_run(rel, s.parallel, p, per_row);
        rows = finish_chains(p);
        serial = p.problems.count() > 0;
        elog(DEBUG1, "verify_chain: the parallel pass found %lld problems, first at seq %lld%s",
             static_cast<long long>(p.problems.count()), static_cast<long long>(p.problems.first_seq()),
             serial ? "; the serial pass words the verdict" : "");
    }
    if (serial && nworkers > 0) {
        new (&p.problems) forgea::core::FirstProblem();
        MemoryContext old = MemoryContextSwitchTo(keep);
        p.chains = new (palloc(sizeof(forgea::core::ChainTable))) forgea::core::ChainTable(p.arena->slabs);
        MemoryContextSwitchTo(old);
        memset(p.heads.seen, 0, Max(p.heads.count, 1) * sizeof(bool));
        if (p.sealed.seen != nullptr)
            memset(p.sealed.seen, 0, Max(p.sealed.count, 1) * sizeof(bool));
        p.log = nullptr;
        p.rows_read = 0;
    }
    if (serial) {
        TupleTableSlot *slot = table_slot_create(rel, nullptr);
        TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, nullptr);
        scan_rows(scan, slot, p, per_row, -1);
        table_endscan(scan);
        ExecDropSingleTupleTableSlot(slot);
        rows = finish_chains(p);
        if (nworkers > 0)
            elog(DEBUG1, "verify_chain: the serial pass found %lld problems, first at seq %lld",
                 static_cast<long long>(p.problems.count()), static_cast<long long>(p.problems.first_seq()));
    }
    table_close(rel, AccessShareLock);
    if (p.rows_read >= fa_progress_rows)
        fa_progress_end();
    return rows;
}

}  // namespace

// Sends a worker's batch of rows to the leader.
static void send_batch(shm_mq_handle *queue, StringInfo batch)
{
    if (batch->len == 0)
        return;
    if (shm_mq_send(queue, batch->len, batch->data, false, true) != SHM_MQ_SUCCESS)
        ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN), errmsg("verify_chain: the leader stopped reading")));
    resetStringInfo(batch);
}

// A parallel worker of verify_chain() (see scan_parallel_launch): its share of the leader's heap scan,
// each row's content checked here, and what the links need sent to the leader.  An error here
// reaches the leader as its own ERROR (PostgreSQL's parallel infrastructure carries it).
FA_PARALLEL_MAIN(fa_verify_worker_main)
{
    auto *shared = static_cast<VerifyShared *>(shm_toc_lookup(toc, kKeyShared, false));
    auto pscan = static_cast<ParallelTableScanDesc>(shm_toc_lookup(toc, kKeyScan, false));
    char *queue_space = static_cast<char *>(shm_toc_lookup(toc, kKeyQueues, false));
    shm_mq *mq = reinterpret_cast<shm_mq *>(queue_space + ParallelWorkerNumber * kQueueBytes);
    shm_mq_set_sender(mq, MyProc);
    shm_mq_handle *queue = shm_mq_attach(mq, seg, nullptr);

    Relation rel = table_open(shared->relid, AccessShareLock);
    Pass *p = static_cast<Pass *>(palloc0(sizeof(Pass)));
    new (p) Pass();
    map_columns(RelationGetDescr(rel), *p);
    initStringInfo(&p->metadata);
    initStringInfo(&p->proof);
    init_pending(*p);
    MemoryContext per_row = AllocSetContextCreate(CurrentMemoryContext, "forgea_audit verify row", ALLOCSET_DEFAULT_SIZES);
    StringInfoData batch;
    initStringInfo(&batch);
    enlargeStringInfo(&batch, kBatchBytes + 1024);

    TupleTableSlot *slot = table_slot_create(rel, nullptr);
    TableScanDesc scan = table_beginscan_parallel(rel, pscan);
    while (table_scan_getnextslot(scan, ForwardScanDirection, slot)) {
        CHECK_FOR_INTERRUPTS();
        FaRow row = fa_slot_row(slot, "forgea_audit.audit_log");
        MemoryContext old = MemoryContextSwitchTo(per_row);
        pend_row(row, *p);
        MemoryContextSwitchTo(old);
        MemoryContextReset(per_row);  // detoasted values (the pending row holds copies)
        if (p->npending == 2)
            settle_pending(*p, [&batch](const forgea::core::RowLink &link, Bytes chain_id) { put_wire_row(&batch, link, chain_id); });
        if (batch.len >= kBatchBytes)
            send_batch(queue, &batch);
    }
    settle_pending(*p, [&batch](const forgea::core::RowLink &link, Bytes chain_id) { put_wire_row(&batch, link, chain_id); });
    send_batch(queue, &batch);
    table_endscan(scan);
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, AccessShareLock);
    p->hasher.reset();
    shm_mq_detach(queue);
}

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
    init_pending(rh->pass);
    new (&rh->pass.hasher) forgea::core::Sha256();
    MemoryContextSwitchTo(old);
    return rh;
}

forgea::core::RowLink fa_row_hasher_check(FaRowHasher *rh, const FaRow &row, Bytes *chain_id)
{
    return row_content(row, rh->pass, chain_id);
}

// See chain_verify.hpp: pend_row / settle_pending for verify_increment()'s rows (two rows' SHA-256
// interleaved, as verify_chain()'s scans hash them).
int fa_row_hasher_pend(FaRowHasher *rh, const FaRow &row)
{
    Pass &p = rh->pass;
    Assert(p.npending < 2);
    pend_row(row, p);
    return p.npending;
}

int fa_row_hasher_settle(FaRowHasher *rh, forgea::core::RowLink links[2], Bytes chain_ids[2])
{
    int n = 0;
    settle_pending(rh->pass, [&](const forgea::core::RowLink &link, Bytes chain_id) {
        links[n] = link;
        chain_ids[n] = chain_id;
        n++;
    });
    return n;
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
    fa_huge_page_bytes_advised(true);

    Pass *p = static_cast<Pass *>(MemoryContextAllocZero(keep, sizeof(Pass)));
    new (p) Pass();
    MemoryContextSwitchTo(keep);
    p->arena = new (palloc(sizeof(ContextArena))) ContextArena(keep);
    p->chains = new (palloc(sizeof(forgea::core::ChainTable))) forgea::core::ChainTable(p->arena->slabs);
    initStringInfo(&p->metadata);
    initStringInfo(&p->proof);
    init_pending(*p);
    MemoryContextSwitchTo(caller);

    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");

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
    FaLogHashes *log = p->log;
    // audit_log opened and the workers launched first: they scan while this backend reads the
    // heads and the leaf map (the same snapshot: SPI's read-only reads take the active one).
    // Then the leaf map (the same snapshot; the order of the two reads changes nothing in the
    // map), so that the tree walk can start while the scan runs: it walks the leaves in leaf
    // order as their rows arrive (the parallel pass's leader, between batches) and finishes after
    // the scan.  From the scan's map, the tree walk meets a transparency-log checkpoint's root as
    // one more target: a walk that finds nothing at all has checked everything the checkpoint's
    // own walk would (the leaves up to its size there, each row there, each stored leaf hash
    // equal, the root equal), so that walk runs only if something was found, to give its answer
    // as before.
    LogScan scan = scan_log_begin(*p, keep);
    p->heads = load_heads(keep);
    scan_parallel_drain(scan.parallel, *p);
    fa_log_hashes_read_leaves(p->log);
    scan_parallel_drain(scan.parallel, *p);
    FaMerkleFinding *walk = static_cast<FaMerkleFinding *>(MemoryContextAllocZero(keep, sizeof(FaMerkleFinding)));
    if (p->log->usable) {
        FaMerkleRoot *target = nullptr;
        if (tree_checkpoint) {
            target = static_cast<FaMerkleRoot *>(MemoryContextAllocZero(keep, sizeof(FaMerkleRoot)));
            target->size = cp->body.size;
            memcpy(target->root, cp->body.root, kHashLen);
            target->what = "the checkpoint given";
        }
        MemoryContext old = MemoryContextSwitchTo(keep);
        p->walk = fa_merkle_walk_begin(true, keep, target, target != nullptr ? 1 : 0, walk, p->log);
        MemoryContextSwitchTo(old);
    }
    int64 rows = scan_log_end(scan, *p, per_row, keep);
    p->log = log;
    p->hasher.reset();
    // The walk stands if the map stayed usable to the end (it then gives what the walk after the
    // scan gave); otherwise its findings are dropped and the walks below run by SQL, as before.
    bool walked = false;
    if (p->walk != nullptr && p->log->usable) {
        MemoryContext old = MemoryContextSwitchTo(keep);
        fa_merkle_walk_end(p->walk);
        MemoryContextSwitchTo(old);
        walked = true;
    } else if (p->walk != nullptr) {
        *walk = FaMerkleFinding{};
    }
    p->walk = nullptr;
    // The Merkle tables against the rows just read (same snapshot), and a transparency-log
    // checkpoint: the root over its first tree_size leaves, recomputed from the rows' row_hash; if
    // that fails, it is the whole answer.
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
    elog(DEBUG1, "verify_chain: huge pages asked for %zu kB of its arrays (the Merkle map, the chain table)",
         static_cast<size_t>(fa_huge_page_bytes_advised(true) / 1024));
    put_result(rsinfo, count == 0, rows, count > 0 && first_seq != 0, first_seq, detail);
    MemoryContextDelete(keep);
    return (Datum) 0;
}
