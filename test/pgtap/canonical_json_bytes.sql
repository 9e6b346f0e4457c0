-- Canonical JSON from jsonb (issue 23): the writer now walks the jsonb binary container itself, and
-- prints integers of the short numeric format without numeric_out.  The bytes must be the ones the
-- old writer (through JsonbIterator, kept as fa_canonical_json_iterated in the test-only module
-- test/modules/forgea_audit_test_oracle.so, the oracle here; FA_TEST_ORACLE is its path) produced, since every row_hash and payload_sha256 covers them: value by value over the
-- fixtures' payloads (and every object and array inside them), numbers of every shape, strings with
-- every escape at every offset, unicode, nesting, raw scalars and a few thousand random documents.
-- Numbers are also compared with numeric_out (n::text), which is what the old writer printed.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(6);

\getenv oracle_module FA_TEST_ORACLE
CREATE FUNCTION pg_temp.old_canonical(jsonb) RETURNS text LANGUAGE c IMMUTABLE STRICT
    AS :'oracle_module', 'fa_canonical_json_iterated';

CREATE TEMP TABLE v (what text, value jsonb);

-- The fixtures' payloads, and every object and array nested in them.
INSERT INTO v SELECT 'fixture ' || name, payload FROM public.fixture_push;
WITH RECURSIVE parts(name, value) AS (
    SELECT name, payload FROM public.fixture_push
    UNION ALL
    SELECT p.name, c.value FROM parts p,
        LATERAL (SELECT e.value FROM jsonb_each(CASE WHEN jsonb_typeof(p.value) = 'object' THEN p.value END) e
                 UNION ALL
                 SELECT a.value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(p.value) = 'array' THEN p.value END) a) c
    WHERE jsonb_typeof(c.value) IN ('object', 'array')
)
INSERT INTO v SELECT 'part of ' || name, value FROM parts;

-- Numbers: integers of every length and sign (short format up to 10^255, long beyond), powers of
-- ten and their neighbours (base-10000 digit boundaries), fractions, exponents, trailing zeros.
CREATE TEMP TABLE nums AS
SELECT n FROM (
    SELECT (sign * (10::numeric ^ k + delta))::numeric AS n
    FROM generate_series(0, 300) k, (VALUES (-1), (0), (1), (7)) d(delta), (VALUES (1), (-1)) s(sign)
    UNION ALL SELECT x::numeric FROM unnest(ARRAY['0', '-0', '0.0', '1.0', '1.50', '-0.5', '0.001', '1e100', '1e-100', '1.23e300',
        '123456789012345678901234567890', '9999', '10000', '99990000', '100000000', '-2147483648', '9223372036854775807',
        '9223372036854775808', '-9223372036854775809', '3.14159265358979323846264338327950288', '1e-6', '12.000', '700000000',
        '0.000000000000000000000000000001', '100e-2', '5E+3']) x
    UNION ALL SELECT (random() * 10 ^ (random() * 40))::numeric(60, 0) FROM generate_series(1, 2000)
    UNION ALL SELECT round((random() - 0.5)::numeric * 10::numeric ^ (random() * 20)::int, (random() * 10)::int) FROM generate_series(1, 2000)
) x;
INSERT INTO v SELECT 'number', to_jsonb(n) FROM nums;
INSERT INTO v SELECT 'numbers', jsonb_agg(n) FROM nums;
INSERT INTO v SELECT 'number in object', jsonb_build_object('k', n, 'kk', n, 'a', '[1, 2.5]'::jsonb) FROM nums;

-- Strings: every escape at every offset of strings 0..40 bytes long, unicode, as keys and values.
CREATE TEMP TABLE strs AS
SELECT repeat('a', i) || c || repeat('b', j) AS s
FROM generate_series(0, 20) i, generate_series(0, 20) j,
     unnest(ARRAY[E'\n', E'\t', E'\r', E'\b', E'\f', '"', E'\\', E'\u0001', E'\u001f', E'\u007f', ' ', '/', 'é', '日本', '😀', '']) c;
INSERT INTO v SELECT 'string', to_jsonb(s) FROM strs;
INSERT INTO v SELECT 'key', jsonb_build_object(s, s, 'x' || s, 1) FROM strs;
INSERT INTO v SELECT 'long string', to_jsonb(repeat(E'0123456789abcdé"\\\n', n)) FROM generate_series(1, 200, 13) n;

