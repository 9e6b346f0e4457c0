-- forgea_audit 0.3.0: GitHub push deliveries recorded exactly once, and a hash-chained audit log.
-- Read top to bottom, this file is the schema's documentation: what each table holds, which
-- queries each index serves, and which function writes what.  Each object is written in one
-- place: a function's CREATE FUNCTION carries its attributes (volatility, SECURITY DEFINER, SET),
-- and its COMMENT and privileges (REVOKE/GRANT) follow it directly; a table is followed by its
-- indexes (each says which query it serves) and its grants.  The tables' pg_dump registration is
-- one section near the end, with what a restore needs.
--
-- Released scripts never change: forgea_audit--0.1.0.sql and forgea_audit--0.2.0.sql stay as
-- released (test/upgrade/releases.txt), and so does forgea_audit--0.1.0--0.2.0.sql.  Every change
-- to the SQL surface goes into this file AND into the upgrade script forgea_audit--0.2.0--0.3.0.sql;
-- test/upgrade/upgrade.sh checks that updating an 0.2.0 install, and an 0.1.0 one, gives exactly
-- the objects this file gives.
--
-- Privileges: PUBLIC has EXECUTE on a new function by default, so every function below is
-- followed by REVOKE ALL ... FROM PUBLIC and its GRANTs.  PUBLIC has nothing on tables and
-- sequences; their REVOKE (or GRANT) is still written beside them so that each one's ACL is
-- explicit and the same whether installed fresh or updated.
--
-- C functions bind to version-suffixed symbols: AS 'MODULE_PATHNAME', 'fa_<name>_0_3', which
-- FA_FUNCTION(fa_<name>, ...) exports (src/pg/boundary.hpp, suffix in src/pg/sql_version.hpp).
-- The library serves exactly this SQL version; an install still at 0.1.0 or 0.2.0 calls that
-- version's names (unsuffixed, _0_2), which refuse until ALTER EXTENSION forgea_audit UPDATE.  A
-- new C function follows the same rule here and in the upgrade script (where an existing one is
-- rebound with CREATE OR REPLACE FUNCTION and its whole definition).

\echo Use "CREATE EXTENSION forgea_audit" to load this file. \quit

DO $$
BEGIN
    -- The chain hashes text as UTF-8 bytes; another server encoding would hash other bytes for
    -- the same characters and break verification after a dump/restore into a UTF-8 database.
    IF pg_catalog.current_setting('server_encoding') <> 'UTF8' THEN
        RAISE EXCEPTION 'forgea_audit requires a UTF8 database, this one is %',
            pg_catalog.current_setting('server_encoding')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Create the database with ENCODING ''UTF8''.';
    END IF;
END
$$;

