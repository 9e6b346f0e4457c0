-- An attempt's receipt in the standard form and the receipt page's link (docs/transparency.md,
-- "Receipts as tlog-proofs"; docs/receipt_link.md):
--   * receipt_tlog_proof(): C2SP tlog-proof@v1 text made of receipt()'s parts: extra is the base64
--     of the row's canonical JSON (exactly receipt()'s "row"), the index its leaf_index, one base64
--     line per hash of its inclusion proof, an empty line, its checkpoint verbatim;
--   * receipt_link(): <page>?log=<log>&vkey=<vkey>[&witness=<vkey>...]#receipt=<base64url>, every
--     query value percent-encoded, the fragment receipt()'s JSON (or the tlog-proof) in base64url;
--   * both forms carry the checkpoint as published (record_publication(): the stored note and its
--     witnesses' cosignature lines) when it was published, byte for byte, else the stored note;
--   * receipt_link(retired_vkeys => ...): one vkey= per key of the log, the current one first;
--   * the same rights as receipt(): the reader and the admin get what the superuser gets, the
--     writer and a role with none of the extension's roles 42501;
--   * bad input is refused with a class-22 SQLSTATE, a detail and a hint, and writes nothing.
-- (tools/forgea_audit_verify checks the tlog-proof offline: test/integration/transparency_offline.sh.)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(60);

\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_rf_writer', 'fa_rf_reader', 'fa_rf_admin', 'fa_rf_nobody']);
GRANT forgea_audit_writer TO fa_rf_writer;
GRANT forgea_audit_reader TO fa_rf_reader;
GRANT forgea_audit_admin TO fa_rf_admin;

-- Two recorded pushes (so the proof has a hash), covered by a checkpoint.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-rf', 'u-rf', 'lab', 'https://github.com/rf/lab', 'IN_PROGRESS', now());
CREATE TEMP TABLE pushed AS
SELECT r.* FROM (VALUES ('00000000-0000-4000-8000-0000000f0001'), ('00000000-0000-4000-8000-0000000f0002')) v(guid),
     LATERAL forgea_audit.record_push(
         (SELECT jsonb_set(payload, '{repository,html_url}', '"https://github.com/rf/lab"')
          FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'), v.guid) r;
SELECT is((SELECT array_agg(status) FROM pushed), ARRAY['recorded', 'recorded'], 'setup: two pushes recorded');
SELECT ok(forgea_audit.checkpoint() IS NOT NULL, 'setup: a checkpoint covers them');
SELECT min(attempt_id) AS rf_attempt FROM pushed \gset
CREATE TEMP TABLE super_receipt AS
SELECT forgea_audit.receipt(:rf_attempt) AS r, forgea_audit.receipt_tlog_proof(:rf_attempt) AS t;
GRANT SELECT ON pushed, super_receipt TO PUBLIC;

-------------------------------------------------------------------------------------------------
-- receipt_tlog_proof(): the form, line by line
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE tlog AS
SELECT s.r, s.t, string_to_array(split_part(s.t, E'\n\n', 1), E'\n') AS head,
       substr(s.t, strpos(s.t, E'\n\n') + 2) AS note
FROM super_receipt s;
SELECT is((SELECT head[1] FROM tlog), 'c2sp.org/tlog-proof@v1', 'tlog-proof: the first line');
SELECT ok((SELECT head[2] ~ '^extra [A-Za-z0-9+/]+=*$' FROM tlog), 'tlog-proof: an extra line, one line of standard base64');
SELECT is((SELECT convert_from(decode(substr(head[2], 7), 'base64'), 'UTF8') FROM tlog),
          (SELECT forgea_audit.canonical_json(r -> 'row') FROM tlog),
          'tlog-proof: extra is the canonical JSON of receipt()''s row');
SELECT is((SELECT convert_from(decode(substr(head[2], 7), 'base64'), 'UTF8')::jsonb FROM tlog), (SELECT r -> 'row' FROM tlog),
          'tlog-proof: ... every one of its fields');
SELECT is((SELECT (convert_from(decode(substr(head[2], 7), 'base64'), 'UTF8')::jsonb ->> 'target_id') FROM tlog),
          :'rf_attempt', 'tlog-proof: the attempt is the row''s target_id');
SELECT is((SELECT head[3] FROM tlog), (SELECT 'index ' || (r ->> 'leaf_index') FROM tlog), 'tlog-proof: the index is the leaf index');
SELECT is((SELECT head[4:] FROM tlog),
          (SELECT array_agg(encode(decode(h, 'hex'), 'base64') ORDER BY o)
           FROM tlog, jsonb_array_elements_text(r -> 'inclusion_proof') WITH ORDINALITY AS p(h, o)),
          'tlog-proof: the inclusion proof, one base64 hash a line, in receipt()''s order');
SELECT ok((SELECT cardinality(head) > 3 FROM tlog), 'tlog-proof: (the proof has at least one hash here)');
SELECT is((SELECT note FROM tlog), (SELECT r ->> 'checkpoint' FROM tlog),
          'tlog-proof: after the empty line, the checkpoint verbatim');
SELECT is((SELECT t FROM tlog),
          (SELECT concat_ws(E'\n', VARIADIC head) || E'\n\n' || note FROM tlog),
          'tlog-proof: nothing else (lines end with a newline alone, no carriage return)');

CREATE FUNCTION pg_temp.refusal_state(sql text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN EXECUTE sql; RETURN 'no error'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;

-------------------------------------------------------------------------------------------------
-- The checkpoint as published: with its cosignatures once record_publication() recorded it
-------------------------------------------------------------------------------------------------
SELECT c.note AS stored_note, c.tree_size AS stored_size FROM forgea_audit.merkle_checkpoint c ORDER BY c.id DESC LIMIT 1 \gset
SELECT is((SELECT r ->> 'checkpoint' FROM super_receipt), :'stored_note', 'no publication: receipt() carries the stored note');
SELECT is((SELECT note FROM tlog), :'stored_note', 'no publication: ... and so does the tlog-proof');
-- A publication that missed its quorum (never served) changes nothing.
SELECT ok(forgea_audit.record_publication(:'stored_note' || E'\u2014 w9.example/w AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n',
                                         false, 2, '[{"name": "w9.example/w", "answer": "unreachable"}]') > 0,
          'setup: a publication that missed its quorum recorded');
SELECT is(forgea_audit.receipt(:rf_attempt) ->> 'checkpoint', :'stored_note', 'a missed quorum: still the stored note');
-- Published with two cosignature lines (their bytes are the witnesses' business: record_publication
-- checks only that they are signature lines after the stored note).
SELECT :'stored_note' || E'\u2014 w1.example/w ' || translate(encode(sha512('w1') || substr(sha256('t1'), 1, 12), 'base64'), E'\n', '') || E'\n'
       || E'\u2014 w2.example/w ' || translate(encode(sha512('w2') || substr(sha256('t2'), 1, 12), 'base64'), E'\n', '') || E'\n' AS cosigned \gset
SELECT ok(forgea_audit.record_publication(:'cosigned', true, 2,
                                         '[{"name": "w1.example/w", "answer": "cosigned"}, {"name": "w2.example/w", "answer": "cosigned"}]') > 0,
          'setup: a publication with two cosignature lines recorded');
SELECT is((SELECT note FROM forgea_audit.published_checkpoint ORDER BY id DESC LIMIT 1), :'cosigned', 'setup: (recorded as given)');
SELECT is(forgea_audit.receipt(:rf_attempt) ->> 'checkpoint', :'cosigned', 'published: receipt() carries the note as published, byte for byte');
SELECT is(substr(forgea_audit.receipt_tlog_proof(:rf_attempt), strpos(forgea_audit.receipt_tlog_proof(:rf_attempt), E'\n\n') + 2), :'cosigned',
          'published: the tlog-proof ends with the note as published, cosignatures and all, byte for byte');
SELECT is(split_part(forgea_audit.receipt_tlog_proof(:rf_attempt), E'\n\n', 1), (SELECT split_part(t, E'\n\n', 1) FROM super_receipt),
          'published: ... the rest of the tlog-proof unchanged');
SELECT is(forgea_audit.receipt(:rf_attempt) - 'checkpoint', (SELECT r - 'checkpoint' FROM super_receipt),
          'published: ... and of receipt() too');
-- A note of another origin of the same size is refused by record_publication (not a stored
-- checkpoint), and receipt() takes a published note only if it begins with its stored one.
SELECT is(pg_temp.refusal_state(format('SELECT forgea_audit.record_publication(%L, true, 0, %L)',
                                       replace(:'stored_note', split_part(:'stored_note', E'\n', 1), 'other.example/log'), '[]')),
          '22023', 'a note of another origin is refused by record_publication, so never carried');
-- Back to no publication for the rest of the file: the receipts compared below were made before.
DELETE FROM forgea_audit.published_checkpoint;

-------------------------------------------------------------------------------------------------
-- receipt_link()
-------------------------------------------------------------------------------------------------
-- A verifier key as C2SP writes it, for a made-up log key: name+id+base64(0x01 || key), the id
-- SHA-256(name || '\n' || 0x01 || key)[0:4].
CREATE FUNCTION pg_temp.vkey(name text, key_type int, seed text) RETURNS text LANGUAGE sql AS
$$
SELECT name || '+' || encode(substr(sha256(convert_to(name || E'\n', 'UTF8') || k), 1, 4), 'hex') || '+'
       || encode(k, 'base64')
FROM (SELECT set_byte('\x00'::bytea, 0, key_type) || sha256(convert_to(seed, 'UTF8')) AS k) x
$$;
SELECT pg_temp.vkey('labs.example.edu/audit', 1, 'log') AS log_vkey, pg_temp.vkey('w1.example', 4, 'w1') AS w1,
       pg_temp.vkey('w2.example', 1, 'w2') AS w2 \gset
CREATE FUNCTION pg_temp.pct(s text) RETURNS text LANGUAGE sql AS   -- an independent RFC 3986 encoder
$$
SELECT string_agg(CASE WHEN c ~ '^[A-Za-z0-9._~-]$' THEN c ELSE upper(regexp_replace(encode(convert_to(c, 'UTF8'), 'hex'), '(..)', '%\1', 'g')) END, '' ORDER BY o)
FROM regexp_split_to_table(s, '') WITH ORDINALITY AS x(c, o)
$$;
CREATE FUNCTION pg_temp.unb64url(s text) RETURNS text LANGUAGE sql AS
$$ SELECT convert_from(decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64'), 'UTF8') $$;

SELECT forgea_audit.receipt_link(:rf_attempt, 'https://labs.example.edu/receipt/', 'https://labs.example.edu/audit-log',
                                 :'log_vkey') AS link \gset
SELECT is(split_part(:'link', '#', 1),
          'https://labs.example.edu/receipt/?log=' || pg_temp.pct('https://labs.example.edu/audit-log') || '&vkey=' || pg_temp.pct(:'log_vkey'),
          'receipt_link: <page>?log=<log URL>&vkey=<vkey>, percent-encoded');
SELECT ok(split_part(:'link', '#', 1) ~ 'log=https%3A%2F%2Flabs\.example\.edu%2Faudit-log&vkey=labs\.example\.edu%2Faudit%2B[0-9a-f]{8}%2B',
          'receipt_link: (: / + encoded as %3A %2F %2B)');
SELECT ok(split_part(:'link', '#', 2) ~ '^receipt=[A-Za-z0-9_-]+$', 'receipt_link: #receipt=<base64url, no padding>');
SELECT is(pg_temp.unb64url(substr(split_part(:'link', '#', 2), 9)), (SELECT r::text FROM super_receipt),
          'receipt_link: the fragment is receipt()''s JSON');
SELECT forgea_audit.receipt_link(:rf_attempt, 'http://127.0.0.1:8630/index.html', 'http://127.0.0.1:8630/log/', :'log_vkey',
                                 ARRAY[:'w1', :'w2'], 'tlog-proof') AS link2 \gset
SELECT is(split_part(:'link2', '#', 1),
          'http://127.0.0.1:8630/index.html?log=' || pg_temp.pct('http://127.0.0.1:8630/log/') || '&vkey=' || pg_temp.pct(:'log_vkey')
          || '&witness=' || pg_temp.pct(:'w1') || '&witness=' || pg_temp.pct(:'w2'),
          'receipt_link: one witness=<vkey> per witness, in order (a cosignature key 0x04 or a note key 0x01)');
SELECT is(pg_temp.unb64url(substr(split_part(:'link2', '#', 2), 9)), (SELECT t FROM super_receipt),
          'receipt_link: form tlog-proof puts receipt_tlog_proof()''s text in the fragment');

-- retired_vkeys: the log's earlier keys (after a rotation), one vkey= each after the current one.
SELECT pg_temp.vkey('labs.example.edu/audit', 1, 'old log key') AS old_vkey, pg_temp.vkey('labs.example.edu/audit', 1, 'older') AS older_vkey \gset
SELECT forgea_audit.receipt_link(:rf_attempt, 'https://p.example/r', 'https://l.example/log', :'log_vkey', ARRAY[:'w1'],
                                 retired_vkeys => ARRAY[:'old_vkey', :'older_vkey']) AS link3 \gset
SELECT is(split_part(:'link3', '#', 1),
          'https://p.example/r?log=' || pg_temp.pct('https://l.example/log') || '&vkey=' || pg_temp.pct(:'log_vkey')
          || '&vkey=' || pg_temp.pct(:'old_vkey') || '&vkey=' || pg_temp.pct(:'older_vkey') || '&witness=' || pg_temp.pct(:'w1'),
          'receipt_link: retired_vkeys: one vkey= per key, the current one first, then the witnesses');
SELECT is(split_part(:'link3', '#', 2), split_part(:'link', '#', 2), 'receipt_link: ... the same fragment');
SELECT is(forgea_audit.receipt_link(:rf_attempt, 'https://p.example/r', 'https://l.example/log', :'log_vkey', retired_vkeys => '{}'),
          forgea_audit.receipt_link(:rf_attempt, 'https://p.example/r', 'https://l.example/log', :'log_vkey'),
          'receipt_link: an explicit vkey without retired_vkeys: that key alone (the old call)');

-------------------------------------------------------------------------------------------------
-- The same rights as receipt()
-------------------------------------------------------------------------------------------------
CREATE TEMP TABLE asked (role text, what text, answer text, same boolean);
GRANT INSERT ON asked TO PUBLIC;
CREATE TEMP TABLE super_link AS
SELECT forgea_audit.receipt_link(:rf_attempt, 'https://p.example/r', 'https://l.example/log', :'log_vkey') AS l;
GRANT SELECT ON super_link TO PUBLIC;
CREATE FUNCTION pg_temp.ask_as(who text, vkey text) RETURNS void LANGUAGE plpgsql AS
$$
DECLARE
    a bigint := (SELECT min(attempt_id) FROM pushed);
    got text;
    err text;
BEGIN
    EXECUTE format('SET SESSION AUTHORIZATION %I', who);
    BEGIN
        got := forgea_audit.receipt_tlog_proof(a);
        err := 'no error';
    EXCEPTION WHEN OTHERS THEN
        err := SQLSTATE || ': ' || SQLERRM;
    END;
    INSERT INTO asked VALUES (who, 'tlog', err, got = (SELECT t FROM super_receipt));
    got := NULL;
    BEGIN
        got := forgea_audit.receipt_link(a, 'https://p.example/r', 'https://l.example/log', vkey);
        err := 'no error';
    EXCEPTION WHEN OTHERS THEN
        err := SQLSTATE || ': ' || SQLERRM;
    END;
    INSERT INTO asked VALUES (who, 'link', err, got = (SELECT l FROM super_link));
    RESET SESSION AUTHORIZATION;
END
$$;
-- One statement (one transaction) per role: PL/pgSQL keeps a simple expression's state for the
-- rest of the transaction, and its EXECUTE check with it.
SELECT pg_temp.ask_as('fa_rf_writer', :'log_vkey');
SELECT pg_temp.ask_as('fa_rf_reader', :'log_vkey');
SELECT pg_temp.ask_as('fa_rf_admin', :'log_vkey');
SELECT pg_temp.ask_as('fa_rf_nobody', :'log_vkey');
SELECT is((SELECT array_agg(answer || ' ' || same ORDER BY what) FROM asked WHERE role = 'fa_rf_reader'),
          ARRAY['no error true', 'no error true'], 'the reader gets the superuser''s tlog-proof and link');
SELECT is((SELECT array_agg(answer || ' ' || same ORDER BY what) FROM asked WHERE role = 'fa_rf_admin'),
          ARRAY['no error true', 'no error true'], 'the admin too');
SELECT is((SELECT array_agg(left(answer, 5) ORDER BY what) FROM asked WHERE role = 'fa_rf_writer'), ARRAY['42501', '42501'],
          'the writer may not (it reads nothing of the log)');
SELECT is((SELECT array_agg(left(answer, 5) ORDER BY what) FROM asked WHERE role = 'fa_rf_nobody'), ARRAY['42501', '42501'],
          'a role with none of the extension''s roles may not either');

-------------------------------------------------------------------------------------------------
-- Bad input: a class-22 SQLSTATE with a message, a detail and a hint; nothing written
-------------------------------------------------------------------------------------------------
-- 'SQLSTATE|message|has detail|has hint' of what sql raised.
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS text LANGUAGE plpgsql AS
$$
DECLARE
    st text; msg text; det text; hint text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
    RETURN st || '|' || msg || '|' || (coalesce(det, '') <> '') || '|' || (coalesce(hint, '') <> '');
END
$$;
SELECT count(*) AS rows_before FROM forgea_audit.audit_log \gset
SELECT is(pg_temp.refusal('SELECT forgea_audit.receipt_tlog_proof(NULL)'),
          '22004|receipt_tlog_proof: attempt_id must not be NULL|true|true', 'tlog-proof of NULL: 22004');
SELECT is(pg_temp.refusal('SELECT forgea_audit.receipt_tlog_proof(999999)'),
          '22023|no LAB_VERIFY_ATTEMPT audit row for attempt 999999 is visible|true|true', 'tlog-proof of no attempt: 22023, as receipt()');
\set link_of 'SELECT forgea_audit.receipt_link(' :rf_attempt ', '
SELECT is(pg_temp.refusal(format('SELECT forgea_audit.receipt_link(NULL, %L, %L, %L)', 'https://p.example/r', 'https://l.example/', :'log_vkey')),
          '22004|receipt_link: attempt_id must not be NULL|true|true', 'link: a NULL attempt: 22004');
SELECT is(pg_temp.refusal(format(:'link_of' || 'NULL, %L, %L)', 'https://l.example/', :'log_vkey')),
          '22004|receipt_link: page_url must not be NULL|true|true', 'link: a NULL page URL: 22004');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L, ARRAY[NULL])', 'https://p.example/r', 'https://l.example/', :'log_vkey')),
          '22004|receipt_link: witnesses must not be NULL nor hold a NULL|true|true', 'link: a NULL witness: 22004');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L)', u, 'https://l.example/', :'log_vkey')),
          '22023|receipt_link: page_url is not an absolute http(s) URL without a query or fragment|true|true',
          'link: page URL ' || u || ': 22023')
FROM unnest(ARRAY['ftp://p.example/r', 'https://p.example/r?x=1', 'https://p.example/r#x', '/receipt/', 'https://p.example/a b']) u;
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L)', 'https://p.example/r', 'labs.example.edu/log', :'log_vkey')),
          '22023|receipt_link: log_url is not an absolute http(s) URL without a query or fragment|true|true',
          'link: a log URL without a scheme: 22023');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L)', 'https://p.example/r', 'https://l.example/', v)),
          '22023|receipt_link: vkey is not a C2SP verifier key of an Ed25519 note key (type 0x01)|true|true',
          'link: vkey ' || left(v, 30) || '...: 22023')