-- Shapes: raw scalars, empty containers, nesting, keys of many lengths (stored sorted by length
-- first), duplicate keys (the last wins), deep nesting.
INSERT INTO v SELECT 'shape', x::jsonb FROM unnest(ARRAY['null', 'true', 'false', '5', '"x"', '""', '{}', '[]', '[[]]', '[{}]',
    '{"a":{}}', '[null,true,false,0,"",{},[]]', '{"b":1,"a":2,"aa":3,"":4,"ab":[1,{"z":null}]}', '{"a":1,"a":2}',
    '[1,[2,[3,[4,[5]]]]]', '{"é":1,"e":2,"日本":3}', '[1.0,-0,1e2]', '{"k":"v","k2":{"k3":[{"k4":"v4"}]}}']) x;
INSERT INTO v SELECT 'deep', (repeat('[', d) || '{"a":[1,"x"]}' || repeat(']', d))::jsonb FROM generate_series(1, 300, 7) d;
INSERT INTO v SELECT 'wide', (SELECT jsonb_object_agg(repeat('k', 1 + i % 37) || i, i) FROM generate_series(1, n) i)
FROM generate_series(1, 400, 37) n;
INSERT INTO v SELECT 'wide array', (SELECT jsonb_agg(CASE i % 4 WHEN 0 THEN to_jsonb(i) WHEN 1 THEN to_jsonb('s' || i)
                                                   WHEN 2 THEN jsonb_build_array(i, 'x') ELSE 'null'::jsonb END)
                                    FROM generate_series(1, n) i)
FROM generate_series(1, 5000, 499) n;

-- Random documents (seeded): nested objects and arrays of random scalars.
SELECT setseed(0.23);
CREATE FUNCTION pg_temp.random_doc(depth int) RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r float8 := random();
    n int := (random() * 6)::int;
    o jsonb;
BEGIN
    IF depth <= 0 OR r < 0.45 THEN
        RETURN CASE (random() * 6)::int
            WHEN 0 THEN 'null'::jsonb WHEN 1 THEN to_jsonb(random() < 0.5)
            WHEN 2 THEN to_jsonb(((random() - 0.5) * 10 ^ (random() * 30))::numeric(40, 0))
            WHEN 3 THEN to_jsonb(round((random() * 1000)::numeric, (random() * 8)::int))
            WHEN 4 THEN to_jsonb(substr(md5(random()::text) || E'"\\\n\u0002é😀', 1 + (random() * 20)::int, (random() * 30)::int))
            ELSE to_jsonb(md5(random()::text)) END;
    ELSIF r < 0.75 THEN
        o := '{}';
        FOR i IN 1 .. n LOOP
            o := o || jsonb_build_object(substr(md5(random()::text), 1, (random() * 12)::int), pg_temp.random_doc(depth - 1));
        END LOOP;
        RETURN o;
    ELSE
        o := '[]';
        FOR i IN 1 .. n LOOP
            o := o || jsonb_build_array(pg_temp.random_doc(depth - 1));
        END LOOP;
        RETURN o;
    END IF;
END $$;
INSERT INTO v SELECT 'random', pg_temp.random_doc(6) FROM generate_series(1, 3000);

-- The metadata record_push writes (15 keys), as the chain hashes it.
INSERT INTO v SELECT 'metadata', jsonb_build_object('delivery_id', md5(i::text)::uuid, 'commit_sha', md5(i || 'a'),
    'ref', 'refs/heads/main', 'repository', 'https://github.com/Student-' || i || '/git-basics',
    'repository_id', 700000000 + i, 'payload_sha256', md5(i || 'c'), 'sender', 'Student-' || i, 'attempt_id', i,
    'session_id', 'sess-' || i, 'before_sha', md5(i || 'e'), 'commit_count', 1 + i % 4, 'changed_path_count', 1 + i % 9,
    'created', false, 'deleted', i % 7 = 0, 'forced', false)
FROM generate_series(1, 500) i;

