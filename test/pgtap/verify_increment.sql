-- forgea_audit.verify_increment() (docs/transparency.md, "Incremental verification"): each pass
-- checks only the rows integrated since the last verified point, and moves the point only when
-- everything it checked holds.
--   1. visibly incremental: rows_checked is the number of new rows; from_size/to_size and
--      merkle_verified follow the tree;
--   2. tampering with a new row (its content, its link, its row_hash) is caught, first_bad_seq
--      names it, and the point does not move;
--   3. a checkpoint whose stored root disagrees with the rows is caught;
--   4. who may call it;
--   5. what it does not promise: an old row rewritten in place below the verified point is not
--      seen by it, and verify_chain() (the worker's full pass) finds it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(26);

\ir try.psql

-- One pass's result, kept for the assertions.
CREATE TEMP TABLE pass (n int PRIMARY KEY, ok boolean, rows_checked bigint, first_bad_seq bigint, detail text,
                        from_size bigint, to_size bigint);

-------------------------------------------------------------------------------------------------
-- 1. Incremental
-------------------------------------------------------------------------------------------------
SELECT forgea_audit.append('INC_SETUP', chain => 'inc:' || (n % 3)) FROM generate_series(1, 7) n;
INSERT INTO pass SELECT 1, * FROM forgea_audit.verify_increment();
SELECT is((SELECT ARRAY[ok::text, rows_checked::text, from_size::text, to_size::text] FROM pass WHERE n = 1),
          ARRAY['true', (SELECT count(*) FROM forgea_audit.audit_log)::text, '0', (SELECT count(*) FROM forgea_audit.audit_log)::text],
          'first pass: ok, every row (all integrated by it) checked, from 0 to the tree size');
SELECT is((SELECT ARRAY[tree_size::text, encode(root, 'hex'), rows_checked::text] FROM forgea_audit.merkle_verified),
          (SELECT ARRAY[to_size::text, encode(forgea_audit.merkle_root(to_size), 'hex'), rows_checked::text] FROM pass WHERE n = 1),
          'merkle_verified: the verified size, the stored tree''s root of that size, the rows checked');

INSERT INTO pass SELECT 2, * FROM forgea_audit.verify_increment();
SELECT is((SELECT ARRAY[ok::text, rows_checked::text, from_size::text, to_size::text] FROM pass WHERE n = 2),
          (SELECT ARRAY['true', '0', to_size::text, to_size::text] FROM pass WHERE n = 1),
          'nothing appended since: the next pass checks 0 rows');
SELECT is((SELECT detail FROM pass WHERE n = 2),
          (SELECT format('no new rows since the last pass; the tree of %s leaves holds', to_size) FROM pass WHERE n = 1),
          'nothing appended since: the detail says so');

SELECT forgea_audit.append('INC_FIVE', chain => 'inc:' || (n % 2)) FROM generate_series(1, 5) n;
INSERT INTO pass SELECT 3, * FROM forgea_audit.verify_increment();
SELECT is((SELECT ARRAY[ok::text, rows_checked::text, from_size::text, to_size::text] FROM pass WHERE n = 3),
          (SELECT ARRAY['true', '5', to_size::text, (to_size + 5)::text] FROM pass WHERE n = 2),
          'five rows appended: the next pass checks exactly those 5, from the last verified size');
SELECT matches((SELECT detail FROM pass WHERE n = 3), '^verified 5 new rows \(leaves [0-9]+ to [0-9]+\)',
               'the detail says how many new rows and which leaves');

-- A checkpoint in the range is compared too (its own CHECKPOINT row is then a new leaf).
SELECT forgea_audit.append('INC_CP', chain => 'inc:cp') FROM generate_series(1, 2);
SELECT length(forgea_audit.checkpoint()) > 0 AS made;
INSERT INTO pass SELECT 4, * FROM forgea_audit.verify_increment();
SELECT is((SELECT ARRAY[ok::text, rows_checked::text] FROM pass WHERE n = 4), ARRAY['true', '3'],
          'two rows, a checkpoint of them, its CHECKPOINT row: 3 new rows, ok');
SELECT is((SELECT tree_size FROM forgea_audit.merkle_verified), (SELECT to_size FROM pass WHERE n = 4),
          'the point moved to the tree size');

-------------------------------------------------------------------------------------------------
-- 2. Tampering with a new row (guards off, rolled back): caught, and the point stays
-------------------------------------------------------------------------------------------------
SELECT forgea_audit.append('INC_NEW', chain => 'inc:t', metadata => jsonb_build_object('k', n)) FROM generate_series(1, 3) n;
SELECT seq AS victim FROM forgea_audit.audit_log WHERE action = 'INC_NEW' AND chain_pos = 2 \gset
CREATE TEMP TABLE tamper (what text PRIMARY KEY, ok boolean, rows_checked bigint, bad bigint, detail text, point bigint);
CREATE FUNCTION pg_temp.tampered(what text, sql text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE r record; p bigint;
BEGIN
    BEGIN
        ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
        ALTER TABLE forgea_audit.merkle_checkpoint DISABLE TRIGGER USER;
        EXECUTE sql;
        SELECT * INTO r FROM forgea_audit.verify_increment();
        SELECT tree_size INTO p FROM forgea_audit.merkle_verified;
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO tamper VALUES (what, r.ok, r.rows_checked, r.first_bad_seq, r.detail, p);
END
$$;
SELECT pg_temp.tampered('content', format($q$UPDATE forgea_audit.audit_log SET metadata = '{"k": 99}' WHERE seq = %s$q$, :victim));
SELECT pg_temp.tampered('link', format($q$UPDATE forgea_audit.audit_log SET prev_hash = sha256('x') WHERE seq = %s$q$, :victim));
SELECT pg_temp.tampered('row_hash', format($q$UPDATE forgea_audit.audit_log SET row_hash = sha256('forged') WHERE seq = %s$q$, :victim));

SELECT is((SELECT ARRAY[ok::text, bad::text] FROM tamper WHERE what = 'content'), ARRAY['false', :'victim'],
          'a new row''s content changed: not ok, first_bad_seq = that row');
SELECT matches((SELECT detail FROM tamper WHERE what = 'content'), 'row_hash does not match the row''s content',
               'content: the detail is verify_chain''s');
SELECT is((SELECT point FROM tamper WHERE what = 'content'), (SELECT to_size FROM pass WHERE n = 4),
          'content: the verified point did not move');
SELECT is((SELECT ARRAY[ok::text, bad::text] FROM tamper WHERE what = 'link'), ARRAY['false', :'victim'],
          'a new row''s prev_hash changed: not ok, first_bad_seq = that row');
SELECT matches((SELECT detail FROM tamper WHERE what = 'link'), 'prev_hash does not match the previous row''s row_hash',
               'link: the detail names the broken link');
SELECT is((SELECT point FROM tamper WHERE what = 'link'), (SELECT to_size FROM pass WHERE n = 4),
          'link: the verified point did not move');
SELECT is((SELECT ARRAY[ok::text, bad::text] FROM tamper WHERE what = 'row_hash'), ARRAY['false', :'victim'],
          'a new row''s row_hash rewritten: not ok, first_bad_seq = that row (its content, and the next row''s link)');
SELECT is((SELECT point FROM tamper WHERE what = 'row_hash'), (SELECT to_size FROM pass WHERE n = 4),
          'row_hash: the verified point did not move');

-------------------------------------------------------------------------------------------------
-- 3. A checkpoint in the range whose stored root is not the rows' root
-------------------------------------------------------------------------------------------------
SELECT length(forgea_audit.checkpoint()) > 0 AS made;
SELECT pg_temp.tampered('checkpoint', $q$UPDATE forgea_audit.merkle_checkpoint SET root = sha256('other')
                                         WHERE id = (SELECT max(id) FROM forgea_audit.merkle_checkpoint)$q$);
SELECT is((SELECT ARRAY[ok::text, point::text] FROM tamper WHERE what = 'checkpoint'),
          ARRAY['false', (SELECT to_size FROM pass WHERE n = 4)::text],
          'a checkpoint''s root altered: not ok, the point did not move');
SELECT matches((SELECT detail FROM tamper WHERE what = 'checkpoint'), 'do not hash to the root of the checkpoint of that size',
               'checkpoint: the detail says so');

-- Untouched, the same rows pass: the three INC_NEW rows, the checkpoint's CHECKPOINT row.
INSERT INTO pass SELECT 5, * FROM forgea_audit.verify_increment();
SELECT is((SELECT ARRAY[ok::text, rows_checked::text, from_size::text] FROM pass WHERE n = 5),
          (SELECT ARRAY['true', '4', to_size::text] FROM pass WHERE n = 4),
          'after the tampering was rolled back: ok, 4 new rows, from where the last good pass ended');

-------------------------------------------------------------------------------------------------
-- 4. Who may call it: it writes the verified point, so admins only
-------------------------------------------------------------------------------------------------
SELECT is(ARRAY[has_function_privilege('forgea_audit_admin', 'forgea_audit.verify_increment()', 'EXECUTE'),
                has_function_privilege('forgea_audit_reader', 'forgea_audit.verify_increment()', 'EXECUTE'),
                has_function_privilege('public', 'forgea_audit.verify_increment()', 'EXECUTE')],
          ARRAY[true, false, false], 'verify_increment(): admins may run it, readers and PUBLIC may not');
SELECT matches(pg_temp.try($q$UPDATE forgea_audit.merkle_verified SET tree_size = 0$q$), 'audit',
               'merkle_verified cannot be written directly (guarded like the other Merkle tables)');

-------------------------------------------------------------------------------------------------
-- 5. What it does not promise (docs/transparency.md, "What verify_increment() promises, and what
--    it does not"): an old row, below the verified point, rewritten in place by a superuser with
--    the guards off is NOT seen by verify_increment(); verify_chain(), which the worker runs every
--    forgea_audit.verify_full_interval, finds it (test/worker/worker_and_cron.sh shows the
--    worker's passes doing so).  The first two assertions of each case pin the documented gap: a
--    change that makes verify_increment() catch these must update the doc with them.
-------------------------------------------------------------------------------------------------
INSERT INTO pass SELECT 6, * FROM forgea_audit.verify_increment();
SELECT is((SELECT ok FROM pass WHERE n = 6), true, 'before the rewrites: everything verified');
-- The first INC_SETUP row: long verified, and no row a later pass checks links to it (its
-- chain's next row was verified in pass 1 too).
SELECT seq AS old_row FROM forgea_audit.audit_log WHERE action = 'INC_SETUP' ORDER BY seq LIMIT 1 \gset
CREATE TEMP TABLE old_rewrite (what text PRIMARY KEY, inc_ok boolean, inc_detail text, below boolean,
                               chain_ok boolean, chain_bad bigint);
CREATE FUNCTION pg_temp.rewrite_old(what text, sql text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE r record; c record; below boolean;
BEGIN
    BEGIN
        SELECT l.leaf_index < v.tree_size INTO below FROM forgea_audit.merkle_leaf l, forgea_audit.merkle_verified v
         WHERE l.seq = (SELECT min(seq) FROM forgea_audit.audit_log WHERE action = 'INC_SETUP');
        ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
        EXECUTE sql;
        SELECT * INTO r FROM forgea_audit.verify_increment();
        SELECT * INTO c FROM forgea_audit.verify_chain();
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO old_rewrite VALUES (what, r.ok, r.detail, below, c.ok, c.first_bad_seq);
END
$$;
SELECT pg_temp.rewrite_old('content', format($q$UPDATE forgea_audit.audit_log SET metadata = '{"rewritten": true}'
                                               WHERE seq = %s$q$, :old_row));
SELECT pg_temp.rewrite_old('row_hash', format($q$UPDATE forgea_audit.audit_log SET metadata = '{"rewritten": true}',
                                                row_hash = sha256('forged') WHERE seq = %s$q$, :old_row));
SELECT is((SELECT ARRAY[below::text, inc_ok::text] FROM old_rewrite WHERE what = 'content'), ARRAY['true', 'true'],
          'an old row''s content rewritten below the verified point: verify_increment() does not see it (documented)');
SELECT is((SELECT ARRAY[chain_ok::text, chain_bad::text] FROM old_rewrite WHERE what = 'content'),
          ARRAY['false', :'old_row'], '... verify_chain() (the worker''s full pass) finds it and names the row');
SELECT is((SELECT ARRAY[below::text, inc_ok::text] FROM old_rewrite WHERE what = 'row_hash'), ARRAY['true', 'true'],
          'an old row''s content and row_hash (so its leaf) rewritten below the verified point: verify_increment() does not see it (documented)');
SELECT is((SELECT ARRAY[chain_ok::text, chain_bad::text] FROM old_rewrite WHERE what = 'row_hash'),
          ARRAY['false', :'old_row'], '... verify_chain() finds it and names the row');

SELECT * FROM finish();
