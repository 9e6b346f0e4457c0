// The variables behind the forgea_audit.* settings (pg/settings.hpp), with their compiled-in
// defaults, and the two values derived from them.  _PG_init (src/forgea_audit.cpp) defines the
// settings over these variables.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
}

#include "pg/settings.hpp"

char *fa_lab_session_table = nullptr;
int fa_attempt_retention_s = 90 * 24 * 3600;
int fa_rejection_retention_s = 90 * 24 * 3600;
int fa_archive_batch_size = 1000;
int fa_retention_interval_s = 3600;
int fa_archive_batch_delay_ms = 0;
char *fa_worker_database = nullptr;
char *fa_signing_key_file = nullptr;
char *fa_reader_tenant = nullptr;
char *fa_signing_key_name = nullptr;
char *fa_log_origin = nullptr;
char *fa_verify_key_file = nullptr;
int fa_checkpoint_interval_s = 0;
int fa_verify_interval_s = 0;
int fa_verify_full_interval_s = 0;
int fa_max_metadata_bytes = 65536;
int fa_rejected_audit_per_minute = 60;

// See settings.hpp.
char *fa_checkpoint_origin()
{
    if (fa_log_origin != nullptr && fa_log_origin[0] != '\0')
        return pstrdup(fa_log_origin);
    return psprintf("forgea_audit/" UINT64_FORMAT "/%s", GetSystemIdentifier(), get_database_name(MyDatabaseId));
}

// See settings.hpp.
const char *fa_note_key_name()
{
    return fa_log_origin != nullptr && fa_log_origin[0] != '\0' ? fa_log_origin : fa_signing_key_name;
}
