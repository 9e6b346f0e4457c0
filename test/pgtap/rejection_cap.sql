-- reject_delivery()'s cap holds exactly with 8 concurrent rejecting clients: the audit rows stored
-- for a minute and reason never exceed forgea_audit.rejected_audit_per_minute, however the clients'
-- connections fall on the 4 shards, and a writer's own SET of the (superuser-only) cap, made
-- before the library is loaded in its session, does not raise it.
--
-- The race is made to happen: 8 dblink connections, two in each shard (pid % 4, picked by
-- reconnecting), send their call while a ninth connection holds a lock on webhook_rejection; the
-- test waits until pg_locks shows all 8 waiting for it, then releases them at once.  Before the
-- fix each shard allowed ceil(cap / 4) rows (2 each with a cap of 6, so 8), and a session's first
-- call read a writer's placeholder value (so 8 again).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_cap_writer') THEN
        DROP ROLE fa_cap_writer;
    END IF;
    CREATE ROLE fa_cap_writer LOGIN IN ROLE forgea_audit_writer;
END $$;

SELECT plan(16);

-- A connection string for another connection to this database, as the superuser.
CREATE FUNCTION pg_temp.connstr() RETURNS text LANGUAGE sql AS
$$
SELECT format('host=%s port=%s dbname=%s user=%s', split_part(current_setting('unix_socket_directories'), ',', 1),
              current_setting('port'), current_database(), 'postgres')
$$;

-- Opens connections named <prefix>1 .. <prefix>8, two whose backend pid % 4 is each of 0..3: a
-- connection whose shard has its two already is closed and opened again (a new backend, a new
-- pid; a hang becomes an error after 500 tries).  Returns the shards of the 8, in order.
CREATE FUNCTION pg_temp.open_clients(prefix text) RETURNS int[] LANGUAGE plpgsql AS
$$
DECLARE
    per_shard int[] := ARRAY[0, 0, 0, 0];
    shards int[] := '{}';
    n int := 0;
    pid int;
BEGIN
    FOR tries IN 1..500 LOOP
        PERFORM dblink_connect(prefix || (n + 1), pg_temp.connstr());
        SELECT p INTO pid FROM dblink(prefix || (n + 1), 'SELECT pg_backend_pid()') AS t(p int);
        IF per_shard[pid % 4 + 1] < 2 THEN
            per_shard[pid % 4 + 1] := per_shard[pid % 4 + 1] + 1;
            shards := shards || (pid % 4);
            n := n + 1;
            IF n = 8 THEN
                RETURN shards;
            END IF;
        ELSE
            PERFORM dblink_disconnect(prefix || (n + 1));
        END IF;
    END LOOP;
    RAISE EXCEPTION 'could not get two connections in each shard in 500 tries (%)', per_shard;
END
$$;

-- Runs each statement of stmts on connections <prefix>1 .. <prefix>8.
CREATE FUNCTION pg_temp.on_clients(prefix text, VARIADIC stmts text[]) RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    FOR i IN 1..8 LOOP
        FOR k IN 1..cardinality(stmts) LOOP
            PERFORM dblink_exec(prefix || i, stmts[k]);
        END LOOP;
    END LOOP;
END
$$;

-- Sends each client's reject_delivery call while the holder locks webhook_rejection, waits until
-- all 8 wait for that lock (pg_locks; a deadline turns a hang into a failure), releases them,
-- and returns how many calls returned an audit seq.
CREATE FUNCTION pg_temp.race(prefix text, reason text) RETURNS int LANGUAGE plpgsql AS
$$
DECLARE
    deadline timestamptz := clock_timestamp() + interval '60 seconds';
    waiting int;
    audited int := 0;
    s bigint;
BEGIN
    PERFORM dblink_exec('holder', 'BEGIN');
    PERFORM dblink_exec('holder', 'LOCK TABLE forgea_audit.webhook_rejection IN SHARE ROW EXCLUSIVE MODE');
    FOR i IN 1..8 LOOP
        PERFORM dblink_send_query(prefix || i, format(
            $q$SELECT forgea_audit.reject_delivery(%L, gen_random_uuid()::text, sha256('x'), 1)$q$, reason));
    END LOOP;
    LOOP
        SELECT count(*) INTO waiting FROM pg_locks
        WHERE relation = 'forgea_audit.webhook_rejection'::regclass AND NOT granted;
        EXIT WHEN waiting = 8;
        IF clock_timestamp() > deadline THEN
            RAISE EXCEPTION 'only % of 8 clients reached the lock on webhook_rejection', waiting;
        END IF;
        PERFORM pg_sleep(0.02);
    END LOOP;
    PERFORM dblink_exec('holder', 'COMMIT');
    FOR i IN 1..8 LOOP
        SELECT r INTO s FROM dblink_get_result(prefix || i) AS t(r bigint);
        PERFORM * FROM dblink_get_result(prefix || i) AS t(r bigint);   -- the end of the result set
        IF s IS NOT NULL THEN
            audited := audited + 1;
        END IF;
    END LOOP;
    RETURN audited;
