-- Payloads at and beyond the documented limits (issue 10, case 5): every refusal is class 22 with
-- the JSON path, writes nothing, and record_push (jsonb) and record_push_json (json) give the same
-- verdict.  Before: a changed path of >= 2700 bytes failed with 54000 in lab_attempt's GIN index,
-- a repository URL over ~2.7 kB with 54000 in chain_head_pkey, and an integer of more than
-- 131,072 digits was recorded by record_push_json while jsonb (record_push) refused it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(27);

-- A push from fork url with one commit listing path as added; x: an extra member (raw JSON text).
CREATE FUNCTION pg_temp.push_text(url text, path text, x text DEFAULT '0') RETURNS text
    LANGUAGE sql IMMUTABLE AS
$$
SELECT '{"ref":"refs/heads/main","after":"' || repeat('a', 40) || '","before":"' || repeat('b', 40) ||
       '","repository":' || jsonb_build_object('html_url', url)::text ||
       ',"commits":[{"id":"' || repeat('c', 40) || '","added":' || jsonb_build_array('ok.txt', path)::text ||
       '}],"x":' || x || '}'
$$;

-- What both functions do with the same text and delivery id: "<sqlstate>" or "ok:<status>", and
-- how many audit and attempt rows the failing calls left.
CREATE FUNCTION pg_temp.verdict(body text, guid text, json_first boolean DEFAULT false) RETURNS text
    LANGUAGE plpgsql AS
$$
DECLARE
    out text;
    status text;
BEGIN
    BEGIN
        IF json_first THEN
            SELECT r.status INTO status FROM forgea_audit.record_push_json(body::json, guid) r;
        ELSE
            SELECT r.status INTO status FROM forgea_audit.record_push(body::jsonb, guid) r;
        END IF;
        out := 'ok:' || status;
    EXCEPTION WHEN OTHERS THEN
        out := SQLSTATE;
    END;
    RETURN out;
END
$$;

CREATE FUNCTION pg_temp.rows() RETURNS bigint LANGUAGE sql AS
$$ SELECT (SELECT count(*) FROM forgea_audit.audit_log) + (SELECT count(*) FROM forgea_audit.lab_attempt) $$;

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('limits-1', 'u1', 'lab', 'https://github.com/limits/fork', 'IN_PROGRESS', now() AT TIME ZONE 'UTC');

CREATE TEMP TABLE before_rows AS SELECT pg_temp.rows() AS n;

-- 1. File paths: 2048 bytes are a path, 2049 are refused (22001) with the path's JSON path.
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', repeat('p', 2049)),
                          '00000000-0000-4000-8000-00000000e001'), '22001', 'record_push: a 2049-byte path: 22001');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', repeat('p', 2049)),
                          '00000000-0000-4000-8000-00000000e001', true), '22001', 'record_push_json: the same: 22001');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', repeat('é', 1500)),
                          '00000000-0000-4000-8000-00000000e002'), '22001', 'record_push: 1500 two-byte characters (3000 bytes): 22001');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', repeat('é', 1500)),
                          '00000000-0000-4000-8000-00000000e002', true), '22001', 'record_push_json: the same: 22001');
SELECT throws_ok(format('SELECT * FROM forgea_audit.record_push_json(%L::json, %L)',
                        pg_temp.push_text('https://github.com/limits/fork', repeat('p', 3000)), '00000000-0000-4000-8000-00000000e003'),
                 '22001', 'invalid GitHub push payload: $.commits[0].added[1] is longer than 2048 bytes',
                 'the message names the JSON path');
SELECT is(pg_temp.rows(), (SELECT n FROM before_rows), 'refused paths wrote nothing');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', repeat('p', 2048)),
                          '00000000-0000-4000-8000-00000000e004'), 'ok:recorded', 'record_push: a 2048-byte path is recorded');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', repeat('p', 2048)),
                          '00000000-0000-4000-8000-00000000e004', true), 'ok:duplicate', 'record_push_json: the same delivery is its duplicate');
SELECT is((SELECT max(octet_length(p)) FROM forgea_audit.lab_attempt, unnest(changed_paths) p
           WHERE delivery_id = '00000000-0000-4000-8000-00000000e004'), 2048, 'the 2048-byte path is in changed_paths (GIN-indexed)');

