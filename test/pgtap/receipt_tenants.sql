-- Receipts and tenants (docs/roles.md, "Receipts and tenants").  receipt() is SECURITY DEFINER and
-- hands a reader the LAB_VERIFY_ATTEMPT row of an attempt, which row-level security shows to
-- admins only.  That is what it is for (the platform fetches a student's receipt with a reader
-- login that names no tenant, examples/webhook-node), and attempts are nobody's tenant's:
-- record_push() writes their rows with no tenant, and every reader reads every lab_attempt row.
-- What it must not do is hand out a tenant's row: a LAB_VERIFY_ATTEMPT row with a tenant (only a
-- superuser's append_system() can write one) is no receipt, for a reader of another tenant, a
-- reader of no tenant, or an admin, through receipt(), receipt_tlog_proof() or receipt_link().
-- (Up to this fix, receipt() returned such a row, with its tenant's user_id, to any reader: the
-- "planted" tests below failed.)
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT plan(13);

\ir try.psql

\ir fresh_roles.psql
CALL pg_temp.fresh_roles(ARRAY['fa_rt_reader_a', 'fa_rt_reader_none', 'fa_rt_admin']);
GRANT forgea_audit_reader TO fa_rt_reader_a, fa_rt_reader_none;
GRANT forgea_audit_admin TO fa_rt_admin;
INSERT INTO forgea_audit.reader_tenant VALUES ('fa_rt_reader_a', 'school-1');

-- A recorded push, and a LAB_VERIFY_ATTEMPT row of tenant school-2 planted by the superuser for a
-- made-up attempt id; one checkpoint covers both.
INSERT INTO "LabSession" ("id", "userId", "labId", "userForkUrl", "status", "updatedAt")
VALUES ('s-rt', 'u-rt', 'lab', 'https://github.com/rt/lab', 'IN_PROGRESS', now());
SELECT attempt_id AS rt_attempt FROM forgea_audit.record_push(
    (SELECT jsonb_set(payload, '{repository,html_url}', '"https://github.com/rt/lab"')
     FROM public.fixture_push WHERE name = 'api-with-new-branch.payload'), '00000000-0000-4000-8000-0000000e0001') \gset
SELECT forgea_audit.append_system('LAB_VERIFY_ATTEMPT', actor_type => 'webhook', actor_id => 'github',
                                  target_type => 'lab_attempt', target_id => '9000001', tenant_id => 'school-2',
                                  user_id => 'u-school-2', chain => 'session:planted') AS planted_seq \gset
SELECT ok(forgea_audit.checkpoint() IS NOT NULL, 'setup: a checkpoint covers the attempt and the planted row');
SELECT forgea_audit.receipt(:rt_attempt)::text AS super_receipt, forgea_audit.receipt_tlog_proof(:rt_attempt) AS super_tlog \gset

CREATE FUNCTION pg_temp.unb64url(s text) RETURNS text LANGUAGE sql AS
$$ SELECT convert_from(decode(rpad(translate(s, '-_', '+/'), (length(s) + 3) / 4 * 4, '='), 'base64'), 'UTF8') $$;
-- The three producers for one attempt, as the current role: receipt(), receipt_tlog_proof() and
-- the JSON in receipt_link()'s fragment (a made-up log key: the link's keys are not the point).
CREATE FUNCTION pg_temp.producers(attempt bigint) RETURNS text[] LANGUAGE sql AS
$$
SELECT ARRAY[pg_temp.try(format('SELECT forgea_audit.receipt(%s)', attempt)),
             pg_temp.try(format('SELECT forgea_audit.receipt_tlog_proof(%s)', attempt)),
             pg_temp.try(format($q$SELECT forgea_audit.receipt_link(%s, 'https://labs.example.edu/r/', 'https://labs.example.edu/log',
                                  'labs.example.edu/log+%s+%s')$q$, attempt,
                                encode(substr(sha256(convert_to(E'labs.example.edu/log\n', 'UTF8') || '\x01'::bytea || sha256('k')), 1, 4), 'hex'),
                                encode('\x01'::bytea || sha256('k'), 'base64')))]
$$;
CREATE FUNCTION pg_temp.link_receipt(attempt bigint) RETURNS text LANGUAGE sql AS
$$
SELECT pg_temp.unb64url(split_part(forgea_audit.receipt_link(attempt, 'https://labs.example.edu/r/', 'https://labs.example.edu/log',
         'labs.example.edu/log+' || encode(substr(sha256(convert_to(E'labs.example.edu/log\n', 'UTF8') || '\x01'::bytea || sha256('k')), 1, 4), 'hex')
         || '+' || encode('\x01'::bytea || sha256('k'), 'base64')), '#receipt=', 2))
$$;

-- The attempt's receipt: the same for a reader of school-1 (its tenant set), a reader of no tenant
-- (the webhook example's) and an admin, in all three forms.
SET SESSION AUTHORIZATION fa_rt_reader_a;
SET forgea_audit.tenant = 'school-1';
SELECT is(forgea_audit.receipt(:rt_attempt)::text, :'super_receipt', 'reader of school-1: the attempt''s receipt');
SELECT is(forgea_audit.receipt_tlog_proof(:rt_attempt), :'super_tlog', 'reader of school-1: its tlog-proof');
SELECT is(pg_temp.link_receipt(:rt_attempt), :'super_receipt', 'reader of school-1: its receipt_link()');
-- The planted row is invisible to it in audit_log (row-level security) ...
SELECT is((SELECT count(*) FROM forgea_audit.audit_log WHERE seq = :planted_seq), 0::bigint,
          'reader of school-1: the school-2 row is not visible in audit_log');
-- ... and receipt() does not hand it out either, in any form.
SELECT ok((SELECT bool_and(e ~ '^22023: no LAB_VERIFY_ATTEMPT audit row for attempt 9000001 is visible') FROM unnest(pg_temp.producers(9000001)) e),
          'reader of school-1: no receipt of school-2''s planted row (receipt, tlog-proof, link: 22023)');
RESET forgea_audit.tenant;
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION fa_rt_reader_none;
SELECT is(forgea_audit.receipt(:rt_attempt)::text, :'super_receipt', 'reader of no tenant: the attempt''s receipt');
SELECT is(pg_temp.link_receipt(:rt_attempt), :'super_receipt', 'reader of no tenant: its receipt_link()');
SELECT ok((SELECT bool_and(e ~ '^22023: ') FROM unnest(pg_temp.producers(9000001)) e),
          'reader of no tenant: no receipt of the planted row');
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION fa_rt_admin;
SELECT is(forgea_audit.receipt(:rt_attempt)::text, :'super_receipt', 'admin: the attempt''s receipt');
SELECT is((SELECT count(*) FROM forgea_audit.audit_log WHERE seq = :planted_seq), 1::bigint,
          'admin: reads the planted row in audit_log');
SELECT ok((SELECT bool_and(e ~ '^22023: ') FROM unnest(pg_temp.producers(9000001)) e),
          'admin: no receipt of it either (a tenant''s row is no receipt)');
RESET SESSION AUTHORIZATION;

SELECT ok((SELECT bool_and(e ~ '^22023: ') FROM unnest(pg_temp.producers(9000001)) e),
          'superuser: no receipt of it');

SELECT * FROM finish();
DROP OWNED BY fa_rt_reader_a;
DROP OWNED BY fa_rt_reader_none;
DROP OWNED BY fa_rt_admin;
DROP ROLE fa_rt_reader_a;
DROP ROLE fa_rt_reader_none;
DROP ROLE fa_rt_admin;
