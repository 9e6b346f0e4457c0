// The reference receiver (examples/webhook-node/server.mjs), end to end, as GitHub would call it:
// every fixture signed with the hook's secret and sent with GitHub's headers, then the rows checked
// in SQL.  Started by webhook_receiver.sh, which runs the server(s) and passes:
//   RECEIVER_URL (the running receiver), DOWN_URL (a receiver whose database does not answer),
//   WEBHOOK_SECRET, RECEIPT_PAGE_URL, RECEIPT_LOG_URL and RECEIPT_WITNESSES (the receiver's receipt
//   link configuration), and PG* for the checks (a superuser).
// The signatures are computed here with node:crypto, not with the receiver's library.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomUUID } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(new URL("../../examples/webhook-node/package.json", import.meta.url));
const pg = require("pg");

const { RECEIVER_URL, DOWN_URL, WEBHOOK_SECRET, RECEIPT_PAGE_URL, RECEIPT_LOG_URL, RECEIPT_WITNESSES } = process.env;
const fixtureDir = new URL("../fixtures/github/", import.meta.url);
const fixtures = (kind) => readdirSync(new URL(kind, fixtureDir)).filter((f) => f.endsWith(".json")).sort()
    .map((f) => ({ name: f, body: readFileSync(new URL(`${kind}/${f}`, fixtureDir)) }));

const db = new pg.Client();   // PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
await db.connect();
const one = async (sql, params = []) => (await db.query(sql, params)).rows[0];
const count = async (sql, params = []) => Number((await one(sql, params)).n);

const sign = (body, secret = WEBHOOK_SECRET) =>
    "sha256=" + createHmac("sha256", secret).update(body).digest("hex");

// One delivery as GitHub sends it.  opts: event, guid, secret, signature (overrides), contentType,
// omit (header names to leave out), url.
async function deliver(body, opts = {}) {
    const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const guid = opts.guid ?? randomUUID();
    const headers = {
        "content-type": opts.contentType ?? "application/json",
        "user-agent": "GitHub-Hookshot/044aadd",
        "x-github-event": opts.event ?? "push",
        "x-github-delivery": guid,
        "x-github-hook-id": "292430182",
        "x-github-hook-installation-target-type": "repository",
        "x-github-hook-installation-target-id": "79929171",
        "x-hub-signature-256": opts.signature ?? sign(raw, opts.secret),
    };
    for (const h of opts.omit ?? []) delete headers[h];
    const res = await fetch(opts.url ?? RECEIVER_URL, { method: "POST", headers, body: raw });
    const json = await res.json();
    return { status: res.status, json, guid, contentType: res.headers.get("content-type") };
}

const written = async () => ({
    attempts: await count("SELECT count(*) AS n FROM forgea_audit.lab_attempt"),
    pushAudit: await count("SELECT count(*) AS n FROM forgea_audit.audit_log WHERE action LIKE 'LAB_VERIFY_ATTEMPT%'"),
});

// The WEBHOOK_DELIVERY_REJECTED audit row reject_delivery() wrote for a delivery (by its id).
const rejection = (guid) => one(
    `SELECT severity, outcome, metadata FROM forgea_audit.audit_log
     WHERE action = 'WEBHOOK_DELIVERY_REJECTED' AND correlation_id = $1`, [guid]);
const sha256hex = (b) => createHash("sha256").update(b).digest("hex");

const pushes = fixtures("push");
const pings = fixtures("ping");
const first = new Map();   // fixture name -> { guid, json }

test("every push fixture, first delivery: 200 recorded, ids as strings, the row in lab_attempt", async () => {
    assert.ok(pushes.length >= 9, "push fixtures found");
    for (const f of pushes) {
        const r = await deliver(f.body);
        assert.equal(r.status, 200, `${f.name}: ${JSON.stringify(r.json)}`);
        assert.match(r.contentType, /^application\/json/);
        assert.deepEqual(Object.keys(r.json).sort(), ["attempt_id", "audit_seq", "receipt_link", "session_id", "status"]);
        assert.equal(r.json.status, "recorded", f.name);
        assert.equal(r.json.receipt_link, null, `${f.name}: no checkpoint covers the attempt yet, so no link`);
        assert.equal(typeof r.json.attempt_id, "string");
        assert.equal(typeof r.json.audit_seq, "string");
        const row = await one("SELECT id::text, session_id, delivery_id::text FROM forgea_audit.lab_attempt WHERE id = $1",
                              [r.json.attempt_id]);
        assert.deepEqual(row, { id: r.json.attempt_id, session_id: r.json.session_id, delivery_id: r.guid });
        first.set(f.name, r);
    }
});

test("redelivery of each: 200 duplicate naming the first attempt, no new attempt", async () => {
    const before = await written();
    for (const f of pushes) {
        const r = await deliver(f.body, { guid: first.get(f.name).guid });
        assert.equal(r.status, 200);
        assert.equal(r.json.status, "duplicate", f.name);
        assert.equal(r.json.attempt_id, first.get(f.name).json.attempt_id);
    }
    const after = await written();
    assert.equal(after.attempts, before.attempts);
    assert.equal(after.pushAudit, before.pushAudit + pushes.length);
});

