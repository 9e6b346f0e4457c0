-- Two real connections racing: this one, and a peer opened with dblink over the server's unix
-- socket.  This connection records a delivery and keeps its transaction open; the peer sends a
-- racing record_push with dblink_send_query; pg_stat_activity / pg_blocking_pids show whether the
-- peer waits; then this connection commits (or rolls back) and the peer's answer is read.
--
-- Values that must survive a ROLLBACK are kept in psql variables (\gset), never in pgTAP calls
-- inside the rolled-back transaction.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(56);

-------------------------------------------------------------------------------------------------
-- Sessions, one fork each, and helpers
-------------------------------------------------------------------------------------------------
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-race',  'u1', 'lab', 'https://github.com/conc/race-lab',  'IN_PROGRESS', now()),
       ('s-roll',  'u2', 'lab', 'https://github.com/conc/roll-lab',  'IN_PROGRESS', now()),
       ('s-a',     'u3', 'lab', 'https://github.com/conc/fork-a',    'IN_PROGRESS', now()),
       ('s-b',     'u4', 'lab', 'https://github.com/conc/fork-b',    'IN_PROGRESS', now()),
       ('s-same',  'u5', 'lab', 'https://github.com/conc/same-lab',  'IN_PROGRESS', now()),
       ('s-stuck', 'u6', 'lab', 'https://github.com/conc/stuck-lab', 'STUCK',       now()),
       ('s-conf',  'u7', 'lab', 'https://github.com/conc/conf-lab',  'IN_PROGRESS', now());

