-- record_push_json: the payload as JSON text (type json), read by a streaming parser.  (Last in
-- REGRESS: the rows it writes would shift the counts the other files print.)  Every bad
-- input of bad_input.sql fails through it with record_push's SQLSTATE, message and detail; what
-- only JSON text can carry (syntax errors, repeated keys, escapes, number spellings, spacing) is
-- handled the way the jsonb cast would; and one GUID is one delivery whichever function sees it.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-json', 'user-3', 'lab-1', 'https://github.com/json/text', 'IN_PROGRESS', '2026-01-01');

CREATE TEMP TABLE good AS SELECT jsonb_build_object(
    'ref', 'refs/heads/main',
    'before', repeat('a', 40), 'after', repeat('b', 40),
    'created', false, 'deleted', false, 'forced', false,
    'repository', jsonb_build_object('id', 1, 'full_name', 'json/text', 'html_url', 'https://github.com/json/text',
                                     'created_at', 1557933565, 'pushed_at', 1557933657),
    'pusher', jsonb_build_object('name', 'js', 'email', 'js@example.com'),
    'sender', jsonb_build_object('login', 'js', 'id', 2),
    'commits', jsonb_build_array(jsonb_build_object('id', repeat('b', 40), 'added', '["a.txt"]'::jsonb,
                                                    'modified', '[]'::jsonb, 'removed', '[]'::jsonb)),
    'head_commit', NULL) AS p;

-- One call through either function; the error it raised, or 'no error'.
CREATE FUNCTION pg_temp.try(via text, payload text, delivery text, headers jsonb DEFAULT NULL)
RETURNS TABLE (state text, message text, detail text) LANGUAGE plpgsql AS $$
BEGIN
    IF via = 'jsonb' THEN
        PERFORM * FROM forgea_audit.record_push(payload::jsonb, delivery, headers);
    ELSE
        PERFORM * FROM forgea_audit.record_push_json(payload::json, delivery, headers);
    END IF;
    RETURN QUERY SELECT 'none'::text, 'no error'::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN NEXT;
END $$;

-- Every case of bad_input.sql, as JSON text.
CREATE TEMP TABLE cases (n serial, label text, payload text,
                         delivery text DEFAULT 'c0ffee00-0000-4000-8000-00000000a001', headers jsonb);
INSERT INTO cases (label, payload) VALUES ('NULL payload', NULL);
INSERT INTO cases (label, payload, delivery) SELECT 'NULL delivery id', p::text, NULL FROM good;
INSERT INTO cases (label, payload, delivery) SELECT 'delivery id not a GUID', p::text, 'not-a-guid' FROM good;
INSERT INTO cases (label, payload, delivery)
    SELECT 'delivery id one digit short', p::text, '72d3162e-cc78-11e3-81ab-4c9367dc095' FROM good;
