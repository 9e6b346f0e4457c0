# Runs inside pg_virtualenv: what the platform and its webhook route do, in SQL.
set -euo pipefail
cd "$FA_ROOT"
payload=test/fixtures/github/push/api-with-new-branch.payload.json

psql -X -q -v ON_ERROR_STOP=1 -v payload="$(cat "$payload")" <<'SQL'
\echo '-- The platform (Prisma migrations) owns "LabSession"; the extension binds to it.'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;   -- binds "LabSession" (its lookup index) since the table exists

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
SQL

echo '-- A signing key for checkpoints (Ed25519; in production: docs/install.md), given to the server:'
key=$FA_DEMO_DIR/forgea_audit_key.pem pub=$FA_DEMO_DIR/forgea_audit_pub.pem
openssl genpkey -algorithm ed25519 -out "$key" && openssl pkey -in "$key" -pubout -out "$pub"
chown postgres: "$key" && chmod 600 "$key"
psql -X -q -v ON_ERROR_STOP=1 -c "LOAD 'forgea_audit'" \
     -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$key'" \
     -c "ALTER SYSTEM SET forgea_audit.verify_key_file = '$pub'" -c "SELECT pg_reload_conf()" >/dev/null

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\echo '-- A signed checkpoint (a C2SP note of the Merkle root) to keep outside the database,'
\echo '-- and the log checked against it:'
SELECT forgea_audit.checkpoint() AS checkpoint \gset
\echo :checkpoint
SELECT * FROM forgea_audit.verify_chain(checkpoint => :'checkpoint');
SQL

echo '-- The student asks for the receipt of their attempt and checks it offline, with the public key only:'
attempt=$(psql -X -A -t -v ON_ERROR_STOP=1 -c "SELECT id FROM forgea_audit.lab_attempt WHERE delivery_id = '72d3162e-cc78-11e3-81ab-4c9367dc0958'")
psql -X -A -t -v ON_ERROR_STOP=1 -c "SELECT forgea_audit.receipt($attempt)" >"$FA_DEMO_DIR/receipt.json"
echo "tools/forgea_audit_verify --receipt receipt.json --public-key forgea_audit_pub.pem"
tools/forgea_audit_verify --receipt "$FA_DEMO_DIR/receipt.json" --public-key "$pub"

echo '-- The link the platform shows the student (docs/receipt_link.md): the receipt page, web/receipt/,'
echo '-- opened on this receipt; it checks it in the browser against the log tools/forgea_audit_publish'
echo '-- publishes. Here with example addresses for the page and the log:'
psql -X -A -t -v ON_ERROR_STOP=1 -c "SELECT forgea_audit.receipt_link($attempt, 'https://labs.example.edu/receipt/index.html', 'https://labs.example.edu/audit')"
