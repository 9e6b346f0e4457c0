#!/usr/bin/env bash
# Fails if the project's own headers include each other in a circle (issue 9: "no include circle").
# Follows every `#include "..."` between files under src/ (resolved beside the including file, then
# from src/), depth first; prints the circle it finds.
set -euo pipefail
cd "$(dirname "$0")/../.."
declare -A edges state
for f in $(find src -name '*.hpp' -o -name '*.cpp' | sort); do
    dir=$(dirname "$f")
    list=""
    while read -r inc; do
        for cand in "$dir/$inc" "src/$inc"; do
            [[ $cand == *..* ]] && cand=$(realpath -m --relative-to=. "$cand")
            if [ -f "$cand" ]; then list+=" $cand"; break; fi
        done
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    edges[$f]=$list
done
found=0
visit() {  # node, path so far
    local u=$1 path=$2 v
    state[$u]=open
    for v in ${edges[$u]:-}; do
        if [ "${state[$v]:-}" = open ]; then
            echo "include circle: ${path#* } $u -> $v" >&2; found=1
        elif [ -z "${state[$v]:-}" ]; then
            visit "$v" "$path -> $u"
        fi
    done
    state[$u]=done
}
for f in "${!edges[@]}"; do [ -z "${state[$f]:-}" ] && visit "$f" ""; done
[ "$found" -eq 0 ] && echo "include cycles: none among ${#edges[@]} files"
exit "$found"
