-- reject_delivery(): rejected webhook deliveries become WEBHOOK_DELIVERY_REJECTED audit rows, called
-- as the writer role; what each row holds; severity HIGH (an alert) for signatures only; bad
-- arguments refused; writers cannot forge the action through append(); and a flood of forged
-- deliveries is counted per minute/reason/shard while only a capped number gets audit rows.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_rej_writer') THEN
        CREATE ROLE fa_rej_writer LOGIN IN ROLE forgea_audit_writer;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fa_rej_reader') THEN
        CREATE ROLE fa_rej_reader LOGIN IN ROLE forgea_audit_reader;
    END IF;
END $$;

-- One transaction: now(), and so the minute the counters use, is the same for every call.
BEGIN;
SELECT plan(27);

\ir try.psql
GRANT EXECUTE ON FUNCTION pg_temp.sqlstate_of(text) TO PUBLIC;

-------------------------------------------------------------------------------------------------
-- One rejection of each kind, as the writer
-------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION fa_rej_writer;
SELECT forgea_audit.reject_delivery('signature', '72d3162e-cc78-11e3-81ab-4c9367dc0958',
                                    sha256('forged body'), 11, NULL, NULL,
                                    '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "42", "User-Agent": "curl/8"}') AS sig_seq \gset
SELECT forgea_audit.reject_delivery('payload', '0b2c5bd4-1b4e-11ef-8a0a-6e1f0c4f9a11', sha256('{"ref": 7}'), 10,
                                    '22023', '$.ref') AS payload_seq \gset
SELECT forgea_audit.reject_delivery('delivery_id', NULL, sha256(''), 0) AS noid_seq \gset
SELECT forgea_audit.reject_delivery('content_type', repeat('x', 10000), sha256('payload=%7B%7D'), 14) AS long_seq \gset
SELECT pg_temp.sqlstate_of($$SELECT forgea_audit.reject_delivery('nonsense', 'x', sha256(''), 0)$$) AS bad_reason,
       pg_temp.sqlstate_of($$SELECT forgea_audit.reject_delivery('signature', 'x', '\x00', 0)$$) AS bad_sha,
       pg_temp.sqlstate_of($$SELECT forgea_audit.reject_delivery('signature', 'x', sha256(''), -1)$$) AS bad_size,
       pg_temp.sqlstate_of($$SELECT forgea_audit.reject_delivery('payload', 'x', sha256(''), 0, 'not a sqlstate')$$) AS bad_state,
       pg_temp.sqlstate_of($$SELECT forgea_audit.append(action => 'WEBHOOK_DELIVERY_REJECTED', target_type => 'x')$$) AS forged_action,
       pg_temp.sqlstate_of($$SELECT forgea_audit.append(action => 'MINE', chain => 'webhook_rejected:signature:0')$$) AS forged_chain,
       pg_temp.sqlstate_of($$SELECT count(*) FROM forgea_audit.webhook_rejection$$) AS writer_reads \gset
RESET SESSION AUTHORIZATION;

SELECT isnt(:'sig_seq'::text, '', 'the writer records a signature rejection and gets its seq');
SELECT results_eq(
    format($$SELECT action, outcome, severity, actor_type, target_type, target_id, correlation_id, chain_id ~ '^webhook_rejected:signature:[0-3]$'
             FROM forgea_audit.audit_log WHERE seq = %s$$, :'sig_seq'),
    $$VALUES ('WEBHOOK_DELIVERY_REJECTED', 'failure', 'HIGH', 'webhook', 'webhook_delivery',
              '72d3162e-cc78-11e3-81ab-4c9367dc0958', '72d3162e-cc78-11e3-81ab-4c9367dc0958', true)$$,
    'signature: outcome failure, severity HIGH, the delivery id as target and correlation, a sharded chain');
SELECT is((SELECT metadata - 'minute_count' FROM forgea_audit.audit_log WHERE seq = :'sig_seq'),
          jsonb_build_object('reason', 'signature', 'delivery_id', '72d3162e-cc78-11e3-81ab-4c9367dc0958',
                             'body_sha256', encode(sha256('forged body'), 'hex'), 'body_bytes', 11,
                             'event', 'push', 'hook_id', '42', 'user_agent', 'curl/8'),
          'signature: the metadata holds the reason, the id, the body''s SHA-256 and size, the headers kept');
SELECT is((SELECT severity FROM forgea_audit.audit_log WHERE seq = :'payload_seq'), 'MEDIUM', 'payload: severity MEDIUM (no alert)');
SELECT is((SELECT metadata->>'sqlstate' || ' ' || (metadata->>'json_path') FROM forgea_audit.audit_log WHERE seq = :'payload_seq'),
          '22023 $.ref', 'payload: the SQLSTATE and JSON path are kept');
