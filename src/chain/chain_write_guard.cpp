#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_write_guard.hpp"

extern "C" {
#include "postgres.h"
#include "access/htup_details.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/rel.h"
}

#include <cstring>

#include "core/chain_verifier.hpp"
#include "pg/boundary.hpp"

forgea::core::RowLink fa_restored_row_content(Relation rel, HeapTuple tuple, forgea::core::Bytes *chain_id);

int fa_chain_write_depth = 0;

// Is op one of the comma-separated operations in the trigger's first argument?
static bool op_allowed_to_writer(const Trigger *trigger, const char *op)
{
    if (trigger->tgnargs < 1)
        return false;
    const char *list = trigger->tgargs[0];
    size_t oplen = strlen(op);
    for (const char *p = list; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? static_cast<size_t>(comma - p) : strlen(p);
        if (len == oplen && strncmp(p, op, len) == 0)
            return true;
        if (comma == nullptr)
            break;
        p = comma + 1;
    }
    return false;
}

namespace {

using forgea::core::Bytes;
using forgea::core::kHashLen;

SPIPlanPtr row_at_plan;   // (chain_id, chain_pos) -> seq, row_hash
SPIPlanPtr tail_plan;     // chain_id -> the last row's chain_pos, seq, row_hash
SPIPlanPtr leaf_plan;     // seq -> whether that audit row exists, and how many leaves there are

SPIPlanPtr keep_plan(const char *sql, int nargs, Oid *types)
{
    SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
    if (plan == nullptr)
        elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
    SPI_keepplan(plan);
    return plan;
}

void prepare_restore_plans()
{
    if (tail_plan != nullptr)
        return;
    Oid types[2] = {TEXTOID, INT8OID};
    row_at_plan = keep_plan("SELECT seq, row_hash FROM forgea_audit.audit_log WHERE chain_id = $1 AND chain_pos = $2",
                            2, types);
    tail_plan = keep_plan("SELECT chain_pos, seq, row_hash FROM forgea_audit.audit_log WHERE chain_id = $1 "
                          "ORDER BY chain_pos DESC LIMIT 1",
                          1, types);
    Oid seq_type[1] = {INT8OID};
    // The next leaf index from the primary key's last entry: count(*) here made restoring n
    // leaves O(n^2).
    leaf_plan = keep_plan("SELECT EXISTS (SELECT 1 FROM forgea_audit.audit_log WHERE seq = $1), "
                          "coalesce((SELECT leaf_index + 1 FROM forgea_audit.merkle_leaf ORDER BY leaf_index DESC LIMIT 1), 0)",
                          1, seq_type);
}

Datum text_datum(Bytes b)
{
    return PointerGetDatum(cstring_to_text_with_len(b.data, static_cast<int>(b.len)));
}

bool is_zero_hash(const uint8 *h)
{
    for (size_t i = 0; i < kHashLen; i++)
        if (h[i] != 0)
            return false;
    return true;
}

[[noreturn]] void refuse_restored(const char *table, const char *why)
{
    ereport(ERROR, (errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
                    errmsg("restoring forgea_audit.%s refused: %s", table, why),
                    errdetail("A superuser may restore the chain tables' rows (pg_restore, psql < dump.sql) only as they "
                              "were appended: each audit_log row must match its own row_hash and link to the row before "
                              "it in its chain, each chain_head row must name its chain's last row."),
                    errhint("Restore from an unaltered dump of the whole extension (pg_dump writes audit_log in seq order, "
                            "before chain_head), into a database where the extension has no rows yet.")));
    pg_unreachable();
}

// A superuser's INSERT into audit_log outside the chain writer: a restore.  The row is accepted if
// it is what the chain writer would have written after the rows already there: its content hashes
// to its row_hash, and it links to the row before it in its chain (or to 32 zero bytes as its
// first row), which has a lower seq.  So a restore in seq order rebuilds a log that verifies, and
// a row that does not verify fails the whole COPY, loudly.
void check_restored_row(Relation rel, HeapTuple tuple)
{
    Bytes chain_id;
    forgea::core::RowLink link = fa_restored_row_content(rel, tuple, &chain_id);
    if (!link.prev_ok || !link.stored_ok)
        refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT ": prev_hash or row_hash is not 32 bytes", link.seq));
    if (!link.content_ok)
        refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT " (chain \"%.*s\" position " INT64_FORMAT
                                              "): its row_hash does not match its content",
                                              link.seq, static_cast<int>(Min(chain_id.len, 200)), chain_id.data,
                                              link.chain_pos));
    if (link.chain_pos == 1) {
        if (!is_zero_hash(link.prev_hash))
            refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT " is the first of chain \"%.*s\" but its "
                                                  "prev_hash is not 32 zero bytes",
                                                  link.seq, static_cast<int>(Min(chain_id.len, 200)), chain_id.data));
        return;
    }
    if (link.chain_pos < 1)
        refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT " has chain position " INT64_FORMAT, link.seq,
                                              link.chain_pos));
    Datum args[2] = {text_datum(chain_id), Int64GetDatum(link.chain_pos - 1)};
    // read_only = false: a fresh command counter, so the rows this COPY inserted before are seen.
    int rc = SPI_execute_plan(row_at_plan, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "restore check failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT " (chain \"%.*s\" position " INT64_FORMAT
                                              ") comes before the row at position " INT64_FORMAT " of its chain",
                                              link.seq, static_cast<int>(Min(chain_id.len, 200)), chain_id.data,
                                              link.chain_pos, link.chain_pos - 1));
    bool isnull;
    int64 prev_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    bytea *prev_hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    if (VARSIZE_ANY_EXHDR(prev_hash) != kHashLen || memcmp(VARDATA_ANY(prev_hash), link.prev_hash, kHashLen) != 0)
        refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT " (chain \"%.*s\" position " INT64_FORMAT
                                              "): its prev_hash is not the row_hash of the row before it (seq " INT64_FORMAT ")",
                                              link.seq, static_cast<int>(Min(chain_id.len, 200)), chain_id.data,
                                              link.chain_pos, prev_seq));
    if (prev_seq >= link.seq)
        refuse_restored("audit_log", psprintf("row seq " INT64_FORMAT " follows seq " INT64_FORMAT " in its chain: "
                                              "seq must grow along a chain",
                                              link.seq, prev_seq));
}

