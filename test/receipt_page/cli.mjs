// web/receipt/verify.js outside the browser, for test/integration/receipt_page.sh and
// bench/receipt_page.sh:
//
//   node cli.mjs check VKEY[,VKEY] FILE...  each receipt's verdict in forgea_audit_verify's words:
//                                         "exit <0|1|2> <its line>" (ok: / FAIL first_bad_seq=S: /
//                                         forgea_audit_verify: FILE: ...), one line per file
//   node cli.mjs canonical                stdin: one base64 JSON text per line; stdout: base64 of
//                                         canonicalJson() of each (the test compares canonical_json())
//   node cli.mjs vkey NAME TYPE PUB.pem   the C2SP verifier key of an Ed25519 public key
//   node cli.mjs sign KEY.pem NAME         stdin: a note body; stdout: the note signed by KEY as NAME
//                                         (receipt_page.sh's forged log: what an attacker holding
//                                         the key could serve)
//   node cli.mjs b64url FILE              base64url of the file
//   node cli.mjs synth N M                a synthetic log of N leaves (every entry the same row
//                                         hash), a receipt at tree size M: counts the fetches
//                                         verifyAll makes, prints "fetches tiles levels status"
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as v from '../../web/receipt/verify.js';

const [, , cmd, ...args] = process.argv;

function rawPublic(pemFile) {
    const der = createPublicKey(readFileSync(pemFile)).export({ type: 'spki', format: 'der' });
    return der.subarray(der.length - 32);
}

function vkeyOf(name, type, pub) {
    const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([type]), pub])).digest().subarray(0, 4);
    return `${name}+${id.toString('hex')}+${Buffer.concat([Buffer.from([type]), pub]).toString('base64')}`;
}

async function check(vkeys, files) {
    const key = [];
    for (const t of vkeys.split(',')) {
        const k = await v.parseVkey(t, 0x01);
        if (k.error) throw new Error(k.error);
        key.push(k);
    }
    for (const f of files) {
        const r = await v.checkReceipt(new Uint8Array(readFileSync(f)), key);
        if (r.outcome === 'ok') console.log(`exit 0 ok: ${r.text}`);
        else if (r.outcome === 'failed') console.log(`exit 1 FAIL first_bad_seq=${r.seq === null ? 'NULL' : r.seq}: ${r.text}`);
        else console.log(`exit 2 forgea_audit_verify: ${f}: ${r.text}`);
    }
}

function canonical() {
    const lines = readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
    for (const l of lines) {
        const p = v.parseJson(new Uint8Array(Buffer.from(l, 'base64')));
        if (p.error) {
            console.log(`ERROR ${p.error.what}`);
            continue;
        }
        console.log(Buffer.from(v.canonicalJson(p.value)).toString('base64'));
    }
}

