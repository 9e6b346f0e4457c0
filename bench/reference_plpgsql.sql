-- The reference implementation: record_push's contract written the way a competent user would
-- write it WITHOUT the forgea_audit extension, in PL/pgSQL with pgcrypto, in its own schema `ref`.
--
--   * ref.lab_attempt and ref.audit_log have forgea_audit's columns and indexes;
--   * the audit log is hash-chained the classic way: ONE chain, whose single head row
--     (ref.chain_head, id = 1) is locked with SELECT ... FOR UPDATE for every append, and
--     row_hash = digest(<the row as text>, 'sha256');
--   * the payload is parsed with jsonb operators; changed paths come from jsonb_array_elements_text
--     over the commits;
--   * idempotency: the delivery GUID is UNIQUE, INSERT ... ON CONFLICT DO NOTHING, then a re-read;
--   * the session is found by the same fork-URL matching (ref.repo_key: lower() + a regexp) through
--     a partial expression index like the one forgea_audit.bind_lab_session_table() creates
--     (ref.bind_lab_session_table()), and updated the same way.
--
-- Differences from the extension, on purpose: one global chain instead of one per session (the
-- design most people reach for first), payload_sha256 is SHA-256 of jsonb's text output rather
-- than of a versioned canonical JSON, and the input checks are the obvious ones (types of ref,
-- after, repository, the URL, commits) rather than every field and every path.  It needs pgcrypto
-- and the platform's "LabSession" table.
\set ON_ERROR_STOP 1

CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE SCHEMA ref;

\set bench_schema ref
\ir tables.psql

