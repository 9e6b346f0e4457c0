// The GitHub webhook handler for forgea_audit, independent of any HTTP framework: server.mjs serves
// it on node:http, app/api/webhooks/github/route.ts on Next.js.  It takes the request's method,
// headers and raw body and returns { status, body } (body: a plain object, sent as JSON).
//
// What it answers, and why (docs/integration.md has the table):
//   401 signature missing or wrong (checked first, over the raw bytes, before anything is believed)
//   400 no X-GitHub-Delivery or no X-GitHub-Event header;   415 content type not application/json
//   200 ping (GitHub sends one when the hook is created; the extension is not called)
//   202 any other event (accepted, nothing written)
//   200 push: one forgea_audit.record_push_json call with the raw body; every status (recorded,
//       duplicate, unmatched, conflict) is a 2xx, so that GitHub does not retry it.  With receipts
//       configured, the answer for an attempt also carries its receipt page link (receipt_link;
//       null until a checkpoint covers the attempt: a redelivery, or the platform's UI, asks again)
//   400 the extension refused the payload (SQLSTATE class 22: retrying cannot help)
//   500 anything else (database down, serialization failure, ...): GitHub retries, the GUID makes
//       the retry idempotent
// Every 4xx is recorded in the audit log by forgea_audit.reject_delivery (outcome failure; severity
// HIGH for a bad signature), best effort: if that call fails too, the answer stays the same.
import { createHash } from "node:crypto";
import { verify } from "@octokit/webhooks-methods";

const DELIVERY_ID_MAX = 200;   // reject_delivery caps it too; no point sending more

// The SQLSTATE class the extension uses for "this payload can never be recorded" (data exception).
const isPayloadRefusal = (err) => typeof err?.code === "string" && err.code.startsWith("22");

// The extension's errors say "JSON path $.commits[0].id holds ..." in their DETAIL.
const jsonPathOf = (err) => /JSON path (\$\S*?)[ ,.]?(?: holds| must|$)/.exec(err?.detail ?? "")?.[1] ?? null;

// The delivery headers the extension keeps (record_push's headers argument).
function deliveryHeaders(get) {
    const kept = {};
    for (const name of ["X-GitHub-Event", "X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-Type",
                        "X-GitHub-Hook-Installation-Target-ID", "User-Agent"]) {
        const v = get(name);
        if (v != null) kept[name] = v;
    }
    return kept;
}

// bigint columns: node-postgres returns them as strings already; Prisma and other drivers return
// BigInt, which JSON.stringify refuses.  Either way the answer carries strings (or null).
const idString = (v) => (v == null ? null : String(v));

// The receipt page's link for an attempt (docs/receipt_link.md): forgea_audit.receipt_link() with the
// platform's page and log URLs and the witnesses the page should require.  pool: a role in
// forgea_audit_reader (the webhook's writer role may not read receipts).  Resolves to the link, or
// null while no checkpoint covers the attempt yet (SQLSTATE 55000; the worker signs one every
// forgea_audit.checkpoint_interval).  Other errors are thrown.  For the platform's UI too.
export function createReceiptLinker({ pool, pageUrl, logUrl, witnesses = [] }) {
    if (!pageUrl || !logUrl) throw new Error("receipts need the receipt page's URL and the published log's URL");
    return async function receiptLink(attemptId) {
        try {
            const { rows: [r] } = await pool.query(
                "SELECT forgea_audit.receipt_link($1, $2, $3, witnesses => $4::text[]) AS link",
                [attemptId, pageUrl, logUrl, witnesses]);
            return r.link;
        } catch (err) {
            if (err.code === "55000" && /not covered by a checkpoint/.test(err.message)) return null;
            throw err;
        }
    };
}

