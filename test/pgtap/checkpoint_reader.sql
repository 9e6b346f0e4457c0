-- forgea_audit.checkpoint() for the reader role (issue 13: the transparency log's SQL surface is
-- the reader's), and why that is safe (issue 20): a reader's call returns the newest stored note
-- and nothing else: it does not integrate, sign or write, takes no row lock and no transaction id,
-- so a reader holding its transaction open never stalls the integrator, checkpoints or
-- verification (the worker side of that: test/worker/reader_never_stalls.sh).  Admins make them.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(11);

DO $$ BEGIN CREATE ROLE fa_cp_reader LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE fa_cp_admin LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT forgea_audit_reader TO fa_cp_reader;
GRANT forgea_audit_admin TO fa_cp_admin;
SELECT forgea_audit.append('CP_READER_SETUP', chain => 'cpr:' || n) FROM generate_series(1, 4) n;

CREATE TEMP TABLE calls (n int PRIMARY KEY, note text, checkpoints bigint, rows bigint, leaves bigint,
                         xid_assigned boolean, row_locks bigint);
GRANT ALL ON calls TO fa_cp_reader, fa_cp_admin;
-- One checkpoint() call as role r, with what the log holds after it (read as the superuser), and
-- whether the call left its transaction a transaction id or a row lock.
CREATE FUNCTION pg_temp.call_as(r text, k int) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE v text; x boolean; l bigint;
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', r);
    v := forgea_audit.checkpoint();
    RESET ROLE;
    x := pg_current_xact_id_if_assigned() IS NOT NULL;
    l := (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype IN ('tuple', 'transactionid'));
    INSERT INTO calls VALUES (k, v, (SELECT count(*) FROM forgea_audit.merkle_checkpoint),
                              (SELECT count(*) FROM forgea_audit.audit_log), (SELECT count(*) FROM forgea_audit.merkle_leaf),
                              x, l);
END
$$;

SELECT is(has_function_privilege('forgea_audit_reader', 'forgea_audit.checkpoint()', 'EXECUTE'), true,
          'checkpoint() is granted to forgea_audit_reader');

SELECT pg_temp.call_as('fa_cp_reader', 1);
SELECT is((SELECT ARRAY[coalesce(note, 'NULL'), checkpoints::text, leaves::text] FROM calls WHERE n = 1),
          ARRAY['NULL', '0', '0'],
          'before any checkpoint a reader gets NULL: it makes none and integrates nothing');
SELECT is((SELECT ARRAY[xid_assigned::text, row_locks::text] FROM calls WHERE n = 1), ARRAY['false', '0'],
          '... its call leaves its transaction no transaction id and no row lock');

SELECT pg_temp.call_as('fa_cp_admin', 2);
SELECT is((SELECT ARRAY[split_part(note, E'\n', 2), checkpoints::text] FROM calls WHERE n = 2),
          ARRAY[(SELECT (count(*) - 1)::text FROM forgea_audit.audit_log), '1'],
          'an admin makes a checkpoint: it seals every row but its own CHECKPOINT row, one merkle_checkpoint row');

SELECT pg_temp.call_as('fa_cp_reader', k) FROM generate_series(3, 7) k;
SELECT is((SELECT count(DISTINCT note) || '|' || max(checkpoints) || '|' || max(rows) FROM calls WHERE n BETWEEN 3 AND 7),
          (SELECT '1|' || checkpoints || '|' || rows FROM calls WHERE n = 2),
          'five reader calls in a loop: the admin''s note each time; the log does not grow');
SELECT is((SELECT note FROM calls WHERE n = 7), (SELECT note FROM calls WHERE n = 2),
          '... and it is the admin''s note, byte for byte');
SELECT is((SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT note FROM calls WHERE n = 7))), true,
          'the note handed to the reader verifies against the log');

SELECT forgea_audit.append('CP_READER_REAL', chain => 'cpr:real');
SELECT pg_temp.call_as('fa_cp_reader', 8);
SELECT is((SELECT ARRAY[note, checkpoints::text, leaves::text, xid_assigned::text, row_locks::text] FROM calls WHERE n = 8),
          (SELECT ARRAY[note, checkpoints::text, leaves::text, 'false', '0'] FROM calls WHERE n = 7),
          'a real append, then a reader: still the newest stored note; nothing integrated, no xid, no row lock');

SELECT pg_temp.call_as('fa_cp_admin', 9);
SELECT is((SELECT ARRAY[split_part(note, E'\n', 2), checkpoints::text, rows::text] FROM calls WHERE n = 9),
          (SELECT ARRAY[(split_part(note, E'\n', 2)::bigint + 2)::text, (checkpoints + 1)::text, (rows + 1)::text]
           FROM calls WHERE n = 8),
          'the admin''s next call: a new checkpoint, two leaves larger (the old CHECKPOINT row and the append)');

SELECT pg_temp.call_as('fa_cp_reader', 10);
SELECT is((SELECT note FROM calls WHERE n = 10), (SELECT note FROM calls WHERE n = 9),
          '... and the reader gets that new one');

-- The writer role still may not.
SELECT is(has_function_privilege('forgea_audit_writer', 'forgea_audit.checkpoint()', 'EXECUTE'), false,
          'checkpoint() is not granted to forgea_audit_writer');

SELECT * FROM finish();
