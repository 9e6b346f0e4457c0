#!/usr/bin/env bash
# The transparency log checked offline (docs/transparency.md) by tools/forgea_audit_verify, with
# nothing from the server but the documents it hands out and the signer's public key:
#   - a receipt (forgea_audit.receipt(attempt_id)) verifies: the row's fields hash to row_hash,
#     its leaf's inclusion proof leads to the signed note's root;
#   - it fails when any byte of the row's fields, of the inclusion proof or of the note is altered
#     (each byte changed in turn; every such receipt must be refused);
#   - inclusion of every leaf in the tree of every checkpoint size (about 30 signed checkpoints
#     of growing trees), each as a receipt-shaped document built from inclusion_proof();
#   - consistency between every pair of those checkpoints (consistency_proof()), and refusal of
#     a proof with one altered hash, of swapped notes, and of a note signed by another key.
set -uo pipefail

db=$PGDATABASE
tool=${FA_VERIFY_TOOL:-tools/forgea_audit_verify}   # FA_VERIFY_TOOL: check another build (not rebuilt here)
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
key_set=0
cleanup() {
    [ "$key_set" -eq 1 ] && set_key_file "" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
. test/lib/checks.sh

{ [ -n "${FA_VERIFY_TOOL:-}" ] || make -s verifier >"$work/make.log" 2>&1; } && [ -x "$tool" ] || { cat "$work/make.log"; echo "transparency_offline: FAIL: make verifier" >&2; exit 1; }

openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/other.pem" 2>/dev/null
openssl pkey -in "$work/other.pem" -pubout -out "$work/other_pub.pem" 2>/dev/null
chmod 644 "$work/pub.pem"
chmod 600 "$work/key.pem"
chown postgres: "$work/key.pem" "$work/pub.pem" 2>/dev/null || true
key_set=1
set_key_file "$work/key.pem" "$work/pub.pem"

# ---- history: two recorded pushes, then growing trees, one signed checkpoint each --------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-tr', 'u-tr', 'lab', 'https://github.com/trent/receipt-lab', 'IN_PROGRESS', now());
CREATE TABLE public.tr_push AS
SELECT r.* FROM (VALUES ('00000000-0000-4000-8000-0000000000c1'), ('00000000-0000-4000-8000-0000000000c2')) AS v(guid),
     LATERAL forgea_audit.record_push(
         jsonb_set(jsonb_set((SELECT payload FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
                             '{repository,html_url}', '"https://github.com/trent/receipt-lab"'),
                   '{repository,full_name}', '"trent/receipt-lab"'), v.guid) AS r;
SQL
for k in $(seq 1 28); do
    q "$db" "SELECT forgea_audit.append('TR_ROW', metadata => jsonb_build_object('k', $k, 'text', 'é \"q\" ' || repeat('x', $k)),
                                        chain => 'tr:' || ($k % 4)) FROM generate_series(1, 1 + $k % 3)" >/dev/null
    q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
done
check "history: 28 signed checkpoints of growing trees" \
      "$(q "$db" "SELECT count(DISTINCT tree_size) || ' ' || bool_and(note LIKE '%' || chr(8212) || ' forgea_audit %') FROM forgea_audit.merkle_checkpoint")" "28 true"

# ---- a receipt ---------------------------------------------------------------------------------
attempt=$(q "$db" "SELECT attempt_id FROM public.tr_push WHERE status = 'recorded' LIMIT 1")
q "$db" "SELECT forgea_audit.receipt($attempt)" >"$work/receipt.json"
out=$("$tool" --receipt "$work/receipt.json" --public-key "$work/pub.pem" 2>&1); rc=$?
check "receipt: verifies offline with the public key" "$rc ${out:0:13}" "0 ok: audit row"
out=$("$tool" --receipt "$work/receipt.json" --public-key "$work/other_pub.pem" 2>&1); rc=$?
check "receipt: refused with another key" "$rc ${out%% (key id*}" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed by the given public key \"forgea_audit\""
out=$("$tool" --receipt "$work/receipt.json" 2>&1); rc=$?
check "receipt: a signed note without a public key to check it: exit 2" "$rc" "2"
# The key's C2SP id, computed here from the PEM: SHA-256(name || "\n" || 0x01 || public key)[0:4].
key_id=$({ printf 'forgea_audit\n\x01'; openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32; } | sha256sum | cut -c1-8)
out=$("$tool" --receipt "$work/receipt.json" --public-key "$work/pub.pem" 2>&1)
check "receipt: the verdict names the attempt and the key it checked against" "${out#* is leaf }" \
      "$(q "$db" "SELECT (r->>'leaf_index') || ' of the checkpoint of ' || (r->>'tree_size') || ' leaves, signed by key \"forgea_audit\" (key id $key_id), public key $work/pub.pem' FROM forgea_audit.receipt($attempt) r")"
check "receipt: ... of attempt $attempt" "$(grep -c "(LAB_VERIFY_ATTEMPT) of attempt $attempt is leaf" <<<"$out")" "1"

# Receipts edited as text (a JSON library would merge repeated keys before the tool saw them):
# each must be refused, with the exit status saying whether the receipt is false (1) or is not a
# receipt the tool can read (2).
other_attempt=$(q "$db" "SELECT attempt_id FROM public.tr_push WHERE attempt_id <> $attempt LIMIT 1")
python3 - "$work/receipt.json" "$work" "$attempt" "$other_attempt" <<'PY'
import re, sys
src, work, attempt, other = sys.argv[1:5]
t = open(src, encoding='utf-8').read()
sig = t.index('\\n\\n\u2014')                 # the note's blank line and signature line, as JSON escapes
edits = {
    'dup_action': t.replace('"action": "LAB_VERIFY_ATTEMPT"', '"action":"FORGED","action":"LAB_VERIFY_ATTEMPT"', 1),
    'second_row': t.replace('{"row": {', '{"row": {"seq": 1, "action": "FORGED"}, "row": {', 1),
    'other_attempt': t.replace(f'"attempt_id": {attempt}', f'"attempt_id": {other}', 1),
    'attempt_minus_1': t.replace(f'"attempt_id": {attempt}', '"attempt_id": -1', 1),
    'attempt_1e0': t.replace(f'"attempt_id": {attempt}', '"attempt_id": 1e0', 1),
    'version_2': t.replace('"version": 1', '"version": 2', 1),
    'leaf_index_1e0': re.sub(r'"leaf_index": \d+', '"leaf_index": 1e0', t, count=1),
    'seq_float': re.sub(r'"seq": (\d+)', r'"seq": \1.0', t, count=1),
    'unsigned': t[:sig] + t[t.index('"', sig):],
}
for name, u in edits.items():
    assert u != t, name
    open(f'{work}/edited-{name}.json', 'w', encoding='utf-8').write(u)
PY
refused() {  # name, description, expected exit status, expected text in the output
    local out rc
    out=$("$tool" --receipt "$work/edited-$1.json" --public-key "$work/pub.pem" 2>&1); rc=$?
    check "receipt $2: refused, exit $3" "$rc $(grep -c -F -- "$4" <<<"$out")" "$3 1"
}
refused dup_action "with a repeated action key" 2 "a key repeated in an object"
refused second_row "with a second row before the real one" 2 "a key repeated in an object"
refused other_attempt "naming another attempt" \
        1 "the receipt names attempt $other_attempt, but its row is not that attempt's LAB_VERIFY_ATTEMPT row"
refused attempt_minus_1 "naming attempt -1" 1 "the receipt names attempt -1, but its row is not that attempt's"
refused attempt_1e0 "with attempt_id 1e0" 2 "\"attempt_id\" is neither an integer (a plain one: no fraction, no exponent) nor null"
refused version_2 "of version 2" 2 "the receipt is of version 2; this tool reads version 1 only"
refused leaf_index_1e0 "with leaf_index 1e0" 2 "\"leaf_index\" in the receipt is not an integer"
refused seq_float "with the row's seq written N.0" 2 "\"seq\" in row is not an integer"
refused unsigned "with an unsigned note (its signature lines cut)" 1 "the checkpoint is not signed, but a public key was given to check it"
out=$("$tool" --receipt "$work/edited-unsigned.json" 2>&1); rc=$?
check "receipt with an unsigned note, no key: FAIL unless --allow-unsigned" "$rc ${out:0:24}" "1 FAIL first_bad_seq=NULL:"
out=$("$tool" --receipt "$work/edited-unsigned.json" --allow-unsigned 2>&1); rc=$?
check "receipt with an unsigned note, --allow-unsigned: ok, saying no signature was checked" \
      "$rc ${out:0:13} ${out##*, }" "0 ok: audit row accepted with --allow-unsigned: no signature checked"

# --note: a note alone, as a checkpoint listener checks it (docs/checkpoints.md)
q "$db" "SELECT checkpoint FROM (SELECT forgea_audit.receipt($attempt)->>'checkpoint' AS checkpoint) x" >"$work/note.txt"
out=$("$tool" --note "$work/note.txt" --public-key "$work/pub.pem" 2>&1); rc=$?
check "--note: the receipt's note is signed by the key" "$rc ${out#* is }" \
      "0 signed by key \"forgea_audit\" (key id $key_id), public key $work/pub.pem"
out=$("$tool" --note "$work/note.txt" --public-key "$work/other_pub.pem" 2>&1); rc=$?
check "--note: not by another key" "$rc ${out%% (key id*}" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed by the given public key \"forgea_audit\""
head -3 "$work/note.txt" >"$work/note-unsigned.txt"
out=$("$tool" --note "$work/note-unsigned.txt" 2>&1); rc=$?
check "--note: an unsigned note fails" "$rc ${out:0:24}" "1 FAIL first_bad_seq=NULL:"

# Every byte of the row's fields, of the inclusion proof and of the note, altered in turn.
python3 - "$work/receipt.json" "$work" "$tool" "$work/pub.pem" >"$work/mutations.txt" <<'PY'
import json, subprocess, sys
path, work, tool, pub = sys.argv[1:5]
doc = json.load(open(path, encoding='utf-8'))
def other(c):
    if c in '0123456789abcdef':
        return '0123456789abcdef'[('0123456789abcdef'.index(c) + 1) % 16]
    if c in '0123456789':
        return str((int(c) + 1) % 10)
    return 'A' if c != 'A' else 'B'
def run(d):
    p = f'{work}/mut.json'
    with open(p, 'w', encoding='utf-8') as f:
        json.dump(d, f, ensure_ascii=False)
    return subprocess.run([tool, '--receipt', p, '--public-key', pub], capture_output=True).returncode
tried = accepted = 0
bad = []
def mutate_string(getter, setter, label):
    global tried, accepted
    s = getter()
    for i in range(len(s)):
        d = json.loads(json.dumps(doc))
        setter(d, s[:i] + other(s[i]) + s[i + 1:])
        tried += 1
        if run(d) == 0:
            accepted += 1; bad.append(f'{label}[{i}]')
for k, v in doc['row'].items():
    if v is None:
        continue
    if isinstance(v, int):
        s = str(v)
        for i in range(len(s)):
            d = json.loads(json.dumps(doc)); t = s[:i] + str((int(s[i]) + 1) % 10) + s[i + 1:]
            d['row'][k] = int(t); tried += 1
            if run(d) == 0 and int(t) != v:
                accepted += 1; bad.append(f'row.{k}[{i}]')
    else:
        mutate_string(lambda k=k: doc['row'][k], lambda d, t, k=k: d['row'].__setitem__(k, t), f'row.{k}')
for j in range(len(doc['inclusion_proof'])):
    mutate_string(lambda j=j: doc['inclusion_proof'][j], lambda d, t, j=j: d['inclusion_proof'].__setitem__(j, t), f'proof[{j}]')
mutate_string(lambda: doc['checkpoint'], lambda d, t: d.__setitem__('checkpoint', t), 'checkpoint')
mutate_string(lambda: doc['row_hash'], lambda d, t: d.__setitem__('row_hash', t), 'row_hash')
print(tried, accepted, ' '.join(bad[:10]))
PY
read -r tried accepted rest <"$work/mutations.txt"
check "receipt: every one of $tried single-byte alterations of the row, the proof or the note is refused" \
      "${accepted:-missing} ${rest:-}" "0 "
[ "${tried:-0}" -gt 500 ] || check "receipt: the alterations cover the whole receipt" "${tried:-0}" "more than 500"

# ---- inclusion of every leaf in every checkpoint's tree ----------------------------------------
q "$db" "SELECT c.tree_size || E'\t' || pg_catalog.jsonb_build_object(
             'version', 1,
             -- no attempt claimed for a row that is none; an attempt's row names it, as receipt() does
             'attempt_id', CASE WHEN a.action = 'LAB_VERIFY_ATTEMPT' AND a.target_type = 'lab_attempt' THEN a.target_id::bigint END,
             'row_hash', encode(a.row_hash, 'hex'), 'leaf_index', m.leaf_index, 'tree_size', c.tree_size,
             'checkpoint', c.note,
             'inclusion_proof', (SELECT coalesce(jsonb_agg(encode(h, 'hex') ORDER BY o), '[]')
                                 FROM unnest((SELECT p.proof FROM forgea_audit.inclusion_proof(m.seq, c.tree_size) p))
                                      WITH ORDINALITY AS x(h, o)),
             'row', jsonb_build_object('seq', a.seq, 'chain_id', a.chain_id, 'chain_pos', a.chain_pos,
                 'prev_hash', encode(a.prev_hash, 'hex'), 'hash_version', a.hash_version,
                 'created_at_us', (extract(epoch FROM a.created_at) * 1000000)::bigint,
                 'tenant_id', a.tenant_id, 'user_id', a.user_id, 'actor_type', a.actor_type, 'actor_id', a.actor_id,
                 'action', a.action, 'target_type', a.target_type, 'target_id', a.target_id, 'outcome', a.outcome,
                 'severity', a.severity, 'metadata', forgea_audit.canonical_json(a.metadata),
                 'proof', forgea_audit.canonical_json(a.proof), 'correlation_id', a.correlation_id,
                 'parent_seq', a.parent_seq))
         FROM forgea_audit.merkle_checkpoint c JOIN forgea_audit.merkle_leaf m ON m.leaf_index < c.tree_size
              JOIN forgea_audit.audit_log a ON a.seq = m.seq
         ORDER BY c.tree_size, m.leaf_index" >"$work/inclusions.tsv"
