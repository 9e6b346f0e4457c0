-- No code the platform table's owner wrote runs with a reader's rights (issue 20, item 4;
-- docs/security.md, case 1).
--
-- forgea_audit.shared_forks is a DBA's query (README): a superuser or an admin reads it.  It reads
-- the platform's "LabSession", which belongs to the web app's role (fa_sf_owner here, not a
-- superuser), and that role decides what code reading its table runs: casts of its column types,
-- the operators a sort or a comparison picks, its row-level security policies.  Read as the
-- caller, that code ran as the superuser: an owner-written cast of "userId" to text that runs
-- ALTER ROLE fa_sf_owner SUPERUSER made the owner a superuser the next time a superuser looked.
-- Each case below plants one such piece of code; every piece calls sf.attack(), which records
-- current_user, session_user and whether current_user is a superuser into sf.ran, then tries
-- ALTER ROLE fa_sf_owner SUPERUSER.  Each case is read by a superuser and by an admin (a member
-- of forgea_audit_admin with SELECT on the table); none of the code may have run as either of
-- them, and the owner must still not be a superuser.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(31);

\ir try.psql

-- Roles (cluster-wide: left-overs of an aborted run dropped first).
\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_sf_owner', 'fa_sf_admin']);
GRANT forgea_audit_admin TO fa_sf_admin;
-- What bind_lab_session_table() grants the table's owner (it calls repo_key() as that role).
GRANT USAGE ON SCHEMA forgea_audit TO fa_sf_owner;

-- The owner's schemas (one per case, each with its own "LabSession") and the log.
CREATE SCHEMA sf AUTHORIZATION fa_sf_owner;
CREATE SCHEMA sf_plain AUTHORIZATION fa_sf_owner;
CREATE SCHEMA sf_cast AUTHORIZATION fa_sf_owner;
CREATE SCHEMA sf_status AUTHORIZATION fa_sf_owner;
CREATE SCHEMA sf_sort AUTHORIZATION fa_sf_owner;
CREATE SCHEMA sf_policy AUTHORIZATION fa_sf_owner;

SET SESSION AUTHORIZATION fa_sf_owner;
CREATE TABLE sf.ran (vector text, ran_as text, session_as text, as_super boolean, alter_role text);
GRANT USAGE ON SCHEMA sf TO PUBLIC;
GRANT INSERT ON sf.ran TO PUBLIC;
CREATE FUNCTION sf.attack(vector text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    outcome text;
BEGIN
    BEGIN
        EXECUTE 'ALTER ROLE fa_sf_owner SUPERUSER';
        outcome := 'no error';
    EXCEPTION WHEN OTHERS THEN
        outcome := SQLSTATE;
    END;
    INSERT INTO sf.ran VALUES (vector, current_user, session_user,
                               (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), outcome);
END
$$;

-- The platform's table as Prisma creates it, with two active sessions on one fork (started at
-- the same time, so that ordering them compares their ids) and one on another.
CREATE FUNCTION sf.make_table(schema text) RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    EXECUTE format('CREATE TABLE %I."LabSession" ("id" TEXT NOT NULL PRIMARY KEY, "userId" TEXT NOT NULL, '
                   '"labId" TEXT NOT NULL, "userForkUrl" TEXT NOT NULL, "status" TEXT NOT NULL, '
                   '"startedAt" TIMESTAMP(3) NOT NULL, "updatedAt" TIMESTAMP(3) NOT NULL)', schema);
    EXECUTE format('INSERT INTO %I."LabSession" VALUES '
                   '(''s-bob'', ''u-bob'', ''lab'', ''https://github.com/bob/lab'', ''IN_PROGRESS'', ''2026-12-01 10:00'', now()), '
                   '(''s-carol'', ''u-carol'', ''lab'', ''git@github.com:Bob/Lab.git'', ''STUCK'', ''2026-12-01 10:00'', now()), '
                   '(''s-dave'', ''u-dave'', ''lab'', ''https://github.com/dave/lab'', ''IN_PROGRESS'', ''2026-12-01 09:00'', now())',
                   schema);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO forgea_audit_admin', schema);
    EXECUTE format('GRANT SELECT ON %I."LabSession" TO forgea_audit_admin', schema);
