// forgea_audit's tables as Drizzle ORM (pg-core) definitions, for READING only.
//
// The extension writes every one of these tables itself: audit events go in only through
// forgea_audit.append() (createAuditEvent() in audit.mjs) and record_push(); attempts only through
// record_push(); chain heads, checkpoints, archive rows and rejection counters only through the
// extension's own functions.  This module therefore exports table objects and nothing that
// inserts.  Drizzle cannot mark a table read-only, so `db.insert(auditLog)` still compiles: the
// database refuses it (the guard triggers for everyone, the table owner and superusers included;
// "permission denied" for the writer, reader and admin roles, which have no INSERT/UPDATE/DELETE).
//
// Column types follow forgea_audit--0.2.0.sql exactly; test/integration/drizzle_example.sh compares
// every definition below with the catalog (name, type, NOT NULL), so a drift fails the suite.
//
// bigint columns use mode 'bigint' (JavaScript BigInt): seq, ids and counters are int8 and can pass
// 2^53, where mode 'number' would silently round.  JSON.stringify throws on a BigInt; serialise
// with a replacer, (k, v) => typeof v === 'bigint' ? v.toString() : v, as examples/prisma does.
// timestamptz columns are Date objects (mode 'date'); note JavaScript keeps milliseconds only, the
// database microseconds: compare time ranges in SQL, not by equality of a Date read back.
import { pgSchema, primaryKey, bigint, boolean, customType, integer, jsonb, smallint, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const forgeaAudit = pgSchema('forgea_audit');

/** bytea as a Node Buffer (node-postgres decodes bytea to Buffer); Drizzle has no built-in bytea. */
export const bytea = customType({
    dataType() { return 'bytea'; },
});

const tstz = (/** @type {string} */ name) => timestamp(name, { withTimezone: true, mode: 'date' });
const int8 = (/** @type {string} */ name) => bigint(name, { mode: 'bigint' });

/** The hash-chained audit log (one row per append()).  Readers see their tenants' rows (RLS); admins all. */
export const auditLog = forgeaAudit.table('audit_log', {
    seq: int8('seq').primaryKey(),
    chainId: text('chain_id').notNull(),
    chainPos: int8('chain_pos').notNull(),
    prevHash: bytea('prev_hash').notNull(),
    rowHash: bytea('row_hash').notNull(),
    hashVersion: smallint('hash_version').notNull().default(1),
    createdAt: tstz('created_at').notNull(),
    tenantId: text('tenant_id'),
    userId: text('user_id'),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    outcome: text('outcome', { enum: ['success', 'failure', 'partial', 'pending'] }).notNull(),
    severity: text('severity', { enum: ['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] }).notNull(),
    metadata: jsonb('metadata').$type().notNull(),
    proof: jsonb('proof'),
    correlationId: text('correlation_id'),
    parentSeq: int8('parent_seq'),
});

// lab_attempt and lab_attempt_archive share their columns (the archive is LIKE lab_attempt).
const attemptColumns = () => ({
    id: int8('id').primaryKey(),
    sessionId: text('session_id').notNull(),
    deliveryId: uuid('delivery_id').notNull().unique(),
    commitSha: text('commit_sha').notNull(),
    beforeSha: text('before_sha'),
    ref: text('ref').notNull(),
    baseRef: text('base_ref'),
    changedPaths: text('changed_paths').array().notNull(),
    changedFiles: jsonb('changed_files').$type().notNull(),
    commitCount: integer('commit_count').notNull(),
    commitsTruncated: boolean('commits_truncated').notNull(),
    filesTruncated: boolean('files_truncated').notNull(),
    created: boolean('created').notNull(),
    deleted: boolean('deleted').notNull(),
    forced: boolean('forced').notNull(),
    pusherName: text('pusher_name'),
    pusherEmail: text('pusher_email'),
    senderLogin: text('sender_login'),
    senderId: int8('sender_id'),
    repositoryId: int8('repository_id'),
    repositoryUrl: text('repository_url').notNull(),
    repositoryFullName: text('repository_full_name'),
    repositoryKey: text('repository_key').notNull(),
    payloadSha256: bytea('payload_sha256').notNull(),
    delivery: jsonb('delivery'),
    pushedAt: tstz('pushed_at'),
    recordedAt: tstz('recorded_at').notNull().defaultNow(),
});

/** One row per GitHub push delivery recorded against a lab session (record_push()). */
export const labAttempt = forgeaAudit.table('lab_attempt', attemptColumns());

/** Attempts moved out of lab_attempt by retention; archiveSeq is the RETENTION_ARCHIVE event's seq. */
export const labAttemptArchive = forgeaAudit.table('lab_attempt_archive', {
    ...attemptColumns(),
    archivedAt: tstz('archived_at').notNull().defaultNow(),
    archiveSeq: int8('archive_seq').notNull(),
});

/** Length and last row_hash of every chain. */
export const chainHead = forgeaAudit.table('chain_head', {
    chainId: text('chain_id').primaryKey(),
    length: int8('length').notNull().default(0n),
    lastSeq: int8('last_seq'),
    lastHash: bytea('last_hash').notNull(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
});

/** Every checkpoint made by forgea_audit.checkpoint(): tree size, root, the signed note. */
export const merkleCheckpoint = forgeaAudit.table('merkle_checkpoint', {
    id: int8('id').primaryKey(),
    treeSize: int8('tree_size').notNull(),
    root: bytea('root').notNull(),
    note: text('note').notNull(),
    madeAt: tstz('made_at').notNull().defaultNow(),
});

/** Rejected webhook deliveries counted per minute, reason and shard. */
export const webhookRejection = forgeaAudit.table('webhook_rejection', {
    minute: tstz('minute').notNull(),
    reason: text('reason', { enum: ['signature', 'payload', 'event', 'content_type', 'delivery_id'] }).notNull(),
    shard: smallint('shard').notNull(),
    deliveries: int8('deliveries').notNull(),
    bytes: int8('bytes').notNull(),
}, (t) => [primaryKey({ columns: [t.minute, t.reason, t.shard] })]);

/** Every definition, by SQL table name (the suite checks each against the catalog). */
export const tables = { audit_log: auditLog, lab_attempt: labAttempt, lab_attempt_archive: labAttemptArchive,
                        chain_head: chainHead, merkle_checkpoint: merkleCheckpoint, webhook_rejection: webhookRejection };
