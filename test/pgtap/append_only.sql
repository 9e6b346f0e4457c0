-- The audit tables are append-only for everyone: UPDATE / DELETE / TRUNCATE on audit_log and any
-- direct write to audit_log or chain_head are refused with SQLSTATE 42501, for the superuser, with
-- session_replication_role = replica, and for a role holding every table privilege.  A superuser's
-- INSERT is the restore path: accepted only for a row that verifies where it lands, otherwise
-- refused with 23000 (test/integration/dump_restore.sh restores real dumps that way).
--
-- What triggers cannot stop (a superuser disabling them) verify_chain() must find: each tampering
-- below runs inside a subtransaction that is rolled back once verify_chain() has been asked.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(67);

-------------------------------------------------------------------------------------------------
-- Some history: two sessions with pushes, and a 5-row chain 'test:alpha' written by append().
-------------------------------------------------------------------------------------------------
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-a', 'u-a', 'lab', 'https://github.com/alice/append-lab', 'IN_PROGRESS', now()),
       ('s-b', 'u-b', 'lab', 'https://github.com/bob/append-lab', 'STUCK', now());

CREATE TEMP TABLE pushes AS
SELECT r.*
FROM (VALUES ('alice/append-lab', '00000000-0000-4000-8000-00000000a001'),
             ('alice/append-lab', '00000000-0000-4000-8000-00000000a001'),
             ('bob/append-lab',   '00000000-0000-4000-8000-00000000b001')) AS v(fork, guid),
     LATERAL forgea_audit.record_push(
         jsonb_set(jsonb_set((SELECT payload FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
                             '{repository,html_url}', to_jsonb('https://github.com/' || v.fork)),
                   '{repository,full_name}', to_jsonb(v.fork)),
         v.guid) AS r;

CREATE TEMP TABLE alpha (pos int PRIMARY KEY, seq bigint NOT NULL);
INSERT INTO alpha
SELECT n, forgea_audit.append('TEST_EVENT', 'system', 'pgtap', metadata => jsonb_build_object('n', n),
                              chain => 'test:alpha')
FROM generate_series(1, 5) n ORDER BY n;
CREATE TEMP TABLE beta AS
SELECT forgea_audit.append('TEST_EVENT', 'system', 'pgtap', metadata => '{"other": true}', chain => 'test:beta') AS seq;

SELECT is((SELECT array_agg(status ORDER BY status) FROM pushes), ARRAY['duplicate', 'recorded', 'recorded'],
          'setup: two pushes recorded and one duplicate');
SELECT is((SELECT array_agg(chain_pos ORDER BY seq) FROM forgea_audit.audit_log WHERE chain_id = 'test:alpha'),
          ARRAY[1, 2, 3, 4, 5]::bigint[], 'setup: chain test:alpha has positions 1..5');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'setup: verify_chain() ok before any attempt');

-- The whole content of both tables, to prove refused statements changed nothing.
CREATE TEMP VIEW fingerprint AS
SELECT (SELECT count(*) FROM forgea_audit.audit_log) AS audit_rows,
       (SELECT count(*) FROM forgea_audit.chain_head) AS head_rows,
       (SELECT md5(string_agg(l::text, '|' ORDER BY l.seq)) FROM forgea_audit.audit_log l) AS audit_md5,
       (SELECT md5(string_agg(h::text, '|' ORDER BY h.chain_id)) FROM forgea_audit.chain_head h) AS head_md5;
CREATE TEMP TABLE before_attempts AS SELECT * FROM fingerprint;

-- Runs sql and returns 'SQLSTATE: message', or 'no error'.
\ir try.psql

-- Runs sql in a subtransaction, asks verify_chain(), and rolls the subtransaction back.
CREATE FUNCTION pg_temp.tampered(sql text, OUT ok boolean, OUT first_bad_seq bigint, OUT detail text,
                                 OUT tamper_error text)
    LANGUAGE plpgsql AS
$$
BEGIN
    BEGIN
        EXECUTE sql;
        SELECT v.ok, v.first_bad_seq, v.detail INTO ok, first_bad_seq, detail FROM forgea_audit.verify_chain() v;
        RAISE EXCEPTION USING ERRCODE = 'FAT01', MESSAGE = 'roll the tampering back';
    EXCEPTION
        WHEN SQLSTATE 'FAT01' THEN NULL;
        WHEN OTHERS THEN tamper_error := SQLSTATE || ': ' || SQLERRM;
    END;
END
$$;

-------------------------------------------------------------------------------------------------
-- Refused as superuser
-------------------------------------------------------------------------------------------------
SELECT ok((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), 'these statements run as a superuser');