-- The one chain head: every append locks this row until its transaction ends.
CREATE TABLE ref.chain_head (
    id         int         PRIMARY KEY CHECK (id = 1),
    length     bigint      NOT NULL DEFAULT 0,
    last_seq   bigint,
    last_hash  bytea       NOT NULL DEFAULT decode(repeat('00', 32), 'hex'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ref.chain_head (id) VALUES (1);

-- Back to an empty log (the benchmark resets between runs).
CREATE FUNCTION ref.reset() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ref.lab_attempt, ref.audit_log RESTART IDENTITY;
    ALTER SEQUENCE ref.audit_log_seq RESTART;
    TRUNCATE ref.chain_head;
    INSERT INTO ref.chain_head (id) VALUES (1);
END
$$;

-- Fork-URL matching key: lower-case host/owner/repo of https, ssh:// and scp-style (git@host:o/r)
-- URLs, with the scheme, the user, ".git" and trailing slashes dropped; NULL when it is not a
-- repository URL.  (Written with regexps that PostgreSQL's engine runs without backtracking: one
-- regexp_match with capture groups for the whole URL costs ~10x more per call.)
CREATE FUNCTION ref.repo_key(url text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    k text := lower(regexp_replace(url, '^([a-z][a-z0-9+.-]*://)?([^@/:]*@)?|(\.git)?/*$', '', 'gi'));
BEGIN
    IF k ~ '^[^/:]+:' THEN
        k := overlay(k PLACING '/' FROM position(':' IN k) FOR 1);   -- git@host:owner/repo
    END IF;
    IF k ~ '^[^/]+/[^/]+/[^/]+$' THEN
        RETURN k;
    END IF;
    RETURN NULL;
END
$$;

-- The index the session lookup uses (the analogue of forgea_audit.bind_lab_session_table()).
CREATE FUNCTION ref.bind_lab_session_table() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE INDEX IF NOT EXISTS "LabSession_ref_repo_key_idx" ON "LabSession" (ref.repo_key("userForkUrl"), "startedAt" DESC)
        WHERE "status" IN ('IN_PROGRESS', 'STUCK');
END
$$;

-- The text that is hashed for an audit row: every column, NULLs distinguishable (quote_nullable),
-- the timestamp as integer microseconds (independent of TimeZone/DateStyle), jsonb as its text.
CREATE FUNCTION ref.row_text(seq bigint, chain_id text, chain_pos bigint, prev_hash bytea, created_at timestamptz,
                             tenant_id text, user_id text, actor_type text, actor_id text, action text,
                             target_type text, target_id text, outcome text, severity text, metadata jsonb,
                             proof jsonb, correlation_id text, parent_seq bigint)
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT concat_ws('|', 'v1', seq, quote_nullable(chain_id), chain_pos, encode(prev_hash, 'hex'),
                     (extract(epoch FROM created_at) * 1000000)::bigint,
                     quote_nullable(tenant_id), quote_nullable(user_id), quote_nullable(actor_type),
                     quote_nullable(actor_id), quote_nullable(action), quote_nullable(target_type),
                     quote_nullable(target_id), quote_nullable(outcome), quote_nullable(severity),
                     quote_nullable(metadata::text), quote_nullable(proof::text), quote_nullable(correlation_id),
                     quote_nullable(parent_seq))
$$;

-- Append one event to the chain; returns its seq.
CREATE FUNCTION ref.append(action text, actor_type text, actor_id text, target_type text, target_id text,
                           outcome text, severity text, metadata jsonb, correlation_id text DEFAULT NULL,
                           parent_seq bigint DEFAULT NULL, user_id text DEFAULT NULL, tenant_id text DEFAULT NULL,
                           proof jsonb DEFAULT NULL)
    RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    head ref.chain_head;
    v_seq bigint;
    v_at timestamptz := clock_timestamp();
    v_hash bytea;
BEGIN
    SELECT * INTO STRICT head FROM ref.chain_head h WHERE h.id = 1 FOR UPDATE;
    v_seq := nextval('ref.audit_log_seq');   -- drawn under the lock: seq grows along the chain
    v_hash := digest(ref.row_text(v_seq, 'global', head.length + 1, head.last_hash, v_at, tenant_id, user_id,
                                  actor_type, actor_id, action, target_type, target_id, outcome, severity,
                                  metadata, proof, correlation_id, parent_seq), 'sha256');
    INSERT INTO ref.audit_log AS l (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, tenant_id, user_id,
                                    actor_type, actor_id, action, target_type, target_id, outcome, severity,
                                    metadata, proof, correlation_id, parent_seq)
    VALUES (v_seq, 'global', head.length + 1, head.last_hash, v_hash, v_at, append.tenant_id, append.user_id,
            append.actor_type, append.actor_id, append.action, append.target_type, append.target_id,
            append.outcome, append.severity, append.metadata, append.proof, append.correlation_id,
            append.parent_seq);
    UPDATE ref.chain_head h SET length = head.length + 1, last_seq = v_seq, last_hash = v_hash, updated_at = v_at
    WHERE h.id = 1;
    RETURN v_seq;
END
$$;

-- record_push's contract: recorded | duplicate | conflict | unmatched.
CREATE FUNCTION ref.record_push(payload jsonb, delivery_id text, headers jsonb DEFAULT NULL)
    RETURNS TABLE (status text, attempt_id bigint, session_id text, audit_seq bigint)
    LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_guid     uuid;
    v_repo     jsonb;
    v_url      text;
    v_key      text;
    v_sha      bytea;
    v_paths    text[];
    v_files    jsonb;
    v_ncommits int;
    v_pushed   timestamptz;
    v_delivery jsonb;
    v_sess     record;
    v_prior    record;
    v_attempt  bigint;
    v_old      text;
    v_meta     jsonb;
    v_seq      bigint;
BEGIN
    IF payload IS NULL OR record_push.delivery_id IS NULL THEN
        RAISE EXCEPTION 'ref.record_push: payload and delivery_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    v_guid := record_push.delivery_id::uuid;                       -- 22P02 if it is not a GUID
    IF jsonb_typeof(payload) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'invalid GitHub push payload: the payload must be a JSON object' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(payload -> 'ref') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'invalid GitHub push payload: $.ref must be a string' USING ERRCODE = '22023';
    END IF;
    IF (payload ->> 'after') IS NULL OR (payload ->> 'after') !~ '^([0-9a-f]{40}|[0-9a-f]{64})$' THEN
        RAISE EXCEPTION 'invalid GitHub push payload: $.after is not a git object id' USING ERRCODE = '22023';
    END IF;
    v_repo := payload -> 'repository';
    IF jsonb_typeof(v_repo) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'invalid GitHub push payload: $.repository must be an object' USING ERRCODE = '22023';
    END IF;
    v_url := coalesce(v_repo ->> 'html_url', v_repo ->> 'clone_url', v_repo ->> 'ssh_url');
    v_key := ref.repo_key(v_url);
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'invalid GitHub push payload: $.repository.html_url is not a repository URL'
            USING ERRCODE = '22023';
    END IF;
    IF payload ? 'commits' AND jsonb_typeof(payload -> 'commits') <> 'array' THEN
        RAISE EXCEPTION 'invalid GitHub push payload: $.commits must be an array' USING ERRCODE = '22023';
    END IF;
    IF headers IS NOT NULL THEN
        v_delivery := jsonb_strip_nulls(jsonb_build_object('event', headers ->> 'X-GitHub-Event',
                                                           'hook_id', headers ->> 'X-GitHub-Hook-ID',
                                                           'user_agent', headers ->> 'User-Agent'));
    END IF;

    v_sha := digest(payload::text, 'sha256');
    v_ncommits := coalesce(jsonb_array_length(payload -> 'commits'), 0);

    -- Changed paths: the distinct union (bytewise order), and per kind.
    WITH f AS (
        SELECT k.kind, p.path COLLATE "C" AS path
        FROM jsonb_array_elements(coalesce(payload -> 'commits', '[]')) AS c(commit)
        CROSS JOIN (VALUES ('added'), ('modified'), ('removed')) AS k(kind)
        CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(c.commit -> k.kind, '[]')) AS p(path)
    )
    SELECT coalesce(array_agg(DISTINCT f.path ORDER BY f.path), '{}'),
           jsonb_build_object(
               'added', coalesce(jsonb_agg(DISTINCT f.path ORDER BY f.path) FILTER (WHERE f.kind = 'added'), '[]'),
               'modified', coalesce(jsonb_agg(DISTINCT f.path ORDER BY f.path) FILTER (WHERE f.kind = 'modified'), '[]'),
               'removed', coalesce(jsonb_agg(DISTINCT f.path ORDER BY f.path) FILTER (WHERE f.kind = 'removed'), '[]'))
    INTO v_paths, v_files
    FROM f;

    v_pushed := CASE jsonb_typeof(v_repo -> 'pushed_at')
                    WHEN 'number' THEN to_timestamp((v_repo ->> 'pushed_at')::double precision)
                    WHEN 'string' THEN (v_repo ->> 'pushed_at')::timestamptz
                    ELSE (payload -> 'head_commit' ->> 'timestamp')::timestamptz END;

    -- A delivery seen before: duplicate (same payload) or conflict.
    SELECT a.id, a.session_id, a.payload_sha256 INTO v_prior FROM ref.lab_attempt a WHERE a.delivery_id = v_guid;
    IF NOT FOUND THEN
        SELECT s."id"::text AS id, s."userId"::text AS user_id, count(*) OVER () AS n INTO v_sess
        FROM "LabSession" s
        WHERE ref.repo_key(s."userForkUrl") = v_key AND s."status" IN ('IN_PROGRESS', 'STUCK')
        ORDER BY s."startedAt" DESC, s."id" DESC
        LIMIT 1;
        IF NOT FOUND THEN
            v_seq := ref.append('LAB_VERIFY_ATTEMPT_UNMATCHED', 'webhook', 'github', 'repository', v_key, 'failure',
                                'LOW', jsonb_build_object('delivery_id', v_guid, 'commit_sha', payload ->> 'after',
                                                          'ref', payload ->> 'ref', 'repository', v_url,
                                                          'repository_id', v_repo -> 'id',
                                                          'payload_sha256', encode(v_sha, 'hex'),
                                                          'repository_key', v_key),
                                v_guid::text);
            RETURN QUERY SELECT 'unmatched'::text, NULL::bigint, NULL::text, v_seq;
            RETURN;
        END IF;

        INSERT INTO ref.lab_attempt (session_id, delivery_id, commit_sha, before_sha, ref, base_ref, changed_paths,
                                     changed_files, commit_count, commits_truncated, files_truncated, created, deleted,
                                     forced, pusher_name, pusher_email, sender_login, sender_id, repository_id,
                                     repository_url, repository_full_name, repository_key, payload_sha256, delivery,
                                     pushed_at)
        VALUES (v_sess.id, v_guid, payload ->> 'after', payload ->> 'before', payload ->> 'ref', payload ->> 'base_ref',
                v_paths, v_files, v_ncommits, v_ncommits >= 2048,
                EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(payload -> 'commits', '[]')) AS c(commit)
                        WHERE jsonb_array_length(coalesce(c.commit -> 'added', '[]')) >= 3000
                           OR jsonb_array_length(coalesce(c.commit -> 'modified', '[]')) >= 3000
                           OR jsonb_array_length(coalesce(c.commit -> 'removed', '[]')) >= 3000),
                coalesce((payload ->> 'created')::boolean, payload ->> 'before' ~ '^0+$'),
                coalesce((payload ->> 'deleted')::boolean, payload ->> 'after' ~ '^0+$'),
                coalesce((payload ->> 'forced')::boolean, false),
                payload -> 'pusher' ->> 'name', payload -> 'pusher' ->> 'email',
                payload -> 'sender' ->> 'login', (payload -> 'sender' ->> 'id')::bigint,
                (v_repo ->> 'id')::bigint, v_url, v_repo ->> 'full_name', v_key, v_sha, v_delivery, v_pushed)
        ON CONFLICT (delivery_id) DO NOTHING
        RETURNING id INTO v_attempt;

        IF v_attempt IS NOT NULL THEN
            WITH s AS (SELECT "id", "status"::text AS old_status FROM "LabSession"
                       WHERE "id" = v_sess.id AND "status" IN ('IN_PROGRESS', 'STUCK') FOR UPDATE)
            UPDATE "LabSession" AS t
            SET "lastActivityAt" = (now() AT TIME ZONE 'UTC'), "updatedAt" = (now() AT TIME ZONE 'UTC'),
                "status" = CASE WHEN t."status" = 'STUCK' THEN 'IN_PROGRESS' ELSE t."status" END
            FROM s WHERE t."id" = s."id"
            RETURNING s.old_status INTO v_old;

            v_meta := jsonb_build_object(
                'delivery_id', v_guid, 'commit_sha', payload ->> 'after', 'ref', payload ->> 'ref',
                'repository', v_url, 'repository_id', v_repo -> 'id', 'payload_sha256', encode(v_sha, 'hex'),
                'sender', payload -> 'sender' ->> 'login', 'attempt_id', v_attempt, 'session_id', v_sess.id,
                'before_sha', payload ->> 'before', 'commit_count', v_ncommits,
                'changed_path_count', cardinality(v_paths), 'created', coalesce((payload ->> 'created')::boolean, false),
                'deleted', coalesce((payload ->> 'deleted')::boolean, false),
                'forced', coalesce((payload ->> 'forced')::boolean, false));
            IF v_sess.n > 1 THEN
                v_meta := v_meta || jsonb_build_object('active_sessions', v_sess.n);
            END IF;
            IF v_old IS NULL THEN
                v_meta := v_meta || jsonb_build_object('session_note', 'session left IN_PROGRESS/STUCK before it could be updated');
            END IF;
            v_seq := ref.append('LAB_VERIFY_ATTEMPT', 'webhook', 'github', 'lab_attempt', v_attempt::text, 'success',
                                'INFO', jsonb_strip_nulls(v_meta), v_guid::text, NULL, v_sess.user_id);
            IF v_old = 'STUCK' THEN
                PERFORM ref.append('LAB_STATUS_TRANSITION', 'webhook', 'github', 'lab_session', v_sess.id, 'success',
                                   'INFO', jsonb_build_object('session_id', v_sess.id, 'from', 'STUCK',
                                                              'to', 'IN_PROGRESS', 'delivery_id', v_guid,
                                                              'attempt_id', v_attempt,
                                                              'commit_sha', payload ->> 'after'),
                                   v_guid::text, v_seq, v_sess.user_id);
            END IF;
            RETURN QUERY SELECT 'recorded'::text, v_attempt, v_sess.id, v_seq;
            RETURN;
        END IF;

        -- A concurrent call recorded this GUID first: read what it committed.
        SELECT a.id, a.session_id, a.payload_sha256 INTO v_prior FROM ref.lab_attempt a WHERE a.delivery_id = v_guid;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'delivery % was recorded by a concurrent transaction that is not visible yet', v_guid
                USING ERRCODE = '40001';
        END IF;
    END IF;

    v_meta := jsonb_build_object('delivery_id', v_guid, 'commit_sha', payload ->> 'after', 'ref', payload ->> 'ref',
                                 'repository', v_url, 'repository_id', v_repo -> 'id',
                                 'payload_sha256', encode(v_sha, 'hex'), 'sender', payload -> 'sender' ->> 'login',
                                 'attempt_id', v_prior.id, 'session_id', v_prior.session_id);
    IF v_prior.payload_sha256 = v_sha THEN
        v_seq := ref.append('LAB_VERIFY_ATTEMPT_DUPLICATE', 'webhook', 'github', 'lab_attempt', v_prior.id::text,
                            'success', 'INFO', jsonb_strip_nulls(v_meta), v_guid::text);
        RETURN QUERY SELECT 'duplicate'::text, v_prior.id, v_prior.session_id, v_seq;
    ELSE
        v_seq := ref.append('LAB_VERIFY_ATTEMPT_CONFLICT', 'webhook', 'github', 'lab_attempt', v_prior.id::text,
                            'failure', 'HIGH',
                            jsonb_strip_nulls(v_meta) || jsonb_build_object('recorded_payload_sha256',
                                                                            encode(v_prior.payload_sha256, 'hex')),
                            v_guid::text);
        RETURN QUERY SELECT 'conflict'::text, v_prior.id, v_prior.session_id, v_seq;
    END IF;
