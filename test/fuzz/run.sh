#!/usr/bin/env bash
# libFuzzer over the pure core: builds every test/fuzz/fuzz_*.cpp with clang, ASan and UBSan (any
# UBSan finding aborts), seeds a corpus from the repository's GitHub fixtures and checkpoint notes
# plus test/fuzz/seeds/<name>/ (inputs kept because they once mattered), and fuzzes each harness
# for FA_FUZZ_SECONDS (default 20: the suite's short run; `make fuzz` runs 600).
#
#   bash test/fuzz/run.sh                      # every harness, 20 s each
#   FA_FUZZ_SECONDS=3600 bash test/fuzz/run.sh fuzz_checkpoint_note   # one harness, an hour
#
# FA_FUZZ_JOBS (default 2) harnesses run at once.  A failure leaves the input that triggered it in
# test/fuzz/build/<name>/crash-* and prints the report; to reproduce: test/fuzz/build/<name>/<name> <file>.
# Add the file to test/fuzz/seeds/<name>/ with the fix, so every later run replays it first.
# Prints "fuzz <name>: ok|FAIL ..." per harness and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
SECONDS_EACH=${FA_FUZZ_SECONDS:-20}
JOBS=${FA_FUZZ_JOBS:-2}
BUILD=${FA_FUZZ_BUILD:-$ROOT/test/fuzz/build}
CXX=${FA_FUZZ_CXX:-clang++}
FLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -Isrc -Itest/fuzz)

if [ $# -gt 0 ]; then names=("$@"); else
    names=(); for f in test/fuzz/fuzz_*.cpp; do names+=("$(basename "$f" .cpp)"); done
fi
mkdir -p "$BUILD/core" "$BUILD/pool"

# The core once, instrumented for coverage (fuzzer-no-link) and the sanitizers.
core_objs=()
for src in src/core/*.cpp; do
    obj="$BUILD/core/$(basename "$src" .cpp).o"
    if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src/core -name '*.hpp' -newer "$obj" | head -1)" ]; then
        "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" || { echo "fuzz: FAIL building $src"; exit 1; }
    fi
    core_objs+=("$obj")
done

# The seed pool: every JSON string value of the fixtures (URLs, SHAs, GUIDs, timestamps, paths,
# names), every fixture file whole, each commit's path lists one per line (prefixed with a kind
# byte, as fuzz_paths reads them), and the checkpoint notes kept in test/fuzz/seeds/notes/.
rm -rf "$BUILD/pool"; mkdir -p "$BUILD/pool"
i=0
while IFS= read -r s; do
    i=$((i + 1)); printf '%s' "$s" > "$BUILD/pool/str-$i"
done < <(cat test/fixtures/github/*/*.json | grep -o '"[^"\\]*"' | sed 's/^"//; s/"$//' | sort -u)
for f in test/fixtures/github/*/*.json; do cp "$f" "$BUILD/pool/file-$(basename "$(dirname "$f")")-$(basename "$f")"; done
if command -v jq >/dev/null; then
    for f in test/fixtures/github/push/*.json; do
        jq -r '.commits[]? | ((.added // [])[] | "a" + .), ((.modified // [])[] | "m" + .), ((.removed // [])[] | "r" + .)' \
            "$f" > "$BUILD/pool/paths-$(basename "$f")" 2>/dev/null || true
    done
fi
cp test/fuzz/seeds/notes/* "$BUILD/pool/" 2>/dev/null || true
echo "fuzz: seed pool of $(ls "$BUILD/pool" | wc -l) inputs from test/fixtures/github and test/fuzz/seeds/notes"

run_one() {
    local name=$1 dir="$BUILD/$1"
    mkdir -p "$dir/corpus"
    if ! "$CXX" "${FLAGS[@]}" -fsanitize=fuzzer "test/fuzz/$name.cpp" "${core_objs[@]}" -lcrypto -o "$dir/$name" \
            >"$dir/build.log" 2>&1; then
        echo "fuzz $name: FAIL (build)"; cat "$dir/build.log"; return 1
    fi
    rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
    local seeds=("$BUILD/pool")
    [ -d "test/fuzz/seeds/$name" ] && seeds+=("$ROOT/test/fuzz/seeds/$name")
    # New inputs go to the first directory (the build's corpus, kept between runs); the others
    # are only read.  Seeds run first, so a kept crash input fails at once.
    (cd "$dir" && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
        "./$name" -max_total_time="$SECONDS_EACH" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 corpus "${seeds[@]}" >"run.log" 2>&1)
    local rc=$?
    local execs cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/run.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$dir/run.log" | tail -1)
    if [ $rc -ne 0 ] || ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* >/dev/null 2>&1; then
        echo "fuzz $name: FAIL (exit $rc); the input is in $dir/:"
        ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' | sed 's/^/#   /'
        grep -E 'ERROR|property violated|runtime error|SUMMARY|#[0-9]+ 0x' "$dir/run.log" | head -30
        return 1
    fi
    echo "fuzz $name: ok (${execs:-?} inputs in ${SECONDS_EACH}s, $cov, corpus $(ls "$dir/corpus" | wc -l))"
}

failed=0
pids=()
declare -A pid_name
for name in "${names[@]}"; do
    [ -f "test/fuzz/$name.cpp" ] || { echo "fuzz $name: FAIL (no test/fuzz/$name.cpp)"; failed=$((failed + 1)); continue; }
    run_one "$name" > "$BUILD/$name.out" 2>&1 &
    pid_name[$!]=$name
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
done
for pid in "${pids[@]}"; do
    wait "$pid" || failed=$((failed + 1))
    cat "$BUILD/${pid_name[$pid]}.out"
done
echo "fuzz: ${#names[@]} harnesses, $failed failed"
[ "$failed" -eq 0 ]
