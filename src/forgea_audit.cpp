// The library's entry point (_PG_init), at the top of src/ because it wires every stage below: the
// module magic, the definition of every forgea_audit.* setting (pg/settings.hpp holds their
// variables), and, when the library is preloaded, the background worker's registration.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;
}

#include <climits>
#include <cstring>

#include "pg/boundary.hpp"
#include "pg/progress.hpp"
#include "pg/settings.hpp"
#include "merkle/merkle_integrator.hpp"
#include "worker/launcher.hpp"

namespace {

// forgea_audit.log_origin must be usable as both the origin line and a C2SP signed-note key name:
// printable ASCII without spaces or '+', and schema-less (C2SP tlog-checkpoint: "example.com/log",
// not "https://example.com/log").  Empty is allowed: the default origin.
bool check_log_origin(char **newval, void **extra, GucSource source)
{
    const char *v = *newval;
    if (v == nullptr || v[0] == '\0')
        return true;
    for (const char *c = v; *c != '\0'; c++) {
        unsigned char u = static_cast<unsigned char>(*c);
        if (u <= 0x20 || u >= 0x7f || u == '+') {
            GUC_check_errdetail("The origin may hold no space, control character, non-ASCII byte or \"+\" (it is also "
                                "the signature lines' key name).");
            GUC_check_errhint("Use a schema-less URL, e.g. labs.example.edu/audit.");
            return false;
        }
    }
    if (strstr(v, "://") != nullptr) {
        GUC_check_errdetail("C2SP tlog-checkpoint asks for a schema-less URL as the origin.");
        GUC_check_errhint("Drop the scheme: labs.example.edu/audit, not https://labs.example.edu/audit.");
        return false;
    }
    return true;
}

}  // namespace

