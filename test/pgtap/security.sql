-- Every security boundary of forgea_audit, attacked with real LOGIN roles (SET SESSION AUTHORIZATION)
-- and real second connections (dblink over the server's unix socket):
--   1. privileges: forgea_audit_writer / _reader / _admin, a role with no membership, the superuser;
--   2. tenant isolation of audit_log (row-level security, forgea_audit.reader_tenant, forgea_audit.tenant);
--   3. the DDL guard event triggers (refused to non-superusers, audited for superusers);
--   4. secret redaction and oversize metadata markers, before hashing;
--   5. HIGH/CRITICAL alerts on NOTIFY forgea_audit_alerts, at commit only;
--   6. checkpoints, unsigned then Ed25519-signed, against tampering a plain verify_chain() cannot see.
--
-- Values that must survive a ROLLBACK, and values computed while acting as a role that cannot write
-- this session's temp tables, are kept in psql variables (\gset).  The roles are cluster-wide, so
-- they have names of their own (fa_sec_*) and are dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(162);

-- Checkpoints below start unsigned, whatever an aborted earlier run left in postgresql.auto.conf.
SELECT forgea_audit.repo_key('https://github.com/sec/load') AS library_loaded \gset
ALTER SYSTEM RESET forgea_audit.signing_key_file;
ALTER SYSTEM RESET forgea_audit.verify_key_file;
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.verify_key_file
\set wait_value ''
\set wait_tries 0
\ir wait_for_setting.psql

-------------------------------------------------------------------------------------------------
-- Helpers, roles, sessions
-------------------------------------------------------------------------------------------------
-- Runs sql and returns 'SQLSTATE: message', or 'no error'.  Runs as the current role.
\ir try.psql

-- The real new-branch push, re-addressed to github.com/sec/<fork>; "after" replaceable.
CREATE FUNCTION pg_temp.payload(fork text, after text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS
$$
SELECT jsonb_set(jsonb_set(p, '{repository,html_url}', to_jsonb('https://github.com/sec/' || fork)),
                 '{after}', to_jsonb(coalesce(after, p ->> 'after')))
FROM (SELECT payload AS p FROM public.fixture_push WHERE name = 'api-with-new-branch.payload') f
$$;

-- A connection string for a second connection to this database, as the superuser.
CREATE FUNCTION pg_temp.connstr() RETURNS text LANGUAGE sql AS
$$
SELECT format('host=%s port=%s dbname=%s user=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_database(), 'postgres')
$$;

-- Notifications a dblink connection received, per batch.
CREATE TEMP TABLE heard (n serial PRIMARY KEY, batch text NOT NULL, channel text, pid int, payload text);

-- Collects what conn has received into heard(batch) until want notifications arrived (or timeout_s),
-- then until a marker of its own arrives, and returns the count.  The marker (NOTIFY fa_test_settle,
-- sent by conn itself once the wanted ones are in) commits after every transaction whose
-- notifications are counted, and a listener reads the queue in commit order: once the marker is
-- there, any extra notification of those transactions is there too.  So an extra one is seen
-- without waiting a while and hoping it came; the deadlines only turn a hang into a failure.
CREATE FUNCTION pg_temp.listen_for(conn text, batch text, want int, timeout_s float8 DEFAULT 5) RETURNS int
    LANGUAGE plpgsql AS
$$
DECLARE
    deadline timestamptz := clock_timestamp() + make_interval(secs => timeout_s);
    got int := 0;
    g record;
    marker_sent boolean := false;
    marker_seen boolean := false;
BEGIN
    PERFORM dblink_exec(conn, 'LISTEN fa_test_settle');
    LOOP
        PERFORM * FROM dblink(conn, 'SELECT 1') AS t(x int);
        FOR g IN SELECT * FROM dblink_get_notify(conn) LOOP
            IF g.notify_name = 'fa_test_settle' THEN
                marker_seen := true;
            ELSE
                INSERT INTO heard (batch, channel, pid, payload) VALUES (batch, g.notify_name, g.be_pid, g.extra);
                got := got + 1;
            END IF;
        END LOOP;
        EXIT WHEN marker_seen OR clock_timestamp() > deadline + interval '10 s';
        IF NOT marker_sent AND (got >= want OR clock_timestamp() > deadline) THEN
            PERFORM dblink_exec(conn, 'NOTIFY fa_test_settle');
            marker_sent := true;
        ELSE
            PERFORM pg_sleep(0.05);
        END IF;
    END LOOP;
    RETURN got;
END
$$;

\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_sec_writer', 'fa_sec_reader', 'fa_sec_reader2', 'fa_sec_admin', 'fa_sec_nobody',
                               'fa_sec_ddl']);
GRANT forgea_audit_writer TO fa_sec_writer;
GRANT forgea_audit_reader TO fa_sec_reader, fa_sec_reader2;
GRANT forgea_audit_admin TO fa_sec_admin;
GRANT USAGE ON SCHEMA forgea_audit TO fa_sec_ddl;
GRANT TRIGGER ON forgea_audit.audit_log TO fa_sec_ddl;

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-sec-w',     'u-w', 'lab', 'https://github.com/sec/writer-lab', 'IN_PROGRESS', now()),
       ('s-sec-alert', 'u-a', 'lab', 'https://github.com/sec/alert-lab',  'IN_PROGRESS', now());

SELECT pg_temp.payload('writer-lab') AS w_payload \gset

-------------------------------------------------------------------------------------------------
-- 1. Privileges
-------------------------------------------------------------------------------------------------
-- The writer: record_push and append, nothing else.
SET SESSION AUTHORIZATION fa_sec_writer;
SELECT is(ARRAY[session_user::text, current_user::text, (SELECT rolsuper::text FROM pg_roles WHERE rolname = current_user)],
          ARRAY['fa_sec_writer', 'fa_sec_writer', 'false'],
          'writer: acting as the LOGIN role fa_sec_writer (session and current user), not a superuser');
SELECT status AS w_status, audit_seq AS w_push_seq
FROM forgea_audit.record_push(:'w_payload'::jsonb, '00000000-0000-4000-8000-00000000e001') \gset
SELECT is(:'w_status'::text, 'recorded', 'writer: record_push() is allowed and records the push');
SELECT forgea_audit.append('SEC_WRITER_EVENT', 'user', 'u-w', 'test', 'writer', metadata => '{"by": "writer"}',
                           tenant_id => 'school-1') AS w_append_seq \gset
SELECT ok(:w_append_seq > :w_push_seq, 'writer: append() is allowed and returns a new seq');
SELECT matches(pg_temp.try('SELECT count(*) FROM forgea_audit.audit_log'), '^42501: permission denied for table audit_log',
               'writer: SELECT on audit_log is refused (42501)');
SELECT matches(pg_temp.try('SELECT count(*) FROM forgea_audit.lab_attempt'), '^42501: permission denied for table lab_attempt',
               'writer: SELECT on lab_attempt is refused (42501)');
SELECT matches(pg_temp.try('SELECT count(*) FROM forgea_audit.chain_head'), '^42501: ',
               'writer: SELECT on chain_head is refused (42501)');
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.verify_chain()'), '^42501: permission denied for function verify_chain',
               'writer: verify_chain() is refused (42501)');
SELECT matches(pg_temp.try('SELECT forgea_audit.checkpoint()'), '^42501: permission denied for function checkpoint',
               'writer: checkpoint() is refused (42501)');
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.run_retention()'), '^42501: permission denied for function run_retention',
               'writer: run_retention() is refused (42501)');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at,
                                                                 actor_type, action, outcome, severity)
                              VALUES (999999, 'forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                      now(), 'user', 'FORGED', 'success', 'INFO')$$),
               '^42501: ', 'writer: a direct INSERT into audit_log is refused (42501)');
