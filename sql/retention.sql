-- Retention by hand (the pg_cron path): run_retention(as_of) moves exactly the attempts recorded
-- before as_of - forgea_audit.attempt_retention, in batches, each with a RETENTION_ARCHIVE event;
-- archived attempts stay queryable and stay duplicates.
SELECT attempt_retention, archive_batch_size FROM forgea_audit.retention_settings();

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-ret', 'user-3', 'lab-2', 'https://github.com/retention/fork', 'IN_PROGRESS', '2026-01-01');
-- 25 pushes.
SELECT count(*) AS recorded FROM generate_series(1, 25) g,
     forgea_audit.record_push(jsonb_build_object('ref', 'refs/heads/main', 'after', lpad(to_hex(g), 40, '0'),
                                                 'repository', jsonb_build_object('html_url', 'https://github.com/retention/fork'),
                                                 'commits', jsonb_build_array(jsonb_build_object('added', jsonb_build_array('f' || g)))),
                              format('0000feed-0000-4000-8000-%s', lpad(g::text, 12, '0'))) r
WHERE r.status = 'recorded';

SELECT count(*) AS live_before FROM forgea_audit.lab_attempt \gset
SET forgea_audit.archive_batch_size = 10;

-- Nothing is due 89 days from now (default retention: 90 days).
SELECT archived, batches, skipped FROM forgea_audit.run_retention(now() + interval '89 days');
-- Everything recorded so far is due 91 days from now: moved in batches of 10.
SELECT archived, batches, skipped, oldest_kept IS NULL AS none_left FROM forgea_audit.run_retention(now() + interval '91 days');
SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) AS live_after,
       (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = :live_before AS all_archived_once,
       (SELECT count(DISTINCT id) FROM forgea_audit.lab_attempt_archive) = :live_before AS no_id_twice;
-- A second run finds nothing more.
SELECT archived, batches FROM forgea_audit.run_retention(now() + interval '91 days');

-- Each batch is an audit event with count, id range and digest; verify_archive checks them.
SELECT chain_id, chain_pos, metadata->'count' AS count, metadata ? 'rows_sha256' AS has_digest,
       (metadata->>'first_id')::bigint <= (metadata->>'last_id')::bigint AS id_range
FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE' ORDER BY seq;
SELECT * FROM forgea_audit.verify_archive();
SELECT ok FROM forgea_audit.verify_chain();

-- Archived attempts stay queryable, and a redelivery of an archived delivery is a duplicate.
SELECT archived, count(*) FROM forgea_audit.lab_attempt_all GROUP BY archived ORDER BY archived;
SELECT status, attempt_id = (SELECT id FROM forgea_audit.lab_attempt_archive
                             WHERE delivery_id = '0000feed-0000-4000-8000-000000000007') AS same_attempt
FROM forgea_audit.record_push(jsonb_build_object('ref', 'refs/heads/main', 'after', lpad(to_hex(7), 40, '0'),
                                                 'repository', jsonb_build_object('html_url', 'https://github.com/retention/fork'),
                                                 'commits', jsonb_build_array(jsonb_build_object('added', jsonb_build_array('f7')))),
                              '0000feed-0000-4000-8000-000000000007');

-- Every run is in retention_status.
SELECT driver, archived, batches, skipped, error, finished_at >= started_at AS finished
FROM forgea_audit.retention_status WHERE cutoff > now() ORDER BY id;

-- An archived row changed after the fact is caught by verify_archive.  (The guard refuses the
-- UPDATE; a superuser who switches it off first, as here, is what verify_archive is for.)
BEGIN;
ALTER TABLE forgea_audit.lab_attempt_archive DISABLE TRIGGER lab_attempt_archive_guard_statements;
UPDATE forgea_audit.lab_attempt_archive SET commit_sha = repeat('f', 40) WHERE delivery_id = '0000feed-0000-4000-8000-000000000003';
SELECT ok, first_bad_seq = (SELECT archive_seq FROM forgea_audit.lab_attempt_archive
                            WHERE delivery_id = '0000feed-0000-4000-8000-000000000003') AS names_the_batch, detail
FROM forgea_audit.verify_archive();
ROLLBACK;

-- archive_batch resumes after a position: the (recorded_at, id) of the last row the previous batch
-- moved (resume_recorded_at, resume_id), in recorded_at order, not id order.  run_retention and the
-- worker pass it on from batch to batch.  Seven attempts from 2020, the later an id the earlier recorded.
INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
       commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
       payload_sha256, recorded_at)