INSERT INTO cases (label, payload) VALUES ('an array', '[1, 2]'), ('a string', '"refs/heads/main"'), ('a number', '42');
INSERT INTO cases (label, payload) SELECT label, q::text FROM good, LATERAL (VALUES
    ('ref missing', p - 'ref'),
    ('ref a number', jsonb_set(p, '{ref}', '42')),
    ('ref empty', jsonb_set(p, '{ref}', '""')),
    ('after missing', p - 'after'),
    ('after null', jsonb_set(p, '{after}', 'null')),
    ('after not hex', jsonb_set(p, '{after}', to_jsonb(repeat('g', 40)))),
    ('after 41 digits', jsonb_set(p, '{after}', to_jsonb(repeat('a', 41)))),
    ('before not an id', jsonb_set(p, '{before}', '"HEAD~1"')),
    ('repository missing', p - 'repository'),
    ('repository a string', jsonb_set(p, '{repository}', '"bad/input"')),
    ('repository without a URL', p #- '{repository,html_url}'),
    ('html_url an array', jsonb_set(p, '{repository,html_url}', '["https://github.com/json/text"]')),
    ('html_url not a repository', jsonb_set(p, '{repository,html_url}', '"https://github.com/"')),
    ('repository.id a string', jsonb_set(p, '{repository,id}', '"one"')),
    ('commits an object', jsonb_set(p, '{commits}', '{"0": {}}')),
    ('commits null', jsonb_set(p, '{commits}', 'null')),
    ('a commit a string', jsonb_set(p, '{commits,0}', '"b"')),
    ('added a string', jsonb_set(p, '{commits,0,added}', '"a.txt"')),
    ('modified[1] a number', jsonb_set(p, '{commits,0,modified}', '["ok.txt", 7]')),
    ('removed[0] an object', jsonb_set(p, '{commits,0,removed}', '[{"path": "x"}]')),
    ('commit id not hex', jsonb_set(p, '{commits,0,id}', '"xyz"')),
    ('commit id a number', jsonb_set(p, '{commits,0,id}', '7')),
    ('forced a string', jsonb_set(p, '{forced}', '"yes"')),
    ('sender.id 2.5', jsonb_set(p, '{sender,id}', '2.5')),
    ('pusher a string', jsonb_set(p, '{pusher}', '"bad"')),
    ('pushed_at "yesterday"', jsonb_set(p, '{repository,pushed_at}', '"yesterday"')),
    ('pushed_at true', jsonb_set(p, '{repository,pushed_at}', 'true')),
    ('ref missing and a bad commit', jsonb_set(p - 'ref', '{commits,0,id}', '"xyz"'))) AS c(label, q);
INSERT INTO cases (label, payload, headers) SELECT label, p::text, h::jsonb FROM good, LATERAL (VALUES
    ('headers an array', '["push"]'),
    ('a header an object', '{"X-GitHub-Hook-ID": {"id": 1}}'),
    ('another event', '{"x-github-event": "ping"}')) AS c(label, h);

CREATE TEMP TABLE counts_before AS
SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) AS attempts, (SELECT count(*) FROM forgea_audit.audit_log) AS audit_rows;

-- The same SQLSTATE, message (but for the function's name) and detail as record_push, every time.
\x on
SELECT c.n, c.label, j.state, j.message, j.detail,
       j.state = b.state AND replace(j.message, 'record_push_json', 'record_push') = b.message
           AND j.detail IS NOT DISTINCT FROM b.detail AS same_as_record_push
FROM cases c,
     LATERAL pg_temp.try('json', c.payload, c.delivery, c.headers) j,
     LATERAL pg_temp.try('jsonb', c.payload, c.delivery, c.headers) b
ORDER BY c.n;
\x off

SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) = attempts AS no_attempt_written,
       (SELECT count(*) FROM forgea_audit.audit_log) = audit_rows AS no_audit_row_written
FROM counts_before;

-- Not JSON: json's input function refuses it before record_push_json runs (as jsonb's would).
SELECT * FROM forgea_audit.record_push_json('{"ref": "refs/heads/main", "after": ', 'c0ffee00-0000-4000-8000-00000000a002');
-- \u0000 is valid json but not jsonb: refused with jsonb's error, so both accept the same payloads.
SELECT * FROM forgea_audit.record_push_json('{"ref": "refs/heads/\u0000"}', 'c0ffee00-0000-4000-8000-00000000a003');
SELECT '{"ref": "refs/heads/\u0000"}'::jsonb;

-- Repeated keys: the last one wins, at every level, as in jsonb.  The first "after" is not an id,
-- the first repository another fork, the first "added" list another file, the first "commits"
-- another commit: only the last of each counts.
\set dup_keys '{"ref": "refs/heads/old", "after": "zz", "ref": "refs/heads/main", "before": "' `printf 'a%.0s' $(seq 40)` '", "after": "' `printf 'c%.0s' $(seq 40)` '", "repository": {"html_url": "https://github.com/someone/else"}, "repository": {"html_url": "https://github.com/json/text", "html_url": "https://github.com/JSON/text", "id": 5, "pushed_at": 1557933657}, "commits": [{"id": "nope"}], "commits": [{"id": "' `printf 'c%.0s' $(seq 40)` '", "added": ["first.txt"], "modified": ["m.txt"], "added": ["last.txt", "last.txt"]}]}'
SELECT status, session_id FROM forgea_audit.record_push_json(:'dup_keys', 'c0ffee00-0000-4000-8000-00000000a004');
SELECT ref, commit_sha = repeat('c', 40) AS last_after, repository_url, repository_id, changed_paths, changed_files,
       payload_sha256 = sha256(convert_to(forgea_audit.canonical_json(:'dup_keys'::jsonb), 'UTF8')) AS sha_as_jsonb
