#!/usr/bin/env bash
# The worker's path of webhook_rejection's retention (run_retention()'s is
# test/pgtap/rejection_retention.sql), in a cluster started with
#   shared_preload_libraries = 'forgea_audit', forgea_audit.database = postgres,
#   forgea_audit.retention_interval = 1s
# (test/run_tests.sh): minute rows of whole UTC days older than rejection_retention are summed
# into webhook_rejection_daily by the worker, one transaction per day, each with its
# WEBHOOK_REJECTIONS_ROLLED_UP event; newer minutes stay, no count is lost.  Waits poll with a
# deadline (a hang becomes a failure); nothing asserts on time.
set -uo pipefail
cd "$FA_ROOT"
export PGDATABASE=postgres

. test/lib/checks.sh   # check, eventually (in $PGDATABASE)
q1() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
\i test/fixtures/app-schema/lab_session.sql
CREATE EXTENSION forgea_audit;
-- Three due days (100, 99 and 95 days ago, UTC) and one recent minute.
INSERT INTO forgea_audit.webhook_rejection (minute, reason, shard, deliveries, bytes)
SELECT date_trunc('day', now() - make_interval(days => d), 'UTC') + make_interval(mins => m), r, s, d + m, 10 * (d + m)
FROM (VALUES (100), (99), (95)) days(d), generate_series(0, 2) m, (VALUES ('signature'), ('payload')) reasons(r),
     generate_series(0, 1) s;
INSERT INTO forgea_audit.webhook_rejection VALUES (date_trunc('minute', now()), 'signature', 0, 5, 50);
SQL
total=$(q1 "SELECT sum(deliveries) FROM forgea_audit.webhook_rejection")
check "the worker is running" "$(q1 "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'forgea_audit retention'")" t

eventually "the worker sums the three due days into webhook_rejection_daily" \
    "SELECT count(DISTINCT day) = 3 FROM forgea_audit.webhook_rejection_daily" 60
check "one row per day and reason" "$(q1 "SELECT count(*) FROM forgea_audit.webhook_rejection_daily")" 6
check "one WEBHOOK_REJECTIONS_ROLLED_UP event per day, by the retention actor on chain retention" \
      "$(q1 "SELECT count(*) FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_REJECTIONS_ROLLED_UP'
            AND actor_id = 'forgea_audit.retention' AND chain_id = 'retention'")" 3
check "only the recent minute is left in webhook_rejection" \
      "$(q1 "SELECT count(*) || ' ' || sum(deliveries) FROM forgea_audit.webhook_rejection")" "1 5"
check "no delivery is lost" \
      "$(q1 "SELECT (SELECT sum(deliveries) FROM forgea_audit.webhook_rejection) + (SELECT sum(deliveries) FROM forgea_audit.webhook_rejection_daily)")" \
      "$total"
check "each day's signature count: 2 shards x 3 minutes" \
      "$(q1 "SELECT string_agg(deliveries::text || '/' || minute_rows, ',' ORDER BY day) FROM forgea_audit.webhook_rejection_daily WHERE reason = 'signature'")" \
      "606/6,600/6,576/6"
check "the daily rows name their events" \
      "$(q1 "SELECT bool_and(EXISTS (SELECT 1 FROM forgea_audit.audit_log l WHERE l.seq = d.rollup_seq
            AND l.action = 'WEBHOOK_REJECTIONS_ROLLED_UP')) FROM forgea_audit.webhook_rejection_daily d")" t
check "the chain verifies" "$(q1 "SELECT ok FROM forgea_audit.verify_chain()")" t

echo "rejection_retention (worker): $failures failure(s)"
[ "$failures" -eq 0 ]
