-- Fork matching as a hostile student would try it (issue 14).  A "LabSession" whose "userForkUrl"
-- is a crafted string (an '@' after a fragment or query mark, a backslash, a one-slash scheme)
-- must not capture the pushes to Alice's fork, even though it started later and the most recently
-- started active session wins; its URL has no key (NULL), so it matches nothing.  And when several
-- active sessions do share a fork, the operator sees it: the attempt's audit row has severity
-- MEDIUM, and forgea_audit.shared_forks lists the fork with all its sessions.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(32);

-- A push to github.com/<owner_repo> (the real new-branch fixture, re-addressed).
CREATE FUNCTION pg_temp.push(owner_repo text, after_seed text) RETURNS jsonb LANGUAGE sql AS
$$
SELECT jsonb_set(jsonb_set(p, '{repository,html_url}', to_jsonb('https://github.com/' || owner_repo)),
                 '{after}', to_jsonb(left(encode(sha256(convert_to(after_seed, 'UTF8')), 'hex'), 40)))
FROM (SELECT payload AS p FROM public.fixture_push WHERE name = 'api-with-new-branch.payload') f
$$;

CREATE FUNCTION pg_temp.session(id text, fork text, ago interval) RETURNS void LANGUAGE sql AS
$$
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "startedAt", "updatedAt")
VALUES (id, 'user-' || id, 'lab', fork, 'IN_PROGRESS', (now() AT TIME ZONE 'UTC') - ago, now())
$$;

-------------------------------------------------------------------------------------------------
-- Crafted fork URLs capture nothing
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-alice', 'https://github.com/alice/lab', '2 hours');
-- Mallory's sessions: each started after Alice's, so each would win if its URL matched.
SELECT pg_temp.session('s-mallory-' || n, u, make_interval(mins => n::int))
FROM unnest(ARRAY['https://evil.com#@github.com/alice/lab', 'https://evil.com?@github.com/alice/lab',
                  'https://github.com\@evil.com/alice/lab', 'https:/github.com/alice/lab',
                  'https://evil.com/#@github.com/alice/lab']) WITH ORDINALITY AS t(u, n);

-- The README's list of what gives NULL.
SELECT is(forgea_audit.repo_key(u), NULL, 'repo_key(' || u || ') is NULL')
FROM unnest(ARRAY['https://evil.com#@github.com/alice/lab', 'https://evil.com?@github.com/alice/lab',
                  'https://github.com\@evil.com/alice/lab', 'https:/github.com/alice/lab',
                  'ftp://github.com/alice/lab', 'https://github.com/alice/%6Cab', 'https://localhost/alice/lab']) u;
SELECT is(forgea_audit.repo_key('http://[::1]/alice/lab'), '[::1]/alice/lab', 'repo_key reads an IPv6 literal whole');

-- Through the index bind_lab_session_table() made (its entries for Mallory's sessions are NULL).
SET enable_seqscan = off;
SELECT is((SELECT array_agg("id" ORDER BY "id") FROM "LabSession"
           WHERE forgea_audit.repo_key("userForkUrl") = 'github.com/alice/lab' AND "status" IN ('IN_PROGRESS', 'STUCK')),
          ARRAY['s-alice'], 'the index finds only Alice''s session under github.com/alice/lab');
RESET enable_seqscan;

CREATE TEMP TABLE r AS
SELECT * FROM forgea_audit.record_push(pg_temp.push('alice/lab', 'a1'), '00000000-0000-4000-8000-0000000f0001',
                                       '{"X-GitHub-Event": "push"}');
SELECT is((SELECT status FROM r), 'recorded', 'a push to github.com/alice/lab is recorded');
SELECT is((SELECT session_id FROM r), 's-alice', '... against Alice''s session, not a later crafted one');
SELECT is((SELECT severity FROM forgea_audit.audit_log WHERE seq = (SELECT audit_seq FROM r)), 'INFO',
          '... with severity INFO: one active session for the fork');
SELECT ok((SELECT NOT (metadata ? 'active_sessions') FROM forgea_audit.audit_log WHERE seq = (SELECT audit_seq FROM r)),
          '... and no active_sessions in its metadata');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE session_id LIKE 's-mallory-%'), 0,
          'no attempt was recorded against a crafted session');

-- A payload whose own URL is crafted is refused (class 22), not matched to Alice.
SELECT throws_ok(format($$SELECT * FROM forgea_audit.record_push(%L::jsonb, '00000000-0000-4000-8000-0000000f0002')$$,
                        jsonb_set(pg_temp.push('alice/lab', 'a2'), '{repository,html_url}',
                                  '"https://evil.com#@github.com/alice/lab"')::text),
                 '22023', NULL, 'a payload whose html_url is crafted is refused with 22023');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-0000000f0002'),
          0, '... and nothing is recorded');

