#!/usr/bin/env bash
# Offline verification (docs/checkpoints.md, "Offline"): tools/export_audit.sh exports the log,
# tools/forgea_audit_verify checks the export without the database, and must give the verdict
# forgea_audit.verify_chain() gives (ok, first_bad_seq, detail) over the same rows:
#   - on the intact log, without and with an unsigned checkpoint;
#   - on a signed checkpoint: ok with the signer's public key; refused with another key's, with
#     no key, and when the note was altered;
#   - after tampering inside the database as superuser with the guards disabled (each in a copy
#     of the database): a changed metadata field, a deleted middle row, a deleted tail with its
#     head moved back (the tool sees it only with the checkpoint, verify_chain() by the leaves), a whole sealed chain and its head removed,
#     an edited head, the CHECKPOINT event removed, a sealed row re-hashed (the checkpoint is a
#     transparency-log note: docs/transparency.md).  (The DDL guard logs each DISABLE/ENABLE TRIGGER as an AUDIT_DDL row:
#     the copies' row counts are taken from the copies.);
#   - and it must see what verify_chain() cannot: an export file edited after the export (one byte
#     of metadata, an empty string turned NULL, two leaves swapped in merkle_leaf.csv);
#   - the export refuses a role that row-level security limits, and works for forgea_audit_admin.
# The history has several sessions (record_push with fixture payloads: recorded, duplicate,
# conflict, STUCK -> IN_PROGRESS, unmatched) and appends whose text and metadata hold unicode,
# quotes, commas, newlines, backslashes and control characters, NULL beside empty strings, and a
# proof; chain ids that sort differently bytewise than in a locale.
#
# Runs with PGDATABASE (and PGHOST/PGPORT/PGUSER/PGPASSWORD) pointing at a fresh database that has
# "LabSession", fixture_push and forgea_audit bound; cwd = repository root.
set -uo pipefail

db=$PGDATABASE
tool=${FA_VERIFY_TOOL:-tools/forgea_audit_verify}   # FA_VERIFY_TOOL: check another build (not rebuilt here)
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
clones=()
key_set=0