SELECT matches(pg_temp.try('SET forgea_audit.max_metadata_bytes = 256'), '^42501: ',
               'writer: cannot change forgea_audit.max_metadata_bytes (superuser only, 42501)');
RESET SESSION AUTHORIZATION;

SELECT is((SELECT array_agg(action ORDER BY seq) FROM forgea_audit.audit_log WHERE seq IN (:w_push_seq, :w_append_seq)),
          ARRAY['LAB_VERIFY_ATTEMPT', 'SEC_WRITER_EVENT'], 'writer: its record_push and append rows are in the log');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true,
          'writer: the rows it wrote through the functions carry valid links (verify_chain ok)');

-- The reader: reads and verifies, writes nothing.
SET SESSION AUTHORIZATION fa_sec_reader;
SELECT is(session_user::text, 'fa_sec_reader', 'reader: acting as the LOGIN role fa_sec_reader');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE session_id = 's-sec-w'), 1,
          'reader: SELECT on lab_attempt is allowed (sees the writer''s attempt)');
SELECT lives_ok('SELECT count(*) FROM forgea_audit.audit_log', 'reader: SELECT on audit_log is allowed');
SELECT ok((SELECT count(*) FROM forgea_audit.chain_head) > 0, 'reader: SELECT on chain_head is allowed');
SELECT lives_ok('SELECT * FROM forgea_audit.retention_status', 'reader: SELECT on retention_status is allowed');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'reader: verify_chain() is allowed and ok');
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push('{}', '00000000-0000-4000-8000-00000000e0ff')$$),
               '^42501: permission denied for function record_push', 'reader: record_push() is refused (42501)');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('SEC_READER_EVENT')$$),
               '^42501: permission denied for function append', 'reader: append() is refused (42501)');
SELECT matches(pg_temp.try('SELECT forgea_audit.checkpoint()'), '^no error$',
               'reader: checkpoint() is allowed (issue 13; calling it again adds nothing: test/pgtap/checkpoint_reader.sql)');
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.run_retention()'), '^42501: permission denied for function run_retention',
               'reader: run_retention() is refused (42501)');
SELECT matches(pg_temp.try($$UPDATE forgea_audit.audit_log SET outcome = 'failure'$$), '^42501: ',
               'reader: UPDATE on audit_log is refused (42501)');
SELECT matches(pg_temp.try('DELETE FROM forgea_audit.audit_log'), '^42501: ', 'reader: DELETE on audit_log is refused (42501)');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at,
                                                                 actor_type, action, outcome, severity)
                              VALUES (999999, 'forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                      now(), 'user', 'FORGED', 'success', 'INFO')$$),
               '^42501: ', 'reader: INSERT into audit_log is refused (42501)');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.reader_tenant VALUES ('fa_sec_reader', 'school-2')$$), '^42501: ',
               'reader: cannot grant itself a tenant in reader_tenant (42501)');
SELECT matches(pg_temp.try($$SELECT current_setting('forgea_audit.signing_key_file')$$), '^42501: ',
               'reader: cannot even read where the signing key is (forgea_audit.signing_key_file is superuser-only, 42501)');
RESET SESSION AUTHORIZATION;

-- The admin: retention, checkpoints, reads everything; still cannot write the log directly.
SET SESSION AUTHORIZATION fa_sec_admin;
SELECT is(session_user::text, 'fa_sec_admin', 'admin: acting as the LOGIN role fa_sec_admin');
SELECT is((SELECT skipped FROM forgea_audit.run_retention()), false, 'admin: run_retention() is allowed and runs');
SELECT matches(forgea_audit.checkpoint(), '^forgea_audit/', 'admin: checkpoint() is allowed and returns a note');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log), (SELECT rows_checked FROM forgea_audit.verify_chain()),
          'admin: SELECT on audit_log shows every row (as many as verify_chain checks)');
SELECT ok((SELECT count(*) FROM forgea_audit.lab_attempt) > 0 AND (SELECT count(*) FROM forgea_audit.retention_status) > 0
          AND (SELECT count(*) FROM forgea_audit.chain_head) > 0,
          'admin: reads lab_attempt, retention_status and chain_head');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at,
                                                                 actor_type, action, outcome, severity)
                              VALUES (999999, 'forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                      now(), 'user', 'FORGED', 'success', 'INFO')$$),
               '^42501: ', 'admin: a direct INSERT into audit_log is refused (42501)');
SELECT matches(pg_temp.try('ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER audit_log_guard_rows'), '^42501: ',
               'admin: cannot disable the guard triggers (42501)');
SELECT is(pg_temp.try($$INSERT INTO forgea_audit.reader_tenant VALUES ('fa_sec_reader', 'school-1')$$), 'no error',
          'admin: grants fa_sec_reader the tenant school-1 in reader_tenant');
RESET SESSION AUTHORIZATION;

-- A login role with no membership: stopped at the schema.
SET SESSION AUTHORIZATION fa_sec_nobody;
SELECT matches(pg_temp.try('SELECT count(*) FROM forgea_audit.audit_log'), '^42501: permission denied for schema forgea_audit',
               'no membership: SELECT on audit_log is refused at the schema (42501)');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('SEC_NOBODY_EVENT')$$), '^42501: permission denied for schema forgea_audit',
               'no membership: append() is refused at the schema (42501)');
SELECT matches(pg_temp.try($$SELECT * FROM forgea_audit.record_push('{}', '00000000-0000-4000-8000-00000000e0fe')$$),
               '^42501: permission denied for schema forgea_audit', 'no membership: record_push() is refused (42501)');
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.verify_chain()'), '^42501: permission denied for schema forgea_audit',
               'no membership: verify_chain() is refused (42501)');
SELECT matches(pg_temp.try('SELECT forgea_audit.checkpoint()'), '^42501: permission denied for schema forgea_audit',
               'no membership: checkpoint() is refused (42501)');
RESET SESSION AUTHORIZATION;

-- The owner and superuser: no direct INSERT either.
SELECT ok((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), 'superuser: back to the superuser session');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at,
                                                                 actor_type, action, outcome, severity)
                              VALUES (999999, 'forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                      now(), 'user', 'FORGED', 'success', 'INFO')$$),
               '^23000: restoring forgea_audit.audit_log refused: row seq 999999 \(chain "forged" position 1\): its row_hash does not match',
               'superuser (the owner): a direct INSERT of a row that does not verify is refused by the guard (23000, the restore check)');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE action = 'FORGED'), 0, 'no FORGED row got in');

-------------------------------------------------------------------------------------------------
-- 2. Tenant isolation
-------------------------------------------------------------------------------------------------
SELECT forgea_audit.append('SEC_TENANT_EVENT', 'user', 'u-1', 'test', 'tenants', tenant_id => 'school-1') AS t1a,
       forgea_audit.append('SEC_TENANT_EVENT', 'user', 'u-2', 'test', 'tenants', tenant_id => 'school-1') AS t1b,
       forgea_audit.append('SEC_TENANT_EVENT', 'user', 'u-3', 'test', 'tenants', tenant_id => 'school-2') AS t2,
       forgea_audit.append('SEC_TENANT_EVENT', 'user', 'u-4', 'test', 'tenants') AS t0 \gset
SELECT string_agg(seq::text, ',' ORDER BY seq) AS school1_seqs FROM forgea_audit.audit_log WHERE tenant_id = 'school-1' \gset
SELECT count(*) AS total_rows, count(*) FILTER (WHERE tenant_id IS NULL) AS no_tenant_rows,
       count(*) FILTER (WHERE tenant_id = 'school-2') AS school2_rows FROM forgea_audit.audit_log \gset
SELECT is(:'school1_seqs'::text, concat_ws(',', :w_append_seq, :t1a, :t1b),
          'tenants: school-1 holds the writer''s row and two more (as the superuser sees it)');