total=0; ok=0; failed_at=""
while IFS=$'\t' read -r size doc; do
    printf '%s' "$doc" >"$work/one.json"
    total=$((total + 1))
    if "$tool" --receipt "$work/one.json" --public-key "$work/pub.pem" >/dev/null 2>&1; then
        ok=$((ok + 1))
    else
        failed_at="$failed_at $size"
    fi
done <"$work/inclusions.tsv"
check "inclusion: every leaf of every checkpoint's tree ($total proofs) verifies offline" "$ok$failed_at" "$total"
[ "$total" -gt 500 ] || check "inclusion: many proofs were checked" "$total" "more than 500"

# ---- consistency between every pair of checkpoints ---------------------------------------------
mapfile -t sizes < <(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY tree_size")
for s in "${sizes[@]}"; do
    q "$db" "SELECT note FROM forgea_audit.merkle_checkpoint WHERE tree_size = $s" >"$work/note_$s.txt"
    printf '\n' >>"$work/note_$s.txt"   # psql -A -t drops the note's final newline
done
pairs=0; good=0; refused_swapped=0; refused_altered=0; altered_tried=0
# Every pair (i <= j, by position in tree_size order) with its proof, in one query: "a b h1,h2,...".
q "$db" "WITH c AS (SELECT tree_size, row_number() OVER (ORDER BY tree_size) AS n FROM forgea_audit.merkle_checkpoint)
         SELECT x.tree_size || E'\t' || y.tree_size || E'\t' ||
                coalesce((SELECT string_agg(encode(h, 'hex'), ',' ORDER BY o)
                          FROM unnest(forgea_audit.consistency_proof(x.tree_size, y.tree_size)) WITH ORDINALITY p(h, o)), '')
         FROM c x JOIN c y ON y.n >= x.n ORDER BY x.n, y.n" >"$work/consistency.tsv"
[ "$(wc -l <"$work/consistency.tsv")" -eq $(( ${#sizes[@]} * (${#sizes[@]} + 1) / 2 )) ] ||
    check "consistency: one proof per pair of checkpoints" "$(wc -l <"$work/consistency.tsv")" "$(( ${#sizes[@]} * (${#sizes[@]} + 1) / 2 ))"
while IFS=$'\t' read -r a b hashes; do
    tr ',' '\n' <<<"$hashes" >"$work/proof.txt"
    pairs=$((pairs + 1))
    "$tool" --consistency "$work/proof.txt" --old "$work/note_$a.txt" --new "$work/note_$b.txt" \
            --public-key "$work/pub.pem" >/dev/null 2>&1 && good=$((good + 1))
    if [ "$a" != "$b" ]; then
        "$tool" --consistency "$work/proof.txt" --old "$work/note_$b.txt" --new "$work/note_$a.txt" \
                --public-key "$work/pub.pem" >/dev/null 2>&1 || refused_swapped=$((refused_swapped + 1))
        altered_tried=$((altered_tried + 1))
        awk 'NR == 1 { $0 = (substr($0, 1, 1) == "0" ? "1" : "0") substr($0, 2) } { print }' "$work/proof.txt" >"$work/proof_bad.txt"
        "$tool" --consistency "$work/proof_bad.txt" --old "$work/note_$a.txt" --new "$work/note_$b.txt" \
                --public-key "$work/pub.pem" >/dev/null 2>&1 || refused_altered=$((refused_altered + 1))
    fi
done <"$work/consistency.tsv"
check "consistency: every pair of the ${#sizes[@]} checkpoints ($pairs pairs) verifies offline" "$good" "$pairs"
q "$db" "SELECT string_agg(encode(h, 'hex'), E'\n' ORDER BY o) FROM unnest(forgea_audit.consistency_proof(${sizes[0]}, ${sizes[-1]})) WITH ORDINALITY x(h, o)" >"$work/proof.txt"
out=$("$tool" --consistency "$work/proof.txt" --old "$work/note_${sizes[0]}.txt" --new "$work/note_${sizes[-1]}.txt" --public-key "$work/pub.pem" 2>&1)
check "consistency: the verdict names the key it checked both notes against" "${out##*; }" \
      "both signed by key \"forgea_audit\" (key id $key_id), public key $work/pub.pem"
check "consistency: with the notes swapped, every real step is refused" "$refused_swapped" "$altered_tried"
check "consistency: with the first hash altered, every real step is refused" "$refused_altered" "$altered_tried"
set_key_file "$work/other.pem" ""
chown postgres: "$work/other.pem" 2>/dev/null || true
q "$db" "SELECT forgea_audit.checkpoint()" >"$work/note_other.txt"; printf '\n' >>"$work/note_other.txt"
other_size=$(sed -n 2p "$work/note_other.txt")
q "$db" "SELECT string_agg(encode(h, 'hex'), E'\n' ORDER BY o) FROM unnest(forgea_audit.consistency_proof(${sizes[0]}, $other_size)) WITH ORDINALITY x(h, o)" >"$work/proof.txt"
out=$("$tool" --consistency "$work/proof.txt" --old "$work/note_${sizes[0]}.txt" --new "$work/note_other.txt" --public-key "$work/pub.pem" 2>&1); rc=$?
check "consistency: a note signed by another key is refused" "$rc ${out%% (key id*}" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed by the given public key \"forgea_audit\""

if [ "$failures" -gt 0 ]; then
    echo "transparency_offline: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "transparency_offline: ok: receipts, inclusion and consistency proofs verify offline and altered ones are refused"
