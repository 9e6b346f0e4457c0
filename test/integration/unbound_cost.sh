#!/usr/bin/env bash
# What record_push costs must not depend on settings or on the optional bind step (issue 10, case 3).
#
# The writing functions used to carry SET enable_seqscan = off.  Without bind_lab_session_table()'s
# index, the session lookup then cost 10^10 and, with PostgreSQL's default jit = on, every call
# JIT-compiled it (16 TPS instead of 1470; docs/benchmarks.md, "unbound"), and the setting held for
# the platform's own triggers on "LabSession" during the call.  Here, with the index dropped:
#   1. with jit = on and jit_above_cost = 0 (JIT for every plan; auto_explain shows which were
#      compiled), the session lookup is not JIT-compiled (a control statement is, so JIT works here);
#   2. a trigger on "LabSession" sees the caller's enable_seqscan and jit, not the function's;
#   3. the lookup's plan costs what a scan of the table costs, not 10^10.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession" and forgea_audit bound to it; cwd = repository root.
set -euo pipefail
source test/lib/checks.sh
db=$PGDATABASE
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
\set body \`cat $FIXTURE\`
DROP INDEX IF EXISTS "LabSession_forgea_repo_key_idx";   -- unbound: no index for the fork lookup
CREATE TABLE payload (body jsonb);
INSERT INTO payload VALUES (jsonb_set(:'body'::jsonb, '{repository,html_url}', '"https://github.com/unbound/fork"'));
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('unbound-1', 'u1', 'lab', 'https://github.com/unbound/fork', 'IN_PROGRESS', now() AT TIME ZONE 'UTC');
-- The platform's trigger: records the settings it runs with.
CREATE TABLE seen_settings (enable_seqscan text, jit text);
CREATE FUNCTION record_settings() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO public.seen_settings VALUES (current_setting('enable_seqscan'), current_setting('jit'));
    RETURN NEW;
END
\$\$;
CREATE TRIGGER lab_session_settings BEFORE UPDATE ON "LabSession" FOR EACH ROW EXECUTE FUNCTION record_settings();
ANALYZE;
SQL
check "the fork lookup's index is gone" \
    "$(q "$db" "SELECT count(*) FROM pg_indexes WHERE indexname = 'LabSession_forgea_repo_key_idx'")" "0"

# auto_explain prints every nested statement's plan, and its JIT section when it was compiled.
psql -X -q -v ON_ERROR_STOP=1 >"$work/out" 2>"$work/log" <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
SET jit = on;
SET jit_above_cost = 0;
SET jit_inline_above_cost = -1;
SET jit_optimize_above_cost = -1;
SELECT 'control' AS control FROM generate_series(1, 3) g WHERE g > 1;
SELECT status FROM forgea_audit.record_push((SELECT body FROM payload), '00000000-0000-4000-8000-0000000ab001');
SQL
# One plan per NOTICE: split the log into plans, keep the one that reads "LabSession" by fork.
awk '/^NOTICE:  duration:/ { n++ } { print > sprintf("'"$work"'/plan.%03d", n) }' "$work/log"
lookup=$(grep -l 'repo_key("userForkUrl")' "$work"/plan.* | xargs grep -L 'UPDATE' | head -1 || true)
control=$(grep -l "'control'" "$work"/plan.* | head -1 || true)
check "recorded" "$(cat "$work/out" | tr -d ' ' | grep -c recorded)" "1"
check "control: with jit_above_cost = 0 a plain SELECT is JIT-compiled (JIT works here)" \
    "$([ -n "$control" ] && { grep -c '^JIT:' "$control" || true; } || echo none)" "1"
check "the unbound session lookup was explained" "$([ -n "$lookup" ] && echo yes || echo no)" "yes"
check "the unbound session lookup is not JIT-compiled" "$([ -n "$lookup" ] && { grep -c '^JIT:' "$lookup" || true; } || echo none)" "0"
cost=$([ -n "$lookup" ] && grep -o 'cost=[0-9.]*\.\.[0-9.]*' "$lookup" | head -1 | sed 's/.*\.\.//' || echo 0)
check "the unbound session lookup costs a scan of the table, not 10^10 (cost $cost)" \
    "$(awk -v c="$cost" 'BEGIN { print (c > 0 && c < 1000000) ? "yes" : "no" }')" "yes"

# The platform's trigger ran with the caller's settings.
q "$db" "TRUNCATE seen_settings" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -c "SET enable_seqscan = on" -c "SET jit = on" \
    -c "SELECT status FROM forgea_audit.record_push((SELECT body FROM payload), '00000000-0000-4000-8000-0000000ab002')" >/dev/null
check "a trigger on LabSession sees the caller's enable_seqscan and jit" \
    "$(q "$db" "SELECT string_agg(enable_seqscan || '/' || jit, ',') FROM seen_settings")" "on/on"
psql -X -q -v ON_ERROR_STOP=1 -c "SET enable_seqscan = off" -c "SET jit = off" \
    -c "SELECT status FROM forgea_audit.record_push_json((SELECT body::json FROM payload), '00000000-0000-4000-8000-0000000ab003')" >/dev/null
check "... whatever they are (record_push_json)" \
    "$(q "$db" "SELECT string_agg(enable_seqscan || '/' || jit, ',' ORDER BY enable_seqscan DESC) FROM seen_settings")" "on/on,off/off"
check "chain intact" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" "t"
[ "$failures" -eq 0 ]
