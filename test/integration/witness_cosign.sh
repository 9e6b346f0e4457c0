#!/usr/bin/env bash
# Witnesses, both sides of C2SP tlog-witness (docs/witnesses.md): tools/forgea_audit_publish with
# --witness/--quorum against two tools/forgea_audit_witness processes, checked from outside:
#   - two witnesses, quorum 2: the published checkpoint is the stored note byte for byte followed
#     by one cosignature/v1 line per witness, each verified here by Python's `cryptography` (not
#     our code) with the witness's vkey; the publication is recorded (published_checkpoint, health:
#     published_age_seconds no longer NULL, 2 cosignatures, quorum not missed);
#   - a witness restarted between checkpoints keeps its state: asked from size 0 it answers 409
#     with the size it cosigned, and the next checkpoint is cosigned from there; a witness whose
#     state file is missing refuses to start without --init; the publisher that lost its record
#     of the witnesses' sizes recovers through their 409s;
#   - HTTPS: witness 1 behind nginx with TLS (docs/witnesses.md's location block): refused while its
#     certificate is not trusted, cosigns with --witness-cacert;
#   - a forked log (a second database of the cluster: same origin and key, other rows) is refused
#     by both witnesses (422: its tree of the cosigned size is not theirs), not published (exit 3,
#     no checkpoint in its directory), and the refusal is recorded in its database; the fork
#     published into the real directory is refused by the publisher itself;
#   - a witness that is down: quorum 2 not met, exit 3, the previous checkpoint stays published,
#     health says publish_quorum_missed and the message names each witness's answer; quorum 1
#     publishes with one cosignature;
#   - the witness under bad clients: a client that sends half a request and stalls does not keep
#     another client from being answered, and is cut off after --timeout (408); garbage gets 400,
#     an oversized body 413, GET 405, a wrong path 404, an unknown origin 404, a key it does not
#     trust 403, an old size above the checkpoint's 400; it is still serving afterwards.
#   - record_publication() refuses a note that is not a stored checkpoint (another root, another
#     signature, junk after it) and a published row below its quorum.
set -uo pipefail

