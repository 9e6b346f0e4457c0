# Retention driven for real, in a cluster started with
#   shared_preload_libraries = 'forgea_audit,pg_cron', forgea_audit.database = postgres,
#   forgea_audit.retention_interval = 1s, cron.database_name = postgres, cron.use_background_workers = on,
#   logging_collector = on
# (see test/run_tests.sh).  Each check prints "ok N - ..." or "not ok N - ..." (TAP), and the
# script exits non-zero if any failed.
set -uo pipefail
cd "$FA_ROOT"
export PGDATABASE=postgres

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
check() {  # description, SQL that returns t
    if [ "$(q "$2")" = "t" ]; then ok "$1"; else not_ok "$1"; echo "#   query: $2" >&2; fi
}
# Polls SQL until it returns t, for up to $3 seconds.
eventually() {
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(q "$2" 2>/dev/null)" = "t" ] && { ok "$1"; return 0; }
        sleep 0.5
    done
    not_ok "$1 (not within $3 s)"
    echo "#   query: $2" >&2
    return 1
}
never_within() {  # description, SQL that must NOT return t, seconds
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(q "$2" 2>/dev/null)" = "t" ] && { not_ok "$1"; return 1; }
        sleep 0.5
    done
    ok "$1"
}
set_conf() {  # name value: ALTER SYSTEM and SIGHUP
    q "ALTER SYSTEM SET $1 = '$2'" && q "SELECT pg_reload_conf()" >/dev/null
}
# The count of server-log lines (logging_collector) containing $1, as SQL, and its value now.
log_count_sql() { echo "(SELECT count(*) FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\\n') l
                         WHERE strpos(l, \$\$$1\$\$) > 0)"; }
log_count() { q "SELECT $(log_count_sql "$1")"; }
worker_pid() { q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'"; }
# n pushes recorded now (through record_push, so they are real attempts with audit rows).
push() {  # count, guid prefix (8 hex digits)
    q "SELECT count(*) FROM generate_series(1, $1) g,
         forgea_audit.record_push(jsonb_build_object('ref', 'refs/heads/main', 'after', lpad(to_hex(g), 40, '0'),
            'repository', jsonb_build_object('html_url', 'https://github.com/worker/fork')),
            format('$2-0000-4000-8000-%s', lpad(g::text, 12, '0'))) r WHERE r.status = 'recorded'" >/dev/null
}
live() { q "SELECT count(*) FROM forgea_audit.lab_attempt"; }
# n attempts recorded an hour ago, written straight into the table (fast; retention needs no more).
insert_expired() {
    q "INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
         commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
         payload_sha256, recorded_at)
       SELECT 'sess-w', gen_random_uuid(), repeat('0', 40), 'refs/heads/main', '{}', '{}', 0, false, false, false, false,
              false, 'https://github.com/worker/fork', 'github.com/worker/fork', sha256(g::text::bytea), now() - interval '1 hour'
       FROM generate_series(1, $1) g"
}

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
SELECT forgea_audit.bind_lab_session_table();
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-w', 'user-w', 'lab-w', 'https://github.com/worker/fork', 'IN_PROGRESS', now());
SQL

echo "# the worker is there"
eventually "the retention worker shows in pg_stat_activity with its backend_type and application_name" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'
       AND application_name = 'forgea_audit retention worker' AND datname = 'postgres'" 20

echo "# it archives attempts that expire while we watch"
set_conf forgea_audit.attempt_retention 3s
push 30 aaaaaaaa
check "30 attempts are live right after they were recorded" "SELECT count(*) = 30 FROM forgea_audit.lab_attempt"
eventually "the worker archived all 30 once they were older than 3 s" \
    "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) = 0 AND (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = 30" 30
check "retention_status shows the worker's run that archived them" \
    "SELECT bool_or(driver = 'worker' AND archived > 0 AND error IS NULL AND finished_at IS NOT NULL) FROM forgea_audit.retention_status"

echo "# SIGHUP: a changed interval is picked up"
# The worker logs the new interval when its reload has applied it (the cluster runs with
# logging_collector = on, test/run_tests.sh): the test waits for that line, not for the machine.
reloads_before=$(log_count 'forgea_audit worker: retention_interval is now 0 s')
set_conf forgea_audit.retention_interval 0
eventually "the worker logs that its reload applied retention_interval = 0" \
    "SELECT $(log_count_sql 'forgea_audit worker: retention_interval is now 0 s') > ${reloads_before:-0}" 20
