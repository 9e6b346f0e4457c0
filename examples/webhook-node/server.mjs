// The reference receiver on node:http: POST /api/webhooks/github on 127.0.0.1:$PORT, the database
// at $DATABASE_URL (a role in forgea_audit_writer is enough), the hook's secret in
// $GITHUB_WEBHOOK_SECRET.  `node examples/webhook-node/server.mjs`; SIGTERM/SIGINT stop it cleanly.
// Receipt links in the answers (docs/receipt_link.md), when $RECEIPT_PAGE_URL is set: the receipt
// page's URL, $RECEIPT_LOG_URL the published log's, $RECEIPT_WITNESSES the witnesses' verifier
// keys (space-separated, optional), $RECEIPT_DATABASE_URL a role in forgea_audit_reader.
import http from "node:http";
import pg from "pg";
import { createHandler } from "./handler.mjs";

const { DATABASE_URL, GITHUB_WEBHOOK_SECRET, PORT = "3000", RECEIPT_PAGE_URL, RECEIPT_LOG_URL, RECEIPT_WITNESSES = "",
        RECEIPT_DATABASE_URL } = process.env;
if (!DATABASE_URL) { console.error("DATABASE_URL is not set"); process.exit(2); }

const MAX_BODY = 25 * 1024 * 1024;   // GitHub caps payloads at 25 MB
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
pool.on("error", (err) => console.error(`idle client error: ${err.message}`));
const readerPool = RECEIPT_PAGE_URL ? new pg.Pool({ connectionString: RECEIPT_DATABASE_URL ?? DATABASE_URL, max: 4 }) : null;
readerPool?.on("error", (err) => console.error(`idle client error: ${err.message}`));
const receipts = readerPool && { pool: readerPool, pageUrl: RECEIPT_PAGE_URL, logUrl: RECEIPT_LOG_URL,
                                 witnesses: RECEIPT_WITNESSES.split(/\s+/).filter(Boolean) };
const handle = createHandler({ pool, secret: GITHUB_WEBHOOK_SECRET, receipts });

function send(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
    res.end(text);
}

const server = http.createServer((req, res) => {
    if (req.url.split("?")[0] !== "/api/webhooks/github") return send(res, 404, { error: "not found" });
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
        size += c.length;
        if (size > MAX_BODY) { send(res, 413, { error: "body over 25 MB" }); req.destroy(); return; }
        chunks.push(c);
    });
    req.on("end", async () => {
        if (res.headersSent) return;
        try {
            const out = await handle({ method: req.method, get: (n) => req.headers[n.toLowerCase()] ?? null,
                                       raw: Buffer.concat(chunks) });
            send(res, out.status, out.body);
        } catch (err) {
            console.error(`handler failed: ${err.stack ?? err}`);
            send(res, 500, { error: "internal error" });
        }
    });
});

server.listen(Number(PORT), "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${PORT}/api/webhooks/github`));
for (const sig of ["SIGTERM", "SIGINT"])
    process.on(sig, () => server.close(() => Promise.all([pool.end(), readerPool?.end()]).then(() => process.exit(0))));
