#!/usr/bin/env bash
# Restoring the transparency log's tables (docs/chain.md, "Dump and restore"): merkle_leaf,
# merkle_state, merkle_tile, merkle_checkpoint and merkle_verified are checked as they are restored,
# like audit_log and chain_head.  A plain dump of a history of 600 leaves (three level-0 tiles, one
# level-1 tile, two checkpoints, a verify_increment() point) restores as it was; each of these
# hand edits of the dump is refused, naming the table and the row:
#   the last merkle_leaf line deleted; two leaves swapped; one byte of a merkle_tile changed;
#   merkle_checkpoint.tree_size edited; audit_log's COPY refused (so no audit row, yet a state and
#   leaves); merkle_verified's tree_size edited.  A state's pending mark (another cluster's xid)
# is dropped at restore, so the horizon moves again.
# And pg_restore --data-only into a fresh install works, while --data-only --disable-triggers (what
# pg_dump's warning recommends) is refused before anything is written, with a hint naming the
# restore that works.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh prepared database;
# cwd = repository root.
set -uo pipefail

src_db=$PGDATABASE
work=$(mktemp -d)
dbs=()
cleanup() { rm -rf "$work"; for d in "${dbs[@]}"; do dropdb --if-exists "$d" >/dev/null 2>&1; done; }
trap cleanup EXIT
fresh() {  # name -> an empty UTF8 database, dropped at exit
    dbs+=("$1")
    dropdb --if-exists "$1" >/dev/null 2>&1
    createdb -E UTF8 -T template0 "$1"
}

. test/lib/checks.sh

# ---- history: 600 audit rows over 3 chains, two checkpoints, a verified point -----------------
psql -X -q -v ON_ERROR_STOP=1 -d "$src_db" >/dev/null <<'SQL' || { echo "restore_merkle: setup failed" >&2; exit 1; }
SELECT forgea_audit.append('TEST_MERKLE_RESTORE', chain => 'test:' || (i % 3), metadata => jsonb_build_object('i', i))
FROM generate_series(1, 300) i;
SELECT forgea_audit.checkpoint();
SELECT forgea_audit.append('TEST_MERKLE_RESTORE', chain => 'test:' || (i % 3), metadata => jsonb_build_object('i', i))
FROM generate_series(301, 597) i;
SELECT forgea_audit.checkpoint();
SELECT ok FROM forgea_audit.verify_increment();
SQL
describe() {  # db -> the Merkle tables' content as one line
    q "$1" "SELECT (SELECT count(*) FROM forgea_audit.merkle_leaf) || ' leaves, state '
                || coalesce((SELECT tree_size || '/' || horizon_seq FROM forgea_audit.merkle_state), '-') || ', '
                || (SELECT count(*) FROM forgea_audit.merkle_tile) || ' tiles, '
                || (SELECT count(*) FROM forgea_audit.merkle_checkpoint) || ' checkpoints, verified '
                || coalesce((SELECT tree_size::text FROM forgea_audit.merkle_verified), '-') || ', md5 '
                || md5(coalesce((SELECT string_agg(leaf_index || ':' || seq, ',' ORDER BY leaf_index) FROM forgea_audit.merkle_leaf), '')
                       || coalesce((SELECT string_agg(level || ':' || idx || encode(hashes || interior, 'hex'), ',' ORDER BY level, idx)
                                    FROM forgea_audit.merkle_tile), '')
                       || coalesce((SELECT string_agg(tree_size || encode(root, 'hex') || note, ',' ORDER BY id)
                                    FROM forgea_audit.merkle_checkpoint), '')
                       || coalesce((SELECT tree_size || encode(root, 'hex') || encode(frontier, 'hex') FROM forgea_audit.merkle_verified), ''))"
}
audit_rows() { q "$1" "SELECT count(*) || ' audit rows, ' || (SELECT count(*) FROM forgea_audit.chain_head) || ' heads' FROM forgea_audit.audit_log"; }
verifiers() {  # db -> verify_chain(), verify_increment()
    q "$1" "SELECT (SELECT ok FROM forgea_audit.verify_chain()) || ' ' || (SELECT ok FROM forgea_audit.verify_increment())"
}
before=$(describe "$src_db")
before_rows=$(audit_rows "$src_db")
check "source: 599 leaves (three level-0 tiles, one level-1 tile), two checkpoints, verified to 599" \
      "$(echo "$before" | sed 's/, md5.*//')" "599 leaves, state 599/$(q "$src_db" "SELECT horizon_seq FROM forgea_audit.merkle_state"), 4 tiles, 2 checkpoints, verified 599"