cleanup() {
    if [ "$key_set" -eq 1 ]; then
        set_key_file "" 2>/dev/null || true
    fi
    for c in "${clones[@]:-}"; do
        [ -n "$c" ] && dropdb --if-exists "$c" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

. test/lib/checks.sh

# verify_chain()'s verdict in the tool's format.  $2: a checkpoint note file, or empty.
sql_verdict() {  # db, checkpoint file
    local d=$1 cpf=${2:-}
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$d" -v cp="$([ -n "$cpf" ] && cat "$cpf")" \
         -v has_cp="$([ -n "$cpf" ] && echo 1 || echo 0)" <<'SQL'
SELECT CASE WHEN ok THEN 'ok: ' || detail
            ELSE 'FAIL first_bad_seq=' || coalesce(first_bad_seq::text, 'NULL') || ': ' || detail END
FROM forgea_audit.verify_chain(checkpoint => CASE WHEN :has_cp = 1 THEN :'cp' || E'\n' END);
SQL
}

# The tool's verdict and exit status: sets tool_out, tool_rc.
run_tool() {  # dir, [tool options...]
    local dir=$1; shift
    tool_out=$("$tool" --dir "$dir" "$@" 2>"$work/tool.err")
    tool_rc=$?
    [ "$tool_rc" -eq 2 ] && tool_out="(exit 2) $(cat "$work/tool.err")"
}

# The tool's verdict without what it adds to verify_chain()'s words on an ok with a checkpoint:
# "; signed by key ..." (the key it checked against) or "; unsigned, accepted with --allow-unsigned...".
verdict_words() {
    local v=${1%%; signed by key \"*}
    printf '%s' "${v%%; unsigned, accepted with --allow-unsigned*}"
}

export_db() {  # db, dir, [checkpoint file]
    if ! tools/export_audit.sh "$@" 2>"$work/export.err"; then
        echo "# export_audit.sh $*: $(cat "$work/export.err")"
        return 1
    fi
}

# Exports db, runs the tool and verify_chain() with the same checkpoint, and checks they agree;
# $4 (a prefix of the expected verdict) makes sure the agreement is about the right thing.
agree() {  # name, db, checkpoint file or "", expected verdict prefix, [tool options...]
    local name=$1 d=$2 cpf=$3 want=$4; shift 4
    local dir="$work/export-$RANDOM$RANDOM"
    export_db "$d" "$dir" $cpf || { check "$name: export" "failed" "ok"; return; }
    run_tool "$dir" ${cpf:+--checkpoint "$cpf"} "$@"
    local sql
    sql=$(sql_verdict "$d" "$cpf")
    check "$name: the tool's verdict is verify_chain()'s" "$(verdict_words "$tool_out")" "$sql"
    check "$name: verdict starts with \"$want\"" "${tool_out:0:${#want}}" "$want"
    local rc_want=1
    [ "${sql:0:3}" == "ok:" ] && rc_want=0
    check "$name: exit status" "$tool_rc" "$rc_want"
}

# Without a checkpoint the tool checks the chains only, while verify_chain() also checks the
# Merkle tables against the rows (docs/transparency.md, "What the verifiers check of the tree"):
# when rows were deleted under their leaves, verify_chain() sees more.  Checks the tool's verdict
# and exit status, and that verify_chain() fails with the Merkle finding.
chains_only() {  # name, db, expected tool verdict prefix, expected verify_chain() verdict prefix
    local name=$1 d=$2 want=$3 sql_want=$4
    local dir="$work/export-$RANDOM$RANDOM"
    export_db "$d" "$dir" || { check "$name: export" "failed" "ok"; return; }
    run_tool "$dir"
    check "$name: the tool's verdict (chains only) starts with \"$want\"" "${tool_out:0:${#want}}" "$want"
    local rc_want=1
    [ "${want:0:3}" == "ok:" ] && rc_want=0
    check "$name: the tool's exit status" "$tool_rc" "$rc_want"
    local sql
    sql=$(sql_verdict "$d" "")
    check "$name: verify_chain() (the Merkle tables too) starts with \"$sql_want\"" "${sql:0:${#sql_want}}" "$sql_want"
}

leaf_of() { q "$db" "SELECT leaf_index FROM forgea_audit.merkle_leaf WHERE seq = $1"; }

# A copy of the database in its current state, to tamper with: sets c to its name.  The last
# session on the source may still be exiting: createdb -T refuses a template in use, so retry.
clone() {  # name
    c="${db}_$1"
    clones+=("$c")
    dropdb --if-exists "$c" >/dev/null 2>&1
    local i
    for i in $(seq 50); do
        createdb -T "$db" "$c" 2>"$work/createdb.err" && return 0
        sleep 0.2
    done
    cat "$work/createdb.err" >&2
    echo "not ok - copy the database to $c"
    exit 1
}
# The number of rows and chains a verify_chain() of db reports ok over.
counts() { q "$1" "SELECT (SELECT count(*) FROM forgea_audit.audit_log) || ' rows in '
                          || (SELECT count(DISTINCT chain_id) FROM forgea_audit.audit_log) || ' chains'"; }

# Runs SQL as superuser with the guards (and foreign keys) off, then on again.
tamper() {  # db, sql
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" >/dev/null <<SQL || check "tamper with $1" "failed" "ok"
BEGIN;
ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
ALTER TABLE forgea_audit.chain_head DISABLE TRIGGER ALL;
$2
ALTER TABLE forgea_audit.audit_log ENABLE TRIGGER ALL;
ALTER TABLE forgea_audit.chain_head ENABLE TRIGGER ALL;
COMMIT;
SQL
}

# ---- the tool --------------------------------------------------------------------------------
if { [ -n "${FA_VERIFY_TOOL:-}" ] || make -s verifier >"$work/make.log" 2>&1; } && [ -x "$tool" ]; then
    echo "ok - make verifier builds $tool"
else
    cat "$work/make.log"
    echo "not ok - make verifier builds $tool"
    exit 1
fi
"$tool" >/dev/null 2>&1
check "no arguments: exit 2" "$?" "2"
"$tool" --dir "$work/nothing-here" >/dev/null 2>&1
check "a directory with no export: exit 2" "$?" "2"

# ---- history ---------------------------------------------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL' || { echo "offline_verifier: setup failed" >&2; exit 1; }
CREATE FUNCTION public.ov_payload(fixture text, fork text, after text) RETURNS jsonb LANGUAGE sql AS
$$
SELECT jsonb_set(jsonb_set(p, '{repository,html_url}', to_jsonb('https://github.com/ov/' || fork)),
                 '{after}', to_jsonb(after))
FROM (SELECT payload AS p FROM public.fixture_push WHERE name = fixture) f
$$;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-ov-1', 'u1', 'lab', 'https://github.com/ov/one.git', 'IN_PROGRESS', now()),
       ('s-ov-2', 'u2', 'lab', 'git@github.com:ov/two.git', 'STUCK', now()),
       ('s-ov-3', 'u3', 'lab', 'https://github.com/ov/three', 'IN_PROGRESS', now());
-- session 1: three recorded pushes, a redelivery (duplicate) and a conflicting redelivery
SELECT forgea_audit.record_push(ov_payload('api-with-new-branch.payload', 'one', repeat('1', 40)),
                                '00000000-0000-4000-8000-0000000a0001', '{"X-GitHub-Event": "push", "X-GitHub-Hook-ID": "7"}');
SELECT forgea_audit.record_push(ov_payload('api-with-no-username-committer.payload', 'one', repeat('2', 40)),
                                '00000000-0000-4000-8000-0000000a0002');
SELECT forgea_audit.record_push(ov_payload('ghes35-payload', 'one', repeat('3', 40)), '00000000-0000-4000-8000-0000000a0003');
SELECT forgea_audit.record_push(ov_payload('ghes35-payload', 'one', repeat('3', 40)), '00000000-0000-4000-8000-0000000a0003');
SELECT forgea_audit.record_push(ov_payload('ghes35-payload', 'one', repeat('4', 40)), '00000000-0000-4000-8000-0000000a0003');
-- session 2 was STUCK: LAB_VERIFY_ATTEMPT then LAB_STATUS_TRANSITION (parent_seq)
SELECT forgea_audit.record_push(ov_payload('api-with-new-branch.payload', 'two', repeat('5', 40)),
                                '00000000-0000-4000-8000-0000000a0004');
SELECT forgea_audit.record_push(ov_payload('ghes34-payload', 'two', repeat('6', 40)), '00000000-0000-4000-8000-0000000a0005');
-- session 3: three pushes; nothing is written to it after the checkpoint
SELECT forgea_audit.record_push(ov_payload('api-with-new-branch.payload', 'three', repeat('7', 40)),
                                '00000000-0000-4000-8000-0000000a0006');
SELECT forgea_audit.record_push(ov_payload('api-with-organization.payload', 'three', repeat('8', 40)),
                                '00000000-0000-4000-8000-0000000a0007');
SELECT forgea_audit.record_push(ov_payload('api-with-installation.payload', 'three', repeat('9', 40)),
                                '00000000-0000-4000-8000-0000000a0008');
-- a push to a fork nobody works on
SELECT forgea_audit.record_push(ov_payload('api-with-new-branch.payload', 'nobody', repeat('a', 40)),
                                '00000000-0000-4000-8000-0000000a0009');
-- appends: text that CSV must quote, NULL beside '', a proof, numbers kept as written
SELECT forgea_audit.append('OV_TEXT', 'user', 'u,1', 'document', E'doc "1",\nline 2',
                           metadata => E'{"q": "say \\"hi\\", then, go", "nl": "a\\nb\\r\\nc", "bs": "back\\\\slash", "ctl": "\\u0001\\u001f\\t", "uni": "résumé 日本語 😀 \\u2028", "num": [1.50, 1e3, -0.0, 123456789012345678901234567890], "": "", "z": null, "nested": {"b": true, "aa": false, "a": {}}}',
                           proof => '{"sig": "abc,\"def\"", "list": [[], {}, ""]}',
                           correlation_id => 'corr,"é"', tenant_id => '', user_id => NULL);
SELECT forgea_audit.append('OV_EMPTY', 'user', '', 'document', '', metadata => '{"empty": ""}',
                           tenant_id => '', user_id => '', correlation_id => '');
SELECT forgea_audit.append('OV_NULLS', 'user', NULL, NULL, NULL, metadata => '{}');
-- chains whose ids sort differently bytewise than in a locale, one a prefix of another, and ids
-- CSV must quote
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 1}', chain => 'zeta');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 2}', chain => 'Zeta');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 3}', chain => 'éclair');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 4}', chain => 'p');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 5}', chain => 'p:x');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 6}', chain => E'q,"uoted"\nchain');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"i": 7}', chain => E'q,"uoted"\nchain');
SQL

