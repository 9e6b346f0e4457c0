#!/usr/bin/env bash
# Hostile payloads cost linear time and can be cancelled (issue 10, case 4).
#
#  1. Repeated keys: a commit listing 15,000 paths, then a commit with 50,000 repeated "added" keys
#     (~1.3 MB).  record_push_json de-duplicates repeated keys (the last one wins); dropping each
#     earlier list once rehashed every path listed so far, 49 s for this payload.  Now it must
#     succeed under statement_timeout = 10s and agree with record_push (the retry through the
#     other function is a "duplicate": same canonical SHA-256; same changed paths).
#  2. Cancellation: two payloads that take seconds even in linear time, run with
#     statement_timeout = 1s, must fail with 57014 (query_canceled) within 2 s of starting; one of
#     them is also stopped by pg_cancel_backend within 1 s.
#       deep:     a 10 MB string and 5,000,000 numbers nested 10,000 objects deep (the canonical
#                 writer once copied every finished object into its parent: depth x size, minutes)
#       repeated: 5,000,000 numbers, 15,000 paths, then 300,000 repeated "added" keys
#     (each takes 2-3 s to record on an idle 2-vCPU machine: the numbers make it long whatever the
#     machine, the rest is what used to be quadratic).
#     Before the fix neither checked for interrupts: the timeout was honoured only when the call
#     returned.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession" and forgea_audit bound to it; cwd = repository root.
set -euo pipefail
source test/lib/checks.sh
db=$PGDATABASE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
-- A push whose first commit lists m paths and whose second repeats "added" n times (one path each),
-- with a member "x" of nnum numbers first.
CREATE FUNCTION repeated_keys_payload(m int, n int, nnum int DEFAULT 0) RETURNS text LANGUAGE sql AS $$
SELECT '{"x":[0' || repeat(',1.5', nnum) || '],"ref":"refs/heads/main","after":"' || repeat('a', 40) || '","before":"' || repeat('b', 40) ||
       '","repository":{"html_url":"https://github.com/cliffs/repeated"},"commits":[{"id":"' || repeat('d', 40) ||
       '","modified":[' || (SELECT string_agg('"src/m' || i || '.c"', ',') FROM generate_series(1, m) i) ||
       ']},{"id":"' || repeat('c', 40) || '",' ||
       (SELECT string_agg('"added":["f' || i || '.txt"]', ',') FROM generate_series(1, n) i) || '}]}' $$;
-- A push with a member "x" holding a string of mb MiB and nnum numbers, nested depth objects deep.
CREATE FUNCTION deep_payload(depth int, mb int, nnum int) RETURNS text LANGUAGE sql AS $$
SELECT '{"ref":"refs/heads/main","after":"' || repeat('a', 40) ||
       '","repository":{"html_url":"https://github.com/cliffs/deep"},"x":' ||
       repeat('{"a":', depth) || '["' || repeat('z', mb * 1024 * 1024) || '"' || repeat(',1.5', nnum) || ']' ||
       repeat('}', depth) || '}' $$;
CREATE TABLE payload (name text PRIMARY KEY, body text NOT NULL);
INSERT INTO payload VALUES ('repeated_small', repeated_keys_payload(15000, 50000)),
                           ('repeated_big', repeated_keys_payload(15000, 300000, 5000000)),
                           ('deep', deep_payload(10000, 10, 5000000));
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('cliffs-1', 'u1', 'lab', 'https://github.com/cliffs/repeated', 'IN_PROGRESS', now() AT TIME ZONE 'UTC');
SQL
echo "# payload sizes: $(q "$db" "SELECT string_agg(name || '=' || length(body), ' ' ORDER BY name) FROM payload")"

# Runs one statement with a statement_timeout; prints "<sqlstate or OK> <seconds>".
timed() {  # timeout, sql
    local start end state
    start=$(date +%s.%N)
    if psql -X -q -A -t -v ON_ERROR_STOP=1 -v VERBOSITY=sqlstate -c "SET statement_timeout = '$1'" -c "$2" \
            >"$work/out" 2>"$work/err"; then
        state=OK
    else
        state=$(grep -o 'ERROR:  [0-9A-Z]\{5\}' "$work/err" | head -1 | cut -c9-)
        state=${state:-$(head -c 200 "$work/err")}
    fi
    end=$(date +%s.%N)
    echo "$state $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
}
within() { awk -v t="$1" -v limit="$2" 'BEGIN { print (t < limit) ? "yes" : "no (" t " s)" }'; }

