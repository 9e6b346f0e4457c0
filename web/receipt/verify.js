// The receipt page's checks (web/receipt/index.html, docs/receipts.md), with no DOM: the page runs
// them in the browser, test/receipt_page/ runs them in Node against tools/forgea_audit_verify.
// Only WebCrypto (SHA-256, Ed25519) and the fetch function the caller passes are used, so the page
// asks no host but the log's.
//
// The receipt part is a port of src/core/receipt_check.cpp (and json_text.cpp, checkpoint_note.cpp,
// note_signature.cpp, chain_record.cpp, merkle_tree.cpp): the same checks in the same order, the
// same messages, so the page and the offline verifier give the same verdict on the same receipt.
// The rest is the log as published (C2SP tlog-tiles, tlog-checkpoint, signed-note,
// tlog-cosignature, tlog-proof): today's checkpoint, its witnesses, and the consistency of the
// receipt's tree with today's, proved from the tiles.

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
export const HASH_LEN = 32;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const EM_DASH = '\u2014';
export const TILE_HEIGHT = 8;
const TILE_WIDTH = 1 << TILE_HEIGHT;

// ---- bytes ----------------------------------------------------------------------------------------

export async function sha256(bytes) {
    return new Uint8Array(await subtle.digest('SHA-256', bytes));
}

export function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
        out.set(p, o);
        o += p.length;
    }
    return out;
}

export function equalBytes(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
}

