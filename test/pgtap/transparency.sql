-- The transparency log (docs/transparency.md): the Merkle tree over the audit rows, checked
-- against an independent RFC 6962 implementation written here in PL/pgSQL (MTH straight from the
-- RFC's recursion over the leaves; the RFC 9162 verifiers for inclusion and consistency proofs).
--   1. integration: every audit row is a leaf exactly once, leaf indexes 0..n-1, batches included;
--   2. checkpoint(): a three-line C2SP note (origin, size, root), its root the RFC root of the leaves;
--   3. inclusion proofs for every leaf of every tree size, consistency proofs for every pair of sizes;
--   4. bad input refused with class 22; receipt(); verify_chain(checkpoint) against tampering;
--   5. the note and what one checkpoint stores do not grow with the number of chains.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(42);

-------------------------------------------------------------------------------------------------
-- RFC 6962 in PL/pgSQL, independent of the extension's C++.
-------------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.leaf(row_hash bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT sha256('\x00'::bytea || row_hash) $$;
CREATE FUNCTION pg_temp.node(l bytea, r bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS
$$ SELECT sha256('\x01'::bytea || l || r) $$;

-- MTH(D[lo:hi]) over the leaves in leaf_index order (leaf_hashes is filled below).
CREATE TEMP TABLE leaf_hashes (i bigint PRIMARY KEY, h bytea NOT NULL);
CREATE FUNCTION pg_temp.mth(lo bigint, hi bigint) RETURNS bytea LANGUAGE plpgsql STABLE AS
$$
DECLARE k bigint := 1;
BEGIN
    IF hi - lo = 1 THEN RETURN (SELECT h FROM leaf_hashes WHERE i = lo); END IF;
    WHILE 2 * k < hi - lo LOOP k := 2 * k; END LOOP;
    RETURN pg_temp.node(pg_temp.mth(lo, lo + k), pg_temp.mth(lo + k, hi));
END
$$;

-- RFC 9162 2.1.3.2: the root an inclusion proof leads to, NULL if it does not fit index/size.
CREATE FUNCTION pg_temp.incl_root(idx bigint, size bigint, leaf bytea, proof bytea[]) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS
$$
DECLARE fn bigint := idx; sn bigint := size - 1; r bytea := leaf; p bytea;
BEGIN
    IF idx >= size THEN RETURN NULL; END IF;
    FOREACH p IN ARRAY coalesce(proof, '{}') LOOP
        IF sn = 0 THEN RETURN NULL; END IF;
        IF fn % 2 = 1 OR fn = sn THEN
            r := pg_temp.node(p, r);
            WHILE fn % 2 = 0 AND fn <> 0 LOOP fn := fn / 2; sn := sn / 2; END LOOP;
        ELSE
            r := pg_temp.node(r, p);
        END IF;
        fn := fn / 2; sn := sn / 2;
    END LOOP;
    RETURN CASE WHEN sn = 0 THEN r END;
END
$$;

-- RFC 9162 2.1.4.2.
CREATE FUNCTION pg_temp.consistent(m bigint, n bigint, r1 bytea, r2 bytea, proof bytea[]) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS
$$
DECLARE path bytea[] := coalesce(proof, '{}'); fn bigint; sn bigint; fr bytea; sr bytea; i int;
BEGIN
    IF m > n THEN RETURN false; END IF;
    IF m = n THEN RETURN cardinality(path) = 0 AND r1 = r2; END IF;
    IF m = 0 THEN RETURN cardinality(path) = 0; END IF;
    IF cardinality(path) = 0 THEN RETURN false; END IF;
    IF m & (m - 1) = 0 THEN path := r1 || path; END IF;
    fn := m - 1; sn := n - 1;
    WHILE fn % 2 = 1 LOOP fn := fn / 2; sn := sn / 2; END LOOP;
    fr := path[1]; sr := path[1];
    FOR i IN 2 .. cardinality(path) LOOP
        IF sn = 0 THEN RETURN false; END IF;
        IF fn % 2 = 1 OR fn = sn THEN
            fr := pg_temp.node(path[i], fr); sr := pg_temp.node(path[i], sr);
            WHILE fn % 2 = 0 AND fn <> 0 LOOP fn := fn / 2; sn := sn / 2; END LOOP;
        ELSE
            sr := pg_temp.node(sr, path[i]);
        END IF;
        fn := fn / 2; sn := sn / 2;
    END LOOP;
    RETURN sn = 0 AND fr = r1 AND sr = r2;
END
$$;

\ir try.psql

-------------------------------------------------------------------------------------------------
-- 1. Integration
-------------------------------------------------------------------------------------------------
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-t1', 'u-1', 'lab', 'https://github.com/tara/merkle-lab', 'IN_PROGRESS', now());
CREATE TEMP TABLE pushes AS
SELECT r.* FROM (VALUES ('00000000-0000-4000-8000-0000000000a1'), ('00000000-0000-4000-8000-0000000000a2')) AS v(guid),
     LATERAL forgea_audit.record_push(
         jsonb_set(jsonb_set((SELECT payload FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
                             '{repository,html_url}', '"https://github.com/tara/merkle-lab"'),
                   '{repository,full_name}', '"tara/merkle-lab"'), v.guid) AS r;
SELECT count(*) AS appended FROM (
    SELECT forgea_audit.append('MERKLE_TEST', metadata => jsonb_build_object('n', n), chain => 'merkle:' || (n % 5))
    FROM generate_series(1, 30) n) x \gset

SELECT is(forgea_audit.merkle_integrate(7), 7::bigint, 'integrate: a batch of at most 7 rows takes 7');
SELECT is(forgea_audit.merkle_integrate(), (SELECT count(*) - 7 FROM forgea_audit.audit_log),
          'integrate: then every other committed row');
SELECT is(forgea_audit.merkle_integrate(), 0::bigint, 'integrate: and nothing twice');
SELECT is((SELECT ARRAY[count(*), count(DISTINCT seq), min(leaf_index), max(leaf_index)] FROM forgea_audit.merkle_leaf),
          (SELECT ARRAY[count(*), count(*), 0, count(*) - 1] FROM forgea_audit.audit_log),
          'integrate: one leaf per audit row, leaf indexes 0..n-1');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log a WHERE NOT EXISTS (
               SELECT 1 FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq)), 0::bigint,
          'integrate: no audit row left out');
SELECT is((SELECT tree_size FROM forgea_audit.merkle_state), (SELECT count(*) FROM forgea_audit.merkle_leaf),
          'integrate: merkle_state.tree_size is the number of leaves');
SELECT matches(pg_temp.try('INSERT INTO forgea_audit.merkle_leaf VALUES (1000, 1000)'),
          '^23000: restoring forgea_audit.merkle_leaf refused: leaf 1000 \(seq 1000\) is not the next leaf',
          'guard: a superuser''s direct INSERT into merkle_leaf that is not the next leaf is refused (23000, the restore check)');
SELECT is(pg_temp.try('DELETE FROM forgea_audit.merkle_tile'),
          '42501: DELETE on forgea_audit.merkle_tile is refused: the audit chain is append-only',
          'guard: DELETE on merkle_tile is refused (42501)');
SELECT is(pg_temp.try('UPDATE forgea_audit.merkle_tile SET hashes = hashes'),
          '42501: forgea_audit.merkle_tile is written only by forgea_audit''s own functions: direct UPDATE is refused',
          'guard: a direct UPDATE of merkle_tile is refused (42501)');

-------------------------------------------------------------------------------------------------
-- 2. checkpoint()
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE cp (name text PRIMARY KEY, note text, size bigint, root bytea);
SELECT forgea_audit.append('MERKLE_TEST', metadata => '{"before": "checkpoint 1"}', chain => 'merkle:late') AS late_seq \gset
INSERT INTO cp (name, note) VALUES ('one', forgea_audit.checkpoint());
UPDATE cp SET size = split_part(note, E'\n', 2)::bigint, root = decode(split_part(note, E'\n', 3), 'base64');
INSERT INTO leaf_hashes SELECT m.leaf_index, pg_temp.leaf(a.row_hash)
FROM forgea_audit.merkle_leaf m JOIN forgea_audit.audit_log a USING (seq);

SELECT is((SELECT string_to_array(note, E'\n') FROM cp WHERE name = 'one'),
          ARRAY['forgea_audit/' || (SELECT system_identifier FROM pg_control_system()) || '/' || current_database(),
                (SELECT count(*) - 1 FROM forgea_audit.audit_log)::text,
                (SELECT encode(root, 'base64') FROM cp WHERE name = 'one'), ''],
          'checkpoint: an unsigned note is origin, tree size (every row but its own CHECKPOINT event), base64 root');
SELECT ok((SELECT seq IS NOT NULL FROM forgea_audit.merkle_leaf WHERE seq = :late_seq),
          'checkpoint: it integrated the row committed just before it');
SELECT is((SELECT root FROM cp WHERE name = 'one'), pg_temp.mth(0, (SELECT size FROM cp WHERE name = 'one')),
          'checkpoint: the root is RFC 6962''s MTH over SHA-256(0x00 || row_hash) of the leaves, in leaf order');
SELECT is((SELECT root FROM cp WHERE name = 'one'), forgea_audit.merkle_root((SELECT size FROM cp WHERE name = 'one')),
          'checkpoint: merkle_root(size) gives the same root from O(log n) stored nodes');
SELECT is((SELECT ARRAY[count(*)::text, min(note), min(tree_size)::text] FROM forgea_audit.merkle_checkpoint),
          (SELECT ARRAY['1', note, size::text] FROM cp WHERE name = 'one'),
          'checkpoint: stored in merkle_checkpoint (tree size and note)');
SELECT is((SELECT ARRAY[l.target_id, l.metadata->>'tree_size', l.proof->>'note'] FROM forgea_audit.audit_log l
           WHERE l.action = 'CHECKPOINT' ORDER BY l.seq DESC LIMIT 1),
          (SELECT ARRAY[encode(root, 'hex'), size::text, note] FROM cp WHERE name = 'one'),
          'checkpoint: its CHECKPOINT event names the root and tree size and holds the note');
SELECT is((SELECT ARRAY[ok::text, detail] FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'one'))),
          ARRAY['true', 'verified ' || (SELECT count(*) FROM forgea_audit.audit_log) || ' rows in '
                || (SELECT count(*) FROM forgea_audit.chain_head) || ' chains; the unsigned checkpoint of '
                || (SELECT size FROM cp WHERE name = 'one') || ' leaves holds'],
          'verify_chain(checkpoint): ok, and says it checked the tree of that many leaves');

