-- Privilege escalation through the platform's table (issue 10, cases 1 and 2; docs/security.md).
--
-- record_push is SECURITY DEFINER, owned by a superuser, and updates the platform's "LabSession".
-- Here that table belongs to a real non-superuser role (fa_pe_owner, as Prisma's migration role
-- would own it), which attaches code to it in every way PostgreSQL runs code for a table: a
-- trigger, a generated column, a column default (through a rule's INSERT), an index expression.
-- A writer (fa_pe_writer, member of forgea_audit_writer) then sends webhooks, and also plants a
-- TEMP TABLE "LabSession" with a trigger of its own.  Every piece of planted code tries the same
-- three things: ALTER ROLE ... SUPERUSER, COPY ... TO PROGRAM, and pg_read_file() of a key file
-- only the server may read.  None of them may succeed; the webhook still records.
--
-- The planted code acts only while the session variable fa_pe.armed is 'on' (set right before a
-- webhook), so setting the fixture up as the owner does not trip it, and it logs every try, with
-- the role it ran as, into plat.tried.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(34);

\ir try.psql

CREATE FUNCTION pg_temp.payload(fork text, after text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS
$$
SELECT jsonb_set(jsonb_set(p, '{repository,html_url}', to_jsonb('https://github.com/pe/' || fork)),
                 '{after}', to_jsonb(coalesce(after, p ->> 'after')))
FROM (SELECT payload AS p FROM public.fixture_push WHERE name = 'api-with-new-branch.payload') f
$$;

-- Roles (cluster-wide: names of their own, left-overs of an aborted run dropped first).
\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_pe_owner', 'fa_pe_writer']);
GRANT forgea_audit_writer TO fa_pe_writer;
GRANT SELECT ON public.fixture_push TO fa_pe_writer;   -- pg_temp.payload() reads it as the writer

-- A file only the server may read, standing for the checkpoint signing key, and no left-over
-- marker files from an earlier run.
COPY (SELECT 'PRIVATE KEY MATERIAL') TO '/tmp/fa_pe_signing_key.pem';
COPY (SELECT 1) TO PROGRAM 'rm -f /tmp/fa_pe_ran_*';
SELECT is(pg_read_file('/tmp/fa_pe_signing_key.pem'), E'PRIVATE KEY MATERIAL\n',
          'setup: the key file exists and the superuser can read it');

-- The platform's schema and table, owned by the platform's role.
CREATE SCHEMA plat AUTHORIZATION fa_pe_owner;
SET SESSION AUTHORIZATION fa_pe_owner;
CREATE TYPE plat."LabStatus" AS ENUM ('NOT_STARTED', 'IN_PROGRESS', 'STUCK', 'COMPLETED', 'ABANDONED');
CREATE TABLE plat."LabSession" (
    "id"             TEXT         NOT NULL PRIMARY KEY,
    "userId"         TEXT         NOT NULL,
    "labId"          TEXT         NOT NULL,
    "userForkUrl"    TEXT         NOT NULL,
    "status"         plat."LabStatus" NOT NULL DEFAULT 'NOT_STARTED',
    "startedAt"      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastActivityAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt"      TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"      TIMESTAMP(3) NOT NULL
);
CREATE TABLE plat.tried (vector text, attempt text, outcome text, ran_as text);
GRANT USAGE ON SCHEMA plat TO PUBLIC;   -- the writer's temp-table trigger attacks and logs here too
GRANT INSERT ON plat.tried TO PUBLIC;

-- The three tries, each caught and logged, so that the webhook itself goes on.
CREATE FUNCTION plat.attack(vector text) RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    IF current_setting('fa_pe.armed', true) IS DISTINCT FROM 'on' THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('ALTER ROLE %I SUPERUSER', session_user);
        INSERT INTO plat.tried VALUES (vector, 'alter_role', 'no error', current_user);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO plat.tried VALUES (vector, 'alter_role', SQLSTATE, current_user);
    END;
    BEGIN
        EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'touch /tmp/fa_pe_ran_' || vector);
        INSERT INTO plat.tried VALUES (vector, 'copy_program', 'no error', current_user);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO plat.tried VALUES (vector, 'copy_program', SQLSTATE, current_user);
    END;
    BEGIN
        PERFORM pg_read_file('/tmp/fa_pe_signing_key.pem');
        INSERT INTO plat.tried VALUES (vector, 'read_key', 'no error', current_user);
    EXCEPTION WHEN OTHERS THEN
        INSERT INTO plat.tried VALUES (vector, 'read_key', SQLSTATE, current_user);
    END;
END
$$;
GRANT EXECUTE ON FUNCTION plat.attack(text) TO PUBLIC;

-- 1. a trigger
CREATE FUNCTION plat.attack_trigger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM plat.attack('trigger'); RETURN NEW; END $$;
CREATE TRIGGER pe_trigger BEFORE UPDATE ON plat."LabSession" FOR EACH ROW EXECUTE FUNCTION plat.attack_trigger();

-- 2. a generated column (recomputed by every UPDATE), through a function falsely declared immutable
CREATE FUNCTION plat.attack_generated(ts timestamp) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM plat.attack('generated_column'); RETURN 0; END $$;
ALTER TABLE plat."LabSession" ADD COLUMN pe_generated int GENERATED ALWAYS AS (plat.attack_generated("updatedAt")) STORED;

-- 3. a column default, evaluated by the INSERT an AFTER UPDATE trigger makes into the owner's table
CREATE FUNCTION plat.attack_default() RETURNS int LANGUAGE plpgsql AS
$$ BEGIN PERFORM plat.attack('column_default'); RETURN 0; END $$;
CREATE TABLE plat.touched (n int DEFAULT plat.attack_default(), at timestamptz DEFAULT now());
CREATE FUNCTION plat.touch_trigger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO plat.touched DEFAULT VALUES; RETURN NULL; END $$;
CREATE TRIGGER pe_touch AFTER UPDATE ON plat."LabSession" FOR EACH ROW EXECUTE FUNCTION plat.touch_trigger();

-- 4. a column type: a domain whose CHECK runs on every value the UPDATE assigns
CREATE FUNCTION plat.attack_check(ts timestamp) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM plat.attack('domain_check'); RETURN true; END $$;
CREATE DOMAIN plat.stamp AS timestamp(3) CHECK (plat.attack_check(VALUE));
ALTER TABLE plat."LabSession" ALTER COLUMN "lastActivityAt" TYPE plat.stamp;

-- 5. an index expression over a column every webhook changes (so the UPDATE is not HOT)
CREATE FUNCTION plat.attack_index(ts timestamp) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM plat.attack('index_expression'); RETURN 0; END $$;
CREATE INDEX pe_index ON plat."LabSession" (plat.attack_index("lastActivityAt"));

INSERT INTO plat."LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-pe-1', 'u1', 'lab', 'https://github.com/pe/lab-one', 'STUCK', now()),
       ('s-pe-2', 'u2', 'lab', 'https://github.com/pe/lab-two', 'IN_PROGRESS', now());
RESET SESSION AUTHORIZATION;

SET forgea_audit.lab_session_table = 'plat."LabSession"';
SELECT is(forgea_audit.bind_lab_session_table(), 'LabSession_forgea_repo_key_idx',
          'bind_lab_session_table() binds the platform''s table');
SELECT ok(has_schema_privilege('fa_pe_owner', 'forgea_audit', 'USAGE'),
          'bind_lab_session_table() granted the table''s owner USAGE on schema forgea_audit (it calls repo_key)');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
           WHERE p.pronamespace = 'forgea_audit'::regnamespace AND has_function_privilege('fa_pe_owner', p.oid, 'EXECUTE')),
          ARRAY['repo_key'], 'that USAGE lets the table''s owner call repo_key() and no other forgea_audit function');