SELECT is((SELECT count(*)::int FROM forgea_audit.shared_forks WHERE repository_key = 'github.com/alice/lab'), 0,
          'shared_forks does not list Alice''s fork: the crafted sessions have no key');

-------------------------------------------------------------------------------------------------
-- Real forms students paste all reach the session
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-form-' || n, replace(u, 'OWNER', 'form' || n), '1 hour')
FROM unnest(ARRAY['https://www.github.com/OWNER/lab', 'HTTPS://GITHUB.COM/OWNER/LAB.GIT/',
                  'ssh://git@github.com:22/OWNER/lab.git', 'git@github.com:OWNER/lab.git',
                  'git://github.com/OWNER/lab.git']) WITH ORDINALITY AS t(u, n);
SELECT is((SELECT session_id FROM forgea_audit.record_push(pg_temp.push('form' || n || '/lab', 'f' || n),
                                                           ('00000000-0000-4000-8000-0000000f01' || lpad(n::text, 2, '0'))::text)),
          's-form-' || n, 'a push reaches the session whose fork URL is ' || u)
FROM unnest(ARRAY['https://www.github.com/OWNER/lab', 'HTTPS://GITHUB.COM/OWNER/LAB.GIT/',
                  'ssh://git@github.com:22/OWNER/lab.git', 'git@github.com:OWNER/lab.git',
                  'git://github.com/OWNER/lab.git']) WITH ORDINALITY AS t(u, n);

-------------------------------------------------------------------------------------------------
-- A fork shared by several active sessions: MEDIUM, and listed in shared_forks
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-bob', 'https://github.com/bob/lab', '2 hours');
SELECT pg_temp.session('s-carol', 'git@github.com:Bob/Lab.git', '5 minutes');
SELECT pg_temp.session('s-dave', 'https://github.com/dave/lab', '1 hour');

CREATE TEMP TABLE r2 AS
SELECT * FROM forgea_audit.record_push(pg_temp.push('bob/lab', 'b1'), '00000000-0000-4000-8000-0000000f0003');
SELECT is((SELECT session_id FROM r2), 's-carol', 'a push to a shared fork goes to the most recently started session');
SELECT is((SELECT ARRAY[severity, metadata ->> 'active_sessions'] FROM forgea_audit.audit_log
           WHERE seq = (SELECT audit_seq FROM r2)), ARRAY['MEDIUM', '2'],
          '... and its audit row has severity MEDIUM and active_sessions 2');

SELECT is((SELECT ARRAY[repository_key, active_sessions::text] FROM forgea_audit.shared_forks),
          ARRAY['github.com/bob/lab', '2'], 'shared_forks lists the one shared fork, with 2 active sessions');
SELECT is((SELECT session_ids FROM forgea_audit.shared_forks), ARRAY['s-carol', 's-bob'],
          '... its sessions, newest first');
SELECT is((SELECT user_ids FROM forgea_audit.shared_forks), ARRAY['user-s-carol', 'user-s-bob'],
          '... their users');
SELECT is((SELECT fork_urls FROM forgea_audit.shared_forks),
          ARRAY['git@github.com:Bob/Lab.git', 'https://github.com/bob/lab'], '... and the URLs as stored');

-- Once one of them is finished, the fork is no longer shared.
UPDATE "LabSession" SET "status" = 'COMPLETED' WHERE "id" = 's-carol';
SELECT is((SELECT count(*)::int FROM forgea_audit.shared_forks), 0, 'a finished session no longer counts');

-- Admins may read it, as themselves: the platform's table is read with the caller's rights (never
-- the extension owner's), so the admin needs SELECT on it; writers and readers may not read it at
-- all (it names users of every tenant).
SET ROLE forgea_audit_admin;
SELECT throws_ok('SELECT * FROM forgea_audit.shared_forks', '42501', NULL,
                 'forgea_audit_admin without SELECT on "LabSession" may not read shared_forks');
RESET ROLE;
GRANT SELECT ON "LabSession" TO forgea_audit_admin;
SET ROLE forgea_audit_admin;
SELECT lives_ok('SELECT * FROM forgea_audit.shared_forks', 'forgea_audit_admin with SELECT on "LabSession" may read shared_forks');
RESET ROLE;
SET ROLE forgea_audit_reader;
SELECT throws_ok('SELECT * FROM forgea_audit.shared_forks', '42501', NULL, 'forgea_audit_reader may not');
RESET ROLE;

SELECT * FROM finish();
