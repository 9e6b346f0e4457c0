-- Hand-made push payloads for what the real GitHub fixtures do not show: force pushes, branch
-- deletions and creations, the 2048-commit and 3000-file limits, unicode paths, SHA-256 object
-- ids, missing pusher/sender, every spelling of a fork URL, several active sessions, STUCK
-- sessions, finished sessions, conflicting redeliveries, delivery headers, and time/format
-- settings that must not change a hash.
--
-- Every scenario uses a fork of its own (github.com/<owner>/<repo>), so scenarios never match each
-- other's sessions.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(119);

-------------------------------------------------------------------------------------------------
-- Helpers (pg_temp: gone with the connection)
-------------------------------------------------------------------------------------------------
-- A deterministic 40-hex (SHA-1 sized) object id, or 64-hex (SHA-256 sized) with len => 64.
CREATE FUNCTION pg_temp.oid_of(seed text, len int DEFAULT 40) RETURNS text
    LANGUAGE sql IMMUTABLE AS
$$ SELECT left(encode(sha256(convert_to(seed, 'UTF8')), 'hex'), len) $$;

CREATE FUNCTION pg_temp.zeros(len int DEFAULT 40) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT repeat('0', len) $$;

CREATE FUNCTION pg_temp.a_commit(id text, added text[], modified text[] DEFAULT '{}', removed text[] DEFAULT '{}')
    RETURNS jsonb LANGUAGE sql IMMUTABLE AS
$$
SELECT jsonb_build_object(
    'id', id, 'tree_id', pg_temp.oid_of('tree' || id, length(id)), 'distinct', true,
    'message', 'commit ' || left(id, 7), 'timestamp', '2024-03-04T05:06:07+02:00',
    'url', 'https://github.com/x/y/commit/' || id,
    'author', jsonb_build_object('name', 'A U Thor', 'email', 'author@example.com', 'username', 'author'),
    'committer', jsonb_build_object('name', 'A U Thor', 'email', 'author@example.com', 'username', 'author'),
    'added', to_jsonb(added), 'removed', to_jsonb(removed), 'modified', to_jsonb(modified))
$$;

-- A push to github.com/<owner_repo> shaped like GitHub's, one commit adding README.md unless
-- commits are given; extra is merged over the top level.
CREATE FUNCTION pg_temp.push(owner_repo text, commits jsonb DEFAULT NULL, extra jsonb DEFAULT '{}')
    RETURNS jsonb LANGUAGE sql IMMUTABLE AS
$$
WITH c AS (
    SELECT coalesce(commits, jsonb_build_array(pg_temp.a_commit(pg_temp.oid_of('after' || owner_repo), '{README.md}')))
           AS list
)
SELECT jsonb_build_object(
    'ref', 'refs/heads/main',
    'before', pg_temp.oid_of('before' || owner_repo),
    'after', coalesce(c.list -> -1 ->> 'id', pg_temp.oid_of('after' || owner_repo)),
    'created', false, 'deleted', false, 'forced', false, 'base_ref', NULL,
    'compare', 'https://github.com/' || owner_repo || '/compare/a...b',
    'commits', c.list,
    'head_commit', c.list -> -1,
    'repository', jsonb_build_object(
        'id', 700000 + length(owner_repo), 'node_id', 'R_x', 'name', split_part(owner_repo, '/', 2),
        'full_name', owner_repo, 'private', false,
        'html_url', 'https://github.com/' || owner_repo,
        'url', 'https://github.com/' || owner_repo,
        'clone_url', 'https://github.com/' || owner_repo || '.git',
        'ssh_url', 'git@github.com:' || owner_repo || '.git',
        'created_at', 1700000000, 'pushed_at', 1700000100, 'default_branch', 'main'),
    'pusher', jsonb_build_object('name', split_part(owner_repo, '/', 1), 'email', 'pusher@example.com'),
    'sender', jsonb_build_object('login', split_part(owner_repo, '/', 1), 'id', 4242, 'type', 'User'))
    || extra
FROM c
$$;

-- A lab session: status and how long ago it started; its activity stamps start far in the past.
CREATE FUNCTION pg_temp.session(id text, fork text, status "LabStatus" DEFAULT 'IN_PROGRESS',
                                ago interval DEFAULT '1 hour') RETURNS void
    LANGUAGE sql AS
$$
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "startedAt", "lastActivityAt",
                          "createdAt", "updatedAt")
VALUES (id, 'user-' || id, 'lab-handmade', fork, status, (now() AT TIME ZONE 'UTC') - ago,
        '2001-02-03 04:05:06', '2001-02-03 04:05:06', '2001-02-03 04:05:06')
$$;

-- What each record_push call returned, by label.
CREATE TEMP TABLE res (label text PRIMARY KEY, status text, attempt_id bigint, session_id text, audit_seq bigint,
                       guid uuid, now_utc timestamp);

