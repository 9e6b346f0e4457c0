#!/usr/bin/env bash
# Key files that are not usable keys (issue 20, item 5): missing, a directory, a FIFO, unreadable,
# garbage, an encrypted PEM, a public key given as the signing key.  Runs inside pg_virtualenv with
# shared_preload_libraries = forgea_audit, forgea_audit.database = postgres and logging_collector =
# on (test/run_tests.sh starts it so).  For each, with forgea_audit.signing_key_file (and, for the
# FIFO, verify_key_file) set to it in postgresql.auto.conf and the worker making checkpoints:
#   - checkpoint() fails at once with an error that says what is wrong, naming the path;
#   - the worker's checkpoint pass says so in forgea_audit.progress, and goes on (same pid);
#   - nothing prompts for a passphrase (the server's stderr is the log: no "Enter PEM pass phrase");
#   - the server stays up (pg_postmaster_start_time unchanged) and another database keeps working;
#   - pg_ctl stop -m fast stops it (then it is started again for the next case).
# Every wait polls for the state it needs; its deadline only turns a hang into a failure.
set -uo pipefail
cd "${FA_ROOT:-$(dirname "$0")/../..}"
. test/lib/checks.sh
export PGDATABASE=postgres
# Every psql call is bounded by timeout(1): a call that hangs (the old code opened a FIFO and
# blocked, past statement_timeout) fails the check instead of the test.
q1() { timeout 30 psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
log_count() { q1 "SELECT count(*) FROM regexp_split_to_table(pg_read_file(pg_current_logfile()), E'\n') l
                  WHERE strpos(l, \$\$$1\$\$) > 0"; }
ready() {  # waits until the server accepts connections again
    local deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do q1 "SELECT 1" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}

tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
openssl genpkey -algorithm ed25519 -out "$tmp/key.pem" 2>/dev/null
openssl pkey -in "$tmp/key.pem" -pubout -out "$tmp/pub.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -aes-256-cbc -pass pass:secret -out "$tmp/encrypted.pem" 2>/dev/null
printf 'this is not a key\n%.0s' $(seq 1 20) > "$tmp/garbage.pem"
mkdir "$tmp/a_directory"
mkfifo "$tmp/a_fifo"
cp "$tmp/key.pem" "$tmp/unreadable.pem"
chown postgres: "$tmp"/*.pem 2>/dev/null
chmod 600 "$tmp/key.pem" "$tmp/encrypted.pem"
chmod 644 "$tmp/pub.pem" "$tmp/garbage.pem"
# Unreadable for the server's OS user: root's file with no permissions (as root), or else a file
# of ours with none (the server is not us then, or if it is, mode 000 stops the owner too).
chown root: "$tmp/unreadable.pem" 2>/dev/null
chmod 000 "$tmp/unreadable.pem"

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || check "setup" failed ok
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
CREATE ROLE fa_key_reader NOLOGIN;
GRANT forgea_audit_reader TO fa_key_reader;
CREATE DATABASE fa_key_other;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d fa_key_other -c "CREATE EXTENSION forgea_audit" >/dev/null || check "setup of fa_key_other" failed ok
# A note signed with the good key, for verify_chain(checkpoint) with a FIFO as verify_key_file
# (the key settings are PGC_SIGHUP: postgresql.auto.conf and a reload).
q1 "ALTER SYSTEM SET forgea_audit.signing_key_file = '$tmp/key.pem'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
eventually "setup: the good key is in force" "SELECT current_setting('forgea_audit.signing_key_file') = '$tmp/key.pem'" 20
q1 "SELECT forgea_audit.append('KEY_FILES', chain => 'keys:1')" >/dev/null
note=$(q1 "SELECT forgea_audit.checkpoint()")
check "setup: a signed note" "$(grep -c '^— forgea_audit ' <<<"$note")" 1
q1 "ALTER SYSTEM SET forgea_audit.checkpoint_interval = '1s'" >/dev/null

# case name, path, what checkpoint()'s error must contain
run_case() {
    local name=$1 path=$2 expect=$3
    echo "# $name: forgea_audit.signing_key_file = $path"
    q1 "ALTER SYSTEM SET forgea_audit.signing_key_file = '$path'" >/dev/null
    if [ "$name" = fifo ]; then q1 "ALTER SYSTEM SET forgea_audit.verify_key_file = '$path'" >/dev/null; fi
    q1 "SELECT pg_reload_conf()" >/dev/null
    local started
    started=$(q1 "SELECT pg_postmaster_start_time()")
    eventually "$name: the setting is in force" "SELECT current_setting('forgea_audit.signing_key_file') = '$path'" 20
    q1 "SELECT forgea_audit.append('KEY_FILES', chain => 'keys:$name')" >/dev/null
    local out
    out=$(timeout 30 psql -X -A -t -q -c "SET statement_timeout = '20s'" -c "SELECT forgea_audit.checkpoint()" 2>&1)
    check "$name: checkpoint() says what is wrong" \
        "$(grep -c "ERROR:  could not load the checkpoint signing key: $expect" <<<"$out")" 1
    grep -q "ERROR:  could not load the checkpoint signing key: $expect" <<<"$out" || echo "$out" | sed 's/^/#   /'
    eventually "$name: the worker's checkpoint pass says in forgea_audit.progress that it could not run, and why" \
        "SELECT EXISTS (SELECT FROM forgea_audit.progress WHERE backend_type = 'forgea_audit retention'
                        AND strpos(progress, \$\$the checkpoint pass of \$\$) > 0
                        AND strpos(progress, \$\$could not load the checkpoint signing key: $expect\$\$) > 0)" 20
    local pid
    pid=$(q1 "SELECT pid FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")
    eventually "$name: the worker goes on integrating (a new row becomes a leaf; same pid)" \
        "SELECT EXISTS (SELECT FROM forgea_audit.merkle_leaf l JOIN forgea_audit.audit_log a USING (seq)
                        WHERE a.chain_id = 'keys:$name')
            AND EXISTS (SELECT FROM pg_stat_activity WHERE pid = ${pid:-0} AND backend_type = 'forgea_audit retention')" 20
    if [ "$name" = fifo ]; then
        out=$(timeout 30 psql -X -A -t -q -v note="$note" 2>&1 <<'SQL'
SET statement_timeout = '20s';
SET ROLE fa_key_reader;
SELECT detail FROM forgea_audit.verify_chain(checkpoint => :'note');
SQL
)
        check "$name: a reader's verify_chain(note) with a FIFO as verify_key_file answers at once, naming it" \
            "$(grep -c "could not load the checkpoint verification key: \"$path\" is a FIFO (named pipe)" <<<"$out")" 1
        grep -q "is a FIFO" <<<"$out" || echo "$out" | sed 's/^/#   /'
    fi
    check "$name: no passphrase prompt reached the server's output" "$(log_count 'Enter PEM pass phrase')" 0
    check "$name: the server did not restart" "$(q1 "SELECT pg_postmaster_start_time() = '$started'")" t
    check "$name: another database keeps working (append, checkpoint)" \
        "$(timeout 30 psql -X -A -t -q -d fa_key_other -c "SET statement_timeout = '20s'" \
                -c "SELECT forgea_audit.append('OTHER_DB', chain => 'other:1') > 0" 2>&1)" t
    local rc=0
    timeout 60 pg_ctlcluster 15 regress stop -m fast >/dev/null 2>&1 || rc=$?
    check "$name: pg_ctl stop -m fast stops the server" "$rc" 0
    timeout 60 pg_ctlcluster 15 regress start >/dev/null 2>&1
    ready || check "$name: the server starts again" f t
    if [ "$name" = fifo ]; then q1 "ALTER SYSTEM RESET forgea_audit.verify_key_file" >/dev/null; fi
}

run_case missing "$tmp/no_such_key.pem" "\"$tmp/no_such_key.pem\" does not exist"
run_case directory "$tmp/a_directory" "\"$tmp/a_directory\" is a directory, not a key file"
run_case fifo "$tmp/a_fifo" "\"$tmp/a_fifo\" is a FIFO (named pipe), not a regular file"
run_case unreadable "$tmp/unreadable.pem" "\"$tmp/unreadable.pem\" is not readable by the server's operating system user (permission denied)"
run_case garbage "$tmp/garbage.pem" "\"$tmp/garbage.pem\" holds no PEM key (neither a private nor a public key)"
run_case encrypted "$tmp/encrypted.pem" "\"$tmp/encrypted.pem\" holds an encrypted private key, and the server cannot ask for its passphrase"
run_case public "$tmp/pub.pem" "\"$tmp/pub.pem\" holds a public key, not the private key checkpoints are signed with"

echo "# the good key again: the worker signs"
q1 "ALTER SYSTEM SET forgea_audit.signing_key_file = '$tmp/key.pem'" >/dev/null
q1 "SELECT pg_reload_conf()" >/dev/null
q1 "SELECT forgea_audit.append('KEY_FILES', chain => 'keys:good')" >/dev/null
eventually "with a good key the worker signs a checkpoint covering the last row" \
    "SELECT EXISTS (SELECT FROM forgea_audit.merkle_checkpoint c
                    WHERE strpos(c.note, E'\n\n— forgea_audit ') > 0
                      AND c.tree_size > (SELECT l.leaf_index FROM forgea_audit.merkle_leaf l JOIN forgea_audit.audit_log a USING (seq)
                                         WHERE a.chain_id = 'keys:good'))" 30
for s in signing_key_file verify_key_file checkpoint_interval; do q1 "ALTER SYSTEM RESET forgea_audit.$s" >/dev/null; done
q1 "SELECT pg_reload_conf()" >/dev/null
if [ "$failures" -gt 0 ]; then
    echo "key_files: FAIL: $failures checks failed" >&2
    exit 1
fi
echo "key_files: ok"
