// forgea_audit.* settings (GUCs).  The variables are in settings.cpp, their definitions as settings
// in _PG_init (src/forgea_audit.cpp); documented in docs/operations.md "Settings".
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "utils/guc.h"
}

// The platform's session table, as a possibly schema-qualified SQL name.  Superuser-only: whoever
// points it elsewhere decides which "sessions" pushes are recorded against.
extern char *fa_lab_session_table;

// Retention (worker/retention_archive.cpp, archive_batch() and run_retention() in SQL).
extern int fa_attempt_retention_s;   // attempts older than this are archived
extern int fa_rejection_retention_s; // webhook_rejection minutes older than this are summed per day
extern int fa_archive_batch_size;    // rows per batch (one transaction each in the worker)
extern int fa_retention_interval_s;  // worker period; 0 = the worker does not archive
extern int fa_archive_batch_delay_ms; // worker pause between two batches of a run
// The wal_compression the worker's archive batches run with (an index into
// fa_archive_wal_compression_options; 0 = "server": the server's own setting).
extern int fa_archive_wal_compression;
extern const struct config_enum_entry fa_archive_wal_compression_options[];
extern char *fa_worker_database;     // the database the worker serves

// Checkpoints (chain/chain_checkpoint.cpp).
extern char *fa_signing_key_file;    // PEM Ed25519 private key; empty: checkpoints are unsigned
extern char *fa_verify_key_file;     // PEM Ed25519 public key verify_chain(checkpoint) checks with
// The log's earlier public keys (PEM files, comma-separated) whose notes verify_chain(checkpoint)
// still accepts after a rotation, and that log_vkeys() lists (docs/witnesses.md).
extern char *fa_retired_verify_key_files;
extern char *fa_signing_key_name;    // the key's name in signature lines
extern char *fa_log_origin;          // the log's origin (and key name); empty: the default origin below

// The origin line of a new checkpoint: forgea_audit.log_origin, or when it is empty the default of
// 0.2.0, "forgea_audit/<system identifier>/<database>" (so existing checkpoints keep theirs).  palloc'd.
char *fa_checkpoint_origin();

// The key name of the log's signature lines: forgea_audit.log_origin when set (C2SP
// tlog-checkpoint: the key name is the origin), else forgea_audit.signing_key_name.
const char *fa_note_key_name();
extern int fa_checkpoint_interval_s; // worker period for checkpoint(); 0 = never
extern int fa_verify_interval_s;     // worker period for verify_increment(); 0 = never
extern int fa_verify_full_interval_s; // worker period for the full verify_chain(); 0 = never
// The nice value the background worker runs at (forgea_audit.worker_nice, worker/worker_loop.cpp): it is
// background work and yields the CPU to record_push's backends; 0 = the postmaster's priority.
extern int fa_worker_nice;
constexpr int kDefaultWorkerNice = 0;
// Whether verify_increment()'s catch-up honours its pause point (tests stop it there); superuser-only,
// off by default, so no other session can delay the worker's passes with an advisory lock.
extern bool fa_catchup_pause_point;
// verify_chain()'s parallel workers (forgea_audit.verify_workers): 0 = one process, -1 = one per CPU
// beyond the caller's (its affinity mask), at most max_parallel_workers_per_gather, once audit_log
// reaches min_parallel_table_scan_size, n = n workers.
extern int fa_verify_workers;
// How long verify_increment()'s catch-up sleeps after every kCatchupDelayRows rows it checks
// (VACUUM's cost delay, for the same reason: background work that must leave the CPU to the
// writers); 0: no sleep.  Not in the last, locked step.  As vacuum_cost_delay and
// autovacuum_vacuum_cost_delay: a session's call uses the first (default 0: a DBA's call runs at
// full speed), the background worker's passes the second (-1: the first).
extern double fa_catchup_delay_ms;
extern double fa_worker_catchup_delay_ms;
// Off (the default): a delay point sleeps only if somebody wrote WAL since the last one (writers are
// committing); on: after every kCatchupDelayRows rows whatever else runs (before 0.3.0).
extern bool fa_catchup_delay_always;
constexpr int kCatchupDelayRows = 1000;
// The worker's default, from bench/catchup.sh (docs/benchmarks.md, "Catch-up").
constexpr double kDefaultWorkerCatchupDelayMs = 10;

// Audit metadata (chain/chain_append.cpp).
extern int fa_max_metadata_bytes;
// Rejected deliveries (reject_delivery() in SQL reads it by name).
extern int fa_rejected_audit_per_minute;    // larger metadata is replaced by a marker with its size and digest
// The tenant a reader's session asks for (the row-level security policy on audit_log reads it by name).
extern char *fa_reader_tenant;