CREATE FUNCTION pg_temp.rec(label text, payload jsonb, guid text, headers jsonb DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql AS
$$
DECLARE r record;
BEGIN
    SELECT * INTO STRICT r FROM forgea_audit.record_push(payload, guid, headers);
    INSERT INTO res VALUES (label, r.status, r.attempt_id, r.session_id, r.audit_seq, guid::uuid, now() AT TIME ZONE 'UTC');
    RETURN r.status;
END
$$;

-- The lab_attempt row and the first audit row of a labelled call.
CREATE TEMP VIEW att AS
SELECT res.label, a.* FROM res JOIN forgea_audit.lab_attempt a ON a.id = res.attempt_id;
CREATE TEMP VIEW aud AS
SELECT res.label, l.* FROM res JOIN forgea_audit.audit_log l ON l.seq = res.audit_seq;

-------------------------------------------------------------------------------------------------
-- Force push; the session stores its fork as HTTPS://GitHub.com/Alice/Force-Lab.git/
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-force', 'HTTPS://GitHub.com/Alice/Force-Lab.git/');
SELECT is(pg_temp.rec('force', pg_temp.push('alice/force-lab', NULL, '{"forced": true}'),
                      '00000000-0000-4000-8000-000000000001'),
          'recorded', 'force push: recorded');
SELECT is((SELECT session_id FROM res WHERE label = 'force'), 's-force',
          'a fork URL stored upper-cased with .git and a trailing slash matches the https payload URL');
SELECT is((SELECT ARRAY[forced, created, deleted] FROM att WHERE label = 'force'), ARRAY[true, false, false],
          'force push: forced true, created false, deleted false');
SELECT is((SELECT repository_key FROM att WHERE label = 'force'), 'github.com/alice/force-lab',
          'force push: repository_key is the lower-case host/owner/repo');
SELECT ok((SELECT NOT (metadata ? 'active_sessions') FROM aud WHERE label = 'force'),
          'one active session: the audit metadata has no active_sessions');

-------------------------------------------------------------------------------------------------
-- Branch deletion: after all zeros, no commits, head_commit null
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-delete', 'https://github.com/bob/delete-lab');
SELECT is(pg_temp.rec('delete', pg_temp.push('bob/delete-lab', '[]',
                      jsonb_build_object('ref', 'refs/heads/feature', 'after', pg_temp.zeros(), 'deleted', true,
                                         'head_commit', NULL)),
                      '00000000-0000-4000-8000-000000000002'),
          'recorded', 'branch deletion: recorded');
SELECT is((SELECT ARRAY[deleted, created, forced] FROM att WHERE label = 'delete'), ARRAY[true, false, false],
          'branch deletion: deleted true');
SELECT is((SELECT commit_sha FROM att WHERE label = 'delete'), pg_temp.zeros(),
          'branch deletion: commit_sha is the all-zero id');
SELECT is((SELECT changed_paths FROM att WHERE label = 'delete'), '{}'::text[],
          'branch deletion: changed_paths is the empty array');
SELECT is((SELECT changed_files FROM att WHERE label = 'delete'),
          '{"added": [], "modified": [], "removed": []}'::jsonb,
          'branch deletion: changed_files has three empty lists');
SELECT is((SELECT commit_count FROM att WHERE label = 'delete'), 0, 'branch deletion: commit_count 0');
SELECT is((SELECT pushed_at FROM att WHERE label = 'delete'), to_timestamp(1700000100),
          'branch deletion: pushed_at from repository.pushed_at (Unix seconds)');

-- The same deletion without "created"/"deleted"/"commits": derived from the zero ids.
SELECT is(pg_temp.rec('delete-derived', pg_temp.push('bob/delete-lab', '[]',
                      jsonb_build_object('ref', 'refs/heads/other', 'after', pg_temp.zeros(), 'head_commit', NULL))
                      - 'created' - 'deleted' - 'forced' - 'commits',
                      '00000000-0000-4000-8000-000000000003'),
          'recorded', 'deletion without created/deleted/commits keys: recorded');
SELECT is((SELECT ARRAY[deleted, created, forced] FROM att WHERE label = 'delete-derived'),
          ARRAY[true, false, false], 'deletion without the flags: deleted derived from the all-zero after');
SELECT is((SELECT ARRAY[commit_count::text, changed_paths::text] FROM att WHERE label = 'delete-derived'),
          ARRAY['0', '{}'], 'deletion without commits[]: no commits, no paths');

-------------------------------------------------------------------------------------------------
-- Branch creation: before all zeros
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-create', 'https://github.com/bob/create-lab.git');
SELECT is(pg_temp.rec('create', pg_temp.push('bob/create-lab', NULL,
                      jsonb_build_object('ref', 'refs/heads/new', 'before', pg_temp.zeros(), 'created', true)),
                      '00000000-0000-4000-8000-000000000004'),
          'recorded', 'branch creation: recorded');
SELECT is((SELECT ARRAY[created, deleted, forced] FROM att WHERE label = 'create'), ARRAY[true, false, false],
          'branch creation: created true');
SELECT is((SELECT before_sha FROM att WHERE label = 'create'), pg_temp.zeros(),
          'branch creation: before_sha is the all-zero id');
SELECT is(pg_temp.rec('create-derived', pg_temp.push('bob/create-lab', NULL,
                      jsonb_build_object('ref', 'refs/heads/new2', 'before', pg_temp.zeros()))
                      - 'created' - 'deleted' - 'forced',
                      '00000000-0000-4000-8000-000000000005'),
          'recorded', 'creation without created/deleted keys: recorded');
SELECT is((SELECT ARRAY[created, deleted, forced] FROM att WHERE label = 'create-derived'),
          ARRAY[true, false, false], 'creation without the flags: created derived from the all-zero before');

-------------------------------------------------------------------------------------------------
-- GitHub's limits: 2048 commits, 3000 files per list
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-big', 'https://github.com/carol/big-lab');
SELECT is(pg_temp.rec('commits-2048', pg_temp.push('carol/big-lab',
              (SELECT jsonb_agg(pg_temp.a_commit(pg_temp.oid_of('c' || n), ARRAY['gen/' || lpad(n::text, 4, '0') || '.txt'],
                                                 '{shared.txt}') ORDER BY n)
                 FROM generate_series(1, 2048) n)),
              '00000000-0000-4000-8000-000000000006'),
          'recorded', '2048 commits: recorded');
SELECT is((SELECT ARRAY[commit_count::text, commits_truncated::text, files_truncated::text] FROM att
            WHERE label = 'commits-2048'),
          ARRAY['2048', 'true', 'false'], '2048 commits: commit_count 2048 and commits_truncated');
SELECT is((SELECT cardinality(changed_paths) FROM att WHERE label = 'commits-2048'), 2049,
          '2048 commits: 2048 added paths + shared.txt, each once');
SELECT is((SELECT changed_paths[1:2] || changed_paths[2049:2049] FROM att WHERE label = 'commits-2048'),
          ARRAY['gen/0001.txt', 'gen/0002.txt', 'shared.txt'], '2048 commits: changed_paths sorted');
SELECT is((SELECT jsonb_array_length(changed_files -> 'modified') FROM att WHERE label = 'commits-2048'), 1,
          '2048 commits: shared.txt modified in every commit is listed once');
SELECT is(pg_temp.rec('commits-2047', pg_temp.push('carol/big-lab',
              (SELECT jsonb_agg(pg_temp.a_commit(pg_temp.oid_of('d' || n), ARRAY['g/' || n]) ORDER BY n)
                 FROM generate_series(1, 2047) n)),
              '00000000-0000-4000-8000-000000000007'),
          'recorded', '2047 commits: recorded');
SELECT is((SELECT ARRAY[commit_count::text, commits_truncated::text] FROM att WHERE label = 'commits-2047'),
          ARRAY['2047', 'false'], '2047 commits: not commits_truncated');

SELECT is(pg_temp.rec('files-3000', pg_temp.push('carol/big-lab',
              jsonb_build_array(pg_temp.a_commit(pg_temp.oid_of('files-3000'),
                  (SELECT array_agg('bulk/' || lpad(n::text, 5, '0') ORDER BY n DESC) FROM generate_series(1, 3000) n)))),
              '00000000-0000-4000-8000-000000000008'),
          'recorded', '3000 added files: recorded');
SELECT is((SELECT ARRAY[files_truncated, commits_truncated] FROM att WHERE label = 'files-3000'),
          ARRAY[true, false], '3000 added files in one commit: files_truncated');
SELECT is((SELECT changed_paths FROM att WHERE label = 'files-3000'),
          (SELECT array_agg('bulk/' || lpad(n::text, 5, '0') ORDER BY n) FROM generate_series(1, 3000) n),
          '3000 added files listed in reverse: changed_paths has all 3000, sorted');
SELECT is(pg_temp.rec('removed-3000', pg_temp.push('carol/big-lab',
              jsonb_build_array(pg_temp.a_commit(pg_temp.oid_of('removed-3000'), '{}', '{}',
                  (SELECT array_agg('old/' || n) FROM generate_series(1, 3000) n)))),
              '00000000-0000-4000-8000-000000000009'),
          'recorded', '3000 removed files: recorded');
SELECT is((SELECT files_truncated FROM att WHERE label = 'removed-3000'), true,
          '3000 files in the removed list: files_truncated');
SELECT is(pg_temp.rec('files-2999', pg_temp.push('carol/big-lab',
              jsonb_build_array(
                  pg_temp.a_commit(pg_temp.oid_of('f2999a'),
                      (SELECT array_agg('a/' || n) FROM generate_series(1, 2999) n),
                      (SELECT array_agg('m/' || n) FROM generate_series(1, 2999) n)),
                  pg_temp.a_commit(pg_temp.oid_of('f2999b'),
                      (SELECT array_agg('b/' || n) FROM generate_series(1, 2999) n)))),
              '00000000-0000-4000-8000-000000000010'),
          'recorded', 'lists of 2999 files: recorded');
SELECT is((SELECT ARRAY[files_truncated::text, cardinality(changed_paths)::text] FROM att WHERE label = 'files-2999'),
          ARRAY['false', '8997'], 'no list reaches 3000: not files_truncated, 3 x 2999 paths');

-------------------------------------------------------------------------------------------------
-- Unicode paths: byte-exact, sorted bytewise, distinct over commits and kinds
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE uni (p text);
INSERT INTO uni VALUES
    ('docs/résumé.md'),                                 -- precomposed é (NFC)
    ('docs/re' || U&'\0301' || 'sume' || U&'\0301' || '.md'),  -- e + combining acute (NFD): another path
    ('src/日本語.c'), ('🚀/launch.md'), ('emoji 😀 name.txt'), ('Zebra.txt'), ('apple.txt'), ('ÄÖÜ.txt'),
    ('docs/resume.md'), ('tab	in name.txt'), ('"quoted".txt'), ('back\slash.txt');
SELECT pg_temp.session('s-uni', 'https://github.com/dave/unicode-lab');
SELECT is(pg_temp.rec('unicode', pg_temp.push('dave/unicode-lab', jsonb_build_array(
              pg_temp.a_commit(pg_temp.oid_of('u1'), ARRAY['src/日本語.c', 'docs/résumé.md', '🚀/launch.md', 'Zebra.txt'],
                               ARRAY['apple.txt', '"quoted".txt'], ARRAY['back\slash.txt']),
              pg_temp.a_commit(pg_temp.oid_of('u2'),
                               ARRAY['docs/re' || U&'\0301' || 'sume' || U&'\0301' || '.md', 'emoji 😀 name.txt', 'tab	in name.txt'],
                               ARRAY['src/日本語.c', 'ÄÖÜ.txt', 'apple.txt'], ARRAY['docs/resume.md']),
              pg_temp.a_commit(pg_temp.oid_of('u3'), ARRAY['Zebra.txt'], ARRAY['🚀/launch.md'], '{}'))),
              '00000000-0000-4000-8000-000000000011'),
          'recorded', 'unicode paths: recorded');
SELECT is((SELECT changed_paths FROM att WHERE label = 'unicode'),
          (SELECT array_agg(p ORDER BY p COLLATE "C") FROM uni),
          'unicode paths: changed_paths = the 12 distinct paths in bytewise (COLLATE "C") order');
SELECT is((SELECT array_agg(encode(convert_to(p, 'UTF8'), 'hex') ORDER BY o) FROM att, unnest(changed_paths) WITH ORDINALITY u(p, o)
            WHERE label = 'unicode'),
          (SELECT array_agg(encode(convert_to(p, 'UTF8'), 'hex') ORDER BY convert_to(p, 'UTF8')) FROM uni),
          'unicode paths: the stored bytes are the sent bytes, ordered by their bytes');
SELECT ok((SELECT array_position(changed_paths, 'Zebra.txt') < array_position(changed_paths, 'apple.txt')
              AND array_position(changed_paths, 'apple.txt') < array_position(changed_paths, 'ÄÖÜ.txt')
              AND array_position(changed_paths, 'ÄÖÜ.txt') < array_position(changed_paths, '🚀/launch.md')
             FROM att WHERE label = 'unicode'),
          'unicode paths: Zebra < apple < ÄÖÜ < 🚀 (bytes, not the database collation)');
SELECT ok((SELECT array_position(changed_paths, 'docs/résumé.md') IS NOT NULL
              AND array_position(changed_paths, 'docs/re' || U&'\0301' || 'sume' || U&'\0301' || '.md') IS NOT NULL
              AND array_position(changed_paths, 'docs/résumé.md')
                  <> array_position(changed_paths, 'docs/re' || U&'\0301' || 'sume' || U&'\0301' || '.md')
             FROM att WHERE label = 'unicode'),
          'unicode paths: NFC and NFD spellings stay two distinct paths (no normalisation)');
SELECT is((SELECT changed_files FROM att WHERE label = 'unicode'),
          jsonb_build_object(
              'added', (SELECT jsonb_agg(p ORDER BY p COLLATE "C") FROM unnest(ARRAY['src/日本語.c', 'docs/résumé.md',
                        '🚀/launch.md', 'Zebra.txt', 'docs/re' || U&'\0301' || 'sume' || U&'\0301' || '.md',
                        'emoji 😀 name.txt', 'tab	in name.txt']) p),
              'modified', (SELECT jsonb_agg(p ORDER BY p COLLATE "C") FROM unnest(ARRAY['apple.txt', '"quoted".txt',
                           'src/日本語.c', 'ÄÖÜ.txt', '🚀/launch.md']) p),
              'removed', (SELECT jsonb_agg(p ORDER BY p COLLATE "C") FROM unnest(ARRAY['back\slash.txt', 'docs/resume.md']) p)),
          'unicode paths: changed_files lists each kind sorted bytewise, distinct, a path in several kinds in each');
SELECT is((SELECT count(*)::int FROM att WHERE label = 'unicode' AND changed_paths @> ARRAY['src/日本語.c']), 1,
          'unicode paths: the GIN-indexed changed_paths finds the attempt by a unicode path');

-------------------------------------------------------------------------------------------------
-- SHA-256 repositories: 64-hex object ids
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-sha256', 'https://github.com/erin/sha256-lab');
SELECT is(pg_temp.rec('sha256', pg_temp.push('erin/sha256-lab',
              jsonb_build_array(pg_temp.a_commit(pg_temp.oid_of('s256-1', 64), '{a.txt}'),
                                pg_temp.a_commit(pg_temp.oid_of('s256-2', 64), '{b.txt}')),
              jsonb_build_object('before', pg_temp.oid_of('s256-0', 64))),
              '00000000-0000-4000-8000-000000000012'),
          'recorded', 'SHA-256 object ids: recorded');
SELECT is((SELECT ARRAY[commit_sha, before_sha] FROM att WHERE label = 'sha256'),
          ARRAY[pg_temp.oid_of('s256-2', 64), pg_temp.oid_of('s256-0', 64)],
          'SHA-256 object ids: commit_sha and before_sha keep all 64 hex digits');
SELECT is(pg_temp.rec('sha256-create', pg_temp.push('erin/sha256-lab',
              jsonb_build_array(pg_temp.a_commit(pg_temp.oid_of('s256-3', 64), '{c.txt}')),
              jsonb_build_object('before', pg_temp.zeros(64), 'ref', 'refs/heads/b')) - 'created',
              '00000000-0000-4000-8000-000000000013'),
          'recorded', 'SHA-256 branch creation (64 zeros): recorded');
SELECT is((SELECT created FROM att WHERE label = 'sha256-create'), true,
          'SHA-256 branch creation: 64 zeros in before derive created');

-------------------------------------------------------------------------------------------------
-- Timestamps: repository.created_at / pushed_at as integers, ISO head_commit.timestamp fallback
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-time', 'https://github.com/frank/time-lab');
SELECT is(pg_temp.rec('time-int', pg_temp.push('frank/time-lab'), '00000000-0000-4000-8000-000000000014'),
          'recorded', 'repository.created_at and pushed_at as integers: recorded');
SELECT is((SELECT pushed_at FROM att WHERE label = 'time-int'), to_timestamp(1700000100),
          'pushed_at = repository.pushed_at read as Unix seconds');
SELECT is(pg_temp.rec('time-iso', jsonb_set(pg_temp.push('frank/time-lab', NULL, '{"ref": "refs/heads/iso"}'),
                                            '{repository}',
                                            (pg_temp.push('frank/time-lab') -> 'repository') - 'pushed_at'),
                      '00000000-0000-4000-8000-000000000015'),
          'recorded', 'no repository.pushed_at: recorded');
SELECT is((SELECT pushed_at FROM att WHERE label = 'time-iso'), '2024-03-04T05:06:07+02:00'::timestamptz,
          'no repository.pushed_at: pushed_at = head_commit.timestamp with its offset');

-------------------------------------------------------------------------------------------------
-- Missing pusher name and sender
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-anon', 'https://github.com/grace/anon-lab');
SELECT is(pg_temp.rec('anon', pg_temp.push('grace/anon-lab', NULL,
                      '{"pusher": {"email": "ghost@example.com"}}') - 'sender',
                      '00000000-0000-4000-8000-000000000016'),
          'recorded', 'pusher without name and no sender: recorded');
SELECT is((SELECT ARRAY[pusher_name, pusher_email, sender_login, sender_id::text] FROM att WHERE label = 'anon'),
          ARRAY[NULL, 'ghost@example.com', NULL, NULL],
          'pusher without name and no sender: pusher_name, sender_login, sender_id are NULL');
SELECT is(pg_temp.rec('null-pusher', pg_temp.push('grace/anon-lab', NULL,
                      '{"ref": "refs/heads/np", "pusher": null, "sender": null}'),
                      '00000000-0000-4000-8000-000000000017'),
          'recorded', 'pusher and sender JSON null: recorded');
SELECT is((SELECT ARRAY[pusher_name, pusher_email, sender_login] FROM att WHERE label = 'null-pusher'),
          ARRAY[NULL, NULL, NULL]::text[], 'pusher and sender JSON null: all NULL');

-------------------------------------------------------------------------------------------------
-- Fork URL spellings: scp-like ssh, ssh://, clone_url-only payload
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-scp', 'git@github.com:Heidi/SCP-Lab.git');
SELECT is(pg_temp.rec('scp', pg_temp.push('heidi/scp-lab'), '00000000-0000-4000-8000-000000000018'),
          'recorded', 'session fork stored as git@github.com:owner/repo.git: recorded');
SELECT is((SELECT session_id FROM res WHERE label = 'scp'), 's-scp',
          'scp-like ssh fork URL matches the https payload URL');
SELECT pg_temp.session('s-sshurl', 'ssh://git@github.com/heidi/ssh-lab.git');
SELECT is(pg_temp.rec('ssh', pg_temp.push('heidi/ssh-lab'), '00000000-0000-4000-8000-000000000019'),
          'recorded', 'session fork stored as ssh://git@github.com/owner/repo.git: recorded');
SELECT is((SELECT session_id FROM res WHERE label = 'ssh'), 's-sshurl',
          'ssh:// fork URL matches the https payload URL');
SELECT is(forgea_audit.repo_key(u), 'github.com/heidi/scp-lab', 'repo_key(' || u || ') = github.com/heidi/scp-lab')
  FROM unnest(ARRAY['https://github.com/heidi/scp-lab', 'https://github.com/Heidi/SCP-Lab.git',
                    'https://github.com/heidi/scp-lab/', 'HTTPS://GITHUB.COM/HEIDI/SCP-LAB.GIT/',
                    'git@github.com:heidi/scp-lab.git', 'ssh://git@github.com/heidi/scp-lab.git']) u;
SELECT pg_temp.session('s-clone', 'https://github.com/heidi/clone-lab');
SELECT is(pg_temp.rec('clone-only', jsonb_set(pg_temp.push('heidi/clone-lab'), '{repository}',
                                              (pg_temp.push('heidi/clone-lab') -> 'repository') - 'html_url'),
                      '00000000-0000-4000-8000-000000000020'),
          'recorded', 'payload without html_url: matched through clone_url');
SELECT is((SELECT repository_url FROM att WHERE label = 'clone-only'), 'https://github.com/heidi/clone-lab.git',
          'payload without html_url: repository_url is the clone_url as sent');

SELECT lives_ok($$SELECT pg_temp.session('s-badurl', 'not a repository url', 'IN_PROGRESS')$$,
               'an active session whose fork URL is not a repository URL can be stored (repo_key NULL in the index)');
SELECT is(forgea_audit.repo_key('not a repository url'), NULL, 'repo_key() of a non-URL is NULL');
SELECT is(pg_temp.rec('after-badurl', pg_temp.push('heidi/clone-lab', NULL, '{"ref": "refs/heads/x"}'),
                      '00000000-0000-4000-8000-000000000030'),
          'recorded', 'record_push still works with such a session in the table');

-------------------------------------------------------------------------------------------------
-- Several active sessions for one fork: the most recently started wins
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-multi-old', 'https://github.com/ivan/multi-lab', 'IN_PROGRESS', '3 hours');
SELECT pg_temp.session('s-multi-new', 'https://github.com/Ivan/Multi-Lab.git', 'IN_PROGRESS', '10 minutes');
SELECT pg_temp.session('s-multi-stuck', 'git@github.com:ivan/multi-lab.git', 'STUCK', '2 hours');
SELECT pg_temp.session('s-multi-done', 'https://github.com/ivan/multi-lab', 'COMPLETED', '1 minute');
SELECT pg_temp.session('s-multi-quit', 'https://github.com/ivan/multi-lab', 'ABANDONED', '30 seconds');
SELECT is(pg_temp.rec('multi', pg_temp.push('ivan/multi-lab'), '00000000-0000-4000-8000-000000000021'),
          'recorded', 'three active sessions for one fork: recorded');
SELECT is((SELECT session_id FROM res WHERE label = 'multi'), 's-multi-new',
          'three active sessions: the most recently started active one wins (not a later COMPLETED/ABANDONED one)');
SELECT is((SELECT (metadata ->> 'active_sessions')::int FROM aud WHERE label = 'multi'), 3,
          'three active sessions: audit metadata active_sessions = 3');
SELECT is((SELECT array_agg("status"::text ORDER BY "id" COLLATE "C") FROM "LabSession" WHERE "id" LIKE 's-multi-%'),
          ARRAY['COMPLETED', 'IN_PROGRESS', 'IN_PROGRESS', 'ABANDONED', 'STUCK'],
          'three active sessions: only the winner is touched, the STUCK loser stays STUCK');
SELECT is((SELECT count(*)::int FROM "LabSession" WHERE "id" LIKE 's-multi-%' AND "lastActivityAt" > '2001-02-03 04:05:06'),
          1, 'three active sessions: only the winner''s lastActivityAt moved');

-------------------------------------------------------------------------------------------------
-- STUCK -> IN_PROGRESS
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-stuck', 'https://github.com/judy/stuck-lab', 'STUCK');
SELECT is(pg_temp.rec('stuck', pg_temp.push('judy/stuck-lab'), '00000000-0000-4000-8000-000000000022'),
          'recorded', 'push to a STUCK session: recorded');
SELECT is((SELECT "status"::text FROM "LabSession" WHERE "id" = 's-stuck'), 'IN_PROGRESS',
          'push to a STUCK session: the session is IN_PROGRESS again');
SELECT is((SELECT array_agg(action ORDER BY seq) FROM forgea_audit.audit_log WHERE chain_id = 'session:s-stuck'),
          ARRAY['LAB_VERIFY_ATTEMPT', 'LAB_STATUS_TRANSITION'],
          'push to a STUCK session: LAB_VERIFY_ATTEMPT then LAB_STATUS_TRANSITION on the session chain');
SELECT is((SELECT ARRAY[t.parent_seq::text, t.metadata ->> 'from', t.metadata ->> 'to', t.correlation_id, t.target_type,
                        t.target_id, t.chain_pos::text]
             FROM forgea_audit.audit_log t WHERE t.chain_id = 'session:s-stuck' AND t.action = 'LAB_STATUS_TRANSITION'),
          (SELECT ARRAY[audit_seq::text, 'STUCK', 'IN_PROGRESS', guid::text, 'lab_session', 's-stuck', '2']
             FROM res WHERE label = 'stuck'),
          'LAB_STATUS_TRANSITION: parent_seq = the attempt row''s seq, from STUCK to IN_PROGRESS, same GUID, next position');
SELECT is((SELECT ARRAY["lastActivityAt", "updatedAt"] FROM "LabSession" WHERE "id" = 's-stuck'),
          (SELECT ARRAY[now_utc::timestamp(3), now_utc::timestamp(3)] FROM res WHERE label = 'stuck'),
          'push to a STUCK session: lastActivityAt and updatedAt = now() AT TIME ZONE ''UTC'' of the call');
SELECT is(pg_temp.rec('stuck-again', pg_temp.push('judy/stuck-lab', NULL, '{"ref": "refs/heads/again"}'),
                      '00000000-0000-4000-8000-000000000023'),
          'recorded', 'second push to the revived session: recorded');
SELECT is((SELECT count(*)::int FROM forgea_audit.audit_log WHERE chain_id = 'session:s-stuck'
              AND action = 'LAB_STATUS_TRANSITION'), 1,
          'second push to an IN_PROGRESS session: no further transition row');

-------------------------------------------------------------------------------------------------
-- Finished or unstarted sessions are not active: unmatched
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE before_unmatched AS SELECT count(*) AS n FROM forgea_audit.lab_attempt;
SELECT pg_temp.session('s-done', 'https://github.com/ken/done-lab', 'COMPLETED');
SELECT pg_temp.session('s-quit', 'https://github.com/ken/done-lab', 'ABANDONED');
SELECT pg_temp.session('s-idle', 'https://github.com/ken/done-lab', 'NOT_STARTED');
SELECT is(pg_temp.rec('unmatched', pg_temp.push('ken/done-lab'), '00000000-0000-4000-8000-000000000024'),
          'unmatched', 'only COMPLETED / ABANDONED / NOT_STARTED sessions for the fork: unmatched');
SELECT is((SELECT ARRAY[attempt_id::text, session_id] FROM res WHERE label = 'unmatched'), ARRAY[NULL, NULL]::text[],
          'unmatched: no attempt_id, no session_id');
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt) - (SELECT n::int FROM before_unmatched), 0,
          'unmatched: no lab_attempt row');
