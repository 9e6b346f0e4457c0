#!/usr/bin/env bash
# Dump and restore: the README promises the chain is "stable across dump/restore".  Records some
# history (recorded, duplicate, conflict, STUCK -> IN_PROGRESS, unmatched, append), dumps the
# database with pg_dump -Fc, restores it into a new database with pg_restore, and checks there:
# the same lab_attempt / audit_log / chain_head content, verify_chain() ok over the same number of
# rows, a redelivery of a recorded GUID still 'duplicate', and new deliveries and appends still
# working (sequences restored, no seq collisions), with verify_chain() ok afterwards.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession", fixture_push and forgea_audit bound; cwd = repository root.
set -uo pipefail

src_db=$PGDATABASE
dst_db="${PGDATABASE}_restored"
work=$(mktemp -d)
cleanup() { rm -rf "$work"; dropdb --if-exists "$dst_db" >/dev/null 2>&1 || true; }
trap cleanup EXIT

. test/lib/checks.sh

# ---- history in the source database --------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$src_db" >/dev/null <<'SQL' || { echo "dump_restore: setup failed" >&2; exit 1; }
CREATE FUNCTION public.dr_payload(fork text, after text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS
$$
SELECT jsonb_set(jsonb_set(p, '{repository,html_url}', to_jsonb('https://github.com/dr/' || fork)),
                 '{after}', to_jsonb(coalesce(after, p ->> 'after')))
FROM (SELECT payload AS p FROM public.fixture_push WHERE name = 'api-with-new-branch.payload') f
$$;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-dr-1', 'u1', 'lab', 'https://github.com/dr/lab-one.git', 'IN_PROGRESS', now()),
       ('s-dr-2', 'u2', 'lab', 'git@github.com:dr/lab-two.git', 'STUCK', now());
SELECT * FROM forgea_audit.record_push(dr_payload('lab-one'), '00000000-0000-4000-8000-00000000d001',
                                       '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "7"}');
SELECT * FROM forgea_audit.record_push(dr_payload('lab-one'), '00000000-0000-4000-8000-00000000d001');
SELECT * FROM forgea_audit.record_push(dr_payload('lab-one', repeat('e', 40)), '00000000-0000-4000-8000-00000000d001');
SELECT * FROM forgea_audit.record_push(dr_payload('lab-two'), '00000000-0000-4000-8000-00000000d002');
SELECT * FROM forgea_audit.record_push(dr_payload('nobody'), '00000000-0000-4000-8000-00000000d003');
SELECT forgea_audit.append('TEST_DUMP', 'user', 'u1', 'lab_session', 's-dr-1',
                           metadata => '{"price": 1.50, "big": 1e3, "text": "résumé 日本語 😀", "nl": "a\nb"}',
                           proof => '{"sig": "abc"}', tenant_id => 'school-1', user_id => 'u1');
SQL

fingerprint() {  # db -> one line describing the extension's data
    q "$1" "SELECT (SELECT count(*) FROM forgea_audit.lab_attempt) || ' attempts, '
                || (SELECT count(*) FROM forgea_audit.audit_log) || ' audit rows, '
                || (SELECT count(*) FROM forgea_audit.chain_head) || ' chain heads, attempts md5 '
                || coalesce((SELECT md5(string_agg(a::text, '|' ORDER BY a.id)) FROM forgea_audit.lab_attempt a), '-')
                || ', audit md5 '
                || coalesce((SELECT md5(string_agg(l::text, '|' ORDER BY l.seq)) FROM forgea_audit.audit_log l), '-')
                || ', heads md5 '
                || coalesce((SELECT md5(string_agg(h.chain_id || h.length || h.last_seq || encode(h.last_hash, 'hex'), '|'
                                                   ORDER BY h.chain_id)) FROM forgea_audit.chain_head h), '-')"
}
verify() { q "$1" "SELECT ok || ' ' || rows_checked FROM forgea_audit.verify_chain()"; }

before=$(fingerprint "$src_db")
before_verify=$(verify "$src_db")
audit_rows=$(q "$src_db" "SELECT count(*) FROM forgea_audit.audit_log")
check "source: verify_chain() ok over every row before the dump" "$before_verify" "true $audit_rows"
check "source: history has 2 attempts and 7 audit rows" \
      "$(q "$src_db" "SELECT count(*) FROM forgea_audit.lab_attempt") $audit_rows" "2 7"

# ---- dump and restore ----------------------------------------------------------------------
if ! pg_dump -Fc -f "$work/db.dump" "$src_db" 2>"$work/dump.err"; then
    cat "$work/dump.err" >&2
    check "pg_dump succeeds" "failed" "ok"
fi
# A plain restore is refused loudly by the guards (no silent empty log) ...
dropdb --if-exists "$dst_db" >/dev/null 2>&1
createdb -E UTF8 -T template0 "$dst_db"
if pg_restore --exit-on-error -d "$dst_db" "$work/db.dump" 2>"$work/restore.err"; then
    check "a restore outside replica mode is refused by the guards" "restored" "refused"
else
    check "a restore outside replica mode is refused by the guards, with the hint" \
          "$(grep -c 'session_replication_role = replica' "$work/restore.err")" "1"
fi
# ... and a superuser restore in replica mode (the documented way) brings every row back.
dropdb --if-exists "$dst_db" >/dev/null 2>&1
createdb -E UTF8 -T template0 "$dst_db"
if PGOPTIONS='-c session_replication_role=replica' pg_restore --exit-on-error -d "$dst_db" "$work/db.dump" 2>"$work/restore.err"; then
    check "pg_restore in replica mode succeeds" "ok" "ok"
else
    check "pg_restore in replica mode succeeds ($(head -c 300 "$work/restore.err" | tr '\n' ' '))" "failed" "ok"
fi

# ---- the restored database -----------------------------------------------------------------
check "restored: lab_attempt, audit_log and chain_head are the same rows as before the dump" \
      "$(fingerprint "$dst_db")" "$before"
check "restored: verify_chain() ok over the same number of rows" "$(verify "$dst_db")" "true $audit_rows"
src_attempt=$(q "$src_db" "SELECT id FROM forgea_audit.lab_attempt WHERE delivery_id = '00000000-0000-4000-8000-00000000d001'")
check "restored: a redelivery of a recorded GUID is still 'duplicate' of the same attempt" \
      "$(q "$dst_db" "SELECT status || ' ' || coalesce(attempt_id::text, '-')
                       FROM forgea_audit.record_push(dr_payload('lab-one'), '00000000-0000-4000-8000-00000000d001')" 2>&1)" \
      "duplicate $src_attempt"
check "restored: a new delivery is 'recorded' (sequences carried over, no key collision)" \
      "$(q "$dst_db" "SELECT status FROM forgea_audit.record_push(dr_payload('lab-one', repeat('f', 40)),
                                                                 '00000000-0000-4000-8000-00000000d004')" 2>&1)" \
      "recorded"
check "restored: append() continues the chain after the restored rows" \
      "$(q "$dst_db" "SELECT (forgea_audit.append('TEST_AFTER_RESTORE', chain => 'test:after')
                              > (SELECT max(seq) FROM forgea_audit.audit_log WHERE action <> 'TEST_AFTER_RESTORE'))::text" 2>&1)" \
      "true"
check "restored: verify_chain() ok after writing to the restored database" \
      "$(verify "$dst_db" | cut -d' ' -f1)" "true"

if [ "$failures" -gt 0 ]; then
    echo "dump_restore: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "dump_restore: ok: pg_dump/pg_restore kept $audit_rows audit rows verifiable and deliveries idempotent"
