// The variables behind the forgea_audit.* settings (pg/settings.hpp), with their compiled-in
// defaults, and the two values derived from them.  _PG_init (src/forgea_audit.cpp) defines the
// settings over these variables.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/guc.h"
}

#include "pg/settings.hpp"

char *fa_lab_session_table = nullptr;
int fa_attempt_retention_s = 90 * 24 * 3600;
int fa_rejection_retention_s = 90 * 24 * 3600;
int fa_archive_batch_size = 1000;
int fa_retention_interval_s = 3600;
int fa_archive_batch_delay_ms = 0;
// lz4 where the server has it: a 1,000-row batch's full-page images (the first change to each
// lab_attempt page after a checkpoint, 39% of its WAL) shrink by half, at ~2% of its CPU
// (docs/benchmarks.md, "Retention at 8 clients").
#ifdef USE_LZ4
int fa_archive_wal_compression = 3;
#else
int fa_archive_wal_compression = 0;
#endif
// The names are wal_compression's own (and only those this server was built with), passed to it
// as they are; "server" leaves it alone.
const struct config_enum_entry fa_archive_wal_compression_options[] = {
    {"server", 0, false},
    {"off", 1, false},
    {"pglz", 2, false},
#ifdef USE_LZ4
    {"lz4", 3, false},
#endif
#ifdef USE_ZSTD
    {"zstd", 4, false},
#endif
    {nullptr, 0, false}};
char *fa_worker_database = nullptr;
char *fa_signing_key_file = nullptr;
char *fa_reader_tenant = nullptr;
char *fa_signing_key_name = nullptr;
char *fa_log_origin = nullptr;
char *fa_verify_key_file = nullptr;
char *fa_retired_verify_key_files = nullptr;
int fa_checkpoint_interval_s = 0;
int fa_verify_interval_s = 0;
bool fa_catchup_pause_point = false;
int fa_verify_workers = -1;
double fa_catchup_delay_ms = 0;
double fa_worker_catchup_delay_ms = 0;
bool fa_catchup_delay_always = false;
int fa_verify_full_interval_s = 0;
int fa_worker_nice = kDefaultWorkerNice;
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