SELECT is((SELECT ARRAY[action, chain_id, correlation_id, actor_type, actor_id] FROM aud WHERE label = 'unmatched'),
          ARRAY['LAB_VERIFY_ATTEMPT_UNMATCHED', 'repository:github.com/ken/done-lab',
                '00000000-0000-4000-8000-000000000024', 'webhook', 'github'],
          'unmatched: a LAB_VERIFY_ATTEMPT_UNMATCHED row on chain repository:<key>, by webhook/github');
SELECT is((SELECT count(*)::int FROM "LabSession" WHERE "id" IN ('s-done', 's-quit', 's-idle')
              AND "lastActivityAt" = '2001-02-03 04:05:06' AND "updatedAt" = '2001-02-03 04:05:06'), 3,
          'unmatched: the inactive sessions are not touched');
SELECT is((SELECT array_agg("status"::text ORDER BY "id" COLLATE "C") FROM "LabSession" WHERE "id" IN ('s-done', 's-quit', 's-idle')),
          ARRAY['COMPLETED', 'NOT_STARTED', 'ABANDONED'], 'unmatched: the inactive sessions keep their status');
SELECT is(pg_temp.rec('no-session', pg_temp.push('nobody/never-lab'), '00000000-0000-4000-8000-000000000025'),
          'unmatched', 'a fork no session names: unmatched');

