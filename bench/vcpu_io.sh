#!/usr/bin/env bash
# What a busy CPU costs a WAL flush on this machine, without PostgreSQL (issue 23, item 2;
# docs/benchmarks.md, "Catch-up", catchup5's subsection).  One command, about a minute, as root:
#   flock /tmp/forgea_bench.lock bash bench/vcpu_io.sh
#
# record_push's p99 is set by its commits' WAL flushes (fdatasync), and a catch-up that writes no
# WAL and dirties no buffer still doubles it (bench/catchup.sh: a PL/pgSQL loop in place of the
# catch-up, "spin", does the same).  This measures the mechanism in isolation: the latency of an
# 8 kB pwrite + fdatasync on the disk of $BENCH_VCPU_DIR (default /tmp), 1,000 times in a row,
#   - with nothing else running (of ours),
#   - with a CPU spinner (a loop, no system call) on every CPU but one,
#   - with a spinner on every CPU at nice 0, at SCHED_IDLE (chrt -i: the scheduler's lowest
#     class, preempted at once by any waking task), and at SCHED_IDLE with a system call every
#     1,000 iterations (a guest kernel entry),
# each spinner in its own session (its own autogroup, as each PostgreSQL backend is: postmaster
# children call setsid()),
#   - and the same spinners (nice 0, each in its own session) with the fdatasync loop, all in one
#     cpu cgroup of their own (bench/lib/in_cpu_cgroup.sh), as a service manager runs a server,
# all of them repeated ROUNDS times (2) in that order.  For contrast, the round trip of a wake-up between two CPUs (pipes, as a LWLock
# wake-up through a semaphore) with spinners on both CPUs.  On the 2-vCPU VM of this project
# (kernel 6.18, HZ=250) an fdatasync took ~0.09 ms unless every vCPU was busy, then ~4 ms: one timer
# tick, whatever the busy process's priority; the wake-ups between CPUs did not change.  In one cpu
# cgroup it took ~0.2 ms with every vCPU busy: the 4 ms is the wake-up of the fdatasync's process
# waiting for the tick when its CPU runs another scheduling group's task, not the disk.
set -euo pipefail
DIR=${BENCH_VCPU_DIR:-/tmp}
ROUNDS=${BENCH_VCPU_ROUNDS:-2}
WORK=$(mktemp -d /tmp/forgea_vcpu.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK" "$DIR/forgea_vcpu_fsync.dat"; }
trap cleanup EXIT
NCPU=$(nproc)

cat > "$WORK/spin.c" <<'C'
/* A CPU spinner; with argv[1] = K > 0, a getppid() system call every K iterations. */
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv)
{
    long k = argc > 1 ? atol(argv[1]) : 0;
    volatile unsigned long x = 0;
    for (;;) {
        for (long i = 0; i < (k > 0 ? k : 1000000); i++)
            x += i * 2654435761u;
        if (k > 0)
            syscall(SYS_getppid);
    }
}
C
cat > "$WORK/fsync.c" <<'C'
/* argv[1] file, argv[2] n: n times an 8 kB pwrite + fdatasync; prints median, p90, p99 in ms. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv)
{
    int n = atoi(argv[2]), fd = open(argv[1], O_WRONLY | O_CREAT, 0600);
    static char buf[8192];
    double *lat = malloc(sizeof(double) * n);
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        if (pwrite(fd, buf, sizeof buf, (off_t)(i % 64) * 8192) != (ssize_t)sizeof buf) return 1;
        clock_gettime(CLOCK_MONOTONIC, &a);
        fdatasync(fd);
        clock_gettime(CLOCK_MONOTONIC, &b);
        lat[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
    }
    qsort(lat, n, sizeof(double), cmp);
    printf("fdatasync_ms median=%.3f p90=%.3f p99=%.3f", lat[n / 2], lat[n * 9 / 10], lat[n * 99 / 100]);
    return 0;
}
C
cat > "$WORK/pingpong.c" <<'C'
/* A wake-up's round trip between a process on CPU 0 and one on CPU 1 (pipes), n times; median, p90 in us. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); sched_setaffinity(0, sizeof s, &s); }
int main(int argc, char **argv)
{
    int n = atoi(argv[1]), p1[2], p2[2];
    char c = 'x';
    double *lat = malloc(sizeof(double) * n);
    if (pipe(p1) || pipe(p2)) return 1;
    if (fork() == 0) {
        pin(1);
        for (int i = 0; i < n; i++) { if (read(p1[0], &c, 1) != 1 || write(p2[1], &c, 1) != 1) _exit(1); }
        _exit(0);
    }
    pin(0);
    usleep(50000);
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1) return 1;
        clock_gettime(CLOCK_MONOTONIC, &b);
        lat[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    }
    wait(NULL);
    qsort(lat, n, sizeof(double), cmp);
    printf("wakeup_rtt_us median=%.0f p90=%.0f", lat[n / 2], lat[n * 9 / 10]);
    return 0;
}
C
for p in spin fsync pingpong; do gcc -O2 -o "$WORK/$p" "$WORK/$p.c"; done

# Spinners on CPUs 0 .. $1 - 1, each in its own session; $2: chrt's policy option (-o normal,
# -i idle), $3: the system call interval (0: none).  Their pids in the array pids.
spinners() {
    pids=()
    for ((c = 0; c < $1; c++)); do
        setsid taskset -c "$c" chrt "$2" 0 "$WORK/spin" "$3" </dev/null >/dev/null 2>&1 &
        pids+=($!)
    done
    sleep 0.2
}
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); sleep 0.3; }
case_of() {  # $1: label, then spinners' arguments
    local label=$1; shift
    [ "$1" -gt 0 ] && spinners "$@"
    echo "case=\"$label\" $("$WORK/fsync" "$DIR/forgea_vcpu_fsync.dat" 1000) load=$(cut -d' ' -f1 /proc/loadavg)"
    stop
}
# The spinners of case "nice 0" and the fdatasync loop, all inside one cpu cgroup.
case_in_cgroup() {
    local label="spinners on all $NCPU CPUs, nice 0, in one cpu cgroup with the fdatasync loop"
    echo "case=\"$label\" $(bash "$(dirname "$0")/lib/in_cpu_cgroup.sh" bash -c '
        for ((c = 0; c < '"$NCPU"'; c++)); do setsid taskset -c "$c" "$1/spin" 0 </dev/null >/dev/null 2>&1 & done
        sleep 0.2
        "$1/fsync" "$2" 1000
        kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' x "$WORK" "$DIR/forgea_vcpu_fsync.dat") load=$(cut -d' ' -f1 /proc/loadavg)"
    sleep 0.3
}
echo "# machine: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r), $(date -u +%FT%TZ), disk of $DIR: $(df --output=source "$DIR" | tail -1)"
for ((r = 1; r <= ROUNDS; r++)); do
    echo "# round $r"
    case_of "no spinner" 0
    case_of "spinners on $((NCPU - 1)) of $NCPU CPUs, nice 0" $((NCPU - 1)) -o 0
    case_of "spinners on all $NCPU CPUs, nice 0" "$NCPU" -o 0
    case_of "spinners on all $NCPU CPUs, SCHED_IDLE" "$NCPU" -i 0
    case_of "spinners on all $NCPU CPUs, SCHED_IDLE, a system call every 1,000 iterations" "$NCPU" -i 1000
    case_in_cgroup
done
if [ "$NCPU" -ge 2 ]; then
    echo "case=\"wake-ups between CPU 0 and 1, no spinner\" $("$WORK/pingpong" 1000)"
    spinners "$NCPU" -i 0
    echo "case=\"wake-ups between CPU 0 and 1, SCHED_IDLE spinners on all CPUs\" $("$WORK/pingpong" 1000)"
    stop
fi
