-- The audit chain is append-only for every role, superusers included, and the guards hold with
-- session_replication_role = replica.  Only forgea_audit's own functions write the chain tables.
SELECT count(*) AS audit_rows FROM forgea_audit.audit_log \gset

UPDATE forgea_audit.audit_log SET action = 'NOTHING_HAPPENED' WHERE seq = 1;
DELETE FROM forgea_audit.audit_log WHERE seq = 1;
TRUNCATE forgea_audit.audit_log;
INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type, action, outcome, severity)
VALUES (1000, 'forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'), now(), 'user', 'FORGED', 'success', 'INFO');

UPDATE forgea_audit.chain_head SET length = 0;
DELETE FROM forgea_audit.chain_head;
TRUNCATE forgea_audit.chain_head;
INSERT INTO forgea_audit.chain_head (chain_id) VALUES ('forged');

SET session_replication_role = replica;
UPDATE forgea_audit.audit_log SET action = 'NOTHING_HAPPENED' WHERE seq = 1;
DELETE FROM forgea_audit.audit_log WHERE seq = 1;
TRUNCATE forgea_audit.audit_log;
-- A superuser's INSERT, in replica mode or not, is how a dump is restored: it is accepted only for
-- a row that verifies where it lands, so a forged one is refused right there.
INSERT INTO forgea_audit.audit_log (seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type, action, outcome, severity)
VALUES (1000, 'forged', 1, decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'), now(), 'user', 'FORGED', 'success', 'INFO');
RESET session_replication_role;

SELECT count(*) = :audit_rows AS nothing_changed FROM forgea_audit.audit_log;
SELECT ok FROM forgea_audit.verify_chain();