-------------------------------------------------------------------------------------------------
-- Cases 1: the owner's code, run by the writer's webhook
-------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION fa_pe_writer;
SET fa_pe.armed = 'on';
SELECT status AS pe_status, session_id AS pe_session
FROM forgea_audit.record_push(pg_temp.payload('lab-one'), '00000000-0000-4000-8000-0000000e0001') \gset
SET fa_pe.armed = 'off';
RESET SESSION AUTHORIZATION;

SELECT is(:'pe_status' || ' ' || :'pe_session', 'recorded s-pe-1',
          'the webhook records the push against the platform''s table, with its triggers, domain and indexes in place');
SELECT is((SELECT "status"::text FROM plat."LabSession" WHERE "id" = 's-pe-1'), 'IN_PROGRESS',
          'the session moved STUCK -> IN_PROGRESS');
SELECT is((SELECT array_agg(DISTINCT vector ORDER BY vector) FROM plat.tried),
          ARRAY['column_default', 'domain_check', 'generated_column', 'index_expression', 'trigger'],
          'each planted piece of code ran during the webhook (trigger, generated column, default, domain, index expression)');
SELECT is((SELECT array_agg(DISTINCT ran_as) FROM plat.tried), ARRAY['fa_pe_owner'],
          'all of it ran as the table''s owner, not as the extension''s superuser');
SELECT is((SELECT count(*)::int FROM plat.tried WHERE outcome = 'no error'), 0,
          'none of the 15 tries succeeded');
