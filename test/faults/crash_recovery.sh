#!/usr/bin/env bash
# Crash recovery under load: 8 clients call forgea_audit.record_push, about 30% of their calls a
# retry of a delivery they sent before, while the server is crashed three times: an immediate
# stop (the postmaster and every backend die at once, no shutdown checkpoint), a kill -9 of one
# backend in the middle of a record_push (the postmaster then kills every backend and recovers),
# and an immediate stop again.  After each recovery, with the clients stopped:
#   - every delivery a client saw succeed (its transaction committed) has exactly one attempt,
#   - no delivery has two attempts or two LAB_VERIFY_ATTEMPT rows, none was recorded that no
#     client sent,
#   - sending every delivery again records nothing new for those that committed (all
#     "duplicate") and records exactly once those whose transaction the crash cut short,
#   - verify_chain() is ok over every row,
#   - amcheck's bt_index_check(heapallindexed) finds nothing in the extension's B-tree indexes.
# A client logs a delivery as succeeded only after psql returned its status, so a delivery that
# committed just before the crash but whose reply was lost is "in doubt": it must then have one
# attempt or none, never two.
#
# Own cluster (test/faults/lib.sh); run from the repository root after `make install`.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/faults/lib.sh

CLIENTS=8
RETRY_PCT=30
LOAD_BEFORE=${FA_CRASH_LOAD_SECONDS:-3}   # seconds of load before each crash
LOAD_AFTER=2                              # and after the restart, before the checks
FORKS=4
FIXTURE=test/fixtures/github/push/api-with-new-branch.payload.json
DB=crash
work=$FA_TMP/work
mkdir -p "$work"

fa_init primary "shared_preload_libraries = 'forgea_audit'" "forgea_audit.database = '$DB'" \
    "max_connections = 40" "restart_after_crash = on" || exit 1