db=$PGDATABASE
fork_db="${db}_fork"
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
out="$work/log"
origin="labs.example.edu/audit-w$$"
port1=${FA_WITNESS_PORT:-8620}
port2=$((port1 + 1))
port_tls=$((port1 + 2))
w1_pid=""; w2_pid=""; nginx_pid=""
settings_set=0
reset_settings() {
    psql -X -q -d "$db" -c "LOAD 'forgea_audit'" -c "ALTER SYSTEM RESET forgea_audit.signing_key_file" \
         -c "ALTER SYSTEM RESET forgea_audit.verify_key_file" -c "ALTER SYSTEM RESET forgea_audit.log_origin" \
         -c "SELECT pg_reload_conf()" >/dev/null
}
stop_witness() {  # pid variable name
    local pid=${!1}
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
    printf -v "$1" '%s' ""
}
cleanup() {
    stop_witness w1_pid; stop_witness w2_pid; stop_witness nginx_pid
    [ "$settings_set" -eq 1 ] && reset_settings 2>/dev/null
    dropdb --if-exists "$fork_db" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
. test/lib/checks.sh

make -s tools >"$work/make.log" 2>&1 || { cat "$work/make.log"; echo "witness_cosign: FAIL: make tools" >&2; exit 1; }
publish=tools/forgea_audit_publish
witness=tools/forgea_audit_witness

wait_setting() {  # name value
    for _ in $(seq 100); do
        [ "$(q "$db" "SELECT current_setting('$1', true)")" == "$2" ] && return 0
        sleep 0.1
    done
    echo "# $1 did not become '$2'"
}

# ---- the log: its key and origin ----------------------------------------------------------------
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
chmod 600 "$work/key.pem"; chmod 644 "$work/pub.pem"
chown postgres: "$work/key.pem" "$work/pub.pem" 2>/dev/null || true
settings_set=1
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "LOAD 'forgea_audit'" \
     -c "ALTER SYSTEM SET forgea_audit.signing_key_file = '$work/key.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.verify_key_file = '$work/pub.pem'" \
     -c "ALTER SYSTEM SET forgea_audit.log_origin = '$origin'" -c "SELECT pg_reload_conf()" >/dev/null
wait_setting forgea_audit.log_origin "$origin"
raw() { openssl pkey -pubin -in "$1" -outform DER | tail -c 32; }
keyhash=$({ printf '%s\n\x01' "$origin"; raw "$work/pub.pem"; } | sha256sum | cut -c1-8)
log_vkey="$origin+$keyhash+$({ printf '\x01'; raw "$work/pub.pem"; } | base64 -w0)"

# ---- two witnesses --------------------------------------------------------------------------------
for i in 1 2; do
    openssl genpkey -algorithm ed25519 -out "$work/w$i.pem" 2>/dev/null
    chmod 600 "$work/w$i.pem"
done
check "witness: --print-vkey gives a cosignature/v1 vkey (type 0x04) whose key id checks" \
      "$("$witness" --name w1.example.edu/witness --key "$work/w1.pem" --print-vkey | python3 -c '
import sys, base64, hashlib
v = sys.stdin.read().strip(); name, kid, key = v.split("+", 2); k = base64.b64decode(key)
print(k[0], hashlib.sha256(name.encode() + b"\n" + k).hexdigest()[:8] == kid)')" "4 True"
vk1=$("$witness" --name w1.example.edu/witness --key "$work/w1.pem" --print-vkey)
vk2=$("$witness" --name w2.example.edu/witness --key "$work/w2.pem" --print-vkey)
start_witness() {  # i port [extra args]
    local i=$1 p=$2; shift 2
    tied "$witness" --name "w$i.example.edu/witness" --key "$work/w$i.pem" --state "$work/w$i.state" \
        --log "$log_vkey" --listen "127.0.0.1:$p" --timeout 3 "$@" 2>>"$work/w$i.log" &
    printf -v "w${i}_pid" '%s' "$!"
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$p/" && return 0
        sleep 0.1
    done
    echo "# witness $i did not start:"; sed 's/^/#   /' "$work/w$i.log"
}
msg=$("$witness" --name w1.example.edu/witness --key "$work/w1.pem" --state "$work/w1.state" --log "$log_vkey" \
      --listen "127.0.0.1:$port1" 2>&1); rc=$?
check "witness: a missing state file without --init: refuses to start" "$rc $(grep -c 'give --init' <<<"$msg")" "2 1"
mkfifo "$work/fifo.pem"
msg=$("$witness" --name w1.example.edu/witness --key "$work/fifo.pem" --print-vkey 2>&1); rc=$?
check "witness: a FIFO as key file is refused" "$rc $(grep -c 'FIFO' <<<"$msg")" "2 1"
msg=$("$witness" --name w1.example.edu/witness --key "$work/pub.pem" --print-vkey 2>&1); rc=$?
check "witness: a public key as key file is refused" "$rc $(grep -c 'holds a public key' <<<"$msg")" "2 1"
start_witness 1 "$port1" --init
start_witness 2 "$port2" --init
W1="$vk1=http://127.0.0.1:$port1"
W2="$vk2=http://127.0.0.1:$port2"

# Python's `cryptography` checks every cosignature line of a checkpoint file for the vkeys given:
# prints "<name>:<ok|bad|missing>" per vkey.
cosigs() {  # file vkey...
    python3 - "$@" <<'PY'
import sys, base64, hashlib, struct
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
note = open(sys.argv[1], 'rb').read().decode()
body, sigs = note.split('\n\n', 1)
body += '\n'
out = []
for vk in sys.argv[2:]:
    name, kid, key = vk.split('+', 2)
    raw = base64.b64decode(key)
    state = 'missing'
    for line in sigs.splitlines():
        if not line.startswith('\u2014 ' + name + ' '):
            continue
        blob = base64.b64decode(line.split(' ')[2])
        if blob[:4].hex() != kid or raw[0] != 4 or len(blob) != 76:
            continue
        ts = struct.unpack('>Q', blob[4:12])[0]
        try:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[12:], ('cosignature/v1\ntime %d\n' % ts).encode() + body.encode())
            state = 'ok'
        except Exception:
            state = 'bad'
    out.append(name + ':' + state)
print(' '.join(out))
PY
}
stored_note() { q "$db" "SELECT note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1"; }
health() { q "$db" "SELECT CASE WHEN published_age_seconds IS NULL THEN 'null' ELSE 'true' END || ' ' || coalesce(published_cosignatures::text, 'null') || ' ' || coalesce(publish_quorum_missed::text, 'null') FROM forgea_audit.health"; }
grow() {  # rows
    q "$db" "SELECT count(forgea_audit.append('WIT_ROW', metadata => jsonb_build_object('i', i), chain => 'wit:' || (i % 5))) FROM generate_series(1, $1) i" >/dev/null
    q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
}

