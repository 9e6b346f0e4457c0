#!/usr/bin/env bash
# Usage: test/lib/prepare_db.sh DBNAME
# (Re)creates DBNAME on the server the usual PG* variables name, as every pgTAP file and
# integration script expects it: UTF8, the platform's "LabSession" table, the extension bound to
# it, pgtap and dblink, and the GitHub fixtures in public.fixture_push(name, payload, body) (body:
# the file's text as GitHub sent it, for record_push_json).  Used by `make installcheck` and by
# test/lib/in_cluster.sh, so both run the tests against the same preparation.
set -euo pipefail
db=${1:?usage: prepare_db.sh DBNAME}
cd "$(dirname "$0")/../.."
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
