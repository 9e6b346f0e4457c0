-- Retention of webhook_rejection (run_retention()'s path; the worker's is test/worker/rejection_retention.sh):
-- whole UTC days older than forgea_audit.rejection_retention (default 90 days) are summed into
-- webhook_rejection_daily, one row per day and reason, with a WEBHOOK_REJECTIONS_ROLLED_UP audit
-- event (day, totals, digest of the minute rows); no count is lost, newer minutes and the cutoff's
-- own day stay, a second run changes nothing, writers cannot forge the event.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_rr_admin') THEN DROP ROLE fa_rr_admin; END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_rr_writer') THEN DROP ROLE fa_rr_writer; END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_rr_reader') THEN DROP ROLE fa_rr_reader; END IF;
    CREATE ROLE fa_rr_admin LOGIN IN ROLE forgea_audit_admin;
    CREATE ROLE fa_rr_writer LOGIN IN ROLE forgea_audit_writer;
    CREATE ROLE fa_rr_reader LOGIN IN ROLE forgea_audit_reader;
END $$;

SELECT plan(23);

\ir try.psql
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO PUBLIC;

-- Days in UTC.  d1, d2: 100 and 95 days ago (due); edge: the start of the cutoff's own day (90
-- days ago: not a whole day before the cutoff, stays); recent: yesterday.
SELECT date_trunc('day', now() - interval '100 days', 'UTC') AS d1, date_trunc('day', now() - interval '95 days', 'UTC') AS d2,
       date_trunc('day', now() - interval '90 days', 'UTC') AS edge, date_trunc('minute', now() - interval '1 day') AS recent \gset

-- Counter rows as reject_delivery() leaves them (written here straight, as the owner).
INSERT INTO forgea_audit.webhook_rejection (minute, reason, shard, deliveries, bytes) VALUES
    (:'d1'::timestamptz,                         'signature', 0, 100, 1000),
    (:'d1'::timestamptz + interval '1 minute',   'signature', 1,  50,  500),
    (:'d1'::timestamptz + interval '23:59',      'signature', 3,   7,   70),
    (:'d1'::timestamptz + interval '12 hours',   'payload',   2,   3,   30),
    (:'d2'::timestamptz + interval '5 minutes',  'event',     0,   9,   90),
    (:'edge'::timestamptz,                       'signature', 0,  11,  110),
    (:'recent'::timestamptz,                     'signature', 1,  13,  130);
CREATE TEMP TABLE before AS SELECT * FROM forgea_audit.webhook_rejection;
-- What each event's rows_sha256 must be (canonical_row_json depends on TimeZone, as to_jsonb of a
-- timestamptz does; rollup_rejections() runs in UTC).
SET TimeZone = 'UTC';
CREATE TEMP TABLE expected_digest AS
SELECT date_trunc('day', b.minute)::date AS day,
       encode(sha256(convert_to(string_agg(forgea_audit.canonical_row_json(b), E'\n' ORDER BY b.minute, b.reason, b.shard), 'UTF8')), 'hex') AS digest
FROM before b GROUP BY 1;
RESET TimeZone;

SELECT is((SELECT rejection_retention FROM forgea_audit.retention_settings()), interval '90 days',
          'forgea_audit.rejection_retention defaults to 90 days');

SET ROLE fa_rr_admin;
SELECT archived AS run_archived, skipped AS run_skipped FROM forgea_audit.run_retention() \gset
RESET ROLE;
SELECT is(:'run_skipped'::boolean, false, 'run_retention() as an admin: not skipped');

SELECT results_eq(
    $$SELECT day, reason, deliveries::int, bytes::int, minute_rows FROM forgea_audit.webhook_rejection_daily ORDER BY day, reason$$,
    format($$VALUES (%L::date, 'payload', 3, 30, 1), (%L::date, 'signature', 157, 1570, 3), (%L::date, 'event', 9, 90, 1)$$,
           (:'d1'::timestamptz AT TIME ZONE 'UTC')::date, (:'d1'::timestamptz AT TIME ZONE 'UTC')::date,
           (:'d2'::timestamptz AT TIME ZONE 'UTC')::date),
    'the two due days are summed per reason into webhook_rejection_daily');
SELECT results_eq(
    $$SELECT minute, reason, shard, deliveries FROM forgea_audit.webhook_rejection ORDER BY minute$$,
    format($$VALUES (%L::timestamptz, 'signature', 0::smallint, 11::bigint), (%L::timestamptz, 'signature', 1::smallint, 13::bigint)$$,
           :'edge', :'recent'),
    'the cutoff''s own day and newer minutes stay as they were');
SELECT is((SELECT sum(deliveries)::int FROM forgea_audit.webhook_rejection) + (SELECT sum(deliveries)::int FROM forgea_audit.webhook_rejection_daily),
          (SELECT sum(deliveries)::int FROM before), 'no delivery is lost: minutes + days = the counts before');
SELECT is((SELECT sum(bytes)::int FROM forgea_audit.webhook_rejection) + (SELECT sum(bytes)::int FROM forgea_audit.webhook_rejection_daily),
          (SELECT sum(bytes)::int FROM before), 'nor a byte');

SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_REJECTIONS_ROLLED_UP'), 2,
          'one WEBHOOK_REJECTIONS_ROLLED_UP audit event per day summed');