# ---- two witnesses, quorum 2 ---------------------------------------------------------------------------
grow 300
size1=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
check "health before any publication: published_age NULL, cosignatures NULL, quorum_missed NULL" "$(health)" "null null null"
msg=$("$publish" --out "$out" --witness "$W1" --witness "$W2" --quorum 2 2>&1); rc=$?
check "quorum 2 of 2: published (exit 0)" "$rc" "0"
echo "$msg" | sed 's/^/# /'
check "... the checkpoint is the stored note byte for byte, then the cosignatures" \
      "$(head -c "$(q "$db" "SELECT octet_length(note) FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")" "$out/checkpoint")" "$(stored_note)"
check "... both cosignatures verify (Python's cryptography, cosignature/v1)" "$(cosigs "$out/checkpoint" "$vk1" "$vk2")" \
      "w1.example.edu/witness:ok w2.example.edu/witness:ok"
check "... exactly three signature lines (the log's and two witnesses')" "$(grep -c $'^\u2014 ' "$out/checkpoint")" "3"
check "... recorded: published, 2 cosignatures of quorum 2" \
      "$(q "$db" "SELECT published || ' ' || cosignatures || ' ' || quorum || ' ' || tree_size FROM forgea_audit.published_checkpoint ORDER BY id DESC LIMIT 1")" \
      "true 2 2 $size1"
check "... recorded: the note as published, byte for byte" \
      "$(q "$db" "SELECT note FROM forgea_audit.published_checkpoint ORDER BY id DESC LIMIT 1")" "$(cat "$out/checkpoint")"
check "... each witness's answer recorded" \
      "$(q "$db" "SELECT string_agg(w->>'name' || '=' || (w->>'answer') || '/' || (w->>'status'), ' ' ORDER BY w->>'name') FROM forgea_audit.published_checkpoint p, jsonb_array_elements(p.witnesses) w WHERE p.id = (SELECT max(id) FROM forgea_audit.published_checkpoint)")" \
      "w1.example.edu/witness=cosigned/200 w2.example.edu/witness=cosigned/200"
check "... health: published_age_seconds set, 2 cosignatures, quorum not missed" "$(health)" "true 2 false"
check "... the reader sees the published note (receipts use it)" \
      "$(psql -X -A -t -d "$db" -c "SET ROLE forgea_audit_reader" -c "SELECT count(*) FROM forgea_audit.published_checkpoint WHERE published" | tail -1)" "1"
check "witness state: each witness saved the size it cosigned" "$(cut -d' ' -f1 <(sed 1d "$work/w1.state")) $(cut -d' ' -f1 <(sed 1d "$work/w2.state"))" "$size1 $size1"
listing() { find "$out" -printf '%p %i %T@ %s\n' | sort; }
listing >"$work/before"
msg=$("$publish" --out "$out" --witness "$W1" --witness "$W2" --quorum 2 2>&1); rc=$?
check "nothing new: no file written, no witness asked" "$rc ${msg%%:*} $(listing | diff "$work/before" - | wc -l) $(grep -c ' 200 ' "$work/w1.log")" "0 nothing new 0 1"

