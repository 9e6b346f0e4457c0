-- The retention lock is a row lock on forgea_audit.retention_lock (issue 14): a role with no
-- privileges on the extension cannot stall retention any more (the advisory lock archive_batch
-- used to take was open to every role), and a run that finds the lock taken records who holds it
-- (retention_run.lock_holder, retention_status): pid, user, application_name, start times.
-- Peers are real connections opened with dblink over the server's unix socket.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(23);

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-ret', 'u1', 'lab', 'https://github.com/retlock/ret-lab', 'IN_PROGRESS', now());

-- Records one push of the real fixture under a fresh GUID; returns its status.
CREATE FUNCTION pg_temp.push(guid text) RETURNS text LANGUAGE sql AS
$$
SELECT status FROM forgea_audit.record_push(
    (SELECT jsonb_set(payload, '{repository,html_url}', '"https://github.com/retlock/ret-lab"')
     FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'), guid)
$$;

CREATE FUNCTION pg_temp.connstr(who text) RETURNS text LANGUAGE sql AS
$$
SELECT format('host=%s port=%s dbname=%s user=%s application_name=%s',
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_database(), who, 'retlock_' || who)
$$;

-- Far enough ahead that every attempt recorded so far is due.
\set as_of '''now''::timestamptz + interval ''100 years'''

-------------------------------------------------------------------------------------------------
-- 1. A role with no privileges holds the old advisory lock: retention still runs
-------------------------------------------------------------------------------------------------
DROP ROLE IF EXISTS fa_retlock_nobody;
CREATE ROLE fa_retlock_nobody LOGIN;
-- (Local connections authenticate by peer, so the peer connects as this user and becomes
-- fa_retlock_nobody for the rest of its session.)
SELECT is(dblink_connect('nobody', pg_temp.connstr(current_user)), 'OK', 'a second connection');
SELECT is(dblink_exec('nobody', 'SET SESSION AUTHORIZATION fa_retlock_nobody'), 'SET',
          'it becomes fa_retlock_nobody, a role with no privileges on the extension');
SELECT pid AS nobody_pid FROM dblink('nobody', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT is((SELECT l FROM dblink('nobody', $q$SELECT pg_advisory_lock(hashtext('forgea_audit.retention'))::text$q$)
                         AS t(l text)), '',
          'fa_retlock_nobody takes pg_advisory_lock(hashtext(''forgea_audit.retention'')) and keeps it');
SELECT ok(EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = :nobody_pid AND granted),
          'the advisory lock is held by that session');
-- It cannot take the new lock either: no privilege on the table (nor on the schema).
SELECT is((SELECT count(*)::int FROM dblink('nobody', 'SELECT true FROM forgea_audit.retention_lock FOR UPDATE', false)
                                  AS t(b boolean)), 0, 'fa_retlock_nobody cannot lock forgea_audit.retention_lock ...');
SELECT matches(dblink_error_message('nobody'), 'permission denied', '... permission denied');

SELECT is(pg_temp.push('00000000-0000-4000-8000-00000000e001'), 'recorded', 'an attempt recorded');
SELECT is(pg_temp.push('00000000-0000-4000-8000-00000000e002'), 'recorded', 'a second attempt recorded');
SELECT archived, skipped, run_id AS run1 FROM forgea_audit.run_retention(:as_of) \gset
SELECT is(:archived::bigint, 2::bigint, 'run_retention() archives both attempts while fa_retlock_nobody holds the advisory lock');
SELECT is(:'skipped'::boolean, false, 'and is not skipped');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt_archive), 2, 'both are in the archive');
SELECT is((SELECT lock_holder FROM forgea_audit.retention_run WHERE id = :run1), NULL, 'a run not skipped names no lock holder');
SELECT is(dblink_disconnect('nobody'), 'OK', 'fa_retlock_nobody disconnects');

-------------------------------------------------------------------------------------------------
-- 2. A run with its transaction still open holds the lock: a second run is skipped and names it
-------------------------------------------------------------------------------------------------
SELECT is(dblink_connect('first', pg_temp.connstr(current_user)), 'OK', 'a second connection, for the first run');
SELECT pid AS first_pid FROM dblink('first', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT is(pg_temp.push('00000000-0000-4000-8000-00000000e003'), 'recorded', 'a third attempt recorded');
SELECT is(dblink_exec('first', 'BEGIN'), 'BEGIN', 'the first run''s connection opens a transaction');
SELECT is((SELECT n FROM dblink('first', format('SELECT archived FROM forgea_audit.run_retention(%s)', :'as_of'))
                     AS t(n bigint)), 1::bigint, 'the first run archives the third attempt and keeps its transaction open');
SELECT archived, skipped, run_id AS run2 FROM forgea_audit.run_retention(:as_of) \gset
SELECT is(ARRAY[:archived::bigint::text, :'skipped'::boolean::text], ARRAY['0', 'true'], 'a second run meanwhile is skipped and moves nothing');
SELECT is((SELECT (lock_holder ->> 'pid')::int FROM forgea_audit.retention_run WHERE id = :run2), :first_pid,
          'retention_run.lock_holder names the first run''s pid');
SELECT is((SELECT ARRAY[lock_holder ->> 'usename', lock_holder ->> 'application_name',
                        ((lock_holder ->> 'backend_start') IS NOT NULL)::text, ((lock_holder ->> 'query_start') IS NOT NULL)::text]
           FROM forgea_audit.retention_status WHERE id = :run2),
          ARRAY[current_user::text, 'retlock_' || current_user, 'true', 'true'],
          'retention_status shows its user, application_name, backend_start and query_start');
SELECT is(dblink_exec('first', 'COMMIT'), 'COMMIT', 'the first run commits');
SELECT is(dblink_disconnect('first'), 'OK', 'the first run''s connection disconnects');
SELECT is(forgea_audit.retention_lock_holder(), NULL, 'nobody holds the lock now');

DROP ROLE fa_retlock_nobody;
SELECT * FROM finish();
