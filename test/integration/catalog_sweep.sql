-- The statements of test/integration/catalog_sweep.sh, generated from the catalogue: every table,
-- view, sequence and function that pg_depend records as a member of the extension, aimed at by
-- the superuser running the test and by every role the extension grants anything to, in each
-- session_replication_role.  An object or role added later is swept with no edit here; a type
-- this file has no values for gets NULL and its base value only, and the script names it.
--
-- sweep.statements() returns one row per statement; sweep.script() the psql script that runs each
-- in its own transaction (statement_timeout, role, replication role set locally), echoes
-- "@@ <id> <SQLSTATE>" after it and rolls it back.
CREATE SCHEMA sweep;

-- The extension's relations (tables, views, sequences) and functions, from pg_depend.
CREATE VIEW sweep.ext_relation AS
SELECT c.oid, c.relkind, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'forgea_audit'
JOIN pg_catalog.pg_class c ON c.oid = d.objid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.classid = 'pg_catalog.pg_class'::regclass
  AND d.deptype = 'e' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f');

CREATE VIEW sweep.ext_function AS
SELECT p.oid, pg_catalog.format('%I.%I', n.nspname, p.proname) AS name,
       ARRAY(SELECT pg_catalog.unnest(p.proargtypes::oid[])) AS argtypes,   -- from 1, as proargnames
       p.proargnames, p.pronargs
FROM pg_catalog.pg_depend d
JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'forgea_audit'
JOIN pg_catalog.pg_proc p ON p.oid = d.objid
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.classid = 'pg_catalog.pg_proc'::regclass
  AND d.deptype = 'e' AND p.prokind = 'f';

-- Who aims: the superuser running the test (NULL) and every role named in a grant on an object
-- of the extension (its schema included), but the owner.
CREATE VIEW sweep.ext_role AS
WITH acl AS (
    SELECT c.relacl AS acl, c.relowner AS owner FROM pg_catalog.pg_class c JOIN sweep.ext_relation r ON r.oid = c.oid
    UNION ALL
    SELECT p.proacl, p.proowner FROM pg_catalog.pg_proc p JOIN sweep.ext_function f ON f.oid = p.oid
    UNION ALL
    SELECT n.nspacl, n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname = 'forgea_audit'
)
SELECT DISTINCT a.grantee::regrole::text AS role
FROM acl, LATERAL pg_catalog.aclexplode(acl.acl) a
WHERE acl.acl IS NOT NULL AND a.grantee <> 0 AND a.grantee <> acl.owner
  AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid = a.grantee);

-- A value of the type that the column or argument accepts (SQL expression), for the positions
-- a statement does not aim at; NULL for a type this file does not know.
CREATE FUNCTION sweep.base_value(t regtype, name text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
    WHEN name IN ('delivery_id', 'correlation_id') AND t IN ('text'::regtype, 'uuid'::regtype)
        THEN '''0f3e2a5c-1b2d-4c3e-8f9a-000000000001'''
    WHEN name = 'outcome' AND t = 'text'::regtype THEN '''success'''
    WHEN name = 'severity' AND t = 'text'::regtype THEN '''INFO'''
    WHEN name = 'actor_type' AND t = 'text'::regtype THEN '''system'''
    WHEN t IN ('text'::regtype, 'character varying'::regtype, 'name'::regtype) THEN '''sweep'''
    WHEN t IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype) THEN '1'
    WHEN t IN ('jsonb'::regtype, 'json'::regtype) THEN '''{}'''
    WHEN t = 'bytea'::regtype THEN 'pg_catalog.decode(pg_catalog.repeat(''00'', 32), ''hex'')'
    WHEN t IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype) THEN '''2026-01-01 00:00:00+00'''
    WHEN t = 'interval'::regtype THEN '''1 day'''
    WHEN t = 'boolean'::regtype THEN 'false'
    WHEN t = 'uuid'::regtype THEN '''00000000-0000-0000-0000-000000000000'''
    WHEN t = 'record'::regtype THEN 'ROW(1, ''sweep'')'
    WHEN t = 'regclass'::regtype THEN '''pg_catalog.pg_class'''
    WHEN t = 'inet'::regtype THEN '''127.0.0.1'''
    WHEN t = 'oid'::regtype THEN '1'
    WHEN t = 'text[]'::regtype THEN '''{sweep}'''
    WHEN t = 'xid8'::regtype THEN 'pg_catalog.pg_current_xact_id()'
END || '::' || t::text
$$;