-------------------------------------------------------------------------------------------------
-- Conflict: same GUID, different payload
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-conf', 'https://github.com/lena/conflict-lab');
SELECT is(pg_temp.rec('conf-first', pg_temp.push('lena/conflict-lab'), '00000000-0000-4000-8000-000000000026'),
          'recorded', 'conflict scenario: the first delivery is recorded');
-- Put the session's stamps far back, so any change by the conflicting call would show.
UPDATE "LabSession" SET "lastActivityAt" = '2002-02-02 02:02:02', "updatedAt" = '2002-02-02 02:02:02'
 WHERE "id" = 's-conf';
CREATE TEMP TABLE conf_before AS
SELECT (SELECT to_jsonb(a) FROM forgea_audit.lab_attempt a WHERE a.delivery_id = '00000000-0000-4000-8000-000000000026')
           AS attempt,
       (SELECT to_jsonb(s) FROM "LabSession" s WHERE s."id" = 's-conf') AS session,
       (SELECT count(*) FROM forgea_audit.lab_attempt) AS attempts;
SELECT is(pg_temp.rec('conf-second', pg_temp.push('lena/conflict-lab', NULL,
                      jsonb_build_object('after', pg_temp.oid_of('something else'), 'forced', true)),
                      '00000000-0000-4000-8000-000000000026'),
          'conflict', 'same GUID, different payload: conflict');