END
$$;

-- now(), and so the minute counted, is each call's own: start both races early in a minute, so
-- that all 16 calls fall into one (they take well under a second; nothing asserts on time).
DO $$ BEGIN
    IF extract(second FROM clock_timestamp()) > 40 THEN
        PERFORM pg_sleep(61 - extract(second FROM clock_timestamp()));
    END IF;
END $$;

-- The cap as an operator sets it (ALTER DATABASE, as docs/integration.md shows): 6, not a multiple
-- of 4.  Every connection opened from here on starts with it.
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET forgea_audit.rejected_audit_per_minute = 6', current_database());
END $$;
SELECT is(dblink_connect('holder', pg_temp.connstr()), 'OK', 'a ninth connection holds the lock');

-------------------------------------------------------------------------------------------------
-- 1. Honest clients: the database's cap of 6, two clients in each shard.
-------------------------------------------------------------------------------------------------
SELECT is((SELECT array_agg(x ORDER BY x) FROM unnest(pg_temp.open_clients('honest')) x),
          ARRAY[0, 0, 1, 1, 2, 2, 3, 3], 'eight clients, two in each shard');
SELECT lives_ok($$SELECT pg_temp.on_clients('honest', 'SET SESSION AUTHORIZATION fa_cap_writer')$$,
                'each session runs as a writer');
SELECT is(pg_temp.race('honest', 'signature'), 6, 'eight concurrent rejections, cap 6: six get an audit row');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log
           WHERE action = 'WEBHOOK_DELIVERY_REJECTED' AND metadata->>'reason' = 'signature'),
          6, 'the stored count of audit rows is the cap exactly (was 8: ceil(6 / 4) per shard)');
SELECT is((SELECT sum(deliveries)::int FROM forgea_audit.webhook_rejection WHERE reason = 'signature'),
          8, 'every one of the eight is counted in webhook_rejection');
SELECT is((SELECT count(DISTINCT minute)::int FROM forgea_audit.webhook_rejection WHERE reason = 'signature'),
          1, 'all in one minute');
SELECT results_eq($$SELECT shard::int, deliveries::int FROM forgea_audit.webhook_rejection
                    WHERE reason = 'signature' ORDER BY shard$$,
                  $$VALUES (0, 2), (1, 2), (2, 2), (3, 2)$$, 'two per shard');
SELECT is((SELECT array_agg(n ORDER BY shard) FROM (
              SELECT split_part(chain_id, ':', 3)::int AS shard, count(*)::int AS n FROM forgea_audit.audit_log
              WHERE action = 'WEBHOOK_DELIVERY_REJECTED' AND metadata->>'reason' = 'signature' GROUP BY 1) x),
          ARRAY[2, 2, 1, 1], 'the shares: 6 / 4 = 1 each, plus one for shards 0 and 1 (6 % 4 = 2)');

-------------------------------------------------------------------------------------------------
-- 2. Clients that SET the cap themselves before the library is loaded in their session: a
--    placeholder, which PostgreSQL lets any role set and drops when the library defines the
--    superuser-only setting.  The cap in force stays the database's (6).
-------------------------------------------------------------------------------------------------
SELECT is((SELECT array_agg(x ORDER BY x) FROM unnest(pg_temp.open_clients('forger')) x),
          ARRAY[0, 0, 1, 1, 2, 2, 3, 3], 'eight more clients, two in each shard');
SELECT is((SELECT count(*)::int FROM generate_series(1, 8) i,
                  dblink('forger' || i, $q$SELECT count(*) FROM pg_settings WHERE name LIKE 'forgea\_audit.%'$q$) AS t(n bigint)
           WHERE n = 0), 8, 'the library is not loaded in any of their sessions yet');
SELECT lives_ok($$SELECT pg_temp.on_clients('forger', 'SET SESSION AUTHORIZATION fa_cap_writer',
                                                      'SET forgea_audit.rejected_audit_per_minute = 1000000')$$,
                'each writer sets the cap to 1000000 in its own session (accepted: a placeholder)');
SELECT is(pg_temp.race('forger', 'event'), 6, 'a writer''s own SET of the cap does not raise it: six audit rows');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log
           WHERE action = 'WEBHOOK_DELIVERY_REJECTED' AND metadata->>'reason' = 'event'),
          6, 'the stored count is the cap (was 8: each session''s first call read the writer''s value)');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'the chain verifies');

SELECT is((SELECT count(*)::int FROM unnest(dblink_get_connections()) c, dblink_disconnect(c) d), 17, 'connections closed');
SELECT * FROM finish();
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I RESET forgea_audit.rejected_audit_per_minute', current_database());
END $$;
DROP OWNED BY fa_cap_writer;
DROP ROLE fa_cap_writer;