-- The values a statement aims at one argument: NULL, empty, '{}', '[]', deeply nested and 1 MB
-- values, zero, negative and huge numbers (SQL expressions, cast to the type).  Built in the
-- server (repeat()), so the script stays small.
CREATE FUNCTION sweep.edge_values(t regtype) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
SELECT v || '::' || t::text FROM pg_catalog.unnest(CASE
    WHEN t IN ('text'::regtype, 'character varying'::regtype, 'name'::regtype) THEN ARRAY[
        'NULL', '''''', '''{}''', '''[]''', '''0''', '''-1''',
        'pg_catalog.repeat(''['', 100000) || pg_catalog.repeat('']'', 100000)',
        'pg_catalog.repeat(''x'', 1048576)', '''a''||chr(1)||''é\\''']
    WHEN t IN ('jsonb'::regtype, 'json'::regtype) THEN ARRAY[
        'NULL', '''{}''', '''[]''', '''null''', '''""''', '''0''', '''-1''', '''1e1000''',
        '(pg_catalog.repeat(''['', 5000) || pg_catalog.repeat('']'', 5000))',
        '(pg_catalog.repeat(''{"a":'', 5000) || ''1'' || pg_catalog.repeat(''}'', 5000))',
        'pg_catalog.json_build_object(''a'', pg_catalog.repeat(''x'', 1048576))::text',
        'pg_catalog.json_build_object(''ref'', pg_catalog.repeat(''x'', 1048576), ''repository'', pg_catalog.json_build_object(''html_url'', pg_catalog.repeat(''y'', 1048576)))::text',
        '(SELECT payload::text FROM public.fixture_push ORDER BY name LIMIT 1)']
    WHEN t = 'smallint'::regtype THEN ARRAY['NULL', '0', '-1', '32767', '(-32768)']
    WHEN t = 'integer'::regtype THEN ARRAY['NULL', '0', '-1', '2147483647', '(-2147483648)']
    WHEN t = 'bigint'::regtype THEN ARRAY['NULL', '0', '-1', '9223372036854775807', '(-9223372036854775808)']
    WHEN t = 'numeric'::regtype THEN ARRAY['NULL', '0', '-1', '1e1000', '''NaN''']
    WHEN t IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype) THEN ARRAY[
        'NULL', '''infinity''', '''-infinity''', '''epoch''', '''4713-01-01 BC''', '''294276-12-31''']
    WHEN t = 'interval'::regtype THEN ARRAY['NULL', '''0''', '''-1 day''', '''178000000 years''']
    WHEN t = 'bytea'::regtype THEN ARRAY['NULL', '''''', '''\x00''',
        'pg_catalog.decode(pg_catalog.repeat(''ff'', 1048576), ''hex'')']
    WHEN t = 'boolean'::regtype THEN ARRAY['NULL', 'true', 'false']
    WHEN t = 'text[]'::regtype THEN ARRAY['NULL', '''{}''', '''{NULL}''', '''{""}''',
        'ARRAY[pg_catalog.repeat(''x'', 1048576)]', '(SELECT pg_catalog.array_agg(i::text) FROM pg_catalog.generate_series(1, 100000) i)']
    WHEN t = 'xid8'::regtype THEN ARRAY['NULL', '''0''', '''1''', '''18446744073709551615''']
    WHEN t = 'record'::regtype THEN ARRAY['NULL', 'ROW()', 'ROW(NULL)', 'ROW(pg_catalog.repeat(''x'', 1048576))',
        '(SELECT a FROM forgea_audit.audit_log a ORDER BY seq LIMIT 1)',
        'ROW((SELECT a FROM forgea_audit.audit_log a ORDER BY seq LIMIT 1))']
    ELSE ARRAY['NULL'] END) v
$$;

-- A column's value in COPY's text format: a valid one (NULL if the type is unknown here), and
-- one of the wrong type (for text, an invalid UTF-8 byte).
CREATE FUNCTION sweep.copy_value(t regtype, name text, wrong boolean) RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN wrong THEN CASE
        WHEN t IN ('text'::regtype, 'character varying'::regtype, 'name'::regtype) THEN '\200'
        WHEN t = 'bytea'::regtype THEN '\\xzz'
        WHEN t IN ('jsonb'::regtype, 'json'::regtype) THEN '{'
        ELSE 'not-a-value' END
    ELSE CASE
        WHEN name = 'outcome' THEN 'success'
        WHEN name = 'severity' THEN 'INFO'
        WHEN t IN ('text'::regtype, 'character varying'::regtype, 'name'::regtype) THEN 'sweep'
        WHEN t IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype) THEN '1'
        WHEN t IN ('jsonb'::regtype, 'json'::regtype) THEN '{}'
        WHEN t = 'bytea'::regtype THEN '\\x' || pg_catalog.repeat('00', 32)
        WHEN t IN ('timestamp with time zone'::regtype, 'timestamp without time zone'::regtype) THEN '2026-01-01 00:00:00+00'
        WHEN t = 'interval'::regtype THEN '1 day'
        WHEN t = 'boolean'::regtype THEN 'f'
        WHEN t = 'uuid'::regtype THEN '00000000-0000-0000-0000-000000000000'
        ELSE '\N' END
    END