SELECT 'sess-ret', format('0000beef-0000-4000-8000-%s', lpad(g::text, 12, '0'))::uuid, repeat('0', 40), 'refs/heads/main',
       '{}', '{}', 0, false, false, false, false, false, 'https://github.com/retention/fork', 'github.com/retention/fork',
       sha256(g::text::bytea), '2020-01-01 00:00+00'::timestamptz - g * interval '1 minute'
FROM generate_series(1, 7) g;
-- The digest does not depend on the caller's settings (archive_batch and verify_archive pin them).
SET bytea_output = 'escape';
SET TimeZone = 'Asia/Kolkata';
BEGIN;   -- one transaction for all batches, as run_retention
CREATE TEMP TABLE keyset_batch AS
SELECT 1 AS k, b.* FROM forgea_audit.archive_batch('2021-01-01', 3) b;
INSERT INTO keyset_batch SELECT p.k + 1, b.* FROM keyset_batch p,
       forgea_audit.archive_batch('2021-01-01', 3, p.resume_recorded_at, p.resume_id) b WHERE p.k = 1;
INSERT INTO keyset_batch SELECT p.k + 1, b.* FROM keyset_batch p,
       forgea_audit.archive_batch('2021-01-01', 3, p.resume_recorded_at, p.resume_id) b WHERE p.k = 2;
INSERT INTO keyset_batch SELECT p.k + 1, b.* FROM keyset_batch p,
       forgea_audit.archive_batch('2021-01-01', 3, p.resume_recorded_at, p.resume_id) b WHERE p.k = 3;
-- Batches of 3, 3, 1, then none; each moved the next rows in recorded_at order (the archive's
-- delivery numbers, 7 = earliest); the position is the last row moved, and stays put when none was.
SELECT k.k, k.archived, k.skipped,
       (SELECT string_agg(right(a.delivery_id::text, 1), ',' ORDER BY a.recorded_at)
        FROM forgea_audit.lab_attempt_archive a WHERE a.archive_seq = k.audit_seq) AS deliveries,
       right((SELECT a.delivery_id::text FROM forgea_audit.lab_attempt_archive a
              WHERE a.id = k.resume_id AND a.recorded_at = k.resume_recorded_at), 1) AS resume_after
FROM keyset_batch k ORDER BY k.k;
COMMIT;
-- An attempt due but before the position is left for the next run (as are rows another
-- transaction held: SKIP LOCKED); without a position it is moved.
INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
       commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
       payload_sha256, recorded_at)
VALUES ('sess-ret', '0000beef-0000-4000-8000-000000000008', repeat('0', 40), 'refs/heads/main', '{}', '{}', 0, false,
        false, false, false, false, 'https://github.com/retention/fork', 'github.com/retention/fork',
        sha256('8'::bytea), '2019-06-01 00:00+00');
SELECT b.archived, b.resume_recorded_at = k.resume_recorded_at AND b.resume_id = k.resume_id AS position_kept
FROM keyset_batch k, forgea_audit.archive_batch('2021-01-01', 3, k.resume_recorded_at, k.resume_id) b WHERE k.k = 4;
SELECT archived FROM forgea_audit.archive_batch('2021-01-01', 3);
SELECT right(delivery_id::text, 1) AS delivery FROM forgea_audit.lab_attempt_archive
WHERE archive_seq = (SELECT max(archive_seq) FROM forgea_audit.lab_attempt_archive);
RESET bytea_output;
RESET TimeZone;
SELECT ok, batches_checked FROM forgea_audit.verify_archive();
DROP TABLE keyset_batch;