SELECT is((SELECT attempt_id FROM res WHERE label = 'conf-second'), (SELECT attempt_id FROM res WHERE label = 'conf-first'),
          'conflict: returns the first attempt''s id');
SELECT is((SELECT ARRAY[action, outcome, severity, chain_id, correlation_id, target_id] FROM aud WHERE label = 'conf-second'),
          ARRAY['LAB_VERIFY_ATTEMPT_CONFLICT', 'failure', 'HIGH', 'session:s-conf',
                '00000000-0000-4000-8000-000000000026', (SELECT attempt_id::text FROM res WHERE label = 'conf-first')],
          'conflict: a LAB_VERIFY_ATTEMPT_CONFLICT row, outcome failure, severity HIGH, on the session chain');
SELECT is((SELECT to_jsonb(a) FROM forgea_audit.lab_attempt a WHERE a.delivery_id = '00000000-0000-4000-8000-000000000026'),
          (SELECT attempt FROM conf_before), 'conflict: the recorded attempt row is unchanged, column for column');
SELECT is((SELECT to_jsonb(s) FROM "LabSession" s WHERE s."id" = 's-conf'), (SELECT session FROM conf_before),
          'conflict: the session (lastActivityAt, updatedAt, status) is unchanged');
SELECT is((SELECT count(*) FROM forgea_audit.lab_attempt), (SELECT attempts FROM conf_before),
          'conflict: no lab_attempt row added');
