-- forgea_audit 0.2.0 -> 0.3.0 (ALTER EXTENSION forgea_audit UPDATE TO '0.3.0').
--
-- Every change to the SQL surface made in 0.3.0 is written here as well as in forgea_audit--0.3.0.sql;
-- test/upgrade/upgrade.sh checks that updating an 0.2.0 install (and an 0.1.0 one, through
-- forgea_audit--0.1.0--0.2.0.sql) gives the same objects as installing 0.3.0 fresh (the full script
-- is the reference: fix this file to match it).  Append your change at the end of this file.
\echo Use "ALTER EXTENSION forgea_audit UPDATE TO '0.3.0'" to load this file. \quit

-------------------------------------------------------------------------------------------------
-- The C functions bind to the 0.3.0 library's symbols (src/pg/sql_version.hpp): the library
-- serves exactly one SQL version and keeps the 0.2.0 names (fa_<name>_0_2) only as stubs that
-- refuse with "forgea_audit library 0.3.0 does not serve the SQL objects of version 0.2.0".
-- CREATE OR REPLACE FUNCTION resets every attribute it is not given (SECURITY DEFINER, SET,
-- volatility, strictness, parallel safety), so each statement repeats the function's whole
-- definition from forgea_audit--0.3.0.sql; owner, privileges and COMMENT are kept.
-------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION forgea_audit.guard_write() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'fa_guard_write_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.record_push(payload jsonb, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_record_push_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.record_push_json(payload json, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_record_push_json_0_3';

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
    AS 'MODULE_PATHNAME', 'fa_append_0_3';

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
    AS 'MODULE_PATHNAME', 'fa_append_system_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.verify_chain(checkpoint text DEFAULT NULL)
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_verify_chain_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.checkpoint() RETURNS text
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_checkpoint_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.merkle_integrate(max_rows bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_merkle_integrate_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.inclusion_proof(seq bigint, tree_size bigint)
    RETURNS TABLE (leaf_index bigint, proof bytea[])
    LANGUAGE c STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_inclusion_proof_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.consistency_proof(old_size bigint, new_size bigint) RETURNS bytea[]
    LANGUAGE c STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_consistency_proof_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.merkle_root(tree_size bigint) RETURNS bytea
    LANGUAGE c STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_merkle_root_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.verify_increment()
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text, from_size bigint, to_size bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_verify_increment_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.repo_key(url text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_repo_key_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.lab_session_table() RETURNS regclass
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_lab_session_table_regclass_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.bind_lab_session_table() RETURNS text
    LANGUAGE c
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_bind_lab_session_table_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.find_shared_forks()
    RETURNS TABLE (repository_key text, active_sessions bigint, session_ids text[], user_ids text[],
                   fork_urls text[], newest_started_at timestamp)
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'fa_find_shared_forks_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.canonical_json(value jsonb) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_canonical_json_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.canonical_row_json(row_value record) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_canonical_row_json_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.retention_settings(
    OUT attempt_retention interval, OUT archive_batch_size integer, OUT retention_interval interval,
    OUT worker_database text, OUT archive_batch_delay interval, OUT rejection_retention interval)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_retention_settings_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.report_progress(message text) RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'fa_report_progress_0_3';

CREATE OR REPLACE FUNCTION forgea_audit.end_unchecked_restore(target text, verb text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'fa_end_unchecked_restore_0_3';

-------------------------------------------------------------------------------------------------
-- 0.3.0's changes to the SQL surface, each also in forgea_audit--0.3.0.sql (append below).
-------------------------------------------------------------------------------------------------

-------------------------------------------------------------------------------------------------
-- Publications (docs/witnesses.md): every checkpoint tools/forgea_audit_publish published, or
-- tried to and could not because fewer than its quorum of witnesses cosigned.  note is the
-- checkpoint as published: the stored merkle_checkpoint note byte for byte, then one C2SP
-- cosignature/v1 line per witness that cosigned (for a missed quorum: what was gathered, never
-- served).  witnesses holds each witness's answer, as the publisher saw it:
--   [{"name", "vkey", "url", "answer": cosigned|conflict|refused|invalid|unreachable,
--     "status": the last HTTP status or null, "old_size", "detail"}].
-- Written only by record_publication(), which checks what it is given; read by health and by
-- receipts (the cosigned note of a size, when there is one).
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.published_checkpoint (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree_size    bigint NOT NULL CHECK (tree_size >= 0),
    note         text NOT NULL,
    published    boolean NOT NULL,
    cosignatures integer NOT NULL CHECK (cosignatures >= 0),
    quorum       integer NOT NULL CHECK (quorum >= 0),
    witnesses    jsonb NOT NULL CHECK (jsonb_typeof(witnesses) = 'array'),
    recorded_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CHECK (NOT published OR cosignatures >= quorum)
);
CREATE INDEX published_checkpoint_size ON forgea_audit.published_checkpoint (tree_size, id);
CREATE INDEX published_checkpoint_published ON forgea_audit.published_checkpoint (id) WHERE published;
COMMENT ON TABLE forgea_audit.published_checkpoint IS
    'Every checkpoint forgea_audit_publish published (note with its witnesses'' cosignature lines) or could not publish for want of a quorum, with each witness''s answer.';
REVOKE ALL ON forgea_audit.published_checkpoint FROM PUBLIC;
GRANT SELECT ON forgea_audit.published_checkpoint TO forgea_audit_reader;
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.published_checkpoint', '');

-------------------------------------------------------------------------------------------------
-- record_publication(note, published, quorum, witnesses): what the publisher calls after each run
-- with a new checkpoint.  Refuses (nothing written) a note that is not a stored checkpoint followed
-- by signature lines: its first bytes must be, byte for byte, the merkle_checkpoint note of the
-- size on its second line (so the log's signature is the stored one), and the rest only lines
-- "— <name> <base64>\n"; the cosignature count is the number of those lines (22023), a published
-- row must meet its quorum (22023), witnesses must be a JSON array of objects (22023), and NULLs
-- are refused (23502).  Admin only: it is the operator's statement of what was served.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION forgea_audit.record_publication(note text, published boolean, quorum integer, witnesses jsonb)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    size_line text;
    size bigint;
    stored text;
    rest text;
    lines integer;
    new_id bigint;
BEGIN
    IF note IS NULL OR published IS NULL OR quorum IS NULL OR witnesses IS NULL THEN
        RAISE EXCEPTION 'record_publication: note, published, quorum and witnesses must not be NULL'
            USING ERRCODE = '23502', HINT = 'forgea_audit_publish calls it with all four.';
    END IF;
    size_line := split_part(note, E'\n', 2);
    IF size_line !~ '^(0|[1-9][0-9]{0,18})$' THEN
        RAISE EXCEPTION 'record_publication: the note''s second line is not a tree size'
            USING ERRCODE = '22023', DETAIL = 'A C2SP checkpoint is origin, size, root hash, then signatures.';
    END IF;
    size := size_line::bigint;
    SELECT c.note INTO stored FROM forgea_audit.merkle_checkpoint c
     WHERE c.tree_size = size AND starts_with(record_publication.note, c.note)
     ORDER BY c.id DESC LIMIT 1;
    IF stored IS NULL THEN
        RAISE EXCEPTION 'record_publication: the note is not a checkpoint of this log'
            USING ERRCODE = '22023',
                  DETAIL = format('No stored checkpoint of %s leaves is, byte for byte, the beginning of the note (its origin, root or log signature differ).', size),
                  HINT = 'Publish from this database: forgea_audit_publish sends what forgea_audit.merkle_checkpoint holds.';
    END IF;
    rest := substr(note, length(stored) + 1);
    IF rest !~ E'^(\u2014 [^ \n]+ [A-Za-z0-9+/]+={0,2}\n)*$' THEN
        RAISE EXCEPTION 'record_publication: after the stored checkpoint the note holds something else than signature lines'
            USING ERRCODE = '22023', DETAIL = 'Only cosignature lines ("— <name> <base64>") may follow.';
    END IF;
    lines := coalesce(array_length(regexp_split_to_array(rtrim(rest, E'\n'), E'\n'), 1), 0);
    IF rest = '' THEN
        lines := 0;
    END IF;
    IF quorum < 0 OR (published AND lines < quorum) THEN
        RAISE EXCEPTION 'record_publication: % cosignature line(s) do not meet the quorum % of a published checkpoint', lines, quorum
            USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(witnesses) <> 'array'
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(witnesses) e WHERE jsonb_typeof(e) <> 'object') THEN
        RAISE EXCEPTION 'record_publication: witnesses must be a JSON array of objects'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO forgea_audit.published_checkpoint (tree_size, note, published, cosignatures, quorum, witnesses)
    VALUES (size, note, published, lines, quorum, witnesses)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION forgea_audit.record_publication(text, boolean, integer, jsonb) IS
    'Records a publication (or a missed witness quorum) of a stored checkpoint, with its cosignature lines and each witness''s answer.';
REVOKE ALL ON FUNCTION forgea_audit.record_publication(text, boolean, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.record_publication(text, boolean, integer, jsonb) TO forgea_audit_admin;

-- health gains published_cosignatures and publish_quorum_missed, and published_age_seconds now
-- reads published_checkpoint: a function's OUT columns cannot change in place, so the view and
-- its function are made again (privileges and comments with them).
DROP VIEW forgea_audit.health;
DROP FUNCTION forgea_audit.health_row();

-------------------------------------------------------------------------------------------------
-- Health in one row (docs/operations.md, "Health and monitoring"): what a DBA's monitoring reads,
-- e.g. through prometheus-postgres-exporter (examples/monitoring/).  Every value comes from an
-- index probe or a one-row table, never a scan of the audit log, so it stays cheap at any size:
--   worker_up               the retention/Merkle worker is connected to this database;
--   checkpoint_age_seconds  since the newest checkpoint was made (NULL: none yet);
--   integrator_lag_rows     committed audit rows at or above the integrator's horizon not yet leaves;
--   verify_ok               the worker's last verification (incremental or full) held: no
--                           CHAIN_VERIFY_FAILED row since verify_increment() last moved its point
--                           (NULL: nothing was ever verified);
--   verify_age_seconds      since verify_increment() last moved its verified point;
--   retention_backlog_rows  attempts older than forgea_audit.attempt_retention, not yet archived;
--   rejections_last_hour    rejected webhook deliveries counted in the last 60 minutes;
--   published_age_seconds   since forgea_audit_publish last published a checkpoint (NULL: never);
--   published_cosignatures  witness cosignatures on the checkpoint published last (NULL: never);
--   publish_quorum_missed   the publisher's last new checkpoint could not be published: fewer
--                           witnesses cosigned than its quorum (NULL: nothing recorded yet).
-- SECURITY DEFINER so that a reader sees the worker in pg_stat_activity and counts rows that
-- row-level security hides from it: it learns counts and ages only, never a row.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION forgea_audit.health_row(
    OUT worker_up boolean, OUT checkpoint_age_seconds double precision, OUT integrator_lag_rows bigint,
    OUT verify_ok boolean, OUT verify_age_seconds double precision, OUT retention_backlog_rows bigint,
    OUT rejections_last_hour bigint, OUT published_age_seconds double precision,
    OUT published_cosignatures integer, OUT publish_quorum_missed boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off AS
$$
SELECT
    EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity
            WHERE backend_type = 'forgea_audit retention' AND datname = pg_catalog.current_database()),
    (SELECT extract(epoch FROM pg_catalog.now() - c.made_at)::double precision
       FROM forgea_audit.merkle_checkpoint c ORDER BY c.tree_size DESC, c.id DESC LIMIT 1),
    (SELECT count(*) FROM forgea_audit.audit_log a,
            (SELECT coalesce((SELECT ms.horizon_seq FROM forgea_audit.merkle_state ms), 1) AS horizon_seq) s
      WHERE a.seq >= s.horizon_seq
        AND NOT EXISTS (SELECT 1 FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq AND m.seq >= s.horizon_seq)),
    CASE WHEN v.verified_at IS NULL THEN NULL
         ELSE NOT EXISTS (SELECT 1 FROM forgea_audit.audit_log f
                          WHERE f.action = 'CHAIN_VERIFY_FAILED' AND f.created_at >= v.verified_at) END,
    extract(epoch FROM pg_catalog.now() - v.verified_at)::double precision,
    (SELECT count(*) FROM forgea_audit.lab_attempt l
      WHERE l.recorded_at < pg_catalog.now() - (SELECT r.attempt_retention FROM forgea_audit.retention_settings() r)),
    (SELECT coalesce(sum(w.deliveries), 0)::bigint FROM forgea_audit.webhook_rejection w
      WHERE w.minute > pg_catalog.now() - interval '1 hour'),
    (SELECT extract(epoch FROM pg_catalog.now() - p.recorded_at)::double precision
       FROM forgea_audit.published_checkpoint p WHERE p.published ORDER BY p.id DESC LIMIT 1),
    (SELECT p.cosignatures FROM forgea_audit.published_checkpoint p WHERE p.published ORDER BY p.id DESC LIMIT 1),
    (SELECT NOT p.published FROM forgea_audit.published_checkpoint p ORDER BY p.id DESC LIMIT 1)
FROM (SELECT (SELECT mv.verified_at FROM forgea_audit.merkle_verified mv) AS verified_at) v
$$;
COMMENT ON FUNCTION forgea_audit.health_row() IS
    'The one row of forgea_audit.health: worker, checkpoint, integrator, verification, retention, rejection and publication health.';
REVOKE ALL ON FUNCTION forgea_audit.health_row() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.health_row() TO forgea_audit_reader;
CREATE VIEW forgea_audit.health AS SELECT * FROM forgea_audit.health_row();
COMMENT ON VIEW forgea_audit.health IS
    'One row: worker_up, checkpoint_age_seconds, integrator_lag_rows, verify_ok, verify_age_seconds, retention_backlog_rows, rejections_last_hour, published_age_seconds, published_cosignatures, publish_quorum_missed.';
GRANT SELECT ON forgea_audit.health TO forgea_audit_reader;
