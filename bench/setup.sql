-- Benchmark data: the platform's "LabSession" table with its sessions, and realistic GitHub push
-- payloads, all generated in SQL.  Loaded once per benchmark database by bench/lib/in_cluster.sh:
--
--   psql -v nforks=200 -v npayloads=5000 -v fixture="$(cat test/fixtures/github/push/api-with-new-branch.payload.json)" -f bench/setup.sql
--
-- Payloads are the real fixture (octokit/webhooks' api-with-new-branch push) re-targeted to one
-- student fork each (every Codertocat/Hello-World URL rewritten), with 1 to 4 generated commits of
-- 1 to 6 files each, a fresh before/after SHA, head_commit = the last commit and an integer
-- repository.pushed_at, as GitHub sends them.  Everything is deterministic (hashtext, md5): two runs
-- generate the same bytes.
\set ON_ERROR_STOP 1

\i test/fixtures/app-schema/lab_session.sql

CREATE SCHEMA bench;

-- A 40-hex-digit git object id derived from a seed.
CREATE FUNCTION bench.sha(seed text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT substr(md5(seed) || md5(seed || '/2'), 1, 40) $$;

-- A stable, non-negative pseudo-random integer from a seed.
CREATE FUNCTION bench.rnd(seed text, modulo int) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashtext(seed)::bigint) % modulo)::int $$;

-- A plausible repository path, numbered 0 .. (14 * 25 * 9 * k): directory, file name, extension.
CREATE FUNCTION bench.path(n int) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT (ARRAY['src', 'src/lib', 'src/util', 'src/parser', 'include', 'tests', 'tests/unit',
                  'tests/integration', 'docs', 'scripts', '.github/workflows', 'config', 'web/components',
                  'web/pages'])[1 + n % 14]
           || CASE WHEN n >= 3150 THEN '/module_' || (n / 3150)::text ELSE '' END
           || '/'
           || (ARRAY['main', 'parser', 'lexer', 'utils', 'config', 'handler', 'model', 'view', 'index',
                     'helpers', 'README', 'server', 'client', 'router', 'storage', 'cache', 'auth',
                     'session', 'commit_graph', 'merge_base', 'diff', 'blob', 'tree', 'refs',
                     'packfile'])[1 + (n / 14) % 25]
           || (ARRAY['.c', '.h', '.py', '.ts', '.md', '.yml', '.json', '.rs', '.go'])[1 + (n / 350) % 9]
$$;

