#!/usr/bin/env bash
# verify_increment()'s catch-up holds no lock the integrator or record_push need (issue 23, item 2):
# it verifies in batches of 32,768 leaves and, between two batches, reports progress and passes
# its pause point (docs/transparency.md, "Incremental verification"), and sleeps its cost delay
# (forgea_audit.catchup_delay) after every 1,000 rows, never in its locked last step, counted from
# the pass's DEBUG1 summary at the end of this test.  With 40,000 new leaves the
# first pass has two batches; a session holding the pause lock (pg_advisory_lock(7381244102691586071))
# stops it between them, a known point the test waits for through forgea_audit.progress (never a
# sleep).  There, from another session: record_push() records a push, merkle_integrate()
# integrates it and checkpoint() signs the tree, each returning while the catch-up is still
# paused (its progress row says so before and after); then the pause lock is let go and the pass
# ends ok, having verified every leaf, the new ones included.  On the old code (one pass holding
# merkle_state's lock from its start) the catch-up never pauses and this fails at the first wait.
# Runs with PGDATABASE etc. pointing at a fresh database from test/lib/in_cluster.sh; cwd = repo root.
set -uo pipefail
. test/lib/checks.sh
db=$PGDATABASE
key=7381244102691586071
work=$(mktemp -d)
chmod 777 "$work"
holder=""
trap 'exec 3>&- 2>/dev/null; [ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$work"' EXIT

q "$db" "SELECT count(forgea_audit.append('CATCHUP_TEST', chain => 'catchup:' || (g % 400),
                                           metadata => jsonb_build_object('g', g, 'k', md5(g::text))))
         FROM generate_series(1, 40000) g" >/dev/null
q "$db" "SELECT forgea_audit.merkle_integrate()" >/dev/null
q "$db" "SELECT forgea_audit.checkpoint()" >/dev/null
size=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_state")
check "40,000 rows and a checkpoint: more than one batch of leaves to verify" "$(q "$db" "SELECT $size > 32768")" t
q "$db" "INSERT INTO \"LabSession\" (\"id\", \"userId\", \"labId\", \"userForkUrl\", \"status\", \"updatedAt\")
         VALUES ('sess-catchup', 'student-7', 'lab-git-basics', 'https://github.com/Codertocat/Hello-World', 'STUCK', now())" >/dev/null

# The pause lock, held by a session fed through a FIFO (it keeps it until told to let go).
mkfifo "$work/hold.in"
psql -X -q -A -t -d "$db" <"$work/hold.in" >"$work/hold.out" 2>&1 &
holder=$!
exec 3>"$work/hold.in"
echo "SELECT pg_advisory_lock($key);" >&3
eventually "the holder has the pause lock" \
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ($key >> 32)::oid
                    AND objid = ($key & 4294967295)::oid AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))" 30

# The catch-up, in the background.
# The pause point works only for a session that a superuser gave forgea_audit.catchup_pause_point
# (off by default: else anyone who can take an advisory lock could hold up the worker's passes).
check "forgea_audit.catchup_pause_point is off by default" "$(q "$db" "LOAD 'forgea_audit'; SHOW forgea_audit.catchup_pause_point")" off
check "a login that is not a superuser cannot turn it on" \
    "$(q "$db" "LOAD 'forgea_audit'; CREATE ROLE catchup_nobody LOGIN; SET ROLE catchup_nobody;
                DO \$\$ BEGIN SET forgea_audit.catchup_pause_point = on; RAISE NOTICE 'set';
                EXCEPTION WHEN insufficient_privilege THEN RAISE WARNING '42501'; END \$\$" 2>&1 | grep -c 42501)" 1
# It sleeps a cost delay of 0.01 ms (below) and says in its DEBUG1 summary how often.
PGOPTIONS="${PGOPTIONS:-} -c forgea_audit.catchup_pause_point=on -c forgea_audit.catchup_delay=0.01 -c client_min_messages=debug1" \
psql -X -q -A -t -d "$db" -c "SELECT ok || ' ' || rows_checked || ' ' || to_size FROM forgea_audit.verify_increment()" \
    >"$work/pass.out" 2>"$work/pass.err" &
