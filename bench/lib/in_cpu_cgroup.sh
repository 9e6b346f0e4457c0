#!/usr/bin/env bash
# Runs a command (and everything it starts: pg_ctl's server, its backends, pgbench) in a cpu cgroup
# of its own, as a service manager runs a server in its own group, instead of the root cpu group.
#   bash bench/lib/in_cpu_cgroup.sh COMMAND [ARG...]        (as root)
#
# Why (docs/benchmarks.md, "Round 6: the 4 ms is the scheduler"): PostgreSQL makes every backend
# a session leader (setsid() in InitPostmasterChild), and with the kernel's autogroups each session
# in the root cpu group is a scheduling group of its own.  On this project's VM (kernel 6.18, HZ=250)
# a task that wakes (a committer whose fdatasync completed, a backend a lock holder released) and
# whose CPU runs a task of another group waits for the next timer tick, up to 4 ms; inside one
# non-root group it runs at once (bench/vcpu_io.sh measures both).  Autogroups apply only in the
# root cpu group, so inside this group the backends share one.
#
# The group is /sys/fs/cgroup/cpu/forgea_bench.<pid> (cgroup v1's cpu controller) or
# /sys/fs/cgroup/forgea_bench.<pid> (cgroup v2 with the cpu controller enabled at the root); it has
# no limit (the default weight) and is removed when the command ends, once empty.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cgroup.procs ] && [ ! -f /sys/fs/cgroup/cpu/cgroup.controllers ]; then
    group=/sys/fs/cgroup/cpu/forgea_bench.$$
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
    group=/sys/fs/cgroup/forgea_bench.$$
else
    echo "in_cpu_cgroup.sh: no cpu cgroup controller is mounted (/sys/fs/cgroup/cpu or cgroup v2)" >&2
    exit 1
fi
mkdir "$group"
# The command runs in a child that joins the group first; this shell stays outside, to remove it.
( echo "$BASHPID" > "$group/cgroup.procs"; exec "$@" ) && rc=0 || rc=$?
# Processes the command left behind (a server it did not stop) keep the group; then it stays.
for _ in 1 2 3 4 5; do rmdir "$group" 2>/dev/null && break; sleep 1; done
[ -d "$group" ] && echo "in_cpu_cgroup.sh: $group still holds processes: $(tr '\n' ' ' < "$group/cgroup.procs")" >&2
exit "$rc"
