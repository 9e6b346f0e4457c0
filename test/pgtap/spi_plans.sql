-- Saved SPI plans (src/pg/spi_plan.cpp): a set of statements that fails to prepare keeps none of
-- them.  The lab session binding prepares two statements against forgea_audit.lab_session_table;
-- pointed at a table that has the lookup's columns but not the ones the touch writes, the first
-- prepares and the second fails.  Kept plans are visible as CachedPlanSource memory contexts
-- (their ident is the statement), so a plan left behind by a failed set shows up there, one more
-- per retry.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(6);

-- "id", "userId", "userForkUrl", "status", "startedAt": enough for the lookup; no "lastActivityAt"
-- or "updatedAt", which the touch sets.
CREATE TABLE public.half_session ("id" text, "userId" text, "userForkUrl" text, "status" text,
                                  "startedAt" timestamp(3));

CREATE FUNCTION pg_temp.kept_plans(pattern text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource' AND ident LIKE pattern $$;

-- The error context of a call that raises.
CREATE FUNCTION pg_temp.context_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    ctx text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
    RETURN ctx;
END $$;

SELECT payload AS push FROM public.fixture_push ORDER BY name LIMIT 1 \gset

SET forgea_audit.lab_session_table = 'public.half_session';
SELECT throws_ok(format('SELECT * FROM forgea_audit.record_push(%L::jsonb, %L)', :'push', gen_random_uuid()),
                 '42703', NULL, 'a session table without "lastActivityAt": record_push fails with 42703 (undefined column)');
SELECT matches(pg_temp.context_of(format('SELECT * FROM forgea_audit.record_push(%L::jsonb, %L)', :'push', gen_random_uuid())),
               'preparing the lab session statements on public\.half_session, which needs the columns',
               'the error says which statements failed to prepare and which columns the table needs');
SELECT throws_ok(format('SELECT * FROM forgea_audit.record_push(%L::jsonb, %L)', :'push', gen_random_uuid()),
                 '42703', NULL, 'and a third time');
SELECT is(pg_temp.kept_plans('%half_session%'), 0::bigint,
          'three failed prepares kept no plan (the lookup, which prepared, was not kept without the touch)');

RESET forgea_audit.lab_session_table;
SELECT is((SELECT status FROM forgea_audit.record_push(:'push'::jsonb, gen_random_uuid()::text)), 'unmatched',
          'the real table again: record_push runs (no session: unmatched)');
SELECT is(pg_temp.kept_plans('%"LabSession"%'), 2::bigint, 'and its two statements are kept, once each');

SELECT * FROM finish();
