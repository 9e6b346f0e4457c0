-- bind_lab_session_table() creates the fork lookup's index as the platform table's owner, in a
-- security-restricted operation, never as the extension's owner (issue 21, item 5; docs/security.md,
-- "Whose rights read what of someone else's").  A ddl_command_end event trigger (a superuser's,
-- made here) records the role each CREATE INDEX ran as.  An owner that may not create the index
-- (no CREATE on the table's schema) gets a refusal naming the statement to run, and nothing is
-- created; a second bind finds the index and runs no CREATE INDEX at all.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(13);

\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_bd_owner', 'fa_bd_admin']);
GRANT forgea_audit_admin TO fa_bd_admin;

CREATE TABLE public.bind_log (tag text, ran_as text, at_command text);
GRANT INSERT ON public.bind_log TO PUBLIC;
CREATE FUNCTION public.log_create_index() RETURNS event_trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO public.bind_log VALUES (tg_tag, current_user, left(current_query(), 60)); END $$;
CREATE EVENT TRIGGER bd_log_create_index ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
    EXECUTE FUNCTION public.log_create_index();

-- A schema of the owner's (it may create there), and the superuser's schema with a table the
-- owner owns but may not add to.
CREATE SCHEMA bd AUTHORIZATION fa_bd_owner;
CREATE SCHEMA bd_locked;
GRANT USAGE ON SCHEMA bd_locked TO fa_bd_owner;
CREATE TABLE bd."LabSession" (LIKE public."LabSession");
ALTER TABLE bd."LabSession" OWNER TO fa_bd_owner;
CREATE TABLE bd_locked."LabSession" (LIKE public."LabSession");
ALTER TABLE bd_locked."LabSession" OWNER TO fa_bd_owner;

-------------------------------------------------------------------------------------------------
-- The owner may create it: built as the owner
-------------------------------------------------------------------------------------------------
SET forgea_audit.lab_session_table = 'bd."LabSession"';
SET SESSION AUTHORIZATION fa_bd_admin;
SELECT is(forgea_audit.bind_lab_session_table(), 'LabSession_forgea_repo_key_idx', 'an admin binds the owner''s table');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT array_agg(ran_as) FROM public.bind_log), ARRAY['fa_bd_owner'],
          'its CREATE INDEX ran as the table''s owner, not as the extension''s owner');
SELECT is((SELECT pg_get_indexdef('bd."LabSession_forgea_repo_key_idx"'::regclass)),
          'CREATE INDEX "LabSession_forgea_repo_key_idx" ON bd."LabSession" USING btree (forgea_audit.repo_key("userForkUrl"), "startedAt" DESC) WHERE (status = ANY (ARRAY[''IN_PROGRESS''::"LabStatus", ''STUCK''::"LabStatus"]))',
          'the index is the fork lookup''s');
SELECT is((SELECT relowner::regrole::text FROM pg_class WHERE oid = 'bd."LabSession_forgea_repo_key_idx"'::regclass), 'fa_bd_owner',
          '... owned by the table''s owner');
SELECT ok(has_schema_privilege('fa_bd_owner', 'forgea_audit', 'USAGE'), 'the owner got USAGE on schema forgea_audit');

DELETE FROM public.bind_log;
SELECT is(forgea_audit.bind_lab_session_table(), 'LabSession_forgea_repo_key_idx', 'binding again returns the same name');
SELECT is((SELECT count(*)::int FROM public.bind_log), 0, '... and runs no CREATE INDEX (so no "already exists" notice)');

-------------------------------------------------------------------------------------------------
-- The owner may not create it: refused, with the statement to run
-------------------------------------------------------------------------------------------------
SET forgea_audit.lab_session_table = 'bd_locked."LabSession"';
SELECT throws_ok('SELECT forgea_audit.bind_lab_session_table()', '42501',
                 'role fa_bd_owner, the owner of lab session table bd_locked."LabSession", may not create an index on it',
                 'an owner without CREATE on the table''s schema: 42501, even for the superuser''s bind');
DO $$
DECLARE
    hint text;
BEGIN
    BEGIN
        PERFORM forgea_audit.bind_lab_session_table();
    EXCEPTION WHEN insufficient_privilege THEN
        GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    END;
    CREATE TEMP TABLE locked_hint AS SELECT hint;
    GRANT SELECT ON locked_hint TO PUBLIC;
END
$$;
SELECT is((SELECT hint FROM locked_hint),
          'As role fa_bd_owner, run CREATE INDEX IF NOT EXISTS "LabSession_forgea_repo_key_idx" ON bd_locked."LabSession" (forgea_audit.repo_key("userForkUrl"), "startedAt" DESC) WHERE "status" IN (''IN_PROGRESS'', ''STUCK''); then SELECT forgea_audit.bind_lab_session_table(); (or GRANT CREATE ON SCHEMA bd_locked TO fa_bd_owner and bind again).',
          '... whose hint names the statement to run');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relname = 'LabSession_forgea_repo_key_idx' AND relnamespace = 'bd_locked'::regnamespace), 0,
          'nothing was created');
SELECT is((SELECT count(*)::int FROM public.bind_log), 0, 'no CREATE INDEX ran');
-- The owner runs the hinted statement itself (it needs CREATE on the schema for that too).
GRANT CREATE ON SCHEMA bd_locked TO fa_bd_owner;
SET SESSION AUTHORIZATION fa_bd_owner;
SELECT lives_ok((SELECT substring(hint FROM 'run (CREATE INDEX .*\)); then') FROM locked_hint), 'the hinted statement works as the owner');
RESET SESSION AUTHORIZATION;
REVOKE CREATE ON SCHEMA bd_locked FROM fa_bd_owner;
SELECT is(forgea_audit.bind_lab_session_table(), 'LabSession_forgea_repo_key_idx',
          'then bind finds the index and succeeds, though the owner may still not create');

SELECT * FROM finish();
RESET forgea_audit.lab_session_table;
DISCARD TEMP;
DROP EVENT TRIGGER bd_log_create_index;
DROP FUNCTION public.log_create_index();
DROP TABLE public.bind_log;
DROP SCHEMA bd, bd_locked CASCADE;
REVOKE ALL ON SCHEMA forgea_audit FROM fa_bd_owner;
DROP OWNED BY fa_bd_owner;
DROP OWNED BY fa_bd_admin;
DROP ROLE fa_bd_owner, fa_bd_admin;
