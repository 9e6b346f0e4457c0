#!/usr/bin/env bash
# pgbench stress: 8 clients call forgea_audit.record_push 200 times each with delivery GUIDs drawn
# from a pool of 40, so the same GUID is often in flight on several connections at once.
#
# pgbench exits non-zero if any transaction fails: that is the check that no unique violation,
# deadlock or serialization error ever reaches a caller.  Afterwards: one lab_attempt per GUID,
# one LAB_VERIFY_ATTEMPT audit row per GUID, recorded + duplicate audit rows = calls, and an intact
# chain.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession" and forgea_audit bound to it; cwd = repository root.
set -euo pipefail

CLIENTS=8
THREADS=2
TX_PER_CLIENT=200
GUIDS=40
FORKS=4
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json
TOTAL=$((CLIENTS * TX_PER_CLIENT))

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "race_pgbench: FAIL: $*" >&2; exit 1; }
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

[ -f "$FIXTURE" ] || fail "missing $FIXTURE"

# One IN_PROGRESS session per fork, the fixture re-addressed to each fork, and a ledger of what
# every call returned (written in the same transaction as the call).
psql -X -q -v ON_ERROR_STOP=1 -v forks="$FORKS" >/dev/null <<SQL
\set body \`cat $FIXTURE\`
CREATE TABLE bench_payload (fork int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO bench_payload
SELECT f, jsonb_set(jsonb_set(:'body'::jsonb, '{repository,html_url}',
                              to_jsonb('https://github.com/bench/fork-' || f)),
                    '{repository,full_name}', to_jsonb('bench/fork-' || f))
FROM generate_series(1, :forks) f;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
SELECT 'bench-' || f, 'bench-user-' || f, 'bench-lab', 'https://github.com/bench/fork-' || f || '.git',
       'IN_PROGRESS', now() AT TIME ZONE 'UTC'
FROM generate_series(1, :forks) f;
CREATE TABLE bench_call (guid uuid NOT NULL, fork int NOT NULL, status text, attempt_id bigint,
                         session_id text);
SQL

# The GUID decides the fork, so a GUID always comes with the same payload (no conflicts).
cat > "$work/race.sql" <<SQL
\set n random(1, $GUIDS)
\set f 1 + :n % $FORKS
INSERT INTO bench_call (guid, fork, status, attempt_id, session_id)
SELECT x.g::uuid, :f, r.status, r.attempt_id, r.session_id
FROM (SELECT format('00000000-0000-4000-8000-%s', lpad(:n::text, 12, '0')) AS g) x,
     LATERAL forgea_audit.record_push((SELECT payload FROM bench_payload WHERE fork = :f), x.g) r;
SQL

start=$SECONDS
if ! pgbench -n -c "$CLIENTS" -j "$THREADS" -t "$TX_PER_CLIENT" -f "$work/race.sql" >"$work/pgbench.out" 2>&1; then
    cat "$work/pgbench.out" >&2
    fail "pgbench reported failed transactions (an error reached a caller)"
fi
elapsed=$((SECONDS - start))
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench.out" | head -1)
grep -q "number of failed transactions: 0 " "$work/pgbench.out" \
    || { cat "$work/pgbench.out" >&2; fail "pgbench counted failed transactions"; }

calls=$(q "SELECT count(*) FROM bench_call")
[ "$calls" -eq "$TOTAL" ] || fail "the ledger holds $calls calls, expected $TOTAL"

guids=$(q "SELECT count(DISTINCT guid) FROM bench_call")
attempts=$(q "SELECT count(*) FROM forgea_audit.lab_attempt")
[ "$attempts" -eq "$guids" ] || fail "$attempts lab_attempt rows for $guids distinct GUIDs"

bad=$(q "SELECT count(*) FROM (SELECT DISTINCT guid FROM bench_call) g
         WHERE (SELECT count(*) FROM forgea_audit.audit_log l
                 WHERE l.action = 'LAB_VERIFY_ATTEMPT' AND l.correlation_id = g.guid::text) <> 1")
[ "$bad" -eq 0 ] || fail "$bad GUIDs do not have exactly one LAB_VERIFY_ATTEMPT audit row"

recorded_rows=$(q "SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT'")
duplicate_rows=$(q "SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT_DUPLICATE'")
[ $((recorded_rows + duplicate_rows)) -eq "$TOTAL" ] \
    || fail "$recorded_rows recorded + $duplicate_rows duplicate audit rows, expected $TOTAL in all"
other_rows=$(q "SELECT coalesce(string_agg(DISTINCT action, ', '), '') FROM forgea_audit.audit_log
                WHERE action NOT IN ('LAB_VERIFY_ATTEMPT', 'LAB_VERIFY_ATTEMPT_DUPLICATE')")
[ -z "$other_rows" ] || fail "unexpected audit actions: $other_rows"

statuses=$(q "SELECT string_agg(status || '=' || n, ' ' ORDER BY status)
              FROM (SELECT status, count(*) AS n FROM bench_call GROUP BY status) s")
[ "$statuses" = "duplicate=$((TOTAL - guids)) recorded=$guids" ] \
    || fail "returned statuses $statuses, expected duplicate=$((TOTAL - guids)) recorded=$guids"

mismatched=$(q "SELECT count(*) FROM bench_call c LEFT JOIN forgea_audit.lab_attempt a ON a.delivery_id = c.guid
                WHERE a.id IS DISTINCT FROM c.attempt_id OR a.session_id IS DISTINCT FROM c.session_id
                   OR c.session_id <> 'bench-' || c.fork")
[ "$mismatched" -eq 0 ] || fail "$mismatched calls returned another attempt_id/session than the GUID's attempt"

verify=$(q "SELECT ok || ' ' || rows_checked || ' ' || coalesce(first_bad_seq::text, '-') || ' ' || detail
            FROM forgea_audit.verify_chain()")
case "$verify" in
    "true "*) ;;
    *) fail "verify_chain(): $verify" ;;
esac
audit_rows=$(q "SELECT count(*) FROM forgea_audit.audit_log")
rows_checked=$(echo "$verify" | cut -d' ' -f2)
[ "$rows_checked" -eq "$audit_rows" ] || fail "verify_chain() checked $rows_checked of $audit_rows rows"

echo "race_pgbench: ok: $TOTAL calls by $CLIENTS clients over $GUIDS GUIDs and $FORKS forks in ${elapsed}s" \
     "(${tps:-?} tps): $guids recorded, $((TOTAL - guids)) duplicate, 0 errors; verify_chain ok over $rows_checked rows"