# ---- a witness restarted keeps its state ------------------------------------------------------------
stop_witness w1_pid
start_witness 1 "$port1"
note_only=$(stored_note)
resp=$(printf 'old 0\n\n%s\n' "$note_only" | curl -s -w ' %{http_code} %{content_type}' --data-binary @- "http://127.0.0.1:$port1/add-checkpoint")
check "restart: asked from size 0, the restarted witness answers 409 with the size it cosigned" "${resp//$'\n'/|}" "$size1| 409 text/x.tlog.size"
grow 200
size2=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
msg=$("$publish" --out "$out" --witness "$W1" --witness "$W2" 2>&1); rc=$?
check "restart: the next checkpoint is cosigned by both (default quorum: all)" "$rc $(sed -n 2p "$out/checkpoint") $(cosigs "$out/checkpoint" "$vk1" "$vk2")" \
      "0 $size2 w1.example.edu/witness:ok w2.example.edu/witness:ok"
check "restart: ... the restarted witness checked the proof from $size1" "$(grep -c "at $size2 (from $size1)" "$work/w1.log")" "1"

# The publisher forgot the witnesses' sizes: their 409s tell them again.
rm -f "$out/.witnesses"
grow 50
size3=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
msg=$("$publish" --out "$out" --witness "$W1" --witness "$W2" 2>&1); rc=$?
check "409: the publisher without its record retries from each witness's size and publishes" \
      "$rc $(sed -n 2p "$out/checkpoint") $(grep -c "409 Conflict: it last cosigned $size2" <<<"$msg")" "0 $size3 2"

# ---- HTTPS: witness 1 behind nginx (docs/witnesses.md's location block), TLS with a test CA -----------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/tls.key" -out "$work/tls.crt" \
    -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
mkdir -p "$work/nginx"
{
    echo "daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;"
    echo "events {}"
    echo "http { access_log off;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "${t}_temp_path $work/nginx/$t;"; done
    echo "server { listen 127.0.0.1:$port_tls ssl; ssl_certificate $work/tls.crt; ssl_certificate_key $work/tls.key;"
    # The docs' block, for this port.
    sed -n '/^location = \/forgea\/add-checkpoint {/,/^}/p' docs/witnesses.md | sed "s|127.0.0.1:8620|127.0.0.1:$port1|"
    echo "} }"
} >"$work/nginx/nginx.conf"
tied nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>>"$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -k -o /dev/null "https://127.0.0.1:$port_tls/" && break; sleep 0.1; done
W1TLS="$vk1=https://127.0.0.1:$port_tls/forgea"
grow 20
size_tls=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
msg=$("$publish" --out "$out" --witness "$W1TLS" --witness "$W2" 2>&1); rc=$?
check "HTTPS: a witness whose certificate the system does not trust is unreachable (certificates are verified)" \
      "$rc $(grep -c '^witness w1.example.edu/witness.*: unreachable: .*certificate' <<<"$msg") $(sed -n 2p "$out/checkpoint")" "3 1 $size3"
msg=$("$publish" --out "$out" --witness "$W1TLS" --witness "$W2" --witness-cacert "$work/tls.crt" 2>&1); rc=$?
check "HTTPS: with --witness-cacert, witness 1 over TLS through nginx cosigns: published" \
      "$rc $(sed -n 2p "$out/checkpoint") $(cosigs "$out/checkpoint" "$vk1" "$vk2")" "0 $size_tls w1.example.edu/witness:ok w2.example.edu/witness:ok"
stop_witness nginx_pid
size3=$size_tls