insert_expired 10   # recorded an hour ago: a worker still running every 1 s would archive them at once
# An absence, so a window: 4 s covers several 1 s intervals of a worker that had not reloaded.
never_within "with retention_interval = 0 (after SIGHUP) the worker leaves expired attempts alone" \
    "SELECT count(*) < 10 FROM forgea_audit.lab_attempt" 4
set_conf forgea_audit.retention_interval 1s
eventually "with retention_interval = 1s again (after SIGHUP) they are archived" \
    "SELECT count(*) = 0 FROM forgea_audit.lab_attempt" 20

echo "# an error in a run is logged, recorded, and the next run works"
pid_before=$(worker_pid)
q "ALTER TABLE forgea_audit.lab_attempt_archive ADD CONSTRAINT injected_failure CHECK (false) NOT VALID"
push 5 cccccccc
eventually "a run that fails records its error in retention_status" \
    "SELECT bool_or(driver = 'worker' AND error LIKE '%injected_failure%') FROM forgea_audit.retention_status" 20
check "the failed batch moved nothing (all 5 still live, none archived twice)" \
    "SELECT count(*) = 5 FROM forgea_audit.lab_attempt"
check "the worker survived the error (same pid)" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND pid = ${pid_before:-0}"
q "ALTER TABLE forgea_audit.lab_attempt_archive DROP CONSTRAINT injected_failure"
eventually "after the cause is gone, the next run archives them" "SELECT count(*) = 0 FROM forgea_audit.lab_attempt" 20

echo "# pg_terminate_backend: the worker comes back"
pid_before=$(worker_pid)
q "SELECT pg_terminate_backend($pid_before)" >/dev/null
eventually "a new worker process replaces the terminated one (bgw_restart_time 10 s)" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND pid <> $pid_before" 30
push 5 dddddddd
eventually "the restarted worker archives" "SELECT count(*) = 0 FROM forgea_audit.lab_attempt" 20

echo "# a session holding the retention lock: the worker's run is skipped and names it (issue 14)"
insert_expired 5
# The holder is a session fed through a FIFO: it keeps the lock until the test has seen the
# worker's skipped run, and only then commits (no pg_sleep that the worker's run must land inside).
lock_dir=$(mktemp -d)
mkfifo "$lock_dir/in"
psql -X -q -v ON_ERROR_STOP=1 < "$lock_dir/in" >/dev/null 2>&1 &
holder=$!
exec 6>"$lock_dir/in"
echo "SET application_name = 'fa_lock_holder'; BEGIN; SELECT true FROM forgea_audit.retention_lock FOR UPDATE;" >&6
eventually "a worker run while fa_lock_holder holds the retention lock is skipped, lock_holder names it" \
    "SELECT EXISTS (SELECT FROM forgea_audit.retention_run WHERE driver = 'worker' AND skipped AND archived = 0
                      AND lock_holder ->> 'application_name' = 'fa_lock_holder' AND lock_holder ? 'pid'
                      AND lock_holder ? 'backend_start')" 30
check "the holder still holds the lock when the skipped run is seen (idle in transaction)" \
    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'fa_lock_holder' AND state = 'idle in transaction')"
echo "COMMIT;" >&6
exec 6>&-
wait $holder
rm -rf "$lock_dir"
eventually "once the holder commits, a later worker run archives the 5 attempts and names no holder" \
    "SELECT EXISTS (SELECT FROM forgea_audit.retention_run WHERE driver = 'worker' AND NOT skipped AND archived >= 5
                      AND lock_holder IS NULL AND id > (SELECT max(id) FROM forgea_audit.retention_run WHERE skipped))" 10

echo "# pg_cron drives the same SQL"
set_conf forgea_audit.retention_interval 0
q "CREATE EXTENSION pg_cron" >/dev/null
q "SELECT cron.schedule('forgea-retention', '* * * * *', 'SELECT * FROM forgea_audit.run_retention()')" >/dev/null
insert_expired 7   # recorded an hour ago: due at once, no waiting for them to expire
eventually "the pg_cron job archived the expired attempts (within its one-minute schedule)" \
    "SELECT count(*) = 0 FROM forgea_audit.lab_attempt" 75
