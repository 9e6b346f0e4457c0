-- What made archiving 1M expired attempts fit in 60 s (issue 13; docs/benchmarks.md, "Retention"),
-- each of which a later change could undo without any other test noticing:
--   * archive_batch() plans its statement once per session (plan_cache_mode = force_generic_plan):
--     a custom plan per call probed the recorded_at index over every entry the previous batches
--     had deleted, a fifth of the worker's time;
--   * it deletes the rows it locked by ctid (one TID scan), not by a primary-key join;
--   * the archive has no commit_sha index (no documented query reads it; the costliest insert);
--   * (issue 23) archive_seq's index is a BRIN (a B-tree insert and 67 bytes of WAL per row), and
--     the digest is hashed row by row by rows_sha256() instead of string_agg'd text, and is the same.
-- And that archiving by ctid still moves exactly the due rows, batch after batch.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(12);

SELECT ok((SELECT 'plan_cache_mode=force_generic_plan' = ANY (proconfig) FROM pg_proc
           WHERE oid = 'forgea_audit.archive_batch(timestamptz, integer, timestamptz, bigint)'::regprocedure),
          'archive_batch runs with plan_cache_mode = force_generic_plan');
SELECT ok((SELECT prosrc ~ 'a\.ctid = ANY \(ARRAY\(SELECT d\.tid FROM due d\)\)' FROM pg_proc
           WHERE oid = 'forgea_audit.archive_batch(timestamptz, integer, timestamptz, bigint)'::regprocedure),
          'archive_batch deletes the locked rows by ctid');
SELECT is((SELECT array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text) FROM pg_index
           WHERE indrelid = 'forgea_audit.lab_attempt_archive'::regclass),
          ARRAY['forgea_audit.lab_attempt_archive_archive_seq_idx', 'forgea_audit.lab_attempt_archive_delivery_id_key',
                'forgea_audit.lab_attempt_archive_pkey', 'forgea_audit.lab_attempt_archive_session_recorded_idx'],
          'the archive''s indexes: primary key, delivery_id, session/recorded_at, archive_seq (no commit_sha)');
SELECT is((SELECT am.amname::text FROM pg_class c JOIN pg_am am ON am.oid = c.relam
           WHERE c.oid = 'forgea_audit.lab_attempt_archive_archive_seq_idx'::regclass),
          'brin', 'archive_seq''s index is a BRIN');
SELECT ok((SELECT prosrc ~ 'forgea_audit\.rows_sha256\(g ORDER BY g\.id\)' AND prosrc !~ 'string_agg' FROM pg_proc
           WHERE oid = 'forgea_audit.archive_batch(timestamptz, integer, timestamptz, bigint)'::regprocedure),
          'archive_batch digests the moved rows with rows_sha256(), not string_agg');

-- 2,500 expired attempts and 10 fresh ones; batches of 1000 passing the position on, as the worker does.
INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
    commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
    payload_sha256, recorded_at)
SELECT 'sess-cut-' || (g % 7), gen_random_uuid(), md5(g::text) || 'abcdefgh', 'refs/heads/main', ARRAY['a.c'],
       '{"added": [], "modified": ["a.c"], "removed": []}', 1, false, false, false, false, false,
       'https://github.com/cut/fork', 'github.com/cut/fork', sha256(g::text::bytea),
       CASE WHEN g <= 2500 THEN now() - interval '100 days' - g * interval '1 second' ELSE now() END
FROM generate_series(1, 2510) g;

CREATE TEMP TABLE runs AS
WITH RECURSIVE b(n, archived, r, i) AS (
    SELECT 1, x.archived, x.resume_recorded_at, x.resume_id
    FROM forgea_audit.archive_batch(now() - interval '90 days', 1000) x
    UNION ALL
    SELECT b.n + 1, x.archived, x.resume_recorded_at, x.resume_id
    FROM b, LATERAL forgea_audit.archive_batch(now() - interval '90 days', 1000, b.r, b.i) x
    WHERE b.n < 4
)
SELECT * FROM b;

SELECT is((SELECT array_agg(archived ORDER BY n) FROM runs), ARRAY[1000, 1000, 500, 0]::bigint[],
          'four batches move 1000, 1000, 500, then nothing');
SELECT is((SELECT count(*) FROM forgea_audit.lab_attempt WHERE recorded_at < now() - interval '90 days'), 0::bigint,
          'no due attempt is left live');
SELECT is((SELECT count(*) FROM forgea_audit.lab_attempt WHERE session_id LIKE 'sess-cut-%'), 10::bigint,
          'the 10 fresh attempts stay');
SELECT is((SELECT count(*) FROM forgea_audit.lab_attempt_archive WHERE session_id LIKE 'sess-cut-%'), 2500::bigint,
          'the archive holds the 2500, none twice');
SELECT is((SELECT ok FROM forgea_audit.verify_archive()), true, 'verify_archive: every batch matches its event');

-- rows_sha256 is the documented digest byte for byte: rows in the aggregate's order, joined by
-- newlines, in UTF-8 (non-ASCII text, escapes, jsonb, NULLs), and NULL for no rows.
CREATE TEMP TABLE digest_rows AS
SELECT * FROM (VALUES (3, 'é 日本 😀'::text, NULL::jsonb, now()), (1, E'a\nb"\\', '{"x": [1, 2.50], "é": null}'::jsonb, NULL),
                      (2, NULL, '[]'::jsonb, '2021-01-01 00:00+00'::timestamptz)) t(k, s, j, at);
SELECT is((SELECT forgea_audit.rows_sha256(t ORDER BY t.k) FROM digest_rows t),
          (SELECT sha256(convert_to(string_agg(forgea_audit.canonical_json(to_jsonb(t)), E'\n' ORDER BY t.k), 'UTF8'))
           FROM digest_rows t),
          'rows_sha256 = sha256 of the canonical texts joined by newlines, in the aggregate''s order');
SELECT is((SELECT forgea_audit.rows_sha256(t) FROM digest_rows t WHERE false), NULL::bytea, 'rows_sha256 of no rows is NULL');

SELECT * FROM finish();
ROLLBACK;