-- A redelivery of the original body after the conflict is still a plain duplicate.
SELECT is(pg_temp.rec('conf-third', pg_temp.push('lena/conflict-lab'), '00000000-0000-4000-8000-000000000026'),
          'duplicate', 'the original body again after the conflict: duplicate');

-------------------------------------------------------------------------------------------------
-- Delivery headers: names case-insensitive; ping refused
-------------------------------------------------------------------------------------------------
SELECT pg_temp.session('s-hdr', 'https://github.com/mona/header-lab');
SELECT is(pg_temp.rec('headers', pg_temp.push('mona/header-lab'), '00000000-0000-4000-8000-000000000027',
                      '{"x-github-event": "push", "X-GITHUB-HOOK-ID": "4711",
                        "x-GitHub-Hook-Installation-Target-Type": "repository",
                        "X-GitHub-Hook-Installation-Target-ID": "123456", "USER-AGENT": "GitHub-Hookshot/f00ba4",
                        "X-Hub-Signature-256": "sha256=deadbeef", "Content-Type": "application/json",
                        "x-github-delivery": "00000000-0000-4000-8000-000000000027"}'),
          'recorded', 'headers with mixed-case names: recorded');
SELECT is((SELECT delivery FROM att WHERE label = 'headers'),
          '{"event": "push", "hook_id": "4711", "hook_target_type": "repository", "hook_target_id": "123456",
            "user_agent": "GitHub-Hookshot/f00ba4"}'::jsonb,
          'headers: event, hook_id, hook_target_type, hook_target_id, user_agent kept whatever their case; '
          'signature and content type dropped');
