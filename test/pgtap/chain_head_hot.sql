-- Every append updates its chain's head in forgea_audit.chain_head; that update must stay HOT
-- (heap-only: no new entry in chain_head_pkey, less WAL; issue 13, "WAL bytes per delivery").
-- It stays HOT only if the head's page has room for the row's next version and no index covers
-- an updated column.  chain_head is created WITH (fillfactor = 50) for the room: without it a
-- page filled by new chains has none, and every head update on it moves the row to another page
-- and inserts an index entry.  This fills pages with new chains, then appends (record_push and
-- append()) to chains whose heads sit on the first of those pages, all in one transaction, and
-- counts the transaction's updates of chain_head (pg_stat_xact_user_tables): all must be HOT.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(5);

INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-hot-1', 'u1', 'lab', 'https://github.com/hot/hot-one', 'IN_PROGRESS', now()),
       ('s-hot-2', 'u2', 'lab', 'https://github.com/hot/hot-two', 'IN_PROGRESS', now());

-- Records one push of the real fixture to a fork under a fresh GUID; returns its status.
CREATE FUNCTION pg_temp.push(fork text, guid text) RETURNS text LANGUAGE sql AS
$$
SELECT status FROM forgea_audit.record_push(
    (SELECT jsonb_set(payload, '{repository,html_url}', to_jsonb('https://github.com/hot/' || fork))
     FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'), guid)
$$;

-- The transaction's updates of chain_head so far: (all, HOT).
CREATE FUNCTION pg_temp.head_updates() RETURNS bigint[] LANGUAGE sql AS
$$
SELECT ARRAY[n_tup_upd, n_tup_hot_upd] FROM pg_stat_xact_user_tables WHERE relid = 'forgea_audit.chain_head'::regclass
$$;

-- The sessions' heads first, then 300 new chains after them: the first page fills up.
SELECT is(pg_temp.push('hot-one', '00000000-0000-4000-8000-00000000a001'), 'recorded', 'first push, session 1');
SELECT is(pg_temp.push('hot-two', '00000000-0000-4000-8000-00000000a002'), 'recorded', 'first push, session 2');
SELECT count(forgea_audit.append('HOT_FILL', chain => 'hotfill:' || lpad(g::text, 4, '0'))) FROM generate_series(1, 300) g;
SELECT pg_temp.head_updates() AS before \gset

-- Appends to chains whose heads are on that first page: three pushes per session, and ten
-- append() calls to the first fill chains.
SELECT pg_temp.push(CASE WHEN g % 2 = 0 THEN 'hot-one' ELSE 'hot-two' END,
                    '00000000-0000-4000-8000-00000000b' || lpad(g::text, 3, '0'))
FROM generate_series(1, 6) g;
SELECT forgea_audit.append('HOT_AGAIN', chain => 'hotfill:' || lpad(g::text, 4, '0')) FROM generate_series(1, 10) g;

SELECT cmp_ok((pg_temp.head_updates())[1] - (:'before'::bigint[])[1], '>=', 16::bigint,
              'the 16 appends updated chain_head at least 16 times');
SELECT is((pg_temp.head_updates())[2] - (:'before'::bigint[])[2],
          (pg_temp.head_updates())[1] - (:'before'::bigint[])[1],
          'every one of those updates was HOT (heap-only)');
-- What keeps them HOT besides the room: no index of chain_head covers a column an append updates.
SELECT is((SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
           WHERE i.indrelid = 'forgea_audit.chain_head'::regclass AND a.attname <> 'chain_id'),
          0::bigint, 'chain_head has no index on length, last_seq, last_hash or updated_at');

SELECT * FROM finish();
ROLLBACK;
