// Run by test/integration/drizzle_example.sh against a real cluster; prints "name<TAB>value" lines
// that the script compares with what they must be.  Connections: PGHOST, PGPORT, PGDATABASE from
// the environment; the superuser as PGUSER/PGPASSWORD, the two login roles the script made as
// WRITER_USER/WRITER_PASSWORD (only forgea_audit_writer), ADMIN_USER/ADMIN_PASSWORD
// (forgea_audit_admin) and READER_USER/READER_PASSWORD (forgea_audit_reader, granted tenant school-1).
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { eq, sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { auditLog, chainHead, tables } from './schema.mjs';
import { createAuditEvent } from './audit.mjs';
import { eventsBetween, eventsByAction, eventsByCorrelation } from './queries.mjs';

const pools = [];
const connect = (user, password, options) => {
    const pool = new pg.Pool(user ? { user, password, options, max: 1 } : { max: 1 });
    pools.push(pool);
    return drizzle(pool);
};
const superuser = connect();
const writer = connect(process.env.WRITER_USER, process.env.WRITER_PASSWORD);
const admin = connect(process.env.ADMIN_USER, process.env.ADMIN_PASSWORD);
// A reader sees the audit rows of the tenant its session names, if reader_tenant grants it that one.
const reader = connect(process.env.READER_USER, process.env.READER_PASSWORD, '-c forgea_audit.tenant=school-1');
const readerNoTenant = connect(process.env.READER_USER, process.env.READER_PASSWORD);
const out = (name, value) => console.log(`${name}\t${typeof value === 'string' ? value : JSON.stringify(value)}`);
const now = async (db) => (await db.execute(sql`SELECT clock_timestamp()::text AS t`)).rows[0].t;
/** A refused statement's SQLSTATE and message (Drizzle wraps the driver's error in .cause). */
const refusal = async (promise) => {
    try { await promise; return 'not refused'; } catch (e) { const c = e.cause ?? e; return `${c.code} ${c.message}`; }
};

try {
    // 1. Every definition matches the catalog: the same columns, types and NOT NULLs, in order.
    for (const [name, table] of Object.entries(tables)) {
        const cfg = getTableConfig(table);
        const mine = cfg.columns.map((c) => `${c.name} ${c.getSQLType()}${c.notNull ? ' not null' : ''}`);
        const { rows } = await superuser.execute(sql`
            SELECT a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END AS col
            FROM pg_attribute a WHERE a.attrelid = ${`${cfg.schema}.${cfg.name}`}::regclass AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum`);
        const theirs = rows.map((r) => r.col);
        out(`definition ${name}`, JSON.stringify(mine) === JSON.stringify(theirs) ? 'matches' : `differs: drizzle ${mine.join(', ')} / database ${theirs.join(', ')}`);
    }

    // 2. Events written through createAuditEvent() as the writer role, in three batches whose
    //    boundaries are read from the database's clock between them.
    const corr = '7f9e5a3c-0d1b-4c5e-9a2f-3b4c5d6e7f80';
    const a1 = await createAuditEvent(writer, { action: 'DRIZZLE_LAB_OPENED', actorType: 'user', actorId: 'user-1',
                                                targetType: 'lab_session', targetId: 'sess-1', correlationId: corr,
                                                metadata: { lab: 'lab-1', attempt: 1 }, tenantId: 'school-1', userId: 'user-1' });
    const a2 = await createAuditEvent(writer, { action: 'DRIZZLE_HINT_SHOWN', actorType: 'user', actorId: 'user-1',
                                                targetType: 'lab_session', targetId: 'sess-1', correlationId: corr,
                                                parentSeq: a1, severity: 'LOW' });
    const t0 = await now(superuser);
    const b1 = await createAuditEvent(writer, { action: 'DRIZZLE_LAB_OPENED', actorType: 'user', actorId: 'user-2',
                                                targetType: 'lab_session', targetId: 'sess-2' });
    const b2 = await createAuditEvent(writer, { action: 'DRIZZLE_LAB_SUBMITTED', actorType: 'user', actorId: 'user-1',
                                                targetType: 'lab_session', targetId: 'sess-1', correlationId: corr,
                                                outcome: 'pending', proof: { sha: 'abc' }, chain: 'drizzle:example' });
    const t1 = await now(superuser);
    const c1 = await createAuditEvent(writer, { action: 'DRIZZLE_LAB_OPENED', actorType: 'system' });
    out('seqs increase', [a1, a2, b1, b2, c1].every((s, i, all) => typeof s === 'bigint' && (i === 0 || s > all[i - 1])));
    out('unknown option refused', await refusal(createAuditEvent(writer, { action: 'X', corelationId: corr })));
    out('append() refuses a bad outcome', await refusal(createAuditEvent(writer, { action: 'X', outcome: 'ok' })));

    // 3. Read back through the definitions, as an admin (reads every tenant).
    const label = new Map([[a1, 'a1'], [a2, 'a2'], [b1, 'b1'], [b2, 'b2'], [c1, 'c1']]);
    const rel = (rows) => rows.map((r) => `${r.action}@${label.get(r.seq) ?? r.seq}`).join(',');
    const opened = await eventsByAction(admin, 'DRIZZLE_LAB_OPENED');
    out('by action', `${opened.length} ${rel(opened)}`);
    const openedSince = await eventsByAction(admin, 'DRIZZLE_LAB_OPENED', new Date(0));
    out('by action since epoch', openedSince.length);
    const between = await eventsBetween(admin, t0, t1);
    out('by time range', `${between.length} ${rel(between)}`);
    const correlated = await eventsByCorrelation(admin, corr);
    out('by correlation id', `${correlated.length} ${rel(correlated)}`);
    const mine = await eventsByCorrelation(reader, corr);
    out('reader of school-1 by correlation id', `${mine.length} ${rel(mine)}`);
    out('reader without a tenant', (await eventsByAction(readerNoTenant, 'DRIZZLE_LAB_OPENED')).length);
    const [first] = await admin.select().from(auditLog).where(eq(auditLog.seq, a1));
    out('types', [typeof first.seq, typeof first.chainPos, first.createdAt instanceof Date, Buffer.isBuffer(first.rowHash),
                  first.rowHash.length, first.prevHash.length, typeof first.hashVersion, JSON.stringify(first.metadata),
                  first.tenantId, first.userId, first.outcome, first.severity].join(' '));
    const [second] = await admin.select().from(auditLog).where(eq(auditLog.seq, a2));
    out('second row', `${second.parentSeq === a1} ${second.severity} ${second.chainId === first.chainId} ${second.chainPos - first.chainPos} ${second.prevHash.equals(first.rowHash)}`);
    const [sub] = await admin.select().from(auditLog).where(eq(auditLog.seq, b2));
    out('explicit chain, proof, outcome', `${sub.chainId} ${sub.chainPos} ${JSON.stringify(sub.proof)} ${sub.outcome}`);
    const [head] = await admin.select().from(chainHead).where(eq(chainHead.chainId, 'drizzle:example'));
    out('chain head', `${head.length} ${head.lastSeq === b2} ${head.lastHash.equals(sub.rowHash)}`);

    // 4. Writes through the definitions are refused: by the guard for the superuser, by the
    //    privileges for the writer (and the admin).
    const forged = { seq: 1n << 40n, chainId: 'drizzle:forged', chainPos: 1n, prevHash: Buffer.alloc(32), rowHash: Buffer.alloc(32),
                     createdAt: new Date(), actorType: 'user', action: 'FORGED', outcome: 'success', severity: 'INFO', metadata: {} };
    out('superuser insert', await refusal(superuser.insert(auditLog).values(forged)));
    out('superuser update', await refusal(superuser.update(auditLog).set({ outcome: 'failure' }).where(eq(auditLog.seq, a1))));
    out('superuser delete', await refusal(superuser.delete(auditLog).where(eq(auditLog.seq, a1))));
    out('superuser chain_head update', await refusal(superuser.update(chainHead).set({ length: 99n }).where(eq(chainHead.chainId, 'drizzle:example'))));
    out('writer insert', await refusal(writer.insert(auditLog).values(forged)));
    out('writer update', await refusal(writer.update(auditLog).set({ outcome: 'failure' }).where(eq(auditLog.seq, a1))));
    out('admin update', await refusal(admin.update(auditLog).set({ outcome: 'failure' }).where(eq(auditLog.seq, a1))));
    const [still] = await admin.select().from(auditLog).where(eq(auditLog.seq, a1));
    out('row unchanged', `${still.outcome} ${still.rowHash.equals(first.rowHash)}`);

    // 5. The chain still verifies.
    const { rows: [v] } = await admin.execute(sql`SELECT ok, rows_checked FROM forgea_audit.verify_chain()`);
    out('verify_chain', `${v.ok} ${v.rows_checked}`);
} finally {
    await Promise.all(pools.map((p) => p.end()));
}