SELECT is((SELECT target_id IS NULL AND NOT metadata ? 'delivery_id' FROM forgea_audit.audit_log WHERE seq = :'noid_seq'),
          true, 'delivery_id: recorded without an id');
SELECT is((SELECT length(target_id) || ' ' || (metadata->>'delivery_id_bytes') FROM forgea_audit.audit_log WHERE seq = :'long_seq'),
          '200 10000', 'a 10,000-character id is capped at 200 characters, its size kept');
SELECT is(:'bad_reason'::text, '22023', 'an unknown reason: 22023');
SELECT is(:'bad_sha'::text, '22023', 'a digest that is not 32 bytes: 22023');
SELECT is(:'bad_size'::text, '22023', 'a negative size: 22023');
SELECT is(:'bad_state'::text, '22023', 'a sqlstate that is not one: 22023');
SELECT is(:'forged_action'::text, '42501', 'a writer cannot append WEBHOOK_DELIVERY_REJECTED itself');
SELECT is(:'forged_chain'::text, '42501', 'a writer cannot append into a webhook_rejected: chain');
SELECT is(:'writer_reads'::text, '42501', 'the writer cannot read webhook_rejection');

SET SESSION AUTHORIZATION fa_rej_reader;
SELECT is((SELECT sum(deliveries)::int FROM forgea_audit.webhook_rejection), 4, 'a reader sees the counts: 4 rejections');
RESET SESSION AUTHORIZATION;

-- The alert: NOTIFY forgea_audit_alerts at commit for the HIGH row, and for it only.
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_DELIVERY_REJECTED' AND severity IN ('HIGH', 'CRITICAL')),
          1, 'exactly one of the four is HIGH (the alert fires for signature failures only)');

-------------------------------------------------------------------------------------------------
-- A flood: 400 forged deliveries from one connection in one minute, then 100 refused payloads.
-------------------------------------------------------------------------------------------------
SET forgea_audit.rejected_audit_per_minute = 40;   -- 10 per shard
SELECT count(*) FILTER (WHERE s IS NOT NULL) AS flood_audited, count(*) FILTER (WHERE s IS NULL) AS flood_counted
FROM (SELECT forgea_audit.reject_delivery('signature', gen_random_uuid()::text, sha256(i::text::bytea), 1000) AS s
      FROM generate_series(1, 400) i) x \gset
SELECT count(*) FILTER (WHERE s IS NOT NULL) AS payload_audited
FROM (SELECT forgea_audit.reject_delivery('payload', gen_random_uuid()::text, sha256(i::text::bytea), 10, '22P02')
      AS s FROM generate_series(1, 100) i) x \gset
RESET forgea_audit.rejected_audit_per_minute;

SELECT is(:'flood_audited'::int, 9, 'flood: one connection (one shard) gets 10 audit rows per minute, 1 already used: 9');
SELECT is(:'flood_counted'::int, 391, 'flood: the other 391 are counted only (reject_delivery returned NULL)');
SELECT is(:'payload_audited'::int, 9, 'another reason has its own allowance (9 more; 1 used above)');
SELECT results_eq(
    $$SELECT reason, deliveries::int, bytes::int FROM forgea_audit.webhook_rejection
      WHERE shard = pg_backend_pid() % 4 AND reason IN ('signature', 'payload') ORDER BY reason$$,
    $$VALUES ('payload', 101, 1010), ('signature', 401, 400011)$$,
    'webhook_rejection counts every delivery and byte, audited or not: one row per minute, reason, shard');
SELECT is((SELECT count(*)::int FROM forgea_audit.webhook_rejection), 4, 'four counter rows for four reasons: rows do not grow with the flood');
SELECT is((SELECT count(DISTINCT chain_id)::int FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_DELIVERY_REJECTED'),
          4, 'four chains for four reasons: chains do not grow with the flood');
SELECT is((SELECT max((metadata->>'minute_count')::int) FROM forgea_audit.audit_log
           WHERE action = 'WEBHOOK_DELIVERY_REJECTED' AND metadata->>'reason' = 'signature'),
          10, 'each audit row says how many of its minute/reason/shard came before it (the last: 10)');

-- Shards: connections whose pids fall in different shards append to different chains.
SELECT is((SELECT array_agg(DISTINCT split_part(chain_id, ':', 3)::int) <@ ARRAY[0, 1, 2, 3]
           FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_DELIVERY_REJECTED'), true, 'shards are 0-3');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_DELIVERY_REJECTED'),
          4 + 9 + 9, 'audit rows in all: 4 + 9 + 9');
SELECT is(has_function_privilege('public', 'forgea_audit.reject_delivery(text, text, bytea, bigint, text, text, jsonb)', 'EXECUTE'),
          false, 'PUBLIC has no EXECUTE on reject_delivery');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'the chain verifies');

SELECT * FROM finish();
ROLLBACK;
DROP ROLE fa_rej_writer;
DROP ROLE fa_rej_reader;
