// Next.js App Router route (app/api/webhooks/github/route.ts): the same handler as server.mjs.
// Copy handler.mjs next to it (or into lib/) and adjust the import.  Needs the Node.js runtime
// (node:crypto, pg), not the Edge runtime.  DATABASE_URL: a role in forgea_audit_writer.
import pg from "pg";
import { createHandler } from "../../../../handler.mjs";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

// One pool per server process (module scope survives between requests).
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
// Receipt links in the answers (docs/receipt_link.md), when RECEIPT_PAGE_URL is set: a pool of a role
// in forgea_audit_reader (RECEIPT_DATABASE_URL), the page's and the log's URLs, the witnesses' keys.
const receipts = process.env.RECEIPT_PAGE_URL
    ? { pool: new pg.Pool({ connectionString: process.env.RECEIPT_DATABASE_URL, max: 4 }),
        pageUrl: process.env.RECEIPT_PAGE_URL, logUrl: process.env.RECEIPT_LOG_URL ?? "",
        witnesses: (process.env.RECEIPT_WITNESSES ?? "").split(/\s+/).filter(Boolean) }
    : null;
const handle = createHandler({ pool, secret: process.env.GITHUB_WEBHOOK_SECRET ?? "", receipts });

export async function POST(req: Request): Promise<Response> {
    // The raw bytes: the signature is over them, and record_push_json takes them as sent.
    const raw = new Uint8Array(await req.arrayBuffer());
    const out = await handle({ method: "POST", get: (n: string) => req.headers.get(n), raw });
    // out.body holds no BigInt (ids are strings), so Response.json cannot throw on it.
    return Response.json(out.body, { status: out.status });
}