# ---- a forked log: same origin and key, other rows ------------------------------------------------------
bash test/lib/prepare_db.sh "$fork_db" >/dev/null
q "$fork_db" "SELECT count(forgea_audit.append('FORK_ROW', metadata => jsonb_build_object('f', i), chain => 'fork')) FROM generate_series(1, $((size3 + 40))) i" >/dev/null
q "$fork_db" "SELECT forgea_audit.checkpoint()" >/dev/null
fork_note=$(q "$fork_db" "SELECT note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
check "fork: same origin, signed with the same key" "$(head -1 <<<"$fork_note") $(tail -1 <<<"$fork_note" | cut -d' ' -f2)" "$origin $origin"
cp "$out/.witnesses" "$work/fork_witnesses"
mkdir -p "$work/forklog" && cp "$work/fork_witnesses" "$work/forklog/.witnesses"
msg=$(PGDATABASE="$fork_db" "$publish" --out "$work/forklog" --witness "$W1" --witness "$W2" 2>&1); rc=$?
echo "$msg" | sed 's/^/# /'
check "fork: refused by both witnesses with 422 (not an extension), not published (exit 3)" \
      "$rc $(grep -c 'refused: 422' <<<"$msg") $([ -e "$work/forklog/checkpoint" ] && echo published || echo absent)" "3 2 absent"
check "fork: the message says it is not published and names each witness" \
      "$(grep -c 'NOT published: 0 of 2 witnesses cosigned' <<<"$msg") $(grep -c '^witness w[12].example.edu/witness' <<<"$msg")" "1 2"
check "fork: the refusal is recorded in its database, health says the quorum was missed" \
      "$(q "$fork_db" "SELECT published || ' ' || cosignatures || ' ' || (SELECT string_agg(w->>'status', ',') FROM jsonb_array_elements(witnesses) w) FROM forgea_audit.published_checkpoint") $(q "$fork_db" "SELECT publish_quorum_missed FROM forgea_audit.health")" \
      "false 0 422,422 t"
check "fork: the witnesses' state did not move" "$(cut -d' ' -f1 <(sed 1d "$work/w1.state")) $(cut -d' ' -f1 <(sed 1d "$work/w2.state"))" "$size3 $size3"
# A publisher with no record of the witnesses (old 0): they answer 409 with their size, and from
# there the fork's proof fails: still refused.
rm -rf "$work/forklog2"
msg=$(PGDATABASE="$fork_db" "$publish" --out "$work/forklog2" --witness "$W1" --witness "$W2" --quorum 1 2>&1); rc=$?
check "fork: with no record of the witnesses (409, then 422), still refused" "$rc $(grep -c 'refused: 422' <<<"$msg")" "3 2"
cp -a "$out" "$work/out_before_fork"
msg=$(PGDATABASE="$fork_db" "$publish" --out "$out" --witness "$W1" --witness "$W2" 2>&1); rc=$?
check "fork: into the real directory, the publisher itself refuses it (exit 1), checkpoint unchanged" \
      "$rc $(grep -c 'does not extend the published log' <<<"$msg") $(cmp -s "$out/checkpoint" "$work/out_before_fork/checkpoint" && echo same)" "1 1 same"

# ---- a witness that is down ---------------------------------------------------------------------------------
stop_witness w2_pid
grow 30
size4=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1")
cp "$out/checkpoint" "$work/previous"
msg=$("$publish" --out "$out" --witness "$W1" --witness "$W2" --quorum 2 2>&1); rc=$?
echo "$msg" | sed 's/^/# /'
check "down: quorum 2 with one witness down: exit 3, the previous checkpoint stays published" \
      "$rc $(cmp -s "$out/checkpoint" "$work/previous" && echo unchanged) $(sed -n 2p "$out/checkpoint")" "3 unchanged $size3"
check "down: the message names each witness's answer" \
      "$(grep -c '^witness w1.example.edu/witness.*: cosigned' <<<"$msg") $(grep -c '^witness w2.example.edu/witness.*: unreachable' <<<"$msg")" "1 1"
check "down: health says the quorum was missed, the last publication is still the one with 2" "$(health)" "true 2 true"
msg=$("$publish" --out "$out" --witness "$W1" --witness "$W2" --quorum 1 2>&1); rc=$?
check "down: quorum 1 publishes it with the one cosignature" \
      "$rc $(sed -n 2p "$out/checkpoint") $(cosigs "$out/checkpoint" "$vk1" "$vk2")" "0 $size4 w1.example.edu/witness:ok w2.example.edu/witness:missing"
check "down: health: published, 1 cosignature, quorum met" "$(health)" "true 1 false"

# ---- the witness under bad clients -------------------------------------------------------------------------------
url="http://127.0.0.1:$port1/add-checkpoint"
exec 7<>"/dev/tcp/127.0.0.1/$port1"
printf 'POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nold 0\n' >&7
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --data-binary $'old 0\n\nx\n' "$url")
check "slow client: another client is answered while one stalls mid-request" "$code" "400"
started=$SECONDS
reply=$(timeout 10 cat <&7 | head -1 | tr -d '\r')
exec 7<&-
check "slow client: the stalled one is cut off with 408 (within its 3 s timeout)" "$reply $((SECONDS - started <= 6))" "HTTP/1.1 408 Request Timeout 1"
code=$(head -c 3000 /dev/urandom | curl -s -o /dev/null -w '%{http_code}' --max-time 5 --data-binary @- "$url")
check "garbage body: 400" "$code" "400"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --data-binary 'x' "http://127.0.0.1:$port1/")
check "another path: 404" "$code" "404"
code=$(head -c 70000 /dev/zero | curl -s -o /dev/null -w '%{http_code}' --max-time 5 --data-binary @- "$url")
check "a 70 KB body: 413" "$code" "413"
check "GET: 405" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")" "405"
check "head garbage: 400" "$(head -c 2000 /dev/urandom | tr -d '\n' | timeout 5 bash -c "exec 8<>/dev/tcp/127.0.0.1/$port1; cat >&8; printf '\r\n\r\n' >&8; head -1 <&8" | cut -d' ' -f2)" "400"
sub() { printf '%s' "$1" | curl -s -o "$work/sub.body" -w '%{http_code}' --max-time 5 --data-binary @- "$url"; }
other_note=$(sed "1s|.*|other.example/log|" <<<"$note_only")
check "unknown origin: 404" "$(sub "old $size4"$'\n\n'"$other_note"$'\n')" "404"
cur=$(stored_note)
sig_line=$(tail -1 <<<"$cur")
flipped="${sig_line:0:40}$([ "${sig_line:40:1}" = A ] && echo B || echo A)${sig_line:41}"
check "a checkpoint whose log signature does not verify: 403" "$(sub "old $size4"$'\n\n'"$(sed '$d' <<<"$cur")"$'\n'"$flipped"$'\n')" "403"
check "old size above the checkpoint's: 400" "$(sub "old $((size4 + 1))"$'\n\n'"$(stored_note)"$'\n')" "400"
check "still serving: the current checkpoint again from its size: 200 and a cosignature line" \
      "$(sub "old $size4"$'\n\n'"$(stored_note)"$'\n') $(head -c 3 "$work/sub.body" | od -An -tx1 | tr -d ' ')" "200 e28094"
