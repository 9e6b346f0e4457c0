#!/usr/bin/env bash
# archive_batch() paces its WAL (forgea_audit.archive_wal_rate, issue 23 item 3): every row it
# deletes and every row it writes into lab_attempt_archive passes forgea_audit.archive_pace(),
# which sleeps while the session's WAL is ahead of the rate.  With a rate of 1 kB/s a batch of
# 200 attempts (~300 kB of WAL) sleeps for minutes: the test waits (never a sleep of its own) until
# the batch's backend is seen waiting in archive_pace (pg_stat_activity: wait event Extension,
# inside archive_batch), cancels it there, and finds nothing moved and no event appended (the
# batch is one transaction).  Then the same batch at rate 0 moves every row at once, the archive
# agrees with its event (verify_archive()), and a login that is not a superuser cannot change the
# rate.  On the old code (no archive_pace, no setting) it fails at the first check.
# Runs with PGDATABASE etc. pointing at a fresh database from test/lib/in_cluster.sh; cwd = repo root.
set -uo pipefail
. test/lib/checks.sh
db=$PGDATABASE
work=$(mktemp -d)
chmod 777 "$work"
batch=""
trap '[ -n "$batch" ] && kill "$batch" 2>/dev/null; rm -rf "$work"' EXIT

check "forgea_audit.archive_wal_rate's default (docs/operations.md)" \
    "$(q "$db" "LOAD 'forgea_audit'; SHOW forgea_audit.archive_wal_rate" 2>&1)" "${ARCHIVE_WAL_RATE_DEFAULT:-0}"

# 200 expired attempts: one real push, copied with fresh deliveries, recorded 100 days ago.
q "$db" "INSERT INTO \"LabSession\" (\"id\", \"userId\", \"labId\", \"userForkUrl\", \"status\", \"updatedAt\")
         VALUES ('sess-pace', 'student-9', 'lab-git-basics', 'https://github.com/Codertocat/Hello-World', 'STUCK', now())" >/dev/null
body=$(cat test/fixtures/github/push/api-with-new-branch.payload.json)
check "one push recorded" "$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -v body="$body" <<'SQL'
SELECT status FROM forgea_audit.record_push_json(:'body', '7c3e4f60-0000-4000-8000-0000000000a1');
SQL
)" recorded
q "$db" "INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, before_sha, ref, base_ref, changed_paths,
                changed_files, commit_count, commits_truncated, files_truncated, created, deleted, forced, pusher_name,
                pusher_email, sender_login, sender_id, repository_id, repository_url, repository_full_name, repository_key,
                payload_sha256, delivery, pushed_at, recorded_at)
         SELECT a.session_id, gen_random_uuid(), a.commit_sha, a.before_sha, a.ref, a.base_ref, a.changed_paths,
                a.changed_files, a.commit_count, a.commits_truncated, a.files_truncated, a.created, a.deleted, a.forced,
                a.pusher_name, a.pusher_email, a.sender_login, a.sender_id, a.repository_id, a.repository_url,
                a.repository_full_name, a.repository_key, a.payload_sha256, a.delivery, a.pushed_at,
                now() - interval '100 days' + g * interval '1 ms'
         FROM forgea_audit.lab_attempt a, generate_series(1, 200) g" >/dev/null
counts="SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) || ' ' || (SELECT count(*) FROM forgea_audit.lab_attempt_archive)
               || ' ' || (SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE')"
check "201 live attempts, none archived" "$(q "$db" "$counts")" "201 0 0"

# The batch at 1 kB/s, in the background: it must be seen pausing inside archive_batch.
psql -X -q -A -t -d "$db" -c "SET forgea_audit.archive_wal_rate = '1kB'" \
    -c "SELECT archived FROM forgea_audit.archive_batch(now() - interval '50 days', 1000)" >"$work/batch.out" 2>&1 &
batch=$!
pausing="SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%archive_batch(now()%' AND state = 'active'
           AND wait_event_type = 'Extension' AND pid <> pg_backend_pid()"
eventually "at archive_wal_rate = 1kB, the batch waits in archive_pace (wait event Extension) inside archive_batch" "$pausing" 60
q "$db" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%archive_batch(now()%' AND pid <> pg_backend_pid()" >/dev/null
wait "$batch"; batch=""
check "cancelled while pacing: the batch ends with the cancel" "$(grep -c 'canceling statement due to user request' "$work/batch.out")" 1
check "... and nothing moved, no event appended (one transaction)" "$(q "$db" "$counts")" "201 0 0"

# At rate 0 the same batch moves every due row, and the archive matches its event.
check "at archive_wal_rate = 0 the batch moves the 200 due attempts" \
    "$(psql -X -q -A -t -d "$db" -c "SET forgea_audit.archive_wal_rate = 0" \
        -c "SELECT archived FROM forgea_audit.archive_batch(now() - interval '50 days', 1000)")" 200
check "... live, archived, events" "$(q "$db" "$counts")" "1 200 1"
check "verify_archive() agrees" "$(q "$db" "SELECT ok FROM forgea_audit.verify_archive()")" t

# The rate is a superuser's setting (a session could otherwise slow down or speed up a DBA's run).
check "a login that is not a superuser cannot set it" \
    "$(q "$db" "LOAD 'forgea_audit'; DROP ROLE IF EXISTS pace_nobody; CREATE ROLE pace_nobody LOGIN; SET ROLE pace_nobody;
                DO \$\$ BEGIN SET forgea_audit.archive_wal_rate = 0; RAISE NOTICE 'set';
                EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING '42501'; END \$\$" 2>&1 | grep -c 42501)" 1

[ "$failures" -eq 0 ]