check "cron.job_run_details shows the job succeeded" \
    "SELECT bool_or(status = 'succeeded') FROM cron.job_run_details d JOIN cron.job j USING (jobid) WHERE j.jobname = 'forgea-retention'"
check "retention_status shows a run not driven by the worker" \
    "SELECT bool_or(driver <> 'worker' AND archived = 7) FROM forgea_audit.retention_status"
q "SELECT cron.unschedule('forgea-retention')" >/dev/null

echo "# two runs at once never double-archive"
insert_expired 20000
total=$(q "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) + (SELECT count(*) FROM forgea_audit.lab_attempt_archive)")
( psql -X -Atq -c "SET forgea_audit.archive_batch_size = 500; SELECT archived, skipped FROM forgea_audit.run_retention()" > /tmp/fa_run_a.$$ ) &
( psql -X -Atq -c "SET forgea_audit.archive_batch_size = 500; SELECT archived, skipped FROM forgea_audit.run_retention()" > /tmp/fa_run_b.$$ ) &
wait
echo "#   run A: $(cat /tmp/fa_run_a.$$)   run B: $(cat /tmp/fa_run_b.$$)"
a=$(cut -d'|' -f1 /tmp/fa_run_a.$$); b=$(cut -d'|' -f1 /tmp/fa_run_b.$$)
rm -f /tmp/fa_run_a.$$ /tmp/fa_run_b.$$
if [ $((a + b)) -eq 20000 ]; then ok "the two runs together archived exactly the 20000 due attempts ($a + $b)"; else not_ok "the two runs archived $a + $b, expected 20000 in all"; fi
check "no attempt is both live and archived, none lost" \
    "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt l JOIN forgea_audit.lab_attempt_archive a USING (id)) = 0
        AND (SELECT count(*) FROM forgea_audit.lab_attempt) + (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = $total"

echo "# forgea_audit.archive_batch_delay: the worker pauses between two batches of a run"
set_conf forgea_audit.archive_batch_size 100
set_conf forgea_audit.archive_batch_delay 1s
insert_expired 500
set_conf forgea_audit.retention_interval 1s
eventually "the worker shows in pg_stat_activity that it pauses between batches" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'
       AND query = 'forgea_audit retention: pausing between batches'" 20
eventually "while the run goes on, retention_status shows its batches and rows as each batch commits" \
    "SELECT count(*) = 1 FROM forgea_audit.retention_status WHERE driver = 'worker' AND finished_at IS NULL
       AND archived > 0 AND archived < 500 AND batches * 100 = archived" 20
eventually "with a 1 s pause it still archives all 500" "SELECT count(*) = 0 FROM forgea_audit.lab_attempt" 30
eventually "the run of 5 full batches took at least the 5 pauses after them" \
    "SELECT batches = 5 AND duration >= interval '5 s' FROM forgea_audit.retention_status
     WHERE driver = 'worker' AND archived = 500 AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1" 20
set_conf forgea_audit.retention_interval 0
set_conf forgea_audit.archive_batch_delay 0

echo "# a crash in the middle of archiving loses nothing and duplicates nothing"
set_conf forgea_audit.archive_batch_size 200
insert_expired 100000
total=$(q "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) + (SELECT count(*) FROM forgea_audit.lab_attempt_archive)")
archived_before=$(q "SELECT count(*) FROM forgea_audit.lab_attempt_archive")
# The crash must come at a known point, whatever the machine's speed: after the run's first batch
# committed, while its second is in flight.  A trigger of the test's makes every batch after the
# first wait for an advisory lock that the test holds (a session fed through a FIFO) until the
# crash; the test waits until the worker waits for it.
q "CREATE FUNCTION public.fa_test_hold_batch() RETURNS trigger LANGUAGE plpgsql AS \$\$
   BEGIN
       IF (SELECT count(*) FROM forgea_audit.lab_attempt_archive) > $archived_before + 200 THEN
           PERFORM pg_advisory_xact_lock(20206);
       END IF;
       RETURN NULL;
   END \$\$" >/dev/null
q "CREATE TRIGGER fa_test_hold_batch AFTER INSERT ON forgea_audit.lab_attempt_archive
   FOR EACH STATEMENT EXECUTE FUNCTION public.fa_test_hold_batch()" >/dev/null
hold_dir=$(mktemp -d)
mkfifo "$hold_dir/in"
psql -X -q -v ON_ERROR_STOP=1 < "$hold_dir/in" >/dev/null 2>&1 &
exec 5>"$hold_dir/in"
echo "SET application_name = 'fa_batch_holder'; SELECT pg_advisory_lock(20206);" >&5
eventually "the test holds the advisory lock the second batch will wait for" \
    "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE a.application_name = 'fa_batch_holder' AND l.locktype = 'advisory' AND l.objid = 20206 AND l.granted)" 30
set_conf forgea_audit.retention_interval 1s
eventually "the worker committed its first batch and waits in its second" \
    "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                    WHERE a.backend_type = 'forgea_audit retention' AND l.locktype = 'advisory' AND l.objid = 20206 AND NOT l.granted)
        AND (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = $archived_before + 200" 30
# Retention off after the restart (written now, read at startup), so the counts below are what the
# crash left; turned on again once they are checked.
q "ALTER SYSTEM SET forgea_audit.retention_interval = 0" >/dev/null
pg_ctlcluster 15 regress stop -m immediate
exec 5>&-
wait
rm -rf "$hold_dir"
pg_ctlcluster 15 regress start
eventually "the cluster is back after the immediate stop" "SELECT true" 30
q "DROP TRIGGER fa_test_hold_batch ON forgea_audit.lab_attempt_archive" >/dev/null
q "DROP FUNCTION public.fa_test_hold_batch()" >/dev/null
live_after=$(live)
echo "#   after the crash: $live_after attempts live, $(q "SELECT count(*) FROM forgea_audit.lab_attempt_archive") archived"
check "the crash came with the first batch committed and the second lost: exactly 200 archived, the rest live" \
    "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = $archived_before + 200
        AND (SELECT count(*) FROM forgea_audit.lab_attempt) = 100000 - 200"
check "after the crash every attempt is either live or archived, exactly once" \
    "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt l JOIN forgea_audit.lab_attempt_archive a USING (id)) = 0
        AND (SELECT count(*) FROM forgea_audit.lab_attempt) + (SELECT count(*) FROM forgea_audit.lab_attempt_archive) = $total"
check "every committed batch has its RETENTION_ARCHIVE event (verify_archive)" "SELECT ok FROM forgea_audit.verify_archive()"
set_conf forgea_audit.retention_interval 1s
eventually "the worker restarted with the cluster and finished the job" "SELECT count(*) = 0 FROM forgea_audit.lab_attempt" 90

echo "# the worker makes checkpoints when checkpoint_interval is set"
set_conf forgea_audit.checkpoint_interval 2s
eventually "a CHECKPOINT event made by the worker appears" \
    "SELECT count(*) > 0 FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT'" 30
check "the worker's checkpoint verifies against the log" \
    "SELECT ok FROM forgea_audit.verify_chain(checkpoint => (SELECT proof->>'note' FROM forgea_audit.audit_log
                                                             WHERE action = 'CHECKPOINT' ORDER BY seq DESC LIMIT 1))"