SELECT is((SELECT array_agg(tenant_id ORDER BY tenant_id) FROM forgea_audit.reader_tenant WHERE role_name = 'fa_sec_reader'),
          ARRAY['school-1'], 'tenants: reader_tenant grants fa_sec_reader school-1 only');

SET SESSION AUTHORIZATION fa_sec_reader;
SELECT is(current_setting('forgea_audit.tenant'), '', 'reader: forgea_audit.tenant is unset');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log), 0, 'reader, tenant unset: sees no audit row at all');
SET forgea_audit.tenant = 'school-1';
SELECT is((SELECT string_agg(seq::text, ',' ORDER BY seq) FROM forgea_audit.audit_log), :'school1_seqs',
          'reader, tenant school-1 (granted): sees exactly the school-1 rows');
SET row_security = off;
SELECT matches(pg_temp.try('SELECT count(*) FROM forgea_audit.audit_log'), '^42501: query would be affected by row-level security',
               'reader, row_security = off: reading audit_log is refused (42501), not unfiltered');
RESET row_security;
SET forgea_audit.tenant = 'school-2';
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log), 0, 'reader, tenant school-2 (not granted): sees no row');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE tenant_id = 'school-2'), 0,
          'reader, tenant school-2 (not granted): even asking for school-2 rows finds none');
RESET forgea_audit.tenant;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION fa_sec_reader2;
SET forgea_audit.tenant = 'school-1';
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log), 0,
          'another reader with no reader_tenant grant, tenant school-1: sees no row');
RESET forgea_audit.tenant;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION fa_sec_admin;
SELECT is((SELECT count(*) FROM forgea_audit.audit_log), :total_rows::bigint,
          'admin: sees every audit row, whatever its tenant');
SELECT is(ARRAY[(SELECT count(*) FROM forgea_audit.audit_log WHERE tenant_id IS NULL),
                (SELECT count(*) FROM forgea_audit.audit_log WHERE tenant_id = 'school-2')],
          ARRAY[:no_tenant_rows, :school2_rows]::bigint[],
          'admin: sees the tenant-less rows and the school-2 rows too');
RESET SESSION AUTHORIZATION;
SELECT ok(:no_tenant_rows > 0 AND :school2_rows = 1, 'tenants: there were tenant-less rows and one school-2 row to hide');

-------------------------------------------------------------------------------------------------
-- 3. DDL guard
-------------------------------------------------------------------------------------------------
SELECT count(*) AS ddl_rows_0 FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL' \gset

SET SESSION AUTHORIZATION fa_sec_ddl;
SELECT ok(has_table_privilege('forgea_audit.audit_log', 'TRIGGER'),
          'ddl: the non-superuser fa_sec_ddl holds the TRIGGER privilege on audit_log');
SELECT matches(pg_temp.try('CREATE TRIGGER fa_sec_evil BEFORE INSERT ON forgea_audit.audit_log
                            FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()'),
               '^42501: CREATE TRIGGER on .*audit_log is refused: forgea_audit''s objects are changed only by superusers',
               'ddl: its CREATE TRIGGER on audit_log is refused by the event trigger (42501)');
SELECT matches(pg_temp.try('ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER audit_log_guard_rows'), '^42501: ',
               'ddl: it cannot disable the guard trigger either (42501)');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*)::int FROM pg_trigger WHERE tgname = 'fa_sec_evil'), 0, 'ddl: no trigger fa_sec_evil exists');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL'), :ddl_rows_0::bigint,
          'ddl: the refused statements left no AUDIT_DDL row');

-- A superuser may, and is audited.
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER audit_log_guard_rows;
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'audit_log_guard_rows'), 'D',
          'ddl: a superuser''s ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard_rows succeeds');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL'), :ddl_rows_0::bigint + 1,
          'ddl: it left exactly one AUDIT_DDL row');
SELECT is((SELECT ARRAY[chain_id, severity, actor_type, actor_id, target_type, target_id, metadata->>'command_tag', outcome]
           FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL' ORDER BY seq DESC LIMIT 1),
          ARRAY['ddl', 'HIGH', 'database_role', session_user::text, 'table', 'forgea_audit.audit_log', 'ALTER TABLE', 'success'],
          'ddl: the AUDIT_DDL row: chain ddl, HIGH, actor = the session user, target audit_log, command_tag ALTER TABLE');
SELECT matches((SELECT metadata->>'query' FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL' ORDER BY seq DESC LIMIT 1),
               'DISABLE TRIGGER audit_log_guard_rows', 'ddl: the AUDIT_DDL row quotes the statement');
ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_rows;
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'audit_log_guard_rows'), 'A',
          'ddl: ENABLE ALWAYS TRIGGER audit_log_guard_rows restores the guard');
SELECT is((SELECT ARRAY[count(*)::text, (array_agg(metadata->>'command_tag' ORDER BY seq DESC))[1],
                        ((array_agg(metadata->>'query' ORDER BY seq DESC))[1] ~ 'ENABLE ALWAYS TRIGGER')::text]
           FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL'),
          ARRAY[(:ddl_rows_0 + 2)::text, 'ALTER TABLE', 'true'],
          'ddl: re-enabling left a second AUDIT_DDL row');

BEGIN;
DROP TRIGGER audit_log_guard_truncate ON forgea_audit.audit_log;
SELECT count(*) FILTER (WHERE action = 'AUDIT_DDL') AS ddl_rows_in_tx,
       (array_agg(concat_ws('|', chain_id, severity, actor_id, target_type, target_id, metadata->>'command_tag')
                  ORDER BY seq DESC) FILTER (WHERE action = 'AUDIT_DDL'))[1] AS drop_row,
       (SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_log_guard_truncate') AS truncate_guard_in_tx
FROM forgea_audit.audit_log \gset
ROLLBACK;
SELECT is(:truncate_guard_in_tx::int, 0, 'ddl: a superuser''s DROP TRIGGER audit_log_guard_truncate succeeds in its transaction');
SELECT is(:ddl_rows_in_tx::bigint, :ddl_rows_0::bigint + 3, 'ddl: the DROP TRIGGER left an AUDIT_DDL row in that transaction');
SELECT is(:'drop_row'::text, 'ddl|HIGH|' || session_user || '|trigger|audit_log_guard_truncate on forgea_audit.audit_log|DROP TRIGGER',
          'ddl: that row: chain ddl, HIGH, the session user, the dropped trigger, command_tag DROP TRIGGER');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'audit_log_guard_truncate'), 'A',
          'ddl: after ROLLBACK the truncate guard is back, ENABLE ALWAYS');
-- Replica mode switches off event triggers that are not ENABLE ALWAYS; the row guards are ENABLE
-- ALWAYS for that reason, and the DDL audit must not be the weaker link.
SELECT count(*) AS ddl_rows_before_replica FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL' \gset
BEGIN;
SET LOCAL session_replication_role = replica;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER audit_log_guard_rows;
SELECT count(*) AS ddl_rows_replica FROM forgea_audit.audit_log WHERE action = 'AUDIT_DDL' \gset
ROLLBACK;
SELECT is(:ddl_rows_replica::bigint, :ddl_rows_before_replica::bigint + 1,
          'ddl: with session_replication_role = replica, a superuser''s DISABLE TRIGGER on audit_log still leaves an AUDIT_DDL row');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'ddl: verify_chain() ok after the audited DDL');

