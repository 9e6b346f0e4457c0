-- The extension installs into its own schema, binds to the platform's table by name, and
-- exposes exactly this SQL surface.
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
SELECT forgea_audit.bind_lab_session_table();
SELECT forgea_audit.lab_session_table();

-- Not relocatable, in schema forgea_audit.
SELECT extname, extrelocatable, extnamespace::regnamespace FROM pg_extension WHERE extname = 'forgea_audit';

-- Every function, with its signature.
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS result
FROM pg_proc p WHERE p.pronamespace = 'forgea_audit'::regnamespace ORDER BY p.proname;

-- Every table and its columns.
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relnamespace = 'forgea_audit'::regnamespace AND c.relkind = 'r'
ORDER BY c.relname, a.attnum;

-- Every index: the queries they serve are in forgea_audit--0.3.0.sql.
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) AS definition
FROM pg_index WHERE indrelid IN ('forgea_audit.lab_attempt'::regclass, 'forgea_audit.audit_log'::regclass,
                                 'forgea_audit.chain_head'::regclass)
ORDER BY indexrelid::regclass::text;   -- by name: "1::text" would be a constant, i.e. creation order

-- The guards fire always, whatever session_replication_role says.
SELECT tgrelid::regclass, tgname, tgenabled FROM pg_trigger
WHERE tgrelid IN ('forgea_audit.audit_log'::regclass, 'forgea_audit.chain_head'::regclass,
                  'forgea_audit.lab_attempt'::regclass, 'forgea_audit.lab_attempt_archive'::regclass) AND NOT tgisinternal
ORDER BY tgrelid::regclass::text, tgname;

-- The setting, visible in pg_settings.
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'forgea_audit.%';

-- The session lookup uses the index bind_lab_session_table() created.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT "id" FROM "LabSession"
WHERE forgea_audit.repo_key("userForkUrl") = 'github.com/a/b' AND "status" IN ('IN_PROGRESS', 'STUCK')
ORDER BY "startedAt" DESC LIMIT 1;
RESET enable_seqscan;

-- repo_key: every form a user or GitHub writes gives one key; anything else is NULL.
SELECT u AS url, forgea_audit.repo_key(u) AS key FROM (VALUES
    ('https://github.com/Codertocat/Hello-World'),
    ('https://github.com/Codertocat/Hello-World.git'),
    ('https://github.com/codertocat/hello-world/'),
    ('http://GitHub.com/Codertocat/Hello-World.git/'),
    ('git@github.com:Codertocat/Hello-World.git'),
    ('ssh://git@github.com:22/Codertocat/Hello-World.git'),
    ('git://github.com/Codertocat/Hello-World.git'),
    ('https://x-access-token:secret@github.com/Codertocat/Hello-World?tab=readme#top'),
    ('  github.com/Codertocat/Hello-World  '),
    ('https://octocoders.github.io/Codertocat/Hello-World'),
    ('https://github.com/Codertocat'),
    ('not a url'),
    ('')) AS t(u);