-- The real new-branch push, re-addressed to github.com/conc/<fork>; "after" replaceable.
CREATE FUNCTION pg_temp.payload(fork text, after text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS
$$
SELECT jsonb_set(jsonb_set(p, '{repository,html_url}', to_jsonb('https://github.com/conc/' || fork)),
                 '{after}', to_jsonb(coalesce(after, p ->> 'after')))
FROM (SELECT payload AS p FROM public.fixture_push WHERE name = 'api-with-new-branch.payload') f
$$;

-- The statement the peer runs.
CREATE FUNCTION pg_temp.call_sql(fork text, guid text, after text DEFAULT NULL) RETURNS text LANGUAGE sql AS
$$
SELECT format('SELECT status, attempt_id, session_id, audit_seq FROM forgea_audit.record_push(%L::jsonb, %L)',
              pg_temp.payload(fork, after)::text, guid)
$$;

-- Polls pg_stat_activity (clearing the transaction's stats snapshot each time) until backend pid
-- waits on a heavyweight lock; false after timeout_s.
CREATE FUNCTION pg_temp.wait_lock(backend int, timeout_s float8 DEFAULT 10) RETURNS boolean LANGUAGE plpgsql AS
$$
DECLARE deadline timestamptz := clock_timestamp() + make_interval(secs => timeout_s);
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = backend AND wait_event_type = 'Lock') THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;

-- Polls dblink_is_busy until the connection's query is done; false after timeout_s.
CREATE FUNCTION pg_temp.wait_done(conn text, timeout_s float8 DEFAULT 10) RETURNS boolean LANGUAGE plpgsql AS
$$
DECLARE deadline timestamptz := clock_timestamp() + make_interval(secs => timeout_s);
BEGIN
    LOOP
        IF dblink_is_busy(conn) = 0 THEN
            RETURN true;
        END IF;
        IF clock_timestamp() > deadline THEN
            RETURN false;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
END
$$;

-- The peer's answer (an error comes back as status 'error <SQLSTATE>: <message>'); then drains
-- the connection so it can take the next query.
CREATE FUNCTION pg_temp.peer_result(OUT status text, OUT attempt_id bigint, OUT session_id text, OUT audit_seq bigint)
    LANGUAGE plpgsql AS
$$
BEGIN
    BEGIN
        SELECT t.* INTO status, attempt_id, session_id, audit_seq
          FROM dblink_get_result('peer') AS t(status text, attempt_id bigint, session_id text, audit_seq bigint);
    EXCEPTION WHEN OTHERS THEN
        status := 'error ' || SQLSTATE || ': ' || SQLERRM;
    END;
    PERFORM * FROM dblink_get_result('peer', false) AS t(status text, attempt_id bigint, session_id text, audit_seq bigint);
END
$$;

CREATE TEMP TABLE mine   (label text PRIMARY KEY, status text, attempt_id bigint, session_id text, audit_seq bigint);
CREATE TEMP TABLE theirs (label text PRIMARY KEY, status text, attempt_id bigint, session_id text, audit_seq bigint);

-- All the audit actions of one GUID, in seq order.
CREATE FUNCTION pg_temp.actions(guid text) RETURNS text[] LANGUAGE sql AS
$$ SELECT array_agg(action ORDER BY seq) FROM forgea_audit.audit_log WHERE correlation_id = guid $$;

-------------------------------------------------------------------------------------------------
-- The peer connection
-------------------------------------------------------------------------------------------------
SELECT is(dblink_connect('peer', format('host=%s port=%s dbname=%s user=%s',
                                        split_part(current_setting('unix_socket_directories'), ',', 1),
                                        current_setting('port'), current_database(), current_user)),
          'OK', 'a second connection to this database over the unix socket (dblink)');
SELECT pid AS peer_pid FROM dblink('peer', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT isnt(:peer_pid, pg_backend_pid(), 'the peer is another backend');
-- A wedged race fails the test instead of hanging it.
SELECT is(dblink_exec('peer', 'SET lock_timeout = ''60s'''), 'SET', 'the peer gives up on a lock after 60 s');

-------------------------------------------------------------------------------------------------
-- 1. Same GUID, same payload: the peer waits for this transaction, then answers 'duplicate'
-------------------------------------------------------------------------------------------------
BEGIN;
INSERT INTO mine SELECT 'race', * FROM forgea_audit.record_push(pg_temp.payload('race-lab'),
                                                                '00000000-0000-4000-8000-0000000c0001');
SELECT is((SELECT status FROM mine WHERE label = 'race'), 'recorded',
          'same GUID: this connection records it and keeps the transaction open');
SELECT is(dblink_send_query('peer', pg_temp.call_sql('race-lab', '00000000-0000-4000-8000-0000000c0001')), 1,
          'same GUID: the peer sends record_push for it');
SELECT ok(pg_temp.wait_lock(:peer_pid), 'same GUID: the peer waits on a lock (pg_stat_activity wait_event_type = Lock)');
SELECT ok(pg_blocking_pids(:peer_pid) @> ARRAY[pg_backend_pid()], 'same GUID: this connection is what blocks the peer');
SELECT is(dblink_is_busy('peer'), 1, 'same GUID: dblink_is_busy = 1 while this transaction is open');
COMMIT;
INSERT INTO theirs SELECT 'race', * FROM pg_temp.peer_result();
SELECT is((SELECT status FROM theirs WHERE label = 'race'), 'duplicate',
          'same GUID: after COMMIT the peer''s call returns ''duplicate'' (no unique violation)');
SELECT is((SELECT attempt_id FROM theirs WHERE label = 'race'), (SELECT attempt_id FROM mine WHERE label = 'race'),
          'same GUID: the peer gets the committed attempt_id');
SELECT is((SELECT session_id FROM theirs WHERE label = 'race'), 's-race', 'same GUID: and the same session');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-0000000c0001'),
          1, 'same GUID: exactly one lab_attempt row');
SELECT is(pg_temp.actions('00000000-0000-4000-8000-0000000c0001'),
          ARRAY['LAB_VERIFY_ATTEMPT', 'LAB_VERIFY_ATTEMPT_DUPLICATE'],
          'same GUID: one LAB_VERIFY_ATTEMPT, then the peer''s LAB_VERIFY_ATTEMPT_DUPLICATE');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'same GUID: verify_chain() ok');

