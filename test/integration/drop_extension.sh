#!/usr/bin/env bash
# DROP EXTENSION forgea_audit: what it removes, what it leaves (docs/integration.md, "Removing
# forgea_audit"), and that none of the extension's roles can drop the extension or its objects.
#
#   1. members of forgea_audit_writer, _reader and _admin (and one of all three) try DROP
#      EXTENSION, ALTER EXTENSION ... DROP, DROP SCHEMA, and DROP of every table, view and
#      sequence of the extension: each is refused with 42501, and nothing is gone;
#   2. the superuser's DROP EXTENSION without CASCADE is refused (2BP01) because of the index on
#      "LabSession", and removes nothing;
#   3. DROP EXTENSION ... CASCADE removes every member object (listed from pg_depend before), the
#      index on "LabSession"; it leaves the schema (empty, with its grants), the three
#      roles (with their members and comments), "LabSession" and its rows, and ALTER DATABASE
#      settings;
#   4. CREATE EXTENSION again reuses the roles and binds "LabSession" again; a writer appends.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession" and forgea_audit bound to it; cwd = repository root.
set -euo pipefail
source test/lib/checks.sh
db=$PGDATABASE
roles="fa_drop_writer fa_drop_reader fa_drop_admin fa_drop_all"

cleanup() {
    for r in $roles; do
        psql -X -q -d "$db" -c "DROP OWNED BY $r; DROP ROLE $r" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT
cleanup

q "$db" "
CREATE ROLE fa_drop_writer LOGIN IN ROLE forgea_audit_writer;
CREATE ROLE fa_drop_reader LOGIN IN ROLE forgea_audit_reader;
CREATE ROLE fa_drop_admin LOGIN IN ROLE forgea_audit_admin;
CREATE ROLE fa_drop_all LOGIN IN ROLE forgea_audit_writer, forgea_audit_reader, forgea_audit_admin;
INSERT INTO \"LabSession\" (\"id\", \"userId\", \"labId\", \"userForkUrl\", \"status\", \"updatedAt\")
VALUES ('drop-1', 'u-1', 'lab', 'https://github.com/drop/fork-1', 'IN_PROGRESS', now() AT TIME ZONE 'UTC');
SELECT forgea_audit.append('DROP_TEST', 'system', 'test');
ALTER DATABASE \"$db\" SET forgea_audit.attempt_retention = '30d';" >/dev/null

# 'SQLSTATE' of running sql as role (or 'no error').
as_role() {  # role, sql
    psql -X -q -A -t -d "$db" -v ON_ERROR_STOP=1 <<SQL 2>&1
SET ROLE $1;
DO \$\$ BEGIN
    EXECUTE \$q\$$2\$q\$;
    RAISE NOTICE 'result: no error';
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'result: %', SQLSTATE;
END \$\$;
SQL
}
result() { sed -n 's/.*NOTICE:  result: //p' <<<"$1"; }

members() {  # the extension's member objects, one description a line, sorted
    q "$db" "SELECT pg_describe_object(d.classid, d.objid, 0) FROM pg_depend d
             JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
             WHERE e.extname = 'forgea_audit' AND d.deptype = 'e' ORDER BY 1"
}
before=$(members)
nmembers=$(wc -l <<<"$before")
relations=$(q "$db" "SELECT c.oid::regclass || ' ' || CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END
                     FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                     JOIN pg_extension e ON d.refobjid = e.oid AND e.extname = 'forgea_audit' ORDER BY 1")
check "the extension has member objects, tables among them" "$([ "$nmembers" -gt 50 ] && grep -q 'forgea_audit.audit_log TABLE' <<<"$relations" && echo yes)" yes

# ---- 1. The extension's roles cannot drop anything ------------------------------------------
for r in $roles; do
    check "$r: DROP EXTENSION forgea_audit refused (42501)" "$(result "$(as_role $r 'DROP EXTENSION forgea_audit')")" 42501
    check "$r: DROP EXTENSION forgea_audit CASCADE refused (42501)" "$(result "$(as_role $r 'DROP EXTENSION forgea_audit CASCADE')")" 42501
    check "$r: ALTER EXTENSION forgea_audit DROP TABLE audit_log refused (42501)" \
          "$(result "$(as_role $r 'ALTER EXTENSION forgea_audit DROP TABLE forgea_audit.audit_log')")" 42501
    check "$r: DROP SCHEMA forgea_audit CASCADE refused (42501)" "$(result "$(as_role $r 'DROP SCHEMA forgea_audit CASCADE')")" 42501
    refused=0 total=0 other=""
    while read -r rel kind; do
        total=$((total + 1))
        got=$(result "$(as_role $r "DROP $kind $rel CASCADE")")
        if [ "$got" = 42501 ]; then refused=$((refused + 1)); else other="$other $rel:$got"; fi
    done <<<"$relations"
    check "$r: DROP of each of the extension's $total tables, views and sequences refused (42501)${other:+ (not:$other)}" \
          "$refused" "$total"
    check "$r: DROP EVENT TRIGGER forgea_audit_guard_ddl refused (42501)" \
          "$(result "$(as_role $r 'DROP EVENT TRIGGER forgea_audit_guard_ddl')")" 42501
    check "$r: DROP FUNCTION forgea_audit.record_push refused (42501)" \
          "$(result "$(as_role $r 'DROP FUNCTION forgea_audit.record_push(jsonb, text, jsonb) CASCADE')")" 42501
    check "$r: DROP INDEX \"LabSession_forgea_repo_key_idx\" refused (42501)" \
          "$(result "$(as_role $r 'DROP INDEX public."LabSession_forgea_repo_key_idx"')")" 42501
done
check "after the roles' attempts every member object is still there" "$(members)" "$before"

# ---- 2. Without CASCADE: refused because of the index on "LabSession" ------------------------
out=$(psql -X -q -d "$db" -c 'DROP EXTENSION forgea_audit' 2>&1 || true)
check "DROP EXTENSION without CASCADE is refused, naming the index on \"LabSession\"" \
      "$(grep -c 'index "LabSession_forgea_repo_key_idx" depends on function forgea_audit.repo_key(text)' <<<"$out")" 1
check "... and removes nothing" "$(members)" "$before"

# ---- 3. CASCADE: what goes, what stays ----------------------------------------------------
# Every member as a catalogue identity (class, oid), to look each up afterwards.
q "$db" "CREATE TABLE public.fa_members AS
         SELECT d.classid, d.objid, pg_describe_object(d.classid, d.objid, 0) AS what FROM pg_depend d
         JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
         WHERE e.extname = 'forgea_audit' AND d.deptype = 'e'" >/dev/null
q "$db" "DROP EXTENSION forgea_audit CASCADE" >/dev/null 2>&1

check "pg_extension has no forgea_audit" "$(q "$db" "SELECT count(*) FROM pg_extension WHERE extname = 'forgea_audit'")" 0
check "every one of the $nmembers member objects is gone" \
      "$(q "$db" "SELECT count(*) FROM public.fa_members m WHERE pg_describe_object(m.classid, m.objid, 0) IS NOT NULL")" 0
check "no table, view, sequence or index is left in schema forgea_audit" \
      "$(q "$db" "SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'forgea_audit'::regnamespace")" 0
check "no function is left in schema forgea_audit" \
      "$(q "$db" "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'forgea_audit'::regnamespace")" 0
check "no type is left in schema forgea_audit" \
      "$(q "$db" "SELECT count(*) FROM pg_type t WHERE t.typnamespace = 'forgea_audit'::regnamespace")" 0
check "the event triggers are gone" "$(q "$db" "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'forgea\_audit%'")" 0
check "the index on \"LabSession\" is gone (CASCADE)" \
      "$(q "$db" "SELECT count(*) FROM pg_class WHERE relname = 'LabSession_forgea_repo_key_idx'")" 0
check "\"LabSession\" and its rows stay" "$(q "$db" "SELECT count(*) FROM \"LabSession\" WHERE id = 'drop-1'")" 1
check "the schema forgea_audit stays, empty" "$(q "$db" "SELECT count(*) FROM pg_namespace WHERE nspname = 'forgea_audit'")" 1
check "... with its grants (USAGE for the three roles)" \
      "$(q "$db" "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'forgea_audit'
                  AND a.privilege_type = 'USAGE' AND a.grantee::regrole::text IN ('forgea_audit_writer', 'forgea_audit_reader', 'forgea_audit_admin')")" 3
check "the three roles stay (cluster-wide)" \
      "$(q "$db" "SELECT count(*) FROM pg_roles WHERE rolname IN ('forgea_audit_writer', 'forgea_audit_reader', 'forgea_audit_admin')")" 3
check "... with their comments" \
      "$(q "$db" "SELECT count(*) FROM pg_roles r WHERE r.rolname LIKE 'forgea\_audit\_%' AND shobj_description(r.oid, 'pg_authid') LIKE 'forgea_audit: %'")" 3
check "... and their members" \
      "$(q "$db" "SELECT count(*) FROM pg_auth_members m WHERE m.member = 'fa_drop_all'::regrole")" 3
check "the ALTER DATABASE setting stays" \
      "$(q "$db" "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                  WHERE d.datname = current_database() AND 'forgea_audit.attempt_retention=30d' = ANY (s.setconfig)")" 1

# ---- 4. Again: the roles are reused, "LabSession" bound again ----------------------------
q "$db" "DROP TABLE public.fa_members; DROP SCHEMA forgea_audit; CREATE EXTENSION forgea_audit" >/dev/null 2>&1
check "CREATE EXTENSION again binds \"LabSession\" again" \
      "$(q "$db" "SELECT count(*) FROM pg_class WHERE relname = 'LabSession_forgea_repo_key_idx'")" 1
check "... and the writer's membership works at once" \
      "$(result "$(as_role fa_drop_writer "SELECT forgea_audit.append('AGAIN', 'system', 'test')")")" "no error"
check "... on a new log (the old rows went with the old tables)" \
      "$(q "$db" "SELECT string_agg(action, ',') FROM forgea_audit.audit_log")" AGAIN
q "$db" "ALTER DATABASE \"$db\" RESET forgea_audit.attempt_retention" >/dev/null

echo "drop_extension: $failures failure(s)"
[ "$failures" -eq 0 ]