check "source: the verifiers hold" "$(verifiers "$src_db")" "true true"
before=$(describe "$src_db")   # verify_increment() above integrated nothing new: the same tables

pg_dump -Fp -f "$work/db.sql" "$src_db" 2>/dev/null
pg_dump -Fc -f "$work/db.dump" "$src_db" 2>/dev/null
pg_dump -Fc --data-only -f "$work/data.dump" "$src_db" 2>/dev/null

# Restores a plain dump with psql (errors do not stop it): db, file -> stderr in $work/<db>.err
restore_plain() { fresh "$1"; psql -X -q -d "$1" -f "$2" >/dev/null 2>"$work/$1.err"; }
# The first ERROR line of a restore, without its "psql:file:line: " prefix.
first_error() { grep -m1 -o 'ERROR: .*' "$work/$1.err"; }

# ---- an unaltered dump restores as it was --------------------------------------------------------
restore_plain mr_plain "$work/db.sql"
check "plain dump: no error" "$(grep -c ERROR "$work/mr_plain.err")" "0"
check "plain dump: the Merkle tables are restored as they were" "$(describe mr_plain)" "$before"
check "plain dump: the verifiers hold" "$(verifiers mr_plain)" "true true"
fresh mr_custom
pg_restore -d mr_custom "$work/db.dump" 2>"$work/mr_custom.err"
check "pg_restore (custom format): nothing printed, the same tables" "$(wc -c < "$work/mr_custom.err") $(describe mr_custom)" "0 $before"
check "pg_restore (custom format): the verifiers hold" "$(verifiers mr_custom)" "true true"

# --data-only into a fresh install: CREATE EXTENSION first, then the rows.
install() {  # db -> a fresh install: the platform's tables, then CREATE EXTENSION, no rows
    fresh "$1"
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f test/fixtures/app-schema/lab_session.sql >/dev/null
    q "$1" "CREATE TABLE public.fixture_push (name text PRIMARY KEY, payload jsonb NOT NULL, body text NOT NULL);
            CREATE EXTENSION forgea_audit" >/dev/null
}
install mr_data
pg_restore --data-only -d mr_data "$work/data.dump" 2>"$work/mr_data.err"
check "pg_restore --data-only into a fresh install: nothing printed" "$(head -c 300 "$work/mr_data.err")" ""
check "pg_restore --data-only: the same audit rows and Merkle tables" "$(audit_rows mr_data) $(describe mr_data)" "$before_rows $before"
check "pg_restore --data-only: the verifiers hold" "$(verifiers mr_data)" "true true"

# ---- pg_restore --data-only --disable-triggers: refused before anything is written ----------------
install mr_dt
pg_restore --data-only --disable-triggers -d mr_dt "$work/data.dump" 2>"$work/mr_dt.err"
check "--disable-triggers: refused, saying why" \
      "$(grep -m1 -o 'FATAL: .*' "$work/mr_dt.err")" \
      "FATAL:  ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER is refused: it would restore forgea_audit's rows unchecked"
check "--disable-triggers: the hint names the restore that works" \
      "$(grep -m1 -o 'HINT: .*' "$work/mr_dt.err")" \
      "HINT:  Restore without --disable-triggers (pg_restore --data-only, or psql -f dump.sql): the guards accept every row that verifies, in any session_replication_role."
check "--disable-triggers: nothing written to the extension's tables, no AUDIT_DDL row" \
      "$(audit_rows mr_dt) $(describe mr_dt | sed 's/, md5.*//')" "0 audit rows, 0 heads 0 leaves, state -, 0 tiles, 0 checkpoints, verified -"
