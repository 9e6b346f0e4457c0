-- forgea_audit.append(): the one way code appends an audit event.  Named arguments, defaults,
-- the chain an event lands on, and the checks on what it is given.

-- Only the action is required.
SELECT forgea_audit.append('PLATFORM_STARTED') AS seq \gset
SELECT action, actor_type, actor_id, outcome, severity, metadata, chain_id, chain_pos
FROM forgea_audit.audit_log WHERE seq = :seq;

-- The audit_events design, every field named; the default chain follows the target.
SELECT forgea_audit.append(
    action => 'LAB_STARTED', actor_type => 'user', actor_id => 'user-7',
    target_type => 'lab_session', target_id => 'sess-9', outcome => 'pending',
    metadata => '{"lab": "lab-3", "attempt": 1, "ratio": 0.50, "note": "tab\tand \"quote\""}',
    proof => '{"signature": null, "checks": [true, false]}',
    correlation_id => 'req-123', tenant_id => 'school-1', user_id => 'user-7', severity => 'LOW') AS started \gset
SELECT forgea_audit.append(action => 'LAB_HINT_SHOWN', actor_type => 'system', target_type => 'lab_session',
                           target_id => 'sess-9', parent_seq => :started) AS hint \gset
SELECT seq = :started AS is_started, chain_id, chain_pos, tenant_id, user_id, actor_type, actor_id, action, target_type,
       target_id, outcome, severity, metadata, proof, correlation_id, parent_seq = :started AS child_of_started
FROM forgea_audit.audit_log WHERE seq IN (:started, :hint) ORDER BY seq;

-- Without a target the chain follows the actor; an explicit chain wins over both.
SELECT forgea_audit.append('USER_LOGIN', actor_type => 'user', actor_id => 'user-7') AS login \gset
SELECT forgea_audit.append('EXPORT', chain => 'exports', target_type => 'report', target_id => 'r1') AS export \gset
SELECT action, chain_id FROM forgea_audit.audit_log WHERE seq IN (:login, :export) ORDER BY seq;

-- The head of a chain names its last row.
SELECT h.length, h.last_seq = max(l.seq) AS head_is_last, h.last_hash = (array_agg(l.row_hash ORDER BY l.chain_pos DESC))[1] AS hash_is_last
FROM forgea_audit.chain_head h JOIN forgea_audit.audit_log l USING (chain_id)
WHERE h.chain_id = 'lab_session:sess-9' GROUP BY h.length, h.last_seq, h.last_hash;

-- Rows link: each prev_hash is the previous row's row_hash, the first is 32 zero bytes.
SELECT chain_pos, prev_hash = coalesce(lag(row_hash) OVER w, decode(repeat('00', 32), 'hex')) AS linked
FROM forgea_audit.audit_log WHERE chain_id = 'lab_session:sess-9' WINDOW w AS (ORDER BY chain_pos) ORDER BY chain_pos;

-- What it refuses, and why.
SELECT forgea_audit.append(NULL);
SELECT forgea_audit.append('');
SELECT forgea_audit.append('X', actor_type => NULL);
SELECT forgea_audit.append('X', outcome => 'ok');
SELECT forgea_audit.append('X', severity => 'high');
SELECT forgea_audit.append('X', metadata => '[1]');
SELECT forgea_audit.append('X', metadata => NULL);
SELECT forgea_audit.append('X', proof => '"signed"');
SELECT forgea_audit.append('X', proof => '[1, 2]');
SELECT forgea_audit.append('X', chain => '');
SELECT forgea_audit.append('X', parent_seq => 999999);
-- What forgea_audit writes itself cannot be appended by anyone else.
SELECT forgea_audit.append('RETENTION_ARCHIVE', metadata => '{"count": 5}');
SELECT forgea_audit.append('AUDIT_DDL', actor_type => 'database_role', actor_id => 'postgres');
SELECT forgea_audit.append('NOTE', chain => 'session:sess-stuck');
SELECT forgea_audit.append('NOTE', target_type => 'session', target_id => 'sess-stuck');
SELECT forgea_audit.append('NOTE', chain => 'checkpoint');

SELECT * FROM forgea_audit.verify_chain();