-------------------------------------------------------------------------------------------------
-- 4. Secret redaction and oversize metadata
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE scrub (name text PRIMARY KEY, original jsonb, expected jsonb, seq bigint);
-- The keys and values docs/security.md lists ("Secret redaction"), and look-alikes that stay.
INSERT INTO scrub (name, original, expected) VALUES ('nested', $j$
{"token": "ghp_abc", "API_KEY": "k-123", "X-Api-Key": "k-456", "Authorization": "Bearer xyz",
 "set-cookie": ["sid=1", "x=2"], "client_secret": {"value": "cs-1", "rotated": true},
 "users": [{"name": "alice", "password": "hunter2"}, {"name": "bob", "password": {"hash": "h-1"}}],
 "privateKey": "-----BEGIN PRIVATE KEY-----", "GitHubToken": "t-1", "tokens_note": "t-2", "api key": "k-789",
 "nested": {"deep": {"access.key": "AKIA-1", "db_credentials": ["u", "p"], "keep": 1}},
 "passphrase": "pp-1", "db_pwd": "pw-1", "auth": "au-1", "X-Auth": "au-2", "basicAuth": "au-3", "session": "se-1",
 "private_key": "pk-1", "note": "Bearer be-1", "header": "basic YmFzaWMtMQ==",
 "message": "ci: drop ghp_abcdefghijklmnopqrstuvwxyz0123456789 again", "pat": ["github_pat_abcdefghijklmnopqrstuvwxyz0123456789", "kept"],
 "oauth": "gho_abcdefghijklmnopqrstuvwxyz0123456789", "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpem1\n-----END RSA PRIVATE KEY-----",
 "public_pem": "-----BEGIN PUBLIC KEY-----\nMCowBQ", "about": "Bearer tokens are supported", "author": "alice",
 "authored_at": "2026-01-01", "session_id": "sess-1", "session_note": "n-1",
 "commit_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "passage": "kept", "list": [1, "token", {"ok": null}]}
$j$, $j$
{"token": "[REDACTED]", "API_KEY": "[REDACTED]", "X-Api-Key": "[REDACTED]", "Authorization": "[REDACTED]",
 "set-cookie": "[REDACTED]", "client_secret": "[REDACTED]",
 "users": [{"name": "alice", "password": "[REDACTED]"}, {"name": "bob", "password": "[REDACTED]"}],
 "privateKey": "[REDACTED]", "GitHubToken": "[REDACTED]", "tokens_note": "[REDACTED]", "api key": "[REDACTED]",
 "nested": {"deep": {"access.key": "[REDACTED]", "db_credentials": "[REDACTED]", "keep": 1}},
 "passphrase": "[REDACTED]", "db_pwd": "[REDACTED]", "auth": "[REDACTED]", "X-Auth": "[REDACTED]", "basicAuth": "[REDACTED]",
 "session": "[REDACTED]", "private_key": "[REDACTED]", "note": "[REDACTED]", "header": "[REDACTED]",
 "message": "[REDACTED]", "pat": ["[REDACTED]", "kept"],
 "oauth": "[REDACTED]", "pem": "[REDACTED]",
 "public_pem": "-----BEGIN PUBLIC KEY-----\nMCowBQ", "about": "Bearer tokens are supported", "author": "alice",
 "authored_at": "2026-01-01", "session_id": "sess-1", "session_note": "n-1",
 "commit_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "passage": "kept", "list": [1, "token", {"ok": null}]}
$j$);
UPDATE scrub SET seq = forgea_audit.append('SEC_SCRUB', 'system', 'pgtap', 'test', 'scrub',
                                           metadata => original, proof => original)
WHERE name = 'nested';

SELECT is((SELECT l.metadata FROM forgea_audit.audit_log l JOIN scrub s ON s.seq = l.seq WHERE s.name = 'nested'),
          (SELECT expected FROM scrub WHERE name = 'nested'),
          'scrub: stored metadata has "[REDACTED]" exactly at every secret key and credential value (any depth, in arrays, object/array values), the rest untouched');
SELECT is((SELECT l.proof FROM forgea_audit.audit_log l JOIN scrub s ON s.seq = l.seq WHERE s.name = 'nested'),
          (SELECT expected FROM scrub WHERE name = 'nested'), 'scrub: the same redaction applies to proof');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log l JOIN scrub s ON s.seq = l.seq
           WHERE l.metadata::text ~ '(ghp_abc|k-123|k-456|xyz|sid=1|cs-1|hunter2|h-1|BEGIN PRIVATE|t-1|t-2|k-789|AKIA-1|pp-1|pw-1|au-[123]|se-1|pk-1|be-1|YmFzaWMtMQ|abcdefghijklmnopqrstuvwxyz0123456789|MIIEpem1)'
              OR l.proof::text ~ '(ghp_abc|k-123|k-456|xyz|sid=1|cs-1|hunter2|h-1|BEGIN PRIVATE|t-1|t-2|k-789|AKIA-1|pp-1|pw-1|au-[123]|se-1|pk-1|be-1|YmFzaWMtMQ|abcdefghijklmnopqrstuvwxyz0123456789|MIIEpem1)'),
          0, 'scrub: no secret value is stored anywhere in the rows');
-- proof must be an object, as metadata must: a string or array proof is refused and writes nothing.
SELECT count(*) AS rows_before_bad_proof FROM forgea_audit.audit_log \gset
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('SEC_PROOF', proof => '[{"token": "x"}, "token"]')$$),
               '^22023: forgea_audit.append: proof must be a JSON object or NULL, not an array',
               'proof: an array proof is refused (22023)');
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('SEC_PROOF', proof => '"Bearer xyz"')$$),
               '^22023: forgea_audit.append: proof must be a JSON object or NULL, not a scalar',
               'proof: a string proof is refused (22023)');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log), :'rows_before_bad_proof'::bigint,
          'proof: the refused appends wrote nothing');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true,
          'scrub: verify_chain() ok: the row hash covers the redacted form that is stored');

SET forgea_audit.max_metadata_bytes = 256;
INSERT INTO scrub (name, original) VALUES
    ('oversize', jsonb_build_object('blob', repeat('x', 2000), 'n', 1.50, 'list', '[1, "é", null]'::jsonb)),
    ('at-limit', jsonb_build_object('a', repeat('y', 248))),
    ('over-limit', jsonb_build_object('a', repeat('y', 249))),
    ('oversize-secret', jsonb_build_object('password', 'hunter2', 'blob', repeat('z', 2000)));
UPDATE scrub SET seq = forgea_audit.append('SEC_OVERSIZE', 'system', 'pgtap', 'test', 'oversize', metadata => original)
WHERE name IN ('oversize', 'at-limit', 'over-limit', 'oversize-secret');
CREATE TEMP VIEW marker AS
SELECT s.name, l.metadata,
       jsonb_build_object('_oversize', true, 'original_bytes', octet_length(forgea_audit.canonical_json(s.original)),
                          'original_sha256', encode(sha256(convert_to(forgea_audit.canonical_json(s.original), 'UTF8')), 'hex'),
                          'max_metadata_bytes', 256) AS expected
FROM scrub s JOIN forgea_audit.audit_log l ON l.seq = s.seq;

SELECT is(current_setting('forgea_audit.max_metadata_bytes'), '256B', 'oversize: forgea_audit.max_metadata_bytes is 256 (its minimum)');
SELECT is((SELECT metadata FROM marker WHERE name = 'oversize'), (SELECT expected FROM marker WHERE name = 'oversize'),
          'oversize: ~2 KB of metadata is stored as {_oversize, original_bytes, original_sha256, max_metadata_bytes} of its canonical JSON');
SELECT is((SELECT metadata FROM marker WHERE name = 'at-limit'), (SELECT original FROM scrub WHERE name = 'at-limit'),
          'oversize: metadata of exactly 256 canonical bytes is kept as is');
SELECT is((SELECT metadata FROM marker WHERE name = 'over-limit'), (SELECT expected FROM marker WHERE name = 'over-limit'),
          'oversize: metadata of 257 canonical bytes becomes the marker');
