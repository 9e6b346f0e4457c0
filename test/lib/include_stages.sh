#!/usr/bin/env bash
# Fails if an #include between the project's own files under src/ goes upward or forms a circle,
# listing each offending include.  Run by every `make` (the Makefile's check-includes, a
# prerequisite of `all`), which passes the stages in order, lowest first (the Makefile's STAGES,
# the one place the order is written): a file in src/<stage>/ may include files of its own stage
# and of the stages before it; a file directly under src/ (the module's entry point) stands above
# them all.  A folder under src/ that STAGES does not name fails too, so a new folder gets a place.
# Includes resolve as include_cycles.sh resolves them (beside the including file, then from src/);
# one that names no file under src/ (a PostgreSQL or system header) is not ours to order.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || { echo "usage: $0 STAGE... (lowest first)" >&2; exit 2; }
declare -A rank
i=0
for s in "$@"; do rank[$s]=$i; i=$((i + 1)); done
top=$i

# The stage of a file under src/ (its rank), or -1 for a folder STAGES does not name, in $stage.
stage_of() {
    local rest=${1#src/}
    if [[ $rest != */* ]]; then stage=$top; else stage=${rank[${rest%%/*}]:--1}; fi
}

bad=0
for d in src/*/; do
    d=${d#src/}; d=${d%/}
    if [ -z "${rank[$d]:-}" ]; then
        echo "include stages: src/$d/ has no place in the stage order (STAGES in the Makefile: $*)" >&2
        bad=1
    fi
done

while IFS= read -r hit; do
    file=${hit%%:*}; rest=${hit#*:}; line=${rest%%:*}
    [[ ${rest#*:} =~ \"([^\"]*)\" ]] || continue
    inc=${BASH_REMATCH[1]}
    target=""
    for cand in "${file%/*}/$inc" "src/$inc"; do
        [[ $cand == *..* ]] && cand=$(realpath -m --relative-to=. "$cand")
        if [ -f "$cand" ]; then target=$cand; break; fi
    done
    [ -n "$target" ] || continue
    stage_of "$file"; from=$stage
    stage_of "$target"; to=$stage
    if [ "$from" -ge 0 ] && [ "$to" -gt "$from" ]; then
        echo "include goes upward: $file:$line includes \"$inc\" ($target): a stage above its own (stage order, lowest first: $*)" >&2
        bad=1
    fi
done < <(grep -n -H -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' $(find src -name '*.hpp' -o -name '*.cpp' -o -name '*.h' | sort))

bash test/lib/include_cycles.sh >/dev/null || bad=1
exit "$bad"