$$;

-- Types met in the extension's columns and arguments that base_value() has no value for.
CREATE VIEW sweep.unknown_type AS
SELECT DISTINCT t::regtype::text AS type FROM (
    SELECT a.atttypid AS t FROM pg_catalog.pg_attribute a JOIN sweep.ext_relation r ON r.oid = a.attrelid
    WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind <> 'S'
    UNION SELECT unnest(argtypes) FROM sweep.ext_function) x
WHERE sweep.base_value(t::regtype, '') IS NULL;

-- Every statement: (what, sql, copy_data).  copy_data, when set, is the one line COPY reads.
CREATE FUNCTION sweep.targets() RETURNS TABLE (kind text, what text, sql text, copy_data text) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
    f record;
    c record;
    cols text;      -- the insertable columns, quoted, comma-separated
    n int;
    k int;
    v text;
BEGIN
    kind := 'relation';
    FOR r IN SELECT * FROM sweep.ext_relation WHERE relkind <> 'S' ORDER BY name LOOP
        what := r.name || ': SELECT'; sql := 'SELECT * FROM ' || r.name || ' LIMIT 1'; copy_data := NULL; RETURN NEXT;
        -- Columns a statement may name (not generated, not GENERATED ALWAYS AS IDENTITY).
        CREATE TEMP TABLE IF NOT EXISTS sweep_cols (pos int, name text, type regtype);
        TRUNCATE sweep_cols;
        INSERT INTO sweep_cols
        SELECT row_number() OVER (ORDER BY a.attnum), pg_catalog.quote_ident(a.attname), a.atttypid::regtype
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND a.attidentity <> 'a';
        SELECT count(*), string_agg(name, ', ' ORDER BY pos) INTO n, cols FROM sweep_cols;

        what := r.name || ': INSERT DEFAULT VALUES'; sql := 'INSERT INTO ' || r.name || ' DEFAULT VALUES'; RETURN NEXT;
        what := r.name || ': DELETE'; sql := 'DELETE FROM ' || r.name; RETURN NEXT;
        what := r.name || ': TRUNCATE'; sql := 'TRUNCATE ' || r.name; RETURN NEXT;
        IF n = 0 THEN CONTINUE; END IF;
        what := r.name || ': INSERT of all NULLs';
        sql := pg_catalog.format('INSERT INTO %s (%s) VALUES (%s)', r.name, cols,
                                 (SELECT string_agg('NULL', ', ') FROM sweep_cols)); RETURN NEXT;
        what := r.name || ': COPY of all \N';
        sql := pg_catalog.format('COPY %s (%s) FROM STDIN', r.name, cols);
        copy_data := (SELECT string_agg('\N', E'\t') FROM sweep_cols); RETURN NEXT;
        what := r.name || ': COPY of valid values';
        copy_data := (SELECT string_agg(sweep.copy_value(type, name, false), E'\t' ORDER BY pos) FROM sweep_cols); RETURN NEXT;
        FOR k IN 1 .. n LOOP
            SELECT * INTO c FROM sweep_cols WHERE pos = k;
            what := pg_catalog.format('%s: INSERT with %s NULL', r.name, c.name);
            sql := pg_catalog.format('INSERT INTO %s (%s) VALUES (%s)', r.name, cols,
                                     (SELECT string_agg(CASE WHEN pos = k THEN 'NULL' ELSE coalesce(sweep.base_value(type, name), 'NULL') END,
                                                        ', ' ORDER BY pos) FROM sweep_cols));
            copy_data := NULL; RETURN NEXT;
            what := pg_catalog.format('%s: COPY with %s \N', r.name, c.name);
            sql := pg_catalog.format('COPY %s (%s) FROM STDIN', r.name, cols);
            copy_data := (SELECT string_agg(CASE WHEN pos = k THEN '\N' ELSE sweep.copy_value(type, name, false) END,
                                            E'\t' ORDER BY pos) FROM sweep_cols); RETURN NEXT;
            what := pg_catalog.format('%s: COPY with %s of a wrong type', r.name, c.name);
            copy_data := (SELECT string_agg(sweep.copy_value(type, name, pos = k), E'\t' ORDER BY pos) FROM sweep_cols); RETURN NEXT;
            what := pg_catalog.format('%s: UPDATE SET %s = NULL', r.name, c.name);
            sql := pg_catalog.format('UPDATE %s SET %s = NULL', r.name, c.name); copy_data := NULL; RETURN NEXT;
        END LOOP;
    END LOOP;

    copy_data := NULL;
    kind := 'function';
    FOR f IN SELECT * FROM sweep.ext_function ORDER BY name, oid LOOP
        what := f.name || '(all NULL)';
        sql := pg_catalog.format('SELECT %s(%s)', f.name,
                                 (SELECT string_agg('NULL::' || t::regtype::text, ', ' ORDER BY i)
                                  FROM unnest(f.argtypes) WITH ORDINALITY u(t, i)));
        RETURN NEXT;
        FOR k IN 1 .. f.pronargs LOOP
            FOR v IN SELECT sweep.edge_values(f.argtypes[k]::regtype) LOOP
                what := pg_catalog.format('%s(%s => %s)', f.name, coalesce(f.proargnames[k], '$' || k), left(v, 60));
                sql := pg_catalog.format('SELECT %s(%s)', f.name,
                                         (SELECT string_agg(CASE WHEN i = k THEN v
                                                                 ELSE coalesce(sweep.base_value(t::regtype, f.proargnames[i]), 'NULL::' || t::regtype::text) END,
                                                            ', ' ORDER BY i)
                                          FROM unnest(f.argtypes) WITH ORDINALITY u(t, i)));
                RETURN NEXT;
            END LOOP;
        END LOOP;
    END LOOP;

    -- Sequences last: setval() is not rolled back (the test puts them back after the sweep).
    kind := 'relation';
    FOR r IN SELECT * FROM sweep.ext_relation WHERE relkind = 'S' ORDER BY name LOOP
        what := r.name || ': SELECT'; sql := 'SELECT * FROM ' || r.name; RETURN NEXT;
        FOREACH v IN ARRAY ARRAY['nextval(%L)', 'currval(%L)', 'setval(%L, 0)', 'setval(%L, -1)',
                                 'setval(%L, 9223372036854775807)'] LOOP
            what := r.name || ': ' || pg_catalog.format(v, 'seq');
            sql := 'SELECT pg_catalog.' || pg_catalog.format(v, r.name); RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;

