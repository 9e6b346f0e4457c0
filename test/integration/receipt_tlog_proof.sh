#!/usr/bin/env bash
# An attempt's receipt as C2SP tlog-proof@v1 (forgea_audit.receipt_tlog_proof(), docs/transparency.md
# "Receipts as tlog-proofs") checked offline by tools/forgea_audit_verify --receipt, which takes
# both forms, with nothing from the server but the document and the log's public key:
#   - the tlog-proof of a signed checkpoint verifies, with the same verdict as receipt()'s JSON;
#   - every single-byte alteration of it is refused, and so is every field of its row (decoded
#     from extra, changed, encoded again), its index and its proof lines changed one at a time;
#   - malformed ones are refused with exit 2 and a message saying what is wrong;
#   - log_vkey() is the verifier key docs/publishing.md derives with openssl by hand;
#   - receipt_link()'s fragment decodes to a receipt (either form) that verifies;
#   - the log's key rotated (docs/witnesses.md): the old receipt fails with the new key alone and
#     verifies with both (--public-key twice, the verdict naming the old key); verify_chain(checkpoint
#     => the old note) fails until forgea_audit.retired_verify_key_files names the old key, then
#     holds, as does the new note; log_vkeys() lists both and receipt_link() passes both; a
#     retired key file that is missing is an error naming the setting.
set -uo pipefail

db=$PGDATABASE
tool=${FA_VERIFY_TOOL:-tools/forgea_audit_verify}   # FA_VERIFY_TOOL: check another build (not rebuilt here)
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the keys from here
key_set=0
set_key_file() {  # private key file, public key file; "" resets
    local set="ALTER SYSTEM RESET forgea_audit.signing_key_file" set_pub="ALTER SYSTEM RESET forgea_audit.verify_key_file"
    [ -n "$1" ] && set="ALTER SYSTEM SET forgea_audit.signing_key_file = '$1'"
    [ -n "${2:-}" ] && set_pub="ALTER SYSTEM SET forgea_audit.verify_key_file = '$2'"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" -c "$set" -c "$set_pub" -c "SELECT pg_reload_conf()" >/dev/null
}
cleanup() {
    [ "$key_set" -eq 1 ] && set_key_file "" 2>/dev/null && set_retired "" 2>/dev/null
    rm -rf "$work"
}
set_retired() {  # value; "" resets
    local set="ALTER SYSTEM RESET forgea_audit.retired_verify_key_files"
    [ -n "$1" ] && set="ALTER SYSTEM SET forgea_audit.retired_verify_key_files = '$1'"
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" -c "$set" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 50); do   # until the reload reached new sessions
        [ "$(q "$db" "SELECT current_setting('forgea_audit.retired_verify_key_files', true)")" == "$1" ] && return 0
        sleep 0.1
    done
}
trap cleanup EXIT
. test/lib/checks.sh

{ [ -n "${FA_VERIFY_TOOL:-}" ] || make -s verifier >"$work/make.log" 2>&1; } && [ -x "$tool" ] ||
    { cat "$work/make.log"; echo "receipt_tlog_proof: FAIL: make verifier" >&2; exit 1; }

openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
chmod 644 "$work/pub.pem"
chmod 600 "$work/key.pem"
chown postgres: "$work/key.pem" "$work/pub.pem" 2>/dev/null || true
key_set=1
set_key_file "$work/key.pem" "$work/pub.pem"
for _ in $(seq 50); do   # until the reload reached new sessions
    [ "$(q "$db" "SELECT current_setting('forgea_audit.verify_key_file', true)")" == "$work/pub.pem" ] && break
    sleep 0.1
done

