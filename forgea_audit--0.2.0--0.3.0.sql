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

-- Receipts in the standard form and the receipt page's link (docs/transparency.md, "Receipts as
-- tlog-proofs"; docs/receipt_link.md): log_vkey(), receipt_tlog_proof(), receipt_link().
-- The log's C2SP verifier key ("<key name>+<key id>+<base64 of 0x01 || Ed25519 public key>"), the
-- one string witnesses, Go's note.NewVerifier and the receipt page (web/receipt/) take to check the
-- log's signatures: computed from forgea_audit.verify_key_file and the key name in force
-- (forgea_audit.log_origin, else forgea_audit.signing_key_name), so nobody derives it by hand.
-- The key is public: readers may ask for it (receipt_link() builds links with it).
CREATE FUNCTION forgea_audit.log_vkey() RETURNS text
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_log_vkey_0_3';
COMMENT ON FUNCTION forgea_audit.log_vkey() IS
    'The log''s C2SP verifier key (name+key id+base64 of 0x01 || Ed25519 public key) from forgea_audit.verify_key_file and the key name in force.';
REVOKE ALL ON FUNCTION forgea_audit.log_vkey() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.log_vkey() TO forgea_audit_reader;

-- Every verifier key of the log: log_vkey() first, then one per file of
-- forgea_audit.retired_verify_key_files (the log's earlier keys, after a rotation), under the same
-- name.  A receipt's checkpoint is signed by the key of its day and today's checkpoint by the
-- current one, so the receipt page needs them all (receipt_link() passes them; docs/witnesses.md,
-- "Keys, and rotating the log's key").
CREATE FUNCTION forgea_audit.log_vkeys() RETURNS text[]
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_log_vkeys_0_3';
COMMENT ON FUNCTION forgea_audit.log_vkeys() IS
    'Every C2SP verifier key of the log: log_vkey(), then those of forgea_audit.retired_verify_key_files (earlier keys, after a rotation).';
REVOKE ALL ON FUNCTION forgea_audit.log_vkeys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.log_vkeys() TO forgea_audit_reader;

-- An attempt's receipt in the standard form, C2SP tlog-proof@v1 (docs/transparency.md, "Receipts
-- as tlog-proofs"), so that any tlog tool and the receipt page read it, not only our verifier:
--   c2sp.org/tlog-proof@v1
--   extra <base64 of canonical_json(receipt(attempt_id)->'row')>   the row the entry is hashed from
--   index <leaf index>
--   <inclusion proof, one base64 hash a line>
--   <empty line>
--   <the checkpoint note, verbatim>
-- The log's entry is the row's 32-byte row_hash (what the published entry bundles hold; leaf =
-- SHA-256(0x00 || row_hash)); extra carries the fields row_hash is computed from (docs/chain.md),
-- so a verifier recomputes the entry from extra and trusts nothing else in it.  The same row,
-- checkpoint (as published, with its witnesses' cosignature lines, when it was), rights and errors
-- as receipt(), which it is made from.
CREATE FUNCTION forgea_audit.receipt_tlog_proof(attempt_id bigint) RETURNS text
    LANGUAGE plpgsql STABLE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
BEGIN
    IF attempt_id IS NULL THEN
        RAISE EXCEPTION 'receipt_tlog_proof: attempt_id must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'A receipt is of one recorded attempt.',
                  HINT = 'Pass a lab_attempt id that record_push() returned with status recorded.';
    END IF;
    r := forgea_audit.receipt(attempt_id);
    RETURN 'c2sp.org/tlog-proof@v1' || E'\n'
        || 'extra ' || pg_catalog.translate(pg_catalog.encode(pg_catalog.convert_to(
               forgea_audit.canonical_json(r -> 'row'), 'UTF8'), 'base64'), E'\n', '') || E'\n'
        || 'index ' || (r ->> 'leaf_index') || E'\n'
        || (SELECT coalesce(pg_catalog.string_agg(pg_catalog.encode(pg_catalog.decode(p.h, 'hex'), 'base64') || E'\n', ''
                                                  ORDER BY p.o), '')
            FROM pg_catalog.jsonb_array_elements_text(r -> 'inclusion_proof') WITH ORDINALITY AS p(h, o))
        || E'\n'
        || (r ->> 'checkpoint');
END
$$;
COMMENT ON FUNCTION forgea_audit.receipt_tlog_proof(bigint) IS
    'An attempt''s receipt as C2SP tlog-proof@v1 text: extra = base64 of the row''s canonical JSON (the entry is its row_hash), index, inclusion proof, checkpoint; tools/forgea_audit_verify --receipt checks it.';
REVOKE ALL ON FUNCTION forgea_audit.receipt_tlog_proof(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.receipt_tlog_proof(bigint) TO forgea_audit_reader;

-- The link the platform shows a student for an attempt: the receipt page (web/receipt/index.html,
-- served by the platform) opened on that attempt's receipt, checked in the browser against the
-- published log (docs/receipt_link.md):
--   <page_url>?log=<log_url>&vkey=<vkey>[&vkey=<retired vkey>...][&witness=<witness vkey>...]#receipt=<base64url>
-- Every query value is percent-encoded (RFC 3986: all but A-Z a-z 0-9 - . _ ~), the receipt is
-- receipt()'s JSON text (form 'json') or receipt_tlog_proof()'s text (form 'tlog-proof'),
-- base64url without padding, in the fragment (never sent to a server).  vkey defaults to
-- log_vkey(); retired_vkeys, the log's earlier keys (same name), so that a receipt signed before a
-- key rotation still verifies, defaults to the rest of log_vkeys() when vkey is left out, else to
-- none.  The URLs are arguments, not settings: the platform's configuration holds them.
CREATE FUNCTION forgea_audit.receipt_link(attempt_id bigint, page_url text, log_url text, vkey text DEFAULT NULL,
                                          witnesses text[] DEFAULT '{}', form text DEFAULT 'json',
                                          retired_vkeys text[] DEFAULT NULL)
    RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    url_hint constant text := 'Pass an absolute http:// or https:// URL without spaces, a query or a fragment, e.g. https://labs.example.edu/receipt/ or https://labs.example.edu/audit-log.';
    vkey_hint constant text := 'Pass a C2SP verifier key as forgea_audit.log_vkey() prints it: <name>+<8 hex digits>+<base64 of the key type byte and the 32-byte Ed25519 key>.';
    arg text;
    val text;
    k   bytea;
    body text;
    i   integer;
    n_keys integer;
    keys text[];
BEGIN
    arg := CASE WHEN attempt_id IS NULL THEN 'attempt_id' WHEN page_url IS NULL THEN 'page_url'
                WHEN log_url IS NULL THEN 'log_url' WHEN witnesses IS NULL OR pg_catalog.array_position(witnesses, NULL) IS NOT NULL THEN 'witnesses'
                WHEN form IS NULL THEN 'form'
                WHEN pg_catalog.array_position(retired_vkeys, NULL) IS NOT NULL THEN 'retired_vkeys' END;
    IF arg IS NOT NULL THEN
        RAISE EXCEPTION 'receipt_link: % must not be NULL%', arg, CASE WHEN arg IN ('witnesses', 'retired_vkeys') THEN ' nor hold a NULL' ELSE '' END
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'The link needs the attempt, the receipt page''s URL and the published log''s URL; witnesses is an array of verifier keys (empty for none), form json or tlog-proof.',
                  HINT = 'Pass a value (witnesses => ''{}'' for no witness; leave vkey out for forgea_audit.log_vkey()).';
    END IF;
    FOREACH arg IN ARRAY ARRAY['page_url', 'log_url'] LOOP
        val := CASE arg WHEN 'page_url' THEN page_url ELSE log_url END;
        IF val !~ '^https?://[^/?#[:space:][:cntrl:]]+(/[^?#[:space:][:cntrl:]]*)?$' THEN
            RAISE EXCEPTION 'receipt_link: % is not an absolute http(s) URL without a query or fragment', arg
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('%s is %s.', arg, pg_catalog.quote_literal(pg_catalog.left(val, 200))),
                      HINT = url_hint;
        END IF;
    END LOOP;
    IF form NOT IN ('json', 'tlog-proof') THEN
        RAISE EXCEPTION 'receipt_link: form must be json or tlog-proof, not %', pg_catalog.quote_literal(pg_catalog.left(form, 40))
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'json: the fragment carries receipt()''s JSON; tlog-proof: receipt_tlog_proof()''s text.',
                  HINT = 'Leave form out for json.';
    END IF;
    IF vkey IS NULL THEN
        keys := forgea_audit.log_vkeys();
        vkey := keys[1];
        retired_vkeys := coalesce(retired_vkeys, keys[2:]);
    END IF;
    retired_vkeys := coalesce(retired_vkeys, '{}');
    -- The log's keys sign notes (key type 0x01), all under the log's name; a witness may cosign
    -- with C2SP tlog-cosignature keys (0x04) or plain note keys (0x01).
    keys := ARRAY[vkey] || retired_vkeys;
    n_keys := pg_catalog.cardinality(keys);
    FOR i IN 1 .. n_keys + coalesce(pg_catalog.array_length(witnesses, 1), 0) LOOP
        val := CASE WHEN i <= n_keys THEN keys[i] ELSE witnesses[i - n_keys] END;
        arg := CASE WHEN i = 1 THEN 'vkey' WHEN i <= n_keys THEN pg_catalog.format('retired_vkeys[%s]', i - 1)
                    ELSE pg_catalog.format('witnesses[%s]', i - n_keys) END;
        k := NULL;
        IF val ~ '^[^+[:space:][:cntrl:]]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$' THEN
            k := pg_catalog.decode(pg_catalog.substr(val, pg_catalog.length(val) - 43), 'base64');
        END IF;
        -- The key id is SHA-256(name || 0x0A || key type || public key)[0:4] (C2SP signed-note):
        -- a key copied with a typo, or under another name, is caught here, not by the student.
        IF k IS NULL OR pg_catalog.length(k) <> 33
           OR pg_catalog.get_byte(k, 0) <> ALL (CASE WHEN i <= n_keys THEN ARRAY[1] ELSE ARRAY[1, 4] END)
           OR pg_catalog.substr(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.split_part(val, '+', 1) || E'\n', 'UTF8') || k), 1, 4)
              <> pg_catalog.decode(pg_catalog.split_part(val, '+', 2), 'hex') THEN
            RAISE EXCEPTION 'receipt_link: % is not a C2SP verifier key of an Ed25519 %', arg,
                  CASE WHEN i <= n_keys THEN 'note key (type 0x01)' ELSE 'note or cosignature key (type 0x01 or 0x04)' END
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('It is %s.', coalesce(pg_catalog.quote_literal(pg_catalog.left(val, 200)), 'NULL')),
                      HINT = vkey_hint;
        END IF;
        IF i > 1 AND i <= n_keys AND pg_catalog.split_part(val, '+', 1) <> pg_catalog.split_part(vkey, '+', 1) THEN
            RAISE EXCEPTION 'receipt_link: % is not a key of the log named by vkey', arg
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('Its name is %s, vkey''s %s: a rotation keeps the log''s origin, and with it the key name.',
                                                 pg_catalog.quote_literal(pg_catalog.left(pg_catalog.split_part(val, '+', 1), 100)),
                                                 pg_catalog.quote_literal(pg_catalog.left(pg_catalog.split_part(vkey, '+', 1), 100))),
                      HINT = 'Pass the log''s earlier keys (forgea_audit.log_vkeys() lists them), or a witness in witnesses.';
        END IF;
    END LOOP;

    body := CASE form WHEN 'json' THEN forgea_audit.receipt(attempt_id)::text
                      ELSE forgea_audit.receipt_tlog_proof(attempt_id) END;
    RETURN page_url || '?'
        || (SELECT pg_catalog.string_agg(q.k || '=' ||
                       (SELECT pg_catalog.string_agg(CASE WHEN b.b BETWEEN 48 AND 57 OR b.b BETWEEN 65 AND 90 OR b.b BETWEEN 97 AND 122
                                                            OR b.b IN (45, 46, 95, 126)
                                                          THEN pg_catalog.chr(b.b)
                                                          ELSE '%' || pg_catalog.upper(pg_catalog.lpad(pg_catalog.to_hex(b.b), 2, '0')) END,
                                                     '' ORDER BY b.i)
                        FROM pg_catalog.generate_series(0, pg_catalog.length(pg_catalog.convert_to(q.v, 'UTF8')) - 1) AS s(i),
                             LATERAL (SELECT s.i, pg_catalog.get_byte(pg_catalog.convert_to(q.v, 'UTF8'), s.i) AS b) AS b),
                       '&' ORDER BY q.o)
            FROM unnest(ARRAY['log'] || pg_catalog.array_fill('vkey'::text, ARRAY[n_keys])
                            || pg_catalog.array_fill('witness'::text, ARRAY[coalesce(pg_catalog.array_length(witnesses, 1), 0)]),
                        ARRAY[log_url] || keys || witnesses) WITH ORDINALITY AS q(k, v, o))
        || '#receipt='
        || pg_catalog.translate(pg_catalog.encode(pg_catalog.convert_to(body, 'UTF8'), 'base64'), E'+/=\n', '-_');
END
$$;
COMMENT ON FUNCTION forgea_audit.receipt_link(bigint, text, text, text, text[], text, text[]) IS
    'The receipt page''s link for an attempt: <page_url>?log=<log_url>&vkey=<vkey>[&vkey=<retired vkey>...][&witness=<vkey>...]#receipt=<base64url of receipt() (or receipt_tlog_proof())>, values percent-encoded.';
REVOKE ALL ON FUNCTION forgea_audit.receipt_link(bigint, text, text, text, text[], text, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.receipt_link(bigint, text, text, text, text[], text, text[]) TO forgea_audit_reader;

-- Retention (issue 23): the archive digest hashed row by row (rows_sha256), archive_seq's index a BRIN.
-- The archive's digest (archive_batch(): rows_sha256 of the moved rows ORDER BY id) as an aggregate:
-- the SHA-256 of the rows' canonical_row_json texts joined by newlines, in UTF-8, which is exactly
-- sha256(convert_to(string_agg(canonical_row_json(row), E'\n' ORDER BY ...), 'UTF8')), the digest's
-- definition; it hashes row by row instead of building that text (1.5 MB per batch of 1,000).
-- NULL for no rows.  verify_archive() still recomputes every digest the documented way.
CREATE FUNCTION forgea_audit.rows_sha256_step(state internal, row_value record) RETURNS internal
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_rows_sha256_step_0_3';
CREATE FUNCTION forgea_audit.rows_sha256_final(state internal) RETURNS bytea
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_rows_sha256_final_0_3';
CREATE AGGREGATE forgea_audit.rows_sha256(record) (
    SFUNC = forgea_audit.rows_sha256_step, STYPE = internal, FINALFUNC = forgea_audit.rows_sha256_final
);
COMMENT ON AGGREGATE forgea_audit.rows_sha256(record) IS
    'sha256 of the rows'' canonical_row_json texts joined by newlines (UTF-8), in the aggregate''s ORDER BY: the archive digest of archive_batch.';
REVOKE ALL ON FUNCTION forgea_audit.rows_sha256_step(internal, record) FROM PUBLIC;
REVOKE ALL ON FUNCTION forgea_audit.rows_sha256_final(internal) FROM PUBLIC;
REVOKE ALL ON FUNCTION forgea_audit.rows_sha256(record) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.rows_sha256(record) TO forgea_audit_reader;

DROP INDEX forgea_audit.lab_attempt_archive_archive_seq_idx;
-- verify_archive(): the archive rows of one RETENTION_ARCHIVE event (GROUP BY / WHERE archive_seq).
-- BRIN, not a B-tree: archive_seq only grows, batch after batch, in the order the rows are appended
-- to the archive (nothing updates it; restores copy it in that order), so a block range's min/max
-- finds one event's rows; a B-tree cost every archived row an index insert and 67 bytes of WAL.
CREATE INDEX lab_attempt_archive_archive_seq_idx ON forgea_audit.lab_attempt_archive USING brin (archive_seq);

-- One batch, in the caller's transaction.  The row lock on forgea_audit.retention_lock makes
-- concurrent runs (worker and cron, two crons) take turns: the one that does not get it reports
-- skipped and moves nothing (run_retention() and the worker then record retention_lock_holder()).
-- SKIP LOCKED and lock_timeout keep a batch from ever waiting on a row someone else holds.
--
-- after_recorded_at/after_id (both or neither): start after this (recorded_at, id) position, the
-- resume_recorded_at/resume_id the previous batch returned.  A run that passes them on reads only
-- rows it has not deleted yet: without them, the index scan of every batch steps again over the
-- entries of all the rows the same transaction already deleted (they cannot be marked dead before
-- it commits), so one transaction of many batches does work that grows with the square of the rows.
-- Rows a run passed over because someone held them (SKIP LOCKED) wait for the next run.
--
-- The whole batch is one statement: the rows deleted, their count, id range and digest, the audit
-- event, and the same rows inserted into the archive naming that event.  The digest is the
-- documented canonical_json(to_jsonb(row)) per row, computed by canonical_row_json(row), which
-- writes the same bytes without building the jsonb, and hashed row by row by rows_sha256()
-- (verify_archive() recomputes it the long way).
CREATE OR REPLACE FUNCTION forgea_audit.archive_batch(cutoff timestamptz, batch_size integer,
                                           after_recorded_at timestamptz DEFAULT NULL, after_id bigint DEFAULT NULL)
    RETURNS TABLE (archived bigint, first_id bigint, last_id bigint, audit_seq bigint, skipped boolean,
                   resume_recorded_at timestamptz, resume_id bigint)
    LANGUAGE plpgsql
    SET TimeZone = 'UTC'          -- the rows' digest uses to_jsonb() of timestamps: keep it fixed
    SET bytea_output = 'hex'      -- ... and of bytea
    SET lock_timeout = '5s'
    -- One generic plan, made once per session: a custom plan per call (what PostgreSQL keeps
    -- choosing here) costs each batch a planning whose histogram probe of recorded_at walks the
    -- index entries of every row the previous batches deleted (not yet vacuumed): a fifth of the
    -- worker's time on 1M expired rows (issue 13).  The plan is the same index range scan.
    SET plan_cache_mode = 'force_generic_plan'
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'archive batch size must be at least 1, not %', batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (after_recorded_at IS NULL) <> (after_id IS NULL) THEN
        RAISE EXCEPTION 'archive_batch: after_recorded_at and after_id go together (both or neither)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM 1 FROM forgea_audit.retention_lock FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT FROM forgea_audit.retention_lock) THEN
            RAISE EXCEPTION 'archive_batch: the row of forgea_audit.retention_lock is missing'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'INSERT INTO forgea_audit.retention_lock DEFAULT VALUES; as the extension''s owner.';
        END IF;
        RETURN QUERY SELECT 0::bigint, NULL::bigint, NULL::bigint, NULL::bigint, true, after_recorded_at, after_id;
        RETURN;
    END IF;

    -- (recorded_at, id) >= (position's recorded_at, position's id + 1) is "after the position" for
    -- integer ids, and with no position (-infinity, min bigint) admits every row; one statement
    -- (and one cached plan, an index range scan either way) serves both.
    WITH due AS (
        SELECT a.ctid AS tid FROM forgea_audit.lab_attempt a
        WHERE a.recorded_at < cutoff
          AND (a.recorded_at, a.id) >= (coalesce(after_recorded_at, '-infinity'::timestamptz),
                                        coalesce(after_id + 1, -9223372036854775808))
        ORDER BY a.recorded_at, a.id
        LIMIT batch_size
        FOR UPDATE SKIP LOCKED
    ), gone AS (
        -- The locked rows by their ctid: one TID scan, no descent of the primary key per row, and
        -- no join whose plan could turn into a sequential scan of lab_attempt.
        DELETE FROM forgea_audit.lab_attempt a WHERE a.ctid = ANY (ARRAY(SELECT d.tid FROM due d)) RETURNING a.*
    ), summary AS (
        SELECT pg_catalog.count(*) AS n, pg_catalog.min(g.id) AS lo, pg_catalog.max(g.id) AS hi,
               forgea_audit.rows_sha256(g ORDER BY g.id) AS digest
        FROM gone g
    ), last AS (
        SELECT g.recorded_at, g.id FROM gone g ORDER BY g.recorded_at DESC, g.id DESC LIMIT 1
    ), event AS (
        SELECT forgea_audit.append_system(
                   action => 'RETENTION_ARCHIVE', actor_type => 'system', actor_id => 'forgea_audit.retention',
                   target_type => 'lab_attempt_archive', chain => 'retention',
                   metadata => pg_catalog.jsonb_build_object(
                       'count', s.n, 'first_id', s.lo, 'last_id', s.hi, 'cutoff', cutoff,
                       'rows_sha256', pg_catalog.encode(s.digest, 'hex'),
                       'digest', 'sha256 of canonical_json(to_jsonb(row)) of the moved lab_attempt rows, ordered by id, joined by newlines, TimeZone UTC')) AS seq
        FROM summary s WHERE s.n > 0
    ), stored AS (
        INSERT INTO forgea_audit.lab_attempt_archive
        SELECT g.*, pg_catalog.now(), e.seq FROM gone g CROSS JOIN event e
    )
    SELECT s.n, s.lo, s.hi, e.seq, l.recorded_at, l.id INTO r
    FROM summary s LEFT JOIN event e ON true LEFT JOIN last l ON true;

    RETURN QUERY SELECT r.n, r.lo, r.hi, r.seq, false,
                        coalesce(r.recorded_at, after_recorded_at), coalesce(r.id, after_id);
END
$$;
COMMENT ON FUNCTION forgea_audit.archive_batch(timestamptz, integer, timestamptz, bigint) IS
    'Moves up to batch_size attempts recorded before cutoff (and after the position after_recorded_at, after_id if given) to the archive, with a RETENTION_ARCHIVE audit event; resume_recorded_at, resume_id are the position for the next batch.';

REVOKE ALL ON FUNCTION forgea_audit.archive_batch(timestamptz, integer, timestamptz, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.archive_batch(timestamptz, integer, timestamptz, bigint) TO forgea_audit_admin;

-- verify_archive() also checks webhook_rejection_daily against the roll-up events (issue 23 notes).
-- Every RETENTION_ARCHIVE event against the archive rows it names, and every
-- WEBHOOK_REJECTIONS_ROLLED_UP event against webhook_rejection_daily: the minute rows a roll-up
-- replaced are gone (its rows_sha256 cannot be recomputed), but its per-reason totals are in the
-- chained event, so each day and reason's deliveries and bytes must be the sum of that day's
-- events, its minute_rows the day's (per day: the events give them per day only), and rollup_seq
-- the last event that summed that reason.  batches_checked counts the archive batches.
CREATE OR REPLACE FUNCTION forgea_audit.verify_archive()
    RETURNS TABLE (ok boolean, batches_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE plpgsql STABLE
    SET TimeZone = 'UTC'
    SET bytea_output = 'hex'
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
    n   bigint;
    ndays bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO n FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE';
    WITH batches AS (
        SELECT l.seq, (l.metadata->>'count')::bigint AS count, l.metadata->>'rows_sha256' AS digest
        FROM forgea_audit.audit_log l WHERE l.action = 'RETENTION_ARCHIVE'
    ), rows AS (
        SELECT a.archive_seq AS seq, pg_catalog.count(*) AS count,
               pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.string_agg(
                   forgea_audit.canonical_json(pg_catalog.to_jsonb(a) - 'archived_at' - 'archive_seq'), E'\n' ORDER BY a.id),
                   'UTF8')), 'hex') AS digest
        FROM forgea_audit.lab_attempt_archive a GROUP BY a.archive_seq
    )
    SELECT coalesce(b.seq, r.seq) AS seq,
           CASE WHEN b.seq IS NULL THEN 'archive rows name audit event ' || r.seq || ', which is not a RETENTION_ARCHIVE event'
                WHEN r.seq IS NULL THEN 'RETENTION_ARCHIVE event ' || b.seq || ' names ' || b.count || ' rows, the archive holds none'
                WHEN b.count <> r.count THEN 'RETENTION_ARCHIVE event ' || b.seq || ' names ' || b.count || ' rows, the archive holds ' || r.count
                ELSE 'the archive rows of RETENTION_ARCHIVE event ' || b.seq || ' do not match its rows_sha256 (changed after archiving)'
           END AS detail
    INTO bad
    FROM batches b FULL JOIN rows r ON r.seq = b.seq
    WHERE b.seq IS NULL OR r.seq IS NULL OR b.count <> r.count OR b.digest <> r.digest
    ORDER BY 1 LIMIT 1;
    IF bad IS NOT NULL THEN
        RETURN QUERY SELECT false, n, bad.seq, bad.detail;
        RETURN;
    END IF;

    SELECT pg_catalog.count(DISTINCT (l.metadata->>'day')) INTO ndays
    FROM forgea_audit.audit_log l WHERE l.action = 'WEBHOOK_REJECTIONS_ROLLED_UP';
    WITH events AS (
        SELECT l.seq, (l.metadata->>'day')::date AS day, (l.metadata->>'minute_rows')::bigint AS minute_rows,
               l.metadata->'deliveries' AS deliveries, l.metadata->'bytes' AS bytes
        FROM forgea_audit.audit_log l WHERE l.action = 'WEBHOOK_REJECTIONS_ROLLED_UP'
    ), by_reason AS (
        SELECT e.day, r.key AS reason, pg_catalog.sum(r.value::bigint) AS deliveries,
               pg_catalog.sum((e.bytes->>r.key)::bigint) AS bytes, pg_catalog.max(e.seq) AS seq
        FROM events e, pg_catalog.jsonb_each_text(e.deliveries) r GROUP BY e.day, r.key
    ), by_day AS (
        SELECT e.day, pg_catalog.sum(e.minute_rows) AS minute_rows, pg_catalog.max(e.seq) AS seq FROM events e GROUP BY e.day
    ), daily_by_day AS (
        SELECT d.day, pg_catalog.sum(d.minute_rows) AS minute_rows FROM forgea_audit.webhook_rejection_daily d GROUP BY d.day
    )
    SELECT x.seq, x.detail INTO bad FROM (
        SELECT coalesce(e.seq, d.rollup_seq) AS seq,
               CASE WHEN e.day IS NULL THEN 'webhook_rejection_daily holds ' || d.day || ' ' || d.reason
                                            || ', which no WEBHOOK_REJECTIONS_ROLLED_UP event summed'
                    WHEN d.day IS NULL THEN 'WEBHOOK_REJECTIONS_ROLLED_UP event ' || e.seq || ' summed ' || e.day || ' ' || e.reason
                                            || ', webhook_rejection_daily holds no such row'
                    WHEN d.rollup_seq <> e.seq THEN 'webhook_rejection_daily ' || d.day || ' ' || d.reason || ' names event '
                                            || d.rollup_seq || ', the last event that summed it is ' || e.seq
                    ELSE 'webhook_rejection_daily ' || d.day || ' ' || d.reason || ' holds ' || d.deliveries || ' deliveries, '
                         || d.bytes || ' bytes; its WEBHOOK_REJECTIONS_ROLLED_UP events say ' || e.deliveries || ', ' || e.bytes
               END AS detail
        FROM by_reason e FULL JOIN forgea_audit.webhook_rejection_daily d ON d.day = e.day AND d.reason = e.reason
        WHERE e.day IS NULL OR d.day IS NULL OR d.rollup_seq <> e.seq OR d.deliveries <> e.deliveries OR d.bytes <> e.bytes
        UNION ALL
        SELECT e.seq, 'webhook_rejection_daily ' || e.day || ' sums ' || coalesce(d.minute_rows, 0) || ' minute rows; its WEBHOOK_REJECTIONS_ROLLED_UP events say '
                      || e.minute_rows
        FROM by_day e LEFT JOIN daily_by_day d ON d.day = e.day
        WHERE d.minute_rows IS DISTINCT FROM e.minute_rows
    ) x ORDER BY x.seq LIMIT 1;
    IF bad IS NOT NULL THEN
        RETURN QUERY SELECT false, n, bad.seq, bad.detail;
    ELSIF ndays = 0 THEN
        RETURN QUERY SELECT true, n, NULL::bigint, 'verified ' || n || ' archive batches';
    ELSE
        RETURN QUERY SELECT true, n, NULL::bigint, 'verified ' || n || ' archive batches and ' || ndays || ' days of rejected deliveries';
    END IF;
END
$$;
COMMENT ON FUNCTION forgea_audit.verify_archive() IS
    'Checks every RETENTION_ARCHIVE event''s count and digest against the archive rows it moved, and webhook_rejection_daily against the WEBHOOK_REJECTIONS_ROLLED_UP events that summed it.';
REVOKE ALL ON FUNCTION forgea_audit.verify_archive() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.verify_archive() TO forgea_audit_reader;

-- receipt() carries the checkpoint as published, with its witnesses' cosignatures (0.2.0: the
-- stored note only); its privileges stay.
-- A receipt for one attempt: its LAB_VERIFY_ATTEMPT audit row's fields (what the row_hash is
-- computed from, docs/chain.md), the row's leaf, its inclusion proof in the newest checkpoint
-- that covers it, and that checkpoint's note: as published, with its witnesses' cosignature lines,
-- when forgea_audit_publish published it (published_checkpoint; record_publication() checked it is
-- the stored note followed by signature lines only), else the stored note.  tools/forgea_audit_verify
-- --receipt checks it offline with the public key only (and the cosignatures with --witness).  A student's receipt is their proof, and the platform fetches
-- it for them: readers and admins get the receipt of any attempt.  SECURITY DEFINER, since the
-- LAB_VERIFY_ATTEMPT rows carry no tenant and row-level security shows them to admins only; a
-- reader may read every lab_attempt row already, and the audit row repeats what that row says
-- (plus the session's user id).  Writers may not (they read nothing of the log).  Attempts are
-- not a tenant's: record_push() writes their rows with no tenant, and append() refuses the action
-- to everyone else, so receipt() takes only such a row (a LAB_VERIFY_ATTEMPT row with a tenant,
-- which only a superuser's append_system() could write, is no receipt: that tenant's readers
-- alone may read it).  receipt_tlog_proof() and receipt_link() are made from receipt().
CREATE OR REPLACE FUNCTION forgea_audit.receipt(attempt_id bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET TimeZone = 'UTC'
AS $$
DECLARE
    r    record;
    leaf bigint;
    cp   record;
    pr   record;
    published text;
BEGIN
    -- Only the row record_push() wrote (actor webhook, no tenant): a tenant's row is never a
    -- receipt, whoever asks (docs/roles.md, "Receipts and tenants").
    SELECT l.* INTO r FROM forgea_audit.audit_log l
    WHERE l.action = 'LAB_VERIFY_ATTEMPT' AND l.target_type = 'lab_attempt' AND l.target_id = attempt_id::text
      AND l.tenant_id IS NULL AND l.actor_type = 'webhook'
    ORDER BY l.seq LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no LAB_VERIFY_ATTEMPT audit row for attempt % is visible', attempt_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'No attempt has this id (or it was recorded as a duplicate or conflict, which have no receipt).',
                  HINT = 'Pass a lab_attempt id that record_push() returned with status recorded.';
    END IF;
    SELECT m.leaf_index INTO leaf FROM forgea_audit.merkle_leaf m WHERE m.seq = r.seq;
    SELECT c.tree_size, c.note INTO cp FROM forgea_audit.merkle_checkpoint c
    WHERE c.tree_size > leaf ORDER BY c.tree_size DESC, c.id DESC LIMIT 1;
    IF leaf IS NULL OR cp IS NULL THEN
        RAISE EXCEPTION 'audit row % of attempt % is not covered by a checkpoint yet', r.seq, attempt_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Ask again after the next checkpoint (forgea_audit.checkpoint(), or the worker''s forgea_audit.checkpoint_interval).';
    END IF;
    SELECT * INTO pr FROM forgea_audit.inclusion_proof(r.seq, cp.tree_size);
    SELECT p.note INTO published FROM forgea_audit.published_checkpoint p
    WHERE p.tree_size = cp.tree_size AND p.published AND pg_catalog.starts_with(p.note, cp.note)
    ORDER BY p.id DESC LIMIT 1;
    RETURN pg_catalog.jsonb_build_object(
        'version', 1,
        'attempt_id', attempt_id,
        'row_hash', pg_catalog.encode(r.row_hash, 'hex'),
        'leaf_index', leaf,
        'tree_size', cp.tree_size,
        'inclusion_proof', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.encode(p.h, 'hex') ORDER BY p.o), '[]')
                            FROM pg_catalog.unnest(pr.proof) WITH ORDINALITY AS p(h, o)),
        'checkpoint', coalesce(published, cp.note),
        'row', pg_catalog.jsonb_build_object(
            'seq', r.seq, 'chain_id', r.chain_id, 'chain_pos', r.chain_pos,
            'prev_hash', pg_catalog.encode(r.prev_hash, 'hex'), 'hash_version', r.hash_version,
            'created_at_us', (EXTRACT(epoch FROM r.created_at) * 1000000)::bigint,
            'tenant_id', r.tenant_id, 'user_id', r.user_id, 'actor_type', r.actor_type, 'actor_id', r.actor_id,
            'action', r.action, 'target_type', r.target_type, 'target_id', r.target_id,
            'outcome', r.outcome, 'severity', r.severity,
            'metadata', forgea_audit.canonical_json(r.metadata), 'proof', forgea_audit.canonical_json(r.proof),
            'correlation_id', r.correlation_id, 'parent_seq', r.parent_seq));
