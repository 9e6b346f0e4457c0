-- Every real GitHub push payload in public.fixture_push (test/fixtures/github/push/*.json) goes
-- through forgea_audit.record_push once, against a lab session of its own whose "userForkUrl" is a
-- different spelling of the payload's repository URL, and once more with the same GUID.
--
-- The fixtures all name one repository per host (Codertocat/Hello-World on github.com and on
-- octocoders.github.io), so before each fixture's session is created every still-active session
-- is COMPLETED: the new one is the only session that can match.
--
-- Every expected value is computed here, in SQL, from the payload itself (never from the
-- extension's own helpers), so a parsing mistake in the extension shows up as a mismatch.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- One row per fixture: the session made for it, the GUID used, and what the calls returned.
CREATE TEMP TABLE run (
    ord          int PRIMARY KEY,
    name         text NOT NULL,
    session_id   text NOT NULL,
    fork_url     text NOT NULL,
    guid_in      text NOT NULL,              -- as passed (upper case for every other fixture)
    guid         uuid NOT NULL,
    headers      jsonb NOT NULL,
    now_utc      timestamp NOT NULL,         -- now() AT TIME ZONE 'UTC' of the recording call
    status       text, attempt_id bigint, ret_session text, audit_seq bigint,
    err          text,                       -- SQLSTATE and message if record_push raised
    dup_status   text, dup_attempt bigint, dup_session text, dup_seq bigint,
    late_status  text, late_attempt bigint
);

-- The fork URL each fixture's session stores: never the payload's html_url itself, always a form
-- that repo_key() must bring back to the same host/owner/repo.
CREATE TEMP VIEW fixture_forms AS
SELECT f.name,
       (row_number() OVER (ORDER BY f.name COLLATE "C"))::int AS ord,
       f.payload,
       m[1] AS host, m[2] AS owner, m[3] AS repo
FROM public.fixture_push f,
     LATERAL regexp_match(f.payload -> 'repository' ->> 'html_url', '^https://([^/]+)/([^/]+)/([^/]+)$') AS m;

DO $$
DECLARE
    f     record;
    url   text;
    g     uuid;
    gin   text;
    hdrs  jsonb;
    r     record;
BEGIN
    FOR f IN SELECT * FROM fixture_forms ORDER BY ord LOOP
        url := CASE f.ord % 8
            WHEN 0 THEN 'https://' || f.host || '/' || f.owner || '/' || f.repo || '.git'
            WHEN 1 THEN 'https://' || f.host || '/' || upper(f.owner) || '/' || f.repo
            WHEN 2 THEN 'https://' || f.host || '/' || f.owner || '/' || f.repo || '/'
            WHEN 3 THEN 'git@' || f.host || ':' || f.owner || '/' || f.repo || '.git'
            WHEN 4 THEN 'ssh://git@' || f.host || '/' || f.owner || '/' || f.repo || '.git'
            WHEN 5 THEN upper('https://' || f.host || '/' || f.owner || '/' || f.repo) || '.git/'
            WHEN 6 THEN 'https://' || upper(f.host) || '/' || lower(f.owner) || '/' || lower(f.repo) || '.GIT'
            ELSE        'git@' || f.host || ':' || upper(f.owner) || '/' || upper(f.repo) || '.git'
        END;
        g := gen_random_uuid();
        gin := CASE WHEN f.ord % 2 = 0 THEN upper(g::text) ELSE g::text END;
        hdrs := jsonb_build_object('X-GitHub-Event', 'push', 'X-GitHub-Delivery', gin,
                                   'X-GitHub-Hook-ID', (1000 + f.ord)::text,
                                   'User-Agent', 'GitHub-Hookshot/044aadd',
                                   'Content-Type', 'application/json');

        -- Only this fixture's session may be active for its repository.
        UPDATE "LabSession" SET "status" = 'COMPLETED'
         WHERE "status" IN ('IN_PROGRESS', 'STUCK');
        INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status",
                                  "startedAt", "lastActivityAt", "createdAt", "updatedAt")
        VALUES ('fx-' || f.name, 'user-' || f.ord, 'lab-fixtures', url, 'IN_PROGRESS',
                now() AT TIME ZONE 'UTC', '2001-02-03 04:05:06', '2001-02-03 04:05:06',
                '2001-02-03 04:05:06');

        INSERT INTO run (ord, name, session_id, fork_url, guid_in, guid, headers, now_utc)
        VALUES (f.ord, f.name, 'fx-' || f.name, url, gin, g, hdrs, now() AT TIME ZONE 'UTC');

        BEGIN
            SELECT * INTO STRICT r FROM forgea_audit.record_push(f.payload, gin, hdrs);
            UPDATE run SET status = r.status, attempt_id = r.attempt_id, ret_session = r.session_id,
                           audit_seq = r.audit_seq
             WHERE ord = f.ord;
            -- GitHub redelivers with the same GUID and the same body.
            SELECT * INTO STRICT r FROM forgea_audit.record_push(f.payload, gin, hdrs);
            UPDATE run SET dup_status = r.status, dup_attempt = r.attempt_id, dup_session = r.session_id,
                           dup_seq = r.audit_seq
             WHERE ord = f.ord;
        EXCEPTION WHEN OTHERS THEN
            UPDATE run SET err = SQLSTATE || ': ' || SQLERRM WHERE ord = f.ord;
        END;
    END LOOP;

    -- A redelivery long after the session ended is still a duplicate of the recorded attempt.
    UPDATE "LabSession" SET "status" = 'COMPLETED' WHERE "status" IN ('IN_PROGRESS', 'STUCK');
    FOR f IN SELECT run.ord, run.guid_in, run.headers, fx.payload
               FROM run JOIN fixture_forms fx USING (ord) WHERE run.err IS NULL ORDER BY run.ord LOOP
        BEGIN
            SELECT * INTO STRICT r FROM forgea_audit.record_push(f.payload, lower(f.guid_in), f.headers);
            UPDATE run SET late_status = r.status, late_attempt = r.attempt_id WHERE ord = f.ord;
        EXCEPTION WHEN OTHERS THEN
            UPDATE run SET late_status = 'error ' || SQLSTATE || ': ' || SQLERRM WHERE ord = f.ord;
        END;
    END LOOP;
END
$$;

-- Everything a test needs about one fixture, expected values computed from the payload.
CREATE TEMP VIEW checks AS
SELECT run.*, fx.payload,
       a.id AS a_id, a.session_id AS a_session, a.delivery_id AS a_delivery, a.commit_sha, a.before_sha,
       a.ref, a.base_ref, a.changed_paths, a.changed_files, a.commit_count, a.commits_truncated,
       a.files_truncated, a.created, a.deleted, a.forced, a.pusher_name, a.pusher_email,
       a.sender_login, a.sender_id, a.repository_id, a.repository_url, a.repository_full_name,
       a.repository_key, a.payload_sha256, a.delivery, a.pushed_at,
       (SELECT coalesce(array_agg(p ORDER BY p COLLATE "C"), '{}')
          FROM (SELECT DISTINCT p
                  FROM jsonb_array_elements(coalesce(fx.payload -> 'commits', '[]')) c,
                       LATERAL (SELECT jsonb_array_elements_text(coalesce(c -> 'added', '[]'))
                                UNION ALL SELECT jsonb_array_elements_text(coalesce(c -> 'modified', '[]'))
                                UNION ALL SELECT jsonb_array_elements_text(coalesce(c -> 'removed', '[]'))) AS x(p)) d
       ) AS want_paths,
       (SELECT jsonb_object_agg(k, (SELECT coalesce(jsonb_agg(p ORDER BY p COLLATE "C"), '[]')
                                      FROM (SELECT DISTINCT p
                                              FROM jsonb_array_elements(coalesce(fx.payload -> 'commits', '[]')) c,
                                                   jsonb_array_elements_text(coalesce(c -> k, '[]')) AS y(p)) d))
          FROM unnest(ARRAY['added', 'modified', 'removed']) AS k) AS want_files,
       s."status" AS s_status, s."lastActivityAt" AS s_last, s."updatedAt" AS s_updated
FROM run
JOIN fixture_forms fx USING (ord)
LEFT JOIN forgea_audit.lab_attempt a ON a.delivery_id = run.guid
LEFT JOIN "LabSession" s ON s."id" = run.session_id;

-- 32 checks per fixture, plus 6 over the whole run.
SELECT plan(32 * (SELECT count(*)::int FROM public.fixture_push) + 6);

SELECT cmp_ok((SELECT count(*)::int FROM public.fixture_push), '>=', 9,
              'all 9 GitHub push fixtures are loaded into fixture_push');

SELECT is(err, NULL, name || ': record_push raised no error') FROM checks ORDER BY ord;
SELECT isnt(fork_url, payload -> 'repository' ->> 'html_url',
            name || ': the session''s fork URL is a different spelling (' || fork_url || ')') FROM checks ORDER BY ord;
SELECT is(status, 'recorded', name || ': first delivery is ''recorded''') FROM checks ORDER BY ord;
SELECT is(ret_session, session_id, name || ': matched the fixture''s own session through ' || fork_url) FROM checks ORDER BY ord;
SELECT is(a_id, attempt_id, name || ': the returned attempt_id is the lab_attempt row of this GUID') FROM checks ORDER BY ord;
SELECT is(a_session, session_id, name || ': lab_attempt.session_id is the matched session') FROM checks ORDER BY ord;
SELECT is(commit_sha, payload ->> 'after', name || ': commit_sha = payload.after') FROM checks ORDER BY ord;
SELECT is(before_sha, payload ->> 'before', name || ': before_sha = payload.before') FROM checks ORDER BY ord;
SELECT is(ref, payload ->> 'ref', name || ': ref = payload.ref') FROM checks ORDER BY ord;
SELECT is(base_ref, payload ->> 'base_ref', name || ': base_ref = payload.base_ref') FROM checks ORDER BY ord;
SELECT is(changed_paths, want_paths,
          name || ': changed_paths = sorted distinct union of commits[].added/modified/removed') FROM checks ORDER BY ord;
SELECT is(changed_files, want_files,
          name || ': changed_files = {added, modified, removed}, each sorted and distinct') FROM checks ORDER BY ord;
SELECT is(commit_count, jsonb_array_length(payload -> 'commits'), name || ': commit_count = length of commits[]')
  FROM checks ORDER BY ord;
SELECT is(created, (payload ->> 'created')::boolean, name || ': created = payload.created') FROM checks ORDER BY ord;
SELECT is(deleted, (payload ->> 'deleted')::boolean, name || ': deleted = payload.deleted') FROM checks ORDER BY ord;
SELECT is(forced, (payload ->> 'forced')::boolean, name || ': forced = payload.forced') FROM checks ORDER BY ord;
SELECT is(ARRAY[commits_truncated, files_truncated], ARRAY[false, false],
          name || ': a short push is neither commits_truncated nor files_truncated') FROM checks ORDER BY ord;
SELECT is(repository_id, (payload -> 'repository' ->> 'id')::bigint, name || ': repository_id = repository.id')
  FROM checks ORDER BY ord;
SELECT is(ARRAY[repository_url, repository_full_name],
          ARRAY[payload -> 'repository' ->> 'html_url', payload -> 'repository' ->> 'full_name'],
          name || ': repository_url and repository_full_name are kept as GitHub sent them') FROM checks ORDER BY ord;
SELECT is(repository_key, lower(regexp_replace(payload -> 'repository' ->> 'html_url', '^https://', '')),
          name || ': repository_key is lower-case host/owner/repo') FROM checks ORDER BY ord;
SELECT is(ARRAY[sender_login, sender_id::text],
          ARRAY[payload -> 'sender' ->> 'login', payload -> 'sender' ->> 'id'],
          name || ': sender_login and sender_id = payload.sender') FROM checks ORDER BY ord;
SELECT is(ARRAY[pusher_name, pusher_email],
          ARRAY[payload -> 'pusher' ->> 'name', payload -> 'pusher' ->> 'email'],
          name || ': pusher_name and pusher_email = payload.pusher') FROM checks ORDER BY ord;
SELECT is(pushed_at, to_timestamp((payload -> 'repository' ->> 'pushed_at')::bigint),
          name || ': pushed_at = repository.pushed_at (Unix seconds)') FROM checks ORDER BY ord;
SELECT is(delivery,
          jsonb_build_object('event', 'push', 'hook_id', (1000 + ord)::text, 'user_agent', 'GitHub-Hookshot/044aadd'),
          name || ': delivery keeps event, hook_id and user_agent and drops other headers') FROM checks ORDER BY ord;
SELECT is(octet_length(payload_sha256), 32, name || ': payload_sha256 is 32 bytes') FROM checks ORDER BY ord;
SELECT is(payload_sha256, sha256(convert_to(forgea_audit.canonical_json(payload), 'UTF8')),
          name || ': payload_sha256 = SHA-256 of canonical_json(payload), as documented') FROM checks ORDER BY ord;
SELECT is(ARRAY[s_last, s_updated], ARRAY[now_utc::timestamp(3), now_utc::timestamp(3)],
          name || ': session lastActivityAt and updatedAt set to now() in UTC') FROM checks ORDER BY ord;
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log l
            WHERE l.seq = c.audit_seq AND l.action = 'LAB_VERIFY_ATTEMPT'
              AND l.chain_id = 'session:' || c.session_id AND l.actor_type = 'webhook' AND l.actor_id = 'github'
              AND l.correlation_id = c.guid::text AND l.target_type = 'lab_attempt'
              AND l.target_id = c.attempt_id::text AND l.outcome = 'success'),
          1, c.name || ': audit_seq names a LAB_VERIFY_ATTEMPT row on session:<id>, by webhook/github, '
                    || 'correlated with the lower-case GUID')
  FROM checks c ORDER BY ord;
SELECT is(ARRAY[dup_status, dup_attempt::text, dup_session],
          ARRAY['duplicate', attempt_id::text, session_id],
          name || ': a retry with the same GUID is ''duplicate'' of the same attempt and session') FROM checks ORDER BY ord;
SELECT is((SELECT array_agg(l.action ORDER BY l.seq) FROM forgea_audit.audit_log l
            WHERE l.correlation_id = c.guid::text),
          ARRAY['LAB_VERIFY_ATTEMPT', 'LAB_VERIFY_ATTEMPT_DUPLICATE', 'LAB_VERIFY_ATTEMPT_DUPLICATE'],
          c.name || ': the GUID''s audit rows are one LAB_VERIFY_ATTEMPT, then one DUPLICATE per retry')
  FROM checks c ORDER BY ord;
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt a WHERE a.delivery_id = c.guid), 1,
          c.name || ': exactly one lab_attempt row for the GUID after the retries') FROM checks c ORDER BY ord;
SELECT is(ARRAY[late_status, late_attempt::text], ARRAY['duplicate', attempt_id::text],
          name || ': a retry after the session was COMPLETED is still ''duplicate'' of the same attempt')
  FROM checks ORDER BY ord;

SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt), (SELECT count(*)::int FROM public.fixture_push),
          'one lab_attempt row per fixture in all');
SELECT is((SELECT count(DISTINCT session_id)::int FROM forgea_audit.lab_attempt),
          (SELECT count(*)::int FROM public.fixture_push),
          'each fixture''s attempt belongs to a session of its own');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log
            WHERE action NOT IN ('LAB_VERIFY_ATTEMPT', 'LAB_VERIFY_ATTEMPT_DUPLICATE')),
          0, 'no unmatched, conflict or transition rows were written');
SELECT is((SELECT count(*)::int FROM forgea_audit.chain_head), (SELECT count(*)::int FROM public.fixture_push),
          'one audit chain per session');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() is ok after all fixtures');

SELECT * FROM finish();
