#!/usr/bin/env bash
# Settings without preloading, and progress of long calls, in the suite's cluster (which does NOT
# preload forgea_audit, like a pg_cron-only install):
#   * ALTER SYSTEM SET forgea_audit.* in a session that has not loaded the library fails (PostgreSQL
#     15), and works after forgea_audit.settings() or LOAD 'forgea_audit' in the same session;
#   * forgea_audit.settings() lists every setting in any session, and each one is in docs/operations.md's table;
#   * verify_chain() reports every forgea_audit.progress_rows rows (NOTICEs when asked);
#   * run_retention() shows its batches in forgea_audit.progress, seen from a second session while
#     it runs, and puts the statement's text back when done.
# Runs with PGDATABASE etc. pointing at a fresh database from test/lib/in_cluster.sh; cwd = repo root.
set -uo pipefail
. test/lib/checks.sh
db=$PGDATABASE
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -X -q -c "ALTER SYSTEM RESET forgea_audit.attempt_retention" -c "LOAD '"'"'forgea_audit'"'"'" >/dev/null 2>&1' EXIT

echo "# settings, without shared_preload_libraries"
err=$(psql -X -q -d "$db" -c "ALTER SYSTEM SET forgea_audit.attempt_retention = '30d'" 2>&1)
check "ALTER SYSTEM in a session that has not loaded the library: PostgreSQL 15 refuses the name" \
    "$(grep -c 'unrecognized configuration parameter "forgea_audit.attempt_retention"' <<<"$err")" 1

names=$(q "$db" "SELECT string_agg(name, ' ' ORDER BY name) FROM forgea_audit.settings()")
documented=$(sed -n '/^## Settings/,/^## /p' docs/operations.md | grep -o '^| `forgea_audit\.[a-z_]*`' | tr -d '|` ' | sort | tr '\n' ' ' | sed 's/ $//')
check "forgea_audit.settings() lists every setting in a fresh session, the same as docs/operations.md's table" "$names" "$documented"
echo "#   $(wc -w <<<"$names") settings"

# The documented sequence (docs/integration.md): load, then ALTER SYSTEM, then reload.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
SELECT count(*) FROM forgea_audit.settings();
ALTER SYSTEM SET forgea_audit.attempt_retention = '30d';
SELECT pg_reload_conf();
SQL
check "after forgea_audit.settings() in the same session, ALTER SYSTEM SET works" "$?" 0
# The reload is asynchronous: wait (polling, 20 s at most) until a new session has the new value.
for ((i = 0; i < 100; i++)); do
    [ "$(q "$db" "SELECT current_setting('forgea_audit.attempt_retention', true) IS NOT DISTINCT FROM '30d'
                  OR (SELECT setting = '2592000' FROM forgea_audit.settings() WHERE name = 'forgea_audit.attempt_retention')" 2>/dev/null)" = t ] && break
    sleep 0.2
done
check "a new session sees the value, from the configuration file" \
    "$(q "$db" "SELECT setting || ' ' || unit || ' ' || source FROM forgea_audit.settings() WHERE name = 'forgea_audit.attempt_retention'")" \
    "2592000 s configuration file"
check "retention_settings() (run_retention's view of them) follows" \
    "$(q "$db" "SELECT forgea_audit.retention_settings() IS NOT NULL AND (forgea_audit.retention_settings()).attempt_retention = interval '30 days'")" t
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM RESET forgea_audit.attempt_retention" -c "SELECT pg_reload_conf()" >/dev/null
check "LOAD 'forgea_audit' (superuser) also makes ALTER SYSTEM accept the name" "$?" 0
check "a writer sees the settings too (no superuser needed to read them)" \
    "$(psql -X -A -t -q -d "$db" -c "CREATE ROLE fa_set_writer IN ROLE forgea_audit_writer" -c "SET ROLE fa_set_writer" \
        -c "SELECT count(*) FROM forgea_audit.settings() WHERE name = 'forgea_audit.archive_batch_size'" -c "RESET ROLE" \
        -c "DROP ROLE fa_set_writer")" 1

echo "# verify_chain progress"
q "$db" "SELECT count(forgea_audit.append(action => 'PROGRESS_TEST', target_type => 'thing', target_id => (g % 7)::text))
         FROM generate_series(1, 3500) g" >/dev/null
