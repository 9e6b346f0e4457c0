#!/usr/bin/env bash
# The receipt page (web/receipt/, docs/receipts.md) in real components: receipts from
# forgea_audit.receipt() and receipt_tlog_proof(), links from receipt_link(), a log published by
# tools/forgea_audit_publish with two tools/forgea_audit_witness processes cosigning (quorum 2), served by nginx (examples/publish/nginx.conf's block, CORS and cache
# headers), the page served by a second nginx server (another origin), opened in Debian's headless
# Chromium driven by puppeteer-core (test/receipt_page/, npm ci from its lockfile):
#   - web/receipt/verify.js agrees with tools/forgea_audit_verify --receipt on the same receipts:
#     every receipt of the pushes of every GitHub fixture, each row field altered, and one in
#     every 5 bytes of a receipt changed: the same exit and the same line;
#   - its canonical JSON equals forgea_audit.canonical_json() for every fixture payload (as GitHub
#     sent it), every row's metadata, and numbers, escapes and keys chosen to differ;
#   - the receipts carry their checkpoint as published, with both witnesses' cosignatures, byte
#     for byte; forgea_audit_verify --witness checks them (and names a witness that did not cosign);
#   - in Chromium: a valid receipt verifies, in both forms (receipt() JSON and c2sp.org/tlog-proof@v1),
#     today's checkpoint cosigned by the witnesses; every field of the row altered, the attempt, the row_hash, the leaf
#     index, the proof, the tree size, the checkpoint, another log's key, a witness that did not
#     cosign, a log rewritten since (a checkpoint over another root, signed with the log's key),
#     each fail (data-status=failed, data-check naming the check); an unreachable log and a
#     malformed receipt are errors;
#   - the log has 3 tile levels (more than 65536 leaves): the verdict takes at most 12 requests
#     beyond the page's own files and reads tiles of all three levels; after the log grew and was
#     published again, the old receipts still verify;
#   - the log's key rotated (docs/witnesses.md): the old receipt, today's checkpoint signed by the
#     new key, verifies with both vkeys (receipt_link() passes them, from log_vkeys()), the verdict
#     naming each checkpoint's key; with the new key alone it fails at the receipt's signature, with
#     the old alone at today's;
#   - no request leaves for any host but the page's and the log's (every request intercepted).
set -uo pipefail