// _PG_init: defines every forgea_audit.* setting (so each is in pg_settings with its doc) and,
// when preloaded, registers the background worker.
FA_MODULE_INIT()
{
    DefineCustomStringVariable(
        "forgea_audit.lab_session_table",
        "The platform's lab session table that record_push binds to.",
        "A schema-qualified SQL name (record_push runs with a pinned search_path). "
        "The table needs the columns of the platform's \"LabSession\" (id, userForkUrl, status, "
        "startedAt, lastActivityAt, updatedAt).",
        &fa_lab_session_table, "public.\"LabSession\"", PGC_SUSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.attempt_retention",
        "How long attempts stay in lab_attempt before retention archives them.",
        "Attempts recorded before now() minus this move to lab_attempt_archive.",
        &fa_attempt_retention_s, 90 * 24 * 3600, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.rejection_retention",
        "How long webhook_rejection keeps its per-minute counts before retention sums them into daily ones.",
        "Whole UTC days older than now() minus this become one webhook_rejection_daily row per reason, with a "
        "WEBHOOK_REJECTIONS_ROLLED_UP audit event; the counts are never deleted.",
        &fa_rejection_retention_s, 90 * 24 * 3600, 1, INT_MAX, PGC_SUSET, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.archive_batch_size",
        "How many attempts one retention batch moves.",
        "Each batch deletes and archives its rows in one transaction.",
        &fa_archive_batch_size, 1000, 1, 1000000, PGC_SUSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.retention_interval",
        "How often the background worker runs retention; 0 disables it (e.g. for pg_cron users).",
        nullptr, &fa_retention_interval_s, 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.archive_batch_delay",
        "How long the background worker pauses between two archive batches of a run.",
        "A throttle: the pause leaves CPU and WAL bandwidth to the application while a large backlog is "
        "archived. run_retention() (one transaction) does not pause.",
        &fa_archive_batch_delay_ms, 0, 0, 60 * 1000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);

    DefineCustomEnumVariable(
        "forgea_audit.archive_wal_compression",
        "The wal_compression the background worker's archive batches run with; server: the server's own.",
        "Only the worker's archiving transactions: their full-page images (the first change to each "
        "lab_attempt page after a checkpoint) are most of what archiving adds to the WAL that every "
        "commit waits for. run_retention() runs with the caller's setting.",
        &fa_archive_wal_compression, fa_archive_wal_compression, fa_archive_wal_compression_options, PGC_SIGHUP, 0,
        nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "forgea_audit.database",
        "The database the retention worker connects to.",
        "The worker runs only when forgea_audit is in shared_preload_libraries; on a change it "
        "restarts and connects to the new database.",
        // Not PGC_POSTMASTER: that context can only be defined while preloading, and the library
        // is also loaded on demand by sessions that merely call record_push.
        &fa_worker_database, "postgres", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "forgea_audit.signing_key_file",
        "PEM file with the Ed25519 private key that signs checkpoints; empty for unsigned checkpoints.",
        "Set it in postgresql.conf; the file must be readable by the server only. The key is never stored "
        "in a table.",
        &fa_signing_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "forgea_audit.verify_key_file",
        "PEM file with the Ed25519 public key verify_chain(checkpoint) checks signatures with.",
        "The public half of forgea_audit.signing_key_file (openssl pkey -pubout). verify_chain never reads the "
        "private key file; a signed checkpoint cannot be checked without this setting.",
        &fa_verify_key_file, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "forgea_audit.retired_verify_key_files",
        "PEM files (comma-separated) with the log's earlier Ed25519 public keys, after a key rotation.",
        "verify_chain(checkpoint) accepts a note signed by one of them (under the same key name) as well as by "
        "forgea_audit.verify_key_file's key, and log_vkeys() lists them, so receipts signed before the rotation keep "
        "verifying. New checkpoints are always signed with forgea_audit.signing_key_file.",
        &fa_retired_verify_key_files, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "forgea_audit.signing_key_name",
        "The key name written in checkpoint signature lines (C2SP signed note).",
        nullptr, &fa_signing_key_name, "forgea_audit", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    DefineCustomStringVariable(
        "forgea_audit.log_origin",
        "The transparency log's origin (a schema-less URL, e.g. labs.example.edu/audit): the first line of every new "
        "checkpoint and the key name of its signature line.",
        "Empty: the origin forgea_audit/<system identifier>/<database> and the key name forgea_audit.signing_key_name. "
        "See docs/publishing.md for moving an existing log to a configured origin.",
        &fa_log_origin, "", PGC_SIGHUP, 0, check_log_origin, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.checkpoint_interval",
        "How often the background worker makes a checkpoint; 0 disables it.",
        nullptr, &fa_checkpoint_interval_s, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.verify_interval",
        "How often the background worker runs verify_increment() (the rows added since its last pass); a failure "
        "becomes a HIGH CHAIN_VERIFY_FAILED event (and an alert). 0 disables it.",
        nullptr, &fa_verify_interval_s, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.verify_full_interval",
        "How often the background worker runs the full verify_chain() (every row, also those verified before); a "
        "failure becomes a HIGH CHAIN_VERIFY_FAILED event (and an alert). 0 disables it.",
        nullptr, &fa_verify_full_interval_s, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.worker_nice",
        "The nice value (CPU priority, 0-19) the background worker runs at; 0: the postmaster's.",
        "The worker's passes (retention, catch-up, checkpoints) are background work: at a higher nice value they run "
        "at full speed on idle CPU and yield a busy one to other processes. Only the worker process is reniced; "
        "lowering the value restarts the worker (an unprivileged process cannot lower its own nice value). With the "
        "kernel's autogroups, the worker's autogroup gets the same nice value.",
        &fa_worker_nice, kDefaultWorkerNice, 0, 19, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.max_metadata_bytes",
        "Audit metadata (canonical JSON) larger than this is replaced by a marker with its size and SHA-256.",
        nullptr, &fa_max_metadata_bytes, 65536, 256, 64 * 1024 * 1024, PGC_SUSET, GUC_UNIT_BYTE, nullptr, nullptr,
        nullptr);

    // Read by reject_delivery() (SQL), after it has loaded the library: a placeholder a non-superuser
    // SET before is then dropped, so the cap is the operator's.
    DefineCustomIntVariable(
        "forgea_audit.rejected_audit_per_minute",
        "How many rejected webhook deliveries per reason and minute get their own audit row.",
        "reject_delivery() counts every rejected delivery in webhook_rejection; beyond this many per minute and "
        "reason (4 shards, whose shares add up to exactly this), it only counts them.",
        &fa_rejected_audit_per_minute, 60, 4, 1000000, PGC_SUSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.progress_rows",
        "How often (in rows read) verify_chain() reports its progress.",
        "Each report replaces the calling backend's pg_stat_activity.query with \"forgea_audit progress: ...\" "
        "(view forgea_audit.progress), and is a NOTICE too when forgea_audit.progress_notices is on.",
        &fa_progress_rows, 100000, 1, INT_MAX, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    DefineCustomIntVariable(
        "forgea_audit.verify_workers",
        "How many parallel workers verify_chain() asks for (0: it reads the log alone).",
        "-1: one per CPU the server may run on beyond the caller's (its CPU affinity, as nproc counts them; "
        "none on one CPU), at most max_parallel_workers_per_gather, once audit_log is at least "
        "min_parallel_table_scan_size, none below it. The workers come from max_parallel_workers; the caller "
        "reads too unless parallel_leader_participation is off.",
        &fa_verify_workers, -1, -1, 64, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    DefineCustomRealVariable(
        "forgea_audit.catchup_delay",
        "How long a session's verify_increment() catch-up sleeps after every 1,000 rows it checks; 0 disables it.",
        "A cost delay as vacuum_cost_delay's: the catch-up leaves CPU to record_push. The worker's passes use "
        "forgea_audit.worker_catchup_delay.",
        &fa_catchup_delay_ms, 0, 0, 100, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);

    DefineCustomRealVariable(
        "forgea_audit.worker_catchup_delay",
        "How long the background worker's verify_increment() catch-up sleeps after every 1,000 rows it checks; "
        "-1 uses forgea_audit.catchup_delay.",
        "As autovacuum_vacuum_cost_delay: the worker's catch-up is background work and leaves CPU to record_push.",
        &fa_worker_catchup_delay_ms, kDefaultWorkerCatchupDelayMs, -1, 100, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);

    DefineCustomBoolVariable(
        "forgea_audit.catchup_delay_always",
        "Whether verify_increment()'s catch-up sleeps its delay even when nobody else writes WAL.",
        "Off: after every 1,000 rows it sleeps forgea_audit.catchup_delay (worker_catchup_delay in the worker) only "
        "if the WAL's insert position moved since the last such point (writers are committing); alone it runs at "
        "full speed. On: it always sleeps.",
        &fa_catchup_delay_always, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    DefineCustomBoolVariable(
        "forgea_audit.catchup_pause_point",
        "Let verify_increment()'s catch-up wait between batches while pg_advisory_lock(7381244102691586071) is held.",
        "A pause point for tests (at most 60 s per pass). Off: nobody can delay a pass with the lock.",
        &fa_catchup_pause_point, false, PGC_SUSET, 0, nullptr, nullptr, nullptr);

    DefineCustomBoolVariable(
        "forgea_audit.progress_notices",
        "Send verify_chain()'s and run_retention()'s progress reports to the caller as NOTICEs too.",
        nullptr, &fa_progress_notices, false, PGC_USERSET, 0, nullptr, nullptr, nullptr);

    // Read by the row-level security policy on audit_log, not by C code.
    DefineCustomStringVariable(
        "forgea_audit.tenant",
        "The tenant whose audit rows a forgea_audit_reader sees in this session.",
        "A reader sees rows of this tenant only if forgea_audit.reader_tenant grants it that tenant.",
        &fa_reader_tenant, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);

    fa_define_merkle_settings();  // before the prefix is reserved: a value set in postgresql.conf must survive
    MarkGUCPrefixReserved("forgea_audit");

    if (process_shared_preload_libraries_in_progress)
        fa_register_retention_worker();
}
