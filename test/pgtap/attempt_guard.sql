-- The attempts' guard (docs/security.md, "The attempts"): lab_attempt and lab_attempt_archive rows
-- are the evidence the audit rows point to.  UPDATE and TRUNCATE of either, and DELETE from the
-- archive, are refused to every role, the superuser included, also with session_replication_role
-- = replica and with NULL values; a DELETE from lab_attempt is accepted only as retention's move
-- (its rows in the archive when the statement ends), and a refused one writes nothing.  INSERT
-- stays open to the superuser (a restore); PostgreSQL's NOT NULL refuses a row without values.
-- (Up to 0.3.0's guard, every superuser statement below succeeded.)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(22);

\ir try.psql

-- Two recorded pushes; the first is then archived by retention, the second stays live.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-ag', 'u-ag', 'lab', 'https://github.com/ag/lab', 'IN_PROGRESS', now());
CREATE TEMP TABLE pushed AS
SELECT r.* FROM (VALUES ('00000000-0000-4000-8000-0000000a0001'), ('00000000-0000-4000-8000-0000000a0002')) v(guid),
     LATERAL forgea_audit.record_push(
         (SELECT jsonb_set(payload, '{repository,html_url}', '"https://github.com/ag/lab"')
          FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'), v.guid) r;
SELECT min(attempt_id) AS first_attempt, max(attempt_id) AS second_attempt FROM pushed \gset

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('lab_attempt %s, archive %s, md5 %s', (SELECT count(*) FROM forgea_audit.lab_attempt),
                  (SELECT count(*) FROM forgea_audit.lab_attempt_archive),
                  (SELECT md5(string_agg(to_jsonb(a)::text, ',' ORDER BY id)) FROM forgea_audit.lab_attempt_all a))
$$;

-- lab_attempt, as the superuser.
SELECT counts AS live_before FROM pg_temp.counts() counts \gset
SELECT matches(pg_temp.try(format('UPDATE forgea_audit.lab_attempt SET commit_sha = repeat(''f'', 40) WHERE id = %s', :first_attempt)),
               '^42501: UPDATE on forgea_audit.lab_attempt is refused: recorded attempts are never changed or removed$',
               'superuser: UPDATE of an attempt refused (42501)');
SELECT matches(pg_temp.try('UPDATE forgea_audit.lab_attempt SET commit_sha = NULL'), '^42501: ',
               'superuser: UPDATE of a column to NULL refused by the guard, before NOT NULL');
SELECT matches(pg_temp.try(format('DELETE FROM forgea_audit.lab_attempt WHERE id = %s', :first_attempt)),
               '^42501: DELETE on forgea_audit.lab_attempt is refused: an attempt leaves lab_attempt only into lab_attempt_archive$',
               'superuser: DELETE of an attempt refused (42501)');
SELECT matches(pg_temp.try('TRUNCATE forgea_audit.lab_attempt'), '^42501: TRUNCATE on forgea_audit.lab_attempt is refused',
               'superuser: TRUNCATE refused');
SELECT is(pg_temp.try('DELETE FROM forgea_audit.lab_attempt WHERE false'), 'no error', 'a DELETE of no row is no loss: accepted');
SET session_replication_role = replica;
SELECT matches(pg_temp.try('UPDATE forgea_audit.lab_attempt SET ref = ''x'''), '^42501: ', 'replica mode: UPDATE refused');
SELECT matches(pg_temp.try('DELETE FROM forgea_audit.lab_attempt'), '^42501: DELETE on forgea_audit.lab_attempt is refused',
               'replica mode: DELETE refused');
SELECT matches(pg_temp.try('TRUNCATE forgea_audit.lab_attempt CASCADE'), '^42501: ', 'replica mode: TRUNCATE ... CASCADE refused');
RESET session_replication_role;
SELECT is((SELECT counts FROM pg_temp.counts() counts), :'live_before', 'lab_attempt: nothing changed by the refused statements');
SELECT is(pg_temp.try('INSERT INTO forgea_audit.lab_attempt DEFAULT VALUES'),
          '23502: null value in column "session_id" of relation "lab_attempt" violates not-null constraint',
          'superuser: INSERT of a row without values refused by NOT NULL (23502)');
SELECT is((SELECT counts FROM pg_temp.counts() counts), :'live_before', '... and nothing written');

-- Retention's move is accepted: the first attempt, made due, goes to the archive.
SELECT is((SELECT archived FROM forgea_audit.run_retention(now() + interval '100 years')), 2::bigint,
          'run_retention() archives both attempts (its DELETE is a move)');
SELECT is((SELECT array_agg(id ORDER BY id) FROM forgea_audit.lab_attempt_archive), ARRAY[:first_attempt, :second_attempt]::bigint[],
          '... they are in lab_attempt_archive');
SELECT is((SELECT ok FROM forgea_audit.verify_archive()), true, '... and verify_archive() holds');

-- lab_attempt_archive, as the superuser.
SELECT counts AS archived_before FROM pg_temp.counts() counts \gset
SELECT matches(pg_temp.try('UPDATE forgea_audit.lab_attempt_archive SET commit_sha = repeat(''f'', 40)'),
               '^42501: UPDATE on forgea_audit.lab_attempt_archive is refused: recorded attempts are never changed or removed$',
               'superuser: UPDATE of an archived attempt refused');
SELECT matches(pg_temp.try('UPDATE forgea_audit.lab_attempt_archive SET archive_seq = NULL'), '^42501: ',
               'superuser: UPDATE of archive_seq to NULL refused by the guard');
SELECT matches(pg_temp.try('DELETE FROM forgea_audit.lab_attempt_archive'), '^42501: DELETE on forgea_audit.lab_attempt_archive is refused',
               'superuser: DELETE from the archive refused');
SELECT matches(pg_temp.try('TRUNCATE forgea_audit.lab_attempt_archive'), '^42501: ', 'superuser: TRUNCATE of the archive refused');
SET session_replication_role = replica;
SELECT matches(pg_temp.try('DELETE FROM forgea_audit.lab_attempt_archive'), '^42501: ', 'replica mode: DELETE from the archive refused');
SELECT matches(pg_temp.try('UPDATE forgea_audit.lab_attempt_archive SET ref = NULL'), '^42501: ', 'replica mode: UPDATE of the archive refused');
RESET session_replication_role;
-- Moving a row back by hand is a DELETE from the archive: refused, like any.
SELECT matches(pg_temp.try('WITH back AS (DELETE FROM forgea_audit.lab_attempt_archive RETURNING *) SELECT count(*) FROM back'), '^42501: ',
               'a DELETE from the archive inside a WITH is refused too');
SELECT is((SELECT counts FROM pg_temp.counts() counts), :'archived_before', 'archive: nothing changed by the refused statements');

SELECT * FROM finish();