SELECT is((SELECT array_agg(DISTINCT outcome) FROM plat.tried WHERE attempt = 'alter_role'), ARRAY['42501'],
          'ALTER ROLE ... SUPERUSER: refused (42501) from the trigger, generated column, default, domain and index');
SELECT is((SELECT array_agg(DISTINCT outcome) FROM plat.tried WHERE attempt = 'copy_program'), ARRAY['42501'],
          'COPY ... TO PROGRAM: refused (42501) everywhere');
SELECT is((SELECT array_agg(DISTINCT outcome) FROM plat.tried WHERE attempt = 'read_key'), ARRAY['42501'],
          'pg_read_file() of the key file: refused (42501) everywhere');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fa_pe_owner'), false, 'the table''s owner is still not a superuser');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fa_pe_writer'), false, 'the writer is still not a superuser');
SELECT is((SELECT count(*)::int FROM pg_ls_dir('/tmp') f WHERE f LIKE 'fa_pe_ran_%'), 0,
          'no shell command ran (no /tmp/fa_pe_ran_* file)');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE session_id = 's-pe-1'), 1, 'the attempt is recorded');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'the chain verifies');

-- A trigger that fails (here: it creates a temporary table, which a security-restricted operation
-- may not) fails the webhook cleanly: an error, nothing written.
SET SESSION AUTHORIZATION fa_pe_owner;
CREATE FUNCTION plat.set_role_trigger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF current_setting('fa_pe.armed', true) = 'on' THEN CREATE TEMP TABLE pe_planted (x int); END IF; RETURN NEW; END $$;
CREATE TRIGGER pe_set_role BEFORE UPDATE ON plat."LabSession" FOR EACH ROW EXECUTE FUNCTION plat.set_role_trigger();
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fa_pe_writer;
SET fa_pe.armed = 'on';
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push(pg_temp.payload('lab-two'), '00000000-0000-4000-8000-0000000e0002')$$),
               '^42501: cannot create temporary table within security-restricted operation',
               'a trigger that creates a temporary table fails the webhook with 42501 (a security-restricted operation)');
SET fa_pe.armed = 'off';
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-0000000e0002'), 0,
          '... and writes nothing');
DROP TRIGGER pe_set_role ON plat."LabSession";

-- A trigger that changes a setting for the rest of the transaction (set_config(..., true)) does
-- not change it for the superuser's work after it.
SET SESSION AUTHORIZATION fa_pe_owner;
CREATE FUNCTION plat.setting_trigger() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM set_config('search_path', 'plat, pg_catalog', true); PERFORM set_config('fa_pe.leak', 'leaked', true); RETURN NEW; END $$;
CREATE TRIGGER pe_setting BEFORE UPDATE ON plat."LabSession" FOR EACH ROW EXECUTE FUNCTION plat.setting_trigger();
RESET SESSION AUTHORIZATION;
BEGIN;
SET LOCAL fa_pe.leak = 'before';
SELECT status AS pe2_status FROM forgea_audit.record_push(pg_temp.payload('lab-two'), '00000000-0000-4000-8000-0000000e0003') \gset
SELECT is(current_setting('fa_pe.leak'), 'before', 'a setting the owner''s trigger changed is undone when the table work ends');
COMMIT;
SELECT is(:'pe2_status'::text, 'recorded', 'and the push is recorded');
DROP TRIGGER pe_setting ON plat."LabSession";

-------------------------------------------------------------------------------------------------
-- Case 2: a TEMP TABLE "LabSession" planted by the writer
-------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION fa_pe_writer;
CREATE TEMP TABLE "LabSession" (
    "id" TEXT PRIMARY KEY, "userId" TEXT NOT NULL, "labId" TEXT NOT NULL, "userForkUrl" TEXT NOT NULL,
    "status" TEXT NOT NULL, "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastActivityAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL);
CREATE FUNCTION pg_temp.hijack() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN PERFORM plat.attack('temp_table'); RETURN NEW; END $$;
CREATE TRIGGER hijack BEFORE UPDATE ON pg_temp."LabSession" FOR EACH ROW EXECUTE FUNCTION pg_temp.hijack();
INSERT INTO pg_temp."LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-temp', 'u9', 'lab', 'https://github.com/pe/lab-one', 'IN_PROGRESS', now());
RESET SESSION AUTHORIZATION;

-- The qualified name: the temp table is never consulted.
SET SESSION AUTHORIZATION fa_pe_writer;
SET fa_pe.armed = 'on';
SELECT status || ' ' || session_id AS pe_temp_result
FROM forgea_audit.record_push(pg_temp.payload('lab-one', repeat('a', 40)), '00000000-0000-4000-8000-0000000e0004') \gset
SET fa_pe.armed = 'off';
RESET SESSION AUTHORIZATION;
SELECT is(:'pe_temp_result'::text, 'recorded s-pe-1', 'with a qualified name the webhook ignores the writer''s temp table');
SELECT is((SELECT count(*)::int FROM plat.tried WHERE vector = 'temp_table'), 0, 'the temp table''s trigger never ran');
SELECT is(forgea_audit.lab_session_table()::text, 'plat."LabSession"', 'lab_session_table() reports the table record_push used');

-- An unqualified name is refused, by record_push and by lab_session_table() alike.
SET forgea_audit.lab_session_table = '"LabSession"';
SET SESSION AUTHORIZATION fa_pe_writer;
SET fa_pe.armed = 'on';
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push(pg_temp.payload('lab-one', repeat('b', 40)), '00000000-0000-4000-8000-0000000e0005')$$),
               '^22023: forgea_audit.lab_session_table must be a schema-qualified name',
               'unqualified setting: record_push refuses it (22023) instead of finding the writer''s temp table');
