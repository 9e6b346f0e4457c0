#!/usr/bin/env bash
# examples/drizzle: the Drizzle ORM definitions of forgea_audit's tables and createAuditEvent(),
# run for real through drizzle-orm/node-postgres (examples/drizzle/check.mjs prints what it saw):
#   npm ci from the committed lockfile; each table definition compared with the catalog (columns,
#   types, NOT NULL, in order); events written with createAuditEvent() as a login role that is
#   only forgea_audit_writer; read back as a forgea_audit_admin role (and a tenant's reader) by action, by a time range
#   (bounds read from the database's clock between the batches) and by correlation id; Drizzle's
#   insert/update/delete on audit_log and chain_head refused by the guard for the superuser and by
#   the privileges (42501) for the writer and the admin; verify_chain() ok at the end.
#   examples/drizzle/README.md.
set -uo pipefail
. test/lib/checks.sh
work=$(mktemp -d)
trap 'rm -rf "$work"; psql -X -q -c "DROP ROLE IF EXISTS drizzle_writer" -c "DROP ROLE IF EXISTS drizzle_admin" -c "DROP ROLE IF EXISTS drizzle_reader" >/dev/null 2>&1' EXIT
cd examples/drizzle

npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1
rc=$?; [ $rc -ne 0 ] && cat "$work/npm.log"
check "npm ci from the lockfile" "$rc" 0

wpw=$(openssl rand -hex 12); apw=$(openssl rand -hex 12); rpw=$(openssl rand -hex 12)
q "$PGDATABASE" "CREATE ROLE drizzle_writer LOGIN PASSWORD '$wpw' IN ROLE forgea_audit_writer;
                 CREATE ROLE drizzle_admin LOGIN PASSWORD '$apw' IN ROLE forgea_audit_admin;
                 CREATE ROLE drizzle_reader LOGIN PASSWORD '$rpw' IN ROLE forgea_audit_reader;
                 INSERT INTO forgea_audit.reader_tenant VALUES ('drizzle_reader', 'school-1')" >/dev/null
check "drizzle_writer is a member of forgea_audit_writer only" \
    "$(q "$PGDATABASE" "SELECT string_agg(b.rolname, ',') FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
                        WHERE m.member = 'drizzle_writer'::regrole")" forgea_audit_writer

WRITER_USER=drizzle_writer WRITER_PASSWORD=$wpw ADMIN_USER=drizzle_admin ADMIN_PASSWORD=$apw READER_USER=drizzle_reader READER_PASSWORD=$rpw \
    node check.mjs >"$work/out.tsv" 2>"$work/err"
rc=$?; [ $rc -ne 0 ] && cat "$work/err"
check "check.mjs runs through drizzle-orm/node-postgres" "$rc" 0
got() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$work/out.tsv"; }

for t in audit_log lab_attempt lab_attempt_archive chain_head merkle_checkpoint webhook_rejection; do
    check "the definition of forgea_audit.$t matches the catalog" "$(got "definition $t")" matches
done
check "createAuditEvent returns each seq as a BigInt, increasing" "$(got 'seqs increase')" true
check "an option append() does not have is refused before any query" "$(got 'unknown option refused')" \
    'undefined createAuditEvent: unknown option "corelationId" (append() has no such argument)'
check "append()'s own errors come through (22023 for a bad outcome)" "$(got "append() refuses a bad outcome")" \
    '22023 invalid audit outcome "ok"'
check "by action: the three DRIZZLE_LAB_OPENED events, in order" "$(got 'by action')" \
    "3 DRIZZLE_LAB_OPENED@a1,DRIZZLE_LAB_OPENED@b1,DRIZZLE_LAB_OPENED@c1"
check "by action with a Date bound" "$(got 'by action since epoch')" 3
check "by time range: exactly the middle batch" "$(got 'by time range')" \
    "2 DRIZZLE_LAB_OPENED@b1,DRIZZLE_LAB_SUBMITTED@b2"
check "by correlation id: the three events of one request" "$(got 'by correlation id')" \
    "3 DRIZZLE_LAB_OPENED@a1,DRIZZLE_HINT_SHOWN@a2,DRIZZLE_LAB_SUBMITTED@b2"
check "a forgea_audit_reader of tenant school-1 sees only that tenant's row (row-level security)" \
    "$(got 'reader of school-1 by correlation id')" "1 DRIZZLE_LAB_OPENED@a1"
check "... and nothing without forgea_audit.tenant set" "$(got 'reader without a tenant')" 0
check "column types as read: bigint, Date, 32-byte Buffers, smallint, jsonb object, text" "$(got types)" \
    'bigint bigint true true 32 32 number {"lab":"lab-1","attempt":1} school-1 user-1 success INFO'
check "parentSeq, severity, the same chain, linked by hash" "$(got 'second row')" "true LOW true 1 true"
check "an explicit chain, proof and outcome" "$(got 'explicit chain, proof, outcome')" 'drizzle:example 1 {"sha":"abc"} pending'
check "chain_head read through its definition" "$(got 'chain head')" "1 true true"

check "superuser db.insert(auditLog): the guard's restore check refuses the forged row" \
    "$(got 'superuser insert')" \
    '23000 restoring forgea_audit.audit_log refused: row seq 1099511627776 (chain "drizzle:forged" position 1): its row_hash does not match its content'
check "superuser db.update(auditLog): the guard refuses it" "$(got 'superuser update')" \
    "42501 UPDATE on forgea_audit.audit_log is refused: the audit chain is append-only"
check "superuser db.delete(auditLog): the guard refuses it" "$(got 'superuser delete')" \
    "42501 DELETE on forgea_audit.audit_log is refused: the audit chain is append-only"
check "superuser db.update(chainHead): the guard refuses it" "$(got 'superuser chain_head update')" \
    "42501 forgea_audit.chain_head is written only by forgea_audit's own functions: direct UPDATE is refused"
check "writer db.insert(auditLog): permission denied" "$(got 'writer insert')" "42501 permission denied for table audit_log"
check "writer db.update(auditLog): permission denied" "$(got 'writer update')" "42501 permission denied for table audit_log"
check "admin db.update(auditLog): permission denied" "$(got 'admin update')" "42501 permission denied for table audit_log"
check "the row is unchanged" "$(got 'row unchanged')" "success true"
check "verify_chain() ok over the events written" "$(got verify_chain)" "true 5"

[ "$failures" -eq 0 ]
