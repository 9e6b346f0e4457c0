#!/usr/bin/env bash
# Two builds side by side under bench/retention.sh, one command:
#
#   BENCH_AB_BASE=<git rev> bash bench/retention_ab.sh
#
# bench/retention.sh measures one build (it installs the working tree into a private copy of
# PostgreSQL); a change to the archiving itself (its SQL, the worker) needs the build before it in
# the same conditions.  This runs bench/retention.sh alternately on the working tree ("new") and on
# BENCH_AB_BASE exported by `git archive` into a temporary directory ("base", with this tree's
# bench/ copied over it, so both are measured by the same harness), in the order of
# BENCH_AB_ORDER (default "new base base new": ABBA), each run a go of its own under BENCH_LOCK if
# set (bench/retention.sh takes it for its template and its configuration), then prints every run's
# summary line and the medians per build (BENCH_AB_PREPARE=1 BENCH_AB_SRC=<dir>: only make and
# build the base tree, for a later run with the same BENCH_AB_SRC).  BENCH_AB_NEW_EXTRA: more
# configurations (bench/retention.sh's name:settings) run after "new" in each new run's cluster,
# e.g. a lower bound "lb:bench.lower_bound=1,bench.copy_secs=57".  Every other BENCH_RET_* setting is passed on
# (BENCH_RET_ROWS, BENCH_RET_IDLE_SECS, ...); each run makes its own template (about 50 s at 1M).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE=${BENCH_AB_BASE:?set BENCH_AB_BASE to the git revision to compare with}
ORDER=${BENCH_AB_ORDER:-new base base new}
OUT="$ROOT/bench/out/retention-ab-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
# BENCH_AB_SRC: keep the base tree there (made if missing, reused if it holds BENCH_AB_BASE), so it
# can be built before a quiet window in which nobody compiles.
if [ -n "${BENCH_AB_SRC:-}" ]; then
    SRC=$BENCH_AB_SRC
    if [ "$(cat "$SRC/.bench_ab_rev" 2>/dev/null)" != "$(git rev-parse "$BASE")" ]; then
        rm -rf "$SRC" && mkdir -p "$SRC" && git archive "$BASE" | tar -x -C "$SRC"
        git rev-parse "$BASE" > "$SRC/.bench_ab_rev"
    fi
else
    SRC=$(mktemp -d /tmp/forgea_retab.XXXXXX)
    trap 'rm -rf "$SRC"' EXIT
    git archive "$BASE" | tar -x -C "$SRC"
fi
rm -rf "$SRC/bench.new" && cp -a "$ROOT/bench" "$SRC/bench.new" && rm -rf "$SRC/bench.new/out" "$SRC/bench" && mv "$SRC/bench.new" "$SRC/bench"
[ "${BENCH_AB_PREPARE:-0}" = 1 ] && { (cd "$SRC" && make -s -j2 >/dev/null) && echo "base tree built in $SRC"; exit 0; }
echo "base: $(git rev-parse --short "$BASE") ($SRC); new: $(git rev-parse --short HEAD)$(
    n=$(git status --porcelain -- src Makefile '*.sql' | wc -l); [ "$n" -gt 0 ] && echo " + $n uncommitted files")" | tee "$OUT/builds.txt"
: > "$OUT/summary.tsv"
n=0
for build in $ORDER; do
    n=$((n + 1))
    dir=$ROOT
    [ "$build" = base ] && dir=$SRC
    echo "== run $n: $build"
    configs="$build:"
    [ "$build" = new ] && [ -n "${BENCH_AB_NEW_EXTRA:-}" ] && configs="$configs $BENCH_AB_NEW_EXTRA"
    BENCH_RET_CONFIGS="$configs" BENCH_RET_REPEATS=1 bash "$dir/bench/retention.sh" > "$OUT/run$n-$build.log" 2>&1 ||
        { tail -20 "$OUT/run$n-$build.log"; exit 1; }
    report=$(sed -n 's/^report: //p' "$OUT/run$n-$build.log")
    sed "s/^\([^|]*\)|1|/\1|$n|/" "$(dirname "$report")/summary.tsv" >> "$OUT/summary.tsv"
    grep -E "archived [0-9]+ in|p99 during/idle" "$OUT/run$n-$build.log"
done
{
    echo "| build | run | seconds | worker CPU s | idle p99 ms | during p99 ms | p99 during / idle | checks |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $6, $28, $9, $12, $14, $23 }' "$OUT/summary.tsv"
    echo
    awk -F'|' '{ s[$1] = s[$1] " " $6; u[$1] = u[$1] " " $28; q[$1] = q[$1] " " $14 }
        function med(str,   a, n, k, j, t) { n = split(str, a, " "); for (k = 1; k <= n; k++) for (j = k + 1; j <= n; j++) if (a[j] + 0 < a[k] + 0) { t = a[k]; a[k] = a[j]; a[j] = t }
                                 return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
        END { for (c in s) { m[c] = med(s[c]); w[c] = med(u[c]); printf "- %s: median %s s, worker CPU %s s, p99 ratio %s\n", c, m[c], w[c], med(q[c]) }
              if (("new" in m) && ("base" in m) && m["base"] > 0 && w["base"] > 0)
                  printf "- new / base: seconds %.3f, worker CPU %.3f\n", m["new"] / m["base"], w["new"] / w["base"] }' "$OUT/summary.tsv"
} | tee "$OUT/report.md"