SELECT matches(pg_temp.try($$UPDATE forgea_audit.audit_log SET metadata = '{"x": 1}' WHERE chain_id = 'test:alpha' AND chain_pos = 3$$),
               '^42501: UPDATE .*append-only', 'superuser: UPDATE audit_log refused with 42501 (append-only)');
SELECT matches(pg_temp.try($$UPDATE forgea_audit.audit_log SET severity = severity$$),
               '^42501: ', 'superuser: a no-op UPDATE of every audit_log row refused with 42501');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.audit_log WHERE chain_id = 'test:alpha' AND chain_pos = 5$$),
               '^42501: DELETE .*append-only', 'superuser: DELETE of the tail row refused with 42501');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.audit_log$$),
               '^42501: ', 'superuser: DELETE of every row refused with 42501');
SELECT matches(pg_temp.try($$TRUNCATE forgea_audit.audit_log CASCADE$$),
               '^42501: TRUNCATE .*append-only', 'superuser: TRUNCATE audit_log refused with 42501');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at,
                                  actor_type, action, outcome, severity)
                             SELECT 999999, 'test:alpha', 6, h.last_hash, h.last_hash, now(), 'system', 'FORGED', 'success', 'INFO'
                             FROM forgea_audit.chain_head h WHERE h.chain_id = 'test:alpha'$$),
               '^23000: restoring forgea_audit.audit_log refused: row seq 999999 .*its row_hash does not match its content',
               'superuser: direct INSERT into audit_log of a row that does not verify refused (23000), even one naming the head''s hash');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at,
                                  actor_type, action, outcome, severity)
                             VALUES (999998, 'test:new', 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                     now(), 'system', 'FORGED', 'success', 'INFO') ON CONFLICT DO NOTHING$$),
               '^23000: restoring forgea_audit.audit_log refused', 'superuser: INSERT ... ON CONFLICT DO NOTHING into audit_log refused (23000)');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.chain_head (chain_id) VALUES ('forged')$$),
               '^23000: restoring forgea_audit.chain_head refused: the head of chain "forged" \(length 0\): the log holds no row of that chain',
               'superuser: direct INSERT into chain_head of a head no row backs refused (23000)');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.chain_head (chain_id) VALUES ('test:alpha')
                             ON CONFLICT (chain_id) DO UPDATE SET length = 0$$),
               '^(42501|23000): ', 'superuser: INSERT ... ON CONFLICT DO UPDATE on chain_head refused');
SELECT matches(pg_temp.try($$UPDATE forgea_audit.chain_head SET length = length - 1 WHERE chain_id = 'test:alpha'$$),
               '^42501: .*written only', 'superuser: UPDATE chain_head refused with 42501');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.chain_head WHERE chain_id = 'test:alpha'$$),
               '^42501: DELETE', 'superuser: DELETE from chain_head refused with 42501');
SELECT matches(pg_temp.try($$TRUNCATE forgea_audit.chain_head$$),
               '^42501: TRUNCATE', 'superuser: TRUNCATE chain_head refused with 42501');
SELECT matches(pg_temp.try($$MERGE INTO forgea_audit.audit_log l USING (SELECT 1 AS one) s ON l.chain_id = 'test:beta'
                             WHEN MATCHED THEN DELETE$$),
               '^42501: ', 'superuser: MERGE ... DELETE on audit_log refused with 42501');
SELECT matches(pg_temp.try($$COPY forgea_audit.chain_head (chain_id) FROM PROGRAM 'echo forged-by-copy'$$),
               '^23000: restoring forgea_audit.chain_head refused', 'superuser: COPY FROM into chain_head of a head no row backs refused (23000)');
SELECT matches(pg_temp.try($$WITH gone AS (DELETE FROM forgea_audit.audit_log WHERE chain_id = 'test:beta' RETURNING 1)
                             SELECT count(*) FROM gone$$),
               '^42501: ', 'superuser: DELETE inside a CTE refused with 42501');

-------------------------------------------------------------------------------------------------
-- With session_replication_role = replica (triggers are ENABLE ALWAYS): still refused, but INSERT
-------------------------------------------------------------------------------------------------
SET session_replication_role = replica;
SELECT is(current_setting('session_replication_role'), 'replica', 'session_replication_role is now replica');
SELECT matches(pg_temp.try($$UPDATE forgea_audit.audit_log SET metadata = '{"x": 1}' WHERE chain_id = 'test:alpha' AND chain_pos = 3$$),
               '^42501: ', 'replica: UPDATE audit_log refused with 42501');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.audit_log WHERE chain_id = 'test:alpha' AND chain_pos = 5$$),
               '^42501: ', 'replica: DELETE from audit_log refused with 42501');