-- One commit object as GitHub puts it in a push payload.
CREATE FUNCTION bench.make_commit(owner text, repo text, seed text, nfiles int, path_space int, msg_len int)
    RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    WITH f AS (
        SELECT bench.path(bench.rnd(seed || ':p' || j, path_space)) AS path,
               bench.rnd(seed || ':k' || j, 10) AS k
        FROM generate_series(1, nfiles) AS j
    )
    SELECT jsonb_build_object(
        'id', bench.sha(seed),
        'tree_id', bench.sha(seed || ':tree'),
        'distinct', true,
        'message', left((ARRAY['Fix off-by-one in the parser', 'Add tests for merge conflicts',
                               'Resolve conflict in README', 'WIP: rebase onto main',
                               'Update workflow and lint config', 'Refactor storage layer'])
                        [1 + bench.rnd(seed || ':m', 6)]
                        || repeat(E'\n\nDetails: adjusted the implementation and the tests accordingly.', 1 + msg_len / 64),
                        greatest(msg_len, 28)),
        'timestamp', to_char(timestamptz '2024-03-01 08:00:00+00' + bench.rnd(seed || ':t', 8000000) * interval '1 second',
                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'url', format('https://github.com/%s/%s/commit/%s', owner, repo, bench.sha(seed)),
        'author', jsonb_build_object('name', initcap(replace(owner, '-', ' ')),
                                     'email', lower(owner) || '@students.example.edu', 'username', owner),
        'committer', jsonb_build_object('name', 'GitHub', 'email', 'noreply@github.com', 'username', 'web-flow'),
        'added',    coalesce((SELECT jsonb_agg(path) FROM f WHERE k BETWEEN 6 AND 8), '[]'),
        'removed',  coalesce((SELECT jsonb_agg(path) FROM f WHERE k = 9), '[]'),
        'modified', coalesce((SELECT jsonb_agg(path) FROM f WHERE k <= 5), '[]'))
$$;

CREATE FUNCTION bench.fork_owner(fork int) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'Student-' || lpad(fork::text, 4, '0') $$;
CREATE FUNCTION bench.fork_repo(fork int) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT (ARRAY['git-basics', 'merge-conflicts', 'rebase-lab', 'bisect-hunt', 'hooks-and-ci'])[1 + fork % 5] $$;

-- A push payload for `fork`, the `n`-th of that fork's pushes.
CREATE FUNCTION bench.make_payload(fixture jsonb, fork int, n int, ncommits int, min_files int, max_files int,
                                   path_space int, msg_len int)
    RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    owner   text := bench.fork_owner(fork);
    repo    text := bench.fork_repo(fork);
    seed    text := fork || '/' || n;
    base    jsonb;
    commits jsonb;
    head    jsonb;
    branch  text := CASE WHEN bench.rnd(seed || ':b', 5) = 0 THEN 'refs/heads/feature/exercise-' || (n % 7)
                         ELSE 'refs/heads/main' END;
BEGIN
    base := replace(replace(replace(fixture::text, 'Codertocat/Hello-World', owner || '/' || repo),
                            'Codertocat', owner), 'Hello-World', repo)::jsonb;
    SELECT jsonb_agg(bench.make_commit(owner, repo, seed || ':c' || c,
                                       min_files + bench.rnd(seed || ':nf' || c, max_files - min_files + 1),
                                       path_space, msg_len) ORDER BY c)
    INTO commits FROM generate_series(1, ncommits) AS c;
    head := commits -> (ncommits - 1);
    RETURN base
        || jsonb_build_object(
               'ref', branch,
               'before', bench.sha(seed || ':before'),
               'after', head ->> 'id',
               'created', false,
               'forced', bench.rnd(seed || ':f', 20) = 0,
               'compare', format('https://github.com/%s/%s/compare/%s...%s', owner, repo,
                                 left(bench.sha(seed || ':before'), 12), left(head ->> 'id', 12)),
               'commits', commits,
               'head_commit', head,
               'repository', (base -> 'repository')
                             || jsonb_build_object('id', 700000000 + fork,
                                                   'fork', true,
                                                   'pushed_at', 1709280000 + n * 600 + fork,
                                                   'default_branch', 'main', 'master_branch', 'main'));
END
$$;

-- The benchmark's delivery GUIDs: one per (pgbench client, delivery number), so a retry of an
-- earlier delivery reuses its GUID exactly.
CREATE FUNCTION bench.guid(client int, k int) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT '0000b3c4-0000-4000-8000-' || lpad(to_hex(client::bigint * 1000000000 + k), 12, '0') $$;

-- Sessions: one active session per fork (5% of them STUCK, moved back to IN_PROGRESS by their first
-- push), each fork's two earlier COMPLETED sessions, and some NOT_STARTED sessions of other
-- students.  Fork URLs are stored the way students paste them (https, .git, scp-style ssh, mixed
-- case), so every lookup exercises URL normalisation.
CREATE TABLE bench.session_seed (LIKE "LabSession");
INSERT INTO bench.session_seed
SELECT 'sess-' || fork || CASE WHEN h = 0 THEN '' ELSE '-old' || h END,
       'user-' || fork,
       'lab-' || bench.fork_repo(fork) || CASE WHEN h = 0 THEN '' ELSE '-v' || h END,
       CASE (fork + h) % 3
           WHEN 0 THEN 'https://github.com/' || bench.fork_owner(fork) || '/' || bench.fork_repo(fork) || '.git'
           WHEN 1 THEN 'https://github.com/' || lower(bench.fork_owner(fork)) || '/' || bench.fork_repo(fork)
           ELSE 'git@github.com:' || bench.fork_owner(fork) || '/' || bench.fork_repo(fork) || '.git' END,
       (CASE WHEN h > 0 THEN 'COMPLETED' WHEN fork % 20 = 7 THEN 'STUCK' ELSE 'IN_PROGRESS' END)::"LabStatus",
       timestamp '2024-02-01 09:00' - h * interval '20 days' + fork * interval '1 minute',
       timestamp '2024-02-01 10:00' - h * interval '20 days',
       timestamp '2024-02-01 09:00' - h * interval '20 days',
       timestamp '2024-02-01 10:00' - h * interval '20 days'
FROM generate_series(1, :nforks) AS fork, generate_series(0, 2) AS h
UNION ALL
SELECT 'sess-new-' || i, 'user-new-' || i, 'lab-git-basics',
       'https://github.com/newcomer-' || i || '/git-basics', 'NOT_STARTED',
       timestamp '2024-03-01 09:00', timestamp '2024-03-01 09:00', timestamp '2024-03-01 09:00',
       timestamp '2024-03-01 09:00'
FROM generate_series(1, :nforks / 2) AS i;

-- Payloads: npayloads deliveries' bodies spread over the forks; pgbench picks one per delivery.
-- The calls pass `body::jsonb`, as the webhook route passes the raw request body: every
-- implementation gets an in-memory jsonb value, parsed once, as it would in production.  (Passing
-- the stored jsonb column instead would hand the implementations a TOAST pointer, and every `->`
-- in SQL or PL/pgSQL would decompress the payload again; C code detoasts it once.)
CREATE TABLE bench.payload (id int PRIMARY KEY, fork int NOT NULL, payload jsonb NOT NULL, body text NOT NULL);
INSERT INTO bench.payload
SELECT i, fork, p, p::text
FROM generate_series(1, :npayloads) AS i,
     LATERAL (SELECT 1 + (i - 1) % :nforks AS fork) AS f,
     LATERAL (SELECT bench.make_payload(:'fixture'::jsonb, fork, i, 1 + bench.rnd(i || ':nc', 4), 1, 6, 1500, 60)
                  AS p) AS m;
ANALYZE bench.payload;

SELECT count(*) AS payloads,
       round(avg(length(payload::text))) AS avg_text_bytes,
       round(avg(pg_column_size(payload))) AS avg_stored_bytes,
       round(avg(jsonb_array_length(payload -> 'commits')), 2) AS avg_commits,
       min(jsonb_array_length(payload -> 'commits')) AS min_commits,
       max(jsonb_array_length(payload -> 'commits')) AS max_commits
FROM bench.payload;