# Two recorded pushes and more rows, so the proof has several hashes; a signed checkpoint.
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-tp', 'u-tp', 'lab', 'https://github.com/tp/receipt-lab', 'IN_PROGRESS', now());
CREATE TABLE public.tp_push AS
SELECT r.* FROM (VALUES ('00000000-0000-4000-8000-0000000000d1'), ('00000000-0000-4000-8000-0000000000d2')) AS v(guid),
     LATERAL forgea_audit.record_push(
         jsonb_set((SELECT payload FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'),
                   '{repository,html_url}', '"https://github.com/tp/receipt-lab"'), v.guid) AS r;
SELECT forgea_audit.append('TP_ROW', metadata => jsonb_build_object('k', i, 'text', 'é "q" \ ' || repeat('x', i)))
FROM generate_series(1, 5) i;
SELECT forgea_audit.checkpoint();
SQL
attempt=$(q "$db" "SELECT min(attempt_id) FROM public.tp_push WHERE status = 'recorded'")
# The exact bytes, without psql's or COPY's escaping: base64 through SQL, decoded here.
q "$db" "SELECT encode(convert_to(forgea_audit.receipt_tlog_proof($attempt), 'UTF8'), 'base64')" | base64 -d >"$work/proof.tlog-proof"
q "$db" "SELECT forgea_audit.receipt($attempt)" >"$work/receipt.json"

# ---- a genuine one -----------------------------------------------------------------------------
check "tlog-proof: starts with the C2SP header" "$(head -1 "$work/proof.tlog-proof")" "c2sp.org/tlog-proof@v1"
out_json=$("$tool" --receipt "$work/receipt.json" --public-key "$work/pub.pem" 2>&1)
out=$("$tool" --receipt "$work/proof.tlog-proof" --public-key "$work/pub.pem" 2>&1); rc=$?
check "tlog-proof: verifies offline with the public key" "$rc ${out:0:13}" "0 ok: audit row"
check "tlog-proof: the same verdict as receipt()'s JSON (attempt $attempt, leaf, size, key)" "$out" "$out_json"
check "tlog-proof: ... which names the attempt" "$(grep -c "(LAB_VERIFY_ATTEMPT) of attempt $attempt is leaf" <<<"$out")" 1
openssl genpkey -algorithm ed25519 -out "$work/other.pem" 2>/dev/null
openssl pkey -in "$work/other.pem" -pubout -out "$work/other_pub.pem" 2>/dev/null
out=$("$tool" --receipt "$work/proof.tlog-proof" --public-key "$work/other_pub.pem" 2>&1); rc=$?
check "tlog-proof: refused with another key" "$rc ${out%% (key id*}" \
      "1 FAIL first_bad_seq=NULL: the checkpoint is not signed by the given public key \"forgea_audit\""

# ---- alterations -------------------------------------------------------------------------------
# Every byte in turn (to another character of its kind), then every field of the row in extra,
# the index and the proof lines: each must be refused (exit 1: false, or 2: not a tlog-proof).
python3 - "$work/proof.tlog-proof" "$work" "$tool" "$work/pub.pem" >"$work/mutations.txt" <<'PY'
import base64, json, subprocess, sys
path, work, tool, pub = sys.argv[1:5]
t = open(path, 'rb').read()
def run(doc):
    open(f'{work}/m.tlog-proof', 'wb').write(doc)
    return subprocess.run([tool, '--receipt', f'{work}/m.tlog-proof', '--public-key', pub],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
b64 = b'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
def other(c):
    if c in b64:
        return b64[(b64.index(c) + 1) % 64]
    if 48 <= c <= 57:
        return 48 + (c - 48 + 1) % 10
    return ord('x') if c != ord('x') else ord('y')
tried = accepted = 0; bad = []
for i in range(len(t)):
    u = t[:i] + bytes([other(t[i])]) + t[i + 1:]
    tried += 1
    if run(u) == 0:
        accepted += 1; bad.append(f'byte {i}')
lines = t.split(b'\n')
extra = json.loads(base64.b64decode(lines[1][6:]))
for k, v in extra.items():
    d = dict(extra)
    d[k] = (v + 1) if isinstance(v, int) else ('x' if v is None else v + 'x')
    u = b'\n'.join([lines[0], b'extra ' + base64.b64encode(json.dumps(d, separators=(',', ':'), ensure_ascii=False).encode())] + lines[2:])
    tried += 1
    if run(u) == 0:
        accepted += 1; bad.append(f'extra.{k}')
index = int(lines[2][6:])
for other_index in (index - 1, index + 1):
    u = b'\n'.join(lines[:2] + [b'index %d' % other_index] + lines[3:])
    tried += 1
    if run(u) == 0:
        accepted += 1; bad.append(f'index {other_index}')
n = lines.index(b'', 3) - 3   # proof lines
for j in range(n):   # each line dropped, or repeated
    for u in (b'\n'.join(lines[:3 + j] + lines[4 + j:]), b'\n'.join(lines[:3 + j] + [lines[3 + j]] + lines[3 + j:])):
        tried += 1
        if run(u) == 0:
            accepted += 1; bad.append(f'proof line {j}')
print(tried, accepted, n, ' '.join(bad[:10]))
PY
read -r tried accepted n_hashes rest <"$work/mutations.txt"
check "tlog-proof: every one of $tried alterations (each byte, each field of the row, the index, each of the $n_hashes proof lines) is refused" \
      "${accepted:-missing} ${rest:-}" "0 "
[ "${tried:-0}" -gt 1000 ] || check "tlog-proof: the alterations cover the whole proof" "${tried:-0}" "more than 1000"
[ "${n_hashes:-0}" -ge 2 ] || check "tlog-proof: the proof has several hashes" "${n_hashes:-0}" "2 or more"

# ---- malformed: exit 2, saying what is wrong ---------------------------------------------------
malformed() {  # description, expected text, file
    local out rc
    out=$("$tool" --receipt "$3" --public-key "$work/pub.pem" 2>&1); rc=$?
    check "malformed tlog-proof ($1): exit 2 saying so" "$rc $(grep -c -F -- "$2" <<<"$out")" "2 1"
}
sed '1s/@v1/@v2/' "$work/proof.tlog-proof" >"$work/v2.tlog-proof"
malformed "version 2" 'not a tlog-proof: the first line must be "c2sp.org/tlog-proof@v1"' "$work/v2.tlog-proof"
sed '2d' "$work/proof.tlog-proof" >"$work/noextra.tlog-proof"
malformed "no extra line" 'has no "extra" line' "$work/noextra.tlog-proof"
sed 's/$/\r/' "$work/proof.tlog-proof" >"$work/crlf.tlog-proof"
malformed "CRLF line ends" "carriage return" "$work/crlf.tlog-proof"
sed '3s/^index /index 0/' "$work/proof.tlog-proof" >"$work/zero.tlog-proof"
malformed "index with a leading zero" "is not a decimal without leading zeroes" "$work/zero.tlog-proof"
head -c 200 "$work/proof.tlog-proof" >"$work/cut.tlog-proof"
malformed "cut short" 'the tlog-proof has no "extra" line' "$work/cut.tlog-proof"
printf 'c2sp.org/tlog-proof@v1\nextra %s\nindex 0\n\n' "$(printf '{"seq": 1}' | base64 -w0)" >"$work/row.tlog-proof"
cat "$work/proof.tlog-proof" | sed -n '/^$/,$p' | tail -n +2 >>"$work/row.tlog-proof"
malformed "a row without its fields" "has no \"chain_id\" in the tlog-proof's extra" "$work/row.tlog-proof"

# ---- log_vkey() and receipt_link() -------------------------------------------------------------
# docs/publishing.md's derivation by hand, with the key name in force (signing_key_name here).
name=$(psql -X -q -At -d "$db" -c "LOAD 'forgea_audit'" -c "SELECT current_setting('forgea_audit.signing_key_name')")
pub=$(openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32 | base64 -w0)
hash=$({ printf '%s\n\x01' "$name"; echo "$pub" | base64 -d; } | sha256sum | cut -c1-8)
by_hand="$name+$hash+$({ printf '\x01'; echo "$pub" | base64 -d; } | base64 -w0)"
check "log_vkey() is the verifier key derived by hand from the public key" "$(q "$db" "SELECT forgea_audit.log_vkey()")" "$by_hand"

link=$(q "$db" "SELECT forgea_audit.receipt_link($attempt, 'https://labs.example.edu/receipt/', 'https://labs.example.edu/log')")
check "receipt_link: the default vkey is log_vkey()" \
      "$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlsplit(sys.argv[1]).query)["vkey"][0])' "$link")" "$by_hand"
for form in json tlog-proof; do
    link=$(q "$db" "SELECT forgea_audit.receipt_link($attempt, 'https://labs.example.edu/receipt/', 'https://labs.example.edu/log', form => '$form')")
    python3 -c 'import base64, sys; f = sys.argv[1].split("#receipt=", 1)[1]; sys.stdout.buffer.write(base64.urlsafe_b64decode(f + "=" * (-len(f) % 4)))' \
        "$link" >"$work/from_link"
    out=$("$tool" --receipt "$work/from_link" --public-key "$work/pub.pem" 2>&1); rc=$?
    check "receipt_link (form $form): the fragment decodes to a receipt that verifies" "$rc $out" "0 $out_json"
done

# ---- the log's key rotated --------------------------------------------------------------------------
old_note=$(jq -r .checkpoint "$work/receipt.json")
old_id=$(sed -n '$p' <<<"$old_note" | awk '{print $3}' | base64 -d | head -c 4 | od -An -tx1 | tr -d ' \n')
openssl genpkey -algorithm ed25519 -out "$work/key2.pem" 2>/dev/null
openssl pkey -in "$work/key2.pem" -pubout -out "$work/pub2.pem" 2>/dev/null
chmod 644 "$work/pub2.pem"; chmod 600 "$work/key2.pem"
chown postgres: "$work/key2.pem" "$work/pub2.pem" 2>/dev/null || true
set_key_file "$work/key2.pem" "$work/pub2.pem"
for _ in $(seq 50); do
    [ "$(q "$db" "SELECT current_setting('forgea_audit.verify_key_file', true)")" == "$work/pub2.pem" ] && break
    sleep 0.1
done
new_note=$(q "$db" "SELECT forgea_audit.checkpoint()")
check "rotation: the next checkpoint is signed by the new key (another key id)" \
      "$(sed -n '$p' <<<"$new_note" | awk '{print $3}' | base64 -d | head -c 4 | od -An -tx1 | tr -d ' \n' | grep -vc "^$old_id\$")" "1"
out=$("$tool" --receipt "$work/receipt.json" --public-key "$work/pub2.pem" 2>&1); rc=$?
check "rotation: the old receipt with the new key alone: fails at its signature" "$rc $(grep -c 'is not signed by the given public key' <<<"$out")" "1 1"
out=$("$tool" --receipt "$work/receipt.json" --public-key "$work/pub2.pem" --public-key "$work/pub.pem" 2>&1); rc=$?
check "rotation: ... with both keys: verifies, naming the old key and its file" \
      "$rc $(grep -c "signed by key \"[^\"]*\" (key id $old_id), public key $work/pub.pem\$" <<<"$out")" "0 1"
out=$("$tool" --receipt "$work/proof.tlog-proof" --public-key "$work/pub2.pem" --public-key "$work/pub.pem" 2>&1); rc=$?
check "rotation: ... its tlog-proof too" "$rc" "0"
printf '%s\n' "$new_note" >"$work/new_note"
out=$("$tool" --note "$work/new_note" --public-key "$work/pub2.pem" --public-key "$work/pub.pem" 2>&1); rc=$?
check "rotation: the new note with both keys: verifies, naming the new key's file" "$rc $(grep -c "public key $work/pub2.pem\$" <<<"$out")" "0 1"
vc() { psql -X -A -t -v ON_ERROR_STOP=1 -d "$db" -v note="$1" <<<"SELECT CASE WHEN ok THEN 't' ELSE 'f' END || ' ' || coalesce(detail, '') FROM forgea_audit.verify_chain(checkpoint => :'note')" 2>&1; }
check "rotation: verify_chain(checkpoint => the old note) without the retired key: fails, naming the server's key" \
      "$(vc "$old_note" | grep -c '^f .*is not signed by this server.s key')" "1"
set_retired "$work/pub.pem"
check "rotation: ... with forgea_audit.retired_verify_key_files naming the old key: holds" "$(vc "$old_note" | cut -c1-2)" "t "
check "rotation: ... and the new note holds" "$(vc "$new_note" | cut -c1-2)" "t "
check "rotation: an altered old note still fails (the retired key's signature does not verify)" \
      "$(vc "$(sed '2s/.*/1/' <<<"$old_note")" | grep -c '^f .*does not verify')" "1"
p_old=$(openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32 | base64 -w0)
h_old=$({ printf '%s\n\x01' "$name"; echo "$p_old" | base64 -d; } | sha256sum | cut -c1-8)
vk_old="$name+$h_old+$({ printf '\x01'; echo "$p_old" | base64 -d; } | base64 -w0)"
check "rotation: log_vkeys() is the new key's vkey, then the retired one's" \
      "$(q "$db" "SELECT array_to_string(forgea_audit.log_vkeys(), ' ')")" "$(q "$db" "SELECT forgea_audit.log_vkey()") $vk_old"
link=$(q "$db" "SELECT forgea_audit.receipt_link($attempt, 'https://labs.example.edu/receipt/', 'https://labs.example.edu/log')")
check "rotation: receipt_link() passes both keys, the current one first" \
      "$(python3 -c 'import sys, urllib.parse as u; print(" ".join(u.parse_qs(u.urlsplit(sys.argv[1]).query)["vkey"]))' "$link")" \
      "$(q "$db" "SELECT array_to_string(forgea_audit.log_vkeys(), ' ')")"
set_retired "$work/missing.pem,$work/pub.pem"
check "rotation: a missing retired key file: an error naming the setting" \
      "$(vc "$old_note" | grep -c 'retired_verify_key_files must name')" "1"
set_retired ""

if [ "$failures" -gt 0 ]; then
    echo "receipt_tlog_proof: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "receipt_tlog_proof: ok: the tlog-proof verifies offline, every alteration is refused, the link carries a receipt that verifies"