SET fa_pe.armed = 'off';
RESET SESSION AUTHORIZATION;
SELECT matches(pg_temp.try('SELECT forgea_audit.lab_session_table()'),
               '^22023: forgea_audit.lab_session_table must be a schema-qualified name',
               'unqualified setting: lab_session_table() refuses it the same way');
SELECT matches(pg_temp.try('SELECT forgea_audit.bind_lab_session_table()'), '^22023: ',
               'unqualified setting: bind_lab_session_table() refuses it too');

-- A name that leads to a temporary table, through pg_temp or the temp schema's own name.
SET forgea_audit.lab_session_table = 'pg_temp."LabSession"';
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push(pg_temp.payload('lab-one', repeat('c', 40)), '00000000-0000-4000-8000-0000000e0006')$$),
               '^(42809: lab session table pg_temp."LabSession" is a temporary table|42P01: )',
               'pg_temp."LabSession": refused');
SET SESSION AUTHORIZATION fa_pe_writer;
SELECT nspname AS writer_temp FROM pg_namespace WHERE oid = pg_my_temp_schema() \gset
SET fa_pe.armed = 'on';
RESET SESSION AUTHORIZATION;
SELECT set_config('forgea_audit.lab_session_table', format('%I."LabSession"', :'writer_temp'), false) AS set_temp \gset
SET SESSION AUTHORIZATION fa_pe_writer;
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push(pg_temp.payload('lab-one', repeat('d', 40)), '00000000-0000-4000-8000-0000000e0007')$$),
               '^42809: lab session table pg_temp_[0-9]+."LabSession" is a temporary table',
               'the writer''s temp schema by name: refused as a temporary table (42809)');
SET fa_pe.armed = 'off';
RESET SESSION AUTHORIZATION;
SELECT matches(pg_temp.try('SELECT forgea_audit.lab_session_table()'), '^42809: ',
               'lab_session_table() refuses it the same way');
SELECT is((SELECT count(*)::int FROM plat.tried WHERE vector = 'temp_table'), 0, 'the temp table''s trigger never ran at all');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fa_pe_writer'), false, 'the writer is still not a superuser');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE session_id = 's-temp'), 0,
          'no attempt was ever recorded against the temp table');

-- A table whose owner has no USAGE on forgea_audit (bind never ran): a clear refusal, no fallback.
RESET forgea_audit.lab_session_table;
SET forgea_audit.lab_session_table = 'plat."LabSession"';
REVOKE USAGE ON SCHEMA forgea_audit FROM fa_pe_owner;
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push(pg_temp.payload('lab-one', repeat('e', 40)), '00000000-0000-4000-8000-0000000e0008')$$),
               '^42501: role fa_pe_owner, the owner of lab session table plat."LabSession", has no USAGE on schema forgea_audit',
               'an owner without USAGE on forgea_audit: 42501 naming the fix');

-------------------------------------------------------------------------------------------------
-- Clean up (roles are cluster-wide)
-------------------------------------------------------------------------------------------------
SELECT * FROM finish();
RESET forgea_audit.lab_session_table;
DISCARD TEMP;
DROP SCHEMA plat CASCADE;
COPY (SELECT 1) TO PROGRAM 'rm -f /tmp/fa_pe_ran_* /tmp/fa_pe_signing_key.pem';
REVOKE ALL ON SCHEMA forgea_audit FROM fa_pe_owner;
DROP OWNED BY fa_pe_owner;
DROP OWNED BY fa_pe_writer;
DROP ROLE fa_pe_owner;
DROP ROLE fa_pe_writer;
