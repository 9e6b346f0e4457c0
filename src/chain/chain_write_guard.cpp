#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_write_guard.hpp"
#include "merkle/merkle_restore.hpp"

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
#include "pg/datum_read.hpp"
#include "pg/spi_plan.hpp"

forgea::core::RowLink fa_restored_row_content(Relation rel, HeapTuple tuple, forgea::core::Bytes *chain_id);

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

// The restore check's two statements, prepared once per backend and kept together (fa_keep_plans:
// both or neither, so a failed prepare leaves no kept plan behind to pile up on every retry).
void prepare_restore_plans()
{
    if (tail_plan != nullptr)
        return;
    static const Oid types[2] = {TEXTOID, INT8OID};
    static const FaPlanSpec specs[2] = {
        {"SELECT seq, row_hash FROM forgea_audit.audit_log WHERE chain_id = $1 AND chain_pos = $2", 2, types},
        {"SELECT chain_pos, seq, row_hash FROM forgea_audit.audit_log WHERE chain_id = $1 ORDER BY chain_pos DESC LIMIT 1",
         1, types},
    };
    SPIPlanPtr kept[2];
    fa_keep_plans(specs, 2, kept, "the restore check of the chain tables");
    row_at_plan = kept[0];
    tail_plan = kept[1];
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
    FaRow prev_row = fa_spi_row(0, "the restore check's previous-row query");
    int64 prev_seq = fa_get<SqlInt8>(prev_row, 1);
    bytea *prev_hash = fa_get<SqlBytea>(prev_row, 2);
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
    // Every column the check reads is looked at for NULL first: a head without the ones NOT NULL
    // in chain_head is refused (23502, naming the column) before anything else is read.
    FaRow row = fa_row(RelationGetDescr(rel), tuple, "forgea_audit.chain_head");
    text *id = fa_get<SqlText>(row, "chain_id");
    int64 length = fa_get<SqlInt8>(row, "length");
    int64 last_seq = 0;
    bool has_last_seq = fa_get_opt<SqlInt8>(row, "last_seq", &last_seq);  // NULL for a head of no row
    bytea *last_hash = fa_get<SqlBytea>(row, "last_hash");
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
    FaRow tail = fa_spi_row(0, "the restore check's chain tail query");
    int64 tail_pos = fa_get<SqlInt8>(tail, 1);
    int64 tail_seq = fa_get<SqlInt8>(tail, 2);
    bytea *tail_hash = fa_get<SqlBytea>(tail, 3);
    if (length != tail_pos || !has_last_seq || last_seq != tail_seq || !hash_ok || VARSIZE_ANY_EXHDR(tail_hash) != kHashLen ||
        memcmp(VARDATA_ANY(last_hash), VARDATA_ANY(tail_hash), kHashLen) != 0)
        refuse_restored("chain_head", psprintf("%s (length " INT64_FORMAT ") does not name the chain's last row in the log "
                                               "(position " INT64_FORMAT ", seq " INT64_FORMAT ")",
                                               what, length, tail_pos, tail_seq));
}

// The restore check, for a superuser's row INSERT that did not come from the chain writer: the
// chain tables here, the Merkle tables in merkle_restore.cpp.  Returns the row to store.
HeapTuple check_restored(TriggerData *td)
{
    const char *table = RelationGetRelationName(td->tg_relation);
    if (strncmp(table, "merkle_", 7) == 0)
        return fa_check_restored_merkle(td);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    prepare_restore_plans();
    if (strcmp(table, "audit_log") == 0)
        check_restored_row(td->tg_relation, td->tg_trigtuple);
    else if (strcmp(table, "chain_head") == 0)
        check_restored_head(td->tg_relation, td->tg_trigtuple);
    else
        elog(ERROR, "forgea_audit.guard_write() on unexpected table %s", table);
    SPI_finish();
    return td->tg_trigtuple;
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
        return PointerGetDatum(check_restored(td));
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

// forgea_audit.end_unchecked_restore(target text, verb text), called by the DDL guard on
// ALTER TABLE ... DISABLE/ENABLE TRIGGER on one of the extension's tables while the log has no
// row: that is pg_restore --data-only --disable-triggers (or a plain dump made with it) about to
// load rows with the restore checks off.  An ERROR would not do: pg_restore and psql go on after
// one, so the COPY that follows would still run (checked, the guards being on) and so would the
// ENABLE TRIGGER ALL after it (turning the ENABLE ALWAYS guards into ordinary ones).  FATAL ends
// the session before any row of that restore is written, and says which restore works.
//
// Only then: a superuser who calls it directly (SELECT forgea_audit.end_unchecked_restore(...))
// gets an ERROR and keeps the session.  The function checks the two things the guard checked
// before calling it, which no direct call can make true: the statement running is an ALTER TABLE
// that disables or enables triggers (current_query(), the guard's own test, anchored at the
// start so a SELECT that merely mentions one is not it) and the log has no row.
FA_FUNCTION(fa_end_unchecked_restore, "forgea_audit.end_unchecked_restore")
{
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int rc = SPI_execute("SELECT NOT EXISTS (SELECT 1 FROM forgea_audit.audit_log) AND pg_catalog.current_query() ~* "
                         "'^\\s*ALTER\\s+TABLE\\M.*\\m(DISABLE|ENABLE)\\s+(ALWAYS\\s+|REPLICA\\s+)?TRIGGER\\M'",
                         true, 1);
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
        elog(ERROR, "end_unchecked_restore: its check failed: %s", SPI_result_code_string(rc));
    bool ends = false;
    if (!fa_get_opt<SqlBool>(fa_spi_row(0, "end_unchecked_restore's check"), 1, &ends))
        ends = false;
    SPI_finish();
    if (!ends)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("forgea_audit.end_unchecked_restore() is called only by forgea_audit's DDL guard"),
                        errdetail("It ends the session of a restore that switches the guard triggers off (ALTER TABLE ... "
                                  "DISABLE/ENABLE TRIGGER on the extension's tables while the log has no row); the "
                                  "statement running is not such an ALTER TABLE, or the log has rows.  Nothing was done "
                                  "and the session goes on."),
                        errhint("There is nothing to call: the DDL guard (forgea_audit.guard_ddl) calls it when needed.")));

    text *target_arg, *verb_arg;
    const char *target = fa_arg_opt<SqlText>(fcinfo, 0, &target_arg) ? text_to_cstring(target_arg) : "a forgea_audit table";
    const char *verb = fa_arg_opt<SqlText>(fcinfo, 1, &verb_arg) ? text_to_cstring(verb_arg) : "DISABLE";
    ereport(FATAL, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("ALTER TABLE %s %s TRIGGER is refused: it would restore forgea_audit's rows unchecked", target, verb),
                    errdetail("The guard triggers check every row a restore writes to audit_log, chain_head and the Merkle "
                              "tables; pg_restore --disable-triggers switches them off around each table's rows, and this "
                              "statement's own AUDIT_DDL row would take the seq of the first row restored.  The session "
                              "is ended so that nothing of this restore is written."),
                    errhint("Restore without --disable-triggers (pg_restore --data-only, or psql -f dump.sql): the guards "
                            "accept every row that verifies, in any session_replication_role.")));
    PG_RETURN_VOID();
}
