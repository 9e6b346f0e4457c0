// Opens web/receipt/index.html in Debian's headless Chromium (puppeteer-core) for each case and
// prints what the page decided, for test/integration/receipt_page.sh and bench/receipt_page.sh.
//
//   node page.mjs CASES.tsv ALLOWED_HOSTS        CASES: "name<TAB>url" lines; ALLOWED_HOSTS: the
//                                                page's and the log's host:port, comma-separated
//
// Per case one line: name, data-status, data-check, the number of requests the page made beyond
// its own three files, the log paths it requested (space-separated), the requests to any other
// host (intercepted and aborted, so none leaves), the milliseconds from navigation to the
// verdict, and the verdict text.  Every request is intercepted: the page may ask nothing of a host
// not in ALLOWED_HOSTS.
import { readFileSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const [casesFile, allowedArg] = process.argv.slice(2);
const allowed = new Set(allowedArg.split(','));
const cases = readFileSync(casesFile, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
const own = new Set(['index.html', 'page.js', 'verify.js', 'receipt.css']);

const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--metrics-recording-only', '--no-default-browser-check'],
});
try {
    for (const [name, url] of cases) {
        const page = await browser.newPage();
        await page.setRequestInterception(true);
        const pageHost = new URL(url).host;
        let beyond = 0;
        const logPaths = [];
        const foreign = [];
        page.on('request', (req) => {
            const u = new URL(req.url());
            if (!allowed.has(u.host)) {
                foreign.push(req.url());
                req.abort('blockedbyclient');
                return;
            }
            const file = u.pathname.split('/').pop();
            if (!(u.host === pageHost && own.has(file))) {
                beyond++;
                logPaths.push(u.pathname);
            }
            req.continue();
        });
        const consoleErrors = [];
        page.on('pageerror', (e) => consoleErrors.push(String(e)));
        const t0 = Date.now();
        await page.goto(url, { waitUntil: 'domcontentloaded' });
        let status = 'timeout';
        try {
            await page.waitForSelector('#verdict:not([data-status="pending"])', { timeout: 20000 });
            status = await page.$eval('#verdict', (e) => e.dataset.status);
        } catch {
            // the deadline only turns a hang into a failure
        }
        const ms = Date.now() - t0;
        const check = await page.$eval('#verdict', (e) => e.dataset.check ?? '');
        const text = await page.$eval('#verdict-text', (e) => e.textContent);
        console.log([name, status, check, beyond, logPaths.join(' ') || '-', foreign.join(' ') || '-', ms,
            (text + (consoleErrors.length ? ` [page errors: ${consoleErrors.join('; ')}]` : '')).replace(/[\t\n]/g, ' ')].join('\t'));
        await page.close();
    }
} finally {
    await browser.close();
}
