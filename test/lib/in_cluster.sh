# Runs inside pg_virtualenv (PGHOST/PGPORT/PGUSER/PGPASSWORD point at a throwaway cluster).
set -uo pipefail
cd "$FA_ROOT"
passed=0
failed=0
failures=()

result() {  # name, exit status
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

# A fresh database with the platform's table, the extension bound to it, and the GitHub fixtures
# loaded into fixture_push(name, payload, body) for tests that iterate over them (body: the file's
# text as GitHub sent it, for record_push_json).
fresh_db() {
    local db=$1
    dropdb --if-exists "$db"
    createdb -E UTF8 -T template0 "$db"
    {
        echo '\set ON_ERROR_STOP 1'
        echo '\i test/fixtures/app-schema/lab_session.sql'
        echo 'CREATE EXTENSION forgea_audit;'
        echo 'CREATE EXTENSION pgtap;'
        echo 'CREATE EXTENSION dblink;'
        echo 'SELECT forgea_audit.bind_lab_session_table();'
        echo 'CREATE TABLE public.fixture_push (name text PRIMARY KEY, payload jsonb NOT NULL, body text NOT NULL);'
        for f in test/fixtures/github/push/*.json; do
            echo "\\set body \`cat $f\`"
            echo "INSERT INTO public.fixture_push VALUES ('$(basename "$f" .json)', :'body', :'body');"
        done
    } | psql -X -q -d "$db" >/dev/null
}

echo "== pg_regress"
make -s installcheck PGDATABASE=postgres
rc=$?
[ $rc -ne 0 ] && [ -f regression.diffs ] && cat regression.diffs
result pg_regress $rc

for t in test/pgtap/*.sql; do
    name=$(basename "$t" .sql)
    echo "== pgTAP $name"
    fresh_db "t_$name"
    PGDATABASE="t_$name" pg_prove -v --ext .sql "$t"
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