-------------------------------------------------------------------------------------------------
-- Who may do what.  Three roles; PUBLIC gets nothing but repo_key() (the expression index on the
-- platform's table evaluates it when the application writes "LabSession").  Writes go only
-- through the SECURITY DEFINER functions below, which pin their search_path; nobody, the owner
-- included, can INSERT a row with a forged link directly (the guards below).  The roles are
-- created here, before the objects whose GRANTs name them.
-------------------------------------------------------------------------------------------------
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['forgea_audit_writer', 'forgea_audit_reader', 'forgea_audit_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;
COMMENT ON ROLE forgea_audit_writer IS 'forgea_audit: may call record_push() and append(), nothing else';
COMMENT ON ROLE forgea_audit_reader IS 'forgea_audit: may read attempts, audit rows (its tenants''), checkpoints, and verify';
COMMENT ON ROLE forgea_audit_admin IS 'forgea_audit: retention, checkpoints, configuration; reads every tenant';
GRANT forgea_audit_reader TO forgea_audit_admin;

REVOKE ALL ON SCHEMA forgea_audit FROM PUBLIC;
GRANT USAGE ON SCHEMA forgea_audit TO forgea_audit_writer, forgea_audit_reader, forgea_audit_admin;

-------------------------------------------------------------------------------------------------
-- lab_attempt: one row per GitHub push delivery that matched an active lab session.
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.lab_attempt (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id           text        NOT NULL,            -- "LabSession"."id"
    delivery_id          uuid        NOT NULL UNIQUE,     -- X-GitHub-Delivery: the idempotency key
    commit_sha           text        NOT NULL,            -- payload "after" (all zeros for a deletion)
    before_sha           text,                            -- payload "before" (all zeros for a creation)
    ref                  text        NOT NULL,            -- refs/heads/... or refs/tags/...
    base_ref             text,
    changed_paths        text[]      NOT NULL,            -- distinct union of added/modified/removed, sorted bytewise
    changed_files        jsonb       NOT NULL,            -- {"added": [...], "modified": [...], "removed": [...]}
    commit_count         integer     NOT NULL,
    commits_truncated    boolean     NOT NULL,            -- GitHub lists at most 2048 commits
    files_truncated      boolean     NOT NULL,            -- ... and at most 3000 files per list per commit
    created              boolean     NOT NULL,            -- the push created the ref
    deleted              boolean     NOT NULL,            -- the push deleted the ref
    forced               boolean     NOT NULL,            -- a force push
    pusher_name          text,
    pusher_email         text,
    sender_login         text,
    sender_id            bigint,
    repository_id        bigint,
    repository_url       text        NOT NULL,            -- as GitHub sent it
    repository_full_name text,
    repository_key       text        NOT NULL,            -- forgea_audit.repo_key(repository_url)
    payload_sha256       bytea       NOT NULL,            -- SHA-256 of the payload's canonical JSON (docs/chain.md)
    delivery             jsonb,                           -- kept delivery headers: event, hook_id, user_agent, ...
    pushed_at            timestamptz,                     -- repository.pushed_at, else head_commit.timestamp
    recorded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lab_attempt_payload_sha256_len CHECK (octet_length(payload_sha256) = 32)
);
COMMENT ON TABLE forgea_audit.lab_attempt IS
    'One row per GitHub push delivery recorded against a lab session; written by forgea_audit.record_push().';
-- delivery_id's UNIQUE index: record_push's idempotency check (a redelivery is a duplicate).
-- The platform's "attempts of this session, newest first".
CREATE INDEX lab_attempt_session_recorded_idx ON forgea_audit.lab_attempt (session_id, recorded_at DESC);
-- "Which deliveries pushed this commit?"
CREATE INDEX lab_attempt_commit_sha_idx ON forgea_audit.lab_attempt (commit_sha);
-- "Which attempts touched this file?"  changed_paths @> ARRAY['src/main.c']
CREATE INDEX lab_attempt_changed_paths_idx ON forgea_audit.lab_attempt USING gin (changed_paths);
-- Retention: archive_batch reads the due attempts (recorded_at < cutoff) in (recorded_at, id)
-- order, resuming after the previous batch's position.
CREATE INDEX lab_attempt_recorded_at_idx ON forgea_audit.lab_attempt (recorded_at, id);
GRANT SELECT ON forgea_audit.lab_attempt TO forgea_audit_reader;
REVOKE ALL ON SEQUENCE forgea_audit.lab_attempt_id_seq FROM PUBLIC;   -- the identity column's

-------------------------------------------------------------------------------------------------
-- audit_log: append-only, hash-chained.  See docs/chain.md for the encoding and the chains.
-------------------------------------------------------------------------------------------------
CREATE SEQUENCE forgea_audit.audit_log_seq AS bigint;

CREATE TABLE forgea_audit.audit_log (
    seq            bigint      PRIMARY KEY,                -- global order of appends
    chain_id       text        COLLATE "C" NOT NULL,       -- which chain: 'session:<id>', 'repository:<key>', ...
    chain_pos      bigint      NOT NULL,                   -- 1, 2, 3, ... within the chain
    prev_hash      bytea       NOT NULL,                   -- row_hash of the previous row of the chain (32 zero bytes for the first)
    row_hash       bytea       NOT NULL,                   -- SHA-256 of this row's canonical encoding
    hash_version   smallint    NOT NULL DEFAULT 1,         -- encoding version of row_hash
    created_at     timestamptz NOT NULL,
    tenant_id      text,                                   -- audit_events: tenant / client
    user_id        text,                                   -- AuditLog.userId: whom the event is about
    actor_type     text        NOT NULL,                   -- 'webhook', 'user', 'system', ...
    actor_id       text,                                   -- 'github', a user id, ...
    action         text        NOT NULL,                   -- 'LAB_VERIFY_ATTEMPT', ...
    target_type    text,                                   -- 'lab_attempt', 'lab_session', 'repository', ...
    target_id      text,
    outcome        text        NOT NULL,
    severity       text        NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    proof          jsonb,
    correlation_id text,                                   -- the X-GitHub-Delivery GUID for webhook events
    parent_seq     bigint      REFERENCES forgea_audit.audit_log (seq),
    CONSTRAINT audit_log_chain_pos_key UNIQUE (chain_id, chain_pos),  -- one row per link; also the verifier's scan order
    CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('success', 'failure', 'partial', 'pending')),
    CONSTRAINT audit_log_severity_check CHECK (severity IN ('INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    CONSTRAINT audit_log_hash_len_check CHECK (octet_length(prev_hash) = 32 AND octet_length(row_hash) = 32),
    CONSTRAINT audit_log_metadata_object_check CHECK (jsonb_typeof(metadata) = 'object')
);
ALTER SEQUENCE forgea_audit.audit_log_seq OWNED BY forgea_audit.audit_log.seq;
COMMENT ON TABLE forgea_audit.audit_log IS
    'Append-only, SHA-256 hash-chained audit events; write with forgea_audit.append(), check with forgea_audit.verify_chain().';

-- seq's primary key: append()'s parent_seq check and the foreign key (WHERE seq = $1).
-- audit_log_chain_pos_key (chain_id, chain_pos): one row per link (a second writer at the same
-- position fails), and "one chain in order" (WHERE chain_id = 'session:...' ORDER BY chain_pos).
-- "What happened of this kind, and when": WHERE action = 'LAB_VERIFY_ATTEMPT_UNMATCHED'
-- [AND created_at > ...]; verify_chain(checkpoint) finds its CHECKPOINT event through it
-- (WHERE action = 'CHECKPOINT' AND target_id = <root>).
CREATE INDEX audit_log_action_idx ON forgea_audit.audit_log (action, created_at);
-- "What happened to this object": WHERE target_type = 'lab_attempt' AND target_id = '...'
-- ORDER BY created_at (a session's or a repository's events outside its own chain); receipt()
-- finds an attempt's LAB_VERIFY_ATTEMPT row through it.
CREATE INDEX audit_log_target_idx ON forgea_audit.audit_log (target_type, target_id, created_at);
-- "Failures and conflicts lately": WHERE outcome <> 'success' AND created_at > now() - ...;
-- partial, because nearly every row is a success.
CREATE INDEX audit_log_outcome_idx ON forgea_audit.audit_log (outcome, created_at) WHERE outcome <> 'success';
-- "Everything one delivery caused": WHERE correlation_id = '<X-GitHub-Delivery GUID>'; partial,
-- as only webhook events carry one.
CREATE INDEX audit_log_correlation_idx ON forgea_audit.audit_log (correlation_id) WHERE correlation_id IS NOT NULL;
-- No index on the actor, on user_id or on created_at alone: no documented query reads by them,
-- and each cost every append WAL (issue 13 cut them; docs/benchmarks.md, "WAL bytes per delivery").
GRANT SELECT ON forgea_audit.audit_log TO forgea_audit_reader;   -- rows filtered by the policies below
REVOKE ALL ON SEQUENCE forgea_audit.audit_log_seq FROM PUBLIC;

-- The head of each chain: its length and last link.  Appending locks only this one row, so
-- different chains append in parallel; verify_chain compares it with the log's tail.
CREATE TABLE forgea_audit.chain_head (
    chain_id   text        COLLATE "C" PRIMARY KEY,
    length     bigint      NOT NULL DEFAULT 0,
    last_seq   bigint,
    last_hash  bytea       NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);   -- room on every page for its rows' next versions: each append's head update stays HOT
COMMENT ON TABLE forgea_audit.chain_head IS
    'Current length and last row_hash of every audit chain; maintained by forgea_audit''s chain writer only.';
-- (chain_id's primary key: the chain writer locks and updates one head by chain_id.)
GRANT SELECT ON forgea_audit.chain_head TO forgea_audit_reader;

-------------------------------------------------------------------------------------------------
-- Tenant isolation for readers.  A reader sees the audit rows of the tenant named in its session
-- (SET forgea_audit.tenant = '...') if an admin has granted it that tenant in reader_tenant;
-- admins see every row.  Rows without a tenant (webhook events, system events) are admins' only.
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.reader_tenant (
    role_name name NOT NULL,
    tenant_id text NOT NULL,
    PRIMARY KEY (role_name, tenant_id)
);
COMMENT ON TABLE forgea_audit.reader_tenant IS 'Which tenants each reader role may read; managed by forgea_audit_admin.';
GRANT SELECT ON forgea_audit.reader_tenant TO forgea_audit_reader;
GRANT SELECT, INSERT, DELETE ON forgea_audit.reader_tenant TO forgea_audit_admin;
-- (The primary key (role_name, tenant_id) serves the policy's EXISTS lookup below.)

ALTER TABLE forgea_audit.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin_reads_all ON forgea_audit.audit_log FOR SELECT TO forgea_audit_admin USING (true);
CREATE POLICY audit_log_reader_reads_its_tenant ON forgea_audit.audit_log FOR SELECT TO forgea_audit_reader
    USING (tenant_id = pg_catalog.current_setting('forgea_audit.tenant', true)
           AND EXISTS (SELECT 1 FROM forgea_audit.reader_tenant rt
                       WHERE rt.role_name = CURRENT_USER AND rt.tenant_id = audit_log.tenant_id));

-------------------------------------------------------------------------------------------------
-- Guards: the chain tables are written by the extension's own chain writer and nobody else.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION forgea_audit.guard_write() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'fa_guard_write_0_3';
COMMENT ON FUNCTION forgea_audit.guard_write() IS
    'Refuses writes to the chain tables except the operations (trigger argument) made by forgea_audit''s chain writer.';
REVOKE ALL ON FUNCTION forgea_audit.guard_write() FROM PUBLIC;   -- fired by the triggers only

-- The argument lists what the chain writer itself may do; everything else is refused to everyone.
-- ENABLE ALWAYS: session_replication_role = replica must not switch the guards off.
CREATE TRIGGER audit_log_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.audit_log
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT');
ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_rows;
CREATE TRIGGER audit_log_guard_truncate BEFORE TRUNCATE ON forgea_audit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_truncate;
CREATE TRIGGER chain_head_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.chain_head
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT,UPDATE');
ALTER TABLE forgea_audit.chain_head ENABLE ALWAYS TRIGGER chain_head_guard_rows;
CREATE TRIGGER chain_head_guard_truncate BEFORE TRUNCATE ON forgea_audit.chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.chain_head ENABLE ALWAYS TRIGGER chain_head_guard_truncate;
-- Statement-level too: row-level security can hide every row from an UPDATE or DELETE, and the
-- refusal must still be loud, not "UPDATE 0".
CREATE TRIGGER audit_log_guard_statements BEFORE UPDATE OR DELETE ON forgea_audit.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_statements;
CREATE TRIGGER chain_head_guard_statements BEFORE UPDATE OR DELETE ON forgea_audit.chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('UPDATE');
ALTER TABLE forgea_audit.chain_head ENABLE ALWAYS TRIGGER chain_head_guard_statements;

-------------------------------------------------------------------------------------------------
-- Functions.  Writers and admins act through SECURITY DEFINER functions, as the extension's
-- owner, with a search_path nobody can plant objects in (pg_catalog, pg_temp).
--
-- No planner settings on the writers (record_push, record_push_json, append, append_system,
-- reject_delivery): what a call costs must not depend on settings or on the
-- optional bind_lab_session_table() step, and a function's SET would also hold for the platform's
-- triggers on "LabSession" during the call.  The extension's own tables are read by key through
-- their indexes without the planner (src/pg/key_lookup.hpp) or, for the chain head's statements,
-- planned with enable_seqscan = off for those statements alone, so that a plan cached while the
-- tables were empty never scans them sequentially later (test/integration/plans_on_empty_tables.sh);
-- the session lookup on "LabSession" runs with jit = off (docs/benchmarks.md, "unbound").
-------------------------------------------------------------------------------------------------
CREATE FUNCTION forgea_audit.record_push(payload jsonb, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_record_push_0_3';
COMMENT ON FUNCTION forgea_audit.record_push(jsonb, text, jsonb) IS
    'Records a GitHub push delivery exactly once: status recorded | duplicate | unmatched | conflict.';
REVOKE ALL ON FUNCTION forgea_audit.record_push(jsonb, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.record_push(jsonb, text, jsonb) TO forgea_audit_writer;

-- The same call with the payload as JSON text (type json, whose input function only checks the
-- syntax): record_push_json reads it with a streaming parser and never builds a jsonb of it, so a
-- 20 MB push costs a fraction of the memory.  Same rows, same errors, same idempotency key: a
-- delivery recorded by one and retried through the other is a duplicate.  Repeated keys: the last
-- one wins, as in jsonb.  A name of its own rather than a record_push(json, ...) overload: with
-- both, record_push('{...}', '...') (an unknown-typed literal or parameter) would fail with
-- "function is not unique" (PostgreSQL itself never overloads json against jsonb: to_json/to_jsonb).
CREATE FUNCTION forgea_audit.record_push_json(payload json, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_record_push_json_0_3';
COMMENT ON FUNCTION forgea_audit.record_push_json(json, text, jsonb) IS
    'record_push for a payload given as JSON text (json): same result and rows, far less memory for large pushes.';
REVOKE ALL ON FUNCTION forgea_audit.record_push_json(json, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.record_push_json(json, text, jsonb) TO forgea_audit_writer;

CREATE FUNCTION forgea_audit.append(
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
COMMENT ON FUNCTION forgea_audit.append(text, text, text, text, text, text, jsonb, jsonb, text, bigint, text, text, text, text) IS
    'Appends one audit event to its hash chain (default: the target''s, else the actor''s) and returns its seq.';
REVOKE ALL ON FUNCTION forgea_audit.append(text, text, text, text, text, text, jsonb, jsonb, text, bigint, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.append(text, text, text, text, text, text, jsonb, jsonb, text, bigint, text, text, text, text) TO forgea_audit_writer;

-- The same, for the extension's own SQL (archive_batch, the DDL guard): it may write the actions
-- and chains append() keeps for forgea_audit.  Not SECURITY DEFINER: its callers are, and nobody
-- else may execute it (owner only).
CREATE FUNCTION forgea_audit.append_system(
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
REVOKE ALL ON FUNCTION forgea_audit.append_system(text, text, text, text, text, text, jsonb, jsonb, text, bigint, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION forgea_audit.verify_chain(checkpoint text DEFAULT NULL)
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_verify_chain_0_3';
COMMENT ON FUNCTION forgea_audit.verify_chain(text) IS
    'Recomputes every row hash and link of every chain and, given a checkpoint kept outside, checks every row it sealed; reports the lowest seq where anything is wrong.';
REVOKE ALL ON FUNCTION forgea_audit.verify_chain(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.verify_chain(text) TO forgea_audit_reader;

CREATE FUNCTION forgea_audit.checkpoint() RETURNS text
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_checkpoint_0_3';
COMMENT ON FUNCTION forgea_audit.checkpoint() IS
    'For an admin (a member of forgea_audit_admin, a superuser, the background worker): integrates every committed audit row into the Merkle tree, signs a note of its size and root (C2SP checkpoint; Ed25519, forgea_audit.signing_key_file), records it (merkle_checkpoint, a CHECKPOINT event), sends it out (NOTIFY forgea_audit_checkpoint, server log) and returns it; returns the newest note again, writing nothing, if nothing but that checkpoint''s own CHECKPOINT row was added since; waits for the integrator''s locks 5 s, or as long as the caller''s lock_timeout when it set one (a background worker 5 s at most), 55P03 after that. For a reader: the newest stored note as stored (NULL before the first), taking no lock and writing nothing.';
REVOKE ALL ON FUNCTION forgea_audit.checkpoint() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.checkpoint() TO forgea_audit_admin;

-------------------------------------------------------------------------------------------------
-- Transparency log (docs/transparency.md): an RFC 6962 Merkle tree whose leaves are the audit
-- rows' row_hash, in the order the integrator took them (merkle_integrate(), run by checkpoint()
-- and by the background worker).  A checkpoint is then a constant-size signed note (origin, tree
-- size, root); inclusion and consistency proofs read O(log n) stored nodes.  Written only by the
-- extension's own functions (the guards below).
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.merkle_leaf (
    leaf_index bigint PRIMARY KEY,            -- 0, 1, 2, ...: the leaf's position in the tree
    seq        bigint NOT NULL UNIQUE         -- the audit row (audit_log.seq) it is the row_hash of
);
COMMENT ON TABLE forgea_audit.merkle_leaf IS
    'One row per audit row integrated into the Merkle tree: its leaf index; written by forgea_audit.merkle_integrate() only.';
-- (leaf_index's primary key: verify_chain(checkpoint) reads the leaves in order; seq's unique
-- index: inclusion_proof(seq) and the integrator's anti-join "not yet a leaf".)
GRANT SELECT ON forgea_audit.merkle_leaf TO forgea_audit_reader;

-- The tree's hashes in tiles of 256 leaves' worth (C2SP tlog-tiles, height 8).  Tile (level, idx):
--   hashes:   the hashes of the level-8*level nodes [idx * 256, idx * 256 + width), 32 bytes each,
--             concatenated (width = octet_length(hashes) / 32): byte for byte the C2SP tile.  Level 0
--             tiles hold the leaf hashes, level 1 tiles the roots of complete 256-leaf blocks, ...;
--   interior: the nodes in between (levels 8*level + 1 .. + 7), 32 bytes each, in the order appends
--             complete them (core tile_position() says where each one is).
-- Both only grow at their end: a full tile is 256 wide with 254 interior nodes, the last tile of a
-- level is extended in place.  Every complete subtree is one stored hash, so a proof or a root reads
-- O(log n) hashes by primary key and computes none, and the integrator writes one row per 256
-- leaves instead of two per leaf.
CREATE TABLE forgea_audit.merkle_tile (
    level  smallint NOT NULL,
    idx    bigint   NOT NULL,
    hashes   bytea    NOT NULL,
    interior bytea    NOT NULL,
    PRIMARY KEY (level, idx),
    CONSTRAINT merkle_tile_width CHECK (octet_length(hashes) BETWEEN 32 AND 8192 AND octet_length(hashes) % 32 = 0),
    CONSTRAINT merkle_tile_interior CHECK (octet_length(interior) <= 8128 AND octet_length(interior) % 32 = 0)
);
-- SHA-256 output does not compress: store tiles out of line without trying, so that reading one
-- hash (substring) fetches one TOAST chunk.
ALTER TABLE forgea_audit.merkle_tile ALTER COLUMN hashes SET STORAGE EXTERNAL;
ALTER TABLE forgea_audit.merkle_tile ALTER COLUMN interior SET STORAGE EXTERNAL;
COMMENT ON TABLE forgea_audit.merkle_tile IS
    'The Merkle tree''s hashes as C2SP tlog-tiles of height 8 (levels 0, 8, 16, ...), by (level, idx); written by forgea_audit.merkle_integrate() only.';
GRANT SELECT ON forgea_audit.merkle_tile TO forgea_audit_reader;   -- hashes only: what proofs are made of

-- The integrator's state, one row: the tree's size, and the horizon below which every audit row
-- is a leaf (docs/transparency.md, "Which rows, in which order").
CREATE TABLE forgea_audit.merkle_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tree_size    bigint  NOT NULL DEFAULT 0,
    horizon_seq  bigint  NOT NULL DEFAULT 1,   -- every audit row with seq < horizon_seq is a leaf
    pending_seq  bigint,                        -- audit_log_seq's last value, read before ...
    pending_xmax xid8,                          -- ... the next xid to be assigned was read: once no older xid runs, every seq <= pending_seq is final
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE forgea_audit.merkle_state IS
    'The Merkle integrator''s size and horizon; one row, written by forgea_audit.merkle_integrate() only.';
GRANT SELECT ON forgea_audit.merkle_state TO forgea_audit_reader;

-- Every checkpoint made: its tree size, root and the note as returned (a few hundred bytes,
-- whatever the number of chains).  receipt() hands out the newest one that covers the row.
CREATE TABLE forgea_audit.merkle_checkpoint (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree_size bigint      NOT NULL,
    root      bytea       NOT NULL,
    note      text        NOT NULL,
    made_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE forgea_audit.merkle_checkpoint IS
    'Checkpoints made by forgea_audit.checkpoint(): tree size, root and the signed note.';
-- "The newest checkpoint covering leaf i": WHERE tree_size > i ORDER BY tree_size DESC LIMIT 1.
CREATE INDEX merkle_checkpoint_tree_size_idx ON forgea_audit.merkle_checkpoint (tree_size);
GRANT SELECT ON forgea_audit.merkle_checkpoint TO forgea_audit_reader;

-- The same guards as the chain tables: INSERT (and the state's UPDATE) by the extension's own
-- functions only; nothing is ever deleted.
CREATE TRIGGER merkle_leaf_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.merkle_leaf
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT');
ALTER TABLE forgea_audit.merkle_leaf ENABLE ALWAYS TRIGGER merkle_leaf_guard_rows;
CREATE TRIGGER merkle_leaf_guard_truncate BEFORE TRUNCATE ON forgea_audit.merkle_leaf
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.merkle_leaf ENABLE ALWAYS TRIGGER merkle_leaf_guard_truncate;
CREATE TRIGGER merkle_tile_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.merkle_tile
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT,UPDATE');
ALTER TABLE forgea_audit.merkle_tile ENABLE ALWAYS TRIGGER merkle_tile_guard_rows;
CREATE TRIGGER merkle_tile_guard_truncate BEFORE TRUNCATE ON forgea_audit.merkle_tile
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.merkle_tile ENABLE ALWAYS TRIGGER merkle_tile_guard_truncate;
CREATE TRIGGER merkle_state_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.merkle_state
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT,UPDATE');
ALTER TABLE forgea_audit.merkle_state ENABLE ALWAYS TRIGGER merkle_state_guard_rows;
CREATE TRIGGER merkle_state_guard_truncate BEFORE TRUNCATE ON forgea_audit.merkle_state
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.merkle_state ENABLE ALWAYS TRIGGER merkle_state_guard_truncate;
CREATE TRIGGER merkle_checkpoint_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.merkle_checkpoint
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT');
ALTER TABLE forgea_audit.merkle_checkpoint ENABLE ALWAYS TRIGGER merkle_checkpoint_guard_rows;
CREATE TRIGGER merkle_checkpoint_guard_truncate BEFORE TRUNCATE ON forgea_audit.merkle_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.merkle_checkpoint ENABLE ALWAYS TRIGGER merkle_checkpoint_guard_truncate;

-- Takes committed audit rows not yet in the tree (at most max_rows, NULL: all) and appends them as
-- leaves; returns how many.  checkpoint() calls it first; the background worker calls it every
-- forgea_audit.merkle_interval.  Needs READ COMMITTED (each statement must see what committed
-- before it).  The nodes it reads are looked up by key: seqscan off, as for the chain writers, and
-- jit off: with seqscan off a statement without a usable index costs 10^10, and the default jit = on
-- would then compile it on every call (about 8 ms a call; test/integration/merkle_proofs_no_jit.sh).
CREATE FUNCTION forgea_audit.merkle_integrate(max_rows bigint DEFAULT NULL) RETURNS bigint
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_merkle_integrate_0_3';
COMMENT ON FUNCTION forgea_audit.merkle_integrate(bigint) IS
    'Appends committed audit rows not yet in the Merkle tree as its next leaves (at most max_rows); returns how many.';
REVOKE ALL ON FUNCTION forgea_audit.merkle_integrate(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.merkle_integrate(bigint) TO forgea_audit_admin;

-- The RFC 6962 audit path of the row's leaf in the tree of tree_size leaves (tree_size: the size
-- of a checkpoint), leaf first.
CREATE FUNCTION forgea_audit.inclusion_proof(seq bigint, tree_size bigint)
    RETURNS TABLE (leaf_index bigint, proof bytea[])
    LANGUAGE c STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_inclusion_proof_0_3';
COMMENT ON FUNCTION forgea_audit.inclusion_proof(bigint, bigint) IS
    'RFC 6962 inclusion proof of audit row seq in the Merkle tree of tree_size leaves: its leaf index and the audit path.';
REVOKE ALL ON FUNCTION forgea_audit.inclusion_proof(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.inclusion_proof(bigint, bigint) TO forgea_audit_reader;

CREATE FUNCTION forgea_audit.consistency_proof(old_size bigint, new_size bigint) RETURNS bytea[]
    LANGUAGE c STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_consistency_proof_0_3';
COMMENT ON FUNCTION forgea_audit.consistency_proof(bigint, bigint) IS
    'RFC 6962 consistency proof that the Merkle tree of old_size leaves is a prefix of the tree of new_size leaves.';
REVOKE ALL ON FUNCTION forgea_audit.consistency_proof(bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.consistency_proof(bigint, bigint) TO forgea_audit_reader;

CREATE FUNCTION forgea_audit.merkle_root(tree_size bigint) RETURNS bytea
    LANGUAGE c STABLE STRICT
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_merkle_root_0_3';
COMMENT ON FUNCTION forgea_audit.merkle_root(bigint) IS
    'The RFC 6962 root of the first tree_size leaves of the Merkle tree, from O(log n) stored nodes.';
REVOKE ALL ON FUNCTION forgea_audit.merkle_root(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.merkle_root(bigint) TO forgea_audit_reader;

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
CREATE FUNCTION forgea_audit.receipt(attempt_id bigint) RETURNS jsonb
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
REVOKE ALL ON FUNCTION forgea_audit.receipt(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.receipt(bigint) TO forgea_audit_reader;

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

-- Incremental verification (docs/transparency.md, "Incremental verification"): how far
-- verify_increment() got.  One row: the tree size verified, the root of that many leaves and the
-- frontier (the hashes of range_nodes(0, tree_size), concatenated, largest subtree first) it was
-- recomputed from, all derived from audit_log.row_hash, not read from merkle_tile.  Written by
-- verify_increment() only, and only after a pass that found nothing wrong.
CREATE TABLE forgea_audit.merkle_verified (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    tree_size    bigint  NOT NULL DEFAULT 0,
    root         bytea   NOT NULL DEFAULT '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea,
    frontier     bytea   NOT NULL DEFAULT '\x'::bytea,
    rows_checked bigint  NOT NULL DEFAULT 0,     -- rows verified by all passes together
    verified_at  timestamptz
);
COMMENT ON TABLE forgea_audit.merkle_verified IS
    'How far forgea_audit.verify_increment() has verified the log: tree size, root and frontier; one row, written by verify_increment() only.';
GRANT SELECT ON forgea_audit.merkle_verified TO forgea_audit_reader;
CREATE TRIGGER merkle_verified_guard_rows BEFORE INSERT OR UPDATE OR DELETE ON forgea_audit.merkle_verified
    FOR EACH ROW EXECUTE FUNCTION forgea_audit.guard_write('INSERT,UPDATE');
ALTER TABLE forgea_audit.merkle_verified ENABLE ALWAYS TRIGGER merkle_verified_guard_rows;
CREATE TRIGGER merkle_verified_guard_truncate BEFORE TRUNCATE ON forgea_audit.merkle_verified
    FOR EACH STATEMENT EXECUTE FUNCTION forgea_audit.guard_write('');
ALTER TABLE forgea_audit.merkle_verified ENABLE ALWAYS TRIGGER merkle_verified_guard_truncate;
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.merkle_verified', '');

-- Integrates what has committed, then verifies only the leaves added since the verified point:
-- each new row's content, its link to the row before it in its chain, and the RFC 6962 root
-- recomputed from the point's frontier plus the new rows against every checkpoint in the range and
-- the stored tree.  On success moves the point; on failure returns ok = false and leaves it.  Cost:
-- the new rows (index lookups) and O(log n) nodes, not the whole log.  It cannot see a change to a
-- row verified before: verify_chain() (with a checkpoint kept outside) does.  Admins only: it
-- writes the point.  Needs READ COMMITTED (it integrates first).
CREATE FUNCTION forgea_audit.verify_increment()
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text, from_size bigint, to_size bigint)
    LANGUAGE c VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    SET enable_seqscan = off SET jit = off
    AS 'MODULE_PATHNAME', 'fa_verify_increment_0_3';
COMMENT ON FUNCTION forgea_audit.verify_increment() IS
    'Verifies the audit rows integrated into the Merkle tree since the last verified point (content, chain links, roots) and moves the point if all holds.';
REVOKE ALL ON FUNCTION forgea_audit.verify_increment() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.verify_increment() TO forgea_audit_admin;

-- checkpoint() is the readers' too (issue 13: the transparency log's SQL surface is granted to the
-- reader role).  A reader's call only reads the newest stored note: it takes no lock, so a reader
-- holding its transaction open never stalls the integrator, checkpoints or verification (issue 20).
GRANT EXECUTE ON FUNCTION forgea_audit.checkpoint() TO forgea_audit_reader;

-- The one function PUBLIC may call: the expression index on the platform's "LabSession"
-- (bind_lab_session_table) evaluates it whenever the application writes that table.  It reads a
-- URL strictly (docs/webhook.md, "Matching"): a fork URL it cannot read gives NULL, and matches no push.
-- Its results are stored in that index: a version that changes them must REINDEX it on upgrade.
CREATE FUNCTION forgea_audit.repo_key(url text) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_repo_key_0_3';
COMMENT ON FUNCTION forgea_audit.repo_key(text) IS
    'Matching key of a repository URL, read strictly (http/https/git/ssh URLs per RFC 3986, git@host:owner/repo, host/owner/repo): lower-case host/owner/repo; NULL for anything else.';
REVOKE ALL ON FUNCTION forgea_audit.repo_key(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.repo_key(text) TO PUBLIC;

CREATE FUNCTION forgea_audit.lab_session_table() RETURNS regclass
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_lab_session_table_regclass_0_3';
COMMENT ON FUNCTION forgea_audit.lab_session_table() IS
    'The table record_push works on: forgea_audit.lab_session_table, a schema-qualified name resolved without search_path (raises if it does not exist, is unqualified or is a temporary table).';
REVOKE ALL ON FUNCTION forgea_audit.lab_session_table() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.lab_session_table() TO forgea_audit_admin;

-- Binds record_push to the platform's table; run it once after the platform created "LabSession"
-- (the extension never creates that table).  record_push works on that table as the table's owner
-- (docs/security.md), and that role calls forgea_audit.repo_key(): it gets USAGE on the schema
-- (which lets it call repo_key, the one function PUBLIC may execute, and nothing else).  Then the
-- index that backs the fork lookup, created AS THE TABLE'S OWNER in a security-restricted operation
-- (src/push/session_binding.cpp): the extension's owner runs no DDL on a table it does not own.
-- An owner without CREATE on the table's schema is refused (42501) with the statement to run
-- itself.  An index already there is kept, without a notice.
CREATE FUNCTION forgea_audit.bind_lab_session_table() RETURNS text
    LANGUAGE c
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'fa_bind_lab_session_table_0_3';
COMMENT ON FUNCTION forgea_audit.bind_lab_session_table() IS
    'Grants the platform table''s owner USAGE on schema forgea_audit (record_push works on the table as that role) and creates, as that owner, the partial expression index that record_push''s fork-URL lookup uses; returns the index''s name.';
REVOKE ALL ON FUNCTION forgea_audit.bind_lab_session_table() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.bind_lab_session_table() TO forgea_audit_admin;

-- Forks that more than one active (IN_PROGRESS or STUCK) session points at, by repo_key().  A push
-- to such a fork goes to the most recently started of them, and its LAB_VERIFY_ATTEMPT audit row
-- says "active_sessions": n with severity MEDIUM; this lists every such fork with all its sessions,
-- newest first, so that an operator sees whose they are: it is how a student who pasted a
-- classmate's fork URL shows.  Sessions whose URL has no key match nothing and are not listed.
-- A function (the view below reads it): "LabSession" is the platform's table, found at run time.
-- It reads that table the way record_push does: as the table's owner, in a security-restricted
-- operation (src/push/session_binding.cpp), so code the owner attached to it (casts and
-- operators of its column types, policies, index expressions the planner loads) runs with the
-- owner's rights, never with a superuser's or an admin's (docs/security.md, case 1).  It reads
-- only built-in column types (text/varchar, status also an enum, timestamp/timestamptz) and
-- refuses others (42804) before reading anything.  Not SECURITY DEFINER: the caller needs SELECT
-- on the table (42501 otherwise, with the GRANT to run); it shows what the caller may read.
CREATE FUNCTION forgea_audit.find_shared_forks()
    RETURNS TABLE (repository_key text, active_sessions bigint, session_ids text[], user_ids text[],
                   fork_urls text[], newest_started_at timestamp)
    LANGUAGE c STABLE
    AS 'MODULE_PATHNAME', 'fa_find_shared_forks_0_3';
COMMENT ON FUNCTION forgea_audit.find_shared_forks() IS
    'Forks (repo_key) that more than one IN_PROGRESS/STUCK lab session points at, with every such session, newest first.';
REVOKE ALL ON FUNCTION forgea_audit.find_shared_forks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.find_shared_forks() TO forgea_audit_admin;

CREATE VIEW forgea_audit.shared_forks AS SELECT * FROM forgea_audit.find_shared_forks();
COMMENT ON VIEW forgea_audit.shared_forks IS
    'Forks matched by more than one active lab session (how a hijacked fork URL shows); see find_shared_forks().';
GRANT SELECT ON forgea_audit.shared_forks TO forgea_audit_admin;

CREATE FUNCTION forgea_audit.canonical_json(value jsonb) RETURNS text
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_canonical_json_0_3';
COMMENT ON FUNCTION forgea_audit.canonical_json(jsonb) IS
    'The canonical JSON text (docs/chain.md, section 3) the chain hashes for a jsonb value.';
REVOKE ALL ON FUNCTION forgea_audit.canonical_json(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.canonical_json(jsonb) TO forgea_audit_reader;

CREATE FUNCTION forgea_audit.canonical_row_json(row_value record) RETURNS text
    LANGUAGE c STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'fa_canonical_row_json_0_3';
COMMENT ON FUNCTION forgea_audit.canonical_row_json(record) IS
    'canonical_json(to_jsonb(row_value)), written straight from the row (faster; used by archive_batch). Depends on TimeZone and bytea_output as to_jsonb does.';
REVOKE ALL ON FUNCTION forgea_audit.canonical_row_json(record) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.canonical_row_json(record) TO forgea_audit_reader;

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

-------------------------------------------------------------------------------------------------
-- Retention: attempts older than forgea_audit.attempt_retention move to lab_attempt_archive in
-- batches.  Each batch deletes and inserts the same rows in one transaction and appends a
-- RETENTION_ARCHIVE audit event with their count, id range and digest, so the archive is chained
-- too.  Driven by the background worker (per-batch transactions) or by hand / pg_cron through
-- run_retention() (one transaction).  The audit log itself is never archived.
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.lab_attempt_archive (
    LIKE forgea_audit.lab_attempt INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    archived_at timestamptz NOT NULL DEFAULT now(),
    archive_seq bigint      NOT NULL,   -- the RETENTION_ARCHIVE audit event that moved the row
    PRIMARY KEY (id),
    UNIQUE (delivery_id)                -- an archived delivery is still a duplicate if redelivered
);
COMMENT ON TABLE forgea_audit.lab_attempt_archive IS
    'Attempts moved out of lab_attempt by retention; each row names the RETENTION_ARCHIVE audit event that moved it.';
-- (UNIQUE (delivery_id): record_push's duplicate check looks here too, after lab_attempt's.)
-- The session's archived attempts, newest first (lab_attempt_all).
CREATE INDEX lab_attempt_archive_session_recorded_idx ON forgea_audit.lab_attempt_archive (session_id, recorded_at DESC);
-- No commit_sha index here: no documented query looks archived attempts up by commit (README's
-- "who pushed this commit" reads lab_attempt), and it was the archiving's costliest index insert.
-- verify_archive(): the archive rows of one RETENTION_ARCHIVE event (GROUP BY / WHERE archive_seq).
-- BRIN, not a B-tree: archive_seq only grows, batch after batch, in the order the rows are appended
-- to the archive (nothing updates it; restores copy it in that order), so a block range's min/max
-- finds one event's rows; a B-tree cost every archived row an index insert and 67 bytes of WAL.
CREATE INDEX lab_attempt_archive_archive_seq_idx ON forgea_audit.lab_attempt_archive USING brin (archive_seq);
GRANT SELECT ON forgea_audit.lab_attempt_archive TO forgea_audit_reader;

-- Live and archived attempts together, for DBAs.
CREATE VIEW forgea_audit.lab_attempt_all AS
    SELECT a.*, false AS archived, NULL::timestamptz AS archived_at FROM forgea_audit.lab_attempt a
    UNION ALL
    SELECT a.id, a.session_id, a.delivery_id, a.commit_sha, a.before_sha, a.ref, a.base_ref, a.changed_paths,
           a.changed_files, a.commit_count, a.commits_truncated, a.files_truncated, a.created, a.deleted,
           a.forced, a.pusher_name, a.pusher_email, a.sender_login, a.sender_id, a.repository_id,
           a.repository_url, a.repository_full_name, a.repository_key, a.payload_sha256, a.delivery,
           a.pushed_at, a.recorded_at, true, a.archived_at
    FROM forgea_audit.lab_attempt_archive a;
COMMENT ON VIEW forgea_audit.lab_attempt_all IS 'Live and archived attempts; archived says which.';
GRANT SELECT ON forgea_audit.lab_attempt_all TO forgea_audit_reader;

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

-- One row per retention run, whoever drove it; the worker also records runs that failed.
CREATE TABLE forgea_audit.retention_run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    driver      text        NOT NULL,   -- 'worker', or the application_name of an SQL caller ('pg_cron', 'psql', ...)
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    cutoff      timestamptz,            -- attempts recorded before this were due
    archived    bigint      NOT NULL DEFAULT 0,
    batches     integer     NOT NULL DEFAULT 0,
    oldest_kept timestamptz,            -- the oldest live attempt after the run
    skipped     boolean     NOT NULL DEFAULT false,   -- another run held the retention lock
    error       text,
    lock_holder jsonb                   -- skipped: who held it then (retention_lock_holder())
);
-- (Its primary key on id: run_retention and the worker update their own run by id.)
GRANT SELECT ON forgea_audit.retention_run TO forgea_audit_reader;
REVOKE ALL ON SEQUENCE forgea_audit.retention_run_id_seq FROM PUBLIC;   -- the identity column's

CREATE VIEW forgea_audit.retention_status AS
    SELECT id, driver, started_at, finished_at, finished_at - started_at AS duration, cutoff, archived, batches,
           oldest_kept, skipped, error, lock_holder
    FROM forgea_audit.retention_run ORDER BY id DESC;
COMMENT ON VIEW forgea_audit.retention_status IS 'Retention runs, newest first: started, finished, archived, error.';
GRANT SELECT ON forgea_audit.retention_status TO forgea_audit_reader;

-- The retention lock: one row, no privileges for anyone but the extension's owner.  archive_batch()
-- locks it (FOR UPDATE SKIP LOCKED) for the rest of its transaction, so runs (worker, pg_cron, by
-- hand) take turns, and only the SECURITY DEFINER retention functions, the owner and superusers
-- can take it: an advisory lock, which any role that can connect may hold, no longer stops retention.
-- Its one row comes from this script (not dumped: CREATE EXTENSION makes it again on restore).
CREATE TABLE forgea_audit.retention_lock (
    id boolean PRIMARY KEY DEFAULT true CHECK (id)   -- exactly one row
);
COMMENT ON TABLE forgea_audit.retention_lock IS
    'One row; a retention run holds a row lock on it for its transaction (archive_batch). No privileges for anyone but the owner.';
REVOKE ALL ON forgea_audit.retention_lock FROM PUBLIC;
INSERT INTO forgea_audit.retention_lock DEFAULT VALUES;

-- Who holds the retention lock now, for a run that found it taken: the row's xmax is the locking
-- transaction, pg_locks names its backend, pg_stat_activity says who that is.  NULL when nobody
-- holds it (or the holder ended in between; or it is a multixact, which retention never makes).
CREATE FUNCTION forgea_audit.retention_lock_holder() RETURNS jsonb
    LANGUAGE sql VOLATILE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
SELECT pg_catalog.jsonb_build_object('pid', l.pid, 'usename', a.usename, 'application_name', a.application_name,
                                     'backend_type', a.backend_type, 'backend_start', a.backend_start,
                                     'xact_start', a.xact_start, 'query_start', a.query_start,
                                     'state', a.state, 'xid', r.xmax::text)
FROM forgea_audit.retention_lock r
JOIN pg_catalog.pg_locks l
  ON l.locktype = 'transactionid' AND l.transactionid = r.xmax AND l.mode = 'ExclusiveLock' AND l.granted
AND l.pid <> pg_catalog.pg_backend_pid()
LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
LIMIT 1
$$;
COMMENT ON FUNCTION forgea_audit.retention_lock_holder() IS
    'Who holds forgea_audit.retention_lock now (pid, usename, application_name, backend_start, query_start, ...), or NULL.';
REVOKE ALL ON FUNCTION forgea_audit.retention_lock_holder() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.retention_lock_holder() TO forgea_audit_admin;

CREATE FUNCTION forgea_audit.retention_settings(
    OUT attempt_retention interval, OUT archive_batch_size integer, OUT retention_interval interval,
    OUT worker_database text, OUT archive_batch_delay interval, OUT rejection_retention interval)
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'fa_retention_settings_0_3';
COMMENT ON FUNCTION forgea_audit.retention_settings() IS 'The retention settings in force, typed.';
REVOKE ALL ON FUNCTION forgea_audit.retention_settings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.retention_settings() TO forgea_audit_admin;

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
CREATE FUNCTION forgea_audit.archive_batch(cutoff timestamptz, batch_size integer,
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

CREATE FUNCTION forgea_audit.run_retention(as_of timestamptz DEFAULT now())
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
    rj      record;
    ndays   integer := 0;
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
    -- webhook_rejection: whole days older than rejection_retention summed, one day at a time.
    IF NOT was_skipped THEN
        LOOP
            SELECT * INTO rj FROM forgea_audit.rollup_rejections(as_of - s.rejection_retention);
            EXIT WHEN rj.skipped OR rj.days = 0;
            ndays := ndays + 1;
            PERFORM forgea_audit.report_progress(pg_catalog.format('run_retention (retention_run %s): %s days of rejected deliveries summed',
                                                                   run, ndays));
        END LOOP;
    END IF;
    PERFORM forgea_audit.report_progress(NULL);

    UPDATE forgea_audit.retention_run r
    SET finished_at = pg_catalog.clock_timestamp(), archived = total, batches = nb, skipped = was_skipped,
        oldest_kept = (SELECT pg_catalog.min(a.recorded_at) FROM forgea_audit.lab_attempt a),
        lock_holder = CASE WHEN was_skipped THEN forgea_audit.retention_lock_holder() END
    WHERE r.id = run;
    RETURN QUERY SELECT r.archived, r.batches, r.oldest_kept, r.cutoff, r.skipped, r.id
                 FROM forgea_audit.retention_run r WHERE r.id = run;
END
$$;
COMMENT ON FUNCTION forgea_audit.run_retention(timestamptz) IS
    'Archives attempts recorded before as_of - forgea_audit.attempt_retention, in batches, in one transaction (for pg_cron or by hand).';
REVOKE ALL ON FUNCTION forgea_audit.run_retention(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.run_retention(timestamptz) TO forgea_audit_admin;

-- Every RETENTION_ARCHIVE event against the archive rows it names, and every
-- WEBHOOK_REJECTIONS_ROLLED_UP event against webhook_rejection_daily: the minute rows a roll-up
-- replaced are gone (its rows_sha256 cannot be recomputed), but its per-reason totals are in the
-- chained event, so each day and reason's deliveries and bytes must be the sum of that day's
-- events, its minute_rows the day's (per day: the events give them per day only), and rollup_seq
-- the last event that summed that reason.  batches_checked counts the archive batches.
CREATE FUNCTION forgea_audit.verify_archive()
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
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'fa_report_progress_0_3';
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
-- "unrecognized configuration parameter".  Runs as the caller: the value of a superuser-only
-- setting (signing_key_file: where the private key is) stays hidden from others, as in pg_settings,
-- but its row is listed, with NULLs and a description saying why, so every role sees every name.
-- (A new GUC_SUPERUSER_ONLY setting goes into the VALUES list; test/pgtap/role_surface.sql checks
-- that every role gets the superuser's names.)
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
        FROM pg_catalog.pg_settings s WHERE s.name LIKE 'forgea\_audit.%'
        UNION ALL
        SELECT h.name, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::boolean,
               'Hidden from this role: superuser-only (the signing key''s path), as pg_settings hides it; '
               'superusers and members of pg_read_all_settings see it.'
        FROM (VALUES ('forgea_audit.signing_key_file'::text)) h(name)
        WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_settings s WHERE s.name = h.name)
        ORDER BY 1;
END
$$;
COMMENT ON FUNCTION forgea_audit.settings() IS
    'Every forgea_audit.* setting (value, unit, who may set it, default, where it was set); loads the library so that pg_settings lists them, preloaded or not.';
REVOKE ALL ON FUNCTION forgea_audit.settings() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.settings() TO forgea_audit_writer, forgea_audit_reader, forgea_audit_admin;

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
--     row each, at most 20 per minute); only the first few of a minute/reason/shard also get their
--     own audit row: shard s's share of forgea_audit.rejected_audit_per_minute (n) is n / 4, plus
--     one for shards below n % 4, so the four shares add up to exactly n and the cap holds however
--     many receivers call at once (each shard's counter row serialises its own callers).  The rest
--     are counted there (deliveries, bytes), and reject_delivery returns NULL for them.  The
--     counter's row lock is held for the call's transaction only, in the same shard as the chain
--     head it appends to.
--   * The cap is read after the library is loaded: before, a session's SET of the superuser-only
--     setting is a placeholder any role may set (PostgreSQL discards it when the library loads).
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

-- Records one rejected delivery; returns the audit row's seq, or NULL when this minute's audit
-- rows for the reason (and shard) are used up and the delivery was only counted.
CREATE FUNCTION forgea_audit.reject_delivery(reason text, delivery_id text, body_sha256 bytea, body_bytes bigint,
                                             sqlstate text DEFAULT NULL, json_path text DEFAULT NULL,
                                             headers jsonb DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    shards  constant integer := 4;
    id_cap  constant integer := 200;
    per_minute integer;
    quota   integer;
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

    -- Any C function loads the library, which defines the setting and drops a placeholder value
    -- that a role other than a superuser SET before; only then is the setting read.
    PERFORM forgea_audit.repo_key('https://github.com/forgea/load-library');
    per_minute := pg_catalog.current_setting('forgea_audit.rejected_audit_per_minute')::integer;

    INSERT INTO forgea_audit.webhook_rejection AS w (minute, reason, shard, deliveries, bytes)
    VALUES (pg_catalog.date_trunc('minute', pg_catalog.now()), reason, shard, 1, body_bytes)
    ON CONFLICT ON CONSTRAINT webhook_rejection_pkey
        DO UPDATE SET deliveries = w.deliveries + 1, bytes = w.bytes + excluded.bytes
    RETURNING w.deliveries INTO counted;
    -- This shard's share: the four add up to per_minute exactly.
    quota := per_minute / shards + (shard < per_minute % shards)::integer;
    IF counted > quota THEN
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

-------------------------------------------------------------------------------------------------
-- webhook_rejection's retention.  Rejected deliveries are evidence (a flood of forged signatures
-- is an incident; a misrouted hook is a finding), so their counts are never deleted: after
-- forgea_audit.rejection_retention (default 90 days) each whole UTC day of minute rows is summed
-- into one webhook_rejection_daily row per reason, and a WEBHOOK_REJECTIONS_ROLLED_UP audit event
-- on chain 'retention' records the day, the per-reason totals and a digest of the minute rows it
-- replaced, so the summary is chained like the archive.  webhook_rejection then holds at most
-- rejection_retention of minutes (20 rows a minute at most), webhook_rejection_daily 5 rows a day.
-- The WEBHOOK_DELIVERY_REJECTED audit rows themselves stay in audit_log, like every audit row.
-------------------------------------------------------------------------------------------------
CREATE TABLE forgea_audit.webhook_rejection_daily (
    day         date    NOT NULL,   -- the UTC day whose minutes are summed here
    reason      text    NOT NULL,   -- as in webhook_rejection
    deliveries  bigint  NOT NULL,   -- rejected deliveries that day (audited or not)
    bytes       bigint  NOT NULL,   -- their bodies' total size
    minute_rows integer NOT NULL,   -- webhook_rejection rows summed (minutes x shards)
    rollup_seq  bigint  NOT NULL,   -- the WEBHOOK_REJECTIONS_ROLLED_UP audit event that summed them
    PRIMARY KEY (day, reason)
);
COMMENT ON TABLE forgea_audit.webhook_rejection_daily IS
    'Rejected webhook deliveries per UTC day and reason, summed from webhook_rejection by retention after forgea_audit.rejection_retention; rollup_seq names the audit event.';
REVOKE ALL ON forgea_audit.webhook_rejection_daily FROM PUBLIC;
GRANT SELECT ON forgea_audit.webhook_rejection_daily TO forgea_audit_reader;

-- One day, in the caller's transaction: the oldest UTC day of webhook_rejection before cutoff's
-- day (only whole days: the rows of a day are summed once), summed per reason into
-- webhook_rejection_daily with its audit event.  Takes the retention lock like archive_batch()
-- (skipped if another run holds it).  Returns days = 0 when no day is due.
CREATE FUNCTION forgea_audit.rollup_rejections(cutoff timestamptz)
    RETURNS TABLE (days integer, rolled_up_day date, rows_summed bigint, audit_seq bigint, skipped boolean)
    LANGUAGE plpgsql
    SET TimeZone = 'UTC'          -- days are UTC days, and the digest uses to_jsonb() of timestamps
    SET lock_timeout = '5s'
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    first_day timestamptz;
    r record;
BEGIN
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'rollup_rejections: cutoff must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM 1 FROM forgea_audit.retention_lock FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 0, NULL::date, 0::bigint, NULL::bigint, true;
        RETURN;
    END IF;
    SELECT pg_catalog.date_trunc('day', pg_catalog.min(w.minute)) INTO first_day
    FROM forgea_audit.webhook_rejection w WHERE w.minute < pg_catalog.date_trunc('day', cutoff);
    IF first_day IS NULL THEN
        RETURN QUERY SELECT 0, NULL::date, 0::bigint, NULL::bigint, false;
        RETURN;
    END IF;

    WITH gone AS (
        DELETE FROM forgea_audit.webhook_rejection w
        WHERE w.minute >= first_day AND w.minute < first_day + interval '1 day'
        RETURNING w.*
    ), per_reason AS (
        SELECT g.reason, pg_catalog.sum(g.deliveries)::bigint AS deliveries, pg_catalog.sum(g.bytes)::bigint AS bytes,
               pg_catalog.count(*)::integer AS n
        FROM gone g GROUP BY g.reason
    ), summary AS (
        SELECT pg_catalog.count(*) AS n,
               pg_catalog.sha256(pg_catalog.convert_to(
                   pg_catalog.string_agg(forgea_audit.canonical_row_json(g), E'\n' ORDER BY g.minute, g.reason, g.shard),
                   'UTF8')) AS digest
        FROM gone g
    ), event AS (
        SELECT forgea_audit.append_system(
                   action => 'WEBHOOK_REJECTIONS_ROLLED_UP', actor_type => 'system', actor_id => 'forgea_audit.retention',
                   target_type => 'webhook_rejection_daily', target_id => pg_catalog.to_char(first_day, 'YYYY-MM-DD'),
                   chain => 'retention',
                   metadata => pg_catalog.jsonb_build_object(
                       'day', first_day::date, 'minute_rows', s.n, 'cutoff', cutoff,
                       'deliveries', (SELECT pg_catalog.jsonb_object_agg(p.reason, p.deliveries) FROM per_reason p),
                       'bytes', (SELECT pg_catalog.jsonb_object_agg(p.reason, p.bytes) FROM per_reason p),
                       'rows_sha256', pg_catalog.encode(s.digest, 'hex'),
                       'digest', 'sha256 of canonical_json(to_jsonb(row)) of the summed webhook_rejection rows, ordered by minute, reason, shard, joined by newlines, TimeZone UTC')) AS seq
        FROM summary s
    ), stored AS (
        INSERT INTO forgea_audit.webhook_rejection_daily AS d (day, reason, deliveries, bytes, minute_rows, rollup_seq)
        SELECT first_day::date, p.reason, p.deliveries, p.bytes, p.n, e.seq FROM per_reason p CROSS JOIN event e
        ON CONFLICT ON CONSTRAINT webhook_rejection_daily_pkey DO UPDATE
            SET deliveries = d.deliveries + excluded.deliveries, bytes = d.bytes + excluded.bytes,
                minute_rows = d.minute_rows + excluded.minute_rows, rollup_seq = excluded.rollup_seq
    )
    SELECT s.n, e.seq INTO r FROM summary s CROSS JOIN event e;
    RETURN QUERY SELECT 1, first_day::date, r.n, r.seq, false;
END
$$;
COMMENT ON FUNCTION forgea_audit.rollup_rejections(timestamptz) IS
    'Sums the oldest whole UTC day of webhook_rejection before cutoff''s day into webhook_rejection_daily, with a WEBHOOK_REJECTIONS_ROLLED_UP audit event; days = 0 when none is due.';
REVOKE ALL ON FUNCTION forgea_audit.rollup_rejections(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION forgea_audit.rollup_rejections(timestamptz) TO forgea_audit_admin;

-------------------------------------------------------------------------------------------------
-- pg_dump: the extension's tables hold data, not configuration, so without this a dump would
-- restore an empty log.  A plain restore by a superuser (pg_restore, psql < dump.sql) brings
-- every row back: the guards accept a superuser's INSERT into audit_log and chain_head when the
-- row verifies where it lands (its own row_hash, its link to the row before it in its chain; a
-- head naming its chain's last row), and refuse the whole COPY otherwise.  audit_log is dumped in
-- seq order (the condition below is pasted after FROM in pg_dump's COPY (SELECT ...)), so every
-- row's predecessor in its chain, and its parent_seq, is restored before it; pg_dump restores
-- audit_log before chain_head.  The self-referencing foreign key parent_seq makes pg_dump warn
-- "there are circular foreign-key constraints on this table: audit_log": harmless here (docs/security.md).
-------------------------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.lab_attempt', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.lab_attempt_archive', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.audit_log', 'ORDER BY seq');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.audit_log_seq', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.chain_head', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.retention_run', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('forgea_audit.lab_attempt', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('forgea_audit.retention_run', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.reader_tenant', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.merkle_leaf', 'ORDER BY leaf_index');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.merkle_tile', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.merkle_state', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.merkle_checkpoint', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('forgea_audit.merkle_checkpoint', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.webhook_rejection', '');
SELECT pg_catalog.pg_extension_config_dump('forgea_audit.webhook_rejection_daily', '');

-------------------------------------------------------------------------------------------------
-- DDL guard.  ALTER / DROP / DISABLE on the extension's tables, triggers and functions is refused
-- to everyone but superusers; a superuser doing it anyway leaves an AUDIT_DDL event (HIGH) in the
-- log.  (Event triggers cannot see ALTER/DROP EVENT TRIGGER: checkpoints catch what follows that.)
-------------------------------------------------------------------------------------------------
-- Ends the session of a restore that switches the guards off (called by guard_ddl only).
CREATE FUNCTION forgea_audit.end_unchecked_restore(target text, verb text) RETURNS void
    LANGUAGE c AS 'MODULE_PATHNAME', 'fa_end_unchecked_restore_0_3';
COMMENT ON FUNCTION forgea_audit.end_unchecked_restore(text, text) IS
    'Called by the DDL guard on ALTER TABLE ... DISABLE/ENABLE TRIGGER on the extension''s tables while the log has no row (pg_restore --disable-triggers): refuses it and ends the session, so that nothing of that restore is written unchecked.';
REVOKE ALL ON FUNCTION forgea_audit.end_unchecked_restore(text, text) FROM PUBLIC;

CREATE FUNCTION forgea_audit.guard_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    objs     jsonb;
    obj      record;
    is_super boolean := coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = SESSION_USER), false);
BEGIN
    -- Dropping the extension (or its schema) takes the log with it: nothing is left to write to.
    IF TG_TAG IN ('DROP EXTENSION', 'ALTER EXTENSION', 'DROP SCHEMA') THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        SELECT coalesce(jsonb_agg(jsonb_build_object('type', d.object_type, 'identity', d.object_identity)), '[]')
        INTO objs
        FROM pg_event_trigger_dropped_objects() d
        WHERE NOT d.is_temporary
          AND (d.schema_name = 'forgea_audit' OR d.object_identity LIKE '% on forgea_audit.%');
    ELSE
        SELECT coalesce(jsonb_agg(jsonb_build_object('type', c.object_type, 'identity', c.object_identity)), '[]')
        INTO objs
        FROM pg_event_trigger_ddl_commands() c
        WHERE NOT c.in_extension
          AND (c.schema_name = 'forgea_audit' OR c.object_identity LIKE '% on forgea_audit.%');
    END IF;

    FOR obj IN SELECT * FROM jsonb_to_recordset(objs) AS x(type text, identity text) LOOP
        IF NOT is_super THEN
            RAISE EXCEPTION '% on % is refused: forgea_audit''s objects are changed only by superusers', TG_TAG, obj.identity
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'The audit log''s guards stay as installed; a superuser may change them, and that is audited.';
        END IF;
        -- A restore that switches the guards off (pg_restore --data-only --disable-triggers, as
        -- pg_dump's warning suggests): on a log with no row yet, DISABLE/ENABLE TRIGGER on the
        -- extension's tables can only be meant to load rows unchecked (and this event's own
        -- AUDIT_DDL row would take the first restored row's seq).  Refused, and the session ended,
        -- before anything is written (docs/chain.md, "Dump and restore").
        IF TG_TAG = 'ALTER TABLE' AND obj.type = 'table'
           AND current_query() ~* '\m(DISABLE|ENABLE)\s+(ALWAYS\s+|REPLICA\s+)?TRIGGER\M'
           AND NOT EXISTS (SELECT 1 FROM forgea_audit.audit_log) THEN
            PERFORM forgea_audit.end_unchecked_restore(
                obj.identity, upper(substring(current_query() FROM '(?i)\m(DISABLE|ENABLE)\M')));
        END IF;
        PERFORM forgea_audit.append_system(
            action => 'AUDIT_DDL', actor_type => 'database_role', actor_id => SESSION_USER::text,
            target_type => obj.type, target_id => obj.identity, chain => 'ddl',
            outcome => 'success', severity => 'HIGH',
            metadata => jsonb_build_object('command_tag', TG_TAG, 'query', left(current_query(), 2000)));
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION forgea_audit.guard_ddl() FROM PUBLIC;
CREATE EVENT TRIGGER forgea_audit_guard_ddl ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER', 'CREATE TRIGGER', 'ALTER FUNCTION', 'CREATE POLICY', 'ALTER POLICY',
                 'CREATE RULE', 'ALTER SEQUENCE', 'ALTER INDEX', 'CREATE INDEX', 'ALTER VIEW', 'CREATE VIEW',
                 'CREATE FUNCTION', 'COMMENT')
    EXECUTE FUNCTION forgea_audit.guard_ddl();
-- Like the row guards: session_replication_role = replica must not switch them off.
ALTER EVENT TRIGGER forgea_audit_guard_ddl ENABLE ALWAYS;
CREATE EVENT TRIGGER forgea_audit_guard_drop ON sql_drop
    EXECUTE FUNCTION forgea_audit.guard_ddl();
ALTER EVENT TRIGGER forgea_audit_guard_drop ENABLE ALWAYS;

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

-------------------------------------------------------------------------------------------------
-- Bound at creation when the platform's table is already there (the usual order: its migrations
-- first): the fork lookup's index exists from the first push on, without the optional
-- bind_lab_session_table() step.  Without the table (or with one that lacks the columns), nothing
-- happens here and bind_lab_session_table() does it later.
-------------------------------------------------------------------------------------------------
DO $$
BEGIN
    PERFORM forgea_audit.bind_lab_session_table();
EXCEPTION
    WHEN undefined_table OR invalid_parameter_value OR wrong_object_type OR undefined_column
         OR undefined_object THEN
        RAISE NOTICE 'forgea_audit: % (run SELECT forgea_audit.bind_lab_session_table(); once the table exists)',
            SQLERRM;
    -- The table's owner may not create the index (bind_lab_session_table() builds it as that role).
    -- A WARNING: CREATE EXTENSION runs its script with client_min_messages = warning at least, so a
    -- NOTICE would never be seen, and record_push then reads the whole table on every push.
    WHEN insufficient_privilege THEN
        DECLARE
            hint text;
        BEGIN
            GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
            RAISE WARNING 'forgea_audit: % (the fork lookup has no index yet)', SQLERRM USING HINT = hint;
        END;
END
$$;
