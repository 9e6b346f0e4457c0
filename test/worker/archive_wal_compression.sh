#!/usr/bin/env bash
# forgea_audit.archive_wal_compression, in a cluster started with
#   shared_preload_libraries = 'forgea_audit', forgea_audit.database = postgres,
#   forgea_audit.retention_interval = 1s, forgea_audit.archive_batch_size = 10, wal_compression = off
# (test/run_tests.sh): the worker's archive batches run with wal_compression = lz4 (the default,
# where the server has lz4) while every other session keeps the server's off; 'server' leaves the
# server's setting; run_retention() runs with its caller's.  A statement trigger on
# lab_attempt_archive records the setting each batch's INSERT ran with, and pg_walinspect shows the
# full-page images of the worker's batches compressed.  No row is lost either way.  Waits poll with
# a deadline (a hang becomes a failure); nothing asserts on time.
set -uo pipefail
cd "$FA_ROOT"
export PGDATABASE=postgres
. test/lib/checks.sh

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
CREATE EXTENSION pg_walinspect;
CREATE TABLE public.seen (batch serial, setting text, backend_type text);
CREATE FUNCTION public.note_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.seen (setting, backend_type)
    SELECT pg_catalog.current_setting('wal_compression'), a.backend_type
    FROM pg_catalog.pg_stat_activity a WHERE a.pid = pg_catalog.pg_backend_pid();
    RETURN NULL;
END $$;
CREATE TRIGGER note_setting AFTER INSERT ON forgea_audit.lab_attempt_archive
    FOR EACH STATEMENT EXECUTE FUNCTION public.note_setting();
-- expired attempts, recorded 100 days ago; n of them, ids after the existing ones
CREATE TABLE public.inserted (n int);
CREATE FUNCTION public.expire(n int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO public.inserted VALUES (n);
    INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
           commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url,
           repository_key, payload_sha256, recorded_at)
    SELECT 'sess-old', gen_random_uuid(), repeat('a', 40), 'refs/heads/main', ARRAY['README.md'],
           '{"added": [], "modified": ["README.md"], "removed": []}', 1, false, false, false, false, false,
           'https://github.com/old/fork', 'github.com/old/fork', sha256(g::text::bytea),
           now() - interval '100 days' + g * interval '1 s'
    FROM generate_series(1, n) g $$;
SQL

check "the server's wal_compression is off" "$(q postgres "SHOW wal_compression")" off
check "archive_wal_compression defaults to lz4" "$(q postgres "SHOW forgea_audit.archive_wal_compression")" lz4

# run_retention() runs with its caller's setting, whatever archive_wal_compression says (the
# worker does not archive yet: retention_interval starts at 0).
q postgres "SELECT public.expire(5)" >/dev/null
check "run_retention() archives 5" "$(q postgres "SELECT archived FROM forgea_audit.run_retention()")" 5
check "with its caller's wal_compression (off)" \
    "$(q postgres "SELECT string_agg(setting || ' ' || backend_type, ', ') FROM public.seen")" "off client backend"

# The worker, with the default: 25 rows in 3 batches, the first change to their lab_attempt page
# after a CHECKPOINT (so it writes a full-page image).
q postgres "TRUNCATE public.seen" >/dev/null
q postgres "SELECT public.expire(25)" >/dev/null
q postgres "CHECKPOINT" >/dev/null
lsn0=$(q postgres "SELECT pg_current_wal_insert_lsn()")
q postgres "ALTER SYSTEM SET forgea_audit.retention_interval = '1s'" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
eventually "the worker archives the 25 expired attempts" \
    "SELECT count(*) = 30 FROM forgea_audit.lab_attempt_archive" 60
lsn1=$(q postgres "SELECT pg_current_wal_insert_lsn()")
check "its three batches ran with wal_compression = lz4" \
    "$(q postgres "SELECT string_agg(setting || ' ' || backend_type, ', ' ORDER BY batch) FROM public.seen")" \
    "lz4 forgea_audit retention, lz4 forgea_audit retention, lz4 forgea_audit retention"
check "the full-page images its batches wrote of lab_attempt's pages are lz4-compressed, none plain" \
    "$(q postgres "SELECT count(*) FILTER (WHERE block_ref ~ 'FPW.*lz4') || ' ' || count(*) FILTER (WHERE block_ref ~ 'FPW' AND block_ref !~ 'lz4')
                   FROM pg_get_wal_records_info('$lsn0', '$lsn1')
                   WHERE block_ref ~ ('rel \\d+/\\d+/' || pg_relation_filenode('forgea_audit.lab_attempt') || ' ')
                     AND resource_manager = 'Heap'")" "1 0"
check "other sessions still run with the server's off" "$(q postgres "SHOW wal_compression")" off

# 'server': the worker leaves wal_compression alone (once it has read the setting: each try adds
# one expired attempt when none is left and looks at the newest batch's setting).
q postgres "ALTER SYSTEM SET forgea_audit.archive_wal_compression = 'server'" >/dev/null
q postgres "SELECT pg_reload_conf()" >/dev/null
q postgres "CREATE FUNCTION public.probe() RETURNS boolean LANGUAGE plpgsql AS \$\$
    BEGIN
        IF NOT EXISTS (SELECT FROM forgea_audit.lab_attempt) THEN PERFORM public.expire(1); END IF;
        RETURN coalesce((SELECT setting = 'off' FROM public.seen ORDER BY batch DESC LIMIT 1), false);
    END \$\$" >/dev/null
eventually "with 'server' the worker's batches run with the server's off" "SELECT public.probe()" 60

check "no row lost: live + archived = every expired attempt inserted, none in both" \
    "$(q postgres "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt_archive) + (SELECT count(*) FROM forgea_audit.lab_attempt)
                   || ' ' || (SELECT count(*) FROM forgea_audit.lab_attempt JOIN forgea_audit.lab_attempt_archive USING (id))")" \
    "$(q postgres "SELECT sum(n) || ' 0' FROM public.inserted")"
check "verify_archive" "$(q postgres "SELECT ok FROM forgea_audit.verify_archive()")" t
check "verify_chain" "$(q postgres "SELECT ok FROM forgea_audit.verify_chain()")" t

echo "archive_wal_compression (worker): $failures failure(s)"
[ "$failures" -eq 0 ]
