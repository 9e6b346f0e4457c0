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
