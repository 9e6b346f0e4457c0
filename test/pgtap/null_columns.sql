-- Issue 20's crashers, by name: a superuser's INSERT or COPY into the chain tables whose row
-- lacks a value the restore check reads.  Before src/pg/datum_read.hpp each of these killed the
-- server process (SIGSEGV in the BEFORE trigger, which runs before PostgreSQL's NOT NULL check):
--     INSERT INTO forgea_audit.audit_log (action) VALUES ('forged');
--     INSERT INTO forgea_audit.audit_log DEFAULT VALUES;
--     COPY forgea_audit.audit_log FROM ... with \N fields (and the same into chain_head),
-- also with session_replication_role = replica.  Now each is refused with 23502 naming the
-- column, and writes nothing; every NOT NULL column the chain encodes is tried on its own.
-- test/integration/catalog_sweep.sh aims the same and much more at every object of the extension.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

BEGIN;
SELECT plan(40);

-- Some rows to copy from, and to count.
SELECT forgea_audit.append('NULL_TEST', 'user', 'u1', 'thing', 't' || i, metadata => jsonb_build_object('i', i))
FROM generate_series(1, 3) i;
SELECT forgea_audit.checkpoint() IS NOT NULL AS checkpointed;

CREATE FUNCTION pg_temp.counts() RETURNS text LANGUAGE sql AS $$
    SELECT format('audit_log %s, chain_head %s, merkle_leaf %s, merkle_tile %s',
                  (SELECT count(*) FROM forgea_audit.audit_log), (SELECT count(*) FROM forgea_audit.chain_head),
                  (SELECT count(*) FROM forgea_audit.merkle_leaf), (SELECT count(*) FROM forgea_audit.merkle_tile))
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.counts() AS counts;

-- The statements of the issue, as superuser.
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log (action) VALUES ('forged')$$,
                 '23502', 'null value in column "seq" of forgea_audit.audit_log',
                 'INSERT INTO audit_log (action) VALUES (''forged''): refused with 23502 naming seq, not a crash');
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log DEFAULT VALUES$$,
                 '23502', 'null value in column "seq" of forgea_audit.audit_log',
                 'INSERT INTO audit_log DEFAULT VALUES: 23502');
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log SELECT (NULL::forgea_audit.audit_log).*$$,
                 '23502', 'null value in column "seq" of forgea_audit.audit_log',
                 'INSERT of a row of NULLs into audit_log: 23502');

-- COPY with \N fields: the files are written by the server, in its data directory.
SELECT current_setting('data_directory') || '/fa_null_columns_' AS copy_prefix \gset
CREATE TEMP TABLE copy_file AS SELECT :'copy_prefix' || 'audit_log.copy' AS audit_log,
                                      :'copy_prefix' || 'chain_head.copy' AS chain_head,
                                      :'copy_prefix' || 'metadata.copy' AS metadata;
DO $$ BEGIN
    EXECUTE format('COPY (SELECT (NULL::forgea_audit.audit_log).*) TO %L', (SELECT audit_log FROM copy_file));
    EXECUTE format('COPY (SELECT (NULL::forgea_audit.chain_head).*) TO %L', (SELECT chain_head FROM copy_file));
    EXECUTE format('COPY (SELECT (jsonb_populate_record(a, ''{"metadata": null}'')).* FROM forgea_audit.audit_log a
                          ORDER BY seq DESC LIMIT 1) TO %L', (SELECT metadata FROM copy_file));
END $$;
SELECT throws_ok(format('COPY forgea_audit.audit_log FROM %L', audit_log),
                 '23502', 'null value in column "seq" of forgea_audit.audit_log',
                 'COPY audit_log FROM a line of \N: 23502') FROM copy_file;
SELECT throws_ok(format('COPY forgea_audit.chain_head FROM %L', chain_head),
                 '23502', 'null value in column "chain_id" of forgea_audit.chain_head',
                 'COPY chain_head FROM a line of \N: 23502 naming chain_id') FROM copy_file;
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head DEFAULT VALUES$$,
                 '23502', 'null value in column "chain_id" of forgea_audit.chain_head',
                 'INSERT INTO chain_head DEFAULT VALUES: 23502');
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head (chain_id, length, last_seq, last_hash, updated_at)
                   VALUES (NULL, NULL, NULL, NULL, NULL)$$,
                 '23502', 'null value in column "chain_id" of forgea_audit.chain_head',
                 'INSERT of NULLs into chain_head: 23502');
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head (chain_id, length) VALUES ('x', NULL)$$,
                 '23502', 'null value in column "length" of forgea_audit.chain_head',
                 'INSERT into chain_head with length NULL: 23502 naming it');
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head (chain_id, last_hash) VALUES ('x', NULL)$$,
                 '23502', 'null value in column "last_hash" of forgea_audit.chain_head',
                 'INSERT into chain_head with last_hash NULL (and last_seq, which may be): 23502 naming last_hash');
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head (chain_id, last_seq, last_hash) VALUES ('x', 1, NULL)$$,
                 '23502', 'null value in column "last_hash" of forgea_audit.chain_head',
                 'INSERT into chain_head with last_hash NULL: 23502 naming it');