SELECT is((SELECT metadata->>'original_sha256' FROM marker WHERE name = 'oversize-secret'),
          encode(sha256(convert_to(forgea_audit.canonical_json(
              jsonb_build_object('password', '[REDACTED]', 'blob', repeat('z', 2000))), 'UTF8')), 'hex'),
          'oversize: the marker of metadata holding a secret digests the redacted form, never the secret');
RESET forgea_audit.max_metadata_bytes;
SELECT is(current_setting('forgea_audit.max_metadata_bytes'), '64kB', 'oversize: max_metadata_bytes reset to 64kB');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'oversize: verify_chain() ok with the markers');

-------------------------------------------------------------------------------------------------
-- 5. Alerts on NOTIFY forgea_audit_alerts
-------------------------------------------------------------------------------------------------
SELECT is(dblink_connect('alerts', pg_temp.connstr()), 'OK', 'alerts: a second connection (dblink) to this database');
SELECT isnt((SELECT pid FROM dblink('alerts', 'SELECT pg_backend_pid()') AS t(pid int)), pg_backend_pid(),
            'alerts: the listener is another backend');
SELECT is(dblink_exec('alerts', 'LISTEN forgea_audit_alerts'), 'LISTEN', 'alerts: it LISTENs on forgea_audit_alerts');

SELECT forgea_audit.append('SEC_ALERT_HIGH', 'system', 'pgtap', 'test', 'alerts', severity => 'HIGH', outcome => 'failure') AS high_seq \gset
SELECT forgea_audit.append('SEC_ALERT_INFO', 'system', 'pgtap', 'test', 'alerts', severity => 'INFO') AS info_seq \gset
SELECT status AS rec_status, audit_seq AS rec_seq
FROM forgea_audit.record_push(pg_temp.payload('alert-lab'), '00000000-0000-4000-8000-00000000ea01') \gset
SELECT status AS conf_status, audit_seq AS conf_seq
FROM forgea_audit.record_push(pg_temp.payload('alert-lab', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'),
                              '00000000-0000-4000-8000-00000000ea01') \gset
SELECT is(ARRAY[:'rec_status', :'conf_status'], ARRAY['recorded', 'conflict'],
          'alerts: a push recorded, then the same GUID with another payload: conflict');

SELECT is(pg_temp.listen_for('alerts', 'b1', 2), 2,
          'alerts: the listener received exactly two notifications (the HIGH append and the conflict; not INFO, not recorded)');
SELECT is((SELECT array_agg(DISTINCT channel || '/' || (pid = pg_backend_pid())::text) FROM heard WHERE batch = 'b1'),
          ARRAY['forgea_audit_alerts/true'], 'alerts: both on channel forgea_audit_alerts, sent by this backend');
-- Any role can LISTEN: the payload names the event (seq, action, severity, outcome) and nothing
-- about whom it concerns; the listener reads the row by seq with its own privileges.
SELECT is((SELECT ARRAY[payload::jsonb->>'seq', payload::jsonb->>'action', payload::jsonb->>'severity',
                        payload::jsonb->>'outcome', (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(payload::jsonb) k)]
           FROM heard WHERE batch = 'b1' ORDER BY n LIMIT 1),
          ARRAY[:'high_seq', 'SEC_ALERT_HIGH', 'HIGH', 'failure', 'action,outcome,seq,severity'],
          'alerts: the first payload is JSON naming the HIGH append''s seq and action, and nothing else');
SELECT is((SELECT ARRAY[payload::jsonb->>'seq', payload::jsonb->>'action', payload::jsonb->>'severity', payload::jsonb->>'outcome']
           FROM heard WHERE batch = 'b1' ORDER BY n OFFSET 1 LIMIT 1),
          ARRAY[:'conf_seq', 'LAB_VERIFY_ATTEMPT_CONFLICT', 'HIGH', 'failure'],
          'alerts: the second payload names the conflict''s seq and action');
SELECT is((SELECT count(*)::int FROM heard WHERE batch = 'b1' AND (payload::jsonb->>'seq')::bigint IN (:info_seq, :rec_seq)), 0,
          'alerts: nothing for the INFO append or the recorded push');

BEGIN;
SELECT forgea_audit.append('SEC_ALERT_ROLLED_BACK', 'system', 'pgtap', 'test', 'alerts', severity => 'HIGH') AS rb_seq \gset
ROLLBACK;
SELECT forgea_audit.append('SEC_ALERT_SENTINEL', 'system', 'pgtap', 'test', 'alerts', severity => 'CRITICAL') AS sentinel_seq \gset
SELECT is(pg_temp.listen_for('alerts', 'b2', 1), 1,
          'alerts: after a rolled-back HIGH append and a committed CRITICAL one, exactly one notification');
SELECT is((SELECT ARRAY[payload::jsonb->>'seq', payload::jsonb->>'severity'] FROM heard WHERE batch = 'b2'),
          ARRAY[:'sentinel_seq', 'CRITICAL'], 'alerts: it is the committed CRITICAL one: the rolled-back HIGH append sent nothing');
SELECT ok(:rb_seq < :sentinel_seq, 'alerts: (the rolled-back append did draw a seq before the sentinel)');

-- Alert payloads are clipped to 1000 bytes per field so that NOTIFY (< 8000 bytes) never fails:
-- clipping must hold after JSON escaping, and must not cut a UTF-8 character in two.
-- (Three statements: the append commits, and so notifies, only when its statement ends.)
SELECT pg_temp.try($$SELECT forgea_audit.append(repeat('"', 1000), 'system', repeat('"', 1000), repeat('"', 1000),
                                                repeat('"', 1000), severity => 'HIGH', correlation_id => repeat('"', 1000),
                                                chain => 'test:alerts-long')$$) AS long_error \gset
SELECT is(:'long_error' || ' / ' || (SELECT count(*) FROM forgea_audit.audit_log WHERE chain_id = 'test:alerts-long')
          || ' / ' || pg_temp.listen_for('alerts', 'b3', 1, 2),
          'no error / 1 / 1',
          'alerts: a HIGH append whose action and fields are 1000 quotes each is recorded and alerted (escaping must not push NOTIFY past 8000 bytes)');
SELECT forgea_audit.append('SEC_ALERT_UTF8', 'system', 'pgtap', 'test', 'x' || repeat('é', 600), severity => 'HIGH',
                           chain => 'test:alerts-utf8') AS utf8_seq \gset
SELECT is(pg_temp.listen_for('alerts', 'b4', 1), 1, 'alerts: a HIGH append with a 1201-byte UTF-8 target_id is alerted');
SELECT is(pg_temp.try($$SELECT convert_to(payload, 'UTF8'), payload::jsonb FROM heard WHERE batch = 'b4'$$), 'no error',
          'alerts: its payload, clipped to 1000 bytes, is still valid UTF-8 JSON (no character cut in two)');

-------------------------------------------------------------------------------------------------
-- 6. Checkpoints: unsigned
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE cp (name text PRIMARY KEY, note text NOT NULL);

SELECT is(dblink_connect('cpl', pg_temp.connstr()), 'OK', 'checkpoint: a second connection for the checkpoint channel');
SELECT is(dblink_exec('cpl', 'LISTEN forgea_audit_checkpoint'), 'LISTEN', 'checkpoint: it LISTENs on forgea_audit_checkpoint');

CREATE TEMP TABLE cp_expect AS
SELECT (SELECT count(*) FROM forgea_audit.audit_log) AS rows_before,
       (SELECT max(seq) FROM forgea_audit.audit_log) AS max_seq_before,
       (SELECT count(*) FROM forgea_audit.chain_head WHERE length > 0) AS chains_before,
       NULL::bytea AS root,  -- the Merkle root of the rows before it, set once checkpoint() integrated them
       (SELECT seq FROM forgea_audit.audit_log WHERE chain_id = 'session:s-sec-alert' ORDER BY chain_pos DESC LIMIT 1) AS alert_tail_seq;
INSERT INTO cp VALUES ('unsigned', forgea_audit.checkpoint());
UPDATE cp_expect SET root = forgea_audit.merkle_root(rows_before);
CREATE TEMP VIEW unsigned_lines AS SELECT string_to_array(note, E'\n') AS l FROM cp WHERE name = 'unsigned';

SELECT is((SELECT cardinality(l) FROM unsigned_lines), 4, 'checkpoint: an unsigned note is three lines, each ending with a newline');
SELECT is((SELECT l[1] FROM unsigned_lines),
          'forgea_audit/' || (SELECT system_identifier FROM pg_control_system()) || '/' || current_database(),
          'checkpoint: line 1, the origin: forgea_audit/<system identifier>/<database>');
SELECT is((SELECT l[2] FROM unsigned_lines), (SELECT rows_before::text FROM cp_expect),
          'checkpoint: line 2, the tree size: the number of audit rows before it (each a leaf now)');
SELECT is((SELECT decode(l[3], 'base64') FROM unsigned_lines), (SELECT root FROM cp_expect),
          'checkpoint: line 3, base64 of the 32-byte RFC 6962 root of that many leaves (docs/transparency.md)');
SELECT is((SELECT l[4] FROM unsigned_lines), '',
          'checkpoint: nothing after the root (no extension line, no signature)');
SELECT is((SELECT ARRAY[tree_size, octet_length(note)::bigint] FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1),
          (SELECT ARRAY[rows_before, octet_length(c.note)::bigint] FROM cp_expect, cp c WHERE c.name = 'unsigned'),
          'checkpoint: merkle_checkpoint records its tree size and note');
SELECT is((SELECT ARRAY[count(*)::text, min(chain_id), min(target_id), min(metadata->>'signed'), bool_and(proof->>'note' = c.note)::text]
           FROM forgea_audit.audit_log, cp c
           WHERE action = 'CHECKPOINT' AND seq > (SELECT max_seq_before FROM cp_expect) AND c.name = 'unsigned'),
          ARRAY['1', 'checkpoint', (SELECT encode(root, 'hex') FROM cp_expect), 'false', 'true'],
          'checkpoint: it appended one CHECKPOINT event (chain checkpoint, target = hex root, proof holds the note)');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log), (SELECT rows_before + 1 FROM cp_expect),
          'checkpoint: and nothing else');
