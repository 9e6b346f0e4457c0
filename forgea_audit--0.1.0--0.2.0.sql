-- forgea_audit 0.1.0 -> 0.2.0 (ALTER EXTENSION forgea_audit UPDATE TO '0.2.0').
--
-- Every change to the SQL surface made in 0.2.0 is written here as well as in forgea_audit--0.2.0.sql;
-- test/upgrade/upgrade_from_0.1.0.sh checks that updating an 0.1.0 install gives the same objects
-- as installing 0.2.0 fresh (the full script is the reference: fix this file to match it).
\echo Use "ALTER EXTENSION forgea_audit UPDATE TO '0.2.0'" to load this file. \quit

-------------------------------------------------------------------------------------------------
-- The C functions bind to the 0.2.0 library's symbols (src/pg/sql_version.hpp): the library
-- serves exactly one SQL version and keeps the 0.1.0 names only as stubs that refuse with
-- "forgea_audit library 0.2.0 does not serve the SQL objects of version 0.1.0".
-- CREATE OR REPLACE FUNCTION resets every attribute it is not given (SECURITY DEFINER, SET,
-- volatility, strictness, parallel safety), so each statement repeats the function's whole
-- definition from forgea_audit--0.2.0.sql; owner, privileges and COMMENT are kept.
-------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION forgea_audit.guard_write() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'fa_guard_write_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.record_push(payload jsonb, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off
    AS 'MODULE_PATHNAME', 'fa_record_push_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.record_push_json(payload json, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off
    AS 'MODULE_PATHNAME', 'fa_record_push_json_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.append(
    action         text,
    actor_type     text   DEFAULT 'system',
    actor_id       text   DEFAULT NULL,
    target_type    text   DEFAULT NULL,
    target_id      text   DEFAULT NULL,
    outcome        text   DEFAULT 'success',
    metadata       jsonb  DEFAULT '{}',
    proof          jsonb  DEFAULT NULL,
    correlation_id text   DEFAULT NULL,
    parent_seq     bigint DEFAULT NULL,
    tenant_id      text   DEFAULT NULL,
    user_id        text   DEFAULT NULL,
    severity       text   DEFAULT 'INFO',
    chain          text   DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off
    AS 'MODULE_PATHNAME', 'fa_append_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.append_system(
    action         text,
    actor_type     text   DEFAULT 'system',
    actor_id       text   DEFAULT NULL,
    target_type    text   DEFAULT NULL,
    target_id      text   DEFAULT NULL,
    outcome        text   DEFAULT 'success',
    metadata       jsonb  DEFAULT '{}',
    proof          jsonb  DEFAULT NULL,
    correlation_id text   DEFAULT NULL,
    parent_seq     bigint DEFAULT NULL,
    tenant_id      text   DEFAULT NULL,
    user_id        text   DEFAULT NULL,
    severity       text   DEFAULT 'INFO',
    chain          text   DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c VOLATILE
    SET enable_seqscan = off
    AS 'MODULE_PATHNAME', 'fa_append_system_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.verify_chain(checkpoint text DEFAULT NULL)
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_verify_chain_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.checkpoint() RETURNS text
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_checkpoint_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.repo_key(url text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_repo_key_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.lab_session_table() RETURNS regclass
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_lab_session_table_regclass_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.canonical_json(value jsonb) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_canonical_json_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.canonical_row_json(row_value record) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_canonical_row_json_0_2';

CREATE OR REPLACE FUNCTION forgea_audit.retention_settings(
    OUT attempt_retention interval, OUT archive_batch_size integer, OUT retention_interval interval,
    OUT worker_database text, OUT archive_batch_delay interval)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_retention_settings_0_2';

-------------------------------------------------------------------------------------------------
-- Rejected webhook deliveries.  A receiver that answers a delivery with a 4xx (bad or missing
-- signature, no X-GitHub-Delivery or X-GitHub-Event, a body that is not application/json, a
-- payload record_push refused) records it with reject_delivery(): one WEBHOOK_DELIVERY_REJECTED
-- audit row (outcome failure; severity HIGH for a signature failure, so the alert fires), with the
-- delivery id as sent (capped), the reason, the body's SHA-256 and size, and the SQLSTATE and JSON
-- path of a refused payload.  The body itself is never stored.
--
-- Floods: forged deliveries cost the sender nothing, so neither locks nor rows may grow with them.
--   * Chains: 'webhook_rejected:<reason>:<shard>', shard = the backend's pid mod 4.  At most
--     5 reasons x 4 shards = 20 chains ever; concurrent receivers' connections append to different
--     chain heads, so a burst does not queue on one locked row.
--   * Rows: webhook_rejection counts every rejected delivery per minute, reason and shard (one small
--     row each, at most 20 per minute); only the first ceil(forgea_audit.rejected_audit_per_minute / 4)
--     of a minute/reason/shard also get their own audit row.  The rest are counted there (deliveries,
--     bytes), and reject_delivery returns NULL for them.  The counter's row lock is held for the
--     call's transaction only, in the same shard as the chain head it appends to.
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.webhook_rejection (
    minute     timestamptz NOT NULL,   -- date_trunc('minute', now()) of the rejections counted here
    reason     text        NOT NULL,   -- signature | payload | event | content_type | delivery_id
    shard      smallint    NOT NULL,   -- pg_backend_pid() % 4 of the receiver's connection
    deliveries bigint      NOT NULL,   -- rejected deliveries counted (audited or not)
    bytes      bigint      NOT NULL,   -- their bodies' total size
    PRIMARY KEY (minute, reason, shard)
);
COMMENT ON TABLE forgea_audit.webhook_rejection IS
    'Rejected webhook deliveries counted per minute, reason and shard; the first few of each also have a WEBHOOK_DELIVERY_REJECTED audit row.';
REVOKE ALL ON forgea_audit.webhook_rejection FROM PUBLIC;
GRANT SELECT ON forgea_audit.webhook_rejection TO forgea_audit_reader;
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.webhook_rejection', '');

-- Records one rejected delivery; returns the audit row's seq, or NULL when this minute's audit
-- rows for the reason (and shard) are used up and the delivery was only counted.
CREATE FUNCTION forgea_audit.reject_delivery(reason text, delivery_id text, body_sha256 bytea, body_bytes bigint,
                                             sqlstate text DEFAULT NULL, json_path text DEFAULT NULL,
                                             headers jsonb DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off
AS $$
DECLARE
    shards  constant integer := 4;
    id_cap  constant integer := 200;
    per_minute integer := coalesce(nullif(pg_catalog.current_setting('forgea_audit.rejected_audit_per_minute', true), '')::integer, 60);
    shard   smallint := pg_catalog.pg_backend_pid() % shards;
    counted bigint;
    sent_id text := pg_catalog.left(delivery_id, id_cap);
BEGIN
    IF reason IS NULL OR reason NOT IN ('signature', 'payload', 'event', 'content_type', 'delivery_id') THEN
        RAISE EXCEPTION 'reject_delivery: reason must be signature, payload, event, content_type or delivery_id, not %',
                        coalesce(pg_catalog.quote_literal(reason), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'signature: X-Hub-Signature-256 missing or wrong; payload: record_push refused the body (class 22); '
                         'event / delivery_id: the header is missing; content_type: not application/json.';
    END IF;
    IF body_sha256 IS NULL OR pg_catalog.octet_length(body_sha256) <> 32 OR body_bytes IS NULL OR body_bytes < 0 THEN
        RAISE EXCEPTION 'reject_delivery: body_sha256 must be the 32-byte SHA-256 of the body as received and body_bytes its size'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'In Node.js: createHash("sha256").update(rawBody).digest() and rawBody.byteLength.';
    END IF;
    IF sqlstate IS NOT NULL AND sqlstate !~ '^[0-9A-Z]{5}$' THEN
        RAISE EXCEPTION 'reject_delivery: sqlstate must be a five-character SQLSTATE, not %', pg_catalog.quote_literal(pg_catalog.left(sqlstate, 20))
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass the error''s code (err.code in node-postgres), or NULL.';
    END IF;

    INSERT INTO forgea_audit.webhook_rejection AS w (minute, reason, shard, deliveries, bytes)
    VALUES (pg_catalog.date_trunc('minute', pg_catalog.now()), reason, shard, 1, body_bytes)
    ON CONFLICT ON CONSTRAINT webhook_rejection_pkey
        DO UPDATE SET deliveries = w.deliveries + 1, bytes = w.bytes + excluded.bytes
    RETURNING w.deliveries INTO counted;
    IF counted > (per_minute + shards - 1) / shards THEN
        RETURN NULL;
    END IF;

    RETURN forgea_audit.append_system(
        action => 'WEBHOOK_DELIVERY_REJECTED', actor_type => 'webhook', actor_id => 'github',
        target_type => 'webhook_delivery', target_id => sent_id, correlation_id => sent_id,
        outcome => 'failure', severity => CASE WHEN reason = 'signature' THEN 'HIGH' ELSE 'MEDIUM' END,
        chain => 'webhook_rejected:' || reason || ':' || shard,
        metadata => pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
            'reason', reason,
            'delivery_id', sent_id,
            'delivery_id_bytes', CASE WHEN pg_catalog.length(delivery_id) > id_cap THEN pg_catalog.octet_length(delivery_id) END,
            'body_sha256', pg_catalog.encode(body_sha256, 'hex'),
            'body_bytes', body_bytes,
            'sqlstate', sqlstate,
            'json_path', pg_catalog.left(json_path, 500),
            'event', pg_catalog.left(headers->>'X-GitHub-Event', 100),
            'hook_id', pg_catalog.left(headers->>'X-GitHub-Hook-ID', 100),
            'user_agent', pg_catalog.left(headers->>'User-Agent', 200),
            'minute_count', counted)));
END
$$;
COMMENT ON FUNCTION forgea_audit.reject_delivery(text, text, bytea, bigint, text, text, jsonb) IS
    'Records a webhook delivery the receiver refused (4xx) as a WEBHOOK_DELIVERY_REJECTED audit row (HIGH for a bad signature); over forgea_audit.rejected_audit_per_minute it only counts it in webhook_rejection and returns NULL.';
REVOKE ALL ON FUNCTION forgea_audit.reject_delivery(text, text, bytea, bigint, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.reject_delivery(text, text, bytea, bigint, text, text, jsonb) TO forgea_audit_writer;

-- Issue 10, cases 1 and 2 (docs/security.md): bind_lab_session_table() also grants the platform
-- table's owner USAGE on the schema, since record_push now works on that table as its owner.
CREATE OR REPLACE FUNCTION forgea_audit.bind_lab_session_table() RETURNS text
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS
$$
DECLARE
    tbl   regclass := forgea_audit.lab_session_table();
    owner oid := (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = tbl);
    index text := pg_catalog.left((SELECT c.relname FROM pg_catalog.pg_class c WHERE c.oid = tbl), 40)
                  || '_forgea_repo_key_idx';
BEGIN
    IF NOT pg_catalog.has_schema_privilege(owner, 'forgea_audit', 'USAGE') THEN
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA forgea_audit TO %s', owner::regrole);
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE INDEX IF NOT EXISTS %I ON %s (forgea_audit.repo_key("userForkUrl"), "startedAt" DESC) '
        'WHERE "status" IN (''IN_PROGRESS'', ''STUCK'')', index, tbl);
    RETURN index;
END
$$;
COMMENT ON FUNCTION forgea_audit.bind_lab_session_table() IS
    'Grants the platform table''s owner USAGE on schema forgea_audit (record_push works on the table as that role) and creates the partial expression index that record_push''s fork-URL lookup uses; returns the index''s name.';
COMMENT ON FUNCTION forgea_audit.lab_session_table() IS
    'The table record_push works on: forgea_audit.lab_session_table, a schema-qualified name resolved without search_path (raises if it does not exist, is unqualified or is a temporary table).';

-------------------------------------------------------------------------------------------------
-- Progress and settings.  Long calls show what they have done so far in their backend's
-- pg_stat_activity.query ("forgea_audit progress: ..."): verify_chain() every
-- forgea_audit.progress_rows rows, run_retention() after every batch (its retention_run row is
-- only written at the end: the run is one transaction).  The worker's runs, one transaction per
-- batch, count each batch in their retention_run row as it commits.  PostgreSQL 15's
-- pg_stat_progress_* views cover only its own commands, and shared memory of our own would need
-- the library preloaded; the activity text works everywhere.
-------------------------------------------------------------------------------------------------
-- Owner-only: the extension's own PL/pgSQL reports through it; NULL puts the statement's text back.
CREATE FUNCTION forgea_audit.report_progress(message text) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'fa_report_progress_0_2';
COMMENT ON FUNCTION forgea_audit.report_progress(text) IS
    'Shows message as this backend''s progress in pg_stat_activity (and as a NOTICE when forgea_audit.progress_notices is on); NULL restores the statement text.';
REVOKE ALL ON FUNCTION forgea_audit.report_progress(text) FROM PUBLIC;

-- What every running verify_chain() and run_retention() has done so far.  Like pg_stat_activity
-- itself, it shows other roles' backends only to members of pg_read_all_stats (and superusers).
CREATE VIEW forgea_audit.progress AS
    SELECT a.pid, a.usename, a.datname, a.backend_type, a.query_start,
           pg_catalog.substr(a.query, 24) AS progress
    FROM pg_catalog.pg_stat_activity a
    WHERE a.query LIKE 'forgea\_audit progress: %';
COMMENT ON VIEW forgea_audit.progress IS
    'Running verify_chain() and run_retention() calls and what each has done so far (from pg_stat_activity).';
REVOKE ALL ON forgea_audit.progress FROM PUBLIC;
GRANT SELECT ON forgea_audit.progress TO forgea_audit_reader, forgea_audit_admin;

-- Every forgea_audit.* setting, whether or not the library is preloaded.  pg_settings lists a
-- library's settings only in sessions that have loaded it; calling one of its C functions loads
-- it (as LOAD 'forgea_audit' does, which needs superuser).  Once it is loaded, ALTER SYSTEM SET
-- forgea_audit.... works in the same session; before, PostgreSQL 15 refuses the name as an
-- "unrecognized configuration parameter".  Runs as the caller: superuser-only settings
-- (signing_key_file) stay hidden from others, as in pg_settings.
CREATE FUNCTION forgea_audit.settings()
    RETURNS TABLE (name text, setting text, unit text, context text, default_value text, source text,
                   pending_restart boolean, description text)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM forgea_audit.repo_key('https://github.com/forgea/load-library');   -- loads the library
    RETURN QUERY
        SELECT s.name, s.setting, s.unit, s.context, s.boot_val, s.source, s.pending_restart, s.short_desc
        FROM pg_catalog.pg_settings s WHERE s.name LIKE 'forgea\_audit.%' ORDER BY s.name;
END
$$;
COMMENT ON FUNCTION forgea_audit.settings() IS
    'Every forgea_audit.* setting (value, unit, who may set it, default, where it was set); loads the library so that pg_settings lists them, preloaded or not.';
REVOKE ALL ON FUNCTION forgea_audit.settings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.settings() TO forgea_audit_writer, forgea_audit_reader, forgea_audit_admin;

-- run_retention() reports each batch (forgea_audit.progress).
CREATE OR REPLACE FUNCTION forgea_audit.run_retention(as_of timestamptz DEFAULT now())
    RETURNS TABLE (archived bigint, batches integer, oldest_kept timestamptz, cutoff timestamptz, skipped boolean,
                   run_id bigint)
    LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s       record;
    b       record;
    run     bigint;
    total   bigint := 0;
    nb      integer := 0;
    was_skipped boolean := false;
    due_before timestamptz;
    pos_recorded_at timestamptz;
    pos_id  bigint;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'run_retention: as_of must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    s := forgea_audit.retention_settings();
    due_before := as_of - s.attempt_retention;
    INSERT INTO forgea_audit.retention_run (driver, started_at, cutoff)
    VALUES (coalesce(nullif(pg_catalog.current_setting('application_name'), ''), 'sql'), pg_catalog.clock_timestamp(), due_before)
    RETURNING id INTO run;

    LOOP
        SELECT * INTO b FROM forgea_audit.archive_batch(due_before, s.archive_batch_size, pos_recorded_at, pos_id);
        IF b.skipped THEN
            was_skipped := true;
            EXIT;
        END IF;
        EXIT WHEN b.archived = 0;
        total := total + b.archived;
        nb := nb + 1;
        PERFORM forgea_audit.report_progress(pg_catalog.format('run_retention (retention_run %s): %s batches, %s attempts archived',
                                                               run, nb, total));
        pos_recorded_at := b.resume_recorded_at;   -- the next batch starts after this one
        pos_id := b.resume_id;
        EXIT WHEN b.archived < s.archive_batch_size;
    END LOOP;
    PERFORM forgea_audit.report_progress(NULL);

    UPDATE forgea_audit.retention_run r
    SET finished_at = pg_catalog.clock_timestamp(), archived = total, batches = nb, skipped = was_skipped,
        oldest_kept = (SELECT pg_catalog.min(a.recorded_at) FROM forgea_audit.lab_attempt a)
    WHERE r.id = run;
    RETURN QUERY SELECT r.archived, r.batches, r.oldest_kept, r.cutoff, r.skipped, r.id
                 FROM forgea_audit.retention_run r WHERE r.id = run;
END
$$;
