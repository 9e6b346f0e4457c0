#!/usr/bin/env bash
# Streaming replication: a primary (wal_level = replica, forgea_audit preloaded, its worker making
# a signed checkpoint every 2 s) under a record_push load is copied with pg_basebackup -R while the
# load runs; the hot standby then
#   - gives the same verify_chain() answer as the primary at the same WAL position, for an intact
#     log and for one with a tampered row (the same first_bad_seq), and under a recovery conflict
#     (a snapshot held while the primary prunes) either the same answer or a clear error
#     (SQLSTATE 40001, retried), never another verdict;
#   - runs no forgea_audit worker: none in pg_stat_activity, nothing from it in the standby's log,
#     no write attempted (no read-only-transaction error), no CHECKPOINT event made by it;
# then the old primary stops, the standby is promoted (pg_ctl promote), and
#   - the worker starts there and makes its checkpoints;
#   - record_push continues the same chains (positions go on from where the primary left them);
#   - a checkpoint taken on the old primary verifies on the new one (verify_chain(checkpoint)).
# Own clusters (test/faults/lib.sh); run from the repository root after `make install`.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/faults/lib.sh

FORKS=4
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json
work=$FA_TMP/work
mkdir -p "$work"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work"
openssl genpkey -algorithm ed25519 -out "$work/key.pem" 2>/dev/null
openssl pkey -in "$work/key.pem" -pubout -out "$work/pub.pem"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work/key.pem" "$work/pub.pem"
chmod 600 "$work/key.pem"

started=$SECONDS
fa_init primary "wal_level = replica" "max_wal_senders = 4" "hot_standby = on" \
    "shared_preload_libraries = 'forgea_audit'" "forgea_audit.database = 'postgres'" \
    "forgea_audit.checkpoint_interval = 2s" "forgea_audit.signing_key_file = '$work/key.pem'" \
    "forgea_audit.verify_key_file = '$work/pub.pem'" \
    "max_standby_streaming_delay = 0" "hot_standby_feedback = off" || exit 1
fa_start primary || { tail -20 "$(fa_log primary)"; exit 1; }
P() { fa_psql primary postgres "$1"; }
S() { fa_psql standby postgres "$1"; }

