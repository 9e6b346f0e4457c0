#!/usr/bin/env bash
# record_push (and record_push_json) must find rows through its indexes from the very first call on a fresh install.
#
# Planned while the tables are empty and known to be (ANALYZE'd, as right after CREATE EXTENSION +
# VACUUM), a lookup by delivery id or chain id costs nothing as a sequential scan, and a cached
# plan would keep scanning while the tables grow, until autovacuum's next ANALYZE.  lab_attempt is
# read by delivery id through its unique index without the planner, and the chain head's statements
# are planned with enable_seqscan = off for themselves alone (no setting on the entry points).  So:
# analyze the empty tables, record 300 pushes in one session, and count the sequential scans
# PostgreSQL's statistics saw on the extension's tables and on "LabSession" (bound to its index by
# CREATE EXTENSION, since the table existed then).
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession" and forgea_audit bound to it; cwd = repository root.
set -euo pipefail
source test/lib/checks.sh
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json
FORKS=4
CALLS=300
db=$PGDATABASE
out=$(mktemp)
trap 'rm -f "$out"' EXIT

psql -X -q -v ON_ERROR_STOP=1 -v forks="$FORKS" >/dev/null <<SQL
\set body \`cat $FIXTURE\`
CREATE TABLE push_payload (fork int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO push_payload
SELECT f, jsonb_set(:'body'::jsonb, '{repository,html_url}', to_jsonb('https://github.com/plans/fork-' || f))
FROM generate_series(1, :forks) f;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
SELECT 'plans-' || f, 'plans-user-' || f, 'plans-lab', 'https://github.com/plans/fork-' || f, 'IN_PROGRESS',
       now() AT TIME ZONE 'UTC'
FROM generate_series(1, :forks) f;
-- The platform's table as a running platform has it: many sessions of other students, most of
-- them finished.  (With a handful of rows a sequential scan of it is the right plan.)
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
SELECT 'other-' || i, 'other-user-' || i, 'plans-lab', 'https://github.com/others/fork-' || i,
       (CASE WHEN i % 10 = 0 THEN 'IN_PROGRESS' ELSE 'COMPLETED' END)::"LabStatus", now() AT TIME ZONE 'UTC'
FROM generate_series(1, 5000) i;
SQL
# "LabSession" holds 5004 rows and the extension's tables none: analyzed as such.
q "$db" "ANALYZE" >/dev/null
check "lab_attempt is known to be empty" "$(q "$db" "SELECT reltuples FROM pg_class WHERE oid = 'forgea_audit.lab_attempt'::regclass")" "0"

counts="SELECT string_agg(relname || '=' || seq_scan || '/' || coalesce(idx_scan, 0), ' ' ORDER BY relname)
        FROM pg_stat_user_tables
        WHERE (schemaname, relname) IN (('forgea_audit', 'lab_attempt'), ('forgea_audit', 'chain_head'),
                                        ('forgea_audit', 'audit_log'), ('public', 'LabSession'))"
{
    echo "SELECT pg_stat_force_next_flush();"
    echo "SELECT 'before ' || ($counts);"
    for i in $(seq 1 "$CALLS"); do
        # Every tenth call retries an earlier delivery: the duplicate path is looked up too.  Odd
        # calls go through record_push_json, which runs the same statements.
        n=$i
        [ $((i % 10)) -eq 0 ] && n=$((i - 5))
        fn=record_push cast=""
        [ $((i % 2)) -eq 1 ] && fn=record_push_json cast="::json"
        printf "SELECT status FROM forgea_audit.%s((SELECT payload%s FROM push_payload WHERE fork = %d), '00000000-0000-4000-8000-%012d');\n" \
            "$fn" "$cast" $((n % FORKS + 1)) "$n"
    done
    echo "SELECT pg_stat_force_next_flush();"
} | psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" > "$out"
before=$(grep '^before ' "$out" | sed 's/^before //')
after=$(q "$db" "$counts")
echo "# seq_scan/idx_scan before: $before"
echo "# seq_scan/idx_scan after:  $after"

seq_of() { tr ' ' '\n' <<<"$1" | grep "^$2=" | cut -d= -f2 | cut -d/ -f1; }
idx_of() { tr ' ' '\n' <<<"$1" | grep "^$2=" | cut -d= -f2 | cut -d/ -f2; }
for rel in lab_attempt chain_head LabSession; do
    check "$CALLS pushes: no sequential scan of $rel" "$(( $(seq_of "$after" $rel) - $(seq_of "$before" $rel) ))" "0"
    check "$CALLS pushes: $rel read through an index" \
        "$([ $(( $(idx_of "$after" $rel) - $(idx_of "$before" $rel) )) -ge "$CALLS" ] && echo yes || echo no)" "yes"
done
check "pushes recorded, retries duplicates" \
    "$(q "$db" "SELECT count(*) FROM forgea_audit.lab_attempt")" "$((CALLS - CALLS / 10))"
check "chain intact" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" "t"

[ "$failures" -eq 0 ]
