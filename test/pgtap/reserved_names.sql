-- Reserved actions and chains (issue 10, case 7): a writer's append() may not write an event that
-- a reader would take for one of the extension's own.  Names are compared after trimming spaces
-- (ASCII and the invisible Unicode ones) and folding ASCII case.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(16);

\ir try.psql

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_rn_writer') THEN
        DROP OWNED BY fa_rn_writer;
        DROP ROLE fa_rn_writer;
    END IF;
    CREATE ROLE fa_rn_writer LOGIN NOSUPERUSER;
END
$$;
GRANT forgea_audit_writer TO fa_rn_writer;
SET SESSION AUTHORIZATION fa_rn_writer;

-- Exact names were refused before; near misses are refused now.
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('lab_verify_attempt', chain => 'mine')$$),
               '^42501: forgea_audit.append: action "lab_verify_attempt" is reserved', 'lower-case reserved action refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('RETENTION_ARCHIVE ', chain => 'mine')$$),
               '^42501: forgea_audit.append: action "RETENTION_ARCHIVE " is reserved', 'reserved action with a trailing space refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append(E'\tAudit_DDL\n', chain => 'mine')$$),
               '^42501: .* is reserved', 'reserved action in mixed case between tab and newline refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append(U&'CHECKPOINT\00A0', chain => 'mine')$$),
               '^42501: .* is reserved', 'reserved action followed by a no-break space refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append(U&'\FEFFlab_status_transition\200B', chain => 'mine')$$),
               '^42501: .* is reserved', 'reserved action between a BOM and a zero-width space refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('MY_EVENT', chain => 'Session:s1')$$),
               '^42501: forgea_audit.append: chain "Session:s1" is reserved', 'chain Session:s1 refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('MY_EVENT', chain => ' REPOSITORY:github.com/a/b')$$),
               '^42501: forgea_audit.append: chain " REPOSITORY:github.com/a/b" is reserved', 'chain with a leading space and upper case refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('MY_EVENT', chain => 'retention ')$$),
               '^42501: forgea_audit.append: chain "retention " is reserved', 'chain "retention " refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('MY_EVENT', chain => 'DDL')$$),
               '^42501: .* is reserved', 'chain DDL refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('MY_EVENT', target_type => 'Session', target_id => 's1')$$),
               '^42501: forgea_audit.append: chain "Session:s1" is reserved',
               'the default chain from target_type Session (Session:s1) refused');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('MY_EVENT', chain => 'Verification')$$),
               '^42501: .* is reserved', 'chain Verification refused');

-- Names that only contain a reserved one are the writer's own.
SELECT is(pg_temp.try($$SELECT forgea_audit.append('LAB_VERIFY_ATTEMPT_NOTE', chain => 'mine')$$), 'no error',
          'an action that only begins with a reserved one is allowed');
SELECT is(pg_temp.try($$SELECT forgea_audit.append('NOTE', chain => 'lab_session:s1')$$), 'no error',
          'chain lab_session:s1 is allowed');
SELECT is(pg_temp.try($$SELECT forgea_audit.append('NOTE', chain => 'my retention')$$), 'no error',
          'chain "my retention" is allowed');
SELECT is(pg_temp.try($$SELECT forgea_audit.append('LAB_STARTED', target_type => 'lab_session', target_id => 's1')$$), 'no error',
          'the README''s example append is allowed');
RESET SESSION AUTHORIZATION;

SELECT is((SELECT array_agg(action ORDER BY seq) FROM forgea_audit.audit_log),
          ARRAY['LAB_VERIFY_ATTEMPT_NOTE', 'NOTE', 'NOTE', 'LAB_STARTED'], 'only the allowed events were written');

SELECT * FROM finish();
DROP OWNED BY fa_rn_writer;
DROP ROLE fa_rn_writer;