export function hex(bytes) {
    let s = '';
    for (const b of bytes) s += b.toString(16).padStart(2, '0');
    return s;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function b64Value(c) {
    const i = B64.indexOf(c);
    return c.length === 1 && i >= 0 ? i : -1;
}

// Standard base64 read as src/core/base64.cpp does: length a multiple of 4, padding only at the
// end, the bits it drops zero.  null if it is not.
export function base64Decode(s) {
    if (s.length % 4 !== 0) return null;
    const out = [];
    for (let i = 0; i < s.length; i += 4) {
        const last = i + 4 === s.length;
        let pad = 0;
        if (last && s[i + 3] === '=') pad = s[i + 2] === '=' ? 2 : 1;
        let v = 0;
        for (let k = 0; k < 4; k++) {
            let d = 0;
            if (k < 4 - pad) {
                d = b64Value(s[i + k]);
                if (d < 0) return null;
            }
            v = v * 64 + d;
        }
        if ((pad === 1 && (v & 0xff) !== 0) || (pad === 2 && (v & 0xffff) !== 0)) return null;
        const bytes = [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
        for (let k = 0; k < 3 - pad; k++) out.push(bytes[k]);
    }
    return new Uint8Array(out);
}

export function base64Encode(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 3) {
        const v = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
        s += B64[(v >> 18) & 63] + B64[(v >> 12) & 63];
        s += i + 1 < bytes.length ? B64[(v >> 6) & 63] : '=';
        s += i + 2 < bytes.length ? B64[v & 63] : '=';
    }
    return s;
}

// The URL fragment's base64url (RFC 4648 section 5), padded or not.  null if it is not.
export function base64UrlDecode(s) {
    if (!/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return null;
    let t = s.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
    if (t.length % 4 === 1) return null;
    while (t.length % 4 !== 0) t += '=';
    return base64Decode(t);
}

export function base64UrlEncode(bytes) {
    return base64Encode(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// ---- strict JSON (a port of src/core/json_text.cpp) ------------------------------------------------

const MAX_DEPTH = 64;

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629), or 0.
function utf8Sequence(s, i) {
    const c = s[i];
    if (c < 0x80) return 1;
    let len;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c === 0xe0) lo = 0xa0;
        if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c === 0xf0) lo = 0x90;
        if (c === 0xf4) hi = 0x8f;
    } else return 0;
    if (s.length - i < len || s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (let k = 2; k < len; k++) if (s[i + k] < 0x80 || s[i + k] > 0xbf) return 0;
    return len;
}

function putUtf8(out, cp) {
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

class JsonError extends Error {
    constructor(offset, what) {
        super(what);
        this.offset = offset;
        this.what = what;
    }
}

// A value: {kind: 'null'|'bool'|'number'|'string'|'array'|'object', text (number as written,
// 'true'/'false'), bytes (a string's UTF-8), str (the same as a JS string), items, members
// ([key string, value] in document order, keys unique)}.
class JsonParser {
    constructor(bytes) {
        this.s = bytes;
        this.i = 0;
    }
    fail(what) {
        throw new JsonError(this.i, what);
    }
    ws() {
        const s = this.s;
        while (this.i < s.length && (s[this.i] === 0x20 || s[this.i] === 0x0a || s[this.i] === 0x0d || s[this.i] === 0x09)) this.i++;
    }
    eat(c) {
        if (this.i < this.s.length && this.s[this.i] === c) {
            this.i++;
            return true;
        }
        return false;
    }
    word(w) {
        if (this.s.length - this.i < w.length) return false;
        for (let k = 0; k < w.length; k++) if (this.s[this.i + k] !== w.charCodeAt(k)) return false;
        this.i += w.length;
        return true;
    }
    hex4() {
        if (this.s.length - this.i < 4) this.fail('a short \\u escape');
        let v = 0;
        for (let k = 0; k < 4; k++) {
            const c = String.fromCharCode(this.s[this.i]);
            const d = '0123456789abcdef'.indexOf(c.toLowerCase());
            if (!/[0-9A-Fa-f]/.test(c) || d < 0) this.fail('a bad \\u escape');
            v = v * 16 + d;
            this.i++;
        }
        return v;
    }
    string() {
        const out = [];
        const s = this.s;
        this.i++;
        for (;;) {
            if (this.i >= s.length) this.fail('an unterminated string');
            const c = s[this.i];
            if (c === 0x22) {
                this.i++;
                const bytes = new Uint8Array(out);
                return { bytes, str: utf8Decoder.decode(bytes) };
            }
            if (c < 0x20) this.fail('a control character in a string');
            if (c !== 0x5c) {
                const len = utf8Sequence(s, this.i);
                if (len === 0) this.fail('a string that is not UTF-8');
                for (let k = 0; k < len; k++) out.push(s[this.i + k]);
                this.i += len;
                continue;
            }
            this.i++;
            if (this.i >= s.length) this.fail('an unterminated escape');
            const e = String.fromCharCode(s[this.i++]);
            const simple = { '"': 0x22, '\\': 0x5c, '/': 0x2f, b: 0x08, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09 };
            if (e in simple) {
                out.push(simple[e]);
            } else if (e === 'u') {
                let cp = this.hex4();
                if (cp >= 0xd800 && cp < 0xdc00) {
                    if (!this.word('\\u')) this.fail('a lone surrogate');
                    const lo = this.hex4();
                    if (lo < 0xdc00 || lo >= 0xe000) this.fail('a bad surrogate pair');
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp < 0xe000) {
                    this.fail('a lone surrogate');
                }
                putUtf8(out, cp);
            } else {
                this.i--;
                this.fail('an unknown escape');
            }
        }
    }
    isDigit() {
        return this.i < this.s.length && this.s[this.i] >= 0x30 && this.s[this.i] <= 0x39;
    }
    number() {
        const start = this.i;
        this.eat(0x2d);
        if (!this.isDigit()) this.fail('not a JSON value');
        if (this.s[this.i] === 0x30) {
            this.i++;
            if (this.isDigit()) this.fail('a number with a leading zero');
        } else {
            while (this.isDigit()) this.i++;
        }
        if (this.eat(0x2e)) {
            if (!this.isDigit()) this.fail('no digit after a decimal point');
            while (this.isDigit()) this.i++;
        }
        if (this.i < this.s.length && (this.s[this.i] === 0x65 || this.s[this.i] === 0x45)) {
            this.i++;
            if (!this.eat(0x2b)) this.eat(0x2d);
            if (!this.isDigit()) this.fail('no digit in an exponent');
            while (this.isDigit()) this.i++;
        }
        return { kind: 'number', text: String.fromCharCode(...this.s.subarray(start, this.i)) };
    }
    object(depth) {
        const out = { kind: 'object', members: [] };
        const offsets = [];
        this.i++;
        this.ws();
        if (this.eat(0x7d)) return out;
        for (;;) {
            this.ws();
            if (this.i >= this.s.length || this.s[this.i] !== 0x22) this.fail('an object key is not a string');
            offsets.push(this.i);
            const key = this.string().str;
            this.ws();
            if (!this.eat(0x3a)) this.fail("':' missing");
            this.ws();
            const v = this.value(depth + 1);
            out.members.push([key, v]);
            this.ws();
            if (this.eat(0x2c)) continue;
            if (this.eat(0x7d)) {
                // The error points at the later of two equal keys (json_text.cpp sorts; the first
                // repeat in document order of the sorted pairs is the same one).
                const seen = new Map();
                let bad = -1;
                out.members.forEach(([k], idx) => {
                    if (seen.has(k)) {
                        if (bad < 0 || compareKeysForRepeat(out.members, idx, bad)) bad = idx;
                    } else seen.set(k, idx);
                });
                if (bad >= 0) {
                    this.i = offsets[bad];
                    this.fail('a key repeated in an object');
                }
                return out;
            }
            this.fail("',' or '}' missing");
        }
    }
    array(depth) {
        const out = { kind: 'array', items: [] };
        this.i++;
        this.ws();
        if (this.eat(0x5d)) return out;
        for (;;) {
            this.ws();
            out.items.push(this.value(depth + 1));
            this.ws();
            if (this.eat(0x2c)) continue;
            if (this.eat(0x5d)) return out;
            this.fail("',' or ']' missing");
        }
    }
    value(depth) {
        if (depth > MAX_DEPTH) this.fail('nesting too deep');
        if (this.i >= this.s.length) this.fail('a value is missing');
        const c = this.s[this.i];
        if (c === 0x7b) return this.object(depth);
        if (c === 0x5b) return this.array(depth);
        if (c === 0x22) return { kind: 'string', ...this.string() };
        if (this.word('null')) return { kind: 'null' };
        if (this.word('true')) return { kind: 'bool', text: 'true' };
        if (this.word('false')) return { kind: 'bool', text: 'false' };
        return this.number();
    }
    document() {
        this.ws();
        const v = this.value(0);
        this.ws();
        if (this.i !== this.s.length) this.fail('text after the JSON value');
        return v;
    }
}

// Of two repeats, the one json_text.cpp reports: it sorts (key, position) and reports the first
// equal neighbour, i.e. the smallest key that repeats, at its second occurrence.
function compareKeysForRepeat(members, idx, bad) {
    const a = utf8.encode(members[idx][0]);
    const b = utf8.encode(members[bad][0]);
    const c = compareBytes(a, b);
    if (c !== 0) return c < 0;
    return false;
}

function compareBytes(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
}

// Parses bytes (UTF-8 JSON text) strictly: {value} or {error: {offset, what}}.
export function parseJson(bytes) {
    try {
        return { value: new JsonParser(bytes).document() };
    } catch (e) {
        if (e instanceof JsonError) return { error: { offset: e.offset, what: e.what } };
        throw e;
    }
}

function get(obj, key) {
    if (obj.kind !== 'object') return undefined;
    for (const [k, v] of obj.members) if (k === key) return v;
    return undefined;
}

// -?(0|[1-9][0-9]*), not "-0", within int64: a BigInt, else null (json::plain_int64_text).
export function plainInt64Text(t) {
    if (!/^-?(0|[1-9][0-9]*)$/.test(t) || t === '-0') return null;
    const v = BigInt(t);
    return v < INT64_MIN || v > INT64_MAX ? null : v;
}

function plainInt64(v) {
    return v && v.kind === 'number' ? plainInt64Text(v.text) : null;
}

// push_rules.cpp's parse_int64: an optional '-', then decimal digits (leading zeros allowed), int64.
function parseInt64(t) {
    if (!/^-?[0-9]+$/.test(t)) return null;
    const v = BigInt(t);
    return v < INT64_MIN || v > INT64_MAX ? null : v;
}

// ---- canonical JSON, version 1 (docs/chain.md section 3; src/json/canonical_jsonb.cpp) -------------

// A JSON number's text as PostgreSQL's numeric_out prints the value jsonb stores for it: the
// digits with the input's scale, the exponent folded in (scale = fraction digits - exponent, at
// least 0), no sign on zero, no leading zeros.
export function numericText(text) {
    const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(text);
    if (!m) throw new Error(`not a JSON number: ${text}`);
    const negative = m[1] === '-';
    const frac = m[3] ?? '';
    const exp = m[4] === undefined ? 0 : Number(m[4]);
    const digits = (m[2] + frac).replace(/^0+/, '');
    // value = digits * 10^(exp - frac.length)
    const scale = Math.max(0, frac.length - exp);
    const shift = exp - frac.length; // the power of ten applied to digits
    let intPart;
    let fracPart;
    if (digits === '') {
        intPart = '0';
        fracPart = '0'.repeat(scale);
        return scale > 0 ? `0.${fracPart}` : '0';
    }
    if (shift >= 0) {
        intPart = digits + '0'.repeat(shift);
        fracPart = '';
    } else {
        const k = -shift; // digits after the point in digits' own value
        const padded = digits.length <= k ? '0'.repeat(k - digits.length + 1) + digits : digits;
        intPart = padded.slice(0, padded.length - k);
        fracPart = padded.slice(padded.length - k);
    }
    intPart = intPart.replace(/^0+(?=[0-9])/, '');
    fracPart = fracPart.padEnd(scale, '0').slice(0, scale);
    return (negative ? '-' : '') + intPart + (scale > 0 ? `.${fracPart}` : '');
}

const JSON_ESCAPES = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

// A string's UTF-8 bytes as a canonical JSON literal (canonical_json_bytes.hpp): '"', '\\' and
// bytes below 0x20 escaped, everything else copied.
function canonicalString(bytes, out) {
    out.push(0x22);
    for (const c of bytes) {
        if (JSON_ESCAPES[c] !== undefined) for (const ch of JSON_ESCAPES[c]) out.push(ch.charCodeAt(0));
        else if (c < 0x20) for (const ch of `\\u00${c.toString(16).padStart(2, '0')}`) out.push(ch.charCodeAt(0));
        else out.push(c);
    }
    out.push(0x22);
}

// The canonical JSON bytes of a parsed value, as forgea_audit.canonical_json(value::jsonb) writes
// them: keys by (byte length, bytes), the last of repeated keys kept (jsonb's rule; the strict
// parser refuses repeats anyway), numbers as numeric prints them.
export function canonicalJson(value) {
    const out = [];
    const walk = (v) => {
        switch (v.kind) {
            case 'null':
                for (const ch of 'null') out.push(ch.charCodeAt(0));
                break;
            case 'bool':
                for (const ch of v.text) out.push(ch.charCodeAt(0));
                break;
            case 'number':
                for (const ch of numericText(v.text)) out.push(ch.charCodeAt(0));
                break;
            case 'string':
                canonicalString(v.bytes, out);
                break;
            case 'array':
                out.push(0x5b);
                v.items.forEach((item, i) => {
                    if (i > 0) out.push(0x2c);
                    walk(item);
                });
                out.push(0x5d);
                break;
            case 'object': {
                const last = new Map();
                for (const [k, val] of v.members) last.set(k, val);
                const keys = [...last.keys()].map((k) => [utf8.encode(k), k]);
                keys.sort((a, b) => (a[0].length !== b[0].length ? a[0].length - b[0].length : compareBytes(a[0], b[0])));
                out.push(0x7b);
                keys.forEach(([kb, k], i) => {
                    if (i > 0) out.push(0x2c);
                    canonicalString(kb, out);
                    out.push(0x3a);
                    walk(last.get(k));
                });
                out.push(0x7d);
                break;
            }
            default:
                throw new Error(`unknown JSON kind ${v.kind}`);
        }
    };
    walk(value);
    return new Uint8Array(out);
}

// ---- the row encoding, version 1 (docs/chain.md section 2; src/core/chain_record.cpp) --------------

function i64be(v) {
    const b = new Uint8Array(8);
    let u = BigInt.asUintN(64, v);
    for (let i = 7; i >= 0; i--) {
        b[i] = Number(u & 0xffn);
        u >>= 8n;
    }
    return b;
}

function u32be(n) {
    return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

// rec: {seq, chain_pos, created_at_us (BigInt), prev_hash (32 bytes), text fields as Uint8Array or
// null, parent_seq BigInt or null}.
export function encodeRecordV1(rec) {
    const parts = [new Uint8Array([0x01])];
    const int = (v, tag = 0x49) => parts.push(new Uint8Array([tag]), i64be(v));
    const varf = (tag, b) => {
        if (b === null) parts.push(new Uint8Array([0x4e]));
        else parts.push(new Uint8Array([tag]), u32be(b.length), b);
    };
    const T = 0x54;
    int(rec.seq);
    varf(T, rec.chain_id);
    int(rec.chain_pos);
    varf(0x42, rec.prev_hash);
    int(rec.created_at_us, 0x5a);
    for (const f of ['tenant_id', 'user_id', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'outcome', 'severity'])
        varf(T, rec[f]);
    varf(0x4a, rec.metadata);
    varf(0x4a, rec.proof);
    varf(T, rec.correlation_id);
    if (rec.parent_seq === null) parts.push(new Uint8Array([0x4e]));
    else int(rec.parent_seq);
    return concat(...parts);
}

// ---- Merkle tree (RFC 6962 / RFC 9162) ----------------------------------------------------------------

export async function leafHash(entry) {
    return sha256(concat(new Uint8Array([0x00]), entry));
}

export async function nodeHash(left, right) {
    return sha256(concat(new Uint8Array([0x01]), left, right));
}

const lsb = (x) => (x & 1n) === 1n;

// RFC 9162 2.1.3.2 (merkle_tree.cpp's root_from_inclusion): the root the path leads to, or null.
export async function rootFromInclusion(index, size, leaf, proof) {
    if (index < 0n || size <= 0n || index >= size) return null;
    let fn = index;
    let sn = size - 1n;
    let r = leaf;
    for (const p of proof) {
        if (sn === 0n) return null;
        if (lsb(fn) || fn === sn) {
            r = await nodeHash(p, r);
            if (!lsb(fn)) while (!lsb(fn) && fn !== 0n) {
                fn >>= 1n;
                sn >>= 1n;
            }
        } else {
            r = await nodeHash(r, p);
        }
        fn >>= 1n;
        sn >>= 1n;
    }
    return sn === 0n ? r : null;
}

// RFC 9162 2.1.4.2 (merkle_tree.cpp's verify_consistency).
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
    if (oldSize < 0n || newSize < oldSize) return false;
    if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot);
    if (oldSize === 0n) return proof.length === 0;
    if (proof.length === 0) return false;
    const oldIsPower = (oldSize & (oldSize - 1n)) === 0n;
    let i = 0;
    const first = oldIsPower ? oldRoot : proof[i++];
    let fn = oldSize - 1n;
    let sn = newSize - 1n;
    while (lsb(fn)) {
        fn >>= 1n;
        sn >>= 1n;
    }
    let fr = first;
    let sr = first;
    for (; i < proof.length; i++) {
        if (sn === 0n) return false;
        if (lsb(fn) || fn === sn) {
            fr = await nodeHash(proof[i], fr);
            sr = await nodeHash(proof[i], sr);
            if (!lsb(fn)) while (!lsb(fn) && fn !== 0n) {
                fn >>= 1n;
                sn >>= 1n;
            }
        } else {
            sr = await nodeHash(sr, proof[i]);
        }
        fn >>= 1n;
        sn >>= 1n;
    }
    return sn === 0n && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}

function largestPowerBelow(n) {
    // the largest power of two strictly below n (n >= 2)
    let k = 1n;
    while (k << 1n < n) k <<= 1n;
    return k;
}

// ---- the published tiles (C2SP tlog-tiles) ---------------------------------------------------------

// "tile/<L>/<N>[.p/<W>]": N in groups of three digits, all but the last prefixed with x.
export function tilePath(level, n, width) {
    let digits = n.toString();
    while (digits.length % 3 !== 0) digits = '0' + digits;
    const groups = digits.match(/.../g);
    const name = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
    return `tile/${level}/${name}${width < TILE_WIDTH ? `.p/${width}` : ''}`;
}

class TileError extends Error {}

// The stored hashes of a tree of `size` leaves, read from its tiles (each fetched once, only when a
// hash in it is needed), and the subtree hashes computed from them.
export class TileReader {
    constructor(baseUrl, size, fetchBytes) {
        this.base = baseUrl.replace(/\/+$/, '');
        this.size = size;
        this.fetchBytes = fetchBytes;
        this.tiles = new Map();
        this.fetched = [];
    }
    async tile(level, n) {
        const key = `${level}/${n}`;
        if (!this.tiles.has(key)) {
            const atLevel = this.size >> BigInt(TILE_HEIGHT * level);
            const full = atLevel >> BigInt(TILE_HEIGHT);
            const width = n < full ? TILE_WIDTH : Number(atLevel - full * BigInt(TILE_WIDTH));
            if (n > full || width === 0) throw new TileError(`the tree of ${this.size} leaves has no tile ${level}/${n}`);
            const path = tilePath(level, n, width);
            this.tiles.set(key, (async () => {
                this.fetched.push(path);
                const bytes = await this.fetchBytes(`${this.base}/${path}`, path);
                if (bytes.length !== width * HASH_LEN)
                    throw new TileError(`the log's tile ${path} has ${bytes.length} bytes, not ${width * HASH_LEN}`, { cause: 'length' });
                return bytes;
            })());
        }
        return this.tiles.get(key);
    }
    // The hash of the complete subtree of height h and index k (leaves [k*2^h, (k+1)*2^h)).
    async subtree(h, k) {
        const level = Math.floor(h / TILE_HEIGHT);
        const base = level * TILE_HEIGHT;
        if (h === base) {
            const n = k >> BigInt(TILE_HEIGHT);
            const tile = await this.tile(level, n);
            const i = Number(k - (n << BigInt(TILE_HEIGHT)));
            return tile.subarray(i * HASH_LEN, (i + 1) * HASH_LEN);
        }
        const left = await this.subtree(h - 1, 2n * k);
        const right = await this.subtree(h - 1, 2n * k + 1n);
        return nodeHash(left, right);
    }
    // MTH(D[lo:hi]) for lo aligned to a power of two at least hi - lo.
    async range(lo, hi) {
        const n = hi - lo;
        if ((n & (n - 1n)) === 0n) {
            let h = 0;
            while (1n << BigInt(h) < n) h++;
            return this.subtree(h, lo >> BigInt(h));
        }
        const k = largestPowerBelow(n);
        return nodeHash(await this.range(lo, lo + k), await this.range(lo + k, hi));
    }
    // RFC 6962 2.1.2 PROOF(m, D[0:size]), from the tiles.
    async consistencyProof(m) {
        const out = [];
        const sub = async (m, lo, hi, flag) => {
            const n = hi - lo;
            if (m === n) {
                if (!flag) out.push(await this.range(lo, hi));
                return;
            }
            const k = largestPowerBelow(n);
            if (m <= k) {
                await sub(m, lo, lo + k, flag);
                out.push(await this.range(lo + k, hi));
            } else {
                await sub(m - k, lo + k, hi, false);
                out.push(await this.range(lo, lo + k));
            }
        };
        if (m > 0n && m < this.size) await sub(m, 0n, this.size, true);
        return out;
    }
}

// ---- notes (C2SP signed-note, tlog-checkpoint; src/core/checkpoint_note.cpp) ------------------------

// A C2SP verifier key "<name>+<hex key id>+<base64(type || public key)>": {name, keyId, type, key}
// or {error}.
export async function parseVkey(vkey, wantType) {
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey ?? '');
    if (!m) return { error: `"${vkey}" is not a verifier key (name+keyhash+base64 key)` };
    const raw = base64Decode(m[3]);
    if (raw === null || raw.length !== 33) return { error: `the verifier key "${m[1]}" does not hold a 32-byte Ed25519 key` };
    if (raw[0] !== wantType)
        return { error: `the verifier key "${m[1]}" is of type 0x${raw[0].toString(16).padStart(2, '0')}, not 0x0${wantType}${wantType === 4 ? ' (a cosignature/v1 witness key)' : ' (Ed25519 note key)'}` };
    const key = raw.subarray(1);
    const keyId = await noteKeyId(m[1], wantType, key);
    if (keyId !== parseInt(m[2], 16)) return { error: `the verifier key "${m[1]}" has key hash ${m[2]}, but its name and key hash to ${keyId.toString(16).padStart(8, '0')}` };
    return { name: m[1], keyId, type: wantType, key };
}