SELECT is(pg_temp.listen_for('cpl', 'cp1', 1), 1, 'checkpoint: the listener received one notification');
SELECT is((SELECT ARRAY[channel, payload] FROM heard WHERE batch = 'cp1'),
          ARRAY['forgea_audit_checkpoint', (SELECT note FROM cp WHERE name = 'unsigned')],
          'checkpoint: on forgea_audit_checkpoint, with the note text');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'unsigned checkpoint')::text] FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'unsigned'))),
          ARRAY['true', 'true'], 'checkpoint: verify_chain(checkpoint => note) is ok and says it checked the unsigned checkpoint');

-- Tampering a superuser can do with the guards off, each rolled back after both verifications.
CREATE TEMP TABLE tamper (name text PRIMARY KEY, plain_ok boolean, plain_detail text, cp_ok boolean, cp_bad bigint,
                          cp_detail text, chain_last_seq bigint, err text);
CREATE FUNCTION pg_temp.tamper_cp(p_name text, p_note text, p_chain text, p_sql text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    v_plain_ok boolean; v_plain_detail text; v_cp_ok boolean; v_cp_bad bigint; v_cp_detail text; v_last bigint; v_err text;
BEGIN
    BEGIN
        EXECUTE p_sql;
        SELECT v.ok, v.detail INTO v_plain_ok, v_plain_detail FROM forgea_audit.verify_chain() v;
        SELECT v.ok, v.first_bad_seq, v.detail INTO v_cp_ok, v_cp_bad, v_cp_detail
        FROM forgea_audit.verify_chain(checkpoint => p_note) v;
        SELECT h.last_seq INTO v_last FROM forgea_audit.chain_head h WHERE h.chain_id = p_chain;
        RAISE EXCEPTION USING ERRCODE = 'FAT01', MESSAGE = 'roll the tampering back';
    EXCEPTION
        WHEN SQLSTATE 'FAT01' THEN NULL;
        WHEN OTHERS THEN v_err := SQLSTATE || ': ' || SQLERRM;
    END;
    INSERT INTO tamper VALUES (p_name, v_plain_ok, v_plain_detail, v_cp_ok, v_cp_bad, v_cp_detail, v_last, v_err);
END
$$;

-- The tail row of session:s-sec-alert is deleted, and its head moved back to the row before.
\set cut_tail 'ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER; ALTER TABLE forgea_audit.chain_head DISABLE TRIGGER USER; DELETE FROM forgea_audit.audit_log WHERE chain_id = ''session:s-sec-alert'' AND chain_pos = (SELECT length FROM forgea_audit.chain_head WHERE chain_id = ''session:s-sec-alert''); UPDATE forgea_audit.chain_head h SET length = p.chain_pos, last_seq = p.seq, last_hash = p.row_hash FROM forgea_audit.audit_log p WHERE h.chain_id = ''session:s-sec-alert'' AND p.chain_id = h.chain_id AND p.chain_pos = h.length - 1;'

SELECT pg_temp.tamper_cp('cut-tail', (SELECT note FROM cp WHERE name = 'unsigned'), 'session:s-sec-alert', :'cut_tail');
SELECT pg_temp.tamper_cp('rewrite-tail', (SELECT note FROM cp WHERE name = 'unsigned'), 'session:s-sec-alert',
                         :'cut_tail' || $$ SELECT forgea_audit.append_system('SEC_REWRITTEN', 'system', 'attacker',
                                                                             chain => 'session:s-sec-alert');$$);
SELECT pg_temp.tamper_cp('drop-checkpoint-event', (SELECT note FROM cp WHERE name = 'unsigned'), 'checkpoint', format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    DELETE FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT' AND target_id = %L;$$,
    (SELECT encode(root, 'hex') FROM cp_expect)));
SELECT pg_temp.tamper_cp('reorder-leaves', (SELECT note FROM cp WHERE name = 'unsigned'), 'checkpoint', $$
    ALTER TABLE forgea_audit.merkle_leaf DISABLE TRIGGER USER;
    UPDATE forgea_audit.merkle_leaf SET leaf_index = -1 - leaf_index WHERE leaf_index IN (0, 1);
    UPDATE forgea_audit.merkle_leaf SET leaf_index = CASE leaf_index WHEN -1 THEN 1 ELSE 0 END WHERE leaf_index < 0;$$);

SELECT is((SELECT array_agg(name || ': ' || err) FROM tamper WHERE err IS NOT NULL), NULL,
          'tamper: every tampering ran without error');
-- Since every verifier checks the Merkle tables against audit_log (issue 21 item 2), verify_chain()
-- alone sees the cut too: the deleted row was a leaf, and a leaf names a row that is not there.
SELECT is((SELECT ARRAY[plain_ok::text, (plain_detail ~ ('audit row ' || (SELECT alert_tail_seq FROM cp_expect) || '\M'))::text]
           FROM tamper WHERE name = 'cut-tail'),
          ARRAY['false', 'true'], 'tamper (a) tail cut and head moved back: verify_chain() alone is not ok, it names the row its leaf lost');
SELECT is((SELECT ARRAY[cp_ok::text, cp_bad::text] FROM tamper WHERE name = 'cut-tail'),
          ARRAY['false', (SELECT alert_tail_seq::text FROM cp_expect)],
          'tamper (a): verify_chain(checkpoint) is not ok, first_bad_seq = the deleted row''s seq');