// A superuser's INSERT into chain_head outside the chain writer: a restore, accepted if the head
// names its chain's last restored row, so appends continue where the log ends.
void check_restored_head(Relation rel, HeapTuple tuple)
{
    TupleDesc desc = RelationGetDescr(rel);
    auto column = [&](const char *name, bool *isnull) {
        int attno = SPI_fnumber(desc, name);
        if (attno <= 0)
            elog(ERROR, "forgea_audit.chain_head has no column \"%s\"", name);
        return heap_getattr(tuple, attno, desc, isnull);
    };
    bool null_id, null_length, null_seq, null_hash;
    text *id = DatumGetTextPP(column("chain_id", &null_id));
    int64 length = DatumGetInt64(column("length", &null_length));
    Datum last_seq = column("last_seq", &null_seq);
    bytea *last_hash = DatumGetByteaPP(column("last_hash", &null_hash));
    Bytes chain_id{VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id)};
    const char *what = psprintf("the head of chain \"%.*s\"", static_cast<int>(Min(chain_id.len, 200)), chain_id.data);

    Datum args[1] = {text_datum(chain_id)};
    int rc = SPI_execute_plan(tail_plan, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "restore check failed: %s", SPI_result_code_string(rc));
    bool hash_ok = VARSIZE_ANY_EXHDR(last_hash) == kHashLen;
    // The chain writer creates a head and its first row in one transaction, so a dump holds no
    // head without rows.
    if (SPI_processed == 0)
        refuse_restored("chain_head", psprintf("%s (length " INT64_FORMAT "): the log holds no row of that chain "
                                               "(audit_log is restored before chain_head)", what, length));
    bool isnull;
    int64 tail_pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    int64 tail_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    bytea *tail_hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
    if (length != tail_pos || null_seq || DatumGetInt64(last_seq) != tail_seq || !hash_ok ||
        memcmp(VARDATA_ANY(last_hash), VARDATA_ANY(tail_hash), kHashLen) != 0)
        refuse_restored("chain_head", psprintf("%s (length " INT64_FORMAT ") does not name the chain's last row in the log "
                                               "(position " INT64_FORMAT ", seq " INT64_FORMAT ")",
                                               what, length, tail_pos, tail_seq));
}