FROM forgea_audit.lab_attempt WHERE delivery_id = 'c0ffee00-0000-4000-8000-00000000a004';
-- jsonb reads the same text the same way: the retry through record_push is a duplicate, not a conflict.
SELECT status, attempt_id = (SELECT id FROM forgea_audit.lab_attempt WHERE delivery_id = 'c0ffee00-0000-4000-8000-00000000a004') AS same_attempt
FROM forgea_audit.record_push(:'dup_keys', 'c0ffee00-0000-4000-8000-00000000a004');

-- Escapes, number spellings and spacing: what jsonb would store.  "r\u0065f" is the key "ref";
-- 1.0e3 is the integer 1000 (numeric_out prints 1000); paths are de-escaped.
\set spelled '{ "r\\u0065f" : "refs/heads/main",\n  "after": "' `printf 'd%.0s' $(seq 40)` '",\n  "repository": { "html_url": "https:\\/\\/github.com\\/json\\/text", "id": 1.0e3, "pushed_at": 1557933657 },\n  "sender": {"login": "caf\\u00e9", "id": -0},\n  "commits": [ { "added": [ "src/caf\\u00e9.c", "a\\"quote\\".txt", "tab\\there", "plain.txt" ] } ] }'
SELECT status, session_id FROM forgea_audit.record_push_json(:'spelled', 'c0ffee00-0000-4000-8000-00000000a005');
SELECT ref, repository_url, repository_id, sender_login, sender_id, changed_paths,
       payload_sha256 = sha256(convert_to(forgea_audit.canonical_json(:'spelled'::jsonb), 'UTF8')) AS sha_as_jsonb
FROM forgea_audit.lab_attempt WHERE delivery_id = 'c0ffee00-0000-4000-8000-00000000a005';
SELECT status FROM forgea_audit.record_push(:'spelled', 'c0ffee00-0000-4000-8000-00000000a005');
-- The other way round: recorded through record_push, retried as pretty-printed text: a duplicate.
SELECT status FROM forgea_audit.record_push((SELECT jsonb_set(p, '{after}', to_jsonb(repeat('e', 40))) FROM good),
                                            'c0ffee00-0000-4000-8000-00000000a006');
SELECT status FROM forgea_audit.record_push_json((SELECT jsonb_pretty(jsonb_set(p, '{after}', to_jsonb(repeat('e', 40))))::json
                                                    FROM good), 'c0ffee00-0000-4000-8000-00000000a006');
-- ... and a different payload under that GUID is a conflict through either.
SELECT status FROM forgea_audit.record_push_json((SELECT jsonb_set(p, '{forced}', 'true')::text::json FROM good),
                                                 'c0ffee00-0000-4000-8000-00000000a006');

-- A string literal needs no cast: record_push_json is its own name, so nothing is ambiguous
-- (a record_push(json, ...) overload would make record_push('{...}', ...) "not unique").  A value
-- of type text needs ::json, as above (there is no implicit cast from text to json).
SELECT * FROM forgea_audit.record_push_json('{"ref": "refs/heads/main", "after": "zz"}', 'c0ffee00-0000-4000-8000-00000000a007');
SELECT * FROM forgea_audit.record_push('{"ref": "refs/heads/main", "after": "zz"}', 'c0ffee00-0000-4000-8000-00000000a007');
SELECT proname, pg_get_function_identity_arguments(oid) FROM pg_proc
WHERE pronamespace = 'forgea_audit'::regnamespace AND proname LIKE 'record_push%' ORDER BY 1;

SELECT ok FROM forgea_audit.verify_chain();