SELECT matches((SELECT cp_detail FROM tamper WHERE name = 'cut-tail'),
               '^leaf [0-9]+: audit row ' || (SELECT alert_tail_seq FROM cp_expect) || ', which the checkpoint covers, is missing',
               'tamper (a): the detail says a row the checkpoint covers (a leaf of its tree) is missing');
SELECT is((SELECT ARRAY[plain_ok::text, (plain_detail ~ ('audit row ' || (SELECT alert_tail_seq FROM cp_expect) || '\M'))::text]
           FROM tamper WHERE name = 'rewrite-tail'),
          ARRAY['false', 'true'], 'tamper (b) tail cut, head moved back, a different row appended: verify_chain() alone is not ok, it names the replaced row');
SELECT ok((SELECT chain_last_seq > (SELECT alert_tail_seq FROM cp_expect) FROM tamper WHERE name = 'rewrite-tail'),
          'tamper (b): the new row took the sealed position with a new seq');
SELECT is((SELECT ARRAY[cp_ok::text, cp_bad::text] FROM tamper WHERE name = 'rewrite-tail'),
          (SELECT ARRAY['false', alert_tail_seq::text] FROM cp_expect),
          'tamper (b): verify_chain(checkpoint) is not ok, first_bad_seq = the sealed row that was replaced');
SELECT matches((SELECT cp_detail FROM tamper WHERE name = 'rewrite-tail'),
               '^leaf [0-9]+: audit row [0-9]+, which the checkpoint covers, is missing',
               'tamper (b): the detail says the sealed row is missing (its replacement is no leaf of the checkpoint''s tree)');
SELECT is((SELECT cp_ok FROM tamper WHERE name = 'drop-checkpoint-event'), false,
          'tamper (c) the CHECKPOINT event row deleted: verify_chain(checkpoint) is not ok');
SELECT matches((SELECT cp_detail FROM tamper WHERE name = 'drop-checkpoint-event'), 'chain "checkpoint"',
               'tamper (c): the detail names the checkpoint chain, which lost its row (the note itself needs no event)');
SELECT is((SELECT ARRAY[cp_ok::text, (cp_detail ~ 'do not hash to the checkpoint''s root')::text]
           FROM tamper WHERE name = 'reorder-leaves'),
          ARRAY['false', 'true'], 'tamper: two leaves swapped in merkle_leaf: not ok, the leaves do not hash to the root');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (
               SELECT replace(note, E'\n' || l[2] || E'\n', E'\n' || (l[2]::bigint + 1) || E'\n') FROM cp, unsigned_lines
               WHERE cp.name = 'unsigned'))), false,
          'tamper: an unsigned note whose size line is altered (root intact): not ok');
SELECT throws_ok($$SELECT * FROM forgea_audit.verify_chain(checkpoint => 'hello')$$, '22P02', NULL,
                 'tamper (d): a malformed note (''hello'') is refused with 22P02');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => rtrim((SELECT note FROM cp WHERE name = 'unsigned'), E'\n'))),
          true, 'tamper (d): a note without its final newline (the shell''s $(...) strips it) is read as if it had it (issue 14)');
SELECT throws_ok(format('SELECT * FROM forgea_audit.verify_chain(checkpoint => %L)',
                        (SELECT split_part(note, E'\n', 1) || E'\n' || split_part(note, E'\n', 2) || E'\n' ||
                                left(split_part(note, E'\n', 3), 10) FROM cp WHERE name = 'unsigned')), '22P02', NULL,
                 'tamper (d): a note cut short inside its root line is refused with 22P02');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'unsigned'))), true,
          'tamper: everything rolled back: verify_chain(checkpoint) ok again');
SELECT is((SELECT array_agg(tgenabled::text ORDER BY tgname) FROM pg_trigger
           WHERE tgrelid IN ('forgea_audit.audit_log'::regclass, 'forgea_audit.chain_head'::regclass) AND tgname LIKE '%guard%'),
          ARRAY['A', 'A', 'A', 'A', 'A', 'A'], 'tamper: every guard trigger is ENABLE ALWAYS again');

-------------------------------------------------------------------------------------------------
-- 6. Checkpoints: signed with Ed25519 keys made by the server's OS user
-------------------------------------------------------------------------------------------------
SELECT format('/tmp/fa_sec_key_a_%s.pem', current_setting('port')) AS key_a,
       format('/tmp/fa_sec_key_b_%s.pem', current_setting('port')) AS key_b,
       format('/tmp/fa_sec_key_a_%s.pem.pub', current_setting('port')) AS key_a_pub,
       format('/tmp/fa_sec_key_b_%s.pem.pub', current_setting('port')) AS key_b_pub,
       format('/tmp/fa_sec_key_missing_%s.pem', current_setting('port')) AS key_missing,
       format('/tmp/fa_sec_sig_%s', current_setting('port')) AS sig_prefix \gset
CREATE TEMP TABLE keyfile (name text PRIMARY KEY, path text);
INSERT INTO keyfile VALUES ('a', :'key_a'), ('b', :'key_b'), ('missing', :'key_missing'), ('sig', :'sig_prefix');
CREATE FUNCTION pg_temp.shell(cmd text) RETURNS text LANGUAGE sql AS
$$ SELECT pg_temp.try(format('COPY (SELECT 1 WHERE false) TO PROGRAM %L', cmd)) $$;
-- Writes bytes to a file through the server's OS user.
CREATE FUNCTION pg_temp.write_file(path text, data bytea) RETURNS text LANGUAGE sql AS
$$ SELECT pg_temp.try(format('COPY (SELECT %L) TO PROGRAM %L', translate(encode(data, 'base64'), E'\n', ''),
                             'base64 -d > ' || path)) $$;

SELECT is(pg_temp.shell(format('openssl genpkey -algorithm ed25519 -out %1$s && chmod 600 %1$s && openssl pkey -in %1$s -pubout -out %1$s.pub && openssl pkey -in %1$s -pubout -outform DER -out %1$s.der',
                               :'key_a')), 'no error', 'signed: key a generated by the server''s OS user (openssl genpkey, mode 600)');
SELECT is(pg_temp.shell(format('openssl genpkey -algorithm ed25519 -out %1$s && chmod 600 %1$s && openssl pkey -in %1$s -pubout -out %1$s.pub', :'key_b')), 'no error',
          'signed: key b generated too');

ALTER SYSTEM SET forgea_audit.signing_key_file = :'key_a';
ALTER SYSTEM SET forgea_audit.verify_key_file = :'key_a_pub';
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.verify_key_file
\set wait_value :key_a_pub
\set wait_tries 0
\ir wait_for_setting.psql
SELECT is(current_setting('forgea_audit.signing_key_file'), :'key_a', 'signed: after ALTER SYSTEM and a reload the key file is key a');

INSERT INTO cp VALUES ('signed-a', forgea_audit.checkpoint());
CREATE TEMP VIEW signed_a AS
SELECT note, string_to_array(note, E'\n') AS l, split_part(note, E'\n\n', 1) || E'\n' AS body,
       decode(split_part(split_part(note, E'\n\n', 2), ' ', 3), 'base64') AS sig_blob
FROM cp WHERE name = 'signed-a';

SELECT is((SELECT ARRAY[cardinality(l)::text, l[4], l[6]] FROM signed_a), ARRAY['6', '', ''],
          'signed: the note is the three body lines, a blank line, one signature line, each ending with a newline');
SELECT matches((SELECT l[5] FROM signed_a), '^' || chr(8212) || ' forgea_audit [A-Za-z0-9+/]+=*$',
               'signed: the signature line is "— forgea_audit <base64>" (em dash, key name)');