fa_start primary || { cat "$(fa_log primary)"; exit 1; }
fa_env primary
export PGDATABASE=$DB
createdb -E UTF8 -T template0 "$DB"
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL || exit 1
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
CREATE EXTENSION amcheck;
SELECT forgea_audit.bind_lab_session_table();
\set body \`cat $FIXTURE\`
CREATE TABLE crash_payload (fork int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO crash_payload
SELECT f, jsonb_set(:'body'::jsonb, '{repository,html_url}', to_jsonb('https://github.com/crash/fork-' || f))
FROM generate_series(0, $FORKS - 1) f;
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
SELECT 'crash-' || f, 'crash-user-' || f, 'crash-lab', 'https://github.com/crash/fork-' || f, 'IN_PROGRESS', now()
FROM generate_series(0, $FORKS - 1) f;
CREATE TABLE crash_sent (n bigint PRIMARY KEY);
CREATE TABLE crash_ok (n bigint PRIMARY KEY);
-- Delivery n: its GUID and its payload (the same every time it is sent: a retry, not a conflict).
CREATE FUNCTION crash_guid(n bigint) RETURNS text LANGUAGE sql IMMUTABLE
    AS \$\$ SELECT format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0')) \$\$;
CREATE FUNCTION crash_body(n bigint) RETURNS jsonb LANGUAGE sql STABLE
    AS \$\$ SELECT jsonb_set(payload, '{after}', to_jsonb(lpad(to_hex(n), 40, '0'))) FROM crash_payload WHERE fork = n % $FORKS \$\$;
SQL

# The load: pgbench, 8 clients on their own connections (so a crash finds them inside record_push,
# not connecting).  Each transaction is a new delivery of this client, or (RETRY_PCT %) one it
# sent before in this run; one call per transaction, autocommit, as a webhook route makes it.
# \shell writes n to sent.log before the call and "n status" to ok.log after it returned (only
# after the commit: a delivery whose reply the crash cut off is in sent.log only, "in doubt").
cat > "$work/load.sql" <<SQL
\\set r random(1, 100)
\\if :k > 0 AND :r <= $RETRY_PCT
\\set n :base + :client_id * 100000 + random(1, :k)
\\else
\\set k :k + 1
\\set n :base + :client_id * 100000 + :k
\\endif
\\shell echo :n >> $work/sent.log
SELECT status AS st FROM forgea_audit.record_push(crash_body(:n), crash_guid(:n)) \\gset
\\shell echo :n :st >> $work/ok.log
SQL

# Starts the load in the background; base keeps each pgbench run's new deliveries apart.
runs=0
start_clients() {
    runs=$((runs + 1))
    pgbench -n -c "$CLIENTS" -j 2 -T "$1" -D k=0 -D base=$((runs * 10000000)) -f "$work/load.sql" \
        > "$work/pgbench.$runs.out" 2>&1 &
    load_pid=$!
}
# Waits for the load to end (all clients cut off by a crash, or its time up); a load that outlives
# that is a failure (the crash did not happen), not a reason to hang.
stop_clients() {
    local deadline=$((SECONDS + ${1:-15}))
    while kill -0 "$load_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$load_pid" 2>/dev/null; then
        kill "$load_pid"; not_ok "the load was still running ${1:-15} s after it should have ended"
    fi
    wait "$load_pid" 2>/dev/null
}
# Clients aborted by the crash in the middle of the call (pgbench names the command).
cut_off() { cat "$work"/pgbench.*.out | grep -c 'aborted in command 8'; }

# Loads the clients' logs into crash_sent / crash_ok (replacing them).
load_logs() {
    { echo "TRUNCATE crash_sent, crash_ok;"
      echo "COPY crash_sent FROM STDIN;"; sort -un "$work/sent.log"; echo '\.'
      echo "COPY crash_ok FROM STDIN;"; cut -d' ' -f1 "$work/ok.log" | sort -un; echo '\.'
    } | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
}

# Every check, after a recovery; $1 names the crash.
checks() {
    local what=$1 r
    load_logs
    local sent okc failed_calls
    sent=$(q "SELECT count(*) FROM crash_sent")
    okc=$(q "SELECT count(*) FROM crash_ok")
    failed_calls=$(cut_off)
    cut_now=$((failed_calls - prev_failed))
    echo "# after $what: $sent deliveries sent, $okc seen to succeed, $failed_calls clients cut off by crashes so far"
    if [ "${inflight:-0}" -gt 0 ]; then
        ok "$what: it hit calls in flight ($inflight backends inside record_push just before; $cut_now clients cut off)"
    else
        not_ok "$what: no backend was inside record_push when it came, so it proved nothing"
    fi
    prev_failed=$failed_calls

    # Reads from the heap, not through an index that the crash might have left inconsistent.
    local heap="SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;"
    check "$what: every delivery seen to succeed has exactly one attempt" \
        "$(q "$heap SELECT count(*) FROM crash_ok o LEFT JOIN (SELECT delivery_id, count(*) AS c FROM forgea_audit.lab_attempt GROUP BY 1) a
                  ON a.delivery_id = crash_guid(o.n)::uuid WHERE a.c IS DISTINCT FROM 1")" 0
    check "$what: no delivery has two attempts" \
        "$(q "$heap SELECT count(*) FROM (SELECT delivery_id FROM forgea_audit.lab_attempt GROUP BY 1 HAVING count(*) > 1) d")" 0
    check "$what: every attempt is a delivery a client sent" \
        "$(q "$heap SELECT count(*) FROM forgea_audit.lab_attempt a WHERE NOT EXISTS (SELECT 1 FROM crash_sent s WHERE crash_guid(s.n)::uuid = a.delivery_id)")" 0
    check "$what: every attempt has exactly one LAB_VERIFY_ATTEMPT audit row, and no other delivery has one" \
        "$(q "$heap SELECT (SELECT count(*) FROM (SELECT correlation_id FROM forgea_audit.audit_log WHERE action = 'LAB_VERIFY_ATTEMPT' GROUP BY 1 HAVING count(*) > 1) d)
                        + (SELECT count(*) FROM forgea_audit.audit_log l WHERE l.action = 'LAB_VERIFY_ATTEMPT'
                             AND NOT EXISTS (SELECT 1 FROM forgea_audit.lab_attempt a WHERE a.delivery_id::text = l.correlation_id))
                        + (SELECT count(*) FROM forgea_audit.lab_attempt a WHERE NOT EXISTS
                             (SELECT 1 FROM forgea_audit.audit_log l WHERE l.action = 'LAB_VERIFY_ATTEMPT' AND l.correlation_id = a.delivery_id::text))")" 0
    check "$what: no call returned conflict or unmatched" \
        "$(grep -cvE ' (recorded|duplicate)$' "$work/ok.log")" 0

    # Everything again, in one transaction: committed deliveries are duplicates, the ones the
    # crash cut short are recorded now, once.
    local committed expected got
    committed=$(q "SELECT count(*) FROM forgea_audit.lab_attempt")
    expected="duplicate=$committed recorded=$((sent - committed))"
    [ "$sent" -eq "$committed" ] && expected="duplicate=$committed"
    got=$(q "SELECT string_agg(status || '=' || c, ' ' ORDER BY status) FROM (SELECT r.status, count(*) AS c
             FROM crash_sent s, forgea_audit.record_push(crash_body(s.n), crash_guid(s.n)) r GROUP BY 1) x")
    check "$what: sending every delivery again records nothing new for the $committed that committed" "$got" "$expected"
    check "$what: after that, one attempt per delivery sent" "$(q "SELECT count(*) FROM forgea_audit.lab_attempt")" "$sent"

    r=$(q "SELECT ok::int || ' ' || rows_checked || ' ' || (SELECT count(*) FROM forgea_audit.audit_log) || ' ' || detail FROM forgea_audit.verify_chain()")
    local vok vrows vall
    read -r vok vrows vall _ <<<"$r"
    check "$what: verify_chain() is ok over every audit row ($r)" "$vok $vrows" "1 $vall"

    local idx
    idx=$(q "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
             JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
             WHERE am.amname = 'btree' AND (ns.nspname = 'forgea_audit' OR t.relname = 'LabSession')")
    if q "SELECT count(bt_index_check(c.oid, heapallindexed => true)) FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
          JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = t.relnamespace
          WHERE am.amname = 'btree' AND (ns.nspname = 'forgea_audit' OR t.relname = 'LabSession')" >/dev/null 2>"$work/amcheck.err"; then
        ok "$what: amcheck bt_index_check(heapallindexed) finds nothing in $(wc -w <<<"$idx") B-tree indexes"
    else
        not_ok "$what: amcheck reports corruption"; sed 's/^/#   /' "$work/amcheck.err"
    fi
}
q() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

# How many backends are inside record_push right now (sampled until some are, for up to 30 s: the
# deadline only turns a load that never started into a failure).
in_flight() {
    local n=0 deadline=$((SECONDS + 30))
    while [ $SECONDS -lt $deadline ]; do
        n=$(q "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%record_push%'
                 AND pid <> pg_backend_pid()")
        [ "$n" -gt 0 ] && break
    done
    echo "$n"
}

# A backend in the middle of a record_push call (one of the clients'), or any client backend.
busy_backend() {
    q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
         AND datname = '$DB' AND state = 'active' AND query LIKE '%record_push%' ORDER BY random() LIMIT 1"
}

prev_failed=0
started=$SECONDS
for round in 1 2 3; do
    ok_before=$( [ -f "$work/ok.log" ] && wc -l < "$work/ok.log" || echo 0)
    start_clients 120
    # The crash must find the clients running: polled until one of this load's calls has returned
    # (60 s at most), then $LOAD_BEFORE s more of load, so a slow start does not eat the load time.
    for _ in $(seq 300); do
        [ "$( [ -f "$work/ok.log" ] && wc -l < "$work/ok.log" || echo 0)" -gt "$ok_before" ] && break
        sleep 0.2
    done
    sleep "$LOAD_BEFORE"
    case $round in
        1|3)
            what="crash $round (pg_ctl stop -m immediate)"
            inflight=$(in_flight)
            fa_stop_immediate primary
            sleep 1
            fa_start primary || { cat "$(fa_log primary)" | tail -20; not_ok "$what: the server did not restart"; }
            ;;
        2)
            what="crash $round (kill -9 of a backend in record_push)"
            inflight=$(in_flight)
            for _ in $(seq 1 25); do pid=$(busy_backend); [ -n "$pid" ] && break; sleep 0.2; done
            echo "# kill -9 $pid: $(q "SELECT left(query, 60) FROM pg_stat_activity WHERE pid = ${pid:-0}" 2>/dev/null)"
            reinit_before=$(grep -c 'all server processes terminated; reinitializing' "$(fa_log primary)")
            kill -9 "$pid"
            # The postmaster sees the death, kills every backend and recovers: polled for its log
            # line (30 s at most), so fa_wait_ready below cannot reach the server before the reset.
            for _ in $(seq 150); do
                [ "$(grep -c 'all server processes terminated; reinitializing' "$(fa_log primary)")" -gt "$reinit_before" ] && break
                sleep 0.2
            done
            ;;
    esac
    if fa_wait_ready primary 60; then ok "$what: the server recovered and accepts connections"
    else not_ok "$what: the server did not come back"; stop_clients 1; break; fi
    stop_clients   # every client was cut off: pgbench has exited
    start_clients "$LOAD_AFTER"
    stop_clients $((LOAD_AFTER + 20))
    t0=$SECONDS
    checks "$what"
    echo "# checks took $((SECONDS - t0)) s"
done
calls=$(wc -l < "$work/ok.log")
retries=$(grep -c ' duplicate$' "$work/ok.log")
grep -q "terminated by signal 9" "$(fa_log primary)" && ok "the server log shows the backend killed by signal 9 and the crash restart" \
    || not_ok "the server log does not show a backend killed by signal 9"
echo "# $calls calls seen to succeed, by $CLIENTS clients, $retries of them retries ($((100 * retries / (calls > 0 ? calls : 1)))%), three crashes, in $((SECONDS - started)) s"
fa_done
