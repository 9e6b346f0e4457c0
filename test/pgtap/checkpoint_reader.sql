-- forgea_audit.checkpoint() for the reader role (issue 13: the transparency log's SQL surface is
-- the reader's), and why that is safe: a call that finds nothing integrated since the newest
-- checkpoint but that checkpoint's own CHECKPOINT row returns the newest note again and writes
-- nothing, so a reader calling it in a loop does not grow the log (docs/transparency.md).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(9);

DO $$ BEGIN CREATE ROLE fa_cp_reader LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT forgea_audit_reader TO fa_cp_reader;
SELECT forgea_audit.append('CP_READER_SETUP', chain => 'cpr:' || n) FROM generate_series(1, 4) n;

CREATE TEMP TABLE calls (n int PRIMARY KEY, note text, checkpoints bigint, rows bigint);
GRANT ALL ON calls TO fa_cp_reader;
-- One checkpoint() call as the reader, with what the log holds after it (read as the superuser).
CREATE FUNCTION pg_temp.call_as_reader(k int) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE v text;
BEGIN
    SET LOCAL ROLE fa_cp_reader;
    v := forgea_audit.checkpoint();
    RESET ROLE;
    INSERT INTO calls VALUES (k, v, (SELECT count(*) FROM forgea_audit.merkle_checkpoint),
                              (SELECT count(*) FROM forgea_audit.audit_log));
END
$$;

SELECT is(has_function_privilege('forgea_audit_reader', 'forgea_audit.checkpoint()', 'EXECUTE'), true,
          'checkpoint() is granted to forgea_audit_reader');

SELECT pg_temp.call_as_reader(1);
SELECT is((SELECT ARRAY[split_part(note, E'\n', 2), checkpoints::text] FROM calls WHERE n = 1),
          ARRAY[(SELECT (count(*) - 1)::text FROM forgea_audit.audit_log), '1'],
          'a reader makes a checkpoint: it seals every row but its own CHECKPOINT row, one merkle_checkpoint row');

SELECT pg_temp.call_as_reader(2);
SELECT is((SELECT ARRAY[note, checkpoints::text, rows::text] FROM calls WHERE n = 2),
          (SELECT ARRAY[note, checkpoints::text, rows::text] FROM calls WHERE n = 1),
          'the next call, nothing appended since: the same note, no new checkpoint, no new audit row');

SELECT pg_temp.call_as_reader(k) FROM generate_series(3, 7) k;
SELECT is((SELECT count(DISTINCT note) || '|' || max(checkpoints) || '|' || max(rows) FROM calls WHERE n BETWEEN 3 AND 7),
          (SELECT '1|' || checkpoints || '|' || rows FROM calls WHERE n = 1),
          'five more calls in a loop: still that one note; the log does not grow');

-- What that note seals still verifies, and its CHECKPOINT row (a leaf by now) is in the next one.
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM calls WHERE n = 7))), true,
          'the note handed out again verifies against the log');

SELECT forgea_audit.append('CP_READER_REAL', chain => 'cpr:real');
SELECT pg_temp.call_as_reader(8);
SELECT is((SELECT ARRAY[split_part(note, E'\n', 2), checkpoints::text, rows::text] FROM calls WHERE n = 8),
          (SELECT ARRAY[(split_part(note, E'\n', 2)::bigint + 2)::text, (checkpoints + 1)::text, (rows + 2)::text]
           FROM calls WHERE n = 7),
          'a real append in between: a new checkpoint, two leaves larger (the old CHECKPOINT row and the append)');

SELECT pg_temp.call_as_reader(9);
SELECT is((SELECT note FROM calls WHERE n = 9), (SELECT note FROM calls WHERE n = 8),
          '... and the call after it hands that new one out again');

-- Called inside the same transaction twice: the second finds its own CHECKPOINT row, still one.
BEGIN;
SELECT forgea_audit.append('CP_READER_TX', chain => 'cpr:tx');
SELECT pg_temp.call_as_reader(10);
SELECT pg_temp.call_as_reader(11);
COMMIT;
SELECT is((SELECT ARRAY[(SELECT note FROM calls WHERE n = 11), (SELECT checkpoints FROM calls WHERE n = 11)::text]),
          ARRAY[(SELECT note FROM calls WHERE n = 10), (SELECT (checkpoints + 1)::text FROM calls WHERE n = 9)],
          'twice in one transaction after an append: one new checkpoint, handed out twice');

-- The writer role still may not.
SELECT is(has_function_privilege('forgea_audit_writer', 'forgea_audit.checkpoint()', 'EXECUTE'), false,
          'checkpoint() is not granted to forgea_audit_writer');

SELECT * FROM finish();
