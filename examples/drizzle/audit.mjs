// createAuditEvent(): the one way this example writes to the audit log.  It calls
// forgea_audit.append() (SELECT, never INSERT: the guard triggers refuse direct writes, and the
// writer role has EXECUTE on append() and no privilege on the tables) and returns the new seq.
import { sql } from 'drizzle-orm';

/**
 * append()'s arguments (forgea_audit--0.2.0.sql), in camelCase.  Only `action` is required;
 * an option left out (or undefined) is not passed, so append()'s own default applies.
 * @typedef {object} AuditEventOptions
 * @property {string} action                 action          e.g. 'LAB_OPENED'
 * @property {string} [actorType]            actor_type      default 'system'
 * @property {string | null} [actorId]       actor_id
 * @property {string | null} [targetType]    target_type
 * @property {string | null} [targetId]      target_id
 * @property {'success'|'failure'|'partial'|'pending'} [outcome]         outcome   default 'success'
 * @property {'INFO'|'LOW'|'MEDIUM'|'HIGH'|'CRITICAL'} [severity]        severity  default 'INFO'
 * @property {Record<string, unknown>} [metadata]  metadata (jsonb object) default {}
 * @property {unknown} [proof]               proof (jsonb)
 * @property {string | null} [correlationId] correlation_id
 * @property {bigint | null} [parentSeq]     parent_seq (an existing seq)
 * @property {string | null} [tenantId]      tenant_id
 * @property {string | null} [userId]        user_id
 * @property {string | null} [chain]         chain (default: the target's chain, else the actor's)
 */

// option -> [append() argument, SQL type it is sent as]
const ARGS = {
    action: ['action', 'text'], actorType: ['actor_type', 'text'], actorId: ['actor_id', 'text'],
    targetType: ['target_type', 'text'], targetId: ['target_id', 'text'], outcome: ['outcome', 'text'],
    severity: ['severity', 'text'], metadata: ['metadata', 'jsonb'], proof: ['proof', 'jsonb'],
    correlationId: ['correlation_id', 'text'], parentSeq: ['parent_seq', 'bigint'],
    tenantId: ['tenant_id', 'text'], userId: ['user_id', 'text'], chain: ['chain', 'text'],
};

/**
 * Appends one audit event through forgea_audit.append() and returns its seq.  Run it on a
 * connection whose role is (a member of) forgea_audit_writer.  Inside db.transaction(), the event
 * commits or rolls back with the rest of the transaction.  Errors are PostgreSQL's (e.g. 22023 for
 * an unknown outcome, 23503 for a parentSeq that does not exist), wrapped by Drizzle (error.cause).
 * @param {{ execute: (query: import('drizzle-orm').SQL) => Promise<{ rows: Record<string, unknown>[] }> }} db
 *        a drizzle-orm/node-postgres database or transaction
 * @param {AuditEventOptions} options
 * @returns {Promise<bigint>}
 */
export async function createAuditEvent(db, options) {
    if (!options || typeof options.action !== 'string')
        throw new TypeError('createAuditEvent: options.action (a string) is required');
    const args = [];
    for (const [key, value] of Object.entries(options)) {
        const arg = ARGS[/** @type {keyof typeof ARGS} */ (key)];
        if (!arg) throw new TypeError(`createAuditEvent: unknown option "${key}" (append() has no such argument)`);
        if (value === undefined) continue;
        const [name, type] = arg;
        let param = value;
        if (value !== null && type === 'jsonb') param = JSON.stringify(value);
        if (value !== null && type === 'bigint') param = value.toString();
        // Named notation (name => value): independent of append()'s argument order.
        args.push(sql`${sql.raw(name)} => ${param}::${sql.raw(type)}`);
    }
    const result = await db.execute(sql`SELECT forgea_audit.append(${sql.join(args, sql`, `)})::text AS seq`);
    return BigInt(/** @type {string} */ (result.rows[0].seq));
}
