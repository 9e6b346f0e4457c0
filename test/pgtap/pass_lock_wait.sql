-- How long a pass over the Merkle log (checkpoint(), merkle_integrate(), verify_increment()) waits
-- for the locks another transaction holds (docs/checkpoints.md, "Bounded waits"): 5 s with
-- lock_timeout unset, else the caller's own lock_timeout, lower or higher: a DBA who runs
-- SET lock_timeout = '6s' before checkpoint() waits 6 s (up to 0.3.0's fix: 5 s, whatever it
-- said, and the first test below failed).  The error names the bound it waited, and its hint how
-- to find the holder and how to wait longer.  A background worker stays at 5 s at most
-- (test/worker/reader_never_stalls.sh: the worker's passes give up and say so).
-- The holder is a second connection (dblink) whose transaction stays open after merkle_integrate().
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(6);

\ir try.psql

SELECT is(dblink_connect('holder', format('host=%s port=%s dbname=%s user=%s',
                                          split_part(current_setting('unix_socket_directories'), ',', 1),
                                          current_setting('port'), current_database(), current_user)),
          'OK', 'a second connection (dblink)');
SELECT forgea_audit.append('LOCK_WAIT_SEED', chain => 'lock-wait') AS seed \gset
SELECT is(dblink_exec('holder', 'BEGIN'), 'BEGIN', 'the holder opens a transaction');
SELECT ok((SELECT n >= 1 FROM dblink('holder', 'SELECT forgea_audit.merkle_integrate()') AS t(n bigint)),
          'the holder''s merkle_integrate() integrated the seed row and keeps merkle_state locked');
SELECT forgea_audit.append('LOCK_WAIT_NEXT', chain => 'lock-wait') AS next \gset

-- The error and its hint, as the caller sees them.
CREATE FUNCTION pg_temp.checkpoint_error() RETURNS text LANGUAGE plpgsql AS
$$
DECLARE
    msg text;
    hint text;
BEGIN
    PERFORM forgea_audit.checkpoint();
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || msg || ' | ' || hint;
END
$$;

SET lock_timeout = '6s';
SELECT matches(pg_temp.checkpoint_error(),
               '^55P03: checkpoint\(\) could not run: a lock on the Merkle log was held by another transaction for more than 6000 ms \| .*forgea_audit.progress.*SET lock_timeout',
               'lock_timeout 6s: checkpoint() waited 6 s, not 5, and the hint names forgea_audit.progress and lock_timeout');
SET lock_timeout = '1s';
SELECT matches(pg_temp.checkpoint_error(), '^55P03: .* for more than 1000 ms \| ', 'lock_timeout 1s: a lower one stays (1 s)');
RESET lock_timeout;

SELECT dblink_exec('holder', 'COMMIT');
SELECT dblink_disconnect('holder');
SELECT ok(forgea_audit.checkpoint() IS NOT NULL, 'once the holder committed, checkpoint() runs');

SELECT * FROM finish();