test("after a checkpoint, the answer to a redelivery carries the attempt's receipt link, as receipt_link() makes it", async () => {
    await db.query("SELECT forgea_audit.checkpoint()");
    const witnesses = RECEIPT_WITNESSES.split(" ").filter(Boolean);
    assert.ok(witnesses.length > 0, "the receiver is configured with a witness");
    for (const f of pushes.slice(0, 3)) {
        const r = await deliver(f.body, { guid: first.get(f.name).guid });
        assert.equal(r.json.status, "duplicate", f.name);
        const attempt = first.get(f.name).json.attempt_id;
        const sql = await one("SELECT forgea_audit.receipt_link($1, $2, $3, witnesses => $4::text[]) AS link, forgea_audit.receipt($1)::text AS receipt",
                              [attempt, RECEIPT_PAGE_URL, RECEIPT_LOG_URL, witnesses]);
        assert.equal(r.json.receipt_link, sql.link, f.name);
        const url = new URL(r.json.receipt_link);
        assert.equal(`${url.origin}${url.pathname}`, RECEIPT_PAGE_URL);
        assert.equal(url.searchParams.get("log"), RECEIPT_LOG_URL);
        assert.deepEqual(url.searchParams.getAll("witness"), witnesses);
        assert.equal(url.searchParams.getAll("vkey").length, 1, "the log's key (log_vkeys(): no key retired here)");
        const fragment = url.hash.replace(/^#receipt=/, "");
        assert.equal(Buffer.from(fragment, "base64url").toString("utf8"), sql.receipt, "the fragment is the attempt's receipt()");
    }
});

test("a GUID redelivered with another payload: 200 conflict, a HIGH audit row", async () => {
    const a = pushes.find((f) => f.name === "api-with-new-branch.payload.json");
    const b = pushes.find((f) => f.name === "api-payload.json");
    const r = await deliver(b.body, { guid: first.get(a.name).guid });
    assert.equal(r.status, 200);
    assert.equal(r.json.status, "conflict");
    assert.equal((await one("SELECT severity FROM forgea_audit.audit_log WHERE seq = $1", [r.json.audit_seq])).severity, "HIGH");
});

test("a push to a fork nobody works in: 200 unmatched, attempt_id null", async () => {
    const p = JSON.parse(pushes.find((f) => f.name === "api-with-new-branch.payload.json").body);
    for (const k of ["html_url", "clone_url", "ssh_url", "git_url", "url"])
        if (typeof p.repository[k] === "string") p.repository[k] = p.repository[k].replace("Codertocat", "Stranger");
    const before = await written();
    const r = await deliver(JSON.stringify(p));
    assert.equal(r.status, 200);
    assert.deepEqual({ ...r.json, audit_seq: typeof r.json.audit_seq },
                     { status: "unmatched", attempt_id: null, session_id: null, audit_seq: "string", receipt_link: null });
    assert.equal((await written()).attempts, before.attempts);
});

test("every ping fixture: 200, the extension not called", async () => {
    const before = await written();
    for (const f of pings) {
        const r = await deliver(f.body, { event: "ping" });
        assert.equal(r.status, 200, f.name);
        assert.equal(r.json.status, "pong");
    }
    assert.deepEqual(await written(), before);
});

test("another event: 202, nothing written", async () => {
    const before = await written();
    const r = await deliver(pushes[0].body, { event: "issues" });
    assert.equal(r.status, 202);
    assert.equal(r.json.status, "ignored");
    assert.deepEqual(await written(), before);
});

test("bad signatures: wrong secret, tampered body, missing header, not sha256= -> 401, nothing recorded", async () => {
    const before = await written();
    const body = pushes[0].body;
    const tampered = Buffer.from(body.toString().replace("Hello-World", "Hello-Wxrld"));
    const cases = [
        await deliver(body, { secret: "not-the-secret" }),
        await deliver(tampered, { signature: sign(body) }),
        await deliver(body, { omit: ["x-hub-signature-256"] }),
        await deliver(body, { signature: "sha1=" + createHmac("sha1", WEBHOOK_SECRET).update(body).digest("hex") }),
    ];
    for (const r of cases) {
        assert.equal(r.status, 401, JSON.stringify(r.json));
        assert.equal(r.json.reason, "signature");
        const a = await rejection(r.guid);
        assert.ok(a, "a WEBHOOK_DELIVERY_REJECTED row for each");
        assert.equal(a.severity, "HIGH");
        assert.equal(a.outcome, "failure");
        assert.equal(a.metadata.reason, "signature");
        assert.equal(a.metadata.delivery_id, r.guid);
    }
    const t = await rejection(cases[1].guid);
    assert.equal(t.metadata.body_sha256, sha256hex(tampered), "the SHA-256 of the body as received");
    assert.equal(t.metadata.body_bytes, tampered.byteLength);
    assert.deepEqual(await written(), before);
});

test("a form-encoded hook: 415, nothing recorded", async () => {
    const before = await written();
    const form = "payload=" + encodeURIComponent(pushes[0].body.toString());
    const r = await deliver(form, { contentType: "application/x-www-form-urlencoded" });
    assert.equal(r.status, 415);
    assert.equal(r.json.reason, "content_type");
    const a = await rejection(r.guid);
    assert.deepEqual([a.severity, a.metadata.reason, a.metadata.body_bytes], ["MEDIUM", "content_type", Buffer.byteLength(form)]);
    assert.deepEqual(await written(), before);
});

test("no X-GitHub-Delivery: 400; no X-GitHub-Event: 400", async () => {
    const r = await deliver(pushes[0].body, { omit: ["x-github-delivery"] });
    assert.equal(r.status, 400);
    assert.equal(r.json.reason, "delivery_id");
    assert.equal(await count(`SELECT count(*) AS n FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_DELIVERY_REJECTED'
                              AND metadata->>'reason' = 'delivery_id' AND correlation_id IS NULL`), 1);
    const e = await deliver(pushes[0].body, { omit: ["x-github-event"] });
    assert.equal(e.status, 400);
    assert.equal(e.json.reason, "event");
    assert.equal((await rejection(e.guid)).metadata.reason, "event");
});

test("payloads the extension refuses (class 22): 400 with the SQLSTATE and JSON path", async () => {
    const before = await written();
    const p = JSON.parse(pushes.find((f) => f.name === "api-with-new-branch.payload.json").body);
    p.commits[0].modified = ["ok.txt", 7];
    const r = await deliver(JSON.stringify(p));
    assert.equal(r.status, 400, JSON.stringify(r.json));
    assert.equal(r.json.reason, "payload");
    assert.match(r.json.sqlstate, /^22/);
    assert.equal(r.json.jsonPath, "$.commits[0].modified[1]");
    const a = await rejection(r.guid);
    assert.deepEqual([a.metadata.reason, a.metadata.sqlstate, a.metadata.json_path],
                     ["payload", r.json.sqlstate, "$.commits[0].modified[1]"]);
    const notJson = await deliver("{not json");
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.sqlstate, "22P02");
    const badGuid = await deliver(pushes[0].body, { guid: "not-a-guid" });
    assert.equal(badGuid.status, 400);
    assert.equal(badGuid.json.sqlstate, "22P02");
    assert.equal((await rejection("not-a-guid")).metadata.delivery_id, "not-a-guid", "the id as sent, even when not a GUID");
    assert.deepEqual(await written(), before);
});

