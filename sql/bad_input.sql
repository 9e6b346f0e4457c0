-- Bad input gets a class-22 error with a message, a detail naming the JSON path and a hint, and
-- writes nothing: not an attempt, not an audit row, not a session change.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-bad', 'user-2', 'lab-1', 'https://github.com/bad/input', 'IN_PROGRESS', '2026-01-01');

-- A valid payload for that fork: each case below breaks one thing in it.
CREATE TEMP TABLE good AS SELECT jsonb_build_object(
    'ref', 'refs/heads/main',
    'before', repeat('a', 40), 'after', repeat('b', 40),
    'created', false, 'deleted', false, 'forced', false,
    'repository', jsonb_build_object('id', 1, 'full_name', 'bad/input', 'html_url', 'https://github.com/bad/input',
                                     'created_at', 1557933565, 'pushed_at', 1557933657),
    'pusher', jsonb_build_object('name', 'bad', 'email', 'bad@example.com'),
    'sender', jsonb_build_object('login', 'bad', 'id', 2),
    'commits', jsonb_build_array(jsonb_build_object('id', repeat('b', 40), 'added', '["a.txt"]'::jsonb,
                                                    'modified', '[]'::jsonb, 'removed', '[]'::jsonb)),
    'head_commit', NULL) AS p;

-- Runs one call and reports the error it raised (or 'no error').
CREATE FUNCTION pg_temp.attempt(payload jsonb, delivery text DEFAULT 'c0ffee00-0000-4000-8000-000000000001',
                                headers jsonb DEFAULT NULL)
RETURNS TABLE (state text, message text, detail text, hint text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM * FROM forgea_audit.record_push(payload, delivery, headers);
    RETURN QUERY SELECT 'none'::text, 'no error'::text, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                            detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN NEXT;
END $$;

CREATE TEMP TABLE before_counts AS
SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) AS attempts,
       (SELECT count(*) FROM forgea_audit.audit_log) AS audit_rows,
       (SELECT "lastActivityAt" FROM "LabSession" WHERE "id" = 'sess-bad') AS activity;

\x on
-- NULL arguments.
SELECT * FROM pg_temp.attempt(NULL::jsonb);
SELECT * FROM pg_temp.attempt((SELECT p FROM good), NULL);
-- A delivery id that is not a GUID.
SELECT * FROM pg_temp.attempt((SELECT p FROM good), 'not-a-guid');
SELECT * FROM pg_temp.attempt((SELECT p FROM good), '72d3162e-cc78-11e3-81ab-4c9367dc095');
-- Not an object.
SELECT * FROM pg_temp.attempt('[1, 2]');
SELECT * FROM pg_temp.attempt('"refs/heads/main"');
-- ref: missing, mistyped, empty.
SELECT * FROM pg_temp.attempt((SELECT p - 'ref' FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{ref}', '42') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{ref}', '""') FROM good));
-- after / before: missing, mistyped, not hex, wrong length.
SELECT * FROM pg_temp.attempt((SELECT p - 'after' FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{after}', 'null') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{after}', to_jsonb(repeat('g', 40))) FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{after}', to_jsonb(repeat('a', 41))) FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{before}', '"HEAD~1"') FROM good));
-- repository: missing, mistyped, without a URL, URL mistyped, not a repository URL.
SELECT * FROM pg_temp.attempt((SELECT p - 'repository' FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{repository}', '"bad/input"') FROM good));
SELECT * FROM pg_temp.attempt((SELECT p #- '{repository,html_url}' FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{repository,html_url}', '["https://github.com/bad/input"]') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{repository,html_url}', '"https://github.com/"') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{repository,id}', '"one"') FROM good));
-- commits: not an array, an element not an object, a list not an array, a path not a string,
-- a commit id not hex.
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{commits}', '{"0": {}}') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{commits}', 'null') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{commits,0}', '"b"') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{commits,0,added}', '"a.txt"') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{commits,0,modified}', '["ok.txt", 7]') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{commits,0,id}', '"xyz"') FROM good));
-- Flags and identities of the wrong type.
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{forced}', '"yes"') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{sender,id}', '2.5') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{pusher}', '"bad"') FROM good));
-- Timestamps that are not timestamps.
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{repository,pushed_at}', '"yesterday"') FROM good));
SELECT * FROM pg_temp.attempt((SELECT jsonb_set(p, '{repository,pushed_at}', 'true') FROM good));
-- Headers: not an object, a header that is not a string, another event.
SELECT * FROM pg_temp.attempt((SELECT p FROM good), headers => '["push"]');
SELECT * FROM pg_temp.attempt((SELECT p FROM good), headers => '{"X-GitHub-Hook-ID": {"id": 1}}');
SELECT * FROM pg_temp.attempt((SELECT p FROM good), headers => '{"x-github-event": "ping"}');
\x off

-- Nothing was written by any of them.
SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) = attempts AS no_attempt_written,
       (SELECT count(*) FROM forgea_audit.audit_log) = audit_rows AS no_audit_row_written,
       (SELECT "lastActivityAt" FROM "LabSession" WHERE "id" = 'sess-bad') = activity AS session_untouched
FROM before_counts;

-- And the good payload itself is recorded, so the cases above failed for the reason they name.
SELECT state FROM pg_temp.attempt((SELECT p FROM good));
SELECT session_id, changed_paths FROM forgea_audit.lab_attempt WHERE delivery_id = 'c0ffee00-0000-4000-8000-000000000001';

-- As psql shows it to the webhook developer.
SELECT * FROM forgea_audit.record_push('{"ref": "refs/heads/main", "after": "zz"}', 'c0ffee00-0000-4000-8000-000000000003');
