#!/usr/bin/env bash
# forgea_audit.worker_catchup_delay, in a cluster started with shared_preload_libraries =
# forgea_audit, forgea_audit.database = postgres, forgea_audit.verify_interval = 1s,
# log_min_messages = debug1, logging_collector = on and forgea_audit.catchup_delay_always = on (a
# delay point sleeps even though nobody else writes WAL here: test/run_tests.sh; with it off, the
# default, test/integration/catchup_batches.sh checks that it sleeps only after others' WAL): the worker's
# verify_increment() passes sleep the worker's setting (default 10 ms) after every 1,000 rows of
# their unlocked catch-up, not the sessions' forgea_audit.catchup_delay (default 0); at -1 they
# sleep catchup_delay's.  Counted from the passes' DEBUG1 summaries in the server log
# ("verify_increment: N rows checked in B batches, S sleeps of D ms (forgea_audit.SETTING)"):
# 10,000 rows appended at once are at least 5,904 rows of some pass's unlocked catch-up (its
# locked last step integrates 4,096 at most), so that pass sleeps at least 5 times.  Waits poll
# with a deadline (a hang becomes a failure); nothing asserts on time.
set -uo pipefail
cd "${FA_ROOT:-$(dirname "$0")/../..}"
. test/lib/checks.sh
export PGDATABASE=postgres
q1() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
# The SQL that says whether a line of the server log (logging_collector) matches the regex $1.
log_matches() { echo "SELECT EXISTS (SELECT FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\\n') l
                                     WHERE l ~ \$\$$1\$\$)"; }
append() { q1 "SELECT count(forgea_audit.append('CATCHUP_DELAY', chain => 'delay:' || (g % 9))) FROM generate_series(1, 10000) g" >/dev/null; }

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
SQL
check "the worker's default is 10 ms" "$(q1 "SHOW forgea_audit.worker_catchup_delay")" "10ms"
check "the cluster sleeps the delay whatever else runs (catchup_delay_always)" "$(q1 "SHOW forgea_audit.catchup_delay_always")" "on"
append
eventually "a worker pass sleeps the worker's 10 ms after every 1,000 rows of its catch-up (>= 5 sleeps)" \
    "$(log_matches 'verify_increment: [0-9]+ rows checked in [0-9]+ batches, ([5-9]|[1-9][0-9]+) sleeps of 10 ms \(forgea_audit\.worker_catchup_delay\)')" 60
eventually "... and it verified every row" \
    "SELECT v.tree_size = s.tree_size AND s.tree_size >= 10000 FROM forgea_audit.merkle_verified v, forgea_audit.merkle_state s" 60

q1 "ALTER SYSTEM SET forgea_audit.worker_catchup_delay = -1" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.catchup_delay = 0.01" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
# The worker has reloaded once a pass with nothing new names the new setting; only then the rows.
eventually "the worker reloaded: its passes now name catchup_delay's 0.01 ms" \
    "$(log_matches 'verify_increment: 0 rows checked in 0 batches, 0 sleeps of 0\.01 ms \(forgea_audit\.catchup_delay\)')" 60
append
eventually "at -1 the worker's passes sleep catchup_delay's 0.01 ms instead (>= 5 sleeps)" \
    "$(log_matches 'verify_increment: [0-9]+ rows checked in [0-9]+ batches, ([5-9]|[1-9][0-9]+) sleeps of 0\.01 ms \(forgea_audit\.catchup_delay\)')" 60
check "a session's pass never uses the worker's setting" \
    "$(PGOPTIONS='-c client_min_messages=debug1 -c forgea_audit.catchup_delay=0' psql -X -q -A -t -c "SELECT ok FROM forgea_audit.verify_increment()" 2>&1 |
       grep -c 'sleeps of 0 ms (forgea_audit.catchup_delay)')" 1
q1 "ALTER SYSTEM RESET forgea_audit.worker_catchup_delay" >/dev/null
q1 "ALTER SYSTEM RESET forgea_audit.catchup_delay" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
check "verify_chain() agrees" "$(q1 "SELECT ok FROM forgea_audit.verify_chain()")" t
[ "$failures" -eq 0 ]
