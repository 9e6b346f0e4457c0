#!/usr/bin/env bash
# SQL-level fuzzer: mutations of the real GitHub fixtures (test/integration/sql_fuzz.sql: every
# node of every fixture dropped, retyped, duplicated, deepened, lengthened, renamed, or given NUL,
# lone surrogates and other unicode) sent through both record_push (jsonb) and record_push_json
# (json), plus payloads with invalid UTF-8 bytes sent by the client.  Deterministic: setseed
# FA_SQL_FUZZ_SEED, FA_SQL_FUZZ_N mutations (default 400).  Asserts:
#   - no backend crash: the postmaster's start time is unchanged and a connection opened before
#     the run is still there after it;
#   - every refusal has a class-22 SQLSTATE and wrote nothing;
#   - both functions give the same verdict (both accept with the same status and session, or both
#     refuse with the same SQLSTATE and message) and, when both record, the same attempt row
#     (payload_sha256 and every column but id, delivery_id, recorded_at);
#   - verify_chain() is ok at the end.
# Runs with PGDATABASE pointing at a fresh database prepared by test/lib/prepare_db.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/checks.sh

N=${FA_SQL_FUZZ_N:-400}
SEED=${FA_SQL_FUZZ_SEED:-0.4242}
BATCH=100
db=$PGDATABASE

psql -X -q -v ON_ERROR_STOP=1 -f test/integration/sql_fuzz.sql >/dev/null || { echo "not ok - loading sql_fuzz.sql"; exit 1; }
# One active session per fixture repository, so that accepted payloads are recorded, not unmatched.
q "$db" "INSERT INTO \"LabSession\" (\"id\", \"userId\", \"labId\", \"userForkUrl\", \"status\", \"updatedAt\")
        SELECT 'fuzz-' || row_number() OVER (), 'fuzz-user', 'fuzz-lab', u, 'IN_PROGRESS', now()
        FROM (SELECT DISTINCT payload->'repository'->>'html_url' AS u FROM fixture_push) x WHERE u IS NOT NULL" >/dev/null

started=$(q "$db" "SELECT pg_postmaster_start_time()")
# A connection that a crash restart would kill.
psql -X -q -c "SET application_name = 'sql_fuzz_sentinel'" -c "SELECT pg_sleep(900)" >/dev/null 2>&1 &
sentinel=$!
# Polled until the sentinel is connected (30 s at most), not a sleep that a slow machine may outrun.
sentinel_pid=""
for _ in $(seq 300); do
    sentinel_pid=$(q "$db" "SELECT pid FROM pg_stat_activity WHERE application_name = 'sql_fuzz_sentinel'")
    [ -n "$sentinel_pid" ] && break
    sleep 0.1
done
t0=$SECONDS

done_n=0
for ((first = 1; first <= N; first += BATCH)); do
    n=$((N - first + 1 < BATCH ? N - first + 1 : BATCH))
    seed=$(awk -v s="$SEED" -v f="$first" 'BEGIN { x = s + f / 100000; printf "%.6f", x - int(x) }')
    if q "$db" "SELECT sqlfuzz_run($first, $n, $seed)" >/dev/null 2>"/tmp/sql_fuzz.$$.err"; then
        done_n=$((done_n + n))
    else
        echo "# batch from $first failed: $(cat "/tmp/sql_fuzz.$$.err")"
    fi
done
rm -f "/tmp/sql_fuzz.$$.err"
check "all $N mutations ran (each through both functions)" "$done_n" "$N"

# Invalid UTF-8 from the client: refused before either function runs (22021), nothing written.
rows_before=$(q "$db" "SELECT (SELECT count(*) FROM forgea_audit.audit_log) + (SELECT count(*) FROM forgea_audit.lab_attempt)")
bad=0; cases=0
for bytes in '\xff' '\xc3' '\xc3\x28' '\xe2\x82' '\xed\xa0\x80' '\xf4\x90\x80\x80' '\xc0\xaf'; do
    for fn in record_push record_push_json; do
        cases=$((cases + 1))
        cast=jsonb; [ $fn = record_push_json ] && cast=json
        body=$(printf '{"ref": "refs/heads/m%bn", "after": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "repository": {"html_url": "https://github.com/Codertocat/Hello-World"}}' "$bytes")
        # In the query text itself (psql refuses to quote a variable holding invalid UTF-8): the
        # server checks the encoding of every text it receives, as it does a bind parameter's.
        out=$(printf '%s\n' "SELECT status FROM forgea_audit.$fn(\$b\$$body\$b\$::$cast, gen_random_uuid()::text);" \
              | psql -X -q -v VERBOSITY=verbose -v ON_ERROR_STOP=1 2>&1)
        grep -q 'ERROR:  22021' <<<"$out" || { bad=$((bad + 1)); echo "#   $fn with bytes $bytes: $out"; }
    done
done
check "invalid UTF-8 ($cases payloads) is refused with 22021 by both functions" "$bad" 0
check "and wrote nothing" "$(q "$db" "SELECT (SELECT count(*) FROM forgea_audit.audit_log) + (SELECT count(*) FROM forgea_audit.lab_attempt)")" "$rows_before"

echo "# $(q "$db" "SELECT string_agg(kind || ' ' || verdict || '=' || n, ', ' ORDER BY kind, verdict) FROM (SELECT kind, verdict, sum(n) AS n FROM sqlfuzz_tally GROUP BY 1, 2) t")"
findings=$(q "$db" "SELECT count(*) FROM sqlfuzz_finding")
if [ "$findings" -eq 0 ]; then
    echo "ok - no finding in $(q "$db" "SELECT sum(n) FROM sqlfuzz_tally") mutations"
else
    echo "not ok - $findings findings (first 10):"
    q "$db" "SELECT format('#   #%s %s %s %s/%s: %s | A: %s %s | B: %s %s', i, fixture, path, kind, variant, problem,
                           a_state, left(a_msg, 160), b_state, left(b_msg, 160))
             FROM sqlfuzz_finding ORDER BY i LIMIT 10"
    failures=$((failures + 1))
fi
check "the refusals were all class 22 and the acceptances recorded something (both kinds happened)" \
    "$(q "$db" "SELECT bool_or(verdict LIKE 'refused:22%') AND bool_or(verdict = 'accepted:recorded') FROM sqlfuzz_tally")" t
check "no backend crashed: the postmaster start time is unchanged" "$(q "$db" "SELECT pg_postmaster_start_time()")" "$started"
check "and the connection opened before the run is still there" \
    "$(q "$db" "SELECT count(*) FROM pg_stat_activity WHERE pid = ${sentinel_pid:-0}")" 1
kill "$sentinel" 2>/dev/null; q "$db" "SELECT pg_terminate_backend(${sentinel_pid:-0})" >/dev/null 2>&1
check "verify_chain() is ok at the end" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" t
echo "# sql_fuzz: $N mutations + $cases invalid-UTF-8 payloads in $((SECONDS - t0)) s (seed $SEED)"
[ "$failures" -eq 0 ]