SELECT matches(pg_temp.try($$TRUNCATE forgea_audit.audit_log CASCADE$$),
               '^42501: ', 'replica: TRUNCATE audit_log refused with 42501');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.chain_head (chain_id) VALUES ('test:alpha')
                             ON CONFLICT (chain_id) DO UPDATE SET length = 0$$),
               '^(42501|23000): ', 'replica: INSERT ... ON CONFLICT DO UPDATE on chain_head (an UPDATE) refused');
-- INSERT is checked the same way in replica mode (the way 0.1.0 documented restores): a forged row
-- is refused where it would land, before verify_chain() would have to find it.
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos,
                                  prev_hash, row_hash, created_at, actor_type, action, outcome, severity)
                             VALUES (999999, 'test:alpha', 6, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                     now(), 'system', 'FORGED', 'success', 'INFO')$$),
               '^23000: restoring forgea_audit.audit_log refused: row seq 999999',
               'replica: a superuser''s INSERT of a row that does not verify is refused (23000)');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.chain_head (chain_id) VALUES ('forged')$$),
               '^23000: restoring forgea_audit.chain_head refused', 'replica: INSERT into chain_head of a head no row backs refused (23000)');
SELECT matches(pg_temp.try($$UPDATE forgea_audit.chain_head SET length = 0$$),
               '^42501: ', 'replica: UPDATE chain_head refused with 42501');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.chain_head$$),
               '^42501: ', 'replica: DELETE from chain_head refused with 42501');
SELECT matches(pg_temp.try($$TRUNCATE forgea_audit.chain_head$$),
               '^42501: ', 'replica: TRUNCATE chain_head refused with 42501');
RESET session_replication_role;

-------------------------------------------------------------------------------------------------
-- Refused for an ordinary role holding every privilege on the tables
-------------------------------------------------------------------------------------------------
DO $$ BEGIN
    CREATE ROLE fa_app_writer NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA forgea_audit TO fa_app_writer;
GRANT ALL ON forgea_audit.audit_log, forgea_audit.chain_head TO fa_app_writer;
SET ROLE fa_app_writer;
SELECT matches(pg_temp.try($$UPDATE forgea_audit.audit_log SET metadata = '{"x": 1}' WHERE chain_id = 'test:alpha' AND chain_pos = 3$$),
               '^42501: UPDATE .*append-only',
               'a role with ALL privileges: UPDATE audit_log refused by the guard (not by privileges)');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.audit_log WHERE chain_id = 'test:alpha'$$),
               '^42501: DELETE .*append-only', 'a role with ALL privileges: DELETE refused by the guard');
SELECT matches(pg_temp.try($$TRUNCATE forgea_audit.audit_log$$),
               '^42501: TRUNCATE .*append-only', 'a role with ALL privileges: TRUNCATE refused by the guard');
SELECT matches(pg_temp.try($$UPDATE forgea_audit.chain_head SET length = 0$$),
               '^42501: .*UPDATE is refused', 'a role with ALL privileges: UPDATE chain_head refused by the guard');
RESET ROLE;
REVOKE ALL ON forgea_audit.audit_log, forgea_audit.chain_head FROM fa_app_writer;
REVOKE USAGE ON SCHEMA forgea_audit FROM fa_app_writer;
DROP ROLE fa_app_writer;

SELECT is((SELECT row(f.*)::text FROM fingerprint f), (SELECT row(b.*)::text FROM before_attempts b),
          'after every refused statement both tables are byte for byte as before (row counts and content)');
SELECT is((SELECT ARRAY[ok::text, rows_checked::text] FROM forgea_audit.verify_chain()),
          ARRAY['true', (SELECT count(*)::text FROM forgea_audit.audit_log)],
          'verify_chain() is ok after the refused statements');
SELECT is((SELECT array_agg(tgenabled::text ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid IN ('forgea_audit.audit_log'::regclass, 'forgea_audit.chain_head'::regclass)
              AND tgname LIKE '%guard%'),
          ARRAY['A', 'A', 'A', 'A', 'A', 'A'], 'the six guard triggers (row, statement, truncate on both tables) are ENABLE ALWAYS');

-------------------------------------------------------------------------------------------------
-- Tampering that only a superuser disabling the triggers can do: verify_chain() must find it.
-- pg_temp.tampered(sql) runs sql in a subtransaction, asks verify_chain(), rolls back.
-------------------------------------------------------------------------------------------------

CREATE TEMP TABLE tamper AS
SELECT 'metadata' AS name, t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    UPDATE forgea_audit.audit_log SET metadata = metadata || '{"n": 33}' WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 3))) t;
INSERT INTO tamper SELECT 'metadata-type', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
    UPDATE forgea_audit.audit_log SET metadata = jsonb_set(metadata, '{n}', '"3"') WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 3))) t;
