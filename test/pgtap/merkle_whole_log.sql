-- Every verifier looks at the whole log (issue 21, item 2): verify_chain(), verify_chain(note) and
-- verify_increment() check the Merkle tables against audit_log, whatever was verified before.
-- Each of the issue's reproducers, made by hand (guards off, in a subtransaction rolled back
-- afterwards), fails all three, naming the first bad leaf or seq: a leaf deleted (the last one, one
-- in the middle), two leaves swapped, a byte of a tile's leaf hashes and of its interior nodes
-- changed, a checkpoint's tree_size edited, audit_log emptied under a tree of N leaves.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(29);

SELECT count(forgea_audit.append('WHOLE', chain => 'whole:' || (g % 4), metadata => jsonb_build_object('g', g)))
FROM generate_series(1, 300) g;
SELECT forgea_audit.checkpoint() AS note \gset
SELECT forgea_audit.merkle_integrate() AS settled \gset
-- The incremental verifier has verified everything: from now on it has nothing new to check.
SELECT ok(v.ok, 'verify_increment() before: ' || v.detail) FROM forgea_audit.verify_increment() v;
SELECT tree_size AS n FROM forgea_audit.merkle_state \gset
SELECT seq AS seq5 FROM forgea_audit.merkle_leaf WHERE leaf_index = 5 \gset
SELECT seq AS seq6 FROM forgea_audit.merkle_leaf WHERE leaf_index = 6 \gset
SELECT seq AS seq1 FROM forgea_audit.merkle_leaf WHERE leaf_index = 1 \gset
SELECT seq AS seq10 FROM forgea_audit.merkle_leaf WHERE leaf_index = 10 \gset
SELECT seq AS seq_last FROM forgea_audit.merkle_leaf WHERE leaf_index = :n - 1 \gset

