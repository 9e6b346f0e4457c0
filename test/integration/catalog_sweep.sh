#!/usr/bin/env bash
# Catalogue-driven sweep (issue 20): every table, view, sequence and function of the extension
# (pg_depend), aimed at by the superuser and by every role the extension grants anything to, with
# what a new user would try (test/integration/catalog_sweep.sql generates the statements): for
# every relation INSERT of all NULLs, INSERT ... DEFAULT VALUES, INSERT with each column NULL,
# COPY FROM with \N fields, with valid values and with a wrong-typed field, UPDATE of each column
# to NULL, DELETE, TRUNCATE, each also under session_replication_role = replica; for every
# function NULL in each argument, empty strings, '{}', '[]', deeply nested and 1 MB jsonb/text,
# zero, negative and huge numbers.  Each statement runs in its own transaction, with
# statement_timeout (a hang becomes a failure), and is rolled back.
# Passes only if:
#   - the server never crashed: pg_postmaster_start_time() unchanged, a connection opened before
#     the sweep still there after it, no "terminated by signal" or PANIC in the server log;
#   - every statement answered: success or an ERROR with a SQLSTATE (or a FATAL with one, when a
#     function ends the session on purpose; listed), none an internal error (class XX), a
#     timeout (57014) or a connection lost without a word;
#   - verify_chain() is still ok and every table of the extension holds the rows it held.
# Runs with PGDATABASE pointing at a fresh database prepared by test/lib/prepare_db.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/checks.sh
db=$PGDATABASE
TIMEOUT=${FA_SWEEP_TIMEOUT:-5s}
work=$(mktemp -d)
trap 'kill "${sentinel:-}" 2>/dev/null; rm -rf "$work"' EXIT

# The server log: the collector's current file, else the file Debian's pg_ctlcluster writes
# (pg_virtualenv's cluster), found by the port.  No log found is a failure: a crash must be seen.
server_log() {
    local f
    f=$(q postgres "SELECT CASE WHEN pg_current_logfile() IS NULL THEN '' WHEN pg_current_logfile() LIKE '/%' THEN pg_current_logfile()
                    ELSE current_setting('data_directory') || '/' || pg_current_logfile() END")
    if [ -z "$f" ] && command -v pg_lsclusters >/dev/null; then
        f=$(pg_lsclusters -h 2>/dev/null | awk -v p="${PGPORT:-5432}" '$3 == p { print $7 }' | head -1)
    fi
    echo "$f"
}

# Some rows everywhere, so that UPDATE, DELETE and the functions have something to aim at.
q "$db" "INSERT INTO \"LabSession\" (\"id\", \"userId\", \"labId\", \"userForkUrl\", \"status\", \"updatedAt\")
         SELECT 'sweep-' || row_number() OVER (), 'sweep-user', 'sweep-lab', u, 'IN_PROGRESS', now()
         FROM (SELECT DISTINCT payload->'repository'->>'html_url' AS u FROM fixture_push) x WHERE u IS NOT NULL" >/dev/null
q "$db" "SELECT count(*) FROM fixture_push f, LATERAL forgea_audit.record_push(f.payload, gen_random_uuid()::text) r" >/dev/null
q "$db" "SELECT forgea_audit.append('SWEEP_SEED', actor_type => 'user', actor_id => 'u1', target_type => 'thing', target_id => 't' || i, tenant_id => 'acme')
         FROM generate_series(1, 3) i" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
q "$db" "SELECT forgea_audit.reject_delivery('signature', 'sweep-delivery', decode(repeat('00', 32), 'hex'), 10)" >/dev/null
q "$db" "SELECT forgea_audit.verify_increment()" >/dev/null

psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/integration/catalog_sweep.sql >/dev/null || { echo "not ok - loading catalog_sweep.sql"; exit 1; }

counts() {
    q "$db" "SELECT string_agg(name || '=' || (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM ' || name, false, true, '')))[1]::text, ' ' ORDER BY name)
             FROM sweep.ext_relation WHERE relkind IN ('r', 'p')"
}
sequences=$(q "$db" "SELECT string_agg(format('SELECT setval(%L, %s, %s);', name,
                        (xpath('/row/v/text()', query_to_xml('SELECT last_value AS v FROM ' || name, false, true, '')))[1]::text,
                        (xpath('/row/c/text()', query_to_xml('SELECT is_called AS c FROM ' || name, false, true, '')))[1]::text), ' ')
                     FROM sweep.ext_relation WHERE relkind = 'S'")
counts_before=$(counts)
echo "# rows before: $counts_before"
echo "# objects: $(q "$db" "SELECT (SELECT count(*) FROM sweep.ext_relation) || ' relations, ' || (SELECT count(*) FROM sweep.ext_function) || ' functions; roles: superuser, ' || (SELECT string_agg(role, ', ' ORDER BY role) FROM sweep.ext_role)")"
unknown=$(q "$db" "SELECT string_agg(type, ', ') FROM sweep.unknown_type")
[ -n "$unknown" ] && echo "# types without sweep values (NULL and base value only): $unknown"
total=$(q "$db" "SELECT count(*) FROM sweep.stmt")
echo "# $total statements"

log=$(server_log)
check "the server log is found and readable" "$([ -n "$log" ] && [ -r "$log" ] && echo yes)" yes
log_offset=$( [ -r "$log" ] && stat -c %s "$log" || echo 0)
started=$(q postgres "SELECT pg_postmaster_start_time()")
# A connection that a crash restart would end.
psql -X -q -d "$db" -c "SET application_name = 'catalog_sweep_sentinel'" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
sentinel=$!
for _ in $(seq 300); do
    sentinel_pid=$(q "$db" "SELECT pid FROM pg_stat_activity WHERE application_name = 'catalog_sweep_sentinel'")
    [ -n "$sentinel_pid" ] && break
    sleep 0.1