// pool: a pg.Pool (or anything with query(text, values)); secret: the hook's secret.
// log: where failures to record a rejection go (default console.error).
// receipts: optional {pool, pageUrl, logUrl, witnesses} (createReceiptLinker): the answer to a push
// that names an attempt carries "receipt_link".
/** @param {{pool: any, secret: string, log?: (message: string) => void,
 *           receipts?: {pool: any, pageUrl: string, logUrl: string, witnesses?: string[]} | null}} options */
export function createHandler({ pool, secret, log = console.error, receipts = null }) {
    if (!secret) throw new Error("GITHUB_WEBHOOK_SECRET is empty: refusing to accept unsigned deliveries");
    const receiptLink = receipts ? createReceiptLinker(receipts) : null;

    // The link for the answer: never fails the delivery (it is recorded already).
    async function linkFor(attemptId) {
        if (attemptId == null) return null;
        try {
            return await receiptLink(idString(attemptId));
        } catch (err) {
            log(`forgea_audit.receipt_link failed (${err.code ?? err.message}); answering without the link`);
            return null;
        }
    }

    // One audit row for a 4xx.  Never throws: the HTTP answer does not depend on it.
    async function reject(status, reason, message, ctx, extra = {}) {
        try {
            await pool.query(
                "SELECT forgea_audit.reject_delivery($1, $2, $3, $4, $5, $6, $7::jsonb)",
                [reason, ctx.deliveryId?.slice(0, DELIVERY_ID_MAX) ?? null, ctx.sha256, ctx.size,
                 extra.sqlstate ?? null, extra.jsonPath ?? null, JSON.stringify(ctx.headers)]);
        } catch (err) {
            log(`forgea_audit.reject_delivery failed (${err.code ?? err.message}); answering ${status} anyway`);
        }
        return { status, body: { error: message, reason, ...extra } };
    }

    // method: "POST"...; get(name): a header's value or null (case-insensitive); raw: Buffer/Uint8Array.
    return async function handle({ method, get, raw }) {
        if (method !== "POST") return { status: 405, body: { error: "POST only" } };
        const body = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        const ctx = {
            deliveryId: get("X-GitHub-Delivery"),
            sha256: createHash("sha256").update(body).digest(),
            size: body.byteLength,
            headers: deliveryHeaders(get),
        };
        const text = body.toString("utf8");

        const signature = get("X-Hub-Signature-256");
        let signed = false;
        if (signature) {
            try { signed = await verify(secret, text, signature); } catch { signed = false; }
        }
        if (!signed)
            return reject(401, "signature", signature ? "bad X-Hub-Signature-256" : "missing X-Hub-Signature-256", ctx);

        if (!ctx.deliveryId) return reject(400, "delivery_id", "missing X-GitHub-Delivery header", ctx);

        const type = (get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
        if (type !== "application/json")
            return reject(415, "content_type",
                          `content type ${type || "(none)"}: configure the hook with content type application/json`, ctx);

        const event = get("X-GitHub-Event");
        if (!event) return reject(400, "event", "missing X-GitHub-Event header", ctx);
        if (event === "ping") return { status: 200, body: { status: "pong" } };
        if (event !== "push") return { status: 202, body: { status: "ignored", event } };

        try {
            const { rows: [r] } = await pool.query(
                "SELECT * FROM forgea_audit.record_push_json($1::json, $2, $3::jsonb)",
                [text, ctx.deliveryId, JSON.stringify(ctx.headers)]);
            const body = { status: r.status, attempt_id: idString(r.attempt_id), session_id: idString(r.session_id),
                           audit_seq: idString(r.audit_seq) };
            if (receiptLink) body.receipt_link = await linkFor(r.attempt_id);
            return { status: 200, body };
        } catch (err) {
            if (isPayloadRefusal(err))
                return reject(400, "payload", err.message, ctx, { sqlstate: err.code, jsonPath: jsonPathOf(err) });
            log(`record_push_json failed (${err.code ?? "no SQLSTATE"}): ${err.message}`);
            return { status: 500, body: { error: "not recorded, retry", sqlstate: err.code ?? null } };
        }
    };
}