pass=$!
eventually "the catch-up stops at its pause point after its first batch (forgea_audit.progress)" \
    "SELECT EXISTS (SELECT FROM forgea_audit.progress WHERE progress ~ '^verify_increment: 32768 of $size new leaves verified, 1 batches; paused between batches')" 60
paused="SELECT EXISTS (SELECT FROM forgea_audit.progress WHERE progress ~ 'paused between batches')"

# At that point: record_push, the integrator and a checkpoint go through (each bounded by a
# statement_timeout that only turns a hang into a failure).
body=$(cat test/fixtures/github/push/api-with-new-branch.payload.json)
recorded=$(psql -X -q -A -t -d "$db" -v body="$body" <<'SQL'
SET statement_timeout = '30s';
SELECT status FROM forgea_audit.record_push_json(:'body', '7c3e4f60-0000-4000-8000-000000000023');
SQL
)
check "record_push() records a push while the catch-up is between batches" "$recorded" "recorded"
integrated=$(psql -X -q -A -t -d "$db" -c "SET statement_timeout = '30s'" -c "SELECT forgea_audit.merkle_integrate()")
check "merkle_integrate() takes merkle_state's lock and integrates the new rows meanwhile" "$(q "$db" "SELECT ${integrated:-0} > 0")" t
note=$(psql -X -q -A -t -d "$db" -c "SET statement_timeout = '30s'" -c "SELECT forgea_audit.checkpoint() IS NOT NULL")
check "checkpoint() signs the grown tree meanwhile" "$note" t
check "... and the catch-up is still paused at that point" "$(q "$db" "$paused")" t
check "... holding no lock on merkle_state (pg_locks: no relation lock of another mode than AccessShare)" \
    "$(q "$db" "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE a.query LIKE 'forgea\_audit progress: verify\_increment%' AND l.locktype = 'relation'
                  AND l.relation = 'forgea_audit.merkle_state'::regclass AND l.mode <> 'AccessShareLock'")" 0

# Let go: the pass ends, ok, with every leaf verified (the ones added meanwhile by the end step).
echo "SELECT pg_advisory_unlock($key);" >&3
exec 3>&-
wait "$holder"; holder=""
wait "$pass"
now=$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_state")
check "the catch-up ends ok, every leaf of the grown tree verified" "$(cat "$work/pass.out")" "true $now $now"
check "merkle_verified is at the tree size" "$(q "$db" "SELECT tree_size FROM forgea_audit.merkle_verified")" "$now"
check "the WAL written while it was paused (record_push, merkle_integrate, checkpoint) makes its next delay point sleep (catchup_delay_always off)" \
    "$(sed -n 's/.*verify_increment: [0-9]* rows checked in [0-9]* batches, \([0-9]*\) sleeps of 0.01 ms (forgea_audit.catchup_delay), [0-9]* delay points without a sleep.*/\1/p' "$work/pass.err" |
       awk '{print ($1 >= 1) ? "slept" : "never slept"}')" slept
check "verify_chain() agrees" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" t