-- Every statement once per aiming role (NULL: the superuser) and replication role.  Functions
-- run under the default replication role only, but for the superuser (who alone may set it).
CREATE FUNCTION sweep.statements()
RETURNS TABLE (id bigint, who text, replica boolean, what text, sql text, copy_data text) LANGUAGE sql VOLATILE AS $$
SELECT row_number() OVER (ORDER BY t.ord, w.role NULLS FIRST, m.replica), w.role, m.replica, t.what, t.sql, t.copy_data
FROM (SELECT NULL::text AS role UNION ALL SELECT role FROM sweep.ext_role) w
CROSS JOIN (VALUES (false), (true)) m(replica)
CROSS JOIN sweep.targets() WITH ORDINALITY t(kind, what, sql, copy_data, ord)
WHERE NOT m.replica OR t.kind = 'relation' OR w.role IS NULL
$$;

-- The statements, numbered once (the script and the report read the same ids).
CREATE TABLE sweep.stmt AS SELECT * FROM sweep.statements();

-- The psql script: each statement in its own transaction, rolled back.  "@@ id SQLSTATE" on
-- stdout after each; a COPY's error on stderr after "@@ id".
CREATE FUNCTION sweep.script(timeout text, from_id bigint) RETURNS SETOF text LANGUAGE sql VOLATILE AS $$
SELECT 'BEGIN;' || E'\n'
    || pg_catalog.format('SET LOCAL statement_timeout = %L;', timeout) || E'\n'
    || CASE WHEN s.replica THEN E'SET LOCAL session_replication_role = replica;\n' ELSE '' END
    || CASE WHEN s.who IS NOT NULL THEN pg_catalog.format(E'SET LOCAL ROLE %I;\n', s.who) ELSE '' END
    -- psql does not set SQLSTATE when COPY FROM STDIN fails: the error is read from stderr,
    -- after this marker (VERBOSITY verbose puts the SQLSTATE in the message).
    || CASE WHEN s.copy_data IS NOT NULL THEN '\warn @@ ' || s.id || E'\n' ELSE '' END
    || s.sql || E';\n'
    || CASE WHEN s.copy_data IS NOT NULL THEN s.copy_data || E'\n\\.\n' ELSE '' END
    || '\echo @@ ' || s.id || ' :SQLSTATE' || E'\n'
    || 'ROLLBACK;'
FROM sweep.stmt s WHERE s.id >= from_id ORDER BY s.id
$$;