INSERT INTO tamper SELECT 'actor', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    UPDATE forgea_audit.audit_log SET actor_id = 'someone-else' WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 3))) t;
INSERT INTO tamper SELECT 'created_at', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    UPDATE forgea_audit.audit_log SET created_at = created_at + interval '1 microsecond' WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 3))) t;
INSERT INTO tamper SELECT 'delete-middle', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
    DELETE FROM forgea_audit.audit_log WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 3))) t;
INSERT INTO tamper SELECT 'delete-tail', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
    DELETE FROM forgea_audit.audit_log WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 5))) t;
INSERT INTO tamper SELECT 'delete-chain', t.* FROM pg_temp.tampered($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
    DELETE FROM forgea_audit.audit_log WHERE chain_id = 'test:alpha';
$$) t;
INSERT INTO tamper SELECT 'delete-head', t.* FROM pg_temp.tampered($$
    ALTER TABLE forgea_audit.chain_head DISABLE TRIGGER ALL;
    DELETE FROM forgea_audit.chain_head WHERE chain_id = 'test:alpha';
$$) t;
INSERT INTO tamper SELECT 'append-forged', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
    INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type,
                                        action, outcome, severity)
    SELECT 1000000, chain_id, 6, row_hash, sha256('forged'::bytea), created_at, actor_type, 'FORGED', outcome, severity
      FROM forgea_audit.audit_log WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 5))) t;
INSERT INTO tamper SELECT 'swap-pos', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
    UPDATE forgea_audit.audit_log SET chain_pos = -chain_pos WHERE seq IN (%1$s, %2$s);
    UPDATE forgea_audit.audit_log SET chain_pos = CASE WHEN seq = %1$s THEN 3 ELSE 2 END WHERE seq IN (%1$s, %2$s);
$$, (SELECT seq FROM alpha WHERE pos = 2), (SELECT seq FROM alpha WHERE pos = 3))) t;
INSERT INTO tamper SELECT 'hash-version', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    UPDATE forgea_audit.audit_log SET hash_version = 2 WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 4))) t;
INSERT INTO tamper SELECT 'move-chain', t.* FROM pg_temp.tampered(format($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    UPDATE forgea_audit.audit_log SET chain_id = 'test:beta', chain_pos = 2 WHERE seq = %s;
$$, (SELECT seq FROM alpha WHERE pos = 5))) t;
INSERT INTO tamper SELECT 'recorded-attempt', t.* FROM pg_temp.tampered($$
    ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
    UPDATE forgea_audit.audit_log SET outcome = 'failure'
     WHERE action = 'LAB_VERIFY_ATTEMPT' AND correlation_id = '00000000-0000-4000-8000-00000000a001';
$$) t;

SELECT is((SELECT array_agg(name ORDER BY name) FROM tamper WHERE tamper_error IS NOT NULL), NULL,
          'every tampering statement itself ran without error');

SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'metadata'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 3)],
          'middle row metadata changed (DISABLE TRIGGER USER): not ok, first_bad_seq = that row');
SELECT matches((SELECT detail FROM tamper WHERE name = 'metadata'), 'position 3 .*row_hash does not match',
               'middle row metadata changed: detail says the row_hash does not match at position 3');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'metadata-type'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 3)],
          'metadata number 3 rewritten as the string "3" (DISABLE TRIGGER ALL): not ok at that row');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'actor'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 3)], 'middle row actor_id changed: not ok at that row');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'created_at'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 3)],
          'middle row created_at moved by one microsecond: not ok at that row');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'delete-middle'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 4)],
          'middle row deleted: not ok, first_bad_seq = the row after it');
SELECT matches((SELECT detail FROM tamper WHERE name = 'delete-middle'), 'position 4 .*(missing|expected position 3)',
               'middle row deleted: detail says rows are missing before position 4');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'delete-tail'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 5)],
          'tail row deleted, chain_head kept: not ok, first_bad_seq = the deleted tail row');
SELECT matches((SELECT detail FROM tamper WHERE name = 'delete-tail'), 'test:alpha.*records 5 rows.*holds 4 rows',
               'tail row deleted: detail says the head records 5 rows and the log holds 4');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'delete-chain'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 5)],
          'whole chain deleted, chain_head kept: not ok at the head''s last seq');
