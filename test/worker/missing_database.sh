#!/usr/bin/env bash
# The worker and a forgea_audit.database that does not exist (issue 10, case 8).  Runs inside
# pg_virtualenv with shared_preload_libraries = forgea_audit, forgea_audit.database = fa_missing_db,
# forgea_audit.retention_interval = 1s and logging_collector = on (test/run_tests.sh starts it so).
#   1. for ~15 s: the missing database is logged exactly once, with a hint, and nothing FATAL;
#   2. the database created and the configuration reloaded: the worker starts there and works;
#   3. every interval 0 and another missing database: nothing is logged at all; one interval set
#      again: logged once;
#   4. every interval 0, thousands of catalog invalidations, then merkle_interval set by a reload:
#      the worker starts at once and the launcher survives (it used to exit FATAL and come back
#      only after its 10 s restart).
set -uo pipefail
cd "${FA_ROOT:-$(dirname "$0")/../..}"
. test/lib/checks.sh
q1() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
# Lines of the server log (logging_collector) that contain $1.
log_count() { q1 "SELECT count(*) FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\n') l
                  WHERE strpos(l, \$\$$1\$\$) > 0"; }

check "setup: the cluster preloads forgea_audit and points the worker at fa_missing_db" \
      "$(q1 "SELECT current_setting('shared_preload_libraries') || ' ' || current_setting('forgea_audit.database')")" \
      "forgea_audit fa_missing_db"
q1 "DROP DATABASE IF EXISTS fa_missing_db" >/dev/null

echo "# 1. a missing database: logged once, and not again over a window longer than bgw_restart_time"
# First the known point: the launcher has looked and logged (polled, 30 s at most).  Then a window
# of 12 s, longer than the 10 s bgw_restart_time: a worker that restarted would log again in it.
# (The window only proves an absence; no check here waits for the machine to be slow.)
eventually "the launcher logs the missing database" \
    "SELECT count(*) >= 1 FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\n') l
     WHERE strpos(l, 'database \"fa_missing_db\" does not exist') > 0" 30
sleep 12
check "a missing database is logged once, and not again in the 12 s after (the worker does not restart every 10 s)" \
      "$(log_count 'database "fa_missing_db" does not exist')" "1"
check "... as a LOG line of the launcher, not a FATAL" \
      "$(log_count 'FATAL:  database "fa_missing_db" does not exist')|$(log_count 'LOG:  forgea_audit worker: database "fa_missing_db" does not exist; waiting for a configuration reload')" \
      "0|1"
check "... with a hint" "$(log_count 'HINT:  Create the database, or set forgea_audit.database')" "1"
check "no retention worker runs meanwhile; the launcher waits, connected to no database" \
      "$(q1 "SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention')
                 || '|' || (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit launcher' AND datname IS NULL)")" \
      "0|1"

echo "# 2. the database created, the configuration reloaded"
q1 "CREATE DATABASE fa_missing_db" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d fa_missing_db >/dev/null <<'SQL' || check "setup of fa_missing_db" failed ok
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
SQL
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "after the reload the worker runs in fa_missing_db" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND datname = 'fa_missing_db'" 20
got=""
for ((i = 0; i < 30; i++)); do
    got=$(psql -X -A -t -q -d fa_missing_db -c "SELECT count(*) > 0 FROM forgea_audit.retention_run WHERE driver = 'worker' AND finished_at IS NOT NULL AND error IS NULL" 2>/dev/null)
    [ "$got" = "t" ] && break
    sleep 0.5
done
check "... and works there: a finished retention run by the worker is recorded" "$got" "t"

echo "# 3. every interval 0, another missing database: nothing at all"
q1 "ALTER SYSTEM SET forgea_audit.retention_interval = 0" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.checkpoint_interval = 0" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.verify_interval = 0" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.merkle_interval = 0" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.database = 'fa_other_missing'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "the worker leaves fa_missing_db when the setting names another database" \
    "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'" 20
# An absence, so a window, and it cannot be shorter: the launcher saw the worker stop just now, and a
# launcher that looked the database up despite every interval 0 would wait its 10 s restart delay
# (not_before) first, then log.  12 s covers that delay; the count of 1 after the next reload (below)
# would also show such a line.
sleep 12
check "every interval 0: the missing database is not even looked up (nothing logged), no worker runs" \
      "$(log_count 'fa_other_missing" does not exist')|$(q1 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")" \
      "0|0"
q1 "ALTER SYSTEM SET forgea_audit.retention_interval = '1s'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
# Polled until it is logged (20 s at most), instead of sleeping 3 s and hoping it was by then.
eventually "one interval set again: the missing database is logged" \
    "SELECT count(*) >= 1 FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\n') l
     WHERE strpos(l, 'database \"fa_other_missing\" does not exist') > 0" 20
check "... once" "$(log_count 'database "fa_other_missing" does not exist')" "1"

echo "# 4. enabled by a reload after heavy catalog churn (the launcher's invalidation queue overflows)"
q1 "ALTER SYSTEM SET forgea_audit.retention_interval = 0" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.database = 'fa_missing_db'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
# No wait for this reload: with every interval 0 (or, if the launcher has not read it yet, with
# fa_other_missing reported) the launcher sleeps without touching the catalogs, so the churn below
# overflows its invalidation queue whether it comes before or after the launcher applies this
# reload; its first catalog access is the lookup the second reload asks for.
# Thousands of invalidation messages while the launcher sleeps: 400 tables created and dropped.
psql -X -q -d fa_missing_db -c "DO \$\$ BEGIN FOR i IN 1..400 LOOP EXECUTE format('CREATE TABLE churn_%s (a int PRIMARY KEY, b text)', i); END LOOP;
                                   FOR i IN 1..400 LOOP EXECUTE format('DROP TABLE churn_%s', i); END LOOP; END \$\$" >/dev/null
q1 "ALTER SYSTEM SET forgea_audit.merkle_interval = '1s'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "merkle_interval set by a reload after the churn: the worker runs in fa_missing_db within 5 s" \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention' AND datname = 'fa_missing_db'" 5
check "... and the launcher did not die on the reload (no FATAL, no exit code 1)" \
      "$(log_count 'cannot read pg_class without having selected a database')|$(log_count 'forgea_audit launcher" (PID')" "0|0"

for s in retention_interval checkpoint_interval verify_interval merkle_interval database; do
    q1 "ALTER SYSTEM RESET forgea_audit.$s" >/dev/null
done
q1 "SELECT pg_reload_conf()" >/dev/null

if [ "$failures" -gt 0 ]; then
    echo "missing_database: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "missing_database: ok"