check "--disable-triggers: the guards are still ENABLE ALWAYS" \
      "$(q mr_dt "SELECT count(*) FILTER (WHERE tgenabled <> 'A') || '/' || count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                  WHERE c.relnamespace = 'forgea_audit'::regnamespace AND t.tgname LIKE '%guard%'")" \
      "0/$(q mr_dt "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                    WHERE c.relnamespace = 'forgea_audit'::regnamespace AND t.tgname LIKE '%guard%'")"
# The way the hint names works in the same database afterwards.
pg_restore --data-only -d mr_dt "$work/data.dump" 2>"$work/mr_dt2.err"
check "... and then pg_restore --data-only restores everything, verifying" \
      "$(wc -c < "$work/mr_dt2.err") $(audit_rows mr_dt) $(describe mr_dt) $(verifiers mr_dt)" "0 $before_rows $before true true"

# ---- hand-edited dumps -----------------------------------------------------------------------------
# edit_copy TABLE AWK-PROGRAM: the plain dump with the COPY data of forgea_audit.TABLE passed
# through the awk program (which sees only the data lines, and prints what it keeps).
edit_copy() {
    awk -v table="$1" -v prog_file="$work/prog.awk" '
        BEGIN { in_copy = 0 }
        in_copy && /^\\\.$/ { close(cmd); in_copy = 0 }
        in_copy { print | cmd; next }
        { print; fflush() }
        index($0, "COPY forgea_audit." table " ") == 1 { in_copy = 1; cmd = "awk -f " prog_file }
    ' "$work/db.sql"
}
edited() {  # name, table, awk program -> restores the edited dump into a fresh database <name>
    printf '%s\n' "$3" > "$work/prog.awk"
    edit_copy "$2" > "$work/$1.sql"
    check "$1: the edit changed the dump" "$(cmp -s "$work/db.sql" "$work/$1.sql" && echo same || echo changed)" "changed"
    restore_plain "$1" "$work/$1.sql"
}

# The integrator's pending mark (pending_seq, pending_xmax) names a transaction id of the cluster
# that was dumped: restored as it is, a mark above this cluster's xids would not resolve for as
# many transactions, and the horizon would stay where the dump left it.  A restore drops the mark
# (the integrator's next pass sets one of this cluster).
printf '%s\n' 'BEGIN { FS = OFS = "\t" } { $4 = "599"; $5 = "4000000000" } { print }' > "$work/prog.awk"
edit_copy merkle_state > "$work/mr_pending.sql"
restore_plain mr_pending "$work/mr_pending.sql"
check "a state with another cluster's pending mark: restored without error" "$(grep -c ERROR "$work/mr_pending.err")" "0"
check "... the mark dropped, size and horizon as dumped" \
      "$(q mr_pending "SELECT tree_size || ' ' || horizon_seq || ' ' || coalesce(pending_seq::text, '-') || ' ' || coalesce(pending_xmax::text, '-')
                       FROM forgea_audit.merkle_state")" \
      "$(q "$src_db" "SELECT tree_size || ' ' || horizon_seq FROM forgea_audit.merkle_state") - -"
q mr_pending "SELECT forgea_audit.append('TEST_AFTER_RESTORE', chain => 'test:after') FROM generate_series(1, 3)" >/dev/null
q mr_pending "SELECT forgea_audit.merkle_integrate()" >/dev/null   # sets a mark at the last seq
q mr_pending "SELECT forgea_audit.merkle_integrate()" >/dev/null   # no older transaction runs: resolved
check "... and the horizon moves past the rows appended after the restore" \
      "$(q mr_pending "SELECT horizon_seq > (SELECT max(seq) FROM forgea_audit.audit_log) FROM forgea_audit.merkle_state")" "t"

# The last data line of merkle_leaf deleted: 600 leaves against a state of 601.
edited mr_leaf_cut merkle_leaf '{ lines[NR] = $0 } END { for (i = 1; i < NR; i++) print lines[i] }'
check "last leaf deleted: merkle_state refused, saying so" "$(first_error mr_leaf_cut)" \
      "ERROR:  restoring forgea_audit.merkle_state refused: the state says the tree has 599 leaves, merkle_leaf holds 598 (the first missing is leaf 598)"