// A superuser's INSERT into merkle_leaf: a restore (merkle_leaf is dumped in leaf_index order), accepted
// if the leaf is the next one and names an audit row that is there.
void check_restored_leaf(Relation rel, HeapTuple tuple)
{
    TupleDesc desc = RelationGetDescr(rel);
    bool null_index, null_seq;
    int64 index = DatumGetInt64(heap_getattr(tuple, SPI_fnumber(desc, "leaf_index"), desc, &null_index));
    int64 seq = DatumGetInt64(heap_getattr(tuple, SPI_fnumber(desc, "seq"), desc, &null_seq));
    Datum args[1] = {Int64GetDatum(seq)};
    int rc = SPI_execute_plan(leaf_plan, args, nullptr, false, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "restore check failed: %s", SPI_result_code_string(rc));
    bool isnull;
    bool row_exists = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    int64 leaves = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
    if (index != leaves || !row_exists)
        refuse_restored("merkle_leaf", psprintf("leaf " INT64_FORMAT " (seq " INT64_FORMAT ") is not the next leaf (" INT64_FORMAT
                                                ") of an audit row in the log",
                                                index, seq, leaves));
}

// The restore check, for a superuser's row INSERT that did not come from the chain writer.  The
// Merkle tables (merkle_leaf, merkle_tile, merkle_state, merkle_checkpoint) hold what is derived
// from audit_log (leaf order, subtree hashes, the integrator's position, roots it published): their
// rows are restored as dumped, and verify_chain(checkpoint) recomputes the root over the leaves
// and audit rows against a checkpoint kept outside, which is where a wrong one shows.
void check_restored(TriggerData *td)
{
    const char *table = RelationGetRelationName(td->tg_relation);
    if (strncmp(table, "merkle_", 7) == 0 && strcmp(table, "merkle_leaf") != 0)
        return;
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    prepare_restore_plans();
    if (strcmp(table, "audit_log") == 0)
        check_restored_row(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "chain_head") == 0)
        check_restored_head(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "merkle_leaf") == 0)
        check_restored_leaf(td->tg_relation, td->tg_trigtuple);
    else
        elog(ERROR, "forgea_audit.guard_write() on unexpected table %s", table);
    SPI_finish();
}

}  // namespace

// The trigger function of every guard trigger (see the header): refuses UPDATE, DELETE and
// TRUNCATE, and INSERT except from the extension's own writer (fa_chain_write_depth) or a restore
// in replica mode.
FA_FUNCTION(fa_guard_write, "forgea_audit.guard_write")
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("forgea_audit.guard_write() must be called as a trigger")));
    TriggerData *td = reinterpret_cast<TriggerData *>(fcinfo->context);
    TriggerEvent ev = td->tg_event;
    const char *op = TRIGGER_FIRED_BY_INSERT(ev)   ? "INSERT"
                     : TRIGGER_FIRED_BY_UPDATE(ev) ? "UPDATE"
                     : TRIGGER_FIRED_BY_DELETE(ev) ? "DELETE"
                                                   : "TRUNCATE";
    const char *table = RelationGetRelationName(td->tg_relation);

    if (fa_chain_write_depth > 0 && op_allowed_to_writer(td->tg_trigger, op)) {
        if (!TRIGGER_FIRED_FOR_ROW(ev))
            return PointerGetDatum(nullptr);
        return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newtuple : td->tg_trigtuple);
    }

    // A restore (pg_restore, psql < dump.sql) re-inserts the rows it dumped, as a superuser, in
    // any session_replication_role.  Each row is accepted only if it verifies where it lands
    // (check_restored); everyone else's direct INSERT is refused below.
    if (strcmp(op, "INSERT") == 0 && TRIGGER_FIRED_FOR_ROW(ev) && superuser() &&
        op_allowed_to_writer(td->tg_trigger, op)) {
        check_restored(td);
        return PointerGetDatum(td->tg_trigtuple);
    }

    if (op_allowed_to_writer(td->tg_trigger, op))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("forgea_audit.%s is written only by forgea_audit's own functions: direct %s is refused", table, op),
                        errdetail("A row written directly would carry no valid hash-chain link."),
                        strcmp(op, "INSERT") == 0
                            ? errhint("Append audit events with forgea_audit.append(...) or forgea_audit.record_push(...). "
                                      "To restore a dump, restore it as a superuser: each row is accepted if it verifies.")
                            : errhint("Append audit events with forgea_audit.append(...) or forgea_audit.record_push(...).")));
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("%s on forgea_audit.%s is refused: the audit chain is append-only", op, table),
                    errdetail("%s is refused for every role, the table owner and superusers included.", op),
                    errhint("Audit rows are never changed or removed; record a correcting event with forgea_audit.append(...).")));
    pg_unreachable();
}
