#!/usr/bin/env bash
# The Merkle read functions (inclusion_proof, consistency_proof, merkle_root) and the writers of the
# tree (merkle_integrate, checkpoint) plan their own statements with enable_seqscan = off, so a
# statement on a table without a usable index costs 10^10; with PostgreSQL's default jit = on
# (jit_above_cost 100000) every call then JIT-compiled it: about 8 ms per proof, whatever the tree's
# size (issue 13's proof latency).  Checked here, with the default JIT settings and auto_explain on
# nested statements: none of their statements is JIT-compiled, while a control statement made to
# cost 10^10 the same way is (so JIT works in this cluster).
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession" and forgea_audit bound to it; cwd = repository root.
set -euo pipefail
source test/lib/checks.sh
db=$PGDATABASE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT count(forgea_audit.append('NO_JIT_TEST', chain => 'no_jit:' || (g % 5))) FROM generate_series(1, 40) g;
SQL

psql -X -q -v ON_ERROR_STOP=1 >"$work/out" 2>"$work/log" <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
\pset tuples_only on
\pset format unaligned
RESET jit; RESET jit_above_cost;
-- The control: a scan made to cost 10^10 the same way, in a table of the test's own.
CREATE TEMP TABLE control_rows AS SELECT 1 AS x;
SET enable_seqscan = off;
SELECT 'control' AS control, count(*) FROM control_rows;
RESET enable_seqscan;
SELECT forgea_audit.merkle_integrate() AS integrated;
SELECT forgea_audit.checkpoint() IS NOT NULL AS checkpointed;
SELECT cardinality(proof) AS inclusion FROM forgea_audit.inclusion_proof(7, 40);
SELECT cardinality(forgea_audit.consistency_proof(10, 40)) AS consistency;
SELECT octet_length(forgea_audit.merkle_root(40)) AS root;
SQL
# One plan per NOTICE.
awk '/^NOTICE:  duration:/ { n++ } { print > sprintf("'"$work"'/plan.%03d", n) }' "$work/log"
control=$(grep -l "'control'" "$work"/plan.* | head -1 || true)
check "control: a statement costed above jit_above_cost is JIT-compiled (JIT works here)" \
    "$([ -n "$control" ] && { grep -c '^JIT:' "$control" || true; } || echo none)" "1"
merkle_plans=$(grep -l 'merkle_\|audit_log' "$work"/plan.* | grep -v -F "${control:-none}" || true)
check "the Merkle functions' statements were explained" "$([ -n "$merkle_plans" ] && echo yes || echo no)" "yes"
jitted=$(if [ -n "$merkle_plans" ]; then { grep -l '^JIT:' $merkle_plans || true; } | wc -l; else echo 0; fi)
[ "$jitted" -eq 0 ] || { echo "JIT-compiled:"; grep -l '^JIT:' $merkle_plans | xargs head -3; }
check "no statement of merkle_integrate, checkpoint, inclusion_proof, consistency_proof or merkle_root is JIT-compiled" \
    "$jitted" "0"
check "the calls answered" "$(grep -c . "$work/out")" "6"
check "chain intact" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" "t"
[ "$failures" -eq 0 ]
