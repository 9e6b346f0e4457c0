#!/usr/bin/env bash
# Nothing a reader may call stalls the log, and a pass that cannot get its locks says so (issue 20,
# item 5).  Runs inside pg_virtualenv with shared_preload_libraries = forgea_audit,
# forgea_audit.database = postgres and logging_collector = on (test/run_tests.sh starts it so).
#   1. a reader calls checkpoint() and keeps its transaction open: it got the newest stored note,
#      holds no transaction id and no row lock; meanwhile the worker integrates new rows and signs
#      new checkpoints, and an admin's checkpoint() and verify_increment() run;
#   2. an admin keeps a transaction open after merkle_integrate() (it holds merkle_state): another
#      admin's checkpoint() fails after the bounded wait, saying why (55P03); the worker's
#      integrator pass says in forgea_audit.progress and in the server log that it could not run;
#      once the holder commits, the worker catches up.
# Sessions are held open through FIFOs, so each one is at a known point when the test looks; every
# wait polls for the state it needs, and its deadline only turns a hang into a failure.
set -uo pipefail
cd "${FA_ROOT:-$(dirname "$0")/../..}"
. test/lib/checks.sh
export PGDATABASE=postgres
q1() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
# The SQL that says whether a line of the server log (logging_collector) contains $1.
log_has() { echo "SELECT EXISTS (SELECT FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\\n') l
                                 WHERE strpos(l, \$\$$1\$\$) > 0)"; }

tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
    exec 3>&- 4>&- 2>/dev/null
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
# A psql session fed through a FIFO on file descriptor $2: it runs what is written there, and its
# transaction stays open until the test writes COMMIT.
open_session() {  # name fd
    mkfifo "$tmp/$1.in"
    psql -X -q -A -t -v ON_ERROR_STOP=1 < "$tmp/$1.in" > "$tmp/$1.out" 2>&1 &
    eval "exec $2>\"$tmp/$1.in\""
}
idle_in_tx() {  # application_name, a piece of its last statement
    echo "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = '$1' AND state = 'idle in transaction'
                         AND strpos(query, '$2') > 0)"
}

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || check "setup" failed ok
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
CREATE ROLE fa_stall_reader NOLOGIN;
GRANT forgea_audit_reader TO fa_stall_reader;
CREATE ROLE fa_stall_admin NOLOGIN;
GRANT forgea_audit_admin TO fa_stall_admin;
SQL
openssl genpkey -algorithm ed25519 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/pub.pem" 2>/dev/null
chown postgres: "$tmp/key.pem" "$tmp/pub.pem" 2>/dev/null
chmod 600 "$tmp/key.pem"
q1 "ALTER SYSTEM SET forgea_audit.signing_key_file = '$tmp/key.pem'" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.verify_key_file = '$tmp/pub.pem'" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.checkpoint_interval = '1s'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
worker_pid=""
eventually "setup: the worker made a signed checkpoint" \
    "SELECT count(*) > 0 FROM forgea_audit.merkle_checkpoint WHERE strpos(note, E'\n\n— forgea_audit ') > 0" 30
worker_pid=$(q1 "SELECT pid FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")

echo "# 1. a reader keeps its transaction open after checkpoint()"
open_session reader 3
echo "SET application_name = 'fa_stall_reader';
BEGIN;
SET LOCAL ROLE fa_stall_reader;
SELECT forgea_audit.checkpoint();" >&3
eventually "the reader's checkpoint() returned and its transaction stays open" \
    "$(idle_in_tx fa_stall_reader 'forgea_audit.checkpoint()')" 20
note=$(cat "$tmp/reader.out")
check "the reader got a stored, signed note (the newest when it asked)" \
    "$(psql -X -A -t -q -v note="$note" <<'SQL'
SELECT count(*) = 1 FROM forgea_audit.merkle_checkpoint
WHERE rtrim(note, E'\n') = :'note' AND strpos(note, E'\n\n— forgea_audit ') > 0;
SQL
)" t
check "the reader's transaction has no transaction id (it wrote nothing) and holds no lock but AccessShare" \
    "$(q1 "SELECT (SELECT backend_xid IS NULL FROM pg_stat_activity WHERE application_name = 'fa_stall_reader')
              AND NOT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                              WHERE a.application_name = 'fa_stall_reader'
                                AND NOT (l.locktype = 'virtualxid' OR (l.locktype = 'relation' AND l.mode = 'AccessShareLock')))")" t
