#!/usr/bin/env bash
# forgea_audit.worker_nice, in a cluster started with shared_preload_libraries = forgea_audit,
# forgea_audit.database = postgres (test/run_tests.sh): the background worker process runs at the
# setting's nice value (default 0: the postmaster's; read from /proc/<pid>/stat), the launcher and the sessions at
# the postmaster's; a reload raising it renices the same process; a reload lowering it (which an
# unprivileged process cannot do to itself) restarts the worker, which comes back at the new
# value.  Where the kernel has autogroups (/proc/<pid>/autogroup), the worker's autogroup carries
# the same nice value and a session's stays at 0.  Waits poll with a deadline (a hang becomes a
# failure); nothing asserts on time.
set -uo pipefail
cd "${FA_ROOT:-$(dirname "$0")/../..}"
. test/lib/checks.sh
export PGDATABASE=postgres
q1() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
# The nice value of the process whose pid the SQL expression $1 gives (field 19 of /proc/<pid>/stat,
# the 17th after the parenthesised command name).
nice_of() { echo "(SELECT split_part(substring(pg_read_file('/proc/' || ($1) || '/stat') from '\) (.*)\$'), ' ', 17)::int)"; }
worker_pid="(SELECT pid FROM pg_stat_activity WHERE application_name = 'forgea_audit retention worker')"
launcher_pid="(SELECT pid FROM pg_stat_activity WHERE application_name = 'forgea_audit launcher')"
postmaster_pid="split_part(pg_read_file('postmaster.pid'), chr(10), 1)::int"

# The nice value of the autogroup of the process $1 gives (/proc/<pid>/autogroup: "/autogroup-N nice V").
autogroup_of() { echo "(SELECT substring(pg_read_file('/proc/' || ($1) || '/autogroup') from 'nice (-?[0-9]+)')::int)"; }
# The kernel's autogroups (CONFIG_SCHED_AUTOGROUP): each PostgreSQL child is its own, and the worker's
# must carry its nice value for it to yield to the sessions (src/worker/worker_loop.cpp).
autogroups=$(q1 "SELECT (pg_stat_file('/proc/' || $postmaster_pid || '/autogroup', true)).size IS NOT NULL")

check "the default is 0" "$(q1 "LOAD 'forgea_audit'; SHOW forgea_audit.worker_nice")" 0
eventually "at 0 the worker runs at the postmaster's nice value" "SELECT $(nice_of "$worker_pid") = $(nice_of "$postmaster_pid")" 60
first=$(q1 "SELECT $worker_pid")

q1 "ALTER SYSTEM SET forgea_audit.worker_nice = 10" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "a reload raising it renices the running worker (10)" "SELECT $(nice_of "$worker_pid") = 10" 60
check "... the same process" "$(q1 "SELECT $worker_pid")" "$first"
if [ "$autogroups" = t ]; then
    eventually "... and its autogroup runs at nice 10 too" "SELECT $(autogroup_of "$worker_pid") = 10" 60
    check "a session's autogroup stays at 0" "$(q1 "SELECT $(autogroup_of "pg_backend_pid()")")" 0
else
    echo "# no /proc/<pid>/autogroup on this kernel: the autogroup checks do not apply"
fi
check "the launcher keeps the postmaster's nice value" "$(q1 "SELECT $(nice_of "$launcher_pid")")" \
    "$(q1 "SELECT $(nice_of "$postmaster_pid")")"
check "a session keeps the postmaster's nice value" "$(q1 "SELECT $(nice_of "pg_backend_pid()")")" \
    "$(q1 "SELECT $(nice_of "$postmaster_pid")")"

q1 "ALTER SYSTEM SET forgea_audit.worker_nice = 5" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "a reload lowering it restarts the worker, which runs at nice 5" \
    "SELECT $worker_pid <> $first AND $(nice_of "$worker_pid") = 5" 60
[ "$autogroups" = t ] && eventually "... its autogroup too" "SELECT $(autogroup_of "$worker_pid") = 5" 60

q1 "ALTER SYSTEM RESET forgea_audit.worker_nice" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "reset: back at the postmaster's nice value" "SELECT $(nice_of "$worker_pid") = $(nice_of "$postmaster_pid")" 60
[ "$autogroups" = t ] && eventually "... and its autogroup at 0" "SELECT $(autogroup_of "$worker_pid") = 0" 60
[ "$failures" -eq 0 ]