-- 2. Repository URLs: 2048 bytes are a URL, 2049 are refused (22001) with the URL's JSON path.
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/' || repeat('r', 2049 - 26), 'a.txt'),
                          '00000000-0000-4000-8000-00000000e011'), '22001', 'record_push: a 2049-byte URL: 22001');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/' || repeat('r', 2049 - 26), 'a.txt'),
                          '00000000-0000-4000-8000-00000000e011', true), '22001', 'record_push_json: the same: 22001');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/' || repeat('r', 4000), 'a.txt'),
                          '00000000-0000-4000-8000-00000000e012'), '22001', 'record_push: a 4 kB URL (once 54000 from chain_head_pkey): 22001');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/' || repeat('r', 4000), 'a.txt'),
                          '00000000-0000-4000-8000-00000000e012', true), '22001', 'record_push_json: the same: 22001');
SELECT throws_ok(format('SELECT * FROM forgea_audit.record_push(%L::jsonb, %L)',
                        pg_temp.push_text('https://github.com/limits/' || repeat('r', 4000), 'a.txt'), '00000000-0000-4000-8000-00000000e013'),
                 '22001', 'invalid GitHub push payload: $.repository.html_url is longer than 2048 bytes',
                 'the message names the JSON path');
SELECT is(pg_temp.rows() - (SELECT n FROM before_rows),
          (SELECT count(*) FROM forgea_audit.audit_log WHERE correlation_id = '00000000-0000-4000-8000-00000000e004')
          + (SELECT count(*) FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-00000000e004'),
          'refused URLs wrote nothing: only the accepted delivery''s rows are new');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/' || repeat('r', 2048 - 26), 'a.txt'),
                          '00000000-0000-4000-8000-00000000e014'), 'ok:unmatched', 'record_push: a 2048-byte URL is recorded (unmatched: chain repository:<key>)');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/' || repeat('r', 2048 - 26), 'a.txt'),
                          '00000000-0000-4000-8000-00000000e015', true), 'ok:unmatched', 'record_push_json: the same');
SELECT is((SELECT max(octet_length(chain_id)) FROM forgea_audit.chain_head WHERE chain_id LIKE 'repository:%'),
          2048 - 8 + 11, 'its chain head is keyed by repository:<key> (chain_head_pkey)');

-- 3. Numbers: numeric holds 131,072 digits before the point; both functions agree on either side.
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'n.txt', repeat('9', 131073)),
                          '00000000-0000-4000-8000-00000000e021'), '22003', 'record_push: a 131,073-digit integer: 22003');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'n.txt', repeat('9', 131073)),
                          '00000000-0000-4000-8000-00000000e021', true), '22003', 'record_push_json: the same: 22003 (it was recorded)');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'n.txt', '-' || repeat('9', 131073)),
                          '00000000-0000-4000-8000-00000000e022', true), '22003', 'record_push_json: a negative one too');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'n.txt', '[' || repeat('7', 131073) || ']'),
                          '00000000-0000-4000-8000-00000000e023', true), '22003', 'record_push_json: in an array');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'n.txt', '{"k":' || repeat('7', 131073) || '}'),
                          '00000000-0000-4000-8000-00000000e024', true), '22003', 'record_push_json: in an object');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'm.txt', repeat('9', 131072)),
                          '00000000-0000-4000-8000-00000000e025'), 'ok:recorded', 'record_push: 131,072 digits are recorded');
SELECT is(pg_temp.verdict(pg_temp.push_text('https://github.com/limits/fork', 'm.txt', repeat('9', 131072)),
                          '00000000-0000-4000-8000-00000000e025', true), 'ok:duplicate', 'record_push_json: the same delivery is its duplicate (same hash)');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log
           WHERE correlation_id IN ('00000000-0000-4000-8000-00000000e021', '00000000-0000-4000-8000-00000000e022',
                                    '00000000-0000-4000-8000-00000000e023', '00000000-0000-4000-8000-00000000e024')),
          0::bigint, 'refused numbers wrote nothing');
SELECT ok((SELECT ok FROM forgea_audit.verify_chain()), 'chain intact');

SELECT * FROM finish();