SELECT matches((SELECT detail FROM tamper WHERE name = 'delete-chain'), 'test:alpha.*(removed|none)',
               'whole chain deleted: detail says the chain was removed');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'delete-head'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 5)],
          'chain_head row deleted: not ok at the chain''s last seq');
SELECT matches((SELECT detail FROM tamper WHERE name = 'delete-head'), 'test:alpha.*head',
               'chain_head row deleted: detail names the missing head');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'append-forged'),
          ARRAY['false', '1000000'], 'a forged row appended past the head: not ok at the forged row');
SELECT is((SELECT ok FROM tamper WHERE name = 'swap-pos'), false, 'two rows'' chain positions swapped: not ok');
SELECT is((SELECT first_bad_seq FROM tamper WHERE name = 'swap-pos'), (SELECT seq FROM alpha WHERE pos = 2),
          'two rows'' chain positions swapped: first_bad_seq = the lower of the two');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'hash-version'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 4)], 'hash_version of a row changed: not ok at that row');
SELECT matches((SELECT detail FROM tamper WHERE name = 'hash-version'), 'hash_version',
               'hash_version changed: detail names the unknown hash_version');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'move-chain'),
          ARRAY['false', (SELECT seq::text FROM alpha WHERE pos = 5)],
          'the tail row of test:alpha moved to the end of test:beta: not ok at that row');
SELECT is((SELECT ARRAY[ok::text, first_bad_seq::text] FROM tamper WHERE name = 'recorded-attempt'),
          ARRAY['false', (SELECT audit_seq::text FROM pushes WHERE status = 'recorded' AND session_id = 's-a')],
          'a record_push audit row''s outcome changed: not ok at that row');

-- Everything rolled back: the log is whole and the guards are on again.
SELECT is((SELECT row(f.*)::text FROM fingerprint f), (SELECT row(b.*)::text FROM before_attempts b),
          'after the rolled-back tampering both tables are as before');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() is ok again after the rollbacks');
SELECT is((SELECT count(*)::int FROM pg_trigger
            WHERE tgrelid IN ('forgea_audit.audit_log'::regclass, 'forgea_audit.chain_head'::regclass)
              AND tgenabled <> CASE WHEN tgname LIKE '%guard%' THEN 'A' ELSE 'O' END::"char"), 0,
          'the rollbacks re-enabled every trigger');
SELECT matches(pg_temp.try($$DELETE FROM forgea_audit.audit_log WHERE chain_id = 'test:alpha'$$),
               '^42501: ', 'and DELETE is refused again');

-- Appending still works after all this, and the chain stays verifiable.
SELECT is(forgea_audit.append('TEST_EVENT', 'system', 'pgtap', metadata => '{"n": 6}', chain => 'test:alpha')
              > (SELECT max(seq) FROM alpha), true, 'append() after the attempts extends test:alpha');
SELECT is((SELECT length FROM forgea_audit.chain_head WHERE chain_id = 'test:alpha'), 6::bigint,
          'chain_head of test:alpha now records 6 rows');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() ok at the end');

-- An ERROR inside the library's own writer leaves the writer: the guard lets the writer's INSERT
-- through, a test trigger after it fails that row, and afterwards the same backend's own INSERT is
-- a restore again, checked and refused (pg/chain_writer.hpp's fa_as_chain_writer lowers the depth
-- however the write ends; a depth left raised would let the forged row in).
CREATE FUNCTION public.fail_marked_rows() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN
    IF NEW.action = 'TEST_FAIL_INSIDE_WRITER' THEN
        RAISE EXCEPTION 'failing a row the writer inserts' USING ERRCODE = 'P0001';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER zz_fail_marked_rows BEFORE INSERT ON forgea_audit.audit_log
    FOR EACH ROW EXECUTE FUNCTION public.fail_marked_rows();
SELECT matches(pg_temp.try($$SELECT forgea_audit.append('TEST_FAIL_INSIDE_WRITER', 'system', 'pgtap', chain => 'test:alpha')$$),
               '^P0001: failing a row the writer inserts', 'an append whose row fails inside the writer raises that error');
SELECT matches(pg_temp.try($$INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos,
                                  prev_hash, row_hash, created_at, actor_type, action, outcome, severity)
                             VALUES (999998, 'test:forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'),
                                     now(), 'system', 'FORGED', 'success', 'INFO')$$),
               '^23000: restoring forgea_audit.audit_log refused: row seq 999998',
               'after that error the session is no longer the writer: its forged INSERT is refused as a restore (23000)');
DROP TRIGGER zz_fail_marked_rows ON forgea_audit.audit_log;
DROP FUNCTION public.fail_marked_rows();
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() still ok: the failed append left nothing');

SELECT * FROM finish();