test("database down: 500, so GitHub retries", async () => {
    const r = await deliver(pushes[0].body, { url: DOWN_URL });
    assert.equal(r.status, 500, JSON.stringify(r.json));
});

test("20 concurrent deliveries with 40% retries in flight at once: each recorded exactly once", async () => {
    const body = pushes.find((f) => f.name === "api-with-new-branch.payload.json").body;
    const guids = Array.from({ length: 20 }, () => randomUUID());
    const sends = guids.map((g) => ({ guid: g }));
    for (let i = 0; i < 8; i++) sends.push({ guid: guids[i * 2] });   // 8 retries = 40%
    sends.sort(() => Math.random() - 0.5);
    const results = await Promise.all(sends.map((s) => deliver(body, s)));
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.json));
    const byGuid = new Map();
    for (const r of results) byGuid.set(r.guid, [...(byGuid.get(r.guid) ?? []), r.json]);
    for (const [g, rs] of byGuid) {
        assert.equal(rs.filter((x) => x.status === "recorded").length, 1, g);
        assert.equal(new Set(rs.map((x) => x.attempt_id)).size, 1, `one attempt id for ${g}`);
    }
    const sql = await one(
        `SELECT count(DISTINCT a.delivery_id) AS guids, count(a.*) AS attempts,
                (SELECT count(*) FROM forgea_audit.audit_log l WHERE l.correlation_id = ANY($1::text[])
                   AND l.action = 'LAB_VERIFY_ATTEMPT') AS recorded,
                (SELECT count(*) FROM forgea_audit.audit_log l WHERE l.correlation_id = ANY($1::text[])
                   AND l.action = 'LAB_VERIFY_ATTEMPT_DUPLICATE') AS duplicates
         FROM forgea_audit.lab_attempt a WHERE a.delivery_id = ANY($1::uuid[])`, [guids]);
    assert.deepEqual(sql, { guids: "20", attempts: "20", recorded: "20", duplicates: "8" });
});

test("every 4xx above left exactly one rejection row, every 2xx none", async () => {
    // 4 signatures, 1 form, 1 no delivery id, 1 no event, 3 refused payloads
    assert.equal(await count("SELECT count(*) AS n FROM forgea_audit.audit_log WHERE action = 'WEBHOOK_DELIVERY_REJECTED'"), 10);
    assert.equal(await count("SELECT sum(deliveries) AS n FROM forgea_audit.webhook_rejection"), 10);
});

test("the chain verifies after all of it", async () => {
    const v = await one("SELECT ok, detail FROM forgea_audit.verify_chain()");
    assert.equal(v.ok, true, v.detail);
});

test.after(() => db.end());
