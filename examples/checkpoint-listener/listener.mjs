// A checkpoint listener that keeps only notes worth keeping (docs/checkpoints.md, "Listening for
// checkpoints").  Anyone who can connect to the database can NOTIFY forgea_audit_checkpoint with
// any text, or replay an old genuine note, so a note that arrives on the channel proves nothing by
// arriving.  This listener keeps a note only if
//   1. tools/forgea_audit_verify --note says it parses and is signed by the log's public key, and
//   2. it is of the same log (origin line) as the last kept note, and its tree size is not below
//      that note's (an older note replayed is dropped; one of the same size with another root is a
//      fork of the log: kept, as evidence, and reported).
// Kept notes go to KEEP_DIR/<size>-<sha256 prefix>.txt, the newest also to KEEP_DIR/latest.txt
// (written to a temporary file, then renamed).  One line per note on stdout: "kept: ..." or
// "dropped: ...".  Copy KEEP_DIR somewhere the database's superuser cannot write.
//
//   node listener.mjs --public-key PUB.pem --keep KEEP_DIR [--key-name NAME] [--verifier PATH]
//
// Connects with the usual PG* environment variables (or DATABASE_URL); LISTEN needs no privilege.
// The connection lost, it exits 1 (run it under a supervisor that restarts it; on restart it reads
// latest.txt again, so the rule holds across restarts).  SIGTERM/SIGINT stop it cleanly.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const CHANNEL = "forgea_audit_checkpoint";

function parseArgs(argv) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const o = { keyName: "forgea_audit", verifier: path.join(here, "..", "..", "tools", "forgea_audit_verify") };
    for (let i = 0; i < argv.length; i++) {
        const [name, inline] = argv[i].split(/=(.*)/s, 2);
        const value = inline ?? argv[++i];
        if (value === undefined) usage(`${name} needs a value`);
        if (name === "--public-key") o.publicKey = value;
        else if (name === "--keep") o.keep = value;
        else if (name === "--key-name") o.keyName = value;
        else if (name === "--verifier") o.verifier = value;
        else usage(`unknown argument ${name}`);
    }
    if (!o.publicKey || !o.keep) usage("--public-key and --keep are required");
    return o;
}

function usage(why) {
    console.error(`checkpoint listener: ${why}\nusage: node listener.mjs --public-key PUB.pem --keep KEEP_DIR [--key-name NAME] [--verifier PATH]`);
    process.exit(2);
}

// The note's origin (line 1) and tree size (line 2); null if the text is not shaped like a note
// (the verifier has the last word on that; this only reads what it checked).
function header(text) {
    const lines = text.split("\n");
    if (lines.length < 3 || !/^(0|[1-9][0-9]{0,18})$/.test(lines[1])) return null;
    return { origin: lines[0], size: BigInt(lines[1]) };
}

// Runs the offline verifier on the note: resolves to { ok, line } (its verdict, or its error).
function verifySignature(o, work, text) {
    const file = path.join(work, "incoming.txt");
    writeFileSync(file, text);
    return new Promise((resolve) => {
        execFile(o.verifier, ["--note", file, "--public-key", o.publicKey, "--key-name", o.keyName],
                 { timeout: 30_000 }, (err, stdout, stderr) => {
            const line = (stdout || stderr || String(err ?? "")).trim().split("\n")[0];
            // Exit 1: the note is false (unsigned, another key's, altered); 2: not a note at all.
            resolve({ ok: err === null, unreadable: err !== null && err.code === 2, line });
        });
    });
}

function writeAtomically(file, text) {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
}

// Decides about one note: the signature, then the size against the last kept note.
async function consider(o, work, state, text) {
    const v = await verifySignature(o, work, text);
    if (v.unreadable) return `dropped: not a checkpoint note (${v.line})`;
    if (!v.ok) return `dropped: the signature does not hold under ${o.publicKey} (${v.line})`;
    const h = header(text);
    if (h === null) return "dropped: not a checkpoint note";
    const last = state.last;
    if (last !== null) {
        if (h.origin !== last.origin)
            return `dropped: a note of another log (origin ${JSON.stringify(h.origin)}, the kept notes are of ${JSON.stringify(last.origin)})`;
        if (h.size < last.size)
            return `dropped: size ${h.size} is below the last kept note's ${last.size} (an old note replayed)`;
        if (h.size === last.size && text.trimEnd() === last.text.trimEnd())
            return `dropped: the last kept note again (size ${h.size})`;
    }
    const digest = createHash("sha256").update(text).digest("hex");
    writeAtomically(path.join(o.keep, `${h.size}-${digest.slice(0, 16)}.txt`), text);
    writeAtomically(path.join(o.keep, "latest.txt"), text);
    const fork = last !== null && h.size === last.size;
    state.last = { origin: h.origin, size: h.size, text };
    return fork
        ? `kept: size ${h.size}, FORK: another note of the same size with another root, both signed by the log's key (investigate)`
        : `kept: size ${h.size} (${v.line.replace(/^ok: /, "")})`;
}

async function main() {
    const o = parseArgs(process.argv.slice(2));
    mkdirSync(o.keep, { recursive: true });
    const work = mkdtempSync(path.join(tmpdir(), "fa-listener-"));
    const latest = path.join(o.keep, "latest.txt");
    const state = { last: null };
    if (existsSync(latest)) {
        const text = readFileSync(latest, "utf8");
        const h = header(text);
        if (h === null) { console.error(`checkpoint listener: ${latest} is not a note`); process.exit(2); }
        state.last = { ...h, text };
    }

    const client = new pg.Client(process.env.DATABASE_URL ? { connectionString: process.env.DATABASE_URL } : {});
    let stopping = false;
    const stop = async (code) => {
        stopping = true;
        await client.end().catch(() => {});
        rmSync(work, { recursive: true, force: true });
        process.exit(code);
    };
    process.on("SIGTERM", () => stop(0));
    process.on("SIGINT", () => stop(0));
    client.on("error", (err) => { if (!stopping) { console.error(`checkpoint listener: ${err.message}`); stop(1); } });
    client.on("end", () => { if (!stopping) { console.error("checkpoint listener: the connection ended"); stop(1); } });

    // One note at a time, in the order they arrived: each decision sees the previous ones.
    let queue = Promise.resolve();
    client.on("notification", (msg) => {
        if (msg.channel !== CHANNEL) return;
        queue = queue.then(() => consider(o, work, state, msg.payload ?? ""))
                     .then((line) => console.log(line),
                           (err) => console.log(`dropped: could not check it (${err.message})`));
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    console.log(`listening on ${CHANNEL}; last kept size ${state.last === null ? "none" : state.last.size}`);
}

main().catch((err) => { console.error(`checkpoint listener: ${err.message}`); process.exit(1); });
