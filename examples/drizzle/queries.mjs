// Typed reads of the audit log through the Drizzle definitions: the three questions the platform
// asks (what happened of this kind, what happened in this time range, everything one delivery or
// request caused).  Each is served by an index (audit_log_action_idx, audit_log_correlation_idx);
// a time range alone scans, so bound it with an action where you can.
import { and, asc, eq, gte, sql } from 'drizzle-orm';
import { auditLog } from './schema.mjs';

/** Events of one action, optionally since a time, in append order. */
export function eventsByAction(db, /** @type {string} */ action, /** @type {Date | undefined} */ since) {
    return db.select().from(auditLog)
        .where(since ? and(eq(auditLog.action, action), gte(auditLog.createdAt, since)) : eq(auditLog.action, action))
        .orderBy(asc(auditLog.seq));
}

// A bound as a Date has milliseconds; created_at has microseconds.  A bound read from the database
// (e.g. SELECT clock_timestamp()::text) keeps them when passed as that string.
const bound = (/** @type {Date | string} */ t) => (t instanceof Date ? t.toISOString() : t);

/** Events with from <= created_at < to, in append order; from/to: Date, or a timestamptz literal. */
export function eventsBetween(db, /** @type {Date | string} */ from, /** @type {Date | string} */ to) {
    return db.select().from(auditLog)
        .where(and(sql`${auditLog.createdAt} >= ${bound(from)}::timestamptz`,
                   sql`${auditLog.createdAt} < ${bound(to)}::timestamptz`))
        .orderBy(asc(auditLog.seq));
}

/** Everything one delivery / request caused (correlation_id), in append order. */
export function eventsByCorrelation(db, /** @type {string} */ correlationId) {
    return db.select().from(auditLog).where(eq(auditLog.correlationId, correlationId)).orderBy(asc(auditLog.seq));
}
