// A typed read of forgea_audit's tables through Prisma 7 and @prisma/adapter-pg:
//   DATABASE_URL=postgresql://... SESSION_ID=sess-1 npx tsx query.ts
// prints the session's attempts, newest first, each with the audit rows of its delivery, as JSON.
// BigInt columns (id, seq, sender_id, ...) are BigInt in Prisma, which JSON.stringify refuses
// ("Do not know how to serialize a BigInt"): the replacer below turns them into strings.
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, type LabAttempt, type AuditLog } from "./generated/client.ts";

const adapter = new PrismaPg({ connectionString: process.env.DATABASE_URL });
const prisma = new PrismaClient({ adapter });

type AttemptWithAudit = Pick<LabAttempt, "id" | "commitSha" | "ref" | "changedPaths" | "recordedAt" | "deliveryId"> & {
    audit: Pick<AuditLog, "seq" | "action" | "severity" | "outcome">[];
};

async function attemptsOf(sessionId: string): Promise<AttemptWithAudit[]> {
    const attempts = await prisma.labAttempt.findMany({
        where: { sessionId },
        orderBy: { recordedAt: "desc" },
        take: 20,
        select: { id: true, commitSha: true, ref: true, changedPaths: true, recordedAt: true, deliveryId: true },
    });
    const audit = await prisma.auditLog.findMany({
        where: { correlationId: { in: attempts.map((a) => a.deliveryId) } },
        orderBy: { seq: "asc" },
        select: { seq: true, action: true, severity: true, outcome: true, correlationId: true },
    });
    return attempts.map((a) => ({
        ...a,
        audit: audit.filter((e) => e.correlationId === a.deliveryId)
                    .map(({ seq, action, severity, outcome }) => ({ seq, action, severity, outcome })),
    }));
}

const bigintAsString = (_key: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

try {
    const rows = await attemptsOf(process.env.SESSION_ID ?? "sess-1");
    console.log(JSON.stringify(rows, bigintAsString));
} finally {
    await prisma.$disconnect();
}
