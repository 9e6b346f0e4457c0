#!/usr/bin/env bash
# The checkpoint channel is trusted only as far as it is checked (docs/checkpoints.md, "Listening
# for checkpoints"): examples/checkpoint-listener (npm ci from its lockfile) listens on
# forgea_audit_checkpoint with the log's public key, and
#   - keeps a genuine signed note that checkpoint() sends;
#   - drops what anyone who can connect can send (here a role with no privilege, by SET ROLE): a
#     signed note with its size and root changed, an unsigned note, a note properly signed by
#     another key (made here with openssl), text that is no note;
#   - drops a genuine old note replayed after a newer one was kept;
#   - keeps the next genuine, newer note, and after a restart still drops the replay.
# Each decision is awaited by polling the listener's output for its next line (a deadline only
# turns a hang into a failure).  Runs with PGDATABASE etc. pointing at a fresh prepared database.
set -uo pipefail

db=$PGDATABASE
work=$(mktemp -d)
chmod 711 "$work"   # the server (OS user postgres) reads the signing key from here
key_set=0
listener_pid=""
cleanup() {
    [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null && wait "$listener_pid" 2>/dev/null
    [ "$key_set" -eq 1 ] && set_key_file "" 2>/dev/null
    psql -X -q -d "$db" -c "DROP ROLE IF EXISTS cl_nobody_$$" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
. test/lib/checks.sh

command -v node >/dev/null || { echo "checkpoint_listener: node is not installed (test/lib/install_deps.sh installs it)" >&2; exit 1; }
( cd examples/checkpoint-listener && npm ci --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1 ) \
    || { cat "$work/npm.log" >&2; echo "checkpoint_listener: FAIL: npm ci" >&2; exit 1; }
make -s verifier >"$work/make.log" 2>&1 || { cat "$work/make.log"; echo "checkpoint_listener: FAIL: make verifier" >&2; exit 1; }

openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$work/other.pem" 2>/dev/null
chmod 600 "$work/key.pem"
chown postgres: "$work/key.pem" 2>/dev/null || true
key_set=1
set_key_file "$work/key.pem" "$work/pub.pem"
q "$db" "CREATE ROLE cl_nobody_$$ NOLOGIN" >/dev/null

start_listener() {
    tied node examples/checkpoint-listener/listener.mjs --public-key "$work/pub.pem" --keep "$work/kept" \
        --verifier tools/forgea_audit_verify >>"$work/listener.log" 2>&1 &
    listener_pid=$!
    local want=$(( $(grep -c '^listening on' "$work/listener.log" 2>/dev/null) + 1 )) i
    for i in $(seq 300); do
        [ "$(grep -c '^listening on' "$work/listener.log")" -ge "$want" ] && return 0
        kill -0 "$listener_pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$work/listener.log" >&2
    echo "checkpoint_listener: FAIL: the listener did not start" >&2
    exit 1
}
decisions=0
# Waits for the listener's next decision line: sets decision (not in a subshell: counts them).
next_decision() {
    decisions=$((decisions + 1))
    local i
    for i in $(seq 300); do
        [ "$(grep -cE '^(kept|dropped): ' "$work/listener.log")" -ge "$decisions" ] && break
        sleep 0.1
    done
    decision=$(grep -E '^(kept|dropped): ' "$work/listener.log" | sed -n "${decisions}p")
}
# A checkpoint() after one more row: its note into $1.
genuine() {
    q "$db" "SELECT forgea_audit.append('CL_ROW', metadata => '{\"n\": 1}')" >/dev/null
    printf '%s\n' "$(q "$db" "SELECT forgea_audit.checkpoint()")" >"$1"   # the note ends with one newline
}
# NOTIFY as a role with no privilege at all: anyone who can connect can do this.
notify_as_anyone() {  # file with the payload
    psql -X -q -v ON_ERROR_STOP=1 -d "$db" -v payload="$(cat "$1")" >/dev/null <<SQL
SET ROLE cl_nobody_$$;
SELECT pg_notify('forgea_audit_checkpoint', :'payload');
SQL
}

: >"$work/listener.log"
start_listener
check "the listener starts with nothing kept" "$(grep -c 'last kept size none' "$work/listener.log")" "1"

genuine "$work/a.txt"
size_a=$(sed -n 2p "$work/a.txt")
next_decision
check "a genuine signed note is kept" "$decision" \
      "kept: size $size_a (the checkpoint of $size_a leaves of $(head -1 "$work/a.txt") is signed by key \"forgea_audit\" (key id $({ printf 'forgea_audit\n\x01'; openssl pkey -pubin -in "$work/pub.pem" -outform DER | tail -c 32; } | sha256sum | cut -c1-8)), public key $work/pub.pem)"

# Forgeries, each sent by a role with no privilege.
# 1. the genuine note's size raised and root changed, its signature line kept
{ head -1 "$work/a.txt"; echo $((size_a + 1000)); echo "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; tail -n +4 "$work/a.txt"; } >"$work/forged-altered.txt"
notify_as_anyone "$work/forged-altered.txt"
next_decision
check "a note altered (size, root) under a genuine signature line is dropped" \
      "$(grep -c -F "dropped: the signature does not hold under $work/pub.pem (FAIL first_bad_seq=NULL: the checkpoint's signature by key \"forgea_audit\" does not verify" <<<"$decision")" "1"
# 2. an unsigned note of a bigger tree
{ head -1 "$work/a.txt"; echo $((size_a + 1000)); echo "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; } >"$work/forged-unsigned.txt"
notify_as_anyone "$work/forged-unsigned.txt"
next_decision
check "an unsigned note is dropped" "$(grep -c 'dropped: the signature does not hold.*the checkpoint is not signed' <<<"$decision")" "1"
# 3. a note really signed, by another key under the log's key name
{ head -1 "$work/a.txt"; echo $((size_a + 1000)); echo "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; } >"$work/body.txt"
openssl pkeyutl -sign -inkey "$work/other.pem" -rawin -in "$work/body.txt" -out "$work/sig.bin" 2>/dev/null
other_id=$({ printf 'forgea_audit\n\x01'; openssl pkey -in "$work/other.pem" -pubout -outform DER | tail -c 32; } | sha256sum | cut -c1-8)
{ cat "$work/body.txt"; echo; printf '\xe2\x80\x94 forgea_audit %s\n' \
      "$({ printf "$(sed 's/../\\x&/g' <<<"$other_id")"; cat "$work/sig.bin"; } | base64 -w0)"; } >"$work/forged-other-key.txt"
check "(the other key's note verifies under the other key)" \
      "$(tools/forgea_audit_verify --note "$work/forged-other-key.txt" --public-key "$work/other.pem" >/dev/null 2>&1; echo $?)" "0"
notify_as_anyone "$work/forged-other-key.txt"
next_decision
check "a note signed by another key is dropped" \
      "$(grep -c 'dropped: the signature does not hold.*not signed by the given public key' <<<"$decision")" "1"
# 4. text that is no note
printf 'the log is fine, trust me\n' >"$work/forged-text.txt"
notify_as_anyone "$work/forged-text.txt"
next_decision
check "text that is no note is dropped" "$(cut -c1-34 <<<"$decision")" "dropped: not a checkpoint note (fo"

genuine "$work/b.txt"
size_b=$(sed -n 2p "$work/b.txt")
next_decision
check "the next genuine note is kept" "${decision%% (*}" "kept: size $size_b"
notify_as_anyone "$work/a.txt"
next_decision
check "the older genuine note, replayed, is dropped" "$decision" \
      "dropped: size $size_a is below the last kept note's $size_b (an old note replayed)"
notify_as_anyone "$work/b.txt"
next_decision
check "the last kept note sent again is not kept twice" "$decision" "dropped: the last kept note again (size $size_b)"

genuine "$work/c.txt"
size_c=$(sed -n 2p "$work/c.txt")
next_decision
check "a genuine newer note is kept" "${decision%% (*}" "kept: size $size_c"

# A restart reads the last kept note back: the replay is still dropped.
kill "$listener_pid"; wait "$listener_pid" 2>/dev/null; listener_pid=""
start_listener
check "after a restart the listener knows the last kept size" "$(grep -c "last kept size $size_c\$" "$work/listener.log")" "1"
notify_as_anyone "$work/b.txt"
next_decision
check "after a restart, an older genuine note replayed is dropped" "$decision" \
      "dropped: size $size_b is below the last kept note's $size_c (an old note replayed)"

check "exactly the three genuine notes were kept" \
      "$(cd "$work/kept" && for f in [0-9]*.txt; do sed -n 2p "$f"; done | sort -n | tr '\n' ' ')" "$size_a $size_b $size_c "
check "latest.txt is the newest genuine note" "$(cmp -s "$work/kept/latest.txt" "$work/c.txt"; echo $?)" "0"

if [ "$failures" -gt 0 ]; then
    echo "--- listener output:"; sed 's/^/#   /' "$work/listener.log"
    echo "checkpoint_listener: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "checkpoint_listener: ok: forged and replayed notes on forgea_audit_checkpoint are dropped, genuine newer ones kept"