END
$$;

-- Verification of the reference chain, in PL/pgSQL: every link and every row hash, then the head.
CREATE FUNCTION ref.verify_chain()
    RETURNS TABLE (ok boolean, rows_checked bigint, first_bad_seq bigint, detail text)
    LANGUAGE plpgsql AS $$
DECLARE
    r        record;
    n        bigint := 0;
    problems bigint := 0;
    first    bigint;
    what     text;
    last_pos bigint := 0;
    last_seq bigint := 0;
    last     bytea := decode(repeat('00', 32), 'hex');
    head     ref.chain_head;
BEGIN
    FOR r IN SELECT * FROM ref.audit_log l WHERE l.chain_id = 'global' ORDER BY l.chain_pos LOOP
        n := n + 1;
        IF r.chain_pos <> last_pos + 1 OR r.prev_hash <> last OR (last_pos > 0 AND r.seq <= last_seq)
           OR r.row_hash <> digest(ref.row_text(r.seq, r.chain_id, r.chain_pos, r.prev_hash, r.created_at,
                                                r.tenant_id, r.user_id, r.actor_type, r.actor_id, r.action,
                                                r.target_type, r.target_id, r.outcome, r.severity, r.metadata,
                                                r.proof, r.correlation_id, r.parent_seq), 'sha256') THEN
            problems := problems + 1;
            IF first IS NULL OR r.seq < first THEN
                first := r.seq;
                what := format('row seq %s (position %s) does not verify', r.seq, r.chain_pos);
            END IF;
        END IF;
        last_pos := r.chain_pos;
        last_seq := r.seq;
        last := r.row_hash;
    END LOOP;
    SELECT * INTO head FROM ref.chain_head h WHERE h.id = 1;
    IF head.length <> last_pos OR head.last_hash <> last OR coalesce(head.last_seq, 0) <> last_seq THEN
        problems := problems + 1;
        IF first IS NULL THEN
            first := coalesce(head.last_seq, 0);
            what := 'the chain head does not match the log''s last row';
        END IF;
    END IF;
    RETURN QUERY SELECT problems = 0, n, first,
                        CASE WHEN problems = 0 THEN format('verified %s rows in 1 chain', n)
                             ELSE format('%s; %s problems in all', what, problems) END;
END
$$;
