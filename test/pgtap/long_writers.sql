-- Every committed audit row becomes a leaf, however long its transaction stayed open (issue 20,
-- item 3).  A writer is held open by the test (a real second connection, dblink over the server's
-- unix socket, idle in its transaction with its xid taken) across several integrator passes,
-- with nobody else writing (the issue's reproducer) and with other writers committing meanwhile;
-- after it commits, its rows are leaves.  Three writers: append(), record_push() (whose attempt
-- then has a receipt) and run_retention().  Then a committed row below the integrator's horizon
-- that is not a leaf is made by hand, and verify_chain() and verify_increment() name it.
--
-- Nothing here waits on time: each dblink call returns when the writer's statement is done, and
-- the writer's state is asserted from pg_stat_activity.  statement_timeout only turns a hang (an
-- integrator that waited for the writer) into a failure.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET statement_timeout = '60s';

SELECT plan(27);

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-long',  'u1', 'lab', 'https://github.com/longtx/long-lab',  'IN_PROGRESS', now()),
       ('s-other', 'u2', 'lab', 'https://github.com/longtx/other-lab', 'IN_PROGRESS', now());

CREATE FUNCTION pg_temp.connstr(who text) RETURNS text LANGUAGE sql AS
$$
SELECT format('host=%s port=%s dbname=%s user=%s application_name=%s',
              split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_database(), current_user, 'longtx_' || who)
$$;

-- The real new-branch push, re-addressed to github.com/longtx/<fork>.
CREATE FUNCTION pg_temp.push_sql(fork text, guid text) RETURNS text LANGUAGE sql AS
$$
SELECT format('SELECT attempt_id FROM forgea_audit.record_push(%L::jsonb, %L)',
              (SELECT jsonb_set(payload, '{repository,html_url}', to_jsonb('https://github.com/longtx/' || fork))
               FROM public.fixture_push WHERE name = 'api-with-new-branch.payload')::text, guid)
$$;

-- The writer's backend is idle inside its open transaction and holds an xid.
CREATE FUNCTION pg_temp.writer_open(backend int) RETURNS boolean LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_stat_clear_snapshot();
    RETURN EXISTS (SELECT FROM pg_stat_activity
                   WHERE pid = backend AND state = 'idle in transaction' AND backend_xid IS NOT NULL);
END
$$;

-- Audit rows that are not leaves.
CREATE FUNCTION pg_temp.not_leaves() RETURNS bigint[] LANGUAGE sql AS
$$
SELECT coalesce(array_agg(a.seq ORDER BY a.seq), '{}') FROM forgea_audit.audit_log a
WHERE NOT EXISTS (SELECT FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq)
$$;