END
$$;
COMMENT ON FUNCTION forgea_audit.receipt(bigint) IS
    'A receipt for one attempt (its LAB_VERIFY_ATTEMPT row, leaf, inclusion proof and signed checkpoint, with its witnesses'' cosignatures when published) that tools/forgea_audit_verify --receipt checks offline.';

-------------------------------------------------------------------------------------------------
-- The attempts' guard.  A lab_attempt row is the evidence its LAB_VERIFY_ATTEMPT audit row points
-- to (the row names it by id and repeats its delivery, commit and payload digest), and an archived
-- one is covered by its RETENTION_ARCHIVE event's digest (verify_archive()).  So, for every role,
-- the table owner and superusers included, in any session_replication_role (ENABLE ALWAYS):
--   * UPDATE and TRUNCATE of either table, and DELETE from lab_attempt_archive, are refused;
--   * a DELETE from lab_attempt is accepted only as a move: every row it deleted must be in
--     lab_attempt_archive (same id and delivery) when the statement ends, which archive_batch's
--     one statement (DELETE ... RETURNING into the archive's INSERT) is; anything else is refused
--     and undone.
-- INSERT is not guarded: record_push() writes lab_attempt, archive_batch() the archive, and a
-- superuser's restore (pg_restore, psql < dump.sql) both, as COPY; an attempt row that no audit
-- row records is no receipt (receipt() reads the audit row) and changes no chain.
-- Statement-level triggers only: a push pays nothing, a retention batch one check of its rows by
-- the archive's primary key (docs/security.md, "The attempts").
-------------------------------------------------------------------------------------------------
CREATE FUNCTION forgea_audit.guard_attempts() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    n_gone bigint;
    n_kept bigint;
BEGIN
    IF TG_TABLE_NAME = 'lab_attempt' AND TG_OP = 'DELETE' AND TG_WHEN = 'AFTER' THEN
        SELECT count(*) INTO n_gone FROM gone;
        SELECT count(*) INTO n_kept
        FROM forgea_audit.lab_attempt_archive a JOIN gone g ON g.id = a.id AND g.delivery_id = a.delivery_id
        WHERE a.id = ANY (ARRAY(SELECT g2.id FROM gone g2));
        IF n_kept < n_gone THEN
            RAISE EXCEPTION 'DELETE on forgea_audit.lab_attempt is refused: an attempt leaves lab_attempt only into lab_attempt_archive'
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('%s of the %s rows deleted are not in lab_attempt_archive at the end of the statement; an attempt row is the evidence its LAB_VERIFY_ATTEMPT audit row points to.',
                                      n_gone - n_kept, n_gone),
                      HINT = 'Archive old attempts with forgea_audit.run_retention() (or the worker''s forgea_audit.attempt_retention).';
        END IF;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% on forgea_audit.% is refused: recorded attempts are never changed or removed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s is refused for every role, the table owner and superusers included: an attempt row is the evidence its audit rows point to.', TG_OP),
              HINT = CASE WHEN TG_TABLE_NAME = 'lab_attempt' AND TG_OP = 'TRUNCATE'
                          THEN 'Archive old attempts with forgea_audit.run_retention(); record a correcting event with forgea_audit.append(...).'
                          ELSE 'Record a correcting event with forgea_audit.append(...).' END;
END
$$;
COMMENT ON FUNCTION forgea_audit.guard_attempts() IS
    'Trigger of lab_attempt and lab_attempt_archive: refuses UPDATE, TRUNCATE and DELETE, except a DELETE from lab_attempt whose rows are in lab_attempt_archive when it ends (retention''s move).';
REVOKE ALL ON FUNCTION forgea_audit.guard_attempts() FROM PUBLIC;   -- fired by the triggers only
CREATE TRIGGER lab_attempt_guard_statements BEFORE UPDATE ON forgea_audit.lab_attempt
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_attempts();
ALTER TABLE forgea_audit.lab_attempt ENABLE ALWAYS TRIGGER lab_attempt_guard_statements;
CREATE TRIGGER lab_attempt_guard_truncate BEFORE TRUNCATE ON forgea_audit.lab_attempt
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_attempts();
ALTER TABLE forgea_audit.lab_attempt ENABLE ALWAYS TRIGGER lab_attempt_guard_truncate;
CREATE TRIGGER lab_attempt_guard_moved AFTER DELETE ON forgea_audit.lab_attempt
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_attempts();
ALTER TABLE forgea_audit.lab_attempt ENABLE ALWAYS TRIGGER lab_attempt_guard_moved;
CREATE TRIGGER lab_attempt_archive_guard_statements BEFORE UPDATE OR DELETE ON forgea_audit.lab_attempt_archive
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_attempts();
ALTER TABLE forgea_audit.lab_attempt_archive ENABLE ALWAYS TRIGGER lab_attempt_archive_guard_statements;
CREATE TRIGGER lab_attempt_archive_guard_truncate BEFORE TRUNCATE ON forgea_audit.lab_attempt_archive
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_attempts();
ALTER TABLE forgea_audit.lab_attempt_archive ENABLE ALWAYS TRIGGER lab_attempt_archive_guard_truncate;

-- checkpoint(): how long it waits for the integrator's locks (the caller's lock_timeout, when set).
COMMENT ON FUNCTION forgea_audit.checkpoint() IS
    'For an admin (a member of forgea_audit_admin, a superuser, the background worker): integrates every committed audit row into the Merkle tree, signs a note of its size and root (C2SP checkpoint; Ed25519, forgea_audit.signing_key_file), records it (merkle_checkpoint, a CHECKPOINT event), sends it out (NOTIFY forgea_audit_checkpoint, server log) and returns it; returns the newest note again, writing nothing, if nothing but that checkpoint''s own CHECKPOINT row was added since; waits for the integrator''s locks 5 s, or as long as the caller''s lock_timeout when it set one (a background worker 5 s at most), 55P03 after that. For a reader: the newest stored note as stored (NULL before the first), taking no lock and writing nothing.';
