-- verify_increment()'s catch-up hashes aligned runs of 16 leaves two at a time (append_run in
-- src/chain/chain_verify_increment.cpp: mk::hash_subtree, as verify_chain()'s Merkle walk) and the
-- other leaves one by one; each leaf's node and every node its append completes are compared with
-- merkle_tile either way.  A catch-up from size 0 (merkle_verified put back, guards off, rolled
-- back) over 100 leaves (runs 0-15 ... 80-95, then 96-99 one by one) with a byte of one leaf hash
-- in the level-0 tile changed must name that leaf and its row: leaf 5 (the 6th of the first run),
-- leaf 21 (the 6th of the second), leaf 98 (after the runs).  A run that skips the comparison of
-- its 6th leaf passes the first two unseen (seen: the higher nodes come from the rows, not from the
-- tile's leaf hashes).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(5);

SELECT count(forgea_audit.append('RUNS', chain => 'runs:' || (n % 3), metadata => jsonb_build_object('n', n)))
FROM generate_series(1, 100) n;
SELECT forgea_audit.merkle_integrate() > 0 AS integrated;
SELECT seq AS seq5 FROM forgea_audit.merkle_leaf WHERE leaf_index = 5 \gset
SELECT seq AS seq21 FROM forgea_audit.merkle_leaf WHERE leaf_index = 21 \gset
SELECT seq AS seq98 FROM forgea_audit.merkle_leaf WHERE leaf_index = 98 \gset

CREATE TEMP TABLE caught (what text PRIMARY KEY, ok boolean, rows_checked bigint, bad bigint, detail text);
-- A catch-up from 0 after sql (guards off), rolled back.
CREATE FUNCTION pg_temp.from_zero(what text, sql text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE r record;
BEGIN
    BEGIN
        ALTER TABLE forgea_audit.merkle_verified DISABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_tile DISABLE TRIGGER USER;
        UPDATE forgea_audit.merkle_verified SET tree_size = 0, frontier = '\x',
            root = '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
        EXECUTE sql;
        SELECT * INTO r FROM forgea_audit.verify_increment();
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO caught VALUES (what, r.ok, r.rows_checked, r.first_bad_seq, r.detail);
END
$$;
-- Byte 3 of leaf i's hash in the level-0 tile.
CREATE FUNCTION pg_temp.leaf_byte(i int) RETURNS text LANGUAGE sql AS
$$ SELECT format('UPDATE forgea_audit.merkle_tile SET hashes = set_byte(hashes, %s, (get_byte(hashes, %s) + 1) %% 256)
                  WHERE level = 0 AND idx = 0', i * 32 + 3, i * 32 + 3) $$;
SELECT pg_temp.from_zero('nothing', 'SELECT 1');
SELECT pg_temp.from_zero('leaf 5', pg_temp.leaf_byte(5));
SELECT pg_temp.from_zero('leaf 21', pg_temp.leaf_byte(21));
SELECT pg_temp.from_zero('leaf 98', pg_temp.leaf_byte(98));

SELECT is((SELECT ARRAY[ok::text, (rows_checked >= 100)::text] FROM caught WHERE what = 'nothing'), ARRAY['true', 'true'],
          'a catch-up from 0 over the untouched tree: ok, every leaf checked');
SELECT is((SELECT ARRAY[ok::text, bad::text, (detail ~ 'hash of leaf 5 is not the leaf hash')::text] FROM caught WHERE what = 'leaf 5'),
          ARRAY['false', :'seq5', 'true'], 'leaf 5''s hash changed in its tile (inside the first run): named, with its row');
SELECT is((SELECT ARRAY[ok::text, bad::text, (detail ~ 'hash of leaf 21 is not the leaf hash')::text] FROM caught WHERE what = 'leaf 21'),
          ARRAY['false', :'seq21', 'true'], 'leaf 21''s hash changed (inside the second run): named, with its row');
SELECT is((SELECT ARRAY[ok::text, bad::text, (detail ~ 'hash of leaf 98 is not the leaf hash')::text] FROM caught WHERE what = 'leaf 98'),
          ARRAY['false', :'seq98', 'true'], 'leaf 98''s hash changed (after the runs, one by one): named, with its row');
SELECT is((SELECT ok FROM forgea_audit.verify_increment()), true, 'the untouched log verifies');

SELECT * FROM finish();