check "last leaf deleted: no state restored" "$(q mr_leaf_cut "SELECT count(*) FROM forgea_audit.merkle_state")" "0"

# Two leaves swapped (leaves 10 and 11 name each other's audit row).
edited mr_leaf_swap merkle_leaf 'BEGIN { FS = OFS = "\t" } $1 == 10 { s10 = $2; next } $1 == 11 { print 10, $2; print 11, s10; next } { print }'
check "two leaves swapped: refused at the first checkpoint they break, naming the leaf" "$(first_error mr_leaf_swap)" \
      "ERROR:  restoring forgea_audit.merkle_state refused: checkpoint 1 (tree size 300) does not hold over the leaves: the first 300 leaves do not hash to its root (leaves were removed, reordered or changed, or the checkpoint was)"

# One byte of a tile changed (the first hash of tile (0, 1); \\x prefix then 64 hex digits a hash).
edited mr_tile_byte merkle_tile 'BEGIN { FS = OFS = "\t" } $1 == 0 && $2 == 1 { c = substr($3, 4, 1); $3 = substr($3, 1, 3) (c == "0" ? "1" : "0") substr($3, 5) } { print }'
check "one tile byte changed: that tile refused, named" "$(first_error mr_tile_byte)" \
      "ERROR:  restoring forgea_audit.merkle_tile refused: tile (0, 1) does not hold the hashes of the leaves it covers (its hash 0, of leaf 256, differs)"

# merkle_checkpoint.tree_size edited (the first checkpoint's, 300 -> 299).
edited mr_cp_size merkle_checkpoint 'BEGIN { FS = OFS = "\t" } $1 == 1 { $2 = $2 - 1 } { print }'
check "checkpoint tree_size edited: that checkpoint refused, named" "$(first_error mr_cp_size)" \
      "ERROR:  restoring forgea_audit.merkle_checkpoint refused: checkpoint 1: its tree_size (299) and root are not those its note signs (300)"

# merkle_verified edited: verify_increment() would trust a point the tree does not have.
edited mr_verified merkle_verified 'BEGIN { FS = OFS = "\t" } { $2 = $2 - 1 } { print }'
check "merkle_verified edited: refused" "$(first_error mr_verified)" \
      "ERROR:  restoring forgea_audit.merkle_verified refused: the verified point (tree size 598) is not the tree of the restored leaves: its root differs"

# audit_log's COPY refused (one byte of one row's metadata): no audit row, so no leaf, no state.
printf '%s\n' '{ sub(/"i": 7}/, "\"i\": 8}"); print }' > "$work/prog.awk"
edit_copy audit_log > "$work/mr_no_rows.sql"
restore_plain mr_no_rows "$work/mr_no_rows.sql"
check "audit_log refused: the row named" \
      "$(first_error mr_no_rows | sed 's/seq [0-9]* (chain "[^"]*" position [0-9]*)/seq N (chain C position P)/')" \
      "ERROR:  restoring forgea_audit.audit_log refused: row seq N (chain C position P): its row_hash does not match its content"
check "audit_log refused: checkpoints, leaves, state, tiles and verified point refused too" \
      "$(grep -o 'restoring forgea_audit.merkle_[a-z]* refused' "$work/mr_no_rows.err" | sort -u | tr '\n' ' ')" \
      "restoring forgea_audit.merkle_checkpoint refused restoring forgea_audit.merkle_leaf refused restoring forgea_audit.merkle_state refused restoring forgea_audit.merkle_tile refused restoring forgea_audit.merkle_verified refused "
check "audit_log refused: nothing of the Merkle tables left to mislead a verifier" \
      "$(describe mr_no_rows | sed 's/, md5.*//')" "0 leaves, state -, 0 tiles, 0 checkpoints, verified -"

if [ "$failures" -gt 0 ]; then
    echo "restore_merkle: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "restore_merkle: ok: every Merkle table is checked as it is restored"