-------------------------------------------------------------------------------------------------
-- 2. Same GUID, and this transaction rolls back: the waiting peer records it itself
-------------------------------------------------------------------------------------------------
BEGIN;
SELECT status AS roll_mine FROM forgea_audit.record_push(pg_temp.payload('roll-lab'),
                                                         '00000000-0000-4000-8000-0000000c0002') \gset
SELECT dblink_send_query('peer', pg_temp.call_sql('roll-lab', '00000000-0000-4000-8000-0000000c0002')) AS roll_sent \gset
SELECT pg_temp.wait_lock(:peer_pid) AS roll_waited \gset
ROLLBACK;
SELECT is(:'roll_mine'::text, 'recorded', 'rollback: this connection had recorded the GUID before rolling back');
SELECT is(:roll_sent, 1, 'rollback: the peer had sent record_push for the same GUID');
SELECT ok(:'roll_waited'::boolean, 'rollback: the peer waited on a lock until the ROLLBACK');
INSERT INTO theirs SELECT 'roll', * FROM pg_temp.peer_result();
SELECT is((SELECT status FROM theirs WHERE label = 'roll'), 'recorded',
          'rollback: the peer''s call then returns ''recorded''');
SELECT is((SELECT ARRAY[count(*)::text, min(session_id), min(id)::text] FROM forgea_audit.lab_attempt
            WHERE delivery_id = '00000000-0000-4000-8000-0000000c0002'),
          (SELECT ARRAY['1', 's-roll', attempt_id::text] FROM theirs WHERE label = 'roll'),
          'rollback: exactly one lab_attempt row, the peer''s');
SELECT is(pg_temp.actions('00000000-0000-4000-8000-0000000c0002'), ARRAY['LAB_VERIFY_ATTEMPT'],
          'rollback: only the peer''s LAB_VERIFY_ATTEMPT row exists');
SELECT is((SELECT chain_pos FROM forgea_audit.audit_log WHERE seq = (SELECT audit_seq FROM theirs WHERE label = 'roll')),
          1::bigint, 'rollback: the peer''s row is position 1 of session:s-roll (the rolled-back link left no trace)');

-------------------------------------------------------------------------------------------------
-- 3. Different forks do not block each other
-------------------------------------------------------------------------------------------------
BEGIN;
INSERT INTO mine SELECT 'fork-a', * FROM forgea_audit.record_push(pg_temp.payload('fork-a'),
                                                                  '00000000-0000-4000-8000-0000000c0003');
SELECT is((SELECT status FROM mine WHERE label = 'fork-a'), 'recorded',
          'different forks: fork A recorded here, transaction kept open');
SELECT is(dblink_send_query('peer', pg_temp.call_sql('fork-b', '00000000-0000-4000-8000-0000000c0004')), 1,
          'different forks: the peer sends record_push for fork B');
SELECT ok(pg_temp.wait_done('peer', 10),
          'different forks: the peer''s call for fork B completes (dblink_is_busy = 0) while fork A is uncommitted');
SELECT ok(NOT (pg_blocking_pids(:peer_pid) @> ARRAY[pg_backend_pid()]),
          'different forks: this connection blocks nothing of the peer');
INSERT INTO theirs SELECT 'fork-b', * FROM pg_temp.peer_result();
SELECT is((SELECT ARRAY[status, session_id] FROM theirs WHERE label = 'fork-b'), ARRAY['recorded', 's-b'],
          'different forks: the peer recorded fork B on session s-b');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-0000000c0004'),
          1, 'different forks: fork B''s attempt is committed and visible before fork A commits');
COMMIT;
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt
            WHERE delivery_id IN ('00000000-0000-4000-8000-0000000c0003', '00000000-0000-4000-8000-0000000c0004')),
          2, 'different forks: both attempts exist after COMMIT');