// SHA-256(name || "\n" || type || public key)[0:4], big-endian.
export async function noteKeyId(name, type, key) {
    const d = await sha256(concat(utf8.encode(name), new Uint8Array([0x0a, type]), key));
    return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

export async function ed25519Verify(publicKey, message, signature) {
    try {
        const k = await subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
        return await subtle.verify({ name: 'Ed25519' }, k, signature, message);
    } catch (e) {
        if (e && e.name === 'NotSupportedError') throw e;
        return false; // not a point on the curve, or a malformed signature: not a valid signature
    }
}

function splitLines(bytes, from) {
    // [start, end) of the next line of bytes at from, without its '\n', and the next position.
    if (from >= bytes.length) return null;
    let j = bytes.indexOf(0x0a, from);
    const end = j < 0 ? bytes.length : j;
    return { start: from, end, next: j < 0 ? bytes.length : j + 1 };
}

const ascii = (bytes) => String.fromCharCode(...bytes);
const EM_DASH_BYTES = utf8.encode(EM_DASH);

// parse_checkpoint: {note} or {error}.  note = {body: Uint8Array (the signed text), origin (string),
// size (BigInt), root, tree (bool), signatures: [{name, keyId, blob}]}.  Signature lines are read
// as checkpoint_note.cpp reads them: a note signature (68 bytes) or a witness's timestamped
// cosignature/v1 (76 bytes), at most 16 lines.
export function parseCheckpoint(bytes, maxSignatures = 16) {
    let pos = 0;
    let l = splitLines(bytes, pos);
    if (!l || l.end === l.start) return { error: 'the first line (the origin) is missing' };
    const originBytes = bytes.subarray(l.start, l.end);
    pos = l.next;
    l = splitLines(bytes, pos);
    const size = l ? parseInt64(ascii(bytes.subarray(l.start, l.end))) : null;
    if (!l || size === null || size < 0n) return { error: 'the second line is not a row count' };
    pos = l.next;
    l = splitLines(bytes, pos);
    const root = l ? base64Decode(ascii(bytes.subarray(l.start, l.end))) : null;
    if (!l || root === null || root.length !== HASH_LEN) return { error: 'the third line is not a base64 SHA-256 root' };
    pos = l.next;
    let haveSeq = false;
    let haveChains = false;
    let haveTime = false;
    let sawV1 = false;
    let bodyEnd = bytes.length;
    for (;;) {
        const lineStart = pos;
        l = splitLines(bytes, pos);
        if (!l) break;
        pos = l.next;
        if (l.end === l.start) {
            bodyEnd = lineStart;
            break;
        }
        const line = ascii(bytes.subarray(l.start, l.end));
        if (line.startsWith('seq ')) {
            sawV1 = true;
            haveSeq = parseInt64(line.slice(4)) !== null;
        } else if (line.startsWith('chains ')) {
            sawV1 = true;
            haveChains = parseInt64(line.slice(7)) !== null;
        } else if (line.startsWith('time ')) {
            haveTime = parseInt64(line.slice(5)) !== null;
        }
    }
    let tree = false;
    if (!haveSeq && !haveChains && !sawV1) tree = true;
    else if (!haveSeq || !haveChains || !haveTime) return { error: 'the "seq", "chains" and "time" lines are missing or malformed' };
    const signatures = [];
    while ((l = splitLines(bytes, pos))) {
        pos = l.next;
        if (l.end === l.start) continue;
        const line = bytes.subarray(l.start, l.end);
        const dash = line.length >= 3 && equalBytes(line.subarray(0, 3), EM_DASH_BYTES);
        if (!dash || line.length < 5 || line[3] !== 0x20) return { error: 'a line after the blank line is not a signature line' };
        const rest = line.subarray(4);
        const sp = rest.indexOf(0x20);
        if (sp < 0) return { error: 'a signature line has no key name' };
        if (signatures.length === maxSignatures) return { error: 'too many signature lines' };
        const nameBytes = rest.subarray(0, sp);
        const blob = base64Decode(ascii(rest.subarray(sp + 1)));
        if (blob === null || (blob.length !== 68 && blob.length !== 76))
            return { error: "a signature is not base64 of a 4-byte key id and a 64-byte Ed25519 signature (or a witness's timestamped cosignature)" };
        const keyId = ((blob[0] << 24) | (blob[1] << 16) | (blob[2] << 8) | blob[3]) >>> 0;
        signatures.push({ nameBytes, keyId, blob });
    }
    let origin;
    try {
        origin = utf8Decoder.decode(originBytes);
    } catch {
        origin = ascii(originBytes);
    }
    return { note: { body: bytes.subarray(0, bodyEnd), origin, size, root, tree, signatures } };
}

const keyPhrase = (k) => `key "${k.name}" (key id ${k.keyId.toString(16).padStart(8, '0')})`;

const idHex = (id) => id.toString(16).padStart(8, '0');

// check_note_signature with keys given (the page always has the log's keys: after a rotation, all
// of them, one name): {ok, text, signer (the key that signed)}.  keys: one key or an array.
export async function checkNoteSignature(note, keys) {
    const list = Array.isArray(keys) ? keys : [keys];
    const key = list[0];
    if (note.signatures.length === 0)
        return { ok: false, text: `the checkpoint is not signed, but a public key was given to check it: ${keyPhrase(key)}` };
    for (const k of list) {
        for (const s of note.signatures) {
            if (s.blob.length === 76 || s.keyId !== k.keyId || !equalBytes(s.nameBytes, utf8.encode(k.name))) continue;
            if (s.blob.length === 68 && (await ed25519Verify(k.key, note.body, s.blob.subarray(4))))
                return { ok: true, text: `signed by ${keyPhrase(k)}`, signer: k };
            return { ok: false, text: `the checkpoint's signature by key "${k.name}" does not verify (the note was altered)` };
        }
    }
    if (list.length === 1)
        return { ok: false, text: `the checkpoint is not signed by the given public key "${key.name}" (key id ${idHex(key.keyId)})` };
    return { ok: false, text: `the checkpoint is not signed by any of the given public keys "${key.name}" (key ids ${list.map((k) => idHex(k.keyId)).join(', ')})` };
}

// A witness's cosignature/v1 (C2SP tlog-cosignature) on a note: {ok, time (BigInt seconds), text}.
export async function checkCosignature(note, witness) {
    for (const s of note.signatures) {
        if (s.keyId !== witness.keyId || !equalBytes(s.nameBytes, utf8.encode(witness.name))) continue;
        if (s.blob.length !== 4 + 8 + 64) return { ok: false, text: `witness "${witness.name}"'s cosignature is not a cosignature/v1 (${s.blob.length - 4} bytes, not 72)` };
        let t = 0n;
        for (let i = 4; i < 12; i++) t = (t << 8n) | BigInt(s.blob[i]);
        if (t > INT64_MAX) return { ok: false, text: `witness "${witness.name}"'s cosignature has a timestamp beyond 2^63-1` };
        const msg = concat(utf8.encode(`cosignature/v1\ntime ${t}\n`), note.body);
        if (await ed25519Verify(witness.key, msg, s.blob.subarray(12)))
            return { ok: true, time: t, text: `cosigned by witness "${witness.name}" at ${new Date(Number(t) * 1000).toISOString()}` };
        return { ok: false, text: `witness "${witness.name}"'s cosignature does not verify (the checkpoint or the cosignature was altered)` };
    }
    return { ok: false, text: `today's checkpoint carries no cosignature by witness "${witness.name}" (key id ${witness.keyId.toString(16).padStart(8, '0')})` };
}

// ---- the receipt (a port of src/core/receipt_check.cpp) ------------------------------------------

const RECEIPT_MEMBERS = ['version', 'attempt_id', 'row_hash', 'leaf_index', 'tree_size', 'inclusion_proof', 'checkpoint', 'row'];
const ROW_MEMBERS = ['seq', 'chain_id', 'chain_pos', 'prev_hash', 'hash_version', 'created_at_us', 'tenant_id', 'user_id', 'actor_type',
    'actor_id', 'action', 'target_type', 'target_id', 'outcome', 'severity', 'metadata', 'proof', 'correlation_id', 'parent_seq'];

class Stop {
    constructor(verdict) {
        this.verdict = verdict;
    }
}
const badInput = (text) => {
    throw new Stop({ outcome: 'bad_input', text });
};
const failed = (seq, text, check) => {
    throw new Stop({ outcome: 'failed', text, seq, check });
};

function exactMembers(obj, names, where) {
    if (obj.kind !== 'object') badInput(`${where} is not a JSON object`);
    for (const n of names) if (get(obj, n) === undefined) badInput(`the receipt has no "${n}" in ${where}`);
    if (obj.members.length !== names.length)
        for (const [k] of obj.members)
            if (!names.includes(k)) badInput(`${where} has a member "${truncate(k, 100)}" that receipts do not have`);
}

function truncate(s, n) {
    const b = utf8.encode(s);
    return b.length <= n ? s : new TextDecoder().decode(b.subarray(0, n));
}

function intMember(obj, key, where) {
    const v = plainInt64(get(obj, key));
    if (v === null) badInput(`the receipt's "${key}" in ${where} is not an integer (a plain one: no fraction, no exponent)`);
    return v;
}

function textMember(row, key) {
    const v = get(row, key);
    if (v.kind === 'null') return null;
    if (v.kind !== 'string') badInput(`the receipt's row field "${key}" is neither a string nor null`);
    return v.bytes;
}

function hexHash(v, what) {
    if (v.kind !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v.str)) badInput(`the receipt's ${what} is not 64 hex digits`);
    const out = new Uint8Array(HASH_LEN);
    for (let i = 0; i < HASH_LEN; i++) out[i] = parseInt(v.str.slice(2 * i, 2 * i + 2), 16);
    return out;
}