kill -0 "$w1_pid" 2>/dev/null; check "the witness process is alive after all of it" "$?" "0"

# ---- docs/witnesses.md's SQL block runs here, on this log ------------------------------------------------
. test/lib/doc_blocks.sh
blocks=$(doc_blocks docs/witnesses.md witness-dba)
check "docs/witnesses.md has its witness-dba block" "$(grep -c '^-- end of block' <<<"$blocks")" "1"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<<"$blocks" >"$work/doc.out" 2>&1
check "docs/witnesses.md's SQL block runs without error" "$?" "0"

# ---- record_publication checks what it is given --------------------------------------------------------------
try() { psql -X -q -A -t -d "$db" -v n="$1" <<<"SELECT forgea_audit.record_publication(:'n', $2, $3, '[]')" 2>&1 | grep -o 'ERROR: .*' | head -1; }
cur=$(stored_note)
check "record_publication: a note with another root is refused" \
      "$(try "$(sed "3s|.*|$(head -c 32 /dev/zero | base64)|" <<<"$cur")" false 0 | grep -c 'the note is not a checkpoint of this log')" "1"
check "record_publication: junk after the checkpoint is refused" \
      "$(try "$cur"$'\n'"junk" false 0 | grep -c 'after the stored checkpoint the note holds something else')" "1"
check "record_publication: published below its quorum is refused" \
      "$(try "$cur"$'\n' true 1 | grep -c '0 cosignature line(s) do not meet the quorum 1')" "1"
check "record_publication: a writer may not call it" \
      "$(psql -X -q -A -t -d "$db" -c "SET ROLE forgea_audit_writer" -c "SELECT forgea_audit.record_publication('x', false, 0, '[]')" 2>&1 | grep -c 'permission denied')" "1"

[ "$failures" -eq 0 ] || { echo "witness_cosign: $failures failure(s)" >&2; exit 1; }
echo "witness_cosign: ok"
