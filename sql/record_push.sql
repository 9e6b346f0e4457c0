-- record_push end to end on real GitHub payloads: recorded, duplicate, conflict, unmatched,
-- and the session it moves.
\set new_branch `cat test/fixtures/github/push/api-with-new-branch.payload.json`
\set tag_delete `cat test/fixtures/github/push/api-payload.json`

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "startedAt", "lastActivityAt", "updatedAt")
VALUES ('sess-stuck', 'user-1', 'lab-1', 'https://github.com/codertocat/hello-world.git', 'STUCK',
        '2026-01-01 10:00', '2026-01-01 10:00', '2026-01-01 10:00');

-- A first delivery is recorded; the STUCK session moves to IN_PROGRESS.
SELECT * FROM forgea_audit.record_push(:'new_branch', '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "292430182", "User-Agent": "GitHub-Hookshot/044aadd",
      "X-GitHub-Hook-Installation-Target-Type": "repository", "X-GitHub-Hook-Installation-Target-ID": 186853002,
      "X-Hub-Signature-256": "sha256=not-kept"}');

\x on
SELECT id, session_id, delivery_id, commit_sha, before_sha, ref, changed_paths, changed_files, commit_count,
       commits_truncated, files_truncated, created, deleted, forced, pusher_name, sender_login, sender_id,
       repository_id, repository_url, repository_full_name, repository_key, delivery, pushed_at AT TIME ZONE 'UTC' AS pushed_at_utc,
       octet_length(payload_sha256) AS sha_bytes
FROM forgea_audit.lab_attempt;
\x off

-- payload_sha256 is SHA-256 of the payload's canonical JSON (docs/chain.md), which does not
-- depend on how the JSON text was spaced or its keys ordered.
SELECT payload_sha256 = sha256(convert_to(forgea_audit.canonical_json(:'new_branch'), 'UTF8')) AS digest_of_canonical_json,
       payload_sha256 = sha256(convert_to(forgea_audit.canonical_json(jsonb_pretty(:'new_branch')::jsonb), 'UTF8')) AS spacing_irrelevant
FROM forgea_audit.lab_attempt WHERE id = 1;

SELECT "status", "lastActivityAt" > '2026-01-01 10:00' AS activity_moved, "updatedAt" > '2026-01-01 10:00' AS updated_moved
FROM "LabSession" WHERE "id" = 'sess-stuck';

-- A redelivery (same GUID, same payload, upper-case GUID text) is a duplicate of attempt 1.
SELECT * FROM forgea_audit.record_push(:'new_branch', '72D3162E-CC78-11E3-81AB-4C9367DC0958');

-- The same GUID with a different payload is a conflict: attempt 1 stays as it was.
SELECT * FROM forgea_audit.record_push(jsonb_set(:'new_branch', '{forced}', 'true'), '72d3162e-cc78-11e3-81ab-4c9367dc0958');
SELECT count(*) AS attempts, bool_and(NOT forced) AS first_payload_kept FROM forgea_audit.lab_attempt;

-- A push to a fork nobody is working in is unmatched: no attempt, an audit row.
SELECT * FROM forgea_audit.record_push(jsonb_set(:'new_branch', '{repository,html_url}', '"https://github.com/someone/else"'),
                                       'a0b1c2d3-0000-4000-8000-000000000001');
-- A tag deletion in the active fork is recorded like any push.
SELECT * FROM forgea_audit.record_push(:'tag_delete', 'a0b1c2d3-0000-4000-8000-000000000002');
SELECT commit_sha, deleted, created, commit_count, changed_paths FROM forgea_audit.lab_attempt WHERE id = 2;

-- Every outcome left an audit row: actor github/webhook, correlation id = delivery GUID.
SELECT seq, chain_id, chain_pos, action, actor_type, actor_id, target_type, target_id, outcome, severity,
       user_id, correlation_id, parent_seq
FROM forgea_audit.audit_log ORDER BY seq;
\x on
SELECT seq, metadata - 'payload_sha256' - 'recorded_payload_sha256' AS metadata
FROM forgea_audit.audit_log ORDER BY seq;
\x off
SELECT chain_id, length, last_seq FROM forgea_audit.chain_head ORDER BY chain_id;

SELECT * FROM forgea_audit.verify_chain();
