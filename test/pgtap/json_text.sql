-- record_push_json (the payload as JSON text, read by a streaming parser) against record_push (the
-- payload as jsonb): every real GitHub push fixture is recorded in two databases, this one through
-- record_push(jsonb) and t_json_text_b through record_push_json(json) with the file's text as
-- GitHub sent it, with the same sessions and GUIDs and the same calls in the same order.  Then
-- every lab_attempt row, every audit row (all but created_at and the hashes that cover it) and
-- every session must be identical, and in each database a retry through the other function is a
-- duplicate, never a conflict: the delivery id is one idempotency key across both.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(14);

CREATE FUNCTION pg_temp.connstr(db text) RETURNS text LANGUAGE sql AS
$$
SELECT format('host=%s port=%s dbname=%s user=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), db, current_user)
$$;

-------------------------------------------------------------------------------------------------
-- Database B: the platform's table, the extension, the same fixtures
-------------------------------------------------------------------------------------------------
SELECT dblink_exec(pg_temp.connstr('postgres'), 'DROP DATABASE IF EXISTS t_json_text_b');
SELECT dblink_exec(pg_temp.connstr('postgres'), 'CREATE DATABASE t_json_text_b TEMPLATE template0 ENCODING ''UTF8''');
SELECT is(dblink_connect('b', pg_temp.connstr('t_json_text_b')), 'OK', 'a second database, t_json_text_b (dblink)');
\set lab_session_ddl `cat test/fixtures/app-schema/lab_session.sql`
SELECT dblink_exec('b', :'lab_session_ddl');
SELECT dblink_exec('b', 'CREATE EXTENSION forgea_audit');
SELECT * FROM dblink('b', 'SELECT forgea_audit.bind_lab_session_table()') AS t(index_name text);
SELECT dblink_exec('b', 'CREATE TABLE public.fixture_push (name text PRIMARY KEY, payload jsonb NOT NULL, body text NOT NULL)');
SELECT dblink_exec('b', format('INSERT INTO public.fixture_push VALUES (%L, %L, %L)', name, payload, body))
FROM public.fixture_push;

-------------------------------------------------------------------------------------------------
-- The run, the same in both databases except which function records first
-------------------------------------------------------------------------------------------------
SELECT $driver$
CREATE FUNCTION public.record_as(via text, fixture text, guid text)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE plpgsql AS $$
DECLARE
    hdrs jsonb := '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "4242", "User-Agent": "GitHub-Hookshot/044aadd"}';
BEGIN
    IF via = 'jsonb' THEN
        RETURN QUERY SELECT * FROM forgea_audit.record_push(
            (SELECT f.payload FROM public.fixture_push f WHERE f.name = fixture), guid, hdrs);
    ELSE
        RETURN QUERY SELECT * FROM forgea_audit.record_push_json(
            (SELECT f.body::json FROM public.fixture_push f WHERE f.name = fixture), guid, hdrs);
    END IF;
END $$;

CREATE TABLE public.json_run (ord int, name text, step int, via text, status text, attempt_id bigint,
                              session_id text, audit_seq bigint);

-- Each fixture: a session of its own (every other one STUCK, so the status transition is written
-- too), recorded through `first`, retried through the other function, then retried again.
CREATE FUNCTION public.run_all(first text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    f     record;
    other text := CASE first WHEN 'jsonb' THEN 'json' ELSE 'jsonb' END;
    g     text;
BEGIN
    FOR f IN SELECT (row_number() OVER (ORDER BY x.name COLLATE "C"))::int AS ord, x.name, x.payload
               FROM public.fixture_push x ORDER BY x.name COLLATE "C" LOOP
        UPDATE "LabSession" SET "status" = 'COMPLETED' WHERE "status" IN ('IN_PROGRESS', 'STUCK');
        INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status",
                                  "startedAt", "lastActivityAt", "createdAt", "updatedAt")
        VALUES ('js-' || f.name, 'user-' || f.ord, 'lab-json', f.payload -> 'repository' ->> 'html_url',
                (CASE WHEN f.ord % 2 = 0 THEN 'STUCK' ELSE 'IN_PROGRESS' END)::"LabStatus",
                '2024-01-01', '2024-01-01', '2024-01-01', '2024-01-01');
        g := md5(f.name)::uuid::text;
        INSERT INTO public.json_run SELECT f.ord, f.name, 1, first, r.* FROM public.record_as(first, f.name, g) r;
        INSERT INTO public.json_run SELECT f.ord, f.name, 2, other, r.* FROM public.record_as(other, f.name, g) r;
        INSERT INTO public.json_run SELECT f.ord, f.name, 3, first, r.* FROM public.record_as(first, f.name, upper(g)) r;
    END LOOP;
END $$;
$driver$ AS driver \gset

:driver
SELECT dblink_exec('b', :'driver');
SELECT public.run_all('jsonb');
SELECT dblink_exec('b', 'DO $$ BEGIN PERFORM public.run_all(''json''); END $$');

-------------------------------------------------------------------------------------------------
-- Not vacuous
-------------------------------------------------------------------------------------------------
SELECT cmp_ok((SELECT count(*)::int FROM public.fixture_push), '>=', 9, 'all 9 GitHub push fixtures are loaded');
SELECT is((SELECT array_agg(DISTINCT status) FROM public.json_run WHERE step = 1), ARRAY['recorded'],
          'A (jsonb first): every fixture is recorded');
SELECT is((SELECT array_agg(DISTINCT status) FROM dblink('b', 'SELECT status FROM public.json_run WHERE step = 1')
                                                  AS t(status text)),
          ARRAY['recorded'], 'B (json first): every fixture is recorded');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE action = 'LAB_STATUS_TRANSITION'),
          (SELECT count(*)::int / 2 FROM public.fixture_push), 'A: the STUCK sessions moved back to IN_PROGRESS');

