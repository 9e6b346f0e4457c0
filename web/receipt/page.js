// The receipt page's DOM side (index.html): reads the link, runs verify.js's checks with the
// browser's fetch (only ever the log's URLs), and writes the verdict into #verdict.
import { base64UrlDecode, httpFetcher, verifyAll } from './verify.js';

function linkParams(loc) {
    const q = new URLSearchParams(loc.search);
    const frag = new URLSearchParams(loc.hash.replace(/^#/, ''));
    const encoded = frag.get('receipt');
    return {
        log: q.get('log'),
        vkeys: q.getAll('vkey'),
        witnesses: q.getAll('witness'),
        receipt: encoded === null ? null : base64UrlDecode(encoded),
    };
}

function show(result) {
    const box = document.getElementById('verdict');
    document.getElementById('verdict-text').textContent = result.message;
    box.dataset.check = result.check ?? '';
    const steps = document.getElementById('steps');
    steps.replaceChildren(...(result.steps ?? []).map((s) => {
        const li = document.createElement('li');
        li.textContent = s;
        return li;
    }));
    const facts = document.getElementById('facts');
    facts.replaceChildren();
    if (result.receipt) {
        for (const [k, v] of [['repository', result.receipt.repository], ['commit', result.receipt.commit], ['ref', result.receipt.ref],
            ['recorded at', result.receipt.when], ['audit row', String(result.receipt.seq)]]) {
            if (v === null || v === undefined) continue;
            const dt = document.createElement('dt');
            dt.textContent = k;
            const dd = document.createElement('dd');
            dd.textContent = v;
            facts.append(dt, dd);
        }
    }
    // Last: a test (or a reader) waiting on data-status sees the text already in place.
    box.dataset.status = result.status;
}

async function main() {
    const counter = { count: 0 };
    let result;
    try {
        result = await verifyAll(linkParams(window.location), httpFetcher(window.fetch.bind(window), counter));
    } catch (e) {
        const missing = e && e.name === 'NotSupportedError';
        result = { status: 'error', check: 'browser', steps: [],
            message: missing ? 'This browser has no Ed25519 in WebCrypto, so it cannot check signatures: use a current Chromium, Firefox or Safari.'
                : `The check could not run: ${e && e.message}.` };
    }
    result.steps = [...(result.steps ?? []), `${counter.count} request(s) to the log`];
    document.getElementById('verdict').dataset.fetches = String(counter.count);
    show(result);
}

main();
