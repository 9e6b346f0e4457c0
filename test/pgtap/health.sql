-- forgea_audit.health (issue 24 item 2): one row a monitoring system reads, granted to the reader,
-- whose every value follows the state it names, and that costs no scan of the audit log, the
-- leaves or the attempts (checked by the scan counters of this very transaction: at 10 M rows a
-- scan would take seconds, an index probe does not).  Without preloading there is no worker here:
-- worker_up is false (test/worker/monitoring.sh sees it true, and the exporter's view of it all).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(17);

DO $$ BEGIN CREATE ROLE fa_health_reader LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT forgea_audit_reader TO fa_health_reader;

SELECT has_view('forgea_audit', 'health', 'forgea_audit.health exists');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
           WHERE attrelid = 'forgea_audit.health'::regclass AND attnum > 0),
          ARRAY['worker_up', 'checkpoint_age_seconds', 'integrator_lag_rows', 'verify_ok', 'verify_age_seconds',
                'retention_backlog_rows', 'rejections_last_hour', 'published_age_seconds', 'published_cosignatures',
                'publish_quorum_missed'],
          'its columns, in the documented order');

-- One read of the view as the reader role, into h (a fresh row each time).
CREATE TEMP TABLE h AS SELECT * FROM forgea_audit.health WITH NO DATA;
GRANT ALL ON h TO fa_health_reader;
CREATE FUNCTION pg_temp.read_health() RETURNS void LANGUAGE plpgsql AS
$$ BEGIN
    TRUNCATE h;
    SET LOCAL ROLE fa_health_reader;
    INSERT INTO h SELECT * FROM forgea_audit.health;
    RESET ROLE;
END $$;

SELECT pg_temp.read_health();
SELECT is((SELECT ARRAY[worker_up::text, coalesce(checkpoint_age_seconds::text, 'null'), integrator_lag_rows::text,
                        coalesce(verify_ok::text, 'null'), coalesce(verify_age_seconds::text, 'null'),
                        retention_backlog_rows::text, rejections_last_hour::text, coalesce(published_age_seconds::text, 'null'),
                        coalesce(published_cosignatures::text, 'null'), coalesce(publish_quorum_missed::text, 'null')]
           FROM h),
          ARRAY['false', 'null', '0', 'null', 'null', '0', '0', 'null', 'null', 'null'],
          'a fresh install, read by the reader: no worker, no checkpoint, nothing to integrate or verify, no backlog');

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-health', 'u-health', 'lab', 'https://github.com/Codertocat/Hello-World', 'IN_PROGRESS', now());
SELECT count(*) FROM fixture_push, forgea_audit.record_push(payload, gen_random_uuid()::text) r;
SELECT forgea_audit.append('HEALTH_TEST', chain => 'health:' || n) FROM generate_series(1, 5) n;

SELECT pg_temp.read_health();
SELECT is((SELECT integrator_lag_rows FROM h), (SELECT count(*) FROM forgea_audit.audit_log),
          'integrator_lag_rows counts every committed audit row that is not a leaf yet');
SELECT ok(forgea_audit.merkle_integrate() > 0, 'merkle_integrate() makes them leaves');
SELECT pg_temp.read_health();
SELECT is((SELECT integrator_lag_rows FROM h), 0::bigint, '... and the lag is 0');

SELECT ok(forgea_audit.checkpoint() IS NOT NULL, 'a checkpoint');
SELECT pg_temp.read_health();
SELECT ok((SELECT checkpoint_age_seconds BETWEEN 0 AND 60 FROM h), 'checkpoint_age_seconds: the checkpoint is seconds old');

SELECT is((SELECT ok FROM forgea_audit.verify_increment()), true, 'verify_increment() holds');
SELECT pg_temp.read_health();
SELECT is((SELECT ARRAY[verify_ok::text, (verify_age_seconds BETWEEN 0 AND 60)::text] FROM h), ARRAY['true', 'true'],
          'verify_ok is true and verify_age_seconds a few seconds once verify_increment() moved its point');

-- What the worker writes when a verification fails (src/worker/worker_loop.cpp): a CHAIN_VERIFY_FAILED row.
SELECT forgea_audit.append_system('CHAIN_VERIFY_FAILED', actor_id => 'forgea_audit.worker', outcome => 'failure',
                                  severity => 'HIGH', chain => 'verification');
SELECT pg_temp.read_health();
SELECT is((SELECT verify_ok FROM h), false, 'a CHAIN_VERIFY_FAILED row after the verified point: verify_ok is false');

-- Retention: an attempt recorded long ago is due.  (Attempts are never updated, the guard refuses
-- it; a superuser inserts one, as a restore does.)
INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
       commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
       payload_sha256, recorded_at)
VALUES ('s-old', gen_random_uuid(), repeat('0', 40), 'refs/heads/main', '{}', '{}', 0, false, false, false, false, false,
        'https://github.com/old/fork', 'github.com/old/fork', sha256('old'::bytea), now() - interval '400 days');
SELECT pg_temp.read_health();
SELECT is((SELECT retention_backlog_rows FROM h),
          (SELECT count(*) FROM forgea_audit.lab_attempt WHERE recorded_at < now() - interval '90 days'),
          'retention_backlog_rows counts the attempts past attempt_retention');
SELECT ok((SELECT retention_backlog_rows FROM h) = 1, '... here the one made old');

SELECT ok(forgea_audit.reject_delivery('signature', gen_random_uuid()::text, sha256('x'), 1) IS NOT NULL,
          'a rejected delivery');
SELECT forgea_audit.reject_delivery('signature', gen_random_uuid()::text, sha256('y'), 1);
SELECT pg_temp.read_health();
SELECT is((SELECT rejections_last_hour FROM h), 2::bigint, 'rejections_last_hour counts both');

-- Cost: reading the view scans none of the large tables (this transaction's scan counters).
CREATE FUNCTION pg_temp.scans_for_health() RETURNS text[] LANGUAGE plpgsql AS
$$
DECLARE before bigint[]; after bigint[];
BEGIN
    SELECT array_agg(coalesce(seq_scan, 0) ORDER BY relname) INTO before FROM pg_stat_xact_user_tables
    WHERE schemaname = 'forgea_audit' AND relname IN ('audit_log', 'merkle_leaf', 'lab_attempt', 'merkle_checkpoint', 'webhook_rejection', 'published_checkpoint');
    PERFORM * FROM forgea_audit.health;
    SELECT array_agg(coalesce(seq_scan, 0) ORDER BY relname) INTO after FROM pg_stat_xact_user_tables
    WHERE schemaname = 'forgea_audit' AND relname IN ('audit_log', 'merkle_leaf', 'lab_attempt', 'merkle_checkpoint', 'webhook_rejection', 'published_checkpoint');
    RETURN ARRAY[before::text, after::text];
END
$$;
SELECT is(s[2], s[1], 'reading health makes no sequential scan of audit_log, merkle_leaf, lab_attempt, merkle_checkpoint, webhook_rejection, published_checkpoint')
FROM pg_temp.scans_for_health() s;
SELECT is((SELECT count(*) FROM pg_stat_xact_user_tables WHERE schemaname = 'forgea_audit'
           AND relname IN ('audit_log', 'merkle_leaf', 'lab_attempt', 'merkle_checkpoint', 'webhook_rejection', 'published_checkpoint')),
          6::bigint, '... (all six are counted)');

SELECT * FROM finish();