-- The writer's key cache (a root object's keys, when they are those of one of the last two root
-- objects of 4 keys or more that missed it): in this order, one after the other (the comparisons
-- below read v in insertion order), objects whose keys hit it, or nearly do: the same key bytes
-- split otherwise ("ab"+"cd" vs "a"+"bcd" are the same bytes), the same keys with values of other
-- types, a nested object of as many keys, keys that need an escape, fewer keys than it takes, more
-- than it holds, longer than it holds, two key sets in turn, a nested object while its root is
-- written from the entry a miss would refill.
INSERT INTO v SELECT 'key cache', x::jsonb FROM unnest(ARRAY[
    '{"a":1,"b":2,"cd":3,"ef":4}', '{"a":1,"b":2,"cd":3,"ef":4}', '{"a":1,"b":2,"c":3,"def":4}', '{"a":1,"b":2,"cd":3,"ef":4}',
    '{"a":1,"b":"x","c":null,"d":[1]}', '{"a":"1","b":2,"c":{"k":1},"d":true}', '{"a":1.5,"b":false,"c":"\"","d":{}}',
    '{"a":{"p":1,"q":2,"r":3,"s":4},"b":1,"c":2,"d":3}', '{"p":1,"q":2,"r":3,"s":4}', '{"a":{"p":1,"q":2,"r":3,"s":4},"b":1,"c":2,"d":3}',
    '{"a":{"a":1,"b":2,"c":3,"d":4},"b":1,"c":2,"d":3}', '{"a":{"a":1,"b":2,"c":3,"d":4},"b":1,"c":2,"d":3}',
    '{"a":{"p":1,"q":2,"r":3,"s":4},"b":1,"c":2,"d":3}',
    '{"a\"":1,"b":2,"c":3,"d\n":4}', '{"a\"":1,"b":2,"c":3,"d\n":4}', '{"a":1,"b":2,"c":3}', '{"a":1,"b":2,"c":3}',
    '{"a":1,"b":2,"c":3,"d":4}', '{"a":[{"a":1,"b":2,"c":3,"d":4}],"b":2,"c":3,"d":4}', '{"a":1,"b":2,"c":3,"d":4}',
    -- two entries: two key sets in turn both hit; a third evicts the older
    '{"m1":1,"m2":2,"m3":3,"m4":4}', '{"p1":1,"p2":2,"p3":3,"p4":4,"p5":5}', '{"m1":"x","m2":2,"m3":3,"m4":4}',
    '{"p1":1,"p2":"y","p3":3,"p4":4,"p5":5}', '{"t1":1,"t2":2,"t3":3,"t4":4}', '{"m1":1,"m2":2,"m3":3,"m4":4}',
    -- two misses, then a root that hits the older entry (the one a miss would refill) with a
    -- nested object of new keys: written from the entry while a nested fill would overwrite it
    '{"w":1,"x":2,"y":3,"z":4}', '{"q1":1,"q2":2,"q3":3,"q4":4}', '{"w":{"n1":1,"n2":2,"n3":3,"n4":4},"x":2,"y":3,"z":4}']) x;
INSERT INTO v SELECT 'key cache', (SELECT jsonb_object_agg('k' || i, r) FROM generate_series(1, n) i)
FROM generate_series(30, 34) n, generate_series(1, 2) r;
INSERT INTO v SELECT 'key cache', (SELECT jsonb_object_agg(repeat(chr(97 + i), l), i) FROM generate_series(0, 4) i)
FROM generate_series(100, 104) l, generate_series(1, 2) r;

SELECT cmp_ok((SELECT count(*) FROM v), '>', 20000::bigint, 'more than 20,000 values to compare');
SELECT cmp_ok((SELECT count(*) FROM v WHERE what LIKE 'part of %'), '>', 100::bigint,
              'the fixtures'' nested objects and arrays are among them');

SELECT is((SELECT count(*) FROM v WHERE forgea_audit.canonical_json(value) IS DISTINCT FROM pg_temp.old_canonical(value)),
          0::bigint, 'canonical_json() writes the bytes the JsonbIterator writer wrote, for every value');
SELECT is((SELECT min(what || ': ' || left(value::text, 80)) FROM v
           WHERE forgea_audit.canonical_json(value) IS DISTINCT FROM pg_temp.old_canonical(value)),
          NULL, 'no value where they differ (else the first one is named)');

SELECT is((SELECT count(*) FROM nums WHERE forgea_audit.canonical_json(to_jsonb(n)) IS DISTINCT FROM n::text),
          0::bigint, 'every number is written as numeric_out prints it');

-- The chain's hashes over those bytes: rows appended with metadata of every kind verify.
SELECT count(forgea_audit.append('TEST_CANONICAL', metadata => CASE WHEN jsonb_typeof(value) = 'object' THEN value
                                                                     ELSE jsonb_build_object('v', value) END,
                                 chain => 'canonical:' || (n % 50)))
FROM (SELECT value, row_number() OVER (ORDER BY what, value::text) AS n
      FROM v WHERE what IN ('fixture', 'metadata', 'random', 'key', 'number in object', 'shape')
      ORDER BY what, value::text LIMIT 4000) x;
SELECT is((SELECT ok FROM forgea_audit.verify_chain()), true, 'the rows appended with those values verify');
SELECT * FROM finish();