seqs=$(q1 "SELECT string_agg(s::text, ',') FROM (SELECT forgea_audit.append('STALL_TEST', chain => 'stall:' || g) s
                                                 FROM generate_series(1, 3) g) x")
eventually "meanwhile the worker integrates three new rows" \
    "SELECT count(*) = 3 FROM forgea_audit.merkle_leaf WHERE seq IN ($seqs)" 20
eventually "... and signs a checkpoint that covers them" \
    "SELECT EXISTS (SELECT FROM forgea_audit.merkle_checkpoint
                    WHERE tree_size > (SELECT max(leaf_index) FROM forgea_audit.merkle_leaf WHERE seq IN ($seqs))
                      AND strpos(note, E'\n\n— forgea_audit ') > 0)" 20
check "an admin's checkpoint() and verify_increment() run meanwhile (statement_timeout 20 s)" \
    "$(psql -X -A -t -q -c "SET statement_timeout = '20s'" -c "SET ROLE fa_stall_admin" \
           -c "SELECT forgea_audit.checkpoint() LIKE 'forgea_audit/%'" -c "SELECT ok FROM forgea_audit.verify_increment()" 2>&1 | tr '\n' ' ')" "t t "
check "no backend waited for a lock" "$(q1 "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" 0
echo "COMMIT;" >&3
exec 3>&-

echo "# 2. an admin keeps merkle_state locked: the other passes give up after the bound and say so"
open_session holder 4
echo "SET application_name = 'fa_stall_holder';
BEGIN;
SET LOCAL ROLE fa_stall_admin;
SELECT forgea_audit.merkle_integrate();" >&4
eventually "the holder's merkle_integrate() returned and its transaction stays open" \
    "$(idle_in_tx fa_stall_holder 'forgea_audit.merkle_integrate()')" 20
seq=$(q1 "SELECT forgea_audit.append('STALL_HELD', chain => 'stall:held')")
out=$(psql -X -A -t -q -v VERBOSITY=verbose -c "SET statement_timeout = '30s'" -c "SET ROLE fa_stall_admin" \
           -c "SELECT forgea_audit.checkpoint()" 2>&1)
check "another admin's checkpoint() fails with 55P03, naming itself and the bound" \
    "$(grep -c 'ERROR:  55P03: checkpoint() could not run: a lock on the Merkle log was held by another transaction for more than 5000 ms' <<<"$out")" 1
[ "$(grep -c 55P03 <<<"$out")" = 1 ] || echo "$out" | sed 's/^/#   /'
eventually "the worker shows in forgea_audit.progress that its integrator or checkpoint pass could not run" \
    "SELECT EXISTS (SELECT FROM forgea_audit.progress WHERE backend_type = 'forgea_audit retention'
                    AND (progress LIKE 'worker: the integrator pass of % could not run: merkle_integrate() could not run: a lock on the Merkle log%'
                         OR progress LIKE 'worker: the checkpoint pass of % could not run: checkpoint() could not run: a lock on the Merkle log%'))" 30
# The progress above may name the checkpoint pass, which can fail first; the integrator's own
# failure (and its log line, written through the logging collector) may come a pass later.
eventually "... and the server log has the integrator's error" \
    "$(log_has 'ERROR:  merkle_integrate() could not run: a lock on the Merkle log')" 30
check "the row appended meanwhile is not a leaf yet (the holder keeps the tree as it was)" \
    "$(q1 "SELECT count(*) FROM forgea_audit.merkle_leaf WHERE seq = $seq")" 0
echo "COMMIT;" >&4
exec 4>&-
eventually "once the holder commits, the worker integrates the row and checkpoints it" \
    "SELECT EXISTS (SELECT FROM forgea_audit.merkle_checkpoint
                    WHERE tree_size > (SELECT leaf_index FROM forgea_audit.merkle_leaf WHERE seq = $seq))" 30
eventually "... and its progress no longer reports a pass that could not run" \
    "SELECT NOT EXISTS (SELECT FROM forgea_audit.progress WHERE backend_type = 'forgea_audit retention')" 30
check "the worker did all of it without restarting (same pid)" \
    "$(q1 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND pid = ${worker_pid:-0}")" 1

for s in signing_key_file verify_key_file checkpoint_interval; do q1 "ALTER SYSTEM RESET forgea_audit.$s" >/dev/null; done
q1 "SELECT pg_reload_conf()" >/dev/null
if [ "$failures" -gt 0 ]; then
    echo "reader_never_stalls: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "reader_never_stalls: ok"
