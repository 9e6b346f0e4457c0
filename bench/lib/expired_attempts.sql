-- :rows expired attempts (100 days old, 1 ms apart), each a copy of one of the :seeds attempts
-- already recorded (row k of lab_attempt by id, k = g % :seeds), under a new delivery id: the
-- retention benches' data (bench/lib/retention_in_cluster.sh, bench/retention_waldump.sh).
-- :seeds is passed as a constant (the count of lab_attempt), so the join is planned as a hash join.
INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, before_sha, ref, base_ref,
       changed_paths, changed_files, commit_count, commits_truncated, files_truncated, created, deleted,
       forced, pusher_name, pusher_email, sender_login, sender_id, repository_id, repository_url,
       repository_full_name, repository_key, payload_sha256, delivery, pushed_at, recorded_at)
SELECT 'sess-expired-' || (g % 1000), gen_random_uuid(), s.commit_sha, s.before_sha, s.ref, s.base_ref,
       s.changed_paths, s.changed_files, s.commit_count, s.commits_truncated, s.files_truncated, s.created,
       s.deleted, s.forced, s.pusher_name, s.pusher_email, s.sender_login, s.sender_id, s.repository_id,
       s.repository_url, s.repository_full_name, s.repository_key, s.payload_sha256, s.delivery,
       s.pushed_at - interval '100 days', now() - interval '100 days' + g * interval '1 ms'
FROM generate_series(1, :rows) g
JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS k, a.* FROM forgea_audit.lab_attempt a) s
  ON s.k = g % :seeds;