-------------------------------------------------------------------------------------------------
-- 4. Same session, different GUIDs: the peer waits, then records a second attempt
-------------------------------------------------------------------------------------------------
BEGIN;
INSERT INTO mine SELECT 'same-1', * FROM forgea_audit.record_push(pg_temp.payload('same-lab'),
                                                                  '00000000-0000-4000-8000-0000000c0005');
SELECT is((SELECT status FROM mine WHERE label = 'same-1'), 'recorded',
          'same session: the first push recorded here, transaction kept open');
SELECT is(dblink_send_query('peer', pg_temp.call_sql('same-lab', '00000000-0000-4000-8000-0000000c0006',
                                                     repeat('b', 40))), 1,
          'same session: the peer sends a different delivery for the same fork');
SELECT ok(pg_temp.wait_lock(:peer_pid), 'same session: the peer waits (the session row / chain head is locked)');
COMMIT;
INSERT INTO theirs SELECT 'same-2', * FROM pg_temp.peer_result();
SELECT is((SELECT ARRAY[status, session_id] FROM theirs WHERE label = 'same-2'), ARRAY['recorded', 's-same'],
          'same session: after COMMIT the peer records its delivery too');
SELECT isnt((SELECT attempt_id FROM theirs WHERE label = 'same-2'), (SELECT attempt_id FROM mine WHERE label = 'same-1'),
            'same session: as a second attempt');
SELECT is((SELECT array_agg(correlation_id || '@' || chain_pos ORDER BY chain_pos) FROM forgea_audit.audit_log
            WHERE chain_id = 'session:s-same'),
          ARRAY['00000000-0000-4000-8000-0000000c0005@1', '00000000-0000-4000-8000-0000000c0006@2'],
          'same session: the two LAB_VERIFY_ATTEMPT rows are positions 1 and 2 of the session chain, in commit order');

-------------------------------------------------------------------------------------------------
-- 5. Two pushes racing on a STUCK session: exactly one transition
-------------------------------------------------------------------------------------------------
BEGIN;
INSERT INTO mine SELECT 'stuck-1', * FROM forgea_audit.record_push(pg_temp.payload('stuck-lab'),
                                                                   '00000000-0000-4000-8000-0000000c0007');
SELECT is((SELECT status FROM mine WHERE label = 'stuck-1'), 'recorded',
          'STUCK race: the first push recorded here, transaction kept open');
SELECT is(dblink_send_query('peer', pg_temp.call_sql('stuck-lab', '00000000-0000-4000-8000-0000000c0008',
                                                     repeat('c', 40))), 1,
          'STUCK race: the peer sends another delivery for the STUCK session');
SELECT ok(pg_temp.wait_lock(:peer_pid), 'STUCK race: the peer waits');
COMMIT;
INSERT INTO theirs SELECT 'stuck-2', * FROM pg_temp.peer_result();
SELECT is((SELECT status FROM theirs WHERE label = 'stuck-2'), 'recorded', 'STUCK race: the peer records its delivery');
SELECT is((SELECT array_agg(action ORDER BY chain_pos) FROM forgea_audit.audit_log WHERE chain_id = 'session:s-stuck'),
          ARRAY['LAB_VERIFY_ATTEMPT', 'LAB_STATUS_TRANSITION', 'LAB_VERIFY_ATTEMPT'],
          'STUCK race: exactly one LAB_STATUS_TRANSITION, written by the first push');
SELECT is((SELECT "status"::text FROM "LabSession" WHERE "id" = 's-stuck'), 'IN_PROGRESS',
          'STUCK race: the session is IN_PROGRESS');

-------------------------------------------------------------------------------------------------
-- 6. Same GUID, different payload, racing: the peer answers 'conflict'
-------------------------------------------------------------------------------------------------
BEGIN;
INSERT INTO mine SELECT 'conf', * FROM forgea_audit.record_push(pg_temp.payload('conf-lab'),
                                                                '00000000-0000-4000-8000-0000000c0009');
