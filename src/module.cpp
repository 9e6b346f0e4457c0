// Library entry: the module magic and the settings every part of the extension reads.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

#include "settings.hpp"

char *fa_lab_session_table = nullptr;

extern "C" void _PG_init(void)
{
    DefineCustomStringVariable(
        "forgea_audit.lab_session_table",
        "The platform's lab session table that record_push binds to.",
        "An SQL name, optionally schema-qualified, resolved with the caller's search_path. "
        "The table needs the columns of the platform's \"LabSession\" (id, userForkUrl, status, "
        "startedAt, lastActivityAt, updatedAt).",
        &fa_lab_session_table, "\"LabSession\"", PGC_SUSET, 0, nullptr, nullptr, nullptr);

    MarkGUCPrefixReserved("forgea_audit");
}