SELECT results_eq(
    $$SELECT chain_id COLLATE "default", actor_id, target_type, target_id, metadata->'deliveries', metadata->'bytes', (metadata->>'minute_rows')::int
      FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_REJECTIONS_ROLLED_UP' ORDER BY seq$$,
    format($$VALUES ('retention', 'forgea_audit.retention', 'webhook_rejection_daily', %L, '{"payload": 3, "signature": 157}'::jsonb,
                     '{"payload": 30, "signature": 1570}'::jsonb, 4),
                    ('retention', 'forgea_audit.retention', 'webhook_rejection_daily', %L, '{"event": 9}'::jsonb, '{"event": 90}'::jsonb, 1)$$,
           to_char(:'d1'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD'), to_char(:'d2'::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD')),
    'each event names its day and holds the per-reason totals, on chain retention');
SELECT is((SELECT array_agg(l.metadata->>'rows_sha256' = e.digest ORDER BY l.seq)
           FROM forgea_audit.audit_log l JOIN expected_digest e ON e.day = (l.metadata->>'day')::date
           WHERE l.action = 'WEBHOOK_REJECTIONS_ROLLED_UP'),
          ARRAY[true, true], 'rows_sha256: the digest of the minute rows each event replaced');
SELECT is((SELECT bool_and(d.rollup_seq = l.seq) FROM forgea_audit.webhook_rejection_daily d
           JOIN forgea_audit.audit_log l ON l.action = 'WEBHOOK_REJECTIONS_ROLLED_UP' AND (l.metadata->>'day')::date = d.day),
          true, 'each daily row names the event that summed it');

-- A second run: nothing is due any more.
SET ROLE fa_rr_admin;
SELECT * FROM forgea_audit.run_retention() \gset second_
RESET ROLE;
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_REJECTIONS_ROLLED_UP'), 2,
          'a second run writes no event');
SELECT is((SELECT sum(deliveries)::int FROM forgea_audit.webhook_rejection_daily), 169, 'and changes no daily count');

-- A cutoff of a day ago sums the 90-days-ago day, and leaves yesterday (the cutoff's own day).
SELECT is((SELECT days FROM forgea_audit.rollup_rejections(now() - interval '1 day')), 1,
          'rollup_rejections() sums one day per call');
SELECT is((SELECT days FROM forgea_audit.rollup_rejections(now() - interval '1 day')), 0, '... and 0 when none is due');
SELECT is((SELECT count(*)::int FROM forgea_audit.webhook_rejection), 1, 'only yesterday''s minute is left');

-- verify_archive() holds webhook_rejection_daily to the chained events that summed it (the minute
-- rows are gone; the events' per-reason totals are not): a changed count or a lost row fails it,
-- naming the event.
SELECT is((SELECT ok::text || ': ' || detail FROM forgea_audit.verify_archive()),
          'true: verified 0 archive batches and 3 days of rejected deliveries',
          'verify_archive() checks the 3 summed days against their events');
UPDATE forgea_audit.webhook_rejection_daily SET deliveries = deliveries + 1 WHERE reason = 'event';
SELECT results_eq($$SELECT ok, first_bad_seq FROM forgea_audit.verify_archive()$$,
                  $$SELECT false, seq FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_REJECTIONS_ROLLED_UP' AND metadata->'deliveries' ? 'event'$$,
                  'a changed daily count fails verify_archive(), naming the event that summed that day');
UPDATE forgea_audit.webhook_rejection_daily SET deliveries = deliveries - 1 WHERE reason = 'event';
CREATE TEMP TABLE payload_row AS SELECT * FROM forgea_audit.webhook_rejection_daily WHERE reason = 'payload';
DELETE FROM forgea_audit.webhook_rejection_daily WHERE reason = 'payload';
SELECT results_eq($$SELECT ok, first_bad_seq FROM forgea_audit.verify_archive()$$,
                  $$SELECT false, seq FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_REJECTIONS_ROLLED_UP' AND metadata->'deliveries' ? 'payload'$$,
                  'a lost daily row fails verify_archive(), naming the event that summed it');
INSERT INTO forgea_audit.webhook_rejection_daily SELECT * FROM payload_row;
SELECT is((SELECT ok FROM forgea_audit.verify_archive()), true, 'put back, verify_archive() is ok again');

SET ROLE fa_rr_writer;
SELECT pg_temp.sqlstate_of($$SELECT forgea_audit.append(action => 'WEBHOOK_REJECTIONS_ROLLED_UP', target_type => 'x', chain => 'mine')$$) AS forged,
       pg_temp.sqlstate_of($$SELECT forgea_audit.rollup_rejections(now())$$) AS writer_rollup \gset
RESET ROLE;
SELECT is(:'forged'::text, '42501', 'a writer cannot append WEBHOOK_REJECTIONS_ROLLED_UP');
SELECT is(:'writer_rollup'::text, '42501', 'nor run rollup_rejections()');
SET ROLE fa_rr_reader;
SELECT is((SELECT count(*)::int FROM forgea_audit.webhook_rejection_daily), 4, 'a reader reads webhook_rejection_daily');
RESET ROLE;
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'the chain verifies');

SELECT * FROM finish();
DROP OWNED BY fa_rr_admin;
DROP OWNED BY fa_rr_writer;
DROP OWNED BY fa_rr_reader;
DROP ROLE fa_rr_admin;
DROP ROLE fa_rr_writer;
DROP ROLE fa_rr_reader;