notices=$(psql -X -q -d "$db" -c "SET forgea_audit.progress_rows = 1000" -c "SET forgea_audit.progress_notices = on" \
               -c "SELECT ok FROM forgea_audit.verify_chain()" 2>&1 | grep -c 'NOTICE:  forgea_audit progress: verify_chain: [0-9]*000 rows read')
check "verify_chain over 3500 rows with progress_rows = 1000 and notices on: 3 progress NOTICEs" "$notices" 3
notices=$(psql -X -q -d "$db" -c "SET forgea_audit.progress_rows = 1000" -c "SELECT ok FROM forgea_audit.verify_chain()" 2>&1 | grep -c NOTICE)
check "... and none when not asked" "$notices" 0

echo "# run_retention progress, watched from a second session"
# 500 attempts, batches of 100.  The run is held at a known point, whatever the machine's speed: a
# trigger of the test's makes the third batch's DELETE wait for an advisory lock that a session of
# the test (fed through a FIFO) holds, so the progress row says "2 batches" until the test lets go.
# Creating a trigger on lab_attempt is DDL the guard lets only superusers do.
q "$db" "INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
           commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
           payload_sha256, recorded_at)
         SELECT 'sess-p', gen_random_uuid(), repeat('0', 40), 'refs/heads/main', '{}', '{}', 0, false, false, false, false,
                false, 'https://github.com/p/fork', 'github.com/p/fork', sha256(g::text::bytea), now() - interval '1 hour'
         FROM generate_series(1, 500) g" >/dev/null
q "$db" "CREATE FUNCTION public.slow_batch() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
             IF (SELECT count(*) FROM forgea_audit.lab_attempt WHERE session_id = 'sess-p') <= 200 THEN
                 PERFORM set_config('lock_timeout', '0', true);   -- archive_batch bounds its lock waits
                 PERFORM pg_advisory_xact_lock(20208);
             END IF;
             RETURN NULL; END \$\$;
         CREATE TRIGGER slow_batch AFTER DELETE ON forgea_audit.lab_attempt FOR EACH STATEMENT EXECUTE FUNCTION public.slow_batch()" >/dev/null
mkfifo "$work/hold.in"
psql -X -q -d "$db" < "$work/hold.in" >/dev/null 2>&1 &
hold_pid=$!
exec 7>"$work/hold.in"
echo "SET application_name = 'fa_progress_holder'; SELECT pg_advisory_lock(20208);" >&7
for ((i = 0; i < 150; i++)); do
    [ "$(q "$db" "SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                  WHERE a.application_name = 'fa_progress_holder' AND l.locktype = 'advisory' AND l.objid = 20208 AND l.granted)")" = t ] && break
    sleep 0.2
done
PGOPTIONS="-c forgea_audit.archive_batch_size=100" psql -X -A -t -q -d "$db" \
    -c "SELECT archived || ' ' || batches FROM forgea_audit.run_retention(now() + interval '100 days')" >"$work/run.out" 2>&1 7>&- &
run_pid=$!
# Polled (30 s at most) until the run waits for the lock in its third batch.
seen=""
for ((i = 0; i < 150; i++)); do
    if [ "$(q "$db" "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = 20208 AND NOT granted)")" = t ]; then
        seen=$(q "$db" "SELECT progress FROM forgea_audit.progress WHERE progress LIKE 'run_retention%'")
        break
    fi
    sleep 0.2
done
echo "#   seen: $seen"
check "while run_retention runs, a second session sees its batches in forgea_audit.progress" \
    "$(grep -c ': 2 batches, 200 attempts archived' <<<"$seen")" 1
check "... while retention_status still shows nothing archived (the run is one transaction)" \
    "$(q "$db" "SELECT count(*) FROM forgea_audit.retention_status WHERE archived > 0")" 0
echo "SELECT pg_advisory_unlock(20208);" >&7   # the run goes on
exec 7>&-
wait $run_pid
wait $hold_pid
check "the run archived all 500 in 5 batches" "$(cat "$work/run.out")" "500 5"
q "$db" "DROP TRIGGER slow_batch ON forgea_audit.lab_attempt" >/dev/null

[ "$failures" -eq 0 ]