-------------------------------------------------------------------------------------------------
-- 3. Every proof of every tree size up to the checkpoint's
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE roots AS SELECT n, pg_temp.mth(0, n) AS root FROM generate_series(1, (SELECT size FROM cp WHERE name = 'one')) n;
SELECT is((SELECT count(*) FROM roots r WHERE r.root IS DISTINCT FROM forgea_audit.merkle_root(r.n)), 0::bigint,
          'merkle_root(n) is the RFC root for every n');
CREATE TEMP TABLE incl AS
SELECT r.n, m.leaf_index, m.seq, p.leaf_index AS got_index, p.proof, r.root, lh.h AS leaf
FROM roots r JOIN forgea_audit.merkle_leaf m ON m.leaf_index < r.n JOIN leaf_hashes lh ON lh.i = m.leaf_index,
     LATERAL forgea_audit.inclusion_proof(m.seq, r.n) p;
SELECT is((SELECT count(*) FROM incl), (SELECT sum(n)::bigint FROM roots), 'inclusion_proof: one proof per leaf per tree size');
SELECT is((SELECT count(*) FROM incl WHERE got_index <> leaf_index
                                        OR pg_temp.incl_root(leaf_index, n, leaf, proof) IS DISTINCT FROM root), 0::bigint,
          'inclusion_proof: every proof of every leaf in every tree verifies against the RFC root (independent verifier)');