set_conf forgea_audit.checkpoint_interval 0

echo "# the worker verifies incrementally when verify_interval is set, and a failure becomes a HIGH event"
set_conf forgea_audit.verify_interval 1s
eventually "the worker's verify_increment() verified the whole tree (merkle_verified at the tree size)" \
    "SELECT v.tree_size > 0 AND v.tree_size = s.tree_size AND v.verified_at IS NOT NULL
     FROM forgea_audit.merkle_verified v, forgea_audit.merkle_state s" 30
check "an intact chain gives no CHAIN_VERIFY_FAILED event" \
    "SELECT count(*) = 0 FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED'"
checked_before=$(q "SELECT rows_checked FROM forgea_audit.merkle_verified")
q "SELECT forgea_audit.append('WORKER_INCREMENT', chain => 'worker:inc') FROM generate_series(1, 5)" >/dev/null
eventually "five rows appended: the worker's next passes check them (rows_checked + 5 or more if others appended, point at the tree size)" \
    "SELECT v.rows_checked >= $checked_before + 5 AND v.tree_size = s.tree_size
     FROM forgea_audit.merkle_verified v, forgea_audit.merkle_state s" 20
# A new row tampered with before any pass saw it: appended and altered in one transaction.
new_seq=$(q "BEGIN; SELECT forgea_audit.append('WORKER_NEW_ROW', chain => 'worker:inc');
   ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
   UPDATE forgea_audit.audit_log SET metadata = '{\"tampered\": true}' WHERE action = 'WORKER_NEW_ROW';
   ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_rows;
   ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_statements;
   ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_truncate; COMMIT;" | head -1)
[ -n "$new_seq" ] || not_ok "the tampering of a new row itself failed"
eventually "the incremental pass records a HIGH CHAIN_VERIFY_FAILED event naming the new tampered row" \
    "SELECT count(*) = 1 FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED' AND severity = 'HIGH'
       AND (metadata->>'first_bad_seq')::bigint = $new_seq AND metadata->>'pass' = 'incremental'" 20
check "... and the verified point stays before that row's leaf" \
    "SELECT v.tree_size <= l.leaf_index FROM forgea_audit.merkle_verified v, forgea_audit.merkle_leaf l WHERE l.seq = $new_seq"
# An old row, verified long ago, tampered with: the incremental pass cannot see it, the full one does.
q "BEGIN; ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER;
   UPDATE forgea_audit.audit_log SET metadata = metadata || '{\"tampered\": true}'
   WHERE seq = (SELECT min(seq) FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE');
   ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_rows;
   ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_statements;
   ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_truncate; COMMIT;" || not_ok "the tampering itself failed"
tampered_seq=$(q "SELECT min(seq) FROM forgea_audit.audit_log WHERE action = 'RETENTION_ARCHIVE'")
never_within "an old row tampered with: the incremental passes do not see it (documented: the full pass does)" \
    "SELECT count(*) > 0 FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED'
       AND (metadata->>'first_bad_seq')::bigint = $tampered_seq" 4
set_conf forgea_audit.verify_full_interval 1s
eventually "verify_full_interval: the full pass records a HIGH CHAIN_VERIFY_FAILED event naming the old tampered row" \
    "SELECT count(*) = 1 FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED' AND severity = 'HIGH'
       AND (metadata->>'first_bad_seq')::bigint = $tampered_seq AND metadata->>'pass' = 'full'" 20
# Three more full passes (each shows its activity, with a new query_start) after the report,
# instead of sleeping and hoping they ran.
passes_seen=""
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ] && [ "$(wc -w <<<"$passes_seen")" -lt 3 ]; do
    started=$(q "SELECT query_start FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'
                 AND query = 'forgea_audit: verifying the whole audit chain'
                 AND query_start > (SELECT max(created_at) FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED')" | tr ' ' _)
    [ -n "$started" ] && ! grep -qw -- "$started" <<<"$passes_seen" && passes_seen="$passes_seen $started"
    sleep 0.1
done
[ "$(wc -w <<<"$passes_seen")" -ge 3 ] || not_ok "three full passes after the report ran (not within 30 s)"
check "a chain that stays broken is reported once per pass and bad row, not every interval" \
    "SELECT count(*) = 2 FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED'"
set_conf forgea_audit.verify_interval 0
set_conf forgea_audit.verify_full_interval 0

echo "# after all of it"
check "verify_archive: every batch matches its audit event" "SELECT ok FROM forgea_audit.verify_archive()"
check "verify_chain: the chain verifies but for the row this test tampered with" \
    "SELECT NOT ok AND first_bad_seq = $tampered_seq FROM forgea_audit.verify_chain()"

echo "# docs/integration.md: its pg_cron blocks, in this cluster that preloads forgea_audit and pg_cron"
. test/lib/doc_blocks.sh
if out=$(doc_blocks docs/integration.md cron | psql -X -v ON_ERROR_STOP=1 2>&1) \
   && [ "$(grep -c '^-- end of block' <<<"$(doc_blocks docs/integration.md cron)")" = 2 ]; then
    ok "the pg_cron blocks of docs/integration.md run (schedule_in_database, unschedule, the worker off and on)"
else
    not_ok "the pg_cron blocks of docs/integration.md run"; echo "$out" | tail -10 | sed 's/^/#   /'
fi
check "... the job they scheduled is gone again" \
    "SELECT count(*) = 0 FROM cron.job WHERE jobname = 'forgea-retention'"
check "... the worker's retention interval is back on" "SELECT setting = '3600' FROM pg_settings WHERE name = 'forgea_audit.retention_interval'"

echo "1..$n"
[ "$failed" -eq 0 ]