-- canonical_row_json(row), which archive_batch digests, is canonical_json(to_jsonb(row)) byte for
-- byte: for every archived row, and for a row of every kind of column to_jsonb treats specially.
SELECT count(*) AS archived_rows,
       bool_and(forgea_audit.canonical_row_json(a) = forgea_audit.canonical_json(to_jsonb(a))) AS same,
       bool_and(forgea_audit.canonical_row_json(l) = forgea_audit.canonical_json(to_jsonb(l))) AS same_as_lab_attempt
FROM forgea_audit.lab_attempt_archive a
JOIN LATERAL (SELECT (a.id, a.session_id, a.delivery_id, a.commit_sha, a.before_sha, a.ref, a.base_ref, a.changed_paths,
                      a.changed_files, a.commit_count, a.commits_truncated, a.files_truncated, a.created, a.deleted,
                      a.forced, a.pusher_name, a.pusher_email, a.sender_login, a.sender_id, a.repository_id,
                      a.repository_url, a.repository_full_name, a.repository_key, a.payload_sha256, a.delivery,
                      a.pushed_at, a.recorded_at)::forgea_audit.lab_attempt AS l) x ON true;
SET TimeZone = 'America/St_Johns';
CREATE DOMAIN pg_temp.short_text AS text;
CREATE TEMP TABLE every_kind AS
SELECT '-32768'::int2 AS i2, 2147483647 AS i4, '-9223372036854775808'::int8 AS i8, 1.5::float4 AS f4, 1e20::float8 AS f8,
       'NaN'::float8 AS f8nan, '-Infinity'::float8 AS f8inf, 1.50::numeric AS num, 'NaN'::numeric AS numnan,
       1e-7::numeric AS numsmall, true AS yes, false AS no, E'quote " backslash \\ tab \t nl \n ctl \u0001 é 𝄞' AS txt,
       'v'::varchar(3) AS vc, 'ab'::char(4) AS bp, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
       '\x00ff'::bytea AS by, '2024-02-29'::date AS d, 'infinity'::date AS dinf,
       '2024-02-29 12:34:56.789'::timestamp AS ts, '2024-02-29 12:34:56.789+05:30'::timestamptz AS tstz,
       '-infinity'::timestamptz AS tsinf, '{"b": [1, 2.50, null, {"z": 1, "a": "x"}], "a": true, "aa": {}}'::jsonb AS js,
       '5'::jsonb AS jscalar, '"s"'::jsonb AS jsstring, ARRAY['x', NULL, 'y"'] AS arr, '{}'::text[] AS empty_arr,
       ARRAY[[1, 2], [3, NULL]] AS arr2d, ARRAY['2024-01-01'::date] AS darr, NULL::int AS nothing,
       '1 day 2 hours'::interval AS iv, '10.0.0.1/8'::inet AS ip, 'abc'::name AS nm, 'dom'::pg_temp.short_text AS dom,
       1 AS "Z", 2 AS "a", 3 AS "é", 4 AS "ab";
SELECT forgea_audit.canonical_row_json(e) = forgea_audit.canonical_json(to_jsonb(e)) AS same,
       forgea_audit.canonical_row_json(e) AS canonical
FROM every_kind e;
RESET TimeZone;
-- Types it does not convert are refused, not approximated.
SELECT forgea_audit.canonical_row_json(r) FROM (SELECT '{"a": 1}'::json AS j) r;
SELECT forgea_audit.canonical_row_json(r) FROM (SELECT ROW(1, 2) AS nested) r;
DROP TABLE every_kind;


-- Bad arguments.
SELECT * FROM forgea_audit.run_retention(NULL);
SELECT * FROM forgea_audit.archive_batch(now(), 0);
SELECT * FROM forgea_audit.archive_batch(now(), 10, now(), NULL);
RESET forgea_audit.archive_batch_size;
