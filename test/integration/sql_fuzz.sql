-- The SQL-level fuzzer's generator and driver (test/integration/sql_fuzz.sh loads this file).
--
-- sqlfuzz_nodes: every node of every fixture (fixture_push), with its path and value.
-- sqlfuzz_mutate(payload, path, kind, r): the mutated payload as JSON text.  Kinds:
--   drop       the node removed
--   retype     the node replaced by a value of another type (null, numbers at the edges of
--              int64 and numeric, strings, booleans, arrays, objects)
--   duplicate  an array element twice; an object key twice in the text (JSON allows it; the last
--              one wins in both front ends), once with the original value last, once first
--   deepen     the node wrapped in 64 levels of arrays or objects
--   lengthen   strings to 100 kB, arrays past GitHub's limits (2100 / 3100 elements), numbers to
--              400 digits, objects to 2000 more keys
--   unicode    the node, or text inserted into a string, replaced by \u0000, lone surrogates,
--              a valid surrogate pair, raw multibyte characters, U+FFFF, escaped quotes
--   rename     the node's key in another case ("Ref" for "ref")
-- sqlfuzz_run(n, seed): n mutations drawn with setseed(seed), each sent through record_push
-- (as jsonb) and record_push_json (as json) under new GUIDs; every disagreement, non-class-22
-- refusal or write by a refused call goes to sqlfuzz_finding.
CREATE TABLE sqlfuzz_nodes AS
WITH RECURSIVE nodes(fixture, path, v) AS (
    SELECT name, ARRAY[]::text[], payload FROM fixture_push
    UNION ALL
    SELECT n.fixture, n.path || x.k, x.c
    FROM nodes n,
         LATERAL (SELECT key, value FROM jsonb_each(CASE WHEN jsonb_typeof(n.v) = 'object' THEN n.v END)
                  UNION ALL
                  SELECT (e.ord - 1)::text, e.value
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n.v) = 'array' THEN n.v END) WITH ORDINALITY e(value, ord)
                 ) x(k, c)
)
SELECT row_number() OVER (ORDER BY fixture, path) AS id, fixture, path, v,
       CASE WHEN cardinality(path) = 1 THEN 'object'
            ELSE jsonb_typeof((SELECT payload FROM fixture_push WHERE name = fixture) #> path[1:cardinality(path) - 1]) END AS parent
FROM nodes WHERE cardinality(path) > 0;

CREATE TABLE sqlfuzz_finding (i int, fixture text, path text[], kind text, variant int, problem text,
                              a_state text, a_msg text, b_state text, b_msg text, body_prefix text);
CREATE TABLE sqlfuzz_tally (kind text, verdict text, n int);

CREATE FUNCTION sqlfuzz_retype(r int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT (ARRAY['null', '0', '-1', '1.5', '1e400', '-0', '9223372036854775808', '-9223372036854775809',
                  '123456789012345678901234567890', '0.000000000000000000001', '""', '"x"', '" "', 'true', 'false',
                  '[]', '{}', '[1]', '{"a": 1}', '"refs/heads/main"', '"0000000000000000000000000000000000000000"'])[1 + r % 21]
$$;

CREATE FUNCTION sqlfuzz_unicode(r int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT (ARRAY['\u0000', '\ud800', '\udc00', '\ud800x', 'a\udbff', '\ud83d\ude00', 'é', '\u00e9', '\uffff', '􏿿',
                  '\"', '\\', '\n\t', 'e\u0301', '\u001f'])[1 + r % 15]
$$;

CREATE FUNCTION sqlfuzz_mutate(payload jsonb, path text[], v jsonb, parent text, kind text, r int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    s constant text := '"__FA_SENTINEL__"';
    k text := path[cardinality(path)];
    kq text := to_jsonb(k)::text;
    with_s text := jsonb_set(payload, path, s::jsonb)::text;
    t text;
BEGIN
    CASE kind
    WHEN 'drop' THEN
        RETURN (payload #- path)::text;
    WHEN 'retype' THEN
        RETURN replace(with_s, s, sqlfuzz_retype(r));
    WHEN 'duplicate' THEN
        IF parent = 'array' THEN
            RETURN jsonb_insert(payload, path, v)::text;
        END IF;
        IF r % 2 = 0 THEN  -- another value first, the original last: the original wins
            RETURN replace(with_s, kq || ': ' || s, kq || ': ' || sqlfuzz_retype(r / 2) || ', ' || kq || ': ' || v::text);
        END IF;
        RETURN replace(with_s, kq || ': ' || s, kq || ': ' || v::text || ', ' || kq || ': ' || sqlfuzz_retype(r / 2));
    WHEN 'deepen' THEN
        IF r % 2 = 0 THEN
            RETURN replace(with_s, s, repeat('[', 64) || v::text || repeat(']', 64));
        END IF;
        RETURN replace(with_s, s, repeat('{"d": ', 64) || v::text || repeat('}', 64));
    WHEN 'lengthen' THEN
        CASE jsonb_typeof(v)
        WHEN 'string' THEN
            t := v #>> '{}';
            RETURN jsonb_set(payload, path, to_jsonb(repeat(CASE WHEN t = '' THEN 'x' ELSE t END,
                                                            100000 / greatest(length(t), 1) + 1)))::text;
        WHEN 'array' THEN
            IF jsonb_array_length(v) = 0 THEN
                RETURN jsonb_set(payload, path, (SELECT jsonb_agg('x' || g) FROM generate_series(1, 3100) g))::text;
            END IF;
            RETURN jsonb_set(payload, path, (SELECT jsonb_agg(e) FROM generate_series(1, CASE WHEN path[cardinality(path)] = 'commits' THEN 2100 ELSE 3100 END / jsonb_array_length(v) + 1),
                                                   jsonb_array_elements(v) e))::text;
        WHEN 'number' THEN
            RETURN replace(with_s, s, repeat('9', 400));
        WHEN 'object' THEN
            RETURN jsonb_set(payload, path, v || (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 2000) g))::text;
        ELSE
            RETURN replace(with_s, s, to_jsonb(repeat('long', 25000))::text);
        END CASE;
    WHEN 'unicode' THEN
        IF jsonb_typeof(v) = 'string' AND r % 2 = 0 THEN  -- inside the string, in the middle
            t := v::text;
            RETURN replace(with_s, s, left(t, greatest(length(t) / 2, 1)) || sqlfuzz_unicode(r / 2) || substr(t, greatest(length(t) / 2, 1) + 1));
        END IF;
        RETURN replace(with_s, s, '"' || sqlfuzz_unicode(r / 2) || '"');
    WHEN 'rename' THEN
        IF parent <> 'object' THEN
            RETURN jsonb_set(payload, path, v)::text;
        END IF;
        RETURN jsonb_set(payload #- path, path[1:cardinality(path) - 1] || initcap(k), v)::text;
    END CASE;
END $$;

-- One payload through both front ends under new GUIDs; records what is wrong.  Messages are
-- compared with the function's own name (which each puts in its messages) replaced by FN.
CREATE FUNCTION sqlfuzz_one(i int, fixture text, path text[], kind text, r int, body text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ga uuid := format('00000000-0000-4000-8000-%s', lpad((2 * i)::text, 12, '0'))::uuid;
    gb uuid := format('00000000-0000-4000-8000-%s', lpad((2 * i + 1)::text, 12, '0'))::uuid;
    a record; b record;
    a_state text; a_msg text; b_state text; b_msg text;
    before bigint; after bigint;
    problem text;
    ra jsonb; rb jsonb;
    verdict text;
BEGIN
    before := (SELECT count(*) FROM forgea_audit.audit_log) + (SELECT count(*) FROM forgea_audit.lab_attempt);
    BEGIN
        SELECT * INTO a FROM forgea_audit.record_push(body::jsonb, ga::text, '{"X-GitHub-Event": "push"}');
    EXCEPTION WHEN OTHERS THEN
        a_state := SQLSTATE; a_msg := replace(SQLERRM, 'forgea_audit.record_push:', 'FN:');
    END;
    after := (SELECT count(*) FROM forgea_audit.audit_log) + (SELECT count(*) FROM forgea_audit.lab_attempt);
    IF a_state IS NOT NULL AND after <> before THEN problem := 'record_push refused but wrote'; END IF;
    before := after;
    BEGIN
        SELECT * INTO b FROM forgea_audit.record_push_json(body::json, gb::text, '{"X-GitHub-Event": "push"}');
    EXCEPTION WHEN OTHERS THEN
        b_state := SQLSTATE; b_msg := replace(SQLERRM, 'forgea_audit.record_push_json:', 'FN:');
    END;
    after := (SELECT count(*) FROM forgea_audit.audit_log) + (SELECT count(*) FROM forgea_audit.lab_attempt);
    IF b_state IS NOT NULL AND after <> before THEN problem := 'record_push_json refused but wrote'; END IF;

    IF problem IS NOT NULL THEN
        NULL;
    ELSIF a_state IS NOT NULL AND a_state NOT LIKE '22%' THEN
        problem := 'record_push refused with a SQLSTATE outside class 22';
    ELSIF b_state IS NOT NULL AND b_state NOT LIKE '22%' THEN
        problem := 'record_push_json refused with a SQLSTATE outside class 22';
    ELSIF (a_state IS NULL) <> (b_state IS NULL) THEN
        problem := 'one front end accepted what the other refused';
    ELSIF a_state IS NOT NULL THEN
        IF a_state <> b_state OR a_msg <> b_msg THEN
            problem := 'both refused, with different errors';
        END IF;
    ELSIF a.status <> b.status OR (a.session_id IS DISTINCT FROM b.session_id) THEN
        problem := 'different verdicts';
    ELSIF a.status = 'recorded' THEN
        ra := (SELECT to_jsonb(l) - '{id,delivery_id,recorded_at}'::text[] FROM forgea_audit.lab_attempt l WHERE delivery_id = ga);
        rb := (SELECT to_jsonb(l) - '{id,delivery_id,recorded_at}'::text[] FROM forgea_audit.lab_attempt l WHERE delivery_id = gb);
        IF ra IS DISTINCT FROM rb THEN
            problem := 'recorded different attempts (payload hash or columns)';
            a_msg := left(ra::text, 300); b_msg := left(rb::text, 300);
        END IF;
    END IF;
    -- (a is read only where it was assigned: PL/pgSQL evaluates every field an expression names.)
    IF problem IS NOT NULL THEN
        verdict := 'finding';
    ELSIF a_state IS NULL THEN
        verdict := 'accepted:' || a.status;
    ELSE
        verdict := 'refused:' || a_state;
    END IF;
    INSERT INTO sqlfuzz_tally VALUES (kind, verdict, 1);
    IF problem IS NOT NULL THEN
        INSERT INTO sqlfuzz_finding VALUES (i, fixture, path, kind, r, problem, a_state, a_msg, b_state, b_msg, left(body, 200));
    END IF;
    RETURN problem;
END $$;

CREATE FUNCTION sqlfuzz_run(first int, n int, seed float8) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    kinds constant text[] := ARRAY['drop', 'retype', 'duplicate', 'deepen', 'lengthen', 'unicode', 'rename', 'retype', 'unicode', 'drop'];
    nodes bigint := (SELECT count(*) FROM sqlfuzz_nodes);
    node record;
    kind text;
    r int;
    pick bigint;
BEGIN
    PERFORM setseed(seed);
    FOR i IN first .. first + n - 1 LOOP
        pick := 1 + floor(random() * nodes)::bigint;  -- drawn once, not per row scanned
        SELECT * INTO node FROM sqlfuzz_nodes WHERE id = pick;
        kind := kinds[1 + floor(random() * cardinality(kinds))::int];
        r := floor(random() * 1000)::int;
        PERFORM sqlfuzz_one(i, node.fixture, node.path, kind, r,
                            sqlfuzz_mutate((SELECT payload FROM fixture_push WHERE name = node.fixture),
                                           node.path, node.v, node.parent, kind, r));
    END LOOP;
END $$;
