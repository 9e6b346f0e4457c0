-- Who may do what, as a newcomer meets it (issue 21, item 5; docs/roles.md): receipt(),
-- settings() and shared_forks, called by each of the extension's roles through a login role of
-- its own (as docs/roles.md sets them up) and by a role with none of them.
--   * receipt(): a student's receipt is their proof, and the platform fetches it for them: the
--     reader and the admin get the receipt of any recorded attempt (the same one the superuser
--     gets); the writer and a role without the extension's roles get 42501.
--   * settings(): every role gets the names the superuser gets; the superuser-only
--     signing_key_file comes with its value hidden and a description saying why.
--   * shared_forks: an admin without SELECT on "LabSession" gets 42501 with the GRANT to run.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(19);

\ir try.psql

\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_rs_writer', 'fa_rs_reader', 'fa_rs_admin', 'fa_rs_nobody']);
GRANT forgea_audit_writer TO fa_rs_writer;
GRANT forgea_audit_reader TO fa_rs_reader;
GRANT forgea_audit_admin TO fa_rs_admin;

-- One recorded push, covered by a checkpoint.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-rs', 'u-rs', 'lab', 'https://github.com/rs/lab', 'IN_PROGRESS', now());
CREATE TEMP TABLE pushed AS
SELECT * FROM forgea_audit.record_push(
    (SELECT jsonb_set(payload, '{repository,html_url}', '"https://github.com/rs/lab"')
     FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
    '00000000-0000-4000-8000-0000000a2101');
SELECT is((SELECT status FROM pushed), 'recorded', 'setup: a push recorded');
SELECT ok(forgea_audit.checkpoint() IS NOT NULL, 'setup: a checkpoint covers it');
SELECT attempt_id AS rs_attempt FROM pushed \gset
CREATE TEMP TABLE super_receipt AS SELECT forgea_audit.receipt(:rs_attempt) AS r;
GRANT SELECT ON pushed, super_receipt TO PUBLIC;

-------------------------------------------------------------------------------------------------
-- receipt()
-------------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.receipt_or_error(id bigint) RETURNS text LANGUAGE plpgsql AS
$$
BEGIN
    RETURN forgea_audit.receipt(id)::text;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE TEMP TABLE receipt_by (role text PRIMARY KEY, answer text, same boolean);
GRANT INSERT ON receipt_by TO PUBLIC;
CREATE FUNCTION pg_temp.receipt_as(who text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    got jsonb;
    err text;
BEGIN
    EXECUTE format('SET SESSION AUTHORIZATION %I', who);
    BEGIN
        got := forgea_audit.receipt((SELECT attempt_id FROM pushed));
        err := 'no error';
    EXCEPTION WHEN OTHERS THEN
        err := SQLSTATE || ': ' || SQLERRM;
    END;
    INSERT INTO receipt_by VALUES (who, err, got = (SELECT r FROM super_receipt));
    RESET SESSION AUTHORIZATION;
END
$$;
SELECT pg_temp.receipt_as(r) FROM unnest(ARRAY['fa_rs_writer', 'fa_rs_reader', 'fa_rs_admin', 'fa_rs_nobody']) r;

SELECT is((SELECT r -> 'row' ->> 'action' FROM super_receipt), 'LAB_VERIFY_ATTEMPT', 'the superuser gets the receipt');
SELECT is((SELECT ARRAY[answer, same::text] FROM receipt_by WHERE role = 'fa_rs_reader'), ARRAY['no error', 'true'],
          'the reader gets the same receipt (the student''s proof: the platform fetches it as a reader)');
SELECT is((SELECT ARRAY[answer, same::text] FROM receipt_by WHERE role = 'fa_rs_admin'), ARRAY['no error', 'true'],
          'the admin gets the same receipt');
SELECT matches((SELECT answer FROM receipt_by WHERE role = 'fa_rs_writer'), '^42501: permission denied for function receipt',
               'the writer may not fetch receipts (it reads nothing of the log)');
SELECT matches((SELECT answer FROM receipt_by WHERE role = 'fa_rs_nobody'), '^42501: ',
               'a role with none of the extension''s roles may not either');
SET SESSION AUTHORIZATION fa_rs_reader;
SELECT throws_ok('SELECT forgea_audit.receipt(999999)', '22023', 'no LAB_VERIFY_ATTEMPT audit row for attempt 999999 is visible',
                 'the reader, for an attempt that does not exist: 22023');
SET forgea_audit.tenant = 'some-tenant';
SELECT is(pg_temp.receipt_or_error(:rs_attempt), (SELECT r::text FROM super_receipt),
          'the reader''s tenant setting does not matter: webhook rows have no tenant');
RESET forgea_audit.tenant;
RESET SESSION AUTHORIZATION;

-------------------------------------------------------------------------------------------------
-- settings()
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE super_settings AS SELECT * FROM forgea_audit.settings();
GRANT SELECT ON super_settings TO PUBLIC;
SELECT ok((SELECT count(*) FROM super_settings) > 15 AND (SELECT setting IS NOT NULL FROM super_settings WHERE name = 'forgea_audit.signing_key_file'),
          'the superuser gets every setting, signing_key_file with its value');
CREATE TEMP TABLE settings_by (role text PRIMARY KEY, names text[], hidden text[], key_row text);
GRANT INSERT ON settings_by TO PUBLIC;
CREATE FUNCTION pg_temp.settings_as(who text) RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    EXECUTE format('SET SESSION AUTHORIZATION %I', who);
    INSERT INTO settings_by
    SELECT who, array_agg(name ORDER BY name), array_agg(name ORDER BY name) FILTER (WHERE setting IS NULL AND context IS NULL),
           (SELECT description FROM forgea_audit.settings() WHERE name = 'forgea_audit.signing_key_file')
    FROM forgea_audit.settings();
    RESET SESSION AUTHORIZATION;
END
$$;
SELECT pg_temp.settings_as(r) FROM unnest(ARRAY['fa_rs_writer', 'fa_rs_reader', 'fa_rs_admin']) r;
SELECT is(names, (SELECT array_agg(name ORDER BY name) FROM super_settings), role || ' gets the name of every setting the superuser gets')
FROM settings_by ORDER BY role;
SELECT is(hidden, ARRAY['forgea_audit.signing_key_file'], role || ': only signing_key_file''s value is hidden')
FROM settings_by ORDER BY role;
SELECT matches((SELECT key_row FROM settings_by WHERE role = 'fa_rs_admin'), '^Hidden from this role: superuser-only',
               '... and its row says why');

-------------------------------------------------------------------------------------------------
-- shared_forks, for the admin without SELECT on the platform's table
-------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION fa_rs_admin;
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.shared_forks'), '^42501: permission denied for table public."LabSession"',
               'the admin without SELECT on "LabSession": 42501 ...');
RESET SESSION AUTHORIZATION;
SELECT matches(pg_temp.hint_as('fa_rs_admin', 'SELECT * FROM forgea_audit.shared_forks'),
               'GRANT SELECT ON public."LabSession" TO forgea_audit_admin;',
               '... with a hint naming the GRANT to run');

SELECT * FROM finish();
DISCARD TEMP;
DROP OWNED BY fa_rs_writer;
DROP OWNED BY fa_rs_reader;
DROP OWNED BY fa_rs_admin;
DROP OWNED BY fa_rs_nobody;
DROP ROLE fa_rs_writer, fa_rs_reader, fa_rs_admin, fa_rs_nobody;