SELECT is((SELECT delivery FROM att WHERE label = 'force'), NULL, 'no headers: delivery is NULL');
SELECT is(pg_temp.rec('headers-again', pg_temp.push('mona/header-lab'), '00000000-0000-4000-8000-000000000027',
                      '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "9999", "User-Agent": "GitHub-Hookshot/other"}'),
          'duplicate', 'a redelivery with the same body but other hook headers is a duplicate (headers are not the payload)');
SELECT is((SELECT delivery ->> 'hook_id' FROM att WHERE label = 'headers'), '4711',
          'the duplicate did not overwrite the attempt''s kept headers');

CREATE TEMP TABLE before_ping AS
SELECT (SELECT count(*) FROM forgea_audit.audit_log) AS audit, (SELECT count(*) FROM forgea_audit.lab_attempt) AS attempts,
       (SELECT to_jsonb(s) FROM "LabSession" s WHERE s."id" = 's-hdr') AS session;
SELECT throws_ok($$SELECT * FROM forgea_audit.record_push(pg_temp.push('mona/header-lab', NULL, '{"ref": "refs/heads/p"}'),
                                   '00000000-0000-4000-8000-000000000028', '{"X-GitHub-Event": "ping"}')$$,
                 '22023', NULL, 'X-GitHub-Event: ping is refused with 22023');
SELECT throws_ok($$SELECT * FROM forgea_audit.record_push(pg_temp.push('mona/header-lab', NULL, '{"ref": "refs/heads/p"}'),
                                   '00000000-0000-4000-8000-000000000028', '{"x-github-event": "PUSH "}')$$,
                 '22023', NULL, 'an event header that is not exactly "push" (any name case) is refused with 22023');