SELECT is((SELECT octet_length(sig_blob) FROM signed_a), 68, 'signed: the signature is 4 bytes of key id and 64 bytes of Ed25519 signature');
SELECT is((SELECT substring(sig_blob FROM 1 FOR 4) FROM signed_a),
          substring(sha256(convert_to(E'forgea_audit\n', 'UTF8') || '\x01'::bytea
                           || substring(pg_read_binary_file(:'key_a' || '.der') FROM 13 FOR 32)) FROM 1 FOR 4),
          'signed: the key id is SHA-256(key name, newline, 0x01, key a''s public key)[0:4]');
SELECT is(pg_temp.write_file(:'sig_prefix' || '.body', (SELECT convert_to(body, 'UTF8') FROM signed_a))
          || ' / ' || pg_temp.write_file(:'sig_prefix' || '.sig', (SELECT substring(sig_blob FROM 5) FROM signed_a))
          || ' / ' || pg_temp.shell(format('openssl pkeyutl -verify -pubin -inkey %s.pub -rawin -in %s.body -sigfile %s.sig >/dev/null',
                                            :'key_a', :'sig_prefix', :'sig_prefix')),
          'no error / no error / no error', 'signed: openssl verifies the signature over the three body lines with key a''s public key');
SELECT matches(pg_temp.write_file(:'sig_prefix' || '.body', (SELECT convert_to(body || E'extension\n', 'UTF8') FROM signed_a))
               || ' / ' || pg_temp.shell(format('openssl pkeyutl -verify -pubin -inkey %s.pub -rawin -in %s.body -sigfile %s.sig >/dev/null',
                                                 :'key_a', :'sig_prefix', :'sig_prefix')),
               '^no error / 38000: program .* failed', 'signed: (and openssl rejects it over an altered body)');
SELECT is((SELECT ARRAY[metadata->>'signed', metadata->>'key_name', metadata->>'key_id'] FROM forgea_audit.audit_log
           WHERE action = 'CHECKPOINT' ORDER BY seq DESC LIMIT 1),
          (SELECT ARRAY['true', 'forgea_audit', encode(substring(sig_blob FROM 1 FOR 4), 'hex')] FROM signed_a),
          'signed: the CHECKPOINT event records signed, the key name and the key id');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'signed checkpoint')::text] FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM signed_a))),
          ARRAY['true', 'true'], 'signed: verify_chain(checkpoint => signed note) is ok');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'does not verify')::text]
           FROM forgea_audit.verify_chain(checkpoint => (SELECT replace(note, E'\n' || l[2] || E'\n', E'\n' || (l[2]::bigint - 1) || E'\n') FROM signed_a))),
          ARRAY['false', 'true'], 'signed: the tree size changed by one: not ok, the signature does not verify');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT replace(note, l[3], encode(sha256('other'), 'base64')) FROM signed_a))), false,
          'signed: the root line altered: not ok');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (
               SELECT replace(note, l[5], left(l[5], -6) || CASE WHEN substr(l[5], length(l[5]) - 5, 1) = 'A' THEN 'B' ELSE 'A' END
                                          || right(l[5], 5)) FROM signed_a))), false,
          'signed: one character of the signature changed: not ok');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'not signed, but this server signs')::text]
           FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'unsigned'))),
          ARRAY['false', 'true'], 'signed: the unsigned note from before is not ok while a key is configured (not signed)');

ALTER SYSTEM SET forgea_audit.signing_key_file = :'key_b';
ALTER SYSTEM SET forgea_audit.verify_key_file = :'key_b_pub';
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.verify_key_file
\set wait_value :key_b_pub
\set wait_tries 0
\ir wait_for_setting.psql
SELECT is(current_setting('forgea_audit.signing_key_file'), :'key_b', 'signed: the key file switched to key b');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'not signed by this server''s key')::text]
           FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM signed_a))),
          ARRAY['false', 'true'], 'signed: the note signed by key a is not ok under key b: not signed by this server''s key');
INSERT INTO cp VALUES ('signed-b', forgea_audit.checkpoint());
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'signed-b'))), true,
          'signed: a checkpoint made under key b verifies under key b');

ALTER SYSTEM SET forgea_audit.signing_key_file = :'key_missing';
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.signing_key_file
\set wait_value :key_missing
\set wait_tries 0
\ir wait_for_setting.psql
SELECT count(*) AS checkpoints_before_missing FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT' \gset
SELECT throws_ok('SELECT forgea_audit.checkpoint()', 'F0000', NULL,
                 'signed: a configured key file that cannot be read makes checkpoint() fail (F0000), never an unsigned note');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT'), :checkpoints_before_missing::bigint,
          'signed: and no CHECKPOINT event was appended');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'signed checkpoint')::text]
           FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'signed-b'))),
          ARRAY['true', 'true'],
          'signed: verify_chain(checkpoint) never reads the private key file: with it missing, the note signed by key b still verifies with key b''s public key');
ALTER SYSTEM SET forgea_audit.verify_key_file = :'key_b';
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.verify_key_file
\set wait_value :key_b
\set wait_tries 0
\ir wait_for_setting.psql
SELECT throws_ok($$SELECT * FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'signed-b'))$$,
                 'F0000', 'could not load the checkpoint verification key: the file holds a private key, not a public one',
                 'signed: verify_key_file naming a private key file is refused (F0000): the secret is not for verifying');
ALTER SYSTEM RESET forgea_audit.verify_key_file;
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.verify_key_file
\set wait_value ''
\set wait_tries 0
\ir wait_for_setting.psql
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'verify_key_file .* is not set')::text]
           FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'signed-b'))),
          ARRAY['false', 'true'],
          'signed: with only a signing key configured a signed note is not ok: verify_key_file is not set (never a silent ok)');

ALTER SYSTEM RESET forgea_audit.signing_key_file;
ALTER SYSTEM RESET forgea_audit.verify_key_file;
SELECT pg_reload_conf() AS reloaded \gset
\set wait_name forgea_audit.signing_key_file
\set wait_value ''
\set wait_tries 0
\ir wait_for_setting.psql
SELECT is(current_setting('forgea_audit.signing_key_file'), '', 'signed: ALTER SYSTEM RESET and a reload: no key configured');
SELECT is((SELECT ARRAY[ok::text, (detail ~ 'verify_key_file .* is not set')::text]
           FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM signed_a))),
          ARRAY['false', 'true'], 'signed: without a key a signed note cannot be checked: not ok, never silently ok');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'unsigned'))), true,
          'signed: the unsigned note verifies again without a key');
SELECT is(pg_temp.shell(format('rm -f %1$s %1$s.pub %1$s.der %2$s %2$s.pub %3$s.body %3$s.sig', :'key_a', :'key_b', :'sig_prefix')),
          'no error', 'signed: the key files are removed');
SELECT is((SELECT count(*)::int FROM keyfile WHERE pg_stat_file(path || CASE name WHEN 'sig' THEN '.body' ELSE '' END, true) IS NOT NULL), 0,
          'signed: no key file is left in /tmp');

-------------------------------------------------------------------------------------------------
-- The end: the log is whole; the roles go
-------------------------------------------------------------------------------------------------
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'end: verify_chain() ok');
SELECT dblink_disconnect('alerts') AS d1, dblink_disconnect('cpl') AS d2 \gset
DELETE FROM forgea_audit.reader_tenant WHERE role_name LIKE 'fa\_sec\_%';
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['fa_sec_writer', 'fa_sec_reader', 'fa_sec_reader2', 'fa_sec_admin', 'fa_sec_nobody',
                             'fa_sec_ddl'] LOOP
        EXECUTE format('DROP OWNED BY %I', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END
$$;
SELECT is((SELECT count(*)::int FROM pg_roles WHERE rolname LIKE 'fa\_sec\_%'), 0, 'end: the test''s login roles are dropped');

SELECT * FROM finish();
