#!/usr/bin/env bash
# docs/integration.md, run: every SQL block marked "<!-- run: app -->", in order, in this test's
# database, stopping at the first error (the cron blocks run in test/worker/worker_and_cron.sh).
# The last block removes the extension, its schema and its three roles; as that block says, the
# roles must first lose their privileges in every other database of the cluster, so this test does
# that first in the other databases the suite created (it runs after the pgTAP files; later tests
# create the extension, and with it the roles, again).
# Then checks what the removal left: no schema, no roles, no index on "LabSession".
set -uo pipefail
. test/lib/checks.sh
. test/lib/doc_blocks.sh
db=$PGDATABASE

blocks=$(doc_blocks docs/integration.md app)
check "docs/integration.md has its 5 app blocks" "$(grep -c '^-- end of block' <<<"$blocks")" 5

# Rows for the queries to show: a push recorded, a rejection.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-doc', 'user-doc', 'lab-doc', 'https://github.com/Codertocat/Hello-World', 'IN_PROGRESS', now());
SELECT count(*) FROM fixture_push, forgea_audit.record_push(payload, gen_random_uuid()::text) r;
SQL

for other in $(q postgres "SELECT datname FROM pg_database WHERE datname NOT IN ('template0', 'template1', '$db')"); do
    has=$(q "$other" "SELECT count(*) FROM pg_extension WHERE extname = 'forgea_audit'" 2>/dev/null || echo 0)
    if [ "$has" = 1 ]; then
        q "$other" "DROP EXTENSION forgea_audit CASCADE; DROP SCHEMA IF EXISTS forgea_audit CASCADE" >/dev/null 2>&1
    fi
    q "$other" "DROP OWNED BY forgea_audit_writer, forgea_audit_reader, forgea_audit_admin" >/dev/null 2>&1
done

out=$(psql -X -v ON_ERROR_STOP=1 -d "$db" <<<"$blocks" 2>&1)
rc=$?
check "every app block of docs/integration.md runs without error" "$rc" 0
[ $rc -ne 0 ] && echo "$out" | tail -20 | sed 's/^/#   /'
check "... reject_delivery returned a seq" "$(grep -c 'reject_delivery' <<<"$out")" 1
check "... settings() listed the settings (the table has a row for forgea_audit.progress_rows)" \
    "$(grep -c 'forgea_audit.progress_rows' <<<"$out")" 1
check "... verify_chain said ok" "$(grep -cE '^ t +\| +[0-9]+ +\| +\| verified' <<<"$out")" 1

check "after the removal block: no schema forgea_audit" "$(q "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'forgea_audit'")" 0
check "... no forgea_audit roles" "$(q "$db" "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'forgea\_audit\_%'")" 0
check "... no index left on \"LabSession\"" \
    "$(q "$db" "SELECT count(*) FROM pg_indexes WHERE tablename = 'LabSession' AND indexname LIKE '%forgea%'")" 0
check "... and the ALTER SYSTEM of the settings block was reset" \
    "$(grep -c rejected_audit_per_minute "$(q "$db" "SHOW data_directory")/postgresql.auto.conf")" 0

[ "$failures" -eq 0 ]
