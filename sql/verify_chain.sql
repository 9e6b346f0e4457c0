-- verify_chain() recomputes every link of every chain, whatever the session's settings, and names
-- the first row where a tamper that triggers cannot stop (a superuser disabling them) shows.
SELECT ok, detail ~ '^verified \d+ rows in \d+ chains$' AS detail_ok FROM forgea_audit.verify_chain();

-- Hashes use no setting-dependent text: the result is the same under other settings.
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SET client_encoding = 'LATIN1';
SELECT ok FROM forgea_audit.verify_chain();
RESET ALL;

-- Each tamper is done with the guards switched off, inside a transaction that is rolled back.
-- One field of one row changed:
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
UPDATE forgea_audit.audit_log SET metadata = metadata || '{"commit_sha": "0000000000000000000000000000000000000000"}'
WHERE seq = 1;
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- A middle row deleted (reported at the row after the gap):
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
DELETE FROM forgea_audit.audit_log WHERE seq = 2;
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- A row changed and its row_hash recomputed by someone who knows the encoding: the next link breaks.
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
UPDATE forgea_audit.audit_log SET row_hash = decode(repeat('ab', 32), 'hex') WHERE seq = 1;
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- The tail of a chain deleted, its head left:
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
DELETE FROM forgea_audit.audit_log WHERE seq = (SELECT last_seq FROM forgea_audit.chain_head WHERE chain_id = 'session:sess-stuck');
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- A whole chain deleted:
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
DELETE FROM forgea_audit.audit_log WHERE chain_id = 'exports';
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- A chain's head moved back (as if its last row never happened):
BEGIN;
ALTER TABLE forgea_audit.chain_head DISABLE TRIGGER ALL;
UPDATE forgea_audit.chain_head SET length = length - 1 WHERE chain_id = 'session:sess-stuck';
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- verify_chain() reads the heap in physical order, whatever that order is.  The log rewritten in
-- reverse seq order (every chain's rows arrive last first) still verifies, and the same tampers
-- are reported at the same rows as above.
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
CREATE TEMP TABLE saved_log AS SELECT * FROM forgea_audit.audit_log;
DELETE FROM forgea_audit.audit_log;
INSERT INTO forgea_audit.audit_log SELECT * FROM saved_log ORDER BY seq DESC;
SELECT pg_catalog.array_agg(seq ORDER BY ctid) = pg_catalog.array_agg(seq ORDER BY seq DESC) AS reversed_on_disk,
       count(*) > 5 AS several_rows
FROM forgea_audit.audit_log;
SELECT ok, rows_checked = (SELECT count(*) FROM saved_log) AS all_rows_checked FROM forgea_audit.verify_chain();
SAVEPOINT reversed;
UPDATE forgea_audit.audit_log SET metadata = metadata || '{"commit_sha": "0000000000000000000000000000000000000000"}'
WHERE seq = 1;
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK TO reversed;
DELETE FROM forgea_audit.audit_log WHERE seq = 2;
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK TO reversed;
DELETE FROM forgea_audit.audit_log WHERE seq = (SELECT last_seq FROM forgea_audit.chain_head WHERE chain_id = 'session:sess-stuck');
SELECT ok, first_bad_seq, detail FROM forgea_audit.verify_chain();
ROLLBACK;

-- Back to intact.
SELECT ok FROM forgea_audit.verify_chain();

-- The canonical JSON the chain hashes (docs/chain.md, section 3), on the document's example and
-- on escapes, numbers and unicode.
SELECT forgea_audit.canonical_json('{"b": 1, "aa": [true, null, "x\ny"], "a": 1.50}');
SELECT forgea_audit.canonical_json(jsonb_build_object('ctl', E'\u0001\u001f\b\f\r\t', 'q', 'a"b\c/d',
                                                       'num', '[1e3, -0.000, 12345678901234567890.5]'::jsonb,
                                                       'uni', 'résumé 日本 😀'));
SELECT forgea_audit.canonical_json('"scalar"'), forgea_audit.canonical_json('[]'), forgea_audit.canonical_json('{}');