audit_rows=$(q "$db" "SELECT count(*) FROM forgea_audit.audit_log")
check "history: sessions recorded, duplicate, conflict, transition, unmatched, appends" \
      "$(q "$db" "SELECT string_agg(DISTINCT action COLLATE \"C\", ' ' ORDER BY action COLLATE \"C\") FROM forgea_audit.audit_log")" \
      "LAB_STATUS_TRANSITION LAB_VERIFY_ATTEMPT LAB_VERIFY_ATTEMPT_CONFLICT LAB_VERIFY_ATTEMPT_DUPLICATE LAB_VERIFY_ATTEMPT_UNMATCHED OV_CHAIN OV_EMPTY OV_NULLS OV_TEXT"

# ---- an unsigned checkpoint, then more history -------------------------------------------------
printf '%s\n' "$(q "$db" "SELECT forgea_audit.checkpoint()")" >"$work/cp1.txt"
check "the checkpoint is unsigned (three lines: origin, tree size, root; no signature line)" "$(wc -l <"$work/cp1.txt" | tr -d ' ')" "3"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
SELECT forgea_audit.record_push(ov_payload('ghes35-payload', 'one', repeat('b', 40)), '00000000-0000-4000-8000-0000000a000a');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"after": "the checkpoint"}', chain => 'zeta');
SELECT forgea_audit.append('OV_CHAIN', metadata => '{"new": "chain"}', chain => 'after-checkpoint');
SQL
total_rows=$(q "$db" "SELECT count(*) FROM forgea_audit.audit_log")
chains=$(q "$db" "SELECT count(*) FROM forgea_audit.chain_head WHERE length > 0")

