#include "pg/core_headers.hpp"  // first: see there

#include "pg/key_lookup.hpp"

extern "C" {
#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
}

namespace {

Oid own_relation(const char *name)
{
    Oid relid = get_relname_relid(name, get_namespace_oid("forgea_audit", false));
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("forgea_audit.%s does not exist", name),
                        errhint("The installed library and the extension's SQL objects differ: run ALTER EXTENSION "
                                "forgea_audit UPDATE, or reinstall the matching version.")));
    return relid;
}

}  // namespace

// Resolved by name on every call (two syscache lookups): an extension dropped and created again in
// the same backend gets new OIDs, and nothing here is cached to go stale.
AttrNumber fa_column(const FaKey &spec, const char *column)
{
    AttrNumber attno = get_attnum(own_relation(spec.table), column);
    if (attno == InvalidAttrNumber)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("forgea_audit.%s has no column %s", spec.table, column),
                        errhint("The installed library and the extension's SQL objects differ: run ALTER EXTENSION "
                                "forgea_audit UPDATE, or reinstall the matching version.")));
    return attno;
}

bool fa_read_by_key(const FaKey &spec, Datum key, FaRowReader read, void *arg)
{
    Oid relid = own_relation(spec.table);
    Oid indexid = own_relation(spec.index);
    AttrNumber attno = fa_column(spec, spec.column);

    CommandCounterIncrement();
    Snapshot snapshot = RegisterSnapshot(GetTransactionSnapshot());
    Relation rel = table_open(relid, AccessShareLock);
    ScanKeyData skey;
    ScanKeyInit(&skey, attno, BTEqualStrategyNumber, spec.equal, key);
    // indexOK: the scan goes through indexid (systable_beginscan maps the column to the index's).
    SysScanDesc scan = systable_beginscan(rel, indexid, true, snapshot, 1, &skey);
    HeapTuple tuple = systable_getnext(scan);
    bool found = HeapTupleIsValid(tuple);
    if (found)
        read(tuple, RelationGetDescr(rel), arg);
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    UnregisterSnapshot(snapshot);
    return found;
}
