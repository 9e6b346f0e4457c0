# Monitoring the way DBAs already watch PostgreSQL (issue 24 item 3), for real: in a cluster
# started with shared_preload_libraries = forgea_audit, forgea_audit.database = postgres and the
# worker integrating, verifying and checkpointing every second (test/run_tests.sh), the Debian
# package prometheus-postgres-exporter runs with examples/monitoring/postgres_exporter_queries.yaml,
# logged in as a role that is only a forgea_audit_reader.  Its /metrics must say what the database
# says: worker up, lag, backlog, rejections, verify_ok 1 on a sound log, and verify_ok 0 once a
# superuser has tampered with a row and the worker's incremental verifier has run over it.  The
# alert rules pass `promtool check rules` and their unit tests.  Publication: published_age_seconds
# and publish_quorum_missed follow what the publisher recorded (a publication, a missed quorum).  No sleeps: every wait polls for a
# state with a deadline.
set -uo pipefail
cd "$FA_ROOT"
export PGDATABASE=postgres
. test/lib/checks.sh
work=$(mktemp -d)
exporter_pid=
holder_pid=
cleanup() {
    [ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null
    [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# One value from the exporter's /metrics (its series carry a server="host:port" label).
metric() { curl -sf "http://127.0.0.1:$mport/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { print $2 }'; }

check "promtool check rules examples/monitoring/alerts.yaml" \
    "$(promtool check rules examples/monitoring/alerts.yaml >/dev/null 2>&1 && echo ok || promtool check rules examples/monitoring/alerts.yaml 2>&1)" ok
check "promtool test rules examples/monitoring/alerts_test.yaml" \
    "$(cd examples/monitoring && promtool test rules alerts_test.yaml >/dev/null 2>&1 && echo ok || promtool test rules alerts_test.yaml 2>&1)" ok

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
CREATE ROLE fa_monitor LOGIN PASSWORD 'monitor' IN ROLE forgea_audit_reader;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-mon', 'u-mon', 'lab', 'https://github.com/Codertocat/Hello-World', 'IN_PROGRESS', now());
SQL
body=$(cat test/fixtures/github/push/api-with-new-branch.payload.json)
for i in 1 2 3; do
    q postgres "SELECT status FROM forgea_audit.record_push_json('$(sed "s/'/''/g" <<<"$body")', gen_random_uuid()::text)" >/dev/null
done
q postgres "SELECT forgea_audit.reject_delivery('signature', gen_random_uuid()::text, sha256('x'), 10)" >/dev/null
# One attempt recorded long ago (attempts are never updated, the guard refuses it; a superuser
# inserts one, as a restore does).
q postgres "INSERT INTO forgea_audit.lab_attempt (session_id, delivery_id, commit_sha, ref, changed_paths, changed_files,
                commit_count, commits_truncated, files_truncated, created, deleted, forced, repository_url, repository_key,
                payload_sha256, recorded_at)
            VALUES ('s-old', gen_random_uuid(), repeat('0', 40), 'refs/heads/main', '{}', '{}', 0, false, false, false, false, false,
                    'https://github.com/old/fork', 'github.com/old/fork', sha256('old'::bytea), now() - interval '400 days')" >/dev/null
# Keep the one due attempt due: retention would archive it (the worker runs it too).
q postgres "ALTER SYSTEM SET forgea_audit.retention_interval = 0" >/dev/null; q postgres "SELECT pg_reload_conf()" >/dev/null

eventually "the worker integrated, verified and checkpointed every row" \
    "SELECT worker_up AND integrator_lag_rows = 0 AND verify_ok AND checkpoint_age_seconds IS NOT NULL
            AND (SELECT tree_size FROM forgea_audit.merkle_verified) = (SELECT tree_size FROM forgea_audit.merkle_state)
     FROM forgea_audit.health" 60

mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# A clean environment: lib/pq panics on pg_virtualenv's PGSYSCONFDIR ("setting PGSYSCONFDIR not supported").
tied env -i PATH="$PATH" DATA_SOURCE_NAME="postgresql://fa_monitor:monitor@127.0.0.1:$PGPORT/postgres?sslmode=disable" \
    prometheus-postgres-exporter --web.listen-address="127.0.0.1:$mport" --disable-default-metrics \
        --disable-settings-metrics --extend.query-path=examples/monitoring/postgres_exporter_queries.yaml \
        >"$work/exporter.log" 2>&1 &
exporter_pid=$!
deadline=$((SECONDS + 30))
until [ -n "$(metric forgea_audit_worker_up)" ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done

check "the exporter exposes forgea_audit_worker_up = 1" "$(metric forgea_audit_worker_up)" 1
check "... forgea_audit_verify_ok = 1 on a sound log" "$(metric forgea_audit_verify_ok)" 1
check "... forgea_audit_integrator_lag_rows = the database's (0)" "$(metric forgea_audit_integrator_lag_rows)" \
    "$(q postgres "SELECT integrator_lag_rows FROM forgea_audit.health")"
check "... forgea_audit_retention_backlog_rows = the database's (1)" "$(metric forgea_audit_retention_backlog_rows)" \
    "$(q postgres "SELECT retention_backlog_rows FROM forgea_audit.health")"
check "... forgea_audit_rejections_last_hour = the database's (1)" "$(metric forgea_audit_rejections_last_hour)" \
    "$(q postgres "SELECT rejections_last_hour FROM forgea_audit.health")"
age=$(metric forgea_audit_checkpoint_age_seconds)
check "... forgea_audit_checkpoint_age_seconds is a number of seconds" \
    "$(awk -v a="$age" 'BEGIN { print (a != "" && a >= 0 && a < 600) ? "yes" : "no: " a }')" yes
check "... forgea_audit_published_age_seconds is NaN (nothing published yet)" "$(metric forgea_audit_published_age_seconds)" NaN
check "... forgea_audit_publish_quorum_missed is NaN (nothing published yet)" "$(metric forgea_audit_publish_quorum_missed)" NaN
if [ "$failures" -gt 0 ]; then grep -m5 -i "panic\|error" "$work/exporter.log" | sed "s/^/#   exporter: /"; fi

# Publication: the real publisher (no witnesses, quorum 0) publishes the newest checkpoint and
# records it; then a missed quorum, recorded the way the publisher records one (one witness, down).
make -s tools/forgea_audit_publish >/dev/null
tools/forgea_audit_publish --out "$work/published" >/dev/null 2>"$work/publish.log"
check "the publisher published the newest checkpoint (exit 0)" "$?" 0
deadline=$((SECONDS + 30))
until [ "$(metric forgea_audit_publish_quorum_missed)" = 0 ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
age=$(metric forgea_audit_published_age_seconds)
check "... forgea_audit_published_age_seconds is now a number of seconds" \
    "$(awk -v a="$age" 'BEGIN { print (a != "" && a != "NaN" && a >= 0 && a < 600) ? "yes" : "no: " a }')" yes
check "... forgea_audit_published_cosignatures = 0, forgea_audit_publish_quorum_missed = 0" \
    "$(metric forgea_audit_published_cosignatures) $(metric forgea_audit_publish_quorum_missed)" "0 0"
q postgres "SELECT forgea_audit.record_publication((SELECT note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1),
            false, 1, '[{\"name\": \"w.example/w\", \"answer\": \"unreachable\", \"status\": null}]')" >/dev/null
deadline=$((SECONDS + 30))
until [ "$(metric forgea_audit_publish_quorum_missed)" = 1 ] || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
check "a missed quorum: the exporter exposes forgea_audit_publish_quorum_missed = 1" "$(metric forgea_audit_publish_quorum_missed)" 1

# Tamper with a row the incremental verifier has not seen yet: hold the integrator's lock (the
# state row) so that the worker can neither integrate nor verify the new row until the tamper is
# done, then let go.
mkfifo "$work/hold"
psql -X -q -v ON_ERROR_STOP=1 <"$work/hold" >/dev/null 2>&1 &
holder_pid=$!
exec 3>"$work/hold"
echo "BEGIN; SELECT 1 FROM forgea_audit.merkle_state FOR UPDATE; SELECT pg_advisory_lock(4242);" >&3
deadline=$((SECONDS + 30))
until [ "$(q postgres "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted")" = 1 ] \
      || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
seq=$(q postgres "SELECT forgea_audit.append('MONITORING_TAMPER_TARGET', chain => 'monitoring')")
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER audit_log_guard_rows;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER audit_log_guard_statements;
UPDATE forgea_audit.audit_log SET metadata = '{"tampered": true}' WHERE seq = $seq;
ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_rows;
ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_statements;
SQL
check "the tampered row was not verified while the lock was held" \
    "$(q postgres "SELECT (SELECT tree_size FROM forgea_audit.merkle_verified) <= coalesce((SELECT leaf_index FROM forgea_audit.merkle_leaf WHERE seq = $seq), 1e18)")" t
echo "COMMIT;" >&3
exec 3>&-
wait "$holder_pid" 2>/dev/null; holder_pid=

eventually "the worker's incremental verifier ran over the tampered row and recorded the failure" \
    "SELECT EXISTS (SELECT 1 FROM forgea_audit.audit_log WHERE action = 'CHAIN_VERIFY_FAILED' AND target_id = '$seq')" 60
check "forgea_audit.health says verify_ok = false" "$(q postgres "SELECT verify_ok FROM forgea_audit.health")" f
check "the exporter now exposes forgea_audit_verify_ok = 0" "$(metric forgea_audit_verify_ok)" 0

[ "$failures" -eq 0 ]