# ---- the intact log --------------------------------------------------------------------------
agree "intact" "$db" "" "ok: verified $total_rows rows in $chains chains"
agree "intact, with the unsigned checkpoint" "$db" "$work/cp1.txt" "ok: verified $total_rows rows in $chains chains; the unsigned checkpoint" --allow-unsigned

# Row-level security: a tenant reader would export some rows only, and is refused; an admin sees
# every row.
ov_role="ov_reader_$$"
ov_admin="ov_admin_$$"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<SQL
CREATE ROLE $ov_role NOLOGIN IN ROLE forgea_audit_reader;
CREATE ROLE $ov_admin NOLOGIN IN ROLE forgea_audit_admin;
SQL
PGOPTIONS="-c role=$ov_role" tools/export_audit.sh "$db" "$work/as-reader" >/dev/null 2>"$work/reader.err"
check "an export as a tenant reader is refused (row-level security)" \
      "$? $(grep -c 'sees only some of forgea_audit.audit_log' "$work/reader.err")" "3 1"
PGOPTIONS="-c role=$ov_admin" tools/export_audit.sh "$db" "$work/as-admin" "$work/cp1.txt" 2>/dev/null
run_tool "$work/as-admin" --checkpoint "$work/cp1.txt" --allow-unsigned
check "an export as forgea_audit_admin has every row" "$(verdict_words "$tool_out")" "$(sql_verdict "$db" "$work/cp1.txt")"
psql -X -q -d "$db" -c "DROP ROLE $ov_role" -c "DROP ROLE $ov_admin" >/dev/null

# ---- edits of the export file: verify_chain() cannot see them, the tool must -----------------
intact="$work/intact"
export_db "$db" "$intact" "$work/cp1.txt"
run_tool "$intact" --checkpoint "$work/cp1.txt" --allow-unsigned
check "the intact export verifies" "$tool_rc ${tool_out:0:3}" "0 ok:"

# An unsigned note proves nothing about the log (anyone can write one): it fails unless the
# verifier is told to accept one, and then the verdict says no signature was checked.
run_tool "$intact" --checkpoint "$work/cp1.txt"
check "an unsigned checkpoint without --allow-unsigned: FAIL" "$tool_rc $tool_out" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed, so nothing shows the log's key made it (give the log's public key with --public-key, or --allow-unsigned to check an unsigned note's content only)"
run_tool "$intact" --checkpoint "$work/cp1.txt" --allow-unsigned
check "an unsigned checkpoint with --allow-unsigned: ok, saying no signature was checked" "$tool_rc ${tool_out##*; }" \
      "0 unsigned, accepted with --allow-unsigned: no signature checked"
run_tool "$intact" --allow-unsigned
check "--allow-unsigned without --checkpoint: exit 2" "$tool_rc" "2"

# The export resolves its paths before it changes directory: run from elsewhere with a relative
# OUTDIR and a relative checkpoint file, it reads the note it was given (a 0.1.0-format note makes
# it look for that note's CHECKPOINT event, and say none is there) and writes where it was told.
rel="$work/relative"
mkdir -p "$rel/notes"
cp "$work/cp1.txt" "$rel/notes/cp.txt"
printf 'forgea_audit/1/%s\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nseq 5\nchains 1\ntime 1\n' "$db" >"$rel/notes/heads.txt"
export_script="$PWD/tools/export_audit.sh"
(cd "$rel" && "$export_script" "$db" out notes/cp.txt) 2>"$work/rel.err"
check "export with relative paths: exit 0, nothing on stderr but the summary" \
      "$? $(grep -v '^export_audit: wrote' "$work/rel.err" | tr '\n' ' ')" "0 "
check "export with relative paths: the files are in OUTDIR" "$(cd "$rel/out" && ls | tr '\n' ' ')" \
      "audit_log.csv chain_head.csv checkpoint.txt merkle_leaf.csv "