psql -X -q -v ON_ERROR_STOP=1 -h "$(fa_sock primary)" -p "${FA_PORT[primary]}" -U postgres -d postgres >/dev/null <<SQL || exit 1
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
SELECT forgea_audit.bind_lab_session_table();
\set body \`cat $FIXTURE\`
CREATE TABLE repl_payload (fork int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO repl_payload
SELECT f, jsonb_set(:'body'::jsonb, '{repository,html_url}', to_jsonb('https://github.com/repl/fork-' || f))
FROM generate_series(0, $FORKS - 1) f;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
SELECT 'repl-' || f, 'repl-user-' || f, 'repl-lab', 'https://github.com/repl/fork-' || f, 'IN_PROGRESS', now()
FROM generate_series(0, $FORKS - 1) f;
SQL
cat > "$work/load.sql" <<'SQL'
\set n random(1, 100000000)
SELECT status FROM forgea_audit.record_push(
    jsonb_set((SELECT payload FROM repl_payload WHERE fork = :n % 4), '{after}', to_jsonb(lpad(to_hex(:n), 40, '0'))),
    format('00000000-0000-4000-8000-%s', lpad(:n::text, 12, '0')));
SQL
load() {  # cluster, seconds: 4 clients of record_push
    pgbench -n -c 4 -j 2 -T "$2" -h "$(fa_sock "$1")" -p "${FA_PORT[$1]}" -U postgres -f "$work/load.sql" postgres \
        > "$work/pgbench.$1.out" 2>&1
}
# Waits until the standby has replayed everything the primary has written so far.
caught_up() {
    local lsn deadline=$((SECONDS + 60))
    lsn=$(P "SELECT pg_current_wal_lsn()")
    while [ $SECONDS -lt $deadline ]; do
        [ "$(S "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" 2>/dev/null)" = t ] && return 0
        sleep 0.2
    done
    return 1
}

# verify_chain() on the primary, then on the standby once it has replayed that far, into p and s.
# The primary's worker appends a CHECKPOINT row every 2 s, so one may commit between the two reads:
# then the standby has seen one row more, and the pair is read again (at most 10 times) until
# both answered over the same rows, so that the comparison is between equal WAL positions.
verify_both() {
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$(P "$VERIFY"); caught_up; s=$(S "$VERIFY")
        [ "$(cut -d'|' -f2 <<<"$p")" = "$(cut -d'|' -f2 <<<"$s")" ] && return 0
    done
}
VERIFY="SELECT ok || '|' || rows_checked || '|' || coalesce(first_bad_seq::text, '-') || '|' || detail FROM forgea_audit.verify_chain()"

echo "# the primary under load; pg_basebackup -R takes the standby meanwhile"
attempts_before=$(P "SELECT count(*) FROM forgea_audit.lab_attempt")
load primary 8 &
load_pid=$!
# The copy must start while the load runs: polled until pgbench's first pushes are recorded (30 s
# at most), not a sleep that a slow machine may spend starting pgbench.
for _ in $(seq 150); do
    [ "$(P "SELECT count(*) > $attempts_before FROM forgea_audit.lab_attempt")" = t ] && break
    sleep 0.2
done
fa_register standby
as_pg "$FA_PGBIN/pg_basebackup" -h "$(fa_sock primary)" -p "${FA_PORT[primary]}" -U postgres -D "$(fa_dir standby)" \
    -R -X stream -c fast 2>"$work/basebackup.err" && ok "pg_basebackup -R copied the primary while record_push ran" \
    || { not_ok "pg_basebackup failed"; cat "$work/basebackup.err"; }
fa_conf standby
fa_start standby || { tail -20 "$(fa_log standby)"; exit 1; }
fa_wait_ready standby 60
check "the standby is in recovery (hot standby)" "$(S "SELECT pg_is_in_recovery()")" t

# During the load: verify_chain on the standby in a snapshot held for 2 s while the primary prunes
# (max_standby_streaming_delay = 0 cancels it at once).  Each answer is ok or the conflict error.
conflicts=0; answers=0; wrong=0
while kill -0 "$load_pid" 2>/dev/null; do
    out=$(psql -X -A -t -q -v ON_ERROR_STOP=1 -h "$(fa_sock standby)" -p "${FA_PORT[standby]}" -U postgres -d postgres \
          -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM forgea_audit.audit_log" -c "SELECT pg_sleep(2)" \
          -c "$VERIFY" -c "COMMIT" 2>&1)
    if grep -q 'conflict with recovery' <<<"$out"; then conflicts=$((conflicts + 1))
    elif grep -q '^true|' <<<"$out"; then answers=$((answers + 1))
    else wrong=$((wrong + 1)); echo "#   unexpected: $out"; fi
done
wait "$load_pid"
check "verify_chain() on the standby during the load: only ok answers or recovery-conflict errors ($answers ok, $conflicts conflicts)" "$wrong" 0
echo "# $(grep -E '^(number of transactions actually processed|tps)' "$work/pgbench.primary.out" | tr '\n' ' ')"

caught_up && ok "the standby replayed everything the primary wrote" || not_ok "the standby did not catch up"
verify_both
check "verify_chain() on the standby gives the primary's answer, at the same WAL position ($p)" "$s" "$p"
case $p in true*) ok "and that answer is ok";; *) not_ok "the primary's log does not verify: $p";; esac

echo "# a row tampered with on the primary (triggers disabled by a superuser) is reported on the standby too"
tampered=$(P "SELECT min(seq) FROM forgea_audit.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT'")
guard_off="ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER USER"
guard_on="ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_rows;
          ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_statements;
          ALTER TABLE forgea_audit.audit_log ENABLE ALWAYS TRIGGER audit_log_guard_truncate"
P "BEGIN; $guard_off; UPDATE forgea_audit.audit_log SET outcome = 'failure' WHERE seq = $tampered; $guard_on; COMMIT" >/dev/null
caught_up
verify_both
check "the primary names the tampered row" "$(cut -d'|' -f1,3 <<<"$p")" "false|$tampered"
check "the standby gives the same answer ($s)" "$s" "$p"
P "BEGIN; $guard_off; UPDATE forgea_audit.audit_log SET outcome = 'success' WHERE seq = $tampered; $guard_on; COMMIT" >/dev/null
caught_up
verify_both
check "restored, both verify again, with the same answer" "$(cut -d'|' -f1 <<<"$p")|$s" "true|$p"

echo "# the worker on the standby"
check "no forgea_audit worker runs on the standby" \
    "$(S "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'forgea_audit%'")" 0
check "the primary's worker runs (the same settings, copied by pg_basebackup)" \
    "$(P "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")" 1
check "the standby's log has no line from the worker" "$(grep -c 'forgea_audit retention\|forgea_audit worker' "$(fa_log standby)")" 0
check "and no write attempted on it (no read-only-transaction error)" "$(grep -c 'read-only transaction' "$(fa_log standby)")" 0

echo "# a checkpoint on the old primary, then promotion"
# Kept outside the database, as a verifier would (base64 keeps its final newline through the shell).
note_b64=$(P "SELECT encode(convert_to(forgea_audit.checkpoint(), 'UTF8'), 'base64')")
P "SELECT count(*) FROM generate_series(1, 20) g, forgea_audit.record_push(
     jsonb_set((SELECT payload FROM repl_payload WHERE fork = g % 4), '{after}', to_jsonb(lpad(to_hex(g), 40, 'a'))),
     format('aaaaaaaa-0000-4000-8000-%s', lpad(g::text, 12, '0')))" >/dev/null
# Instead of sleep 3 (after which the primary's worker might seal these rows between the standby's
# count and the primary's below): wait (30 s at most) until the primary's worker has sealed them
# in a CHECKPOINT row, then until the standby replayed it.  That wait spans one checkpoint interval
# of the settings the standby shares, in which a standby worker would have written its own; and
# with nothing new to seal, the primary writes no further CHECKPOINT before the comparison.
last_seq=$(P "SELECT max(seq) FROM forgea_audit.audit_log")
for _ in $(seq 150); do
    [ "$(P "SELECT count(*) > 0 FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT' AND seq > $last_seq")" = t ] && break
    sleep 0.2
done
caught_up
heads_before=$(S "SELECT string_agg(chain_id || '=' || length, ' ' ORDER BY chain_id) FROM forgea_audit.chain_head WHERE chain_id LIKE 'session:%'")
check "while in recovery the standby made no checkpoint of its own (only what it replayed)" \
    "$(S "SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT'") $(S "SELECT pg_last_wal_replay_lsn() IS NOT NULL")" \
    "$(P "SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT'") t"
fa_stop_immediate primary   # the primary is lost
as_pg "$FA_PGBIN/pg_ctl" -D "$(fa_dir standby)" -w promote >/dev/null && ok "pg_ctl promote" || not_ok "pg_ctl promote failed"
check "the promoted standby is out of recovery" "$(S "SELECT pg_is_in_recovery()")" f

deadline=$((SECONDS + 30)); seen=0
while [ $SECONDS -lt $deadline ]; do
    [ "$(S "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")" = 1 ] && { seen=1; break; }
    sleep 0.5
done
[ $seen = 1 ] && ok "after promotion the worker starts" || not_ok "no worker within 30 s of the promotion"
# A checkpoint made on the new primary: one whose CHECKPOINT row comes after everything replayed.
# It needs a row to seal: checkpoint() hands back the newest note and writes nothing when nothing
# but that checkpoint's own row was added since, and the old primary's worker may have sealed the
# last replayed rows already.
cp_at_promotion=$(S "SELECT coalesce(max(seq), 0) FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT'")
S "SELECT forgea_audit.append('REPL_AFTER_PROMOTION', chain => 'repl:after-promotion')" >/dev/null
deadline=$((SECONDS + 30)); made=0
while [ $SECONDS -lt $deadline ]; do
    [ "$(S "SELECT count(*) > 0 FROM forgea_audit.audit_log WHERE action = 'CHECKPOINT' AND seq > $cp_at_promotion")" = t ] && { made=1; break; }
    sleep 0.5
done
[ $made = 1 ] && ok "and makes its checkpoints on the new primary" || not_ok "the worker made no checkpoint within 30 s"
grep -q 'forgea_audit retention worker started' "$(fa_log standby)" && ok "the new primary's log shows the worker starting" \
    || not_ok "the new primary's log does not show the worker starting"

load standby 3
check "record_push on the new primary: no failed transaction" "$(grep -c 'number of failed transactions: 0 ' "$work/pgbench.standby.out")" 1
check "it continues the same chains: every session chain grew from where the old primary left it, no new session chain" \
    "$(S "SELECT bool_and(h.length > split_part(b, '=', 2)::bigint) AND count(*) = $FORKS
          FROM unnest(string_to_array('$heads_before', ' ')) b
          JOIN forgea_audit.chain_head h ON h.chain_id = split_part(b, '=', 1)")|$(S "SELECT count(*) FROM forgea_audit.chain_head WHERE chain_id LIKE 'session:%'")" \
    "t|$FORKS"
s=$(S "$VERIFY")
case $s in true*) ok "verify_chain() on the new primary is ok ($s)";; *) not_ok "verify_chain() on the new primary: $s";; esac
c=$(S "SELECT ok || '|' || detail FROM forgea_audit.verify_chain(checkpoint => convert_from(decode('$note_b64', 'base64'), 'UTF8'))")
case $c in true*) ok "the checkpoint taken on the old primary verifies on the new one ($c)";; *) not_ok "the old primary's checkpoint: $c";; esac
echo "# $((SECONDS - started)) s"
fa_done
