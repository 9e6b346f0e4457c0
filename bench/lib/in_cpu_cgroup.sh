#!/usr/bin/env bash
# Runs a command (and everything it starts: pg_ctl's server, its backends, pgbench) in a cpu cgroup
# of its own, as a service manager runs a server in its own group, instead of the root cpu group.
#   bash bench/lib/in_cpu_cgroup.sh COMMAND [ARG...]        (as root)
# Or moves processes that already run (bench/retention.sh's bench.cpu_cgroup=1 setting moves the
# running postmaster and its children for one configuration's run, and back after it):
#   group=$(bash bench/lib/in_cpu_cgroup.sh --new)          a fresh group; prints its path
#   bash bench/lib/in_cpu_cgroup.sh --move-tree GROUP PID   PID and all its descendants into GROUP
#                                                           (children it forks later inherit it)
#   group=$(bash bench/lib/in_cpu_cgroup.sh --new-tree PID...)   a fresh group holding each PID
#                                                           and its descendants; prints its path
#   bash bench/lib/in_cpu_cgroup.sh --join GROUP COMMAND [ARG...]   runs COMMAND in GROUP (exec)
#   bash bench/lib/in_cpu_cgroup.sh --count GROUP PID       "N of M": how many of PID and its
#                                                           descendants are in GROUP
#   bash bench/lib/in_cpu_cgroup.sh --release GROUP         every process in GROUP back to the root
#                                                           cpu group, then GROUP removed
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
[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARG...] | --new | --move-tree GROUP PID | --count GROUP PID | --join GROUP COMMAND... | --release GROUP" >&2; exit 2; }
if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cgroup.procs ] && [ ! -f /sys/fs/cgroup/cpu/cgroup.controllers ]; then
    top=/sys/fs/cgroup/cpu
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
    top=/sys/fs/cgroup
else
    echo "in_cpu_cgroup.sh: no cpu cgroup controller is mounted (/sys/fs/cgroup/cpu or cgroup v2)" >&2
    exit 1
fi
# A GROUP argument must be one this script made (or the root group): it never writes elsewhere.
check_group() {
    case $1 in "$top"/forgea_bench.*) [ -d "$1" ] && return 0 ;; esac
    echo "in_cpu_cgroup.sh: not a group of this script: $1" >&2
    exit 2
}
# Writes each pid to $1/cgroup.procs (all its threads move); one that exited meanwhile is skipped.
move() {
    local g=$1 p
    shift
    for p in "$@"; do echo "$p" > "$g/cgroup.procs" 2>/dev/null || [ ! -d "/proc/$p" ] || { echo "in_cpu_cgroup.sh: cannot move $p" >&2; exit 1; }; done
}
# PID and all its descendants into the group: the parent first, so what it forks from now on is
# born in the group; then what it had forked already, twice (a child forked between the two steps
# is in either list).
move_tree() {  # group, pid
    move "$1" "$2"
    move "$1" $(descendants "$2")
    move "$1" $(descendants "$2")
}
descendants() {  # pid: its children, grandchildren, ...
    local c
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do echo "$c"; descendants "$c"; done
}
case $1 in
    --new)
        g=$top/forgea_bench.$$
        mkdir "$g"
        echo "$g"
        exit 0 ;;
    --move-tree)
        [ $# -eq 3 ] || { echo "usage: $0 --move-tree GROUP PID" >&2; exit 2; }
        check_group "$2"
        move_tree "$2" "$3"
        exit 0 ;;
    --new-tree)
        [ $# -ge 2 ] || { echo "usage: $0 --new-tree PID..." >&2; exit 2; }
        g=$top/forgea_bench.$$
        mkdir "$g"
        shift
        for p in "$@"; do move_tree "$g" "$p"; done
        echo "$g"
        exit 0 ;;
    --count)
        [ $# -eq 3 ] || { echo "usage: $0 --count GROUP PID" >&2; exit 2; }
        check_group "$2"
        all=$( { echo "$3"; descendants "$3"; } | sort -u)
        in=$(sort -u "$2/cgroup.procs")
        # Only those still running once the group was read (one that exited meanwhile, or a zombie,
        # has left every group); those outside are named.
        n=0 m=0 out=
        for p in $all; do
            st=$(awk '{ print $3 }' "/proc/$p/stat" 2>/dev/null) || continue
            [ -n "$st" ] && [ "$st" != Z ] || continue
            m=$((m + 1))
            if grep -qx "$p" <<< "$in"; then n=$((n + 1)); else out="$out $p ($(tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-60))"; fi
        done
        echo "$n of $m${out:+, outside:$out}"
        exit 0 ;;
    --join)
        [ $# -ge 3 ] || { echo "usage: $0 --join GROUP COMMAND [ARG...]" >&2; exit 2; }
        check_group "$2"
        echo "$$" > "$2/cgroup.procs"
        shift 2
        exec "$@" ;;
    --release)
        [ $# -eq 2 ] || { echo "usage: $0 --release GROUP" >&2; exit 2; }
        check_group "$2"
        # Until it is empty: a process it still held may fork meanwhile (the postmaster a backend).
        for _ in $(seq 50); do
            procs=$(cat "$2/cgroup.procs")
            [ -n "$procs" ] || break
            move "$top" $procs
        done
        rmdir "$2"
        exit 0 ;;
esac
group=$top/forgea_bench.$$
mkdir "$group"
# The command runs in a child that joins the group first; this shell stays outside, to remove it.
( echo "$BASHPID" > "$group/cgroup.procs"; exec "$@" ) && rc=0 || rc=$?
# Processes the command left behind (a server it did not stop) keep the group; then it stays.
for _ in 1 2 3 4 5; do rmdir "$group" 2>/dev/null && break; sleep 1; done
[ -d "$group" ] && echo "in_cpu_cgroup.sh: $group still holds processes: $(tr '\n' ' ' < "$group/cgroup.procs")" >&2
exit "$rc"