db=$PGDATABASE
root=${FA_ROOT:-$PWD}
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
out="$work/srv/audit"
origin="labs.example.edu/receipts-$$"
nginx_pid=""; w1_pid=""; w2_pid=""
settings_set=0
reset_settings() {
    psql -X -q -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM RESET forgea_audit.signing_key_file" \
         -c "ALTER SYSTEM RESET forgea_audit.verify_key_file" -c "ALTER SYSTEM RESET forgea_audit.log_origin" \
         -c "ALTER SYSTEM RESET forgea_audit.retired_verify_key_files" \
         -c "SELECT pg_reload_conf()" >/dev/null
}
cleanup() {
    for p in "$nginx_pid" "$w1_pid" "$w2_pid"; do [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    [ "$settings_set" -eq 1 ] && reset_settings 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
. test/lib/checks.sh

make -s tools >"$work/make.log" 2>&1 || { cat "$work/make.log"; echo "receipt_page: FAIL: make tools" >&2; exit 1; }
( cd test/receipt_page && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1 ) \
    || { cat "$work/npm.log" >&2; echo "receipt_page: FAIL: npm ci" >&2; exit 1; }
cli() { node test/receipt_page/cli.mjs "$@"; }
uri() { jq -rn --arg v "$1" '$v | @uri'; }

echo "# ${SECONDS}s"
# ---- keys, origin ------------------------------------------------------------------------------------
for k in key key2 other w1 w2 w3; do
    openssl genpkey -algorithm ed25519 -out "$work/$k.pem" 2>/dev/null
    openssl pkey -in "$work/$k.pem" -pubout -out "$work/$k.pub.pem" 2>/dev/null
done
chmod 600 "$work/key.pem" "$work/key2.pem"; chmod 644 "$work/key.pub.pem" "$work/key2.pub.pem"
chown postgres: "$work/key.pem" "$work/key.pub.pem" "$work/key2.pem" "$work/key2.pub.pem" 2>/dev/null || true
settings_set=1
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" \
     -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$work/key.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.verify_key_file = '$work/key.pub.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.log_origin = '$origin'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 100); do
    [ "$(q "$db" "SELECT current_setting('forgea_audit.log_origin', true)")" == "$origin" ] && break
    sleep 0.1
done
vkey=$(q "$db" "SELECT forgea_audit.log_vkey()")
vkey2=$(cli vkey "$origin" 1 "$work/key2.pub.pem")   # the key the log rotates to, below
other_vkey=$(cli vkey "$origin" 1 "$work/other.pub.pem")
witness=tools/forgea_audit_witness
w1=$("$witness" --name witness-one.example/w --key "$work/w1.pem" --print-vkey)
w2=$("$witness" --name witness-two.example/w --key "$work/w2.pem" --print-vkey)
w3=$("$witness" --name witness-three.example/w --key "$work/w3.pem" --print-vkey)
check "keys: log_vkey() is the log's key as cli.mjs derives it" "$vkey" "$(cli vkey "$origin" 1 "$work/key.pub.pem")"

# ---- two witnesses, trusting the log's key and the one it rotates to ---------------------------------
port=${FA_RECEIPT_PORT:-6910}; lport=$((port + 1)); dead=$((port + 2)); wport1=$((port + 3)); wport2=$((port + 4))
start_witness() {  # n name port
    tied "$witness" --name "$2" --key "$work/w$1.pem" --state "$work/w$1.state" --log "$vkey" --log "$vkey2" \
        --listen "127.0.0.1:$3" --init 2>>"$work/w$1.log" &
    printf -v "w${1}_pid" '%s' "$!"
}
start_witness 1 witness-one.example/w "$wport1"
start_witness 2 witness-two.example/w "$wport2"
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$wport1/" && curl -s -o /dev/null "http://127.0.0.1:$wport2/" && break
    sleep 0.1
done
publish() {  # the publisher, both witnesses cosigning (quorum 2)
    tools/forgea_audit_publish --out "$out" --witness "$w1=http://127.0.0.1:$wport1" --witness "$w2=http://127.0.0.1:$wport2" \
        --quorum 2 >"$work/publish.log" 2>&1 || { cat "$work/publish.log"; return 1; }
}
mkdir -p "$work/srv"

echo "# ${SECONDS}s"
# ---- a push from every fixture, a checkpoint, their receipts ------------------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
CREATE TABLE public.rp_fixture AS
SELECT row_number() OVER (ORDER BY name) AS i, name,
       jsonb_set(jsonb_set(payload, '{repository,html_url}', to_jsonb('https://github.com/rcpt/lab-' || name)),
                 '{repository,full_name}', to_jsonb('rcpt/lab-' || name)) AS payload
FROM public.fixture_push WHERE payload ? 'after' AND payload->'repository' ? 'html_url';
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
SELECT 'rs-' || i, 'u-' || i, 'lab', 'https://github.com/rcpt/lab-' || name, 'STUCK', now() FROM public.rp_fixture;
CREATE TABLE public.rp_push AS
SELECT f.i, r.* FROM public.rp_fixture f,
     LATERAL forgea_audit.record_push(f.payload, format('00000000-0000-4000-8000-%s', lpad(f.i::text, 12, '0'))) r;
SELECT forgea_audit.append('RP_ROW', metadata => jsonb_build_object('n', 1.50, 'e', 1e3, 's', E'tab\tquote" é ✓ \u0001'),
                           chain => 'rp:a');
SELECT forgea_audit.checkpoint();
SQL
attempts=$(q "$db" "SELECT string_agg(attempt_id::text, ' ' ORDER BY i) FROM public.rp_push WHERE status = 'recorded'")
check "fixtures: a recorded push for each fixture" "$(q "$db" "SELECT count(*) = count(*) FILTER (WHERE status = 'recorded') AND count(*) >= 5 FROM public.rp_push")" "t"
# Published at once, cosigned: the receipts carry their checkpoint as published.
publish; check "publish: the fixtures' checkpoint, cosigned by both witnesses" "$? $(grep -c $'^\u2014 witness-' "$out/checkpoint")" "0 2"
mkdir -p "$work/r"
for a in $attempts; do q "$db" "SELECT forgea_audit.receipt($a)" >"$work/r/$a.json"; done
first=${attempts%% *}
q "$db" "SELECT forgea_audit.receipt_tlog_proof($first)" >"$work/first.tlog-proof"
check "receipts: receipt()'s checkpoint is the one published, cosignatures and all, byte for byte" \
      "$(jq -r .checkpoint "$work/r/$first.json")" "$(cat "$out/checkpoint")"
check "receipts: ... and the tlog-proof's" "$(sed -n '/^$/,$p' "$work/first.tlog-proof" | tail -n +2)" "$(cat "$out/checkpoint")"
for f in "$work/r/$first.json" "$work/first.tlog-proof"; do
    line=$(tools/forgea_audit_verify --receipt "$f" --public-key "$work/key.pub.pem" --key-name "$origin" --witness "$w1" --witness "$w2" 2>&1); rc=$?
    check "forgea_audit_verify --witness: ${f##*.} form, both witnesses' cosignatures verify" \
          "$rc $(grep -c 'cosigned by witness "witness-one.example/w" at [0-9]*; cosigned by witness "witness-two.example/w" at [0-9]*$' <<<"$line")" "0 1"
done
line=$(tools/forgea_audit_verify --receipt "$work/first.tlog-proof" --public-key "$work/key.pub.pem" --key-name "$origin" --witness "$w3" 2>&1); rc=$?
check "forgea_audit_verify --witness: a witness that did not cosign: failed, naming it" "$rc $(grep -c 'no cosignature by witness "witness-three.example/w"' <<<"$line")" "1 1"

echo "# ${SECONDS}s"
# ---- verify.js and forgea_audit_verify agree, receipt by receipt ----------------------------------------
mkdir -p "$work/agree"
cp "$work"/r/*.json "$work/agree/"
fields="seq chain_id chain_pos prev_hash hash_version created_at_us tenant_id user_id actor_type actor_id action target_type target_id outcome severity metadata proof correlation_id parent_seq"
alter_row() {  # field receipt -> the receipt with that row field altered, keeping its JSON type
    case $1 in
        prev_hash) jq -c '.row.prev_hash |= ((if .[0:1] == "0" then "1" else "0" end) + .[1:])' "$2" ;;
        metadata) jq -c '.row.metadata |= (fromjson | .commit_sha = ("f" * 40) | tojson)' "$2" ;;
        parent_seq|proof|tenant_id|user_id|correlation_id)
            jq -c --arg f "$1" '.row[$f] |= (if . == null then (if $f == "parent_seq" then 1 elif $f == "proof" then "{}" else "x" end)
                                             elif type == "number" then . + 1 else . + "x" end)' "$2" ;;
        *) jq -c --arg f "$1" '.row[$f] |= (if type == "number" then . + 1 else . + "x" end)' "$2" ;;
    esac
}
for f in $fields; do alter_row "$f" "$work/r/$first.json" >"$work/agree/row-$f.json"; done
jq -c '.attempt_id += 1' "$work/r/$first.json" >"$work/agree/attempt.json"
jq -c '.attempt_id = null' "$work/r/$first.json" >"$work/agree/attempt-null.json"
jq -c '.leaf_index += 1' "$work/r/$first.json" >"$work/agree/leaf.json"
jq -c '.tree_size += 1' "$work/r/$first.json" >"$work/agree/size.json"
jq -c '.inclusion_proof[0] |= ((if .[0:1] == "0" then "1" else "0" end) + .[1:])' "$work/r/$first.json" >"$work/agree/proof.json"
jq -c '.row_hash |= ((if .[0:1] == "0" then "1" else "0" end) + .[1:])' "$work/r/$first.json" >"$work/agree/rowhash.json"
len=$(stat -c %s "$work/r/$first.json")
python3 - "$work/r/$first.json" "$work/agree" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
for b in range(0, len(d), 5):
    m = bytearray(d); m[b] ^= 0x01
    open(f'{sys.argv[2]}/byte-{b}.json', 'wb').write(m)
PY
files=$(ls "$work/agree"/*.json)
for f in $files; do
    line=$(tools/forgea_audit_verify --receipt "$f" --public-key "$work/key.pub.pem" --key-name "$origin" 2>&1); rc=$?
    echo "exit $rc ${line%, public key $work/key.pub.pem}"
done >"$work/agree.tool"
cli check "$vkey" $files >"$work/agree.js"
check "agree: verify.js and forgea_audit_verify, same exit and line on $(wc -l <"$work/agree.tool") receipts" \
      "$(diff "$work/agree.tool" "$work/agree.js" | head -20)" ""
check "agree: the set covers ok, failed and bad input" "$(cut -d' ' -f2 "$work/agree.tool" | sort -u | tr '\n' ' ')" "0 1 2 "
check "agree: each altered row field fails the row hash" \
      "$(paste -d' ' <(tr ' ' '\n' <<<"$files") "$work/agree.js" | grep -c "/row-[a-z_]*.json exit 1 FAIL first_bad_seq=[0-9]*: the row's")" "19"
check "agree: a receipt of an attempt's row with attempt_id null fails (receipt() always names it)" \
      "$(paste -d' ' <(tr ' ' '\n' <<<"$files") "$work/agree.js" | grep -c "/attempt-null.json exit 1 FAIL first_bad_seq=[0-9]*: the receipt's row is attempt $first's LAB_VERIFY_ATTEMPT row, but its attempt_id is null")" "1"
# (A byte changed in a witness's cosignature line may change nothing: without --witness only the
# log's signature is checked, and a line of an unknown name is skipped, as C2SP signed-note says.)
check "agree: receipts of the checkpoint of the fixtures' pushes verify" \
      "$(paste -d' ' <(tr ' ' '\n' <<<"$files") "$work/agree.tool" | grep -Ec '/agree/[0-9]+\.json exit 0 ok: audit row')" "$(wc -w <<<"$attempts")"

# With several keys of the log (after a rotation): the same verdicts, naming the key that signed.
for keys in "key2 key" "key2 other"; do
    set -- $keys
    for f in "$work/r/$first.json" "$work/agree/proof.json"; do
        line=$(tools/forgea_audit_verify --receipt "$f" --public-key "$work/$1.pub.pem" --public-key "$work/$2.pub.pem" --key-name "$origin" 2>&1)
        echo "exit $? ${line%, public key $work/*.pub.pem}"
    done
done >"$work/agree2.tool"
{ cli check "$vkey2,$vkey" "$work/r/$first.json" "$work/agree/proof.json"; cli check "$vkey2,$other_vkey" "$work/r/$first.json" "$work/agree/proof.json"; } >"$work/agree2.js"
check "agree: with two keys, the same exit and line (signed by the second; by neither)" "$(diff "$work/agree2.tool" "$work/agree2.js")" ""
check "agree: ... by neither: named as not signed by any of the given keys" "$(grep -c 'not signed by any of the given public keys' "$work/agree2.js")" "2"

echo "# ${SECONDS}s"
# ---- the fetch bound at 10 M leaves: verifyAll over a synthetic log (every entry the same row hash,
# so any tile is computed on demand; cli.mjs synth counts each fetch) --------------------------------
for nm in "10000000 1" "10000000 257" "10000000 65537" "10000000 5000001" "10000000 9999999" "9999999 4999999"; do
    set -- $nm
    r=$(cli synth "$1" "$2")
    read -r fetches tiles levels status _ <<<"$r"
    check "10 M: a receipt at size $2, today $1: verified with $fetches <= 12 fetches, tiles of 3 levels" \
          "$status $(( fetches <= 12 )) $levels" "verified 1 3"
done

echo "# ${SECONDS}s"
# ---- canonical JSON: verify.js against canonical_json() --------------------------------------------------
{
    psql -X -q -A -t -d "$db" -c "SELECT translate(encode(convert_to(body, 'UTF8'), 'base64'), E'\n', '') FROM public.fixture_push ORDER BY name"
    psql -X -q -A -t -d "$db" -c "SELECT translate(encode(convert_to(metadata::text, 'UTF8'), 'base64'), E'\n', '') FROM forgea_audit.audit_log ORDER BY seq"
    for t in '1e3' '1.50' '-0' '-0.0' '0.000' '1E-3' '123.456e2' '1e-10' '-12.34E+3' '0.1e1' '100e-2' '5e0' '1e40' '12345678901234567890.123' \
             '0.0e5' '7E+0' '-1.2e-1' '[1e2, -0.5E1, 10.0e-1]' '"\u00e9\ud83d\ude00\/\u007f\u001f\u0008"' '"a\"b\\\\c\nd\te\rf\f"' \
             '{"é":1,"z":2,"aa":3,"":0,"ä":4,"b":{"y":[],"x":{}}}' '{"ab":1,"b":2,"a":3,"aaa":4,"ba":5}' 'null' 'true' '[false,null,"",{}]' \
             '{"k": 1.000e1, "k2": -0.00e-2, "k3": 9e-3}'; do
        printf '%s' "$t" | base64 -w0; echo
    done
} >"$work/json.b64"
psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" >"$work/canon.sql" <<SQL
CREATE TEMP TABLE rp_json (n serial, b text);
\\copy rp_json (b) FROM '$work/json.b64'
SELECT translate(encode(convert_to(forgea_audit.canonical_json(convert_from(decode(b, 'base64'), 'UTF8')::jsonb), 'UTF8'), 'base64'), E'\\n', '')
FROM rp_json ORDER BY n;
SQL
cli canonical <"$work/json.b64" >"$work/canon.js"
check "canonical: verify.js writes canonical_json()'s bytes for $(wc -l <"$work/json.b64") values (fixture payloads, every row's metadata, numbers, escapes, keys)" \
      "$(diff "$work/canon.sql" "$work/canon.js" | head -6)" ""

echo "# ${SECONDS}s"
# ---- a log of more than 65536 leaves (3 tile levels), published, served by nginx ---------------------------
# In statements of 2000 rows: one statement of all of them updates each chain head a thousand times
# in one transaction, and every append walks the versions it left.
for _ in $(seq 33); do echo "SELECT count(forgea_audit.append('RP_BULK', chain => 'rp:' || (i % 64))) FROM generate_series(1, 2000) i;"; done \
    | psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
publish; check "publish: the log of $(sed -n 2p "$out/checkpoint") leaves, 3 tile levels, cosigned" \
                "$? $(ls "$out/tile" | sort | tr '\n' ' ')$(grep -c $'^\u2014 witness-' "$out/checkpoint")" "0 0 1 2 entries 2"
size1=$(sed -n 2p "$out/checkpoint")

# A log rewritten since: today's checkpoint over another root, signed with the log's own key,
# served beside the real one (/forked/) over the same tiles.
mkdir -p "$work/srv/forked"
cp -a "$out/tile" "$work/srv/forked/"
fake_root=$(sed -n 3p "$out/checkpoint" | base64 -d | LC_ALL=C tr '\000-\377' '\001-\377\000' | base64 -w0)
printf '%s\n%s\n%s\n' "$origin" "$size1" "$fake_root" | cli sign "$work/key.pem" "$origin" >"$work/srv/forked/checkpoint"

mkdir -p "$work/nginx"
{
    echo "daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;"
    echo "events {}"
    echo "http { include /etc/nginx/mime.types; access_log $work/nginx/access.log;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "${t}_temp_path $work/nginx/$t;"; done
    # The page, as any static server serves it.
    echo "server { listen 127.0.0.1:$port; root $root/web; }"
    # The log: the example's server block as it is, but for the address and the root.
    sed -e "s|listen 80;|listen 127.0.0.1:$lport;|" -e "s|root /srv/forgea-audit;|root $work/srv;|" \
        -e "s|location /audit/ {|location /forked/ { add_header Access-Control-Allow-Origin \"*\" always; }\n    location /audit/ {|" examples/publish/nginx.conf
    echo "}"
} >"$work/nginx/nginx.conf"
nginx -t -q -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>"$work/nginx/t.log" || cat "$work/nginx/t.log"
tied nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>>"$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$lport/audit/checkpoint" && curl -s -o /dev/null "http://127.0.0.1:$port/receipt/index.html" && break; sleep 0.1; done
log="http://127.0.0.1:$lport/audit"
page="http://127.0.0.1:$port/receipt/index.html"
check "nginx: serves the page's script as JavaScript" "$(curl -s -o /dev/null -w '%{content_type}' "$page/../verify.js")" "application/javascript"

# The links of unaltered receipts as the platform makes them: receipt_link().  Altered receipts
# go in the fragment of receipt_link()'s own query.
rlink() {  # attempt [sql arguments after page and log]
    q "$db" "SELECT forgea_audit.receipt_link($1, '$page', '${3:-$log}'${2:+, $2})"
}
# receipt_link()'s query with another receipt in its fragment: link FILE [sql arguments] [log].
# (The query without arguments, made once: the altered receipts all use it.)
link() {
    local base
    if [ -z "${2:-}${3:-}" ]; then
        base=$plain_link
    else
        base=$(rlink "$first" "${2:-}" "${3:-}")
    fi
    printf '%s#receipt=%s' "${base%%#*}" "$(basenc --base64url -w0 <"$1" | tr -d =)"
}
wl() { printf "witnesses => ARRAY[%s]" "$(for x in "$@"; do printf "'%s'," "$x"; done | sed 's/,$//')"; }
plain_link=$(rlink "$first")   # before the rotation below; link() with no arguments uses it
printf 'not base64 at all!' >"$work/garbage"
# docs/receipts.md's block that makes the link, as it is.
. test/lib/doc_blocks.sh
doc_blocks docs/receipts.md receipts | grep -v '^-- end of block' >"$work/doc_link.sh"
check "docs/receipts.md has its link block" "$(grep -c 'forgea_audit.receipt' "$work/doc_link.sh")" "1"
doc_link=$(attempt=$first log=$log vkey=$vkey page=$page PGDATABASE=$db bash -e "$work/doc_link.sh")

{
    printf 'valid\t%s\n' "$(rlink "$first" "$(wl "$w1" "$w2")")"
    printf 'valid-no-witness\t%s\n' "$(rlink "$first")"
    printf 'tlog-proof\t%s\n' "$(rlink "$first" "$(wl "$w1"), form => 'tlog-proof'")"
    for a in $attempts; do printf 'valid-%s\t%s\n' "$a" "$(rlink "$a" "$(wl "$w2")")"; done
    for f in $fields; do printf 'row-%s\t%s\n' "$f" "$(link "$work/agree/row-$f.json")"; done
    for c in attempt leaf size proof rowhash; do printf '%s\t%s\n' "$c" "$(link "$work/agree/$c.json")"; done
    printf 'checkpoint\t%s\n' "$(link <(jq -c '.checkpoint |= sub("\n(?<n>[0-9]+)\n"; "\n\(.n | tonumber + 1)\n")' "$work/r/$first.json"))"
    printf 'other-key\t%s\n' "$(rlink "$first" "'$other_vkey'")"
    printf 'witness-not-cosigned\t%s\n' "$(rlink "$first" "$(wl "$w1" "$w3")")"
    printf 'forked\t%s\n' "$(rlink "$first" "" "http://127.0.0.1:$lport/forked")"
    printf 'unreachable\t%s\n' "$(rlink "$first" "" "http://127.0.0.1:$dead/audit")"
    printf 'doc-link\t%s\n' "$doc_link"
    printf 'malformed\t%s?log=%s&vkey=%s#receipt=%s\n' "$page" "$(uri "$log")" "$(uri "$vkey")" "$(basenc --base64url -w0 <"$work/garbage")"
} >"$work/cases1.tsv"
node test/receipt_page/page.mjs "$work/cases1.tsv" "127.0.0.1:$port,127.0.0.1:$lport,127.0.0.1:$dead" >"$work/page1.tsv" 2>"$work/page1.err" \
    || cat "$work/page1.err"
res() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$3"; }
st() { echo "$(res "$1" 2 "$2") $(res "$1" 3 "$2")"; }
p1="$work/page1.tsv"
check "page: a valid receipt verifies, cosigned by both witnesses" "$(st valid "$p1")" "verified all"
check "page: ... in plain words" "$(res valid 8 "$p1" | sed -E 's/at [0-9a-f]{40}/at <commit>/; s/recorded at [^,]*, entry [0-9]+/recorded at <t>, entry <n>/; s/log of [^w]* with [0-9]+ entries/log of <today> with <m> entries/')" \
      "Your push to https://github.com/rcpt/lab-$(q "$db" "SELECT name FROM public.rp_fixture f JOIN public.rp_push p USING (i) WHERE p.attempt_id = $first") at <commit> was recorded at <t>, entry <n> of the log; the log of <today> with <m> entries still contains it, cosigned by witness-one.example/w, witness-two.example/w."
check "page: ... naming the entry and today's size" "$(res valid 8 "$p1" | grep -o "entry [0-9]* of the log; the log of .* with [0-9]* entries" | sed -E 's/of the log; the log of .* with/with/')" \
      "entry $(jq .leaf_index "$work/r/$first.json") with $size1 entries"
check "page: without witnesses it verifies and says no one else vouches" "$(st valid-no-witness "$p1") $(res valid-no-witness 8 "$p1" | grep -c 'no witness was named')" "verified all 1"
check "page: the link docs/receipts.md makes verifies" "$(st doc-link "$p1")" "verified all"
check "page: the tlog-proof@v1 form verifies" "$(st tlog-proof "$p1")" "verified all"
for a in $attempts; do check "page: the receipt of attempt $a verifies" "$(st "valid-$a" "$p1")" "verified all"; done
for f in $fields; do check "page: row field $f altered: failed at the row hash" "$(st "row-$f" "$p1")" "failed row-hash"; done
check "page: another attempt named: failed" "$(st attempt "$p1")" "failed attempt"
check "page: the leaf index altered: failed at the inclusion proof" "$(st leaf "$p1")" "failed inclusion"
check "page: the tree size altered: failed" "$(st size "$p1")" "failed tree-size"
check "page: a proof hash altered: failed at the inclusion proof" "$(st proof "$p1")" "failed inclusion"
check "page: the row_hash altered: failed" "$(st rowhash "$p1")" "failed row-hash"
check "page: the checkpoint altered: failed at its signature" "$(st checkpoint "$p1") $(res checkpoint 8 "$p1" | grep -c 'does not verify')" "failed receipt-signature 1"
check "page: another log's key: failed at the signature" "$(st other-key "$p1") $(res other-key 8 "$p1" | grep -c 'not signed by the given public key')" "failed receipt-signature 1"
check "page: a witness that did not cosign: failed, naming it" "$(st witness-not-cosigned "$p1") $(res witness-not-cosigned 8 "$p1" | grep -c 'witness-three.example/w')" "failed witness 1"
check "page: a log rewritten since (another root, the log's key): failed at the consistency proof" "$(st forked "$p1")" "failed consistency"
check "page: an unreachable log is an error" "$(st unreachable "$p1") $(res unreachable 8 "$p1" | grep -c 'unreachable')" "error fetch 1"
check "page: a malformed receipt is an error" "$(st malformed "$p1")" "error receipt"
check "page: no request to any other host, in any case" "$(cut -f6 "$p1" | sort -u | tr '\n' ' ')" "- "
paths=$(res valid 5 "$p1")
check "page: at most 12 requests beyond its own files at 3 tile levels (it made $(res valid 4 "$p1"))" "$(( $(res valid 4 "$p1") <= 12 ))" "1"
echo "# valid: $(res valid 4 "$p1") requests ($paths), $(res valid 7 "$p1") ms"
check "page: every case ended (no page error, no timeout)" "$(grep -c -e 'page errors' -e $'\ttimeout\t' "$p1")" "0"

echo "# ${SECONDS}s"
# ---- the log grows and is published again: the old receipts still verify ----------------------------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
SELECT count(forgea_audit.append('RP_LATER', metadata => jsonb_build_object('j', j), chain => 'rp:later')) FROM generate_series(1, 3000) j;
SELECT forgea_audit.checkpoint();
SQL
last=${attempts##* }
q "$db" "SELECT forgea_audit.receipt($last)" >"$work/r/late.json"   # now of the checkpoint of the grown tree
q "$db" "SELECT count(forgea_audit.append('RP_LATER', chain => 'rp:later2')) FROM generate_series(1, 700)" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
publish; check "grow: published again" "$? $(( $(sed -n 2p "$out/checkpoint") > size1 ))" "0 1"

# ---- the log's key rotated (docs/witnesses.md): the witnesses trust both keys, the server signs with
# the new one and still accepts notes of the old one; the old receipt needs both vkeys ------------
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" \
     -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$work/key2.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.verify_key_file = '$work/key2.pub.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.retired_verify_key_files = '$work/key.pub.pem'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 100); do
    [ "$(q "$db" "SELECT current_setting('forgea_audit.retired_verify_key_files', true)")" == "$work/key.pub.pem" ] && break
    sleep 0.1
done
check "rotate: log_vkeys() is the new key, then the old one" "$(q "$db" "SELECT array_to_string(forgea_audit.log_vkeys(), ' ')")" "$vkey2 $vkey"
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
old_id=$(cut -d+ -f2 <<<"$vkey"); new_id=$(cut -d+ -f2 <<<"$vkey2")
publish; check "rotate: today's checkpoint, signed by the new key, published cosigned by both witnesses" \
               "$? $(grep "^— $origin " "$out/checkpoint" | awk '{print $3}' | base64 -d | head -c 4 | od -An -tx1 | tr -d ' \n') $(grep -c $'^\u2014 witness-' "$out/checkpoint")" "0 $new_id 2"
{
    printf 'old\t%s\n' "$(link "$work/r/$first.json" "$(wl "$w1" "$w2")")"
    printf 'old-tlog-proof\t%s\n' "$(link "$work/first.tlog-proof" "$(wl "$w2")")"
    printf 'late\t%s\n' "$(link "$work/r/late.json" "$(wl "$w1")")"
    printf 'rot-new-only\t%s\n' "$(link "$work/r/$first.json" "'$vkey2'")"
    printf 'rot-old-only\t%s\n' "$(link "$work/r/$first.json" "'$vkey'")"
    printf 'rot-new\t%s\n' "$(rlink "$first" "$(wl "$w1")")"
} >"$work/cases2.tsv"
node test/receipt_page/page.mjs "$work/cases2.tsv" "127.0.0.1:$port,127.0.0.1:$lport" >"$work/page2.tsv" 2>"$work/page2.err" || cat "$work/page2.err"
p2="$work/page2.tsv"
check "grow: the old receipt still verifies against the grown log (with both keys)" "$(st old "$p2") $(res old 8 "$p2" | grep -c "with $(sed -n 2p "$out/checkpoint") entries still contains it")" "verified all 1"
check "rotate: ... the verdict names each checkpoint's key" \
      "$(res old 8 "$p2" | grep -c "Your receipt's checkpoint is signed by the log's key $old_id, today's by its key $new_id")" "1"
check "rotate: the old receipt with the new key alone: failed at the receipt's signature" \
      "$(st rot-new-only "$p2") $(res rot-new-only 8 "$p2" | grep -c "not signed by the given public key")" "failed receipt-signature 1"
check "rotate: ... with the old key alone: failed at today's signature" "$(st rot-old-only "$p2")" "failed today-signature"
check "rotate: a receipt made after the rotation verifies (both checkpoints by the new key)" \
      "$(st rot-new "$p2") $(res rot-new 8 "$p2" | grep -c "Both checkpoints are signed by the log's key $new_id")" "verified all 1"
check "grow: ... in its tlog-proof form too" "$(st old-tlog-proof "$p2")" "verified all"
check "grow: a receipt of a later checkpoint verifies" "$(st late "$p2")" "verified all"
check "grow: no request to any other host" "$(cut -f6 "$p2" | sort -u | tr '\n' ' ')" "- "
check "grow: at most 12 requests each" "$(awk -F'\t' '$4 > 12' "$p2" | wc -l)" "0"
# The late receipt's tree (more than 65536 leaves) to today's: the proof needs the subtree of the
# first 65536 leaves, a hash of the level-2 tile.
check "grow: the late receipt's proof reads the checkpoint and tiles of levels 0, 1 and 2, nothing else" \
      "$(res late 5 "$p2" | tr ' ' '\n' | sed -E 's|^/audit/||; s|^tile/([0-9]+)/.*|tile \1|' | sort -u | tr '\n' ' ')" "checkpoint tile 0 tile 1 tile 2 "
echo "# late: $(res late 4 "$p2") requests ($(res late 5 "$p2")), $(res late 7 "$p2") ms"

[ "$failures" -eq 0 ] || { echo "receipt_page: $failures failure(s)" >&2; exit 1; }
echo "receipt_page: ok"