const same = (b, s) => b !== null && equalBytes(b, utf8.encode(s));
const quoted = (b) => (b === null ? 'NULL' : `"${new TextDecoder().decode(b.subarray(0, 100))}"`);
const str = (b) => (b === null ? null : new TextDecoder().decode(b));

// The row object (receipt()->'row', or a tlog-proof's extra) read into a record.
function readRow(row) {
    exactMembers(row, ROW_MEMBERS, 'row');
    return row;
}

function recordOf(row) {
    const prev = hexHash(get(row, 'prev_hash'), "row's prev_hash");
    const rec = {
        seq: intMember(row, 'seq', 'row'),
        chain_id: textMember(row, 'chain_id'),
        chain_pos: intMember(row, 'chain_pos', 'row'),
        prev_hash: prev,
        created_at_us: intMember(row, 'created_at_us', 'row'),
    };
    for (const f of ['tenant_id', 'user_id', 'actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'outcome', 'severity'])
        rec[f] = textMember(row, f);
    rec.metadata = textMember(row, 'metadata'); // canonical JSON text: hashed verbatim
    rec.proof = textMember(row, 'proof');
    rec.correlation_id = textMember(row, 'correlation_id');
    rec.parent_seq = get(row, 'parent_seq').kind === 'null' ? null : intMember(row, 'parent_seq', 'row');
    return rec;
}

// The attempt a row is the LAB_VERIFY_ATTEMPT row of (target lab_attempt, target_id a plain
// integer), or null (check_receipt's attempt_of_row).
function attemptOfRow(rec) {
    if (!(same(rec.action, 'LAB_VERIFY_ATTEMPT') && same(rec.target_type, 'lab_attempt') && rec.target_id !== null))
        return null;
    const a = plainInt64Text(str(rec.target_id));
    return a !== null && same(rec.target_id, a.toString()) ? a : null;
}

// What check_receipt checks, for a receipt of either form (already read into its parts).
async function checkParts(p, key) {
    const signature = await checkNoteSignature(p.note, key);
    if (!signature.ok) throw new Stop({ outcome: 'failed', text: signature.text, seq: null, check: 'receipt-signature' });
    const rec = p.rec;
    if (p.hashVersion !== 1n) failed(rec.seq, 'the row\'s hash_version is not 1, the only encoding this tool knows', 'row-hash');
    const computed = await sha256(encodeRecordV1(rec));
    const rowHash = p.rowHash ?? computed;
    if (!equalBytes(computed, rowHash))
        failed(rec.seq, "the row's fields do not hash to the receipt's row_hash (the row or the hash was altered)", 'row-hash');
    const attempt = p.attempt;
    if (attempt !== null && !(same(rec.action, 'LAB_VERIFY_ATTEMPT') && same(rec.target_type, 'lab_attempt') && same(rec.target_id, attempt.toString())))
        failed(rec.seq, `the receipt names attempt ${attempt}, but its row is not that attempt's LAB_VERIFY_ATTEMPT row (action ${quoted(rec.action)}, target_type ${quoted(rec.target_type)}, target_id ${quoted(rec.target_id)})`, 'attempt');
    // receipt() always names the attempt of the row it holds (check_receipt's rule): a JSON
    // receipt of an attempt's row with attempt_id null was altered.
    const ownAttempt = attemptOfRow(rec);
    if (attempt === null && p.form === 'json' && ownAttempt !== null)
        failed(rec.seq, `the receipt's row is attempt ${ownAttempt}'s LAB_VERIFY_ATTEMPT row, but its attempt_id is null (receipt() always names the attempt)`, 'attempt');
    if (p.treeSize !== p.note.size)
        failed(rec.seq, `the receipt's tree_size ${p.treeSize} is not the checkpoint's ${p.note.size}`, 'tree-size');
    const leaf = await leafHash(rowHash);
    const root = await rootFromInclusion(p.leafIndex, p.treeSize, leaf, p.proof);
    if (root === null || !equalBytes(root, p.note.root))
        failed(rec.seq, `the inclusion proof of leaf ${p.leafIndex} does not lead to the checkpoint's root`, 'inclusion');
    const claim = attempt === null ? '' : ` of attempt ${attempt}`;
    return {
        outcome: 'ok',
        signer: signature.signer,
        seq: rec.seq,
        text: `audit row ${rec.seq} (${str(rec.action)?.slice(0, 100) ?? ''})${claim} is leaf ${p.leafIndex} of the checkpoint of ${p.treeSize} leaves, ${signature.text}`,
        rec, rowHash, note: p.note, leafIndex: p.leafIndex, treeSize: p.treeSize, attempt,
    };
}

function readNote(noteBytes, what) {
    const parsed = parseCheckpoint(noteBytes);
    if (parsed.error) badInput(`invalid checkpoint (${what}): ${parsed.error}`);
    if (!parsed.note.tree)
        badInput("the receipt's checkpoint is a 0.1.0 chain-heads checkpoint, not a transparency-log note: it has no tree to prove against");
    return parsed.note;
}

// The JSON receipt of forgea_audit.receipt(): exactly check_receipt's reading.
function readJsonReceipt(bytes) {
    const parsed = parseJson(bytes);
    if (parsed.error) badInput(`not a receipt (offset ${parsed.error.offset}: ${parsed.error.what})`);
    const r = parsed.value;
    exactMembers(r, RECEIPT_MEMBERS, 'the receipt');
    const version = intMember(r, 'version', 'the receipt');
    if (version !== 1n) badInput(`the receipt is of version ${version}; this tool reads version 1 only`);
    const row = readRow(get(r, 'row'));
    const noteV = get(r, 'checkpoint');
    if (noteV.kind !== 'string') badInput("the receipt's checkpoint is not a string");
    const note = readNote(noteV.bytes, "receipt's checkpoint");
    return { r, row, note };
}

async function finishJsonReceipt({ r, row, note }, key) {
    // The signature is checked before the row is read (check_receipt's order): a forged note stops
    // the check before any of the row's types matter.
    const signature = await checkNoteSignature(note, key);
    if (!signature.ok) throw new Stop({ outcome: 'failed', text: signature.text, seq: null, check: 'receipt-signature' });
    const rec = recordOf(row);
    const hashVersion = intMember(row, 'hash_version', 'row');
    const attemptV = get(r, 'attempt_id');
    let attempt = null;
    if (attemptV.kind !== 'null') {
        attempt = plainInt64(attemptV);
        if (attempt === null) badInput('the receipt\'s "attempt_id" is neither an integer (a plain one: no fraction, no exponent) nor null');
    }
    const rowHash = hexHash(get(r, 'row_hash'), 'row_hash');
    const leafIndex = intMember(r, 'leaf_index', 'the receipt');
    const treeSize = intMember(r, 'tree_size', 'the receipt');
    const proofV = get(r, 'inclusion_proof');
    if (proofV.kind !== 'array' || proofV.items.length > 64) badInput("the receipt's inclusion_proof is not an array of hashes");
    const proof = proofV.items.map((v) => hexHash(v, 'inclusion_proof element'));
    return checkParts({ form: 'json', note, rec, hashVersion, attempt, rowHash, leafIndex, treeSize, proof }, key);
}

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1\n';

// A C2SP tlog-proof@v1 (https://c2sp.org/tlog-proof): "extra" is the canonical JSON of the row
// object (receipt()->'row'); "index" the leaf; the hashes the inclusion proof; then the checkpoint.
function readTlogProof(bytes) {
    const lines = [];
    let pos = 0;
    let l;
    // The header, extra, index and hash lines, up to the empty line; the rest is the checkpoint.
    for (;;) {
        l = splitLines(bytes, pos);
        if (!l) badInput('not a tlog-proof: no empty line before the checkpoint');
        pos = l.next;
        if (l.end === l.start) break;
        lines.push(ascii(bytes.subarray(l.start, l.end)));
    }
    const noteBytes = bytes.subarray(pos);
    if (lines[0] !== TLOG_PROOF_HEADER.trimEnd()) badInput('not a tlog-proof: the first line is not c2sp.org/tlog-proof@v1');
    let i = 1;
    let extra = null;
    if (lines[i] !== undefined && lines[i].startsWith('extra ')) {
        extra = base64Decode(lines[i].slice(6));
        if (extra === null) badInput("the tlog-proof's extra line is not base64");
        i++;
    }
    const im = /^index (0|[1-9][0-9]*)$/.exec(lines[i] ?? '');
    if (!im) badInput('the tlog-proof has no "index N" line (a decimal with no leading zero) after its header and extra lines');
    const leafIndex = BigInt(im[1]);
    if (leafIndex > INT64_MAX) badInput("the tlog-proof's index is beyond int64");
    i++;
    const proof = [];
    for (; i < lines.length; i++) {
        const h = base64Decode(lines[i]);
        if (h === null || h.length !== HASH_LEN) badInput(`line ${i + 1} of the tlog-proof is not a base64 SHA-256 hash`);
        proof.push(h);
    }
    if (proof.length > 63) badInput("the tlog-proof's inclusion proof has more than 63 hashes");
    if (extra === null) badInput('the tlog-proof has no extra data: the row to recompute the entry from is missing');
    const parsed = parseJson(extra);
    if (parsed.error) badInput(`the tlog-proof's extra data is not the row's JSON (offset ${parsed.error.offset}: ${parsed.error.what})`);
    const row = readRow(parsed.value);
    const note = readNote(noteBytes, "the tlog-proof's checkpoint");
    return { row, note, leafIndex, proof };
}

async function finishTlogProof({ row, note, leafIndex, proof }, key) {
    const signature = await checkNoteSignature(note, key);
    if (!signature.ok) throw new Stop({ outcome: 'failed', text: signature.text, seq: null, check: 'receipt-signature' });
    const rec = recordOf(row);
    const hashVersion = intMember(row, 'hash_version', 'row');
    // The attempt a tlog-proof is about: its row's, if it is a LAB_VERIFY_ATTEMPT row.
    const attempt = attemptOfRow(rec);
    return checkParts({ form: 'tlog-proof', note, rec, hashVersion, attempt, rowHash: null, leafIndex, treeSize: note.size, proof }, key);
}

// The receipt alone, checked against the log's key: the offline verifier's verdict.
// {outcome: 'ok'|'failed'|'bad_input', text, seq, check, ...}.
export async function checkReceipt(bytes, key) {
    try {
        const isProof = bytes.length >= TLOG_PROOF_HEADER.length && ascii(bytes.subarray(0, TLOG_PROOF_HEADER.length)) === TLOG_PROOF_HEADER;
        if (isProof) return await finishTlogProof(readTlogProof(bytes), key);
        return await finishJsonReceipt(readJsonReceipt(bytes), key);
    } catch (e) {
        if (e instanceof Stop) return e.verdict;
        throw e;
    }
}

// ---- everything: the receipt, today's log, its witnesses, the consistency --------------------------

class FetchError extends Error {}

// fetchBytes(url, what) for the page: fetch's bytes, or a FetchError saying why not.
export function httpFetcher(fetchImpl, counter) {
    return async (url, what) => {
        let res;
        if (counter) counter.count++;
        try {
            res = await fetchImpl(url, { cache: what === 'checkpoint' ? 'no-store' : 'default', credentials: 'omit', redirect: 'error' });
        } catch (e) {
            throw new FetchError(`the log at ${url.slice(0, url.length - what.length)} is unreachable: fetching ${what} failed (${e.message})`);
        }
        if (!res.ok) throw new FetchError(`the log answered ${res.status} for ${what} (${url})`);
        return new Uint8Array(await res.arrayBuffer());
    };
}

// The summary of the row for people: repository and commit of a push, from its metadata.
function describe(rec) {
    let meta = {};
    try {
        meta = rec.metadata === null ? {} : JSON.parse(new TextDecoder().decode(rec.metadata));
    } catch {
        meta = {};
    }
    const when = new Date(Number(rec.created_at_us / 1000n)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    return {
        action: str(rec.action),
        repository: typeof meta.repository === 'string' ? meta.repository : null,
        commit: typeof meta.commit_sha === 'string' ? meta.commit_sha : null,
        ref: typeof meta.ref === 'string' ? meta.ref : null,
        when,
        seq: rec.seq,
    };
}

// The page's whole verdict: {status: 'verified'|'failed'|'error', check, message, details: [..]}.
// params: {log, vkeys: [vkey] (or vkey: one), witnesses: [vkey], receipt: Uint8Array}; fetchBytes(url, what).
// vkeys: the log's keys, all under the log's name (after a key rotation the receipt's checkpoint
// is signed by an earlier one, today's by the current one): each checkpoint must be signed by one.
export async function verifyAll(params, fetchBytes, now = () => new Date()) {
    const steps = [];
    const done = (status, check, message) => ({ status, check, message, steps });
    if (!params.log) return done('error', 'parameters', 'The link has no log= parameter: the address of the published log is missing.');
    const vkeyTexts = params.vkeys ?? (params.vkey ? [params.vkey] : []);
    if (vkeyTexts.length === 0) return done('error', 'parameters', "The link has no vkey= parameter: the log's verifier key is missing.");
    if (!params.receipt || params.receipt.length === 0) return done('error', 'receipt', 'The link carries no receipt (#receipt=… is missing or not base64url).');
    const keys = [];
    for (const t of vkeyTexts) {
        const k = await parseVkey(t, 0x01);
        if (k.error) return done('error', 'parameters', `The log's key cannot be used: ${k.error}.`);
        if (keys.length > 0 && k.name !== keys[0].name)
            return done('error', 'parameters', `The link's log keys name two logs, "${keys[0].name}" and "${k.name}": give the keys of one log (its current and earlier keys share its name).`);
        keys.push(k);
    }
    const key = keys[0];
    const witnesses = [];
    for (const w of params.witnesses ?? []) {
        const wk = await parseVkey(w, 0x04);
        if (wk.error) return done('error', 'parameters', `A witness key cannot be used: ${wk.error}.`);
        witnesses.push(wk);
    }

    // 1. The receipt by itself.
    const r = await checkReceipt(params.receipt, keys);
    if (r.outcome === 'bad_input') return done('error', 'receipt', `The receipt cannot be read: ${r.text}.`);
    if (r.outcome === 'failed') return done('failed', r.check, `The receipt does not hold: ${r.text}.`);
    const what = describe(r.rec);
    steps.push(`row_hash recomputed from the row: ${hex(r.rowHash)}`);
    steps.push(`leaf ${r.leafIndex} of the receipt's checkpoint of ${r.treeSize} entries, ${r.text.slice(r.text.lastIndexOf(', ') + 2)}`);
    if (r.note.origin !== key.name)
        return done('failed', 'origin', `The receipt's checkpoint is of the log "${r.note.origin}", not of "${key.name}" (the key in the link).`);

    // 2. Today's checkpoint, signed by the log, cosigned by each witness named.
    let todayBytes;
    try {
        todayBytes = await fetchBytes(`${params.log.replace(/\/+$/, '')}/checkpoint`, 'checkpoint');
    } catch (e) {
        if (e instanceof FetchError) return done('error', 'fetch', `${e.message}.`);
        return done('error', 'fetch', `The log's checkpoint could not be fetched: ${e.message}.`);
    }
    const parsedToday = parseCheckpoint(todayBytes, 64);
    if (parsedToday.error || !parsedToday.note.tree) return done('failed', 'today-checkpoint', `The log's current checkpoint is malformed: ${parsedToday.error ?? 'not a tree checkpoint'}.`);
    const today = parsedToday.note;
    if (today.origin !== key.name) return done('failed', 'today-checkpoint', `The log's current checkpoint is of "${today.origin}", not of "${key.name}".`);
    const todaySig = await checkNoteSignature(today, keys);
    if (!todaySig.ok) return done('failed', 'today-signature', `The log's current checkpoint does not hold: ${todaySig.text}.`);
    steps.push(`today's checkpoint: ${today.size} entries, ${todaySig.text}`);
    // The receipt carries its checkpoint as published: the witnesses named who cosigned it then.
    for (const w of witnesses) {
        const c = await checkCosignature(r.note, w);
        if (c.ok) steps.push(`your receipt's checkpoint was ${c.text}`);
    }
    const cosigners = [];
    for (const w of witnesses) {
        const c = await checkCosignature(today, w);
        if (!c.ok) return done('failed', 'witness', `The witness check failed: ${c.text}.`);
        steps.push(c.text);
        cosigners.push(w.name);
    }

    // 3. The receipt's tree is a prefix of today's, proved from the tiles.
    if (r.treeSize > today.size)
        return done('failed', 'consistency', `The log today has ${today.size} entries, fewer than the ${r.treeSize} of your receipt's checkpoint: it was cut back or rewritten.`);
    if (r.treeSize === today.size) {
        if (!equalBytes(r.note.root, today.root))
            return done('failed', 'consistency', `The log today has the same size (${today.size}) as your receipt's checkpoint but another root: it was rewritten.`);
        steps.push('today\'s tree is the receipt\'s (same size and root)');
    } else {
        const reader = new TileReader(params.log, today.size, fetchBytes);
        let proof;
        try {
            proof = await reader.consistencyProof(r.treeSize);
        } catch (e) {
            if (e instanceof FetchError) return done('error', 'fetch', `${e.message}.`);
            if (e instanceof TileError) return done('failed', 'consistency', `${e.message}.`);
            throw e;
        }
        if (!(await verifyConsistency(r.treeSize, today.size, r.note.root, today.root, proof)))
            return done('failed', 'consistency', `The published tiles do not show your receipt's checkpoint of ${r.treeSize} entries to be a prefix of today's log of ${today.size}: the log was rewritten after your receipt was issued.`);
        steps.push(`consistency proof from ${r.treeSize} to ${today.size} entries, ${proof.length} hashes from ${reader.fetched.length} tiles (${reader.fetched.join(', ')})`);
    }

    const todayWhen = now().toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    const whose = what.action === 'LAB_VERIFY_ATTEMPT' && what.repository
        ? `Your push to ${what.repository}${what.commit ? ` at ${what.commit}` : ''}`
        : `Audit row ${what.seq} (${what.action})`;
    const witnessed = cosigners.length ? `, cosigned by ${cosigners.join(', ')}` : ' (no witness was named in the link, so no one else vouches for it)';
    let signers = '';
    if (keys.length > 1) {
        const a = idHex(r.signer.keyId);
        const b = idHex(todaySig.signer.keyId);
        signers = a === b ? ` Both checkpoints are signed by the log's key ${a}.`
            : ` Your receipt's checkpoint is signed by the log's key ${a}, today's by its key ${b} (the log's key was rotated since).`;
    }
    const message = `${whose} was recorded at ${what.when}, entry ${r.leafIndex} of the log; the log of ${todayWhen} with ${today.size} entries still contains it${witnessed}.${signers}`;
    return { ...done('verified', 'all', message), receipt: what, todaySize: today.size, cosigners,
        receiptKey: idHex(r.signer.keyId), todayKey: idHex(todaySig.signer.keyId) };
}