done

q "$db" "SELECT id || '|' || coalesce(who, 'superuser') || '|' || replica || '|' || what FROM sweep.stmt ORDER BY id" > "$work/manifest"
# psql stops at a lost connection: then the statement after the last answered one is the crasher,
# and the sweep goes on after it once the server accepts connections again (so that a run on
# broken code lists every crashing statement, not just the first).
t0=$SECONDS
from=1
: > "$work/out"; : > "$work/err"; : > "$work/crashed"
for _ in $(seq 300); do
    # (after a crash, the server refuses connections until its recovery is over: 60 s at most)
    for _ in $(seq 300); do
        { echo '\set VERBOSITY verbose'; q "$db" "SELECT sweep.script('$TIMEOUT', $from)"; } > "$work/script.sql" 2>/dev/null && break
        sleep 0.2
    done
    psql -X -q -d "$db" -f "$work/script.sql" >> "$work/out" 2> "$work/err.chunk"
    cat "$work/err.chunk" >> "$work/err"
    # Could not connect at all (the server still recovering from a crash): not an answer, retry.
    if grep -q '^psql: error: connection to server' "$work/err.chunk"; then sleep 0.5; continue; fi
    last=$(awk -v from="$from" '$1 == "@@" && $2 + 0 >= from + 0 { l = $2 } END { print l + 0 }' "$work/out")
    [ "$last" -lt "$from" ] && last=$((from - 1))
    [ "$last" -ge "$total" ] && break
    # A session the server ended on purpose says so (FATAL with a SQLSTATE) before it goes: that
    # is an answer; a connection lost without one is a crash.
    fatal=$(grep -o -E 'FATAL:  [0-9A-Z]{5}:' "$work/err.chunk" | tail -1 | cut -c9-13)
    if [ -n "$fatal" ]; then
        echo "@@ $((last + 1)) FATAL-$fatal" >> "$work/crashed"
    else
        echo "@@ $((last + 1)) crash" >> "$work/crashed"
    fi
    from=$((last + 2))
    [ "$from" -gt "$total" ] && break
done
cat "$work/crashed" >> "$work/out"
echo "# ran in $((SECONDS - t0)) s"

# One "@@ id SQLSTATE" line per statement; join with the manifest.  A COPY's own SQLSTATE comes
# from stderr (the first ERROR after its "@@ id" marker), as psql leaves SQLSTATE at 00000.
awk '/^@@ [0-9]+$/ { cur = $2; next }
     cur != "" && match($0, /(ERROR|FATAL|PANIC):  [0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]:/) {
         print "@@ " cur " " substr($0, RSTART + RLENGTH - 6, 5); cur = "" }' "$work/err" > "$work/copy_states"
awk '$1 == "@@" { s[$2] = ($3 == "" ? "none" : $3) }
     END { for (id in s) print id "|" s[id] }' "$work/out" "$work/copy_states" | sort -t'|' -k1,1 > "$work/states"
sort -t'|' -k1,1 "$work/manifest" > "$work/manifest.sorted"
join -t'|' -a1 -e missing -o '1.1,2.2,1.2,1.3,1.4' "$work/manifest.sorted" "$work/states" | sort -t'|' -k1,1n > "$work/results"
[ -n "${FA_SWEEP_RESULTS:-}" ] && cp "$work/results" "$FA_SWEEP_RESULTS"
echo "# SQLSTATEs: $(cut -d'|' -f2 "$work/results" | sort | uniq -c | sort -rn | awk '{ printf "%s %s, ", $2, $1 }')"
bad=$(awk -F'|' '$2 == "missing" || $2 == "none" || $2 == "crash" || $2 ~ /^(XX|57|08|58)/' "$work/results")
if [ -n "$bad" ]; then
    echo "# statements without a proper answer (id|SQLSTATE|role|replica|what), first 40:"
    head -40 <<<"$bad" | sed 's/^/#   /'
fi
check "every statement answered with success or an ERROR with a SQLSTATE (no crash, hang or internal error)" \
    "$(wc -l < "$work/results") $( [ -n "$bad" ] && wc -l <<<"$bad" || echo 0)" "$total 0"
fatals=$(awk -F'|' '$2 ~ /^FATAL-/' "$work/results")
if [ -n "$fatals" ]; then
    echo "# statements whose session the server ended on purpose (FATAL with a SQLSTATE), first 10:"
    head -10 <<<"$fatals" | sed 's/^/#   /'
fi
check "no connection was lost without a FATAL from the server (a crash)" "$(awk -F'|' '$2 == "crash"' "$work/results" | wc -l)" 0

check "the postmaster did not restart (pg_postmaster_start_time unchanged)" "$(q postgres "SELECT pg_postmaster_start_time()")" "$started"
check "the connection opened before the sweep is still there" \
    "$(q "$db" "SELECT count(*) FROM pg_stat_activity WHERE pid = ${sentinel_pid:-0}")" 1
if [ -r "$log" ]; then
    tail -c +"$((log_offset + 1))" "$log" > "$work/log"
    crashes=$(grep -E 'terminated by signal|was terminated by exception|PANIC:|server process .* exited with exit code [^01]' "$work/log")
    [ -n "$crashes" ] && head -5 <<<"$crashes" | sed 's/^/#   /'
    check "the server log has no crashed backend and no PANIC" "$(grep -c . <<<"$crashes")" 0
fi

psql -X -q -d "$db" -c "$sequences" >/dev/null
check "verify_chain() is ok after the sweep" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" t
check "every table of the extension holds the rows it held" "$(counts)" "$counts_before"
[ "$failures" -eq 0 ]
