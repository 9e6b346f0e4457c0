# Runs inside pg_virtualenv: what the platform and its webhook route do, in SQL.
set -euo pipefail
cd "$FA_ROOT"
payload=test/fixtures/github/push/api-with-new-branch.payload.json

psql -X -q -v ON_ERROR_STOP=1 -v payload="$(cat "$payload")" <<'SQL'
\echo '-- The platform (Prisma migrations) owns "LabSession"; the extension binds to it.'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
SELECT forgea_audit.bind_lab_session_table() AS session_lookup_index;

\echo '-- A student starts a lab in their fork; the session is STUCK (no push for a while).'
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-1', 'student-42', 'lab-git-basics', 'https://github.com/Codertocat/Hello-World.git', 'STUCK', now());

\echo '-- GitHub delivers the push (X-GitHub-Delivery 72d3162e-...): the webhook route makes one call.'
SELECT * FROM forgea_audit.record_push(:'payload', '72d3162e-cc78-11e3-81ab-4c9367dc0958',
                                       '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "292430182"}');
\echo '-- GitHub redelivers the same delivery: nothing new is recorded.'
SELECT * FROM forgea_audit.record_push(:'payload', '72d3162e-cc78-11e3-81ab-4c9367dc0958');

\echo '-- The attempt:'
\x on
SELECT id, session_id, delivery_id, commit_sha, ref, changed_paths, changed_files, commit_count, created, forced,
       pusher_name, repository_url, delivery, recorded_at
FROM forgea_audit.lab_attempt;
\x off
\echo '-- The session moved:'
SELECT "id", "status", "lastActivityAt" FROM "LabSession";
\echo '-- The audit rows, hash-chained per session:'
SELECT seq, chain_id, chain_pos, action, outcome, severity, correlation_id,
       left(encode(prev_hash, 'hex'), 12) AS prev_hash, left(encode(row_hash, 'hex'), 12) AS row_hash
FROM forgea_audit.audit_log ORDER BY seq;
\echo '-- And the chain verifies:'
SELECT * FROM forgea_audit.verify_chain();
\echo '-- A checkpoint to keep outside the database (unsigned here: no forgea_audit.signing_key_file),'
\echo '-- and the log checked against it:'
SELECT forgea_audit.checkpoint() AS checkpoint \gset
\echo :checkpoint
SELECT * FROM forgea_audit.verify_chain(checkpoint => :'checkpoint');
SQL
