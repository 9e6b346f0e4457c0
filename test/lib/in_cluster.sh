# Runs inside pg_virtualenv (PGHOST/PGPORT/PGUSER/PGPASSWORD point at a throwaway cluster).
set -uo pipefail
cd "$FA_ROOT"
passed=0
failed=0
failures=()

# Each result's seconds since the previous one go to $FA_TIMINGS (test/run_tests.sh prints the slowest).
last_result_at=$SECONDS
result() {  # name, exit status
    echo "$((SECONDS - last_result_at)) $1" >> "${FA_TIMINGS:-/dev/null}"
    last_result_at=$SECONDS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

# A fresh database prepared as the tests expect it (test/lib/prepare_db.sh, which
# `make installcheck` uses too).
fresh_db() {
    bash test/lib/prepare_db.sh "$1"
}

# The same targets `make installcheck` runs, split so that each file counts on its own.
echo "== pg_regress"
make -s installcheck-regress PGDATABASE=postgres
rc=$?
[ $rc -ne 0 ] && [ -f regression.diffs ] && cat regression.diffs
result pg_regress $rc

for t in test/pgtap/*.sql; do
    name=$(basename "$t" .sql)
    make -s installcheck-pgtap PGTAP_FILES="$t"
    result "pgtap/$name" $?
done

for t in test/integration/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    echo "== integration $name"
    fresh_db "i_$name"
    PGDATABASE="i_$name" bash "$t"
    result "integration/$name" $?
done

# The caller (test/run_tests.sh) adds these to the other suites' results.
echo "$passed $failed ${failures[*]:-}" > "$FA_RESULTS"
