-- forgea_audit.end_unchecked_restore(target, verb) ends the session (FATAL) of a restore that
-- switches the guard triggers off (pg_restore --data-only --disable-triggers: ALTER TABLE ...
-- DISABLE TRIGGER on the extension's tables while the log has no row).  The DDL guard calls it;
-- a superuser who calls it directly, with the log empty or not, gets an ERROR (39P03) and keeps
-- the session, and nothing is written.  (Up to 0.3.0's fix, every direct call ended the session:
-- this file then stopped at its first test.)  The guard's own call, which must still end the
-- session, is tested by test/integration/restore_merkle.sh (--disable-triggers refused with FATAL).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(7);

\ir try.psql

SELECT pg_backend_pid() AS pid_before, (SELECT count(*) FROM forgea_audit.audit_log) AS rows_before \gset

-- The log of a fresh database: empty (the case in which the guard ends a restore's session).
SELECT is(:rows_before::bigint, 0::bigint, 'the log has no row yet');

SELECT matches(pg_temp.try($$SELECT forgea_audit.end_unchecked_restore('forgea_audit.audit_log', 'DISABLE')$$),
               '^39P03: forgea_audit.end_unchecked_restore\(\) is called only by forgea_audit''s DDL guard$',
               'a direct call with the log empty is refused with an ERROR');
-- Arguments that spell the statement do not make the statement running one.
SELECT matches(pg_temp.try($$SELECT forgea_audit.end_unchecked_restore('ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL', 'DISABLE TRIGGER')$$),
               '^39P03: ', 'a direct call whose arguments mention ALTER TABLE ... DISABLE TRIGGER is refused too');
SELECT matches(pg_temp.try($q$DO $do$ BEGIN PERFORM forgea_audit.end_unchecked_restore(NULL, NULL); END $do$$q$),
               '^39P03: ', 'a call from a DO block, with NULL arguments, is refused');

-- With a row in the log (any append), still refused.
SELECT forgea_audit.append('UNCHECKED_RESTORE_TEST', chain => 'unchecked-restore-test') AS seq \gset
SELECT matches(pg_temp.try($$SELECT forgea_audit.end_unchecked_restore('forgea_audit.chain_head', 'ENABLE')$$),
               '^39P03: ', 'a direct call with rows in the log is refused');

SELECT is(pg_backend_pid(), :pid_before, 'the session went on (same backend)');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log WHERE action <> 'UNCHECKED_RESTORE_TEST'), 0::bigint,
          'nothing was written by the refused calls');

SELECT * FROM finish();