# The cost delay (forgea_audit.catchup_delay): a sleep after every 1,000 rows of the unlocked
# catch-up, none in the locked last step; unless forgea_audit.catchup_delay_always is on, only if
# somebody else wrote WAL since the last such point (writers are committing), so a catch-up alone
# runs at full speed.  Counted from the pass's DEBUG1 summary ("S sleeps of D ms (...), K delay
# points without a sleep"), not timed.
sleeps() {  # $1: delay (ms), $2: catchup_delay_always; prints "sleeps skipped"
    PGOPTIONS="${PGOPTIONS:-} -c forgea_audit.catchup_delay=$1 -c forgea_audit.catchup_delay_always=$2 -c client_min_messages=debug1" \
        psql -X -q -A -t -d "$db" -c "SELECT ok FROM forgea_audit.verify_increment()" 2>&1 |
        sed -n 's/.*verify_increment: [0-9]* rows checked in [0-9]* batches, \([0-9]*\) sleeps of [^,]*, \([0-9]*\) delay points without a sleep.*/\1 \2/p'
}
more() {  # 3,500 rows more, integrated unless $1 = no
    q "$db" "SELECT count(forgea_audit.append('CATCHUP_DELAY', chain => 'delay:' || (g % 7))) FROM generate_series(1, 3500) g" >/dev/null
    [ "${1:-}" = no ] || q "$db" "SELECT forgea_audit.merkle_integrate()" >/dev/null
}
check "forgea_audit.catchup_delay's default (docs/operations.md)" "$(q "$db" "LOAD 'forgea_audit'; SHOW forgea_audit.catchup_delay")" "0"
check "forgea_audit.worker_catchup_delay's default (the worker's passes; docs/operations.md)" \
    "$(q "$db" "LOAD 'forgea_audit'; SHOW forgea_audit.worker_catchup_delay")" "10ms"
check "forgea_audit.catchup_delay_always's default" "$(q "$db" "LOAD 'forgea_audit'; SHOW forgea_audit.catchup_delay_always")" "off"
more
check "3,500 integrated rows, catchup_delay 0.01 ms, catchup_delay_always on: the catch-up sleeps 3 times" "$(sleeps 0.01 on)" "3 0"
more no
check "3,500 rows left to the locked last step (not integrated before): it never sleeps" "$(sleeps 0.01 on)" "0 0"
more
check "catchup_delay 0: no sleep (a session's call ignores worker_catchup_delay)" "$(sleeps 0 on)" "0 0"

# catchup_delay_always off (the default) and nobody else writing WAL: no sleep at the 3 delay
# points.  Autovacuum, the one other writer in this cluster, is kept off the tables meanwhile by a
# session holding SHARE UPDATE EXCLUSIVE on them (autovacuum skips a table it cannot lock; the
# pass needs no lock that conflicts: merkle_state and merkle_verified are not held).
more
psql -X -q -A -t -d "$db" >"$work/novac.out" 2>&1 <<'SQL' &
BEGIN;
DO $$ DECLARE t regclass; BEGIN
    FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'r' AND n.nspname IN ('forgea_audit', 'public')
               AND c.relname NOT IN ('merkle_state', 'merkle_verified') LOOP
        EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', t);
    END LOOP;
END $$;
SELECT set_config('application_name', 'catchup_novacuum', false);
SELECT pg_sleep(120);
SQL
novac=$!
eventually "a session keeps autovacuum off the tables" \
    "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'catchup_novacuum' AND wait_event = 'PgSleep')" 30
# The cluster itself may still write WAL meanwhile (the background writer's running-transactions
# record every 15 s, a checkpoint, autovacuum in another test's database): each such write makes
# one delay point sleep, as it should.  So up to 3 passes, each over 3,500 new rows, and the first
# that met no such write counts; a catch-up that sleeps whether or not others write never gives
# "0 3" (the always-on check above: "3 0").
alone=""
for attempt in 1 2 3; do
    [ "$attempt" -eq 1 ] || more
    alone=$(sleeps 0.01 off)
    [ "$alone" = "0 3" ] && break
    echo "# pass $attempt: $alone (sleeps, skipped): somebody else wrote WAL meanwhile; again"
done
check "3,500 integrated rows, catchup_delay 0.01 ms, nobody else writing WAL: no sleep, 3 delay points skipped" \
    "$alone" "0 3"
q "$db" "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'catchup_novacuum'" >/dev/null
wait "$novac" 2>/dev/null
check "verify_chain() agrees" "$(q "$db" "SELECT ok FROM forgea_audit.verify_chain()")" t

[ "$failures" -eq 0 ]