run_tool "$rel/out" --checkpoint "$rel/notes/cp.txt" --allow-unsigned
check "export with relative paths: it verifies" "$tool_rc ${tool_out:0:3}" "0 ok:"
(cd "$rel" && "$export_script" "$db" out-heads notes/heads.txt) 2>"$work/rel-heads.err"
check "export with a relative 0.1.0 note: it looks for the note's CHECKPOINT event" \
      "$? $(grep -c "the log holds no CHECKPOINT event with root *0000000000000000000000000000000000000000000000000000000000000000 *: checkpoint_heads.csv not written" "$work/rel-heads.err")" "0 1"

# one byte of metadata of a middle row of session 1 ("say \"hi\"" -> "say \"hI\"" in OV_TEXT, and
# a digit in a session row's metadata)
edited="$work/edited-metadata"
cp -r "$intact" "$edited"
text_seq=$(q "$db" "SELECT seq FROM forgea_audit.audit_log WHERE action = 'OV_TEXT'")
sed -i 's/say \\""hi\\""/say \\""hI\\""/' "$edited/audit_log.csv"
check "the export edit changed the file" "$(cmp -s "$intact/audit_log.csv" "$edited/audit_log.csv"; echo $?)" "1"
run_tool "$edited" --checkpoint "$work/cp1.txt" --allow-unsigned
text_where=$(q "$db" "SELECT format('chain \"%s\" position %s (seq %s)', chain_id, chain_pos, seq)
                      FROM forgea_audit.audit_log WHERE action = 'OV_TEXT'")
check "an edited metadata byte in the export: FAIL at that row" "$tool_rc $tool_out" \
      "1 FAIL first_bad_seq=$text_seq: $text_where: row_hash does not match the row's content (the row was changed after it was written)"
check "... which verify_chain() in the database does not see" "$(sql_verdict "$db" "$work/cp1.txt" | cut -c1-3)" "ok:"

mid=$(q "$db" "SELECT seq FROM forgea_audit.audit_log WHERE chain_id = 'session:s-ov-3' AND chain_pos = 2")
edited="$work/edited-session"
cp -r "$intact" "$edited"
python3 - "$edited/audit_log.csv" "$mid" <<'PY'
import csv, io, sys
path, seq = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
# Find the row by its seq (the first field of a record) and flip one byte of its metadata: the
# first hex digit of the payload digest.
start = data.index(b'\n' + seq.encode() + b',') + 1
key = b'payload_sha256'
at = data.index(key, start) + len(key) + 5   # past  """:""  (CSV doubles the quotes)
c = data[at:at + 1]
data = data[:at] + (b'0' if c != b'0' else b'1') + data[at + 1:]
open(path, 'wb').write(data)
PY
run_tool "$edited"
check "an edited session row in the export: FAIL at that row" "$tool_rc ${tool_out%%:*}" "1 FAIL first_bad_seq=$mid"

# an empty string turned into NULL ("" -> nothing) in the OV_EMPTY row
edited="$work/edited-null"
cp -r "$intact" "$edited"
empty_seq=$(q "$db" "SELECT seq FROM forgea_audit.audit_log WHERE action = 'OV_EMPTY'")
python3 - "$edited/audit_log.csv" "$empty_seq" <<'PY'
import sys
path, seq = sys.argv[1], sys.argv[2]
data = open(path, 'rb').read()
start = data.index(b'\n' + seq.encode() + b',') + 1
end = data.index(b'\n', start)
row = data[start:end]
assert b',"",' in row, row
row = row.replace(b',"",', b',,', 1)   # the first '' of the row (tenant_id) becomes NULL
open(path, 'wb').write(data[:start] + row + data[end:])
PY
run_tool "$edited"
check "an empty string made NULL in the export: FAIL at that row" "$tool_rc ${tool_out%%:*}" "1 FAIL first_bad_seq=$empty_seq"

# a leaf of the tree edited in the export: two leaves swapped in merkle_leaf.csv
edited="$work/edited-leaves"
cp -r "$intact" "$edited"
python3 - "$edited/merkle_leaf.csv" <<'PY'
import sys
path = sys.argv[1]
lines = open(path).read().split('\n')
a, b = lines[1].split(','), lines[2].split(',')
lines[1], lines[2] = ','.join([a[0], b[1], b[2]]), ','.join([b[0], a[1], a[2]])
open(path, 'w').write('\n'.join(lines))
PY
run_tool "$edited" --checkpoint "$work/cp1.txt" --allow-unsigned
check "two leaves swapped in the export's merkle_leaf.csv: FAIL, the leaves do not hash to the root" \
      "$tool_rc $(grep -c "leaves do not hash to the checkpoint's root" <<<"$tool_out")" "1 1"

# rows out of order are not an export
edited="$work/edited-order"
cp -r "$intact" "$edited"
python3 - "$edited/audit_log.csv" <<'PY'
import sys
path = sys.argv[1]
lines = open(path, 'rb').read().split(b'\n')
# session:s-ov-3 rows have no newline inside their fields: swap its first two records.
idx = [i for i, l in enumerate(lines) if b',session:s-ov-3,' in l]
lines[idx[0]], lines[idx[1]] = lines[idx[1]], lines[idx[0]]
open(path, 'wb').write(b'\n'.join(lines))
PY
run_tool "$edited"
check "rows out of order in the export: exit 2" "$tool_rc" "2"

# an integer written with a leading zero ("7" -> "07": the same number, not what COPY writes)
edited="$work/edited-zero"
cp -r "$intact" "$edited"
python3 - "$edited/audit_log.csv" <<'PY'
import sys
path = sys.argv[1]
lines = open(path, 'rb').read().split(b'\n')
lines[1] = b'0' + lines[1]   # the first record's seq
open(path, 'wb').write(b'\n'.join(lines))
PY
run_tool "$edited"
check "an integer with a leading zero in the export: exit 2, not an integer" \
      "$tool_rc $(grep -c 'line 2: seq is not an integer' <<<"$tool_out")" "2 1"

# the checkpoint of another export
run_tool "$intact" --checkpoint "$intact/audit_log.csv"
check "a file that is not a checkpoint: exit 2" "$tool_rc" "2"

# ---- tampering inside the database (a copy each) ---------------------------------------------
# session 1 has rows before and after the checkpoint; its 2nd row is in the middle.
s1_mid=$(q "$db" "SELECT seq FROM forgea_audit.audit_log WHERE chain_id = 'session:s-ov-1' AND chain_pos = 2")

clone t_meta
tamper "$c" "UPDATE forgea_audit.audit_log SET metadata = metadata || '{\"commit_sha\": \"forged\"}' WHERE seq = $s1_mid;"
agree "metadata of a middle row changed" "$c" "" "FAIL first_bad_seq=$s1_mid: chain \"session:s-ov-1\" position 2 (seq $s1_mid): row_hash does not match"
agree "metadata of a middle row changed, with the checkpoint" "$c" "$work/cp1.txt" "FAIL first_bad_seq=$s1_mid:" --allow-unsigned

clone t_delete
tamper "$c" "DELETE FROM forgea_audit.audit_log WHERE seq = $s1_mid;"
s1_next=$(q "$db" "SELECT seq FROM forgea_audit.audit_log WHERE chain_id = 'session:s-ov-1' AND chain_pos = 3")
chains_only "a middle row deleted" "$c" \
      "FAIL first_bad_seq=$s1_next: chain \"session:s-ov-1\" position 3 (seq $s1_next): expected position 2" \
      "FAIL first_bad_seq=$s1_mid: leaf $(leaf_of "$s1_mid"): audit row $s1_mid is missing"
agree "a middle row deleted, with the checkpoint" "$c" "$work/cp1.txt" "FAIL first_bad_seq=$s1_mid: leaf " --allow-unsigned
check "a middle row deleted: more than one problem is counted" \
      "$(sql_verdict "$c" "" | grep -c 'problems in all')" "1"

# session 3's last row was sealed by the checkpoint and nothing came after: cut it and move the
# head back.  Without the checkpoint the chains are consistent (the tool says ok), but verify_chain()
# finds the leaf that names the cut row; with the checkpoint, both find it.
clone t_tail
s3_last=$(q "$c" "SELECT last_seq FROM forgea_audit.chain_head WHERE chain_id = 'session:s-ov-3'")
tamper "$c" "
DELETE FROM forgea_audit.audit_log WHERE seq = $s3_last;
UPDATE forgea_audit.chain_head h SET length = l.chain_pos, last_seq = l.seq, last_hash = l.row_hash
FROM forgea_audit.audit_log l
WHERE h.chain_id = 'session:s-ov-3' AND l.chain_id = h.chain_id AND l.chain_pos = h.length - 1;"
chains_only "the tail cut and the head moved back" "$c" "ok: verified $(counts "$c")" \
      "FAIL first_bad_seq=$s3_last: leaf $(leaf_of "$s3_last"): audit row $s3_last is missing"
agree "the tail cut and the head moved back, with the checkpoint" "$c" "$work/cp1.txt" \
      "FAIL first_bad_seq=$s3_last: leaf $(q "$db" "SELECT leaf_index FROM forgea_audit.merkle_leaf WHERE seq = $s3_last"): audit row $s3_last, which the checkpoint covers, is missing" --allow-unsigned

# a whole sealed chain and its head removed
clone t_chain
p_seq=$(q "$c" "SELECT last_seq FROM forgea_audit.chain_head WHERE chain_id = 'p'")
tamper "$c" "DELETE FROM forgea_audit.audit_log WHERE chain_id = 'p'; DELETE FROM forgea_audit.chain_head WHERE chain_id = 'p';"
chains_only "a chain and its head removed" "$c" "ok: verified $(counts "$c")" \
      "FAIL first_bad_seq=$p_seq: leaf $(leaf_of "$p_seq"): audit row $p_seq is missing"
agree "a chain and its head removed, with the checkpoint" "$c" "$work/cp1.txt" \
      "FAIL first_bad_seq=$p_seq: leaf $(q "$db" "SELECT leaf_index FROM forgea_audit.merkle_leaf WHERE seq = $p_seq"): audit row $p_seq, which the checkpoint covers, is missing" --allow-unsigned

# a chain's rows removed, its head kept; and an edited head
clone t_head
zeta_last=$(q "$c" "SELECT last_seq FROM forgea_audit.chain_head WHERE chain_id = 'Zeta'")
tamper "$c" "DELETE FROM forgea_audit.audit_log WHERE chain_id = 'Zeta';
UPDATE forgea_audit.chain_head SET last_seq = last_seq + 1000 WHERE chain_id = 'after-checkpoint';"
chains_only "a chain's rows removed and another's head edited" "$c" "FAIL first_bad_seq=$zeta_last: chain \"Zeta\"" \
      "FAIL first_bad_seq=$zeta_last: chain \"Zeta\""
agree "a chain's rows removed and another's head edited, with the checkpoint" "$c" "$work/cp1.txt" "FAIL first_bad_seq=" --allow-unsigned

# the CHECKPOINT event removed: the note needs no event (the tree is its evidence); the event's
# chain lost its row, which both find without the checkpoint too
clone t_event
cp_seq=$(q "$c" "SELECT max(seq) FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT'")
tamper "$c" "DELETE FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT';"
agree "the CHECKPOINT event removed, with the checkpoint" "$c" "$work/cp1.txt" "FAIL first_bad_seq=$cp_seq: chain \"checkpoint\"" --allow-unsigned

# a sealed row rewritten with a new row_hash (a superuser re-hashing the chain from there on
# would do the same): the tree's root no longer matches
clone t_leaf
tamper "$c" "UPDATE forgea_audit.audit_log SET row_hash = sha256(row_hash) WHERE seq = $s1_mid;"
agree "a sealed row's row_hash rewritten, with the checkpoint" "$c" "$work/cp1.txt" \
      "FAIL first_bad_seq=$s1_mid: the first $(sed -n 2p "$work/cp1.txt") leaves do not hash to the checkpoint's root: audit row $s1_mid is not the row integrated as its leaf" --allow-unsigned

# ---- a signed checkpoint ---------------------------------------------------------------------
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/other.pem" 2>/dev/null
openssl pkey -in "$work/other.pem" -pubout -out "$work/other_pub.pem" 2>/dev/null
chmod 600 "$work/key.pem"
chown postgres: "$work/key.pem" 2>/dev/null || true   # the server's OS user, when we are root
key_set=1
set_key_file "$work/key.pem" "$work/pub.pem"
printf '%s\n' "$(q "$db" "SELECT forgea_audit.checkpoint()")" >"$work/cp2.txt"
check "the checkpoint is signed (a blank line and a signature line)" "$(sed -n '4p;5p' "$work/cp2.txt" | cut -c1-16)" \
      "$(printf '\n\xe2\x80\x94 forgea_audit')"
total_rows=$(q "$db" "SELECT count(*) FROM forgea_audit.audit_log")
chains=$(q "$db" "SELECT count(*) FROM forgea_audit.chain_head WHERE length > 0")

agree "signed checkpoint, the signer's public key" "$db" "$work/cp2.txt" \
      "ok: verified $total_rows rows in $chains chains; the signed checkpoint of" --public-key "$work/pub.pem"
signed="$work/signed"
export_db "$db" "$signed" "$work/cp2.txt"
run_tool "$signed" --checkpoint "$work/cp2.txt" --public-key "$work/other_pub.pem"
check "signed checkpoint, another key: not signed by that key" "$tool_rc ${tool_out%% (key id*}" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed by the given public key \"forgea_audit\""
run_tool "$signed" --checkpoint "$work/cp2.txt" --public-key "$work/pub.pem" --key-name other_name
check "signed checkpoint, the right key under another name: not signed by that key" "$tool_rc ${tool_out%% (key id*}" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed by the given public key \"other_name\""
run_tool "$signed" --checkpoint "$work/cp2.txt"
check "signed checkpoint, no public key given: exit 2" "$tool_rc" "2"
run_tool "$signed" --checkpoint "$work/cp2.txt" --allow-unsigned
check "signed checkpoint, --allow-unsigned and no key: exit 2 (a signature is never skipped)" "$tool_rc" "2"
run_tool "$signed" --checkpoint "$work/cp2.txt" --allow-unsigned --public-key "$work/pub.pem"
check "--allow-unsigned with --public-key: exit 2" "$tool_rc" "2"
# The key's C2SP id, computed here from the PEM: SHA-256(name || "\n" || 0x01 || public key)[0:4].
key_id=$({ printf 'forgea_audit\n\x01'; openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32; } | sha256sum | cut -c1-8)
run_tool "$signed" --checkpoint "$work/cp2.txt" --public-key "$work/pub.pem"
check "signed checkpoint: the verdict names the key it checked against" "$tool_rc ${tool_out##*holds; }" \
      "0 signed by key \"forgea_audit\" (key id $key_id), public key $work/pub.pem"
run_tool "$signed" --checkpoint "$work/cp2.txt" --public-key "$work/key.pem"
check "signed checkpoint, the private key file works as the public key" "$tool_rc ${tool_out:0:3}" "0 ok:"
# A note passed through the shell's $(...) loses its final newline: both verifiers accept it
# (0.1.0 refused it, naming a wrong cause).
printf '%s' "$(cat "$work/cp2.txt")" >"$work/cp2-nonl.txt"
check "the note without its final newline is one byte shorter" \
      "$(( $(wc -c <"$work/cp2.txt") - $(wc -c <"$work/cp2-nonl.txt") ))" "1"
run_tool "$signed" --checkpoint "$work/cp2-nonl.txt" --public-key "$work/pub.pem"
check "signed checkpoint without its final newline: the tool verifies it" "$tool_rc ${tool_out:0:3}" "0 ok:"
check "signed checkpoint without its final newline: verify_chain() verifies it" \
      "$(psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -v cp="$(cat "$work/cp2-nonl.txt")" \
             <<<"SELECT ok::text || ' ' || (right(:'cp', 1) <> E'\n')::text FROM forgea_audit.verify_chain(:'cp')")" \
      "true true"
printf '%s' "$(cat "$work/cp1.txt")" >"$work/cp1-nonl.txt"
run_tool "$intact" --checkpoint "$work/cp1-nonl.txt" --allow-unsigned
check "unsigned checkpoint without its final newline: the tool verifies it" "$tool_rc ${tool_out:0:3}" "0 ok:"
# altered note: the tree size one less, the root kept; the signature no longer verifies
sed "2s/.*/$(( $(sed -n 2p "$work/cp2.txt") - 1 ))/" "$work/cp2.txt" >"$work/cp2-altered.txt"
run_tool "$signed" --checkpoint "$work/cp2-altered.txt" --public-key "$work/pub.pem"
check "signed checkpoint altered: the tool's verdict is verify_chain()'s" "$tool_out" "$(sql_verdict "$db" "$work/cp2-altered.txt")"
check "signed checkpoint altered: does not verify" "$tool_rc $tool_out" \
      "1 FAIL first_bad_seq=NULL: the checkpoint's signature by key \"forgea_audit\" does not verify (the note was altered)"
run_tool "$intact" --checkpoint "$work/cp1.txt" --public-key "$work/pub.pem"
check "an unsigned checkpoint checked with a public key: FAIL" "$tool_rc ${tool_out:0:24}" "1 FAIL first_bad_seq=NULL:"
# rows written after a signed checkpoint, tampered with, seen with it
clone t_signed
last_s1=$(q "$c" "SELECT max(seq) FROM forgea_audit.audit_log WHERE chain_id = 'session:s-ov-1'")
tamper "$c" "UPDATE forgea_audit.audit_log SET severity = 'LOW' WHERE seq = $last_s1;"
agree "a sealed row changed, with the signed checkpoint" "$c" "$work/cp2.txt" "FAIL first_bad_seq=$last_s1:" \
      --public-key "$work/pub.pem"

if [ "$failures" -gt 0 ]; then
    echo "offline_verifier: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "offline_verifier: ok: the offline verifier agrees with verify_chain() on intact and tampered logs"