FROM unnest(ARRAY[replace(:'log_vkey', 'labs.', 'lab.'),                    -- another name: the key id does not match
                  pg_temp.vkey('labs.example.edu/audit', 4, 'log'),          -- a cosignature key is no log key
                  'labs.example.edu/audit+00000000+AQ==',                    -- too short
                  :'log_vkey' || ' ']) v;
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L, ARRAY[%L])', 'https://p.example/r', 'https://l.example/', :'log_vkey',
                                 pg_temp.vkey('w1.example', 2, 'w1'))),
          '22023|receipt_link: witnesses[1] is not a C2SP verifier key of an Ed25519 note or cosignature key (type 0x01 or 0x04)|true|true',
          'link: a witness key of another type: 22023');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L, retired_vkeys => ARRAY[%L])', 'https://p.example/r', 'https://l.example/', :'log_vkey',
                                 pg_temp.vkey('other.example/log', 1, 'old'))),
          '22023|receipt_link: retired_vkeys[1] is not a key of the log named by vkey|true|true',
          'link: a retired key of another log (another name): 22023');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L, retired_vkeys => ARRAY[%L])', 'https://p.example/r', 'https://l.example/', :'log_vkey',
                                 pg_temp.vkey('labs.example.edu/audit', 4, 'old'))),
          '22023|receipt_link: retired_vkeys[1] is not a C2SP verifier key of an Ed25519 note key (type 0x01)|true|true',
          'link: a retired key that is not a note key: 22023');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L, retired_vkeys => ARRAY[NULL])', 'https://p.example/r', 'https://l.example/', :'log_vkey')),
          '22004|receipt_link: retired_vkeys must not be NULL nor hold a NULL|true|true', 'link: a NULL retired key: 22004');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L, %L, form => %L)', 'https://p.example/r', 'https://l.example/', :'log_vkey', 'pdf')),
          '22023|receipt_link: form must be json or tlog-proof, not ''pdf''|true|true', 'link: an unknown form: 22023');
SELECT is(pg_temp.refusal(format('SELECT forgea_audit.receipt_link(999999, %L, %L, %L)', 'https://p.example/r', 'https://l.example/', :'log_vkey')),
          '22023|no LAB_VERIFY_ATTEMPT audit row for attempt 999999 is visible|true|true', 'link: no such attempt: 22023, as receipt()');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log), :'rows_before'::bigint, 'the refusals wrote nothing');

-- log_vkey() needs the public key (forgea_audit.verify_key_file, unset here).
SELECT is(pg_temp.refusal('SELECT forgea_audit.log_vkey()'),
          '55000|forgea_audit.log_vkey(): forgea_audit.verify_key_file is not set|true|true',
          'log_vkey() without verify_key_file: 55000, with a hint');
SELECT is(pg_temp.refusal(format(:'link_of' || '%L, %L)', 'https://p.example/r', 'https://l.example/')),
          '55000|forgea_audit.log_vkeys(): forgea_audit.verify_key_file is not set|true|true',
          'link without a vkey falls back to log_vkeys()');

SELECT * FROM finish();