SELECT throws_ok($$SELECT * FROM forgea_audit.record_push(pg_temp.push('mona/header-lab'), 'not-a-guid')$$,
                 '22P02', NULL, 'a delivery id that is not a GUID is refused with 22P02');
SELECT throws_ok($$SELECT * FROM forgea_audit.record_push(pg_temp.push('mona/header-lab', NULL, '{"after": "abc123"}'),
                                   '00000000-0000-4000-8000-000000000028')$$,
                 '22P02', NULL, 'an "after" that is not an object id is refused with 22P02');
SELECT is(ARRAY[(SELECT count(*) FROM forgea_audit.audit_log), (SELECT count(*) FROM forgea_audit.lab_attempt)],
          (SELECT ARRAY[audit, attempts] FROM before_ping), 'refused deliveries wrote no audit row and no attempt');
SELECT is((SELECT to_jsonb(s) FROM "LabSession" s WHERE s."id" = 's-hdr'), (SELECT session FROM before_ping),
          'refused deliveries left the matching session untouched');
SELECT is(pg_temp.rec('after-ping', pg_temp.push('mona/header-lab', NULL, '{"ref": "refs/heads/p"}'),
                      '00000000-0000-4000-8000-000000000028', '{"X-GitHub-Event": "push"}'),
          'recorded', 'the GUID of a refused delivery is still free: recorded when sent as a push');
-- The README's webhook route builds the headers object with req.headers.get(...), which is null for
-- a header the delivery did not carry; JSON.stringify keeps those as JSON null.
SELECT lives_ok($$SELECT pg_temp.rec('headers-null', pg_temp.push('mona/header-lab', NULL, '{"ref": "refs/heads/nullhdr"}'),
                      '00000000-0000-4000-8000-000000000031',
                      '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "5",
                        "X-GitHub-Hook-Installation-Target-Type": null, "X-GitHub-Hook-Installation-Target-ID": null,
                        "User-Agent": "GitHub-Hookshot/f00ba4"}')$$,
                'headers with JSON null for absent headers (as the README''s route sends them) are accepted');
SELECT is((SELECT ARRAY[status, (SELECT delivery::text FROM att WHERE label = 'headers-null')] FROM res WHERE label = 'headers-null'),
          ARRAY['recorded', '{"event": "push", "hook_id": "5", "user_agent": "GitHub-Hookshot/f00ba4"}'],
          'headers with JSON null values: recorded, the null headers left out of delivery');

-------------------------------------------------------------------------------------------------
-- Chain checks, also under other time/format settings
-------------------------------------------------------------------------------------------------
SELECT is((SELECT count(*)::int FROM forgea_audit.lab_attempt a WHERE NOT EXISTS
              (SELECT 1 FROM forgea_audit.audit_log l WHERE l.action = 'LAB_VERIFY_ATTEMPT'
                  AND l.target_id = a.id::text AND l.correlation_id = a.delivery_id::text)), 0,
          'every lab_attempt has its LAB_VERIFY_ATTEMPT audit row');
SELECT is((SELECT ARRAY[ok::text, rows_checked::text] FROM forgea_audit.verify_chain()),
          ARRAY['true', (SELECT count(*)::text FROM forgea_audit.audit_log)],
          'verify_chain() is ok and checked every audit row');

SET TimeZone = 'America/Los_Angeles';
SET DateStyle = 'SQL, DMY';
SET extra_float_digits = -3;
SET bytea_output = 'escape';
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true,
          'verify_chain() is ok under TimeZone America/Los_Angeles, DateStyle SQL/DMY, extra_float_digits -3, bytea escape');
-- Rows written under these settings must verify under the defaults, too.
SELECT pg_temp.session('s-tz', 'https://github.com/nina/tz-lab');
SELECT is(pg_temp.rec('tz', pg_temp.push('nina/tz-lab', NULL, '{"repository_extra": {"float": 0.1, "tiny": 1.5e-7}}'),
                      '00000000-0000-4000-8000-000000000029'),
          'recorded', 'a push recorded under the odd settings');
SELECT is((SELECT ARRAY["lastActivityAt", "updatedAt"] FROM "LabSession" WHERE "id" = 's-tz'),
          (SELECT ARRAY[now_utc::timestamp(3), now_utc::timestamp(3)] FROM res WHERE label = 'tz'),
          'under TimeZone America/Los_Angeles the session stamps are still now() AT TIME ZONE ''UTC''');
SELECT isnt((SELECT "lastActivityAt" FROM "LabSession" WHERE "id" = 's-tz'),
            (SELECT (now_utc AT TIME ZONE 'UTC' AT TIME ZONE 'America/Los_Angeles')::timestamp(3) FROM res WHERE label = 'tz'),
            'and not the Los Angeles wall-clock time');
SELECT cmp_ok(forgea_audit.append('TEST_SETTINGS', 'system', 'pgtap', 'test', 'tz',
                                  metadata => '{"pi": 3.14159265358979, "small": 1e-10, "at": "2024-01-02 03:04:05"}',
                                  proof => '{"b": [1.0, 2.50, -0.0]}'),
              '>', 0::bigint, 'append() under the odd settings returns a seq');
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() is ok under the odd settings after writing');
RESET TimeZone;
RESET DateStyle;
RESET extra_float_digits;
RESET bytea_output;
SELECT is((SELECT ARRAY[ok::text, rows_checked::text] FROM forgea_audit.verify_chain()),
          ARRAY['true', (SELECT count(*)::text FROM forgea_audit.audit_log)],
          'verify_chain() is ok under the default settings again');
SET client_encoding = 'LATIN1';
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'verify_chain() is ok under client_encoding LATIN1');
RESET client_encoding;

SELECT * FROM finish();