SELECT is(dblink_connect('w', pg_temp.connstr('writer')), 'OK', 'a second connection, for the long writer');
SELECT pid AS w_pid FROM dblink('w', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT forgea_audit.append('LONG_SETUP', chain => 'long:setup');
SELECT forgea_audit.merkle_integrate();

-------------------------------------------------------------------------------------------------
-- 1. append(): the issue's reproducer, then other writers committing meanwhile
-------------------------------------------------------------------------------------------------
-- No statement between the writer's append and the two passes takes an xid, so no transaction
-- completes after the writer took its own: the mark the first pass sets lies at the writer's xid.
SELECT dblink_exec('w', 'BEGIN') AS begun \gset
SELECT s AS long_seq FROM dblink('w', $q$SELECT forgea_audit.append(action => 'LONG_TX', actor_type => 'user',
    actor_id => 'u1', target_type => 'thing', target_id => 't1', chain => 'long:a')$q$) AS t(s bigint) \gset
SELECT forgea_audit.merkle_integrate() AS pass1 \gset
SELECT forgea_audit.merkle_integrate() AS pass2 \gset
SELECT ok(pg_temp.writer_open(:w_pid), 'append(): the writer is idle in its open transaction, holding its xid');
SELECT cmp_ok((SELECT horizon_seq FROM forgea_audit.merkle_state), '<=', :long_seq::bigint,
              'two passes with the writer open: the horizon has not passed its seq');
SELECT forgea_audit.append('LONG_OTHER', chain => 'long:other') FROM generate_series(1, 3);
SELECT forgea_audit.merkle_integrate() AS pass3 \gset
SELECT forgea_audit.append('LONG_OTHER', chain => 'long:other');
SELECT forgea_audit.merkle_integrate() AS pass4 \gset
SELECT length(forgea_audit.checkpoint()) > 0 AS made \gset
SELECT forgea_audit.merkle_integrate() AS pass5 \gset
SELECT cmp_ok((SELECT horizon_seq FROM forgea_audit.merkle_state), '<=', :long_seq::bigint,
              'other writers committed, four more passes and a checkpoint: the horizon still waits for the writer');
SELECT is(pg_temp.not_leaves(), '{}'::bigint[], 'every committed row is a leaf meanwhile (the writer''s is not visible)');
SELECT is(dblink_exec('w', 'COMMIT'), 'COMMIT', 'the writer commits');
SELECT forgea_audit.merkle_integrate() AS pass5 \gset
SELECT ok(EXISTS (SELECT FROM forgea_audit.merkle_leaf WHERE seq = :long_seq), 'after its commit the long writer''s row is a leaf');
SELECT is(pg_temp.not_leaves(), '{}'::bigint[], 'every audit row is a leaf');
SELECT cmp_ok((SELECT horizon_seq FROM forgea_audit.merkle_state), '<=',
              (SELECT pg_sequence_last_value('forgea_audit.audit_log_seq') + 1), 'the horizon is at most one past the last seq drawn');

-------------------------------------------------------------------------------------------------
-- 2. record_push(): the attempt gets a receipt
-------------------------------------------------------------------------------------------------
SELECT dblink_exec('w', 'BEGIN') AS begun \gset
SELECT a AS long_attempt FROM dblink('w', pg_temp.push_sql('long-lab', '00000000-0000-4000-8000-0000000a0001')) AS t(a bigint) \gset
SELECT forgea_audit.merkle_integrate() AS pass1 \gset
SELECT forgea_audit.merkle_integrate() AS pass2 \gset
SELECT ok(pg_temp.writer_open(:w_pid), 'record_push(): the writer is idle in its open transaction, holding its xid');
SELECT ok((SELECT attempt_id FROM forgea_audit.record_push(
               (SELECT jsonb_set(payload, '{repository,html_url}', '"https://github.com/longtx/other-lab"')
                FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
               '00000000-0000-4000-8000-0000000a0002')) IS NOT NULL, 'another push, to another fork, commits meanwhile');
SELECT forgea_audit.merkle_integrate() AS pass3 \gset
SELECT length(forgea_audit.checkpoint()) > 0 AS made \gset
SELECT forgea_audit.merkle_integrate() AS pass4 \gset
SELECT is(dblink_exec('w', 'COMMIT'), 'COMMIT', 'the pushing writer commits');
SELECT length(forgea_audit.checkpoint()) > 0 AS made \gset
SELECT forgea_audit.merkle_integrate() AS pass5 \gset
SELECT is(pg_temp.not_leaves(), '{}'::bigint[], 'every audit row of the long push is a leaf');
SELECT is((SELECT (r ->> 'attempt_id')::bigint FROM forgea_audit.receipt(:long_attempt) r), :long_attempt::bigint,
          'the long push''s attempt has a receipt');
SELECT ok((SELECT (r ->> 'leaf_index')::bigint < (r ->> 'tree_size')::bigint FROM forgea_audit.receipt(:long_attempt) r),
          'its receipt names its leaf inside the checkpoint''s tree');

-------------------------------------------------------------------------------------------------
-- 3. run_retention(): one long transaction of archive events
-------------------------------------------------------------------------------------------------
SELECT dblink_exec('w', 'BEGIN') AS begun \gset
SELECT n AS archived FROM dblink('w', $q$SELECT archived FROM forgea_audit.run_retention(now() + interval '100 years')$q$)
    AS t(n bigint) \gset
SELECT forgea_audit.merkle_integrate() AS pass1 \gset
SELECT forgea_audit.merkle_integrate() AS pass2 \gset
SELECT ok(pg_temp.writer_open(:w_pid), 'run_retention(): the writer is idle in its open transaction, holding its xid');
SELECT is(:archived::bigint, 2::bigint, 'it archived both attempts');
SELECT forgea_audit.append('LONG_OTHER', chain => 'long:other') FROM generate_series(1, 2);
SELECT forgea_audit.merkle_integrate() AS pass3 \gset
SELECT forgea_audit.merkle_integrate() AS pass4 \gset
SELECT is(dblink_exec('w', 'COMMIT'), 'COMMIT', 'the retention run commits');
SELECT forgea_audit.merkle_integrate() AS pass5 \gset
SELECT ok(EXISTS (SELECT FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE'), 'it wrote its RETENTION_ARCHIVE event');
SELECT is(pg_temp.not_leaves(), '{}'::bigint[], 'every audit row of the retention run is a leaf');
SELECT is(dblink_disconnect('w'), 'OK', 'the writer''s connection disconnects');

SELECT ok(v.ok, 'verify_chain() holds: ' || v.detail) FROM forgea_audit.verify_chain() v;
SELECT ok(v.ok, 'verify_increment() holds: ' || v.detail) FROM forgea_audit.verify_increment() v;

-------------------------------------------------------------------------------------------------
-- 4. A committed row below the horizon that is not a leaf (made by hand) is reported by seq
-------------------------------------------------------------------------------------------------
-- The row is a valid one of a new chain; then, guards off, the horizon is moved past it, as the
-- integrator's old mark did: no integration will ever take it.
SELECT forgea_audit.merkle_integrate() AS settled \gset
SELECT forgea_audit.append('LONG_LOST', chain => 'long:lost') AS lost_seq \gset
CREATE TEMP TABLE lost (verifier text PRIMARY KEY, ok boolean, bad bigint, detail text);
CREATE FUNCTION pg_temp.lose(seq bigint) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE c record; i record;
BEGIN
    BEGIN
        ALTER TABLE forgea_audit.merkle_state DISABLE TRIGGER USER;
        UPDATE forgea_audit.merkle_state SET horizon_seq = seq + 1, pending_seq = NULL, pending_xmax = NULL;
        ALTER TABLE forgea_audit.merkle_state ENABLE TRIGGER USER;
        SELECT * INTO c FROM forgea_audit.verify_chain();
        SELECT * INTO i FROM forgea_audit.verify_increment();
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO lost VALUES ('verify_chain', c.ok, c.first_bad_seq, c.detail), ('verify_increment', i.ok, i.first_bad_seq, i.detail);
END
$$;
SELECT pg_temp.lose(:lost_seq);
SELECT is((SELECT ARRAY[ok::text, bad::text] FROM lost WHERE verifier = 'verify_chain'), ARRAY['false', :'lost_seq'],
          'verify_chain(): a committed row below the horizon that is not a leaf fails, first_bad_seq names it');
SELECT matches((SELECT detail FROM lost WHERE verifier = 'verify_chain'),
               format('audit row %s is below the Merkle integrator''s horizon .* but is not a leaf', :lost_seq),
               'verify_chain(): the detail says so');
SELECT is((SELECT ARRAY[ok::text, bad::text] FROM lost WHERE verifier = 'verify_increment'), ARRAY['false', :'lost_seq'],
          'verify_increment(): the same row fails it, first_bad_seq names it');
SELECT matches((SELECT detail FROM lost WHERE verifier = 'verify_increment'),
               format('audit row %s is below the Merkle integrator''s horizon .* but is not a leaf', :lost_seq),
               'verify_increment(): the detail says so');

SELECT * FROM finish();