// A log of n leaves whose entries are all `entry`: every complete subtree of height h has the same
// hash, so any tile is computed in O(256) and nothing is stored.  The receipt is for leaf m-1 of
// the tree of size m.
async function synth(n, m) {
    const { generateKeyPairSync } = await import('node:crypto');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
    const origin = 'synthetic.example/log';
    const vkey = vkeyOf(origin, 1, pub);
    // A row whose hash is the entry.
    const row = {
        seq: 1n, chain_id: 'session:s', chain_pos: 1n, prev_hash: new Uint8Array(32), created_at_us: 1767225600000000n,
    };
    const enc = new TextEncoder();
    const rowJson = `{"seq":1,"chain_id":"session:s","chain_pos":1,"prev_hash":"${'0'.repeat(64)}","hash_version":1,"created_at_us":1767225600000000,"tenant_id":null,"user_id":null,"actor_type":"webhook","actor_id":"github","action":"LAB_VERIFY_ATTEMPT","target_type":"lab_attempt","target_id":"1","outcome":"success","severity":"INFO","metadata":"{\\"repository\\":\\"https://github.com/pat/lab\\",\\"commit_sha\\":\\"abc\\"}","proof":null,"correlation_id":null,"parent_seq":null}`;
    const rec = { ...row };
    for (const f of ['tenant_id', 'user_id', 'proof', 'correlation_id']) rec[f] = null;
    rec.parent_seq = null;
    Object.assign(rec, {
        actor_type: enc.encode('webhook'), actor_id: enc.encode('github'), action: enc.encode('LAB_VERIFY_ATTEMPT'), target_type: enc.encode('lab_attempt'),
        target_id: enc.encode('1'), outcome: enc.encode('success'), severity: enc.encode('INFO'), chain_id: enc.encode('session:s'),
        metadata: enc.encode('{"repository":"https://github.com/pat/lab","commit_sha":"abc"}'),
    });
    const entry = await v.sha256(v.encodeRecordV1(rec));
    const full = [await v.leafHash(entry)]; // full[h]: a complete subtree of height h
    for (let h = 1; h < 64; h++) full.push(await v.nodeHash(full[h - 1], full[h - 1]));
    const mth = async (lo, hi) => {
        const len = hi - lo;
        if ((len & (len - 1n)) === 0n) return full[len.toString(2).length - 1];
        let k = 1n;
        while (k << 1n < len) k <<= 1n;
        return v.nodeHash(await mth(lo, lo + k), await mth(lo + k, hi));
    };
    // Inclusion proof of leaf m-1 in tree m (RFC 6962 PATH).
    const path = async (idx, lo, hi) => {
        const len = hi - lo;
        if (len === 1n) return [];
        let k = 1n;
        while (k << 1n < len) k <<= 1n;
        if (idx < lo + k) return [...(await path(idx, lo, lo + k)), await mth(lo + k, hi)];
        return [...(await path(idx, lo + k, hi)), await mth(lo, lo + k)];
    };
    const note = async (size) => {
        const body = `${origin}\n${size}\n${v.base64Encode(await mth(0n, size))}\n`;
        const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${origin}\n`), Buffer.from([1]), pub])).digest().subarray(0, 4);
        const sig = sign(null, Buffer.from(body), privateKey);
        return `${body}\n\u2014 ${origin} ${Buffer.concat([id, sig]).toString('base64')}\n`;
    };
    const proof = await path(m - 1n, 0n, m);
    const receipt = `{"version":1,"attempt_id":1,"row_hash":"${v.hex(entry)}","leaf_index":${m - 1n},"tree_size":${m},"inclusion_proof":[${proof.map((p) => `"${v.hex(p)}"`).join(',')}],"checkpoint":${JSON.stringify(await note(m))},"row":${rowJson}}`;
    const today = enc.encode(await note(n));
    const tileHash = full[0];
    let fetches = 0;
    const paths = [];
    const fetchBytes = async (url, what) => {
        fetches++;
        if (what === 'checkpoint') return today;
        paths.push(what);
        const mt = /^tile\/(\d+)\/(.+?)(?:\.p\/(\d+))?$/.exec(what);
        const level = Number(mt[1]);
        const width = mt[3] ? Number(mt[3]) : 256;
        const out = new Uint8Array(width * 32);
        for (let i = 0; i < width; i++) out.set(full[8 * level], i * 32);
        return out;
    };
    void tileHash;
    const t0 = performance.now();
    const res = await v.verifyAll({ log: 'https://synthetic.example/log', vkey, witnesses: [], receipt: enc.encode(receipt) }, fetchBytes);
    const ms = performance.now() - t0;
    const levels = new Set(paths.map((p) => p.split('/')[1])).size;
    console.log(`${fetches} ${paths.length} ${levels} ${res.status} ${ms.toFixed(0)}ms ${res.status === 'verified' ? '' : res.message}`);
    if (process.env.SYNTH_DIR) {
        // The published directory of that log: per level one full tile file, hard-linked under
        // every full tile's name (all are equal), and the partial tile.  No entry bundles (the
        // page reads none).
        const { mkdirSync, writeFileSync, linkSync } = await import('node:fs');
        const dir = process.env.SYNTH_DIR;
        writeFileSync(`${dir}/checkpoint`, today);
        for (let level = 0; n >> BigInt(8 * level) > 0n; level++) {
            const count = n >> BigInt(8 * level);
            const fullTiles = Number(count >> 8n);
            const width = Number(count & 255n);
            const tile = (w) => {
                const out = new Uint8Array(w * 32);
                for (let i = 0; i < w; i++) out.set(full[8 * level], i * 32);
                return out;
            };
            let first = null;
            const put = (path, bytes) => {
                const f = `${dir}/${path}`;
                mkdirSync(f.slice(0, f.lastIndexOf('/')), { recursive: true });
                if (bytes === null) linkSync(first, f);
                else writeFileSync(f, bytes);
            };
            for (let t = 0; t < fullTiles; t++) {
                const path = v.tilePath(level, BigInt(t), 256);
                if (first === null) {
                    put(path, tile(256));
                    first = `${dir}/${path}`;
                } else put(path, null);
            }
            if (width > 0) put(v.tilePath(level, BigInt(fullTiles), width), tile(width));
        }
    }
    if (process.env.SYNTH_OUT) {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(process.env.SYNTH_OUT, JSON.stringify({ vkey, receipt: v.base64UrlEncode(enc.encode(receipt)), today: new TextDecoder().decode(today) }));
    }
}

function signNote(keyFile, name) {
    const body = readFileSync(0);
    const key = createPrivateKey(readFileSync(keyFile));
    const pub = createPublicKey(key).export({ type: 'spki', format: 'der' }).subarray(-32);
    const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x01]), pub])).digest().subarray(0, 4);
    process.stdout.write(`${body}\n\u2014 ${name} ${Buffer.concat([id, sign(null, body, key)]).toString('base64')}\n`);
}

switch (cmd) {
    case 'sign':
        signNote(args[0], args[1]);
        break;
    case 'check':
        await check(args[0], args.slice(1));
        break;
    case 'canonical':
        canonical();
        break;
    case 'vkey':
        console.log(vkeyOf(args[0], Number(args[1]), rawPublic(args[2])));
        break;
    case 'b64url':
        console.log(v.base64UrlEncode(new Uint8Array(readFileSync(args[0]))));
        break;
    case 'synth':
        await synth(BigInt(args[0]), BigInt(args[1]));
        break;
    default:
        console.error('usage: node cli.mjs check|canonical|vkey|sign|b64url|synth ...');
        process.exit(2);
}
