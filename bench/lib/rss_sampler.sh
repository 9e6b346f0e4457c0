#!/usr/bin/env bash
# Samples a backend's private resident memory (RssAnon in /proc/<pid>/status) every ~10 ms until
# <prefix>.stop exists or the process ends, then writes the highest value seen (kB) to
# <prefix>.peak.  Started in the background from psql (\! ... &) by bench/lib/in_cluster.sh, with
# the backend's pid in $BENCH_PID.  VmHWM alone cannot tell a backend's own memory from the shared
# buffers it touched; RssAnon can.  Pure bash (no process per sample), so it costs little CPU.
pid=${BENCH_PID:?}
prefix=${1:?}
peak=0
exec 9<> <(:)   # a descriptor nobody writes to: `read -t` on it is a sleep without a process
while [ ! -e "$prefix.stop" ] && [ -r "/proc/$pid/status" ]; do
    while read -r key value _; do
        if [ "$key" = "RssAnon:" ]; then
            [ "$value" -gt "$peak" ] && peak=$value
            break
        fi
    done < "/proc/$pid/status"
    read -r -t 0.01 -u 9 _ || true
done
echo "$peak" > "$prefix.peak.tmp"
mv "$prefix.peak.tmp" "$prefix.peak"