# 1. repeated keys: fast, and the same result through both functions.
read -r state secs < <(timed 10s "SELECT status FROM forgea_audit.record_push((SELECT body FROM payload WHERE name = 'repeated_small')::jsonb, '00000000-0000-4000-8000-00000000c001')")
check "repeated keys: record_push succeeds (${secs} s)" "$state" "OK"
read -r state secs < <(timed 10s "SELECT status FROM forgea_audit.record_push_json((SELECT body FROM payload WHERE name = 'repeated_small')::json, '00000000-0000-4000-8000-00000000c001')")
check "repeated keys: record_push_json succeeds under statement_timeout = 10s (${secs} s)" "$state" "OK"
check "repeated keys: the retry through record_push_json is a duplicate (same canonical SHA-256)" \
    "$(cat "$work/out")" "duplicate"
check "repeated keys: the last \"added\" list won" \
    "$(q "$db" "SELECT cardinality(changed_paths) || ' ' || (changed_files->'added')::text FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-00000000c001'")" \
    '15001 ["f50000.txt"]'
# The same delivery read by record_push_json alone gives the same row.
read -r state secs < <(timed 10s "SELECT status FROM forgea_audit.record_push_json((SELECT body FROM payload WHERE name = 'repeated_small')::json, '00000000-0000-4000-8000-00000000c002')")
check "repeated keys: a new delivery through record_push_json is recorded (${secs} s)" "$(cat "$work/out")" "recorded"
check "repeated keys: both functions wrote the same hash and paths" \
    "$(q "$db" "SELECT count(DISTINCT (payload_sha256, changed_paths, changed_files)) FROM forgea_audit.lab_attempt WHERE delivery_id IN ('00000000-0000-4000-8000-00000000c001', '00000000-0000-4000-8000-00000000c002')")" "1"

# 2. statement_timeout = 1s stops long calls within 1 s of firing.
for name in deep repeated_big; do
    read -r state secs < <(timed 1s "SELECT status FROM forgea_audit.record_push_json((SELECT body FROM payload WHERE name = '$name')::json, '00000000-0000-4000-8000-00000000c0$([ $name = deep ] && echo 10 || echo 11)')")
    check "$name: record_push_json with statement_timeout = 1s is cancelled (57014)" "$state" "57014"
    check "$name: ... within 2 s of starting" "$(within "$secs" 2.0)" "yes"
done
# pg_cancel_backend, 0.5 s into the call.
start=$(date +%s.%N)
psql -X -q -A -t -v VERBOSITY=sqlstate -c "SET application_name = 'cliffs_cancel_me'" \
    -c "SELECT status FROM forgea_audit.record_push_json((SELECT body FROM payload WHERE name = 'deep')::json, '00000000-0000-4000-8000-00000000c013')" \
    >"$work/bg.out" 2>"$work/bg.err" &
bg=$!
# Cancel once the call is running (a known point: its backend active in record_push_json), not
# after a sleep that a slow machine may not have used to start it.
for ((i = 0; i < 200; i++)); do
    [ "$(q "$db" "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'cliffs_cancel_me'
                  AND state = 'active' AND strpos(query, 'record_push_json') > 0)")" = t ] && break
    sleep 0.05
done
cancel_at=$(date +%s.%N)
q "$db" "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'cliffs_cancel_me'" >/dev/null
wait "$bg" || true
end=$(date +%s.%N)
check "deep: pg_cancel_backend cancels record_push_json (57014)" \
    "$(grep -o 'ERROR:  [0-9A-Z]\{5\}' "$work/bg.err" | head -1 | cut -c9-)" "57014"
check "deep: ... within 1 s of the cancel" "$(within "$(awk -v a="$cancel_at" -v b="$end" 'BEGIN { print b - a }')" 1.0)" "yes"

check "nothing was written by the cancelled calls" \
    "$(q "$db" "SELECT count(*) FROM forgea_audit.audit_log WHERE correlation_id LIKE '00000000-0000-4000-8000-00000000c01%'")" "0"
check "chain intact" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" "t"
[ "$failures" -eq 0 ]
