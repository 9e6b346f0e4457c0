-- verify_increment() reads a batch's rows by a TID-range scan of their heap blocks (from the block
-- of the batch's lowest seq to that of its highest) and the rows it did not meet there through the
-- primary key (src/chain/chain_verify_increment.cpp, read_rows).  The verdict must be the one an
-- index fetch of every row gives, also when a row of the batch lives outside that block range:
-- here a row (guards off, rolled back) is rewritten by a non-HOT update whose new version lands
-- after the batch's last block (the test checks it did, by ctid), unchanged (ok, every row
-- checked), with other content (caught, first_bad_seq names it), and the batch's lowest row
-- moved (the range is then empty: all through the index).  Without the index fallback the
-- unchanged moved row reads as missing and the first and third cases fail (seen).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(7);

-- Rows of about 300 bytes: a page holds a few dozen, the batch's 600 fill many pages.
SELECT count(forgea_audit.append('BLK_OLD', chain => 'blk:' || (n % 5),
                                 metadata => jsonb_build_object('n', n, 'pad', repeat('o', 200))))
FROM generate_series(1, 200) n;
SELECT ok AS first_ok FROM forgea_audit.verify_increment() \gset
SELECT count(forgea_audit.append('BLK_NEW', chain => 'blk:' || (n % 5),
                                 metadata => jsonb_build_object('n', n, 'pad', repeat('n', 200))))
FROM generate_series(1, 600) n;
SELECT forgea_audit.merkle_integrate() > 0 AS integrated;
SELECT min(seq) AS lo, max(seq) AS hi, max((ctid::text::point)[0])::bigint AS hi_block
FROM forgea_audit.audit_log WHERE action = 'BLK_NEW' \gset
-- Appended after the batch, not yet leaves: the pass's locked last step integrates and verifies
-- them (a second, later block range); an updated row's new version goes to their pages.
SELECT count(forgea_audit.append('BLK_TAIL', chain => 'blk:' || (n % 5),
                                 metadata => jsonb_build_object('n', n, 'pad', repeat('t', 200))))
FROM generate_series(1, 300) n;

SELECT tree_size AS point FROM forgea_audit.merkle_verified \gset
CREATE TEMP TABLE moved (what text PRIMARY KEY, ok boolean, rows_checked bigint, bad bigint, block bigint, to_size bigint);
-- Runs sql (an UPDATE of row seq, guards off), then verify_increment(), rolled back.
CREATE FUNCTION pg_temp.moved(what text, seq bigint, sql text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE r record; b bigint;
BEGIN
    BEGIN
        ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
        EXECUTE sql;
        SELECT (ctid::text::point)[0]::bigint INTO b FROM forgea_audit.audit_log a WHERE a.seq = moved.seq;
        SELECT * INTO r FROM forgea_audit.verify_increment();
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    INSERT INTO moved VALUES (what, r.ok, r.rows_checked, r.first_bad_seq, b, r.to_size);
END
$$;
SELECT pg_temp.moved('same', :lo + 300, format('UPDATE forgea_audit.audit_log SET seq = seq WHERE seq = %s', :lo + 300));
SELECT pg_temp.moved('content', :lo + 301, format($q$UPDATE forgea_audit.audit_log
    SET metadata = metadata || '{"forged": true}' WHERE seq = %s$q$, :lo + 301));
SELECT pg_temp.moved('lowest', :lo, format('UPDATE forgea_audit.audit_log SET seq = seq WHERE seq = %s', :lo));

SELECT ok(:'first_ok'::boolean, 'the log before the batch verifies');
SELECT ok((SELECT bool_and(block > :hi_block) FROM moved),
          'each rewritten row''s new version lies after the batch''s last heap block (outside its range)');
SELECT is((SELECT ARRAY[ok::text, rows_checked::text, (to_size >= :point + 900)::text] FROM moved WHERE what = 'same'),
          (SELECT ARRAY['true', (to_size - :point)::text, 'true'] FROM moved WHERE what = 'same'),
          'a row of the batch outside its block range, unchanged: ok, every row checked');
SELECT is((SELECT ARRAY[ok::text, bad::text] FROM moved WHERE what = 'content'), ARRAY['false', (:lo + 301)::text],
          'a row of the batch outside its block range, its content changed: caught, first_bad_seq names it');
SELECT is((SELECT ARRAY[ok::text, rows_checked::text, (to_size >= :point + 900)::text] FROM moved WHERE what = 'lowest'),
          (SELECT ARRAY['true', (to_size - :point)::text, 'true'] FROM moved WHERE what = 'lowest'),
          'the batch''s lowest row moved after its last block: ok, every row checked');
SELECT is((SELECT tree_size FROM forgea_audit.merkle_verified), :point::bigint,
          'the rolled-back passes left the verified point where it was');
SELECT is((SELECT ok FROM forgea_audit.verify_increment()), true, 'the untouched log verifies');

SELECT * FROM finish();
