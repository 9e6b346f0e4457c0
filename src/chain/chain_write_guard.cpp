#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_write_guard.hpp"

extern "C" {
#include "postgres.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/rel.h"
}

#include <cstring>

#include "pg/boundary.hpp"

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

    // A restore (pg_restore into a fresh database) re-inserts the rows it dumped.  It may do so
    // in replica mode, which only superusers can enter; verify_chain() then checks what came in.
    bool restoring = SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA && strcmp(op, "INSERT") == 0;
    if ((fa_chain_write_depth > 0 || restoring) && op_allowed_to_writer(td->tg_trigger, op)) {
        if (!TRIGGER_FIRED_FOR_ROW(ev))
            return PointerGetDatum(nullptr);
        return PointerGetDatum(TRIGGER_FIRED_BY_UPDATE(ev) ? td->tg_newtuple : td->tg_trigtuple);
    }

    if (op_allowed_to_writer(td->tg_trigger, op))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("forgea_audit.%s is written only by forgea_audit's own functions: direct %s is refused", table, op),
                        errdetail("A row written directly would carry no valid hash-chain link."),
                        strcmp(op, "INSERT") == 0
                            ? errhint("Append audit events with forgea_audit.append(...) or forgea_audit.record_push(...). "
                                      "To restore a dump, restore as a superuser with session_replication_role = replica "
                                      "(or pg_restore --disable-triggers), then run forgea_audit.verify_chain().")
                            : errhint("Append audit events with forgea_audit.append(...) or forgea_audit.record_push(...).")));
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("%s on forgea_audit.%s is refused: the audit chain is append-only", op, table),
                    errdetail("%s is refused for every role, the table owner and superusers included.", op),
                    errhint("Audit rows are never changed or removed; record a correcting event with forgea_audit.append(...).")));
    pg_unreachable();
}
