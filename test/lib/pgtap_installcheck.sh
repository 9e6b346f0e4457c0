#!/usr/bin/env bash
# Usage: test/lib/pgtap_installcheck.sh [test/pgtap/FILE.sql ...]   (default: every test/pgtap/*.sql)
# Runs pgTAP files with pg_prove against the server the usual PG* variables name, each in a
# database of its own (fa_pgtap_<name>, made by test/lib/prepare_db.sh).  Part of
# `make installcheck`; prints "pgTAP: N passed, N failed" (files) and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -gt 0 ] || set -- test/pgtap/*.sql
# The test-only module canonical_json_bytes.sql binds its oracle from (never installed; see the
# Makefile's TEST_ORACLE): built here if this tree has not been built (the Debian package's
# build-time check runs after `make clean`, autopkgtest in an unbuilt tree).
export FA_TEST_ORACLE=${FA_TEST_ORACLE:-$PWD/test/modules/forgea_audit_test_oracle.so}
[ -f "$FA_TEST_ORACLE" ] || make -s test-oracle >/dev/null || { echo "pgTAP: cannot build $FA_TEST_ORACLE"; exit 1; }
passed=0
failed=0
failures=()
for t in "$@"; do
    name=$(basename "$t" .sql)
    db="fa_pgtap_$name"
    echo "== pgTAP $name (database $db)"
    if bash test/lib/prepare_db.sh "$db" && PGDATABASE="$db" pg_prove --ext .sql "$t"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); failures+=("$name")
    fi
done
[ ${#failures[@]} -gt 0 ] && echo "pgTAP failed: ${failures[*]}"
echo "pgTAP: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