END
$$;
SELECT sf.make_table(s) FROM unnest(ARRAY['sf_plain', 'sf_cast', 'sf_status', 'sf_sort', 'sf_policy']) s;

-- Case 1: a cast of "userId" to text (the issue's attack).
CREATE TYPE sf_cast.uid AS (v text);
CREATE FUNCTION sf_cast.uid_text(u sf_cast.uid) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM sf.attack('cast'); RETURN u.v; END $$;
CREATE CAST (sf_cast.uid AS text) WITH FUNCTION sf_cast.uid_text(sf_cast.uid);
ALTER TABLE sf_cast."LabSession" ALTER COLUMN "userId" TYPE sf_cast.uid USING ROW("userId");

-- Case 2: an implicit cast of "status" to text, for the status comparison to pick up.
CREATE TYPE sf_status.st AS (v text);
CREATE FUNCTION sf_status.st_text(s sf_status.st) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM sf.attack('implicit_cast'); RETURN s.v; END $$;
CREATE CAST (sf_status.st AS text) WITH FUNCTION sf_status.st_text(sf_status.st) AS IMPLICIT;
ALTER TABLE sf_status."LabSession" ALTER COLUMN "status" TYPE sf_status.st USING ROW("status");

-- Case 3: an "id" type whose sort and equality operators are the owner's functions.
CREATE TYPE sf_sort.sid AS (v text);
CREATE FUNCTION sf_sort.cmp(a sf_sort.sid, b sf_sort.sid) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM sf.attack('sort'); RETURN CASE WHEN a.v < b.v THEN -1 WHEN a.v > b.v THEN 1 ELSE 0 END; END $$;
CREATE FUNCTION sf_sort.lt(a sf_sort.sid, b sf_sort.sid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT sf_sort.cmp(a, b) < 0 $$;
CREATE FUNCTION sf_sort.le(a sf_sort.sid, b sf_sort.sid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT sf_sort.cmp(a, b) <= 0 $$;
CREATE FUNCTION sf_sort.eq(a sf_sort.sid, b sf_sort.sid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT sf_sort.cmp(a, b) = 0 $$;
CREATE FUNCTION sf_sort.ge(a sf_sort.sid, b sf_sort.sid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT sf_sort.cmp(a, b) >= 0 $$;
CREATE FUNCTION sf_sort.gt(a sf_sort.sid, b sf_sort.sid) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT sf_sort.cmp(a, b) > 0 $$;
CREATE OPERATOR sf_sort.< (LEFTARG = sf_sort.sid, RIGHTARG = sf_sort.sid, FUNCTION = sf_sort.lt);
CREATE OPERATOR sf_sort.<= (LEFTARG = sf_sort.sid, RIGHTARG = sf_sort.sid, FUNCTION = sf_sort.le);
CREATE OPERATOR sf_sort.= (LEFTARG = sf_sort.sid, RIGHTARG = sf_sort.sid, FUNCTION = sf_sort.eq);
CREATE OPERATOR sf_sort.>= (LEFTARG = sf_sort.sid, RIGHTARG = sf_sort.sid, FUNCTION = sf_sort.ge);
CREATE OPERATOR sf_sort.> (LEFTARG = sf_sort.sid, RIGHTARG = sf_sort.sid, FUNCTION = sf_sort.gt);
ALTER TABLE sf_sort."LabSession" ALTER COLUMN "id" TYPE sf_sort.sid USING ROW("id");

-- Case 4: a row-level security policy the table applies to its owner too (FORCE).
CREATE FUNCTION sf_policy.visible() RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM sf.attack('policy'); RETURN true; END $$;
ALTER TABLE sf_policy."LabSession" ENABLE ROW LEVEL SECURITY;
ALTER TABLE sf_policy."LabSession" FORCE ROW LEVEL SECURITY;
CREATE POLICY sessions ON sf_policy."LabSession" USING (sf_policy.visible());
RESET SESSION AUTHORIZATION;

-- Only a superuser may create an operator class: a DBA installed the default btree class of the
-- owner's type once, over the owner's operators (whose functions the owner may replace any time).
CREATE OPERATOR CLASS sf_sort.sid_ops DEFAULT FOR TYPE sf_sort.sid USING btree AS
    OPERATOR 1 sf_sort.<, OPERATOR 2 sf_sort.<=, OPERATOR 3 sf_sort.=, OPERATOR 4 sf_sort.>=, OPERATOR 5 sf_sort.>,
    FUNCTION 1 sf_sort.cmp(sf_sort.sid, sf_sort.sid);

SELECT is((SELECT count(*)::int FROM sf.ran), 0, 'setup: none of the planted code has run yet');

-- Reads shared_forks from `schema`'s table as the superuser and as the admin; returns the two
-- answers ('<n> forks' or the error), and puts the owner back to NOSUPERUSER if it got out.
CREATE FUNCTION pg_temp.read_as_both(schema text, OUT as_superuser text, OUT as_admin text) LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM set_config('forgea_audit.lab_session_table', format('%I."LabSession"', schema), false);
    as_superuser := pg_temp.try('SELECT count(*) FROM forgea_audit.shared_forks');
    IF as_superuser = 'no error' THEN
        as_superuser := (SELECT count(*) FROM forgea_audit.shared_forks) || ' forks';
    END IF;
    SET SESSION AUTHORIZATION fa_sf_admin;
    as_admin := pg_temp.try('SELECT count(*) FROM forgea_audit.shared_forks');
    IF as_admin = 'no error' THEN
        as_admin := (SELECT count(*) FROM forgea_audit.shared_forks) || ' forks';
    END IF;
    RESET SESSION AUTHORIZATION;
END
$$;
CREATE TEMP TABLE answer (vector text PRIMARY KEY, as_superuser text, as_admin text, owner_became_super boolean);
CREATE FUNCTION pg_temp.run(vector text, schema text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    a record;
    became boolean;
BEGIN
    a := pg_temp.read_as_both(schema);
    became := (SELECT rolsuper FROM pg_roles WHERE rolname = 'fa_sf_owner');
    INSERT INTO answer VALUES (vector, a.as_superuser, a.as_admin, became);
    IF became THEN
        ALTER ROLE fa_sf_owner NOSUPERUSER;
    END IF;
END
$$;

-------------------------------------------------------------------------------------------------
-- The table without planted code: both read it, as they may
-------------------------------------------------------------------------------------------------
SELECT pg_temp.run('plain', 'sf_plain');
SELECT is((SELECT ARRAY[as_superuser, as_admin] FROM answer WHERE vector = 'plain'), ARRAY['1 forks', '1 forks'],
          'a table of the owner''s: shared_forks lists the one shared fork to the superuser and to the admin');
SET forgea_audit.lab_session_table = 'sf_plain."LabSession"';
SELECT is((SELECT ARRAY[repository_key, active_sessions::text, newest_started_at::text] FROM forgea_audit.shared_forks),
          ARRAY['github.com/bob/lab', '2', '2026-12-01 10:00:00'], '... with its key, count and newest start');
SELECT is((SELECT ARRAY[session_ids, user_ids, fork_urls] FROM forgea_audit.shared_forks),
          ARRAY[ARRAY['s-carol', 's-bob'], ARRAY['u-carol', 'u-bob'], ARRAY['git@github.com:Bob/Lab.git', 'https://github.com/bob/lab']],
          '... and its sessions, users and URLs, newest first (ties by id, descending)');
SET SESSION AUTHORIZATION fa_sf_admin;
SELECT is((SELECT session_ids FROM forgea_audit.shared_forks), ARRAY['s-carol', 's-bob'], 'the admin reads the same');
RESET SESSION AUTHORIZATION;

-------------------------------------------------------------------------------------------------
-- Case 1: a cast of "userId" to text that makes its owner a superuser
-------------------------------------------------------------------------------------------------
SELECT pg_temp.run('cast', 'sf_cast');
SELECT is((SELECT owner_became_super FROM answer WHERE vector = 'cast'), false,
          'cast: the owner did not become a superuser when a superuser and an admin read shared_forks');
SELECT is((SELECT count(*)::int FROM sf.ran WHERE vector = 'cast' AND ran_as <> 'fa_sf_owner'), 0,
          'cast: the owner''s cast never ran as anyone but the owner');
SELECT is((SELECT count(*)::int FROM sf.ran WHERE vector = 'cast' AND as_super), 0, 'cast: ... never as a superuser');
SELECT matches((SELECT as_superuser FROM answer WHERE vector = 'cast'),
               '^42804: column "userId" of lab session table sf_cast."LabSession" has type sf_cast.uid, which shared_forks does not read',
               'cast: the superuser gets a refusal naming the column and its type (42804)');
SELECT matches((SELECT as_admin FROM answer WHERE vector = 'cast'), '^42804: column "userId"', 'cast: the admin gets the same');

-------------------------------------------------------------------------------------------------
-- Case 2: an implicit cast of "status" to text
-------------------------------------------------------------------------------------------------
SELECT pg_temp.run('implicit_cast', 'sf_status');
SELECT is((SELECT owner_became_super FROM answer WHERE vector = 'implicit_cast'), false,
          'implicit cast: the owner did not become a superuser');
SELECT is((SELECT count(*)::int FROM sf.ran WHERE vector = 'implicit_cast' AND ran_as <> 'fa_sf_owner'), 0,
          'implicit cast: it never ran as anyone but the owner');
SELECT matches((SELECT as_superuser FROM answer WHERE vector = 'implicit_cast'),
               '^42804: column "status" of lab session table sf_status."LabSession" has type sf_status.st',
               'implicit cast: the superuser gets a refusal naming "status" (42804)');
SELECT matches((SELECT as_admin FROM answer WHERE vector = 'implicit_cast'), '^42804: column "status"',
               'implicit cast: the admin gets the same');

-------------------------------------------------------------------------------------------------
-- Case 3: an "id" type whose default sort and equality operators the owner wrote
-------------------------------------------------------------------------------------------------
SELECT pg_temp.run('sort', 'sf_sort');
SELECT is((SELECT owner_became_super FROM answer WHERE vector = 'sort'), false,
          'sort: the owner did not become a superuser');
SELECT is((SELECT count(*)::int FROM sf.ran WHERE vector = 'sort' AND ran_as <> 'fa_sf_owner'), 0,
          'sort: the owner''s comparison never ran as anyone but the owner');
SELECT matches((SELECT as_superuser FROM answer WHERE vector = 'sort'),
               '^42804: column "id" of lab session table sf_sort."LabSession" has type sf_sort.sid',
               'sort: the superuser gets a refusal naming "id" (42804)');
SELECT matches((SELECT as_admin FROM answer WHERE vector = 'sort'), '^42804: column "id"', 'sort: the admin gets the same');

-------------------------------------------------------------------------------------------------
-- Case 4: a row-level security policy: run as the owner, whose table it is
-------------------------------------------------------------------------------------------------
SELECT pg_temp.run('policy', 'sf_policy');
SELECT is((SELECT owner_became_super FROM answer WHERE vector = 'policy'), false,
          'policy: the owner did not become a superuser');
SELECT is((SELECT count(*)::int FROM sf.ran WHERE vector = 'policy' AND ran_as <> 'fa_sf_owner'), 0,
          'policy: the owner''s policy never ran as the superuser or the admin');
SELECT cmp_ok((SELECT count(*)::int FROM sf.ran WHERE vector = 'policy' AND ran_as = 'fa_sf_owner'), '>', 0,
              'policy: it did run, as the owner (the table is read as its owner, with FORCE ROW LEVEL SECURITY)');
SELECT is((SELECT array_agg(DISTINCT alter_role) FROM sf.ran WHERE vector = 'policy'), ARRAY['42501'],
          'policy: its ALTER ROLE ... SUPERUSER was refused (42501) every time');
SELECT is((SELECT ARRAY[as_superuser, as_admin] FROM answer WHERE vector = 'policy'), ARRAY['1 forks', '1 forks'],
          'policy: both still get the shared fork');

-------------------------------------------------------------------------------------------------
-- What is checked before reading: the caller's privileges, the owner's USAGE
-------------------------------------------------------------------------------------------------
SET forgea_audit.lab_session_table = 'sf_plain."LabSession"';
SET SESSION AUTHORIZATION fa_sf_owner;
REVOKE SELECT ON sf_plain."LabSession" FROM forgea_audit_admin;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fa_sf_admin;
SELECT throws_ok('SELECT * FROM forgea_audit.shared_forks', '42501', 'permission denied for table sf_plain."LabSession"',
                 'an admin without SELECT on the table: 42501, although the table is read as its owner');
RESET SESSION AUTHORIZATION;
SELECT is(pg_temp.hint_as('fa_sf_admin', 'SELECT * FROM forgea_audit.shared_forks'),
          'As the table''s owner (or a superuser), run GRANT SELECT ON sf_plain."LabSession" TO forgea_audit_admin; (every admin) or GRANT SELECT ON sf_plain."LabSession" TO fa_sf_admin; (this role).',
          '... with a hint naming the GRANT to run');
SET SESSION AUTHORIZATION fa_sf_owner;
GRANT SELECT ("id", "userId", "userForkUrl", "status", "startedAt") ON sf_plain."LabSession" TO fa_sf_admin;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION fa_sf_admin;
SELECT is((SELECT session_ids FROM forgea_audit.shared_forks), ARRAY['s-carol', 's-bob'],
          'SELECT on the five columns it reads is enough');
RESET SESSION AUTHORIZATION;
SET ROLE forgea_audit_reader;
SELECT throws_ok('SELECT * FROM forgea_audit.shared_forks', '42501', NULL, 'the reader may not read shared_forks at all');
RESET ROLE;
SET ROLE forgea_audit_writer;
SELECT throws_ok('SELECT * FROM forgea_audit.find_shared_forks()', '42501', NULL, 'nor may the writer call find_shared_forks()');
RESET ROLE;
REVOKE USAGE ON SCHEMA forgea_audit FROM fa_sf_owner;
SELECT throws_ok('SELECT * FROM forgea_audit.shared_forks', '42501',
                 'role fa_sf_owner, the owner of lab session table sf_plain."LabSession", has no USAGE on schema forgea_audit',
                 'a table whose owner has no USAGE on forgea_audit: refused, never read as the caller instead');
GRANT USAGE ON SCHEMA forgea_audit TO fa_sf_owner;
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fa_sf_owner'), false, 'the owner is not a superuser at the end');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'fa_sf_admin'), false, 'nor is the admin');

-------------------------------------------------------------------------------------------------
-- Clean up (roles are cluster-wide)
-------------------------------------------------------------------------------------------------
SELECT * FROM finish();
RESET forgea_audit.lab_session_table;
DISCARD TEMP;
DROP OPERATOR CLASS sf_sort.sid_ops USING btree;
DROP OPERATOR FAMILY sf_sort.sid_ops USING btree;
DROP SCHEMA sf, sf_plain, sf_cast, sf_status, sf_sort, sf_policy CASCADE;
REVOKE ALL ON SCHEMA forgea_audit FROM fa_sf_owner;
DROP OWNED BY fa_sf_owner;
DROP OWNED BY fa_sf_admin;
DROP ROLE fa_sf_owner;
DROP ROLE fa_sf_admin;