SELECT throws_ok($$INSERT INTO forgea_audit.merkle_leaf DEFAULT VALUES$$,
                 '23502', 'null value in column "leaf_index" of forgea_audit.merkle_leaf',
                 'INSERT INTO merkle_leaf DEFAULT VALUES: 23502');
SELECT throws_ok($$INSERT INTO forgea_audit.merkle_leaf (leaf_index, seq) VALUES (1000, NULL)$$,
                 '23502', 'null value in column "seq" of forgea_audit.merkle_leaf',
                 'INSERT INTO merkle_leaf with seq NULL: 23502');

-- Each NOT NULL column the chain encodes, NULL on its own in an otherwise real row (the newest).
SELECT throws_ok(format($$INSERT INTO forgea_audit.audit_log
                          SELECT (jsonb_populate_record(a, jsonb_build_object(%L, NULL))).*
                          FROM forgea_audit.audit_log a ORDER BY seq DESC LIMIT 1$$, col),
                 '23502', format('null value in column "%s" of forgea_audit.audit_log', col),
                 format('INSERT of a real row with %s NULL: 23502 naming it', col))
FROM unnest(ARRAY['seq', 'chain_id', 'chain_pos', 'prev_hash', 'created_at', 'actor_type', 'action', 'outcome',
                  'severity', 'metadata', 'row_hash', 'hash_version']) col;
SELECT throws_ok(format('COPY forgea_audit.audit_log FROM %L', metadata),
                 '23502', 'null value in column "metadata" of forgea_audit.audit_log',
                 'COPY of a real row with metadata \N: 23502 naming it') FROM copy_file;

-- The same under session_replication_role = replica (the guards are ENABLE ALWAYS).
SET session_replication_role = replica;
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log (action) VALUES ('forged')$$,
                 '23502', 'null value in column "seq" of forgea_audit.audit_log',
                 'replica: INSERT INTO audit_log (action) VALUES (''forged''): 23502');
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log DEFAULT VALUES$$, '23502', NULL,
                 'replica: INSERT INTO audit_log DEFAULT VALUES: 23502');
SELECT throws_ok(format('COPY forgea_audit.audit_log FROM %L', audit_log), '23502', NULL,
                 'replica: COPY audit_log FROM a line of \N: 23502') FROM copy_file;
SELECT throws_ok(format('COPY forgea_audit.chain_head FROM %L', chain_head), '23502', NULL,
                 'replica: COPY chain_head FROM a line of \N: 23502') FROM copy_file;
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head DEFAULT VALUES$$, '23502', NULL,
                 'replica: INSERT INTO chain_head DEFAULT VALUES: 23502');
SELECT throws_ok(format('COPY forgea_audit.audit_log FROM %L', metadata), '23502', NULL,
                 'replica: COPY of a real row with metadata \N: 23502') FROM copy_file;
SELECT throws_ok(format($$INSERT INTO forgea_audit.audit_log
                          SELECT (jsonb_populate_record(a, jsonb_build_object(%L, NULL))).*
                          FROM forgea_audit.audit_log a ORDER BY seq DESC LIMIT 1$$, col),
                 '23502', format('null value in column "%s" of forgea_audit.audit_log', col),
                 format('replica: INSERT of a real row with %s NULL: 23502', col))
FROM unnest(ARRAY['prev_hash', 'metadata', 'row_hash']) col;
RESET session_replication_role;

-- Not the superuser: the direct write is refused before any column is read (42501), as before.
CREATE ROLE fa_null_columns_writer;
GRANT forgea_audit_writer TO fa_null_columns_writer;
GRANT INSERT ON forgea_audit.audit_log, forgea_audit.chain_head TO fa_null_columns_writer;
SET ROLE fa_null_columns_writer;
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log (action) VALUES ('forged')$$, '42501', NULL,
                 'a role with INSERT on audit_log: INSERT (action) VALUES (''forged'') is 42501');
SELECT throws_ok($$INSERT INTO forgea_audit.chain_head DEFAULT VALUES$$, '42501', NULL,
                 'a role with INSERT on chain_head: DEFAULT VALUES is 42501');
RESET ROLE;

-- A complete row passes the NULL checks and the restore check (the newest row, re-inserted as it
-- is, verifies where it would land) and is then refused by the primary key.
SELECT throws_ok($$INSERT INTO forgea_audit.audit_log SELECT * FROM forgea_audit.audit_log ORDER BY seq DESC LIMIT 1$$,
                 '23505', NULL, 'a complete row passes the restore check and meets the primary key (23505)');

-- Nothing was written.
SELECT is(pg_temp.counts(), (SELECT counts FROM before), 'no refused statement wrote a row');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() is ok');
SELECT is((SELECT ok FROM forgea_audit.verify_increment()), true, 'verify_increment() is ok');

SELECT * FROM finish();
ROLLBACK;
