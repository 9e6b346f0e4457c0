-- verify_chain()'s verdicts and the hashes it recomputes do not depend on the session's settings
-- (issue 23 item 4): DateStyle, IntervalStyle, TimeZone, extra_float_digits, lc_messages,
-- lc_monetary, lc_numeric, lc_time, bytea_output and search_path (a schema ahead of pg_catalog
-- with its own = operator on bytea and its own sha256 function) set to unusual
-- values, one at a time and all at once (all at once also with the parallel pass,
-- forgea_audit.verify_workers = 2, whose workers take the session's settings).  Under each: verify_chain() and verify_chain(note) on an
-- intact log and on one with a row changed (in a subtransaction rolled back), rows appended under
-- that setting (timestamps, numbers, floats, unicode in the metadata) and then checked under the
-- defaults, and the canonical JSON of every row's metadata: all identical to the defaults'.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(5);

-- A log with what the settings could change the printing of: numbers of every shape (from
-- numeric and float8), timestamps, dates, unicode; pushes of the real fixtures; a checkpoint.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('sess-set', 'student-set', 'lab-set', 'https://github.com/Codertocat/Hello-World', 'IN_PROGRESS', now());
SELECT count(*) FROM public.fixture_push f, LATERAL forgea_audit.record_push(f.payload, md5(f.name)::uuid::text) r;
SELECT count(forgea_audit.append('SETTINGS_ROW', chain => 'settings:' || (g % 3),
                                 metadata => jsonb_build_object('f', g / 7.0::float8, 'n', g * 1.5, 'big', 10::numeric ^ (g % 40),
                                                                't', timestamptz '2026-01-02 03:04:05.678+00' + g * interval '1 day 1 ms',
                                                                'd', date '2026-03-04' + g, 'i', interval '1 day 2 hours' * g,
                                                                'money', (g * 1.25)::numeric(12, 2), 'u', 'é日本😀' || g,
                                                                'b', decode(md5(g::text), 'hex'))))
FROM generate_series(1, 60) g;
SELECT forgea_audit.checkpoint() AS note \gset
CREATE TEMP TABLE base AS SELECT max(seq) AS last FROM forgea_audit.audit_log;

-- A schema that a careless search_path puts ahead of pg_catalog.
CREATE SCHEMA evil;
CREATE FUNCTION evil.byteaeq_lies(bytea, bytea) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = evil.byteaeq_lies);
CREATE FUNCTION evil.sha256(bytea) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$SELECT '\x00'::bytea$$;

-- Everything the checks compare: both verdicts, intact and with a row changed, and the canonical
-- JSON and row_hash of every row.
CREATE TEMP TABLE seen (setting text PRIMARY KEY, intact text, intact_note text, changed text, changed_note text, hashes text);
CREATE FUNCTION pg_temp.look(setting text, note text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE a text; b text; c text; d text; h text;
BEGIN
    -- (rows_checked and the "verified N rows" detail grow as rows are appended: the verdict is ok.)
    SELECT format('%s', v.ok) INTO a FROM forgea_audit.verify_chain() v;
    SELECT format('%s', v.ok) INTO b FROM forgea_audit.verify_chain(note) v;
    BEGIN
        ALTER TABLE forgea_audit.audit_log DISABLE TRIGGER ALL;
        UPDATE forgea_audit.audit_log SET metadata = metadata || '{"f": 0.5}'
        WHERE seq = (SELECT min(seq) + 20 FROM forgea_audit.audit_log WHERE action = 'SETTINGS_ROW');
        ALTER TABLE forgea_audit.audit_log ENABLE TRIGGER ALL;
        SELECT format('%s %s %s', v.ok, v.first_bad_seq, v.detail) INTO c FROM forgea_audit.verify_chain() v;
        SELECT format('%s %s %s', v.ok, v.first_bad_seq, v.detail) INTO d FROM forgea_audit.verify_chain(note) v;
        RAISE EXCEPTION USING ERRCODE = 'FAT01';
    EXCEPTION WHEN SQLSTATE 'FAT01' THEN NULL;
    END;
    SELECT pg_catalog.md5(pg_catalog.string_agg(pg_catalog.encode(l.row_hash, 'hex') || forgea_audit.canonical_json(l.metadata), ','
                                                ORDER BY l.seq))
    INTO h FROM forgea_audit.audit_log l WHERE l.seq <= (SELECT last FROM base);
    INSERT INTO seen VALUES (setting, a, b, c, d, h);
END
$$;

SELECT pg_temp.look('defaults', :'note');

CREATE TEMP TABLE settings (name text, value text);
INSERT INTO settings VALUES ('DateStyle', 'SQL, DMY'), ('DateStyle', 'German'), ('IntervalStyle', 'sql_standard'),
    ('TimeZone', 'Pacific/Chatham'), ('TimeZone', 'America/St_Johns'), ('extra_float_digits', '-15'),
    ('extra_float_digits', '3'), ('bytea_output', 'escape'), ('lc_messages', 'C.utf8'), ('lc_monetary', 'C.utf8'),
    ('lc_numeric', 'C.utf8'), ('lc_time', 'C.utf8'), ('search_path', 'evil, pg_catalog, public'),
    -- the parallel pass (workers started with the session's settings), alone and with all the others
    ('forgea_audit.verify_workers', '2');

-- One at a time, each in its own transaction-scoped setting, rows appended under it.
CREATE FUNCTION pg_temp.under(name text, value text, note text) RETURNS void LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_catalog.set_config(name, value, true);
    PERFORM pg_catalog.count(forgea_audit.append('SETTINGS_ROW', chain => 'settings:' || (g % 3),
        metadata => pg_catalog.jsonb_build_object('f', g / 3.0::float8, 'n', g * 0.1, 'at', pg_catalog.clock_timestamp(),
                                                  'setting', name, 'value', value)))
    FROM pg_catalog.generate_series(1, 5) g;
    PERFORM pg_temp.look(name || ' = ' || value, note);
END
$$;
SELECT pg_temp.under(name, value, :'note') FROM settings;

-- All at once.
SELECT set_config(name, value, false) FROM settings WHERE (name, value) IN (SELECT DISTINCT ON (name) name, value FROM settings ORDER BY name, value DESC);
SELECT pg_temp.look('all at once', :'note');
RESET ALL;
SET client_min_messages = warning;
-- The defaults again, now over the rows appended under the other settings too.
SELECT pg_temp.look('defaults after', :'note');

SELECT is((SELECT count(*) FROM seen), (SELECT count(*) + 3 FROM settings), 'a look under the defaults, each setting and all of them');
SELECT is((SELECT string_agg(s.setting, ', ') FROM seen s, seen d WHERE d.setting = 'defaults'
           AND (s.changed, s.changed_note) IS DISTINCT FROM (d.changed, d.changed_note)),
          NULL, 'the changed log: both verdicts (ok, first_bad_seq, detail) the same under every setting as under the defaults');
SELECT is((SELECT string_agg(setting, ', ') FROM seen WHERE (intact, intact_note) IS DISTINCT FROM ('t', 't')
           OR changed NOT LIKE 'f %'), NULL,
          'the intact log verifies (with and without the note) and the changed one fails, under every setting');
SELECT is((SELECT string_agg(DISTINCT hashes, ', ') FROM seen), (SELECT hashes FROM seen WHERE setting = 'defaults'),
          'the canonical JSON and row_hash of every row written before are the same under every setting');
SELECT is((SELECT intact || ' ' || intact_note FROM seen WHERE setting = 'defaults after'), 't t',
          'the rows appended under each setting verify under the defaults');

SELECT * FROM finish();