SELECT is((SELECT count(*) FROM incl WHERE cardinality(proof) > 0
                  AND pg_temp.incl_root(leaf_index, n, leaf, array_append(proof[1:cardinality(proof) - 1],
                          set_byte(proof[cardinality(proof)], 0, get_byte(proof[cardinality(proof)], 0) # 1))) = root),
          0::bigint, 'inclusion_proof: with one bit of its last hash flipped, no proof verifies');
CREATE TEMP TABLE cons AS
SELECT a.n AS m, b.n, forgea_audit.consistency_proof(a.n, b.n) AS proof, a.root AS r1, b.root AS r2
FROM roots a JOIN roots b ON a.n <= b.n;
SELECT is((SELECT count(*) FROM cons WHERE NOT pg_temp.consistent(m, n, r1, r2, proof)), 0::bigint,
          'consistency_proof: every pair of sizes m <= n verifies (independent verifier)');
SELECT is((SELECT count(*) FROM cons WHERE m < n AND pg_temp.consistent(m, n, r2, r1, proof)), 0::bigint,
          'consistency_proof: none verifies with the roots swapped');
SELECT is(forgea_audit.consistency_proof(0, 5), '{}'::bytea[], 'consistency_proof(0, n): empty');

-------------------------------------------------------------------------------------------------
-- 4. Bad input, receipts, a second checkpoint, tampering
-------------------------------------------------------------------------------------------------
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.inclusion_proof(1, 1000000)'),
               '^22023: tree_size 1000000 is not a size of the Merkle tree', 'inclusion_proof: a size beyond the tree: 22023');
SELECT matches(pg_temp.try('SELECT * FROM forgea_audit.inclusion_proof(987654, 3)'),
               '^22023: audit row 987654 is not in the Merkle tree', 'inclusion_proof: a seq that is no leaf: 22023');
SELECT matches(pg_temp.try(format('SELECT * FROM forgea_audit.inclusion_proof(%s, 3)',
                                  (SELECT seq FROM forgea_audit.merkle_leaf WHERE leaf_index = 5))),
               '^22023: audit row [0-9]+ is leaf 5, outside the tree of 3 leaves', 'inclusion_proof: a leaf outside that size: 22023');
SELECT matches(pg_temp.try('SELECT forgea_audit.consistency_proof(5, 3)'),
               '^22023: old_size 5 must be between 0 and new_size 3', 'consistency_proof: old_size > new_size: 22023');

INSERT INTO cp (name, note) VALUES ('two', forgea_audit.checkpoint());
UPDATE cp SET size = split_part(note, E'\n', 2)::bigint, root = decode(split_part(note, E'\n', 3), 'base64') WHERE name = 'two';
SELECT ok(pg_temp.consistent((SELECT size FROM cp WHERE name = 'one'), (SELECT size FROM cp WHERE name = 'two'),
                             (SELECT root FROM cp WHERE name = 'one'), (SELECT root FROM cp WHERE name = 'two'),
                             forgea_audit.consistency_proof((SELECT size FROM cp WHERE name = 'one'), (SELECT size FROM cp WHERE name = 'two'))),
          'checkpoint two extends checkpoint one: the consistency proof between their sizes verifies with their roots');

CREATE TEMP TABLE rc AS SELECT forgea_audit.receipt((SELECT attempt_id FROM pushes WHERE status = 'recorded' LIMIT 1)) AS r;
SELECT is((SELECT ARRAY[r->>'tree_size', r->>'checkpoint', r->'row'->>'action',
                        (pg_temp.incl_root((r->>'leaf_index')::bigint, (r->>'tree_size')::bigint,
                                           pg_temp.leaf(decode(r->>'row_hash', 'hex')),
                                           ARRAY(SELECT decode(x, 'hex') FROM jsonb_array_elements_text(r->'inclusion_proof') x))
                         = (SELECT root FROM cp WHERE name = 'two'))::text] FROM rc),
          (SELECT ARRAY[size::text, note, 'LAB_VERIFY_ATTEMPT', 'true'] FROM cp WHERE name = 'two'),
          'receipt: the attempt''s LAB_VERIFY_ATTEMPT row, proved in the newest checkpoint, whose root its proof leads to');

-- A superuser rewrites a sealed row's row_hash (guards off), rolled back afterwards.
SELECT seq AS victim FROM forgea_audit.merkle_leaf WHERE leaf_index = 3 \gset
CREATE TEMP TABLE tamper AS SELECT NULL::boolean AS ok, NULL::bigint AS bad, NULL::text AS detail LIMIT 0;
DO $$
DECLARE v_ok boolean; v_bad bigint; v_detail text;
BEGIN
    BEGIN
        ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
        UPDATE forgea_audit.audit_log SET row_hash = sha256('forged')
        WHERE seq = (SELECT seq FROM forgea_audit.merkle_leaf WHERE leaf_index = 3);
        SELECT v.ok, v.first_bad_seq, v.detail INTO v_ok, v_bad, v_detail
        FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM cp WHERE name = 'two')) v;
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO tamper VALUES (v_ok, v_bad, v_detail);
END
$$;
SELECT is((SELECT ARRAY[ok::text, bad::text] FROM tamper), ARRAY['false', :'victim'],
          'tamper: a sealed row''s row_hash rewritten: verify_chain(checkpoint) not ok, first_bad_seq = that row');
SELECT matches((SELECT detail FROM tamper), 'do not hash to the checkpoint''s root',
               'tamper: the detail says the leaves do not hash to the checkpoint''s root');

-------------------------------------------------------------------------------------------------
-- 5. Size: the note and the CHECKPOINT event do not grow with the number of chains
-------------------------------------------------------------------------------------------------
-- 100,000 chains made cheaply: one append per chain, all in one statement.
SELECT count(*) AS made FROM (SELECT forgea_audit.append('MERKLE_MANY', chain => 'many:' || n) FROM generate_series(1, 100000) n) x \gset
INSERT INTO cp (name, note) VALUES ('many', forgea_audit.checkpoint());
SELECT ok((SELECT count(*) FROM forgea_audit.chain_head) > 100000 AND (SELECT octet_length(note) FROM cp WHERE name = 'many') <= 2048
          AND (SELECT pg_column_size(l.*) FROM forgea_audit.audit_log l WHERE l.action = 'CHECKPOINT' ORDER BY l.seq DESC LIMIT 1) <= 2048
          AND (SELECT pg_column_size(c.*) FROM forgea_audit.merkle_checkpoint c ORDER BY c.id DESC LIMIT 1) <= 2048,
          'size: at more than 100,000 chains the note, its CHECKPOINT row and its merkle_checkpoint row are each <= 2 KB');

-------------------------------------------------------------------------------------------------
-- 6. The tiles (merkle_tile, C2SP tlog-tiles of height 8) at 100,000+ leaves, partial tiles
--    extended by batches of odd sizes, checked against the leaves themselves
-------------------------------------------------------------------------------------------------
SELECT count(*) AS more FROM (SELECT forgea_audit.append('MERKLE_ODD', chain => 'odd:' || (n % 7)) FROM generate_series(1, 300) n) x \gset
SELECT is(ARRAY[forgea_audit.merkle_integrate(97), forgea_audit.merkle_integrate(97), forgea_audit.merkle_integrate(97)],
          ARRAY[97, 97, 97]::bigint[], 'tiles: three batches of 97 leaves each, each extending the partial tile');
INSERT INTO cp (name, note) VALUES ('tiles', forgea_audit.checkpoint());
UPDATE cp SET size = split_part(note, E'\n', 2)::bigint, root = decode(split_part(note, E'\n', 3), 'base64') WHERE name = 'tiles';

-- The hash of 2^k consecutive hashes (a bytea of 32 * 2^k bytes) as one complete subtree.
CREATE FUNCTION pg_temp.fold(hs bytea) RETURNS bytea LANGUAGE plpgsql IMMUTABLE AS
$$
DECLARE n int := octet_length(hs) / 32; nxt bytea;
BEGIN
    WHILE n > 1 LOOP
        nxt := ''::bytea;
        FOR i IN 0 .. n / 2 - 1 LOOP
            nxt := nxt || pg_temp.node(substring(hs FROM i * 64 + 1 FOR 32), substring(hs FROM i * 64 + 33 FOR 32));
        END LOOP;
        hs := nxt; n := n / 2;
    END LOOP;
    RETURN hs;
END
$$;
CREATE TEMP TABLE tiles AS SELECT level, string_agg(hashes, ''::bytea ORDER BY idx) AS hs, count(*) AS n,
                                  bool_and(octet_length(hashes) = 8192 OR idx = (SELECT max(idx) FROM forgea_audit.merkle_tile m WHERE m.level = t.level)) AS only_last_partial
                           FROM forgea_audit.merkle_tile t GROUP BY level;
SELECT is((SELECT array_agg(ARRAY[level::bigint, octet_length(hs) / 32] ORDER BY level) FROM tiles),
          (SELECT ARRAY[ARRAY[0, tree_size], ARRAY[1, tree_size / 256], ARRAY[2, tree_size / 65536]]::bigint[] FROM forgea_audit.merkle_state),
          'tiles: levels 0, 1 and 2 hold tree_size, tree_size / 256 and tree_size / 65536 hashes');
SELECT ok((SELECT bool_and(only_last_partial) FROM tiles), 'tiles: every tile is full (256 hashes) but the last of its level');
SELECT is((SELECT hs FROM tiles WHERE level = 0),
          (SELECT string_agg(pg_temp.leaf(a.row_hash), ''::bytea ORDER BY m.leaf_index)
           FROM forgea_audit.merkle_leaf m JOIN forgea_audit.audit_log a ON a.seq = m.seq),
          'tiles: level 0 is the leaf hash SHA-256(0x00 || row_hash) of every leaf, in leaf order');
SELECT is((SELECT hs FROM tiles WHERE level = 1),
          (SELECT string_agg(pg_temp.fold(substring(t.hs FROM b * 8192 + 1 FOR 8192)), ''::bytea ORDER BY b)
           FROM tiles t, generate_series(0, octet_length(t.hs) / 8192 - 1) b WHERE t.level = 0),
          'tiles: level 1 holds the root of each complete 256-leaf block (folded here from level 0)');
SELECT is((SELECT hs FROM tiles WHERE level = 2),
          (SELECT pg_temp.fold(substring(hs FROM 1 FOR 8192)) FROM tiles WHERE level = 1),
          'tiles: level 2 holds the root of the first 65,536 leaves (folded here from level 1)');

SELECT is((SELECT count(*) FROM forgea_audit.merkle_tile t
           WHERE octet_length(t.interior) <> 32 * (SELECT sum((octet_length(t.hashes) / 32) >> k) FROM generate_series(1, 7) k)),
          0::bigint, 'tiles: each tile''s interior holds the sum over k = 1..7 of width / 2^k nodes (254 when full)');
SELECT is((SELECT ARRAY[substring(interior FROM 126 * 32 + 1 FOR 32), substring(interior FROM 253 * 32 + 1 FOR 32)]
           FROM forgea_audit.merkle_tile WHERE level = 0 AND idx = 0),
          (SELECT ARRAY[pg_temp.fold(substring(hs FROM 1 FOR 4096)), pg_temp.fold(substring(hs FROM 4097 FOR 4096))]
           FROM tiles WHERE level = 0),
          'tiles: interior nodes 126 and 253 of tile (0, 0) are the roots of leaves 0..127 and 128..255 (folded here)');

-- Proofs at this size read nodes from tiles of all three levels.
SELECT ok(bool_and(pg_temp.incl_root(p.leaf_index, c.size, pg_temp.leaf(a.row_hash), p.proof) = c.root),
          'tiles: inclusion proofs of leaves 0, 255, 256, 12345, 65535, 65536 and the last verify against the checkpoint''s root')
FROM cp c, forgea_audit.merkle_leaf m JOIN forgea_audit.audit_log a ON a.seq = m.seq,
     LATERAL forgea_audit.inclusion_proof(m.seq, c.size) p
WHERE c.name = 'tiles' AND m.leaf_index IN (0, 255, 256, 12345, 65535, 65536, c.size - 1);
SELECT ok(pg_temp.consistent(o.size, c.size, o.root, c.root, forgea_audit.consistency_proof(o.size, c.size)),
          'tiles: the consistency proof from checkpoint two to the 100,000-leaf checkpoint verifies')
FROM cp o, cp c WHERE o.name = 'two' AND c.name = 'tiles';

SELECT * FROM finish();
