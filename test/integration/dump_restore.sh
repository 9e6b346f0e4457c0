#!/usr/bin/env bash
# Dump and restore: docs/roles.md promises the chain is "stable across dump/restore".  Records some
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
SELECT forgea_audit.checkpoint();   -- the transparency log's tables get rows too (leaves, tiles, a note)
SQL
note=$(q "$src_db" "SELECT note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
merkle() {  # db -> the tree's size, root and an inclusion proof, as one line
    q "$1" "SELECT s.tree_size || ' ' || encode(forgea_audit.merkle_root(s.tree_size), 'hex') || ' '
                || (SELECT p.leaf_index || ':' || array_to_string(ARRAY(SELECT encode(x, 'hex') FROM unnest(p.proof) x), ',')
                    FROM forgea_audit.merkle_leaf m, forgea_audit.inclusion_proof(m.seq, s.tree_size) p WHERE m.leaf_index = 2)
            FROM forgea_audit.merkle_state s"
}
merkle_before=$(merkle "$src_db")

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
check "source: history has 2 attempts and 8 audit rows (one a checkpoint's)" \
      "$(q "$src_db" "SELECT count(*) FROM forgea_audit.lab_attempt") $audit_rows" "2 8"
check "source: the checkpoint covers the 7 rows before its own CHECKPOINT row" "$(echo "$merkle_before" | cut -d" " -f1)" "7"

# ---- dump and restore ----------------------------------------------------------------------
if ! pg_dump -Fc -f "$work/db.dump" "$src_db" 2>"$work/dump.err"; then
    cat "$work/dump.err" >&2
    check "pg_dump succeeds" "failed" "ok"
fi
# pg_dump's one warning: the self-referencing foreign key audit_log.parent_seq (docs/security.md,
# "Restore"): rows are dumped in seq order and parents have lower seqs, so it never bites.
check "pg_dump warns only about audit_log's self-referencing foreign key" \
      "$(grep -v '^pg_dump: detail: \|^pg_dump: hint: ' "$work/dump.err" | tr '\n' '|')" \
      "pg_dump: warning: there are circular foreign-key constraints on this table:|"
check "... naming audit_log" "$(grep -c '^pg_dump: detail: .*audit_log' "$work/dump.err")" "1"

# The plain restore every DBA does: a superuser, pg_restore with its defaults (errors do not stop
# it, so they are looked for in its exit status and output), no special mode.
dropdb --if-exists "$dst_db" >/dev/null 2>&1
createdb -E UTF8 -T template0 "$dst_db"
if pg_restore -d "$dst_db" "$work/db.dump" 2>"$work/restore.err"; then
    check "plain pg_restore by a superuser: no error" "ok" "ok"
else
    check "plain pg_restore by a superuser: no error ($(head -c 400 "$work/restore.err" | tr '\n' ' '))" "errors" "ok"
fi
check "plain pg_restore printed nothing" "$(wc -c < "$work/restore.err")" "0"
# ---- the restored database -----------------------------------------------------------------
check "restored: lab_attempt, audit_log and chain_head are the same rows as before the dump" \
      "$(fingerprint "$dst_db")" "$before"
check "restored: verify_chain() ok over the same number of rows" "$(verify "$dst_db")" "true $audit_rows"
check "restored: the Merkle tree (leaves, tiles, state) gives the same size, root and inclusion proof" \
      "$(merkle "$dst_db")" "$merkle_before"
check "restored: verify_chain(checkpoint) holds for the note made before the dump" \
      "$(q "$dst_db" "SELECT ok FROM forgea_audit.verify_chain(checkpoint => \$n\$$note\$n\$)")" "t"
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


# ---- the same in replica mode (the way 0.1.0 documented), and through psql < plain dump -------
replica_db="${PGDATABASE}_replica"
plain_db="${PGDATABASE}_plain"
bad_db="${PGDATABASE}_bad"
trap 'cleanup; for d in "$replica_db" "$plain_db" "$bad_db"; do dropdb --if-exists "$d" >/dev/null 2>&1; done' EXIT
for d in "$replica_db" "$plain_db" "$bad_db"; do dropdb --if-exists "$d" >/dev/null 2>&1; createdb -E UTF8 -T template0 "$d"; done
if PGOPTIONS='-c session_replication_role=replica' pg_restore --exit-on-error -d "$replica_db" "$work/db.dump" 2>"$work/replica.err"; then
    check "pg_restore in replica mode still works, with the same rows" "$(fingerprint "$replica_db")" "$before"
else
    check "pg_restore in replica mode ($(head -c 300 "$work/replica.err" | tr '\n' ' '))" "failed" "ok"
fi
pg_dump -Fp -f "$work/db.sql" "$src_db" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$plain_db" -f "$work/db.sql" >/dev/null 2>"$work/plain.err"
check "psql < plain dump by a superuser: no error" "$(grep -c ERROR "$work/plain.err")" "0"
check "psql < plain dump: the same rows, and they verify" "$(fingerprint "$plain_db") $(verify "$plain_db")" "$before true $audit_rows"

# ---- a dump whose rows do not verify is refused, loudly, and restores none of them ------------
# One character of one audit row's metadata changed in the plain dump's COPY data.
sed '/^COPY forgea_audit.audit_log /,/^\\\.$/ s/"price": 1.50/"price": 1.51/' "$work/db.sql" > "$work/bad.sql"
check "the tampered dump differs from the dump in one line" "$(diff "$work/db.sql" "$work/bad.sql" | grep -c '^>')" "1"
psql -X -q -d "$bad_db" -f "$work/bad.sql" >/dev/null 2>"$work/bad.err"
check "tampered row: the restore says why, naming the row" \
      "$(grep -o 'restoring forgea_audit.audit_log refused: row seq [0-9]* (chain "lab_session:s-dr-1" position [0-9]*): its row_hash does not match its content' "$work/bad.err" | head -1 | sed 's/[0-9]\+/N/g')" \
      'restoring forgea_audit.audit_log refused: row seq N (chain "lab_session:s-dr-N" position N): its row_hash does not match its content'
check "tampered row: no audit row restored (the whole COPY is refused), and chain_head refused for lack of them" \
      "$(q "$bad_db" "SELECT count(*) FROM forgea_audit.audit_log")|$(q "$bad_db" "SELECT count(*) FROM forgea_audit.chain_head")|$(grep -c 'restoring forgea_audit.chain_head refused' "$work/bad.err")" \
      "0|0|1"
# A chain head that does not name its chain's last row.
awk 'BEGIN{h=0} /^COPY forgea_audit.chain_head /{h=1; print; next} h==1 && /^\\\.$/{h=0} h==1{sub(/\t[0-9]+\t/, "\t99\t")} {print}' "$work/db.sql" > "$work/badhead.sql"
dropdb --if-exists "$bad_db" >/dev/null 2>&1; createdb -E UTF8 -T template0 "$bad_db"
psql -X -q -d "$bad_db" -f "$work/badhead.sql" >/dev/null 2>"$work/badhead.err"
check "altered chain head: refused, the audit rows themselves restored" \
      "$(grep -c 'restoring forgea_audit.chain_head refused: the head of chain .* does not name the chain.s last row' "$work/badhead.err")|$(q "$bad_db" "SELECT count(*) FROM forgea_audit.audit_log")|$(q "$bad_db" "SELECT count(*) FROM forgea_audit.chain_head")" \
      "1|$audit_rows|0"

# A row removed from the middle of the log: the next row of its chain no longer links to anything
# restored, so the whole COPY is refused there, naming that row (docs/chain.md, "Dump and restore").
read -r gone_seq gone_chain gone_pos next_seq <<<"$(q "$src_db" "SELECT a.seq, a.chain_id, a.chain_pos, n.seq
    FROM forgea_audit.audit_log a JOIN forgea_audit.audit_log n ON n.chain_id = a.chain_id AND n.chain_pos = a.chain_pos + 1
    ORDER BY a.seq LIMIT 1 OFFSET 1" | tr '|' ' ')"
awk -v seq="$gone_seq" '/^COPY forgea_audit.audit_log /{c=1; print; next} c && /^\\\.$/{c=0} c && $1 == seq {next} {print}' "$work/db.sql" > "$work/gone.sql"
check "the dump without row $gone_seq differs from the dump in one line" "$(diff "$work/db.sql" "$work/gone.sql" | grep -c '^<')" "1"
dropdb --if-exists "$bad_db" >/dev/null 2>&1; createdb -E UTF8 -T template0 "$bad_db"
psql -X -q -d "$bad_db" -f "$work/gone.sql" >/dev/null 2>"$work/gone.err"
check "row removed from the middle: refused at the next row of its chain, named" \
      "$(grep -m1 -o 'restoring forgea_audit.audit_log refused: .*' "$work/gone.err")" \
      "restoring forgea_audit.audit_log refused: row seq $next_seq (chain \"$gone_chain\" position $((gone_pos + 1))) comes before the row at position $gone_pos of its chain"
check "row removed from the middle: no audit row restored" "$(q "$bad_db" "SELECT count(*) FROM forgea_audit.audit_log")" "0"

# A row added: one that verifies by itself (made by the extension in a copy of the source, so its
# row_hash and link are right), continuing a chain.  audit_log takes it; the chain's dumped head
# names the row before it, and is refused, naming the chain.
copy_db="${PGDATABASE}_copy"
dropdb --if-exists "$copy_db" >/dev/null 2>&1; createdb -T "$src_db" "$copy_db"
added_seq=$(q "$copy_db" "SELECT forgea_audit.append_system('TEST_ADDED', chain => 'session:s-dr-1')")
pg_dump -Fp -t forgea_audit.audit_log --data-only -f "$work/copy.sql" "$copy_db" 2>/dev/null
dropdb "$copy_db"
added_line=$(awk -v seq="$added_seq" '/^COPY forgea_audit.audit_log /{c=1; next} c && $1 == seq {print; exit}' "$work/copy.sql")
ADDED_LINE=$added_line awk '/^COPY forgea_audit.audit_log /{c=1} c && /^\\\.$/{c=0; print ENVIRON["ADDED_LINE"]} {print}' "$work/db.sql" > "$work/added.sql"
check "the dump with an added row differs from the dump in one line" "$(diff "$work/db.sql" "$work/added.sql" | grep -c '^>')" "1"
dropdb --if-exists "$bad_db" >/dev/null 2>&1; createdb -E UTF8 -T template0 "$bad_db"
psql -X -q -d "$bad_db" -f "$work/added.sql" >/dev/null 2>"$work/added.err"
check "row added: the chain's head refused, naming the chain" \
      "$(grep -m1 -o 'restoring forgea_audit.chain_head refused: .*' "$work/added.err" | sed 's/(position [0-9]*, seq [0-9]*)/(position P, seq S)/')" \
      "restoring forgea_audit.chain_head refused: the head of chain \"session:s-dr-1\" (length $(q "$src_db" "SELECT length FROM forgea_audit.chain_head WHERE chain_id = 'session:s-dr-1'")) does not name the chain's last row in the log (position P, seq S)"
check "row added: the added row is in, no head (the whole chain_head COPY refused), and verify_chain() says not ok" \
      "$(q "$bad_db" "SELECT max(seq) FROM forgea_audit.audit_log") $(q "$bad_db" "SELECT count(*) FROM forgea_audit.chain_head") $(q "$bad_db" "SELECT ok FROM forgea_audit.verify_chain()")" \
      "$added_seq 0 f"

# ---- --data-only into a fresh install (CREATE EXTENSION first): the same rows, verifying -------------
data_db="${PGDATABASE}_data"
trap 'cleanup; for d in "$replica_db" "$plain_db" "$bad_db" "$data_db"; do dropdb --if-exists "$d" >/dev/null 2>&1; done' EXIT
pg_dump -Fc --data-only -f "$work/data.dump" "$src_db" 2>/dev/null
dropdb --if-exists "$data_db" >/dev/null 2>&1; createdb -E UTF8 -T template0 "$data_db"
psql -X -q -v ON_ERROR_STOP=1 -d "$data_db" -f test/fixtures/app-schema/lab_session.sql >/dev/null
q "$data_db" "CREATE TABLE public.fixture_push (name text PRIMARY KEY, payload jsonb NOT NULL, body text NOT NULL);
              CREATE EXTENSION forgea_audit" >/dev/null
pg_restore --data-only -d "$data_db" "$work/data.dump" 2>"$work/data.err"
check "pg_restore --data-only into a fresh install: nothing printed" "$(head -c 300 "$work/data.err")" ""
check "pg_restore --data-only: the same rows, and they verify" "$(fingerprint "$data_db") $(verify "$data_db")" "$before true $audit_rows"

# ---- non-superusers still cannot insert, not even rows that verify ----------------------------
dropdb --if-exists "$bad_db" >/dev/null 2>&1; createdb -E UTF8 -T template0 "$bad_db"
q "$bad_db" "CREATE EXTENSION forgea_audit" >/dev/null
q "$bad_db" "DROP ROLE IF EXISTS fa_dr_loader; CREATE ROLE fa_dr_loader LOGIN NOSUPERUSER;
             GRANT USAGE ON SCHEMA forgea_audit TO fa_dr_loader;
             GRANT INSERT, SELECT ON forgea_audit.audit_log, forgea_audit.chain_head TO fa_dr_loader" >/dev/null
# As INSERTs (pg_dump --inserts): PostgreSQL refuses a non-superuser's COPY FROM into a table with
# row-level security before any trigger runs, so only INSERT reaches the guard.
pg_dump -Fp --inserts -f "$work/inserts.sql" "$src_db" 2>/dev/null
{ echo 'SET ROLE fa_dr_loader;'; grep '^INSERT INTO forgea_audit.audit_log ' "$work/inserts.sql"; } > "$work/loader.sql"
psql -X -q -d "$bad_db" -f "$work/loader.sql" >/dev/null 2>"$work/loader.err"
check "a non-superuser with INSERT granted: the dump's own audit rows refused (42501 hint)" \
      "$(grep -m1 -o 'ERROR: .*' "$work/loader.err")|$(q "$bad_db" "SELECT count(*) FROM forgea_audit.audit_log")" \
      "ERROR:  forgea_audit.audit_log is written only by forgea_audit's own functions: direct INSERT is refused|0"
q "$bad_db" "DROP OWNED BY fa_dr_loader; DROP ROLE fa_dr_loader" >/dev/null

if [ "$failures" -gt 0 ]; then
    echo "dump_restore: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "dump_restore: ok: pg_dump/pg_restore kept $audit_rows audit rows verifiable and deliveries idempotent"