CREATE TEMP TABLE verdict (what text, verifier text, ok boolean, bad bigint, detail text, PRIMARY KEY (what, verifier));
CREATE FUNCTION pg_temp.tampered(what text, sql text, note text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE c record; k record; i record;
BEGIN
    BEGIN
        ALTER TABLE forgea_audit.merkle_leaf DISABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_tile DISABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_checkpoint DISABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_state DISABLE TRIGGER USER;
        ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
        EXECUTE sql;
        ALTER TABLE forgea_audit.merkle_state ENABLE TRIGGER USER;
        ALTER TABLE forgea_audit.audit_log ENABLE TRIGGER ALL;
        ALTER TABLE forgea_audit.merkle_checkpoint ENABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_tile ENABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_leaf ENABLE TRIGGER USER;
        SELECT * INTO c FROM forgea_audit.verify_chain();
        SELECT * INTO k FROM forgea_audit.verify_chain(note);
        BEGIN
            SELECT * INTO i FROM forgea_audit.verify_increment();
        EXCEPTION WHEN OTHERS THEN
            SELECT NULL::boolean AS ok, NULL::bigint AS first_bad_seq, 'ERROR: ' || SQLERRM AS detail INTO i;
        END;
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO verdict VALUES (what, 'verify_chain', c.ok, c.first_bad_seq, c.detail),
                               (what, 'verify_chain(note)', k.ok, k.first_bad_seq, k.detail),
                               (what, 'verify_increment', i.ok, i.first_bad_seq, i.detail);
END
$$;

SELECT pg_temp.tampered('nothing', 'SELECT 1', :'note');
SELECT pg_temp.tampered('last leaf deleted', format('DELETE FROM forgea_audit.merkle_leaf WHERE leaf_index = %s', :n - 1), :'note');
SELECT pg_temp.tampered('leaf 10 deleted', 'DELETE FROM forgea_audit.merkle_leaf WHERE leaf_index = 10', :'note');
SELECT pg_temp.tampered('leaves 5 and 6 swapped', format($q$
    UPDATE forgea_audit.merkle_leaf SET seq = -1 WHERE leaf_index = 5;
    UPDATE forgea_audit.merkle_leaf SET seq = %s WHERE leaf_index = 6;
    UPDATE forgea_audit.merkle_leaf SET seq = %s WHERE leaf_index = 5$q$, :seq5, :seq6), :'note');
SELECT pg_temp.tampered('leaf hash byte', $q$UPDATE forgea_audit.merkle_tile SET hashes = set_byte(hashes, 40, (get_byte(hashes, 40) + 1) % 256)
                                            WHERE level = 0 AND idx = 0$q$, :'note');
SELECT pg_temp.tampered('interior byte', $q$UPDATE forgea_audit.merkle_tile SET interior = set_byte(interior, 0, (get_byte(interior, 0) + 1) % 256)
                                           WHERE level = 0 AND idx = 0$q$, :'note');
SELECT pg_temp.tampered('checkpoint tree_size', $q$UPDATE forgea_audit.merkle_checkpoint SET tree_size = tree_size - 1
                                                  WHERE id = (SELECT max(id) FROM forgea_audit.merkle_checkpoint)$q$, :'note');
SELECT pg_temp.tampered('state size', 'UPDATE forgea_audit.merkle_state SET tree_size = tree_size + 1', :'note');
SELECT pg_temp.tampered('audit_log emptied', 'DELETE FROM forgea_audit.audit_log', :'note');

SELECT is((SELECT array_agg(ok ORDER BY verifier) FROM verdict WHERE what = 'nothing'), ARRAY[true, true, true],
          'untouched (the guards turned off and on again): all three verifiers hold');

SELECT is((SELECT array_agg(ok ORDER BY verifier) FROM verdict WHERE what = w), ARRAY[false, false, false],
          w || ': verify_chain(), verify_chain(note) and verify_increment() all fail')
FROM unnest(ARRAY['last leaf deleted', 'leaf 10 deleted', 'leaves 5 and 6 swapped', 'leaf hash byte', 'interior byte',
                  'checkpoint tree_size', 'audit_log emptied']) w;

-- A deleted leaf is two problems: its row is below the horizon but no leaf (named first: a seq),
-- and the leaves have a hole.
SELECT is(ARRAY[bad::text, (detail ~ format('^audit row %s is below the Merkle integrator''s horizon .* not a leaf.*; 2 problems in all$', :seq_last))::text],
          ARRAY[:'seq_last', 'true'], 'last leaf deleted, ' || verifier || ': names its row, and two problems')
FROM verdict WHERE what = 'last leaf deleted' AND verifier <> 'verify_chain(note)';
SELECT is(ARRAY[bad::text, (detail ~ format('^audit row %s is below the Merkle integrator''s horizon .* not a leaf.*; 2 problems in all$', :seq10))::text],
          ARRAY[:'seq10', 'true'], 'leaf 10 deleted, ' || verifier || ': names its row, and two problems')
FROM verdict WHERE what = 'leaf 10 deleted' AND verifier <> 'verify_chain(note)';
SELECT matches(detail, 'no leaf 10', 'leaf 10 deleted, verify_chain(note): names the missing leaf')
FROM verdict WHERE what = 'leaf 10 deleted' AND verifier = 'verify_chain(note)';
SELECT is(ARRAY[bad::text, (detail ~ 'hash of leaf 5 is not the leaf hash')::text], ARRAY[:'seq6', 'true'],
          'leaves swapped, ' || verifier || ': first_bad_seq is the row now at leaf 5, the detail names the leaf')
FROM verdict WHERE what = 'leaves 5 and 6 swapped' AND verifier <> 'verify_chain(note)';
SELECT is(ARRAY[bad::text, (detail ~ 'hash of leaf 1 is not the leaf hash')::text], ARRAY[:'seq1', 'true'],
          'a leaf hash byte changed, ' || verifier || ': names leaf 1 and its row')
FROM verdict WHERE what = 'leaf hash byte' AND verifier <> 'verify_chain(note)';
SELECT matches(detail, 'node of level 1, index 0 is not the hash of its leaves',
               'an interior byte changed, ' || verifier || ': names the node')
FROM verdict WHERE what = 'interior byte';
SELECT matches(detail, format('do not hash to the root of the checkpoint of id [0-9]+'),
               'checkpoint tree_size edited, ' || verifier || ': names the checkpoint')
FROM verdict WHERE what = 'checkpoint tree_size' AND verifier <> 'verify_chain(note)';
SELECT matches(detail, format('the Merkle tree has no leaf %s: merkle_state''s tree has %s leaves', :n, :n + 1),
               'merkle_state.tree_size edited, ' || verifier || ': names the missing leaf')
FROM verdict WHERE what = 'state size' AND verifier <> 'verify_increment';
SELECT ok((SELECT ok IS NOT TRUE FROM verdict WHERE what = 'state size' AND verifier = 'verify_increment'),
          'merkle_state.tree_size edited: verify_increment() does not hold either');
SELECT matches(detail, 'leaf 0: audit row [0-9]+ is missing',
               'audit_log emptied, verify_increment: names leaf 0 and its row')
FROM verdict WHERE what = 'audit_log emptied' AND verifier = 'verify_increment';

SELECT ok(v.ok, 'after the tampering was rolled back, verify_increment() holds: ' || v.detail) FROM forgea_audit.verify_increment() v;
SELECT ok(v.ok, 'and verify_chain(): ' || v.detail) FROM forgea_audit.verify_chain() v;

SELECT * FROM finish();