-------------------------------------------------------------------------------------------------
-- One idempotency key across both functions
-------------------------------------------------------------------------------------------------
SELECT is((SELECT array_agg(DISTINCT status) FROM public.json_run WHERE step > 1), ARRAY['duplicate'],
          'A: a retry through record_push_json, then through record_push, is a duplicate (same payload hash)');
SELECT is((SELECT array_agg(DISTINCT status) FROM dblink('b', 'SELECT status FROM public.json_run WHERE step > 1')
                                                  AS t(status text)),
          ARRAY['duplicate'], 'B: a retry through record_push, then through record_push_json, is a duplicate');
SELECT is((SELECT count(*)::int FROM public.json_run r JOIN public.json_run s USING (ord)
            WHERE r.step = 1 AND s.step > 1 AND s.attempt_id IS DISTINCT FROM r.attempt_id), 0,
          'A: every retry names the first attempt');

-------------------------------------------------------------------------------------------------
-- The same rows
-------------------------------------------------------------------------------------------------
SELECT results_eq(
    $$SELECT ord, name, step, status, attempt_id, session_id, audit_seq FROM public.json_run ORDER BY ord, step$$,
    $$SELECT * FROM dblink('b', 'SELECT ord, name, step, status, attempt_id, session_id, audit_seq
                                 FROM public.json_run ORDER BY ord, step')
               AS t(ord int, name text, step int, status text, attempt_id bigint, session_id text, audit_seq bigint)$$,
    'both databases returned the same (status, attempt_id, session_id, audit_seq) for every call');
SELECT results_eq(
    $$SELECT (to_jsonb(a) - 'recorded_at')::text FROM forgea_audit.lab_attempt a ORDER BY id$$,
    $$SELECT r FROM dblink('b', 'SELECT (to_jsonb(a) - ''recorded_at'')::text FROM forgea_audit.lab_attempt a
                                 ORDER BY id') AS t(r text)$$,
    'lab_attempt: every column but recorded_at is identical (paths, changed_files, payload_sha256, ...)');
SELECT results_eq(
    $$SELECT (to_jsonb(l) - 'created_at' - 'prev_hash' - 'row_hash')::text, forgea_audit.canonical_json(l.metadata)
        FROM forgea_audit.audit_log l ORDER BY seq$$,
    $$SELECT r, m FROM dblink('b', 'SELECT (to_jsonb(l) - ''created_at'' - ''prev_hash'' - ''row_hash'')::text,
                                          forgea_audit.canonical_json(l.metadata)
                                     FROM forgea_audit.audit_log l ORDER BY seq') AS t(r text, m text)$$,
    'audit_log: every row is identical but for created_at and the hashes over it; metadata byte for byte');
SELECT results_eq(
    $$SELECT "id", "status"::text, "lastActivityAt" > '2024-01-01' FROM "LabSession" ORDER BY "id"$$,
    $$SELECT * FROM dblink('b', 'SELECT "id", "status"::text, "lastActivityAt" > ''2024-01-01''
                                 FROM "LabSession" ORDER BY "id"') AS t(id text, status text, touched boolean)$$,
    'LabSession: the same sessions moved the same way');
SELECT is((SELECT count(*)::int FROM dblink('b', $$SELECT 1 FROM forgea_audit.lab_attempt a JOIN public.fixture_push f
                                                     ON a.delivery_id = md5(f.name)::uuid
                                                   WHERE a.payload_sha256
                                                         = sha256(convert_to(forgea_audit.canonical_json(f.payload), 'UTF8'))$$)
                                  AS t(x int)),
          (SELECT count(*)::int FROM public.fixture_push),
          'B: payload_sha256 of the JSON text = SHA-256 of canonical_json(text::jsonb), as documented');
SELECT ok((SELECT ok FROM forgea_audit.verify_chain()) AND
          (SELECT ok FROM dblink('b', 'SELECT ok FROM forgea_audit.verify_chain()') AS t(ok boolean)),
          'verify_chain() passes in both databases');

SELECT dblink_disconnect('b');
SELECT dblink_exec(pg_temp.connstr('postgres'), 'DROP DATABASE t_json_text_b');
SELECT * FROM finish();