SELECT is((SELECT status FROM mine WHERE label = 'conf'), 'recorded', 'racing conflict: recorded here, kept open');
SELECT is(dblink_send_query('peer', pg_temp.call_sql('conf-lab', '00000000-0000-4000-8000-0000000c0009',
                                                     repeat('d', 40))), 1,
          'racing conflict: the peer sends the same GUID with another "after"');
SELECT ok(pg_temp.wait_lock(:peer_pid), 'racing conflict: the peer waits');
COMMIT;
INSERT INTO theirs SELECT 'conf', * FROM pg_temp.peer_result();
SELECT is((SELECT ARRAY[status, attempt_id::text] FROM theirs WHERE label = 'conf'),
          (SELECT ARRAY['conflict', attempt_id::text] FROM mine WHERE label = 'conf'),
          'racing conflict: the peer gets ''conflict'' and the committed attempt_id');
SELECT is((SELECT ARRAY[action, severity, outcome] FROM forgea_audit.audit_log
            WHERE seq = (SELECT audit_seq FROM theirs WHERE label = 'conf')),
          ARRAY['LAB_VERIFY_ATTEMPT_CONFLICT', 'HIGH', 'failure'], 'racing conflict: audited HIGH / failure');
SELECT is((SELECT commit_sha FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-0000000c0009'),
          pg_temp.payload('conf-lab') ->> 'after', 'racing conflict: the attempt keeps the first payload''s commit');

-------------------------------------------------------------------------------------------------
-- 7. Two unmatched deliveries racing to create a new repository chain
-------------------------------------------------------------------------------------------------
BEGIN;
INSERT INTO mine SELECT 'nobody-1', * FROM forgea_audit.record_push(pg_temp.payload('nobody-lab'),
                                                                    '00000000-0000-4000-8000-0000000c0010');
SELECT is((SELECT status FROM mine WHERE label = 'nobody-1'), 'unmatched',
          'new chain race: the first unmatched delivery creates chain repository:github.com/conc/nobody-lab, kept open');
SELECT is(dblink_send_query('peer', pg_temp.call_sql('nobody-lab', '00000000-0000-4000-8000-0000000c0011',
                                                     repeat('e', 40))), 1,
          'new chain race: the peer sends another unmatched delivery for the same repository');
SELECT ok(pg_temp.wait_lock(:peer_pid), 'new chain race: the peer waits for the uncommitted chain head');
COMMIT;
INSERT INTO theirs SELECT 'nobody-2', * FROM pg_temp.peer_result();
SELECT is((SELECT status FROM theirs WHERE label = 'nobody-2'), 'unmatched',
          'new chain race: the peer''s call returns ''unmatched'' (no unique violation on the chain head)');
SELECT is((SELECT array_agg(correlation_id || '@' || chain_pos ORDER BY chain_pos) FROM forgea_audit.audit_log
            WHERE chain_id = 'repository:github.com/conc/nobody-lab'),
          ARRAY['00000000-0000-4000-8000-0000000c0010@1', '00000000-0000-4000-8000-0000000c0011@2'],
          'new chain race: the two rows are positions 1 and 2 of one chain');
SELECT is((SELECT length FROM forgea_audit.chain_head WHERE chain_id = 'repository:github.com/conc/nobody-lab'),
          2::bigint, 'new chain race: one chain head, length 2');

-------------------------------------------------------------------------------------------------
-- The end
-------------------------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt), 9, 'nine attempts in all, one per recorded GUID');
SELECT is((SELECT count(*)::int FROM (SELECT delivery_id FROM forgea_audit.lab_attempt GROUP BY delivery_id
                                      HAVING count(*) > 1) d), 0, 'no GUID has two attempts');
SELECT is((SELECT ARRAY[ok::text, rows_checked::text] FROM forgea_audit.verify_chain()),
          ARRAY['true', (SELECT count(*)::text FROM forgea_audit.audit_log)], 'verify_chain() ok after all races');
SELECT is(dblink_disconnect('peer'), 'OK', 'the peer disconnects');

SELECT * FROM finish();
