// Opens the gateway's chart page in headless Chromium for one symbol, prints `ready` once the
// history is drawn and the live feed subscribed, then waits for a bar closing at the price given
// on stdin (written by the test with plain SQL), saves a screenshot and prints a JSON report.
// Usage: node chart.mjs <gateway origin> <symbol> <screenshot path>
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const [origin, symbol, screenshot] = process.argv.slice(2);
const report = { requests: [], foreign: [], consoleErrors: [] };
const loopback = (u) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(u).hostname);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1000, height: 560 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || url.startsWith('blob:') || loopback(url)) {
      report.requests.push(url);
      return route.continue();
    }
    report.foreign.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && report.consoleErrors.push(m.text()));
  page.on('pageerror', (e) => report.consoleErrors.push(String(e)));
  await page.goto(`${origin}/chart?symbol=${encodeURIComponent(symbol)}&interval=M1`);
  await page.waitForFunction(() => window.qgChart && window.qgChart.ready && window.qgChart.subscribed, null, { timeout: 20000 });
  report.history = await page.evaluate(() => window.qgChart.candles.data().map((b) => ({ time: b.time, close: b.close })));
  report.status = await page.evaluate(() => document.getElementById('status').textContent);
  // Give the subscription a moment to be registered on the server before the write.
  await page.waitForTimeout(300);
  console.log('ready');
  const close = Number((await lines.next()).value);
  await page.waitForFunction((c) => window.qgChart.last && window.qgChart.last.close === c, close, { timeout: 20000 });
  report.bars = await page.evaluate(() => window.qgChart.candles.data().map((b) => ({ time: b.time, close: b.close })));
  report.live = await page.evaluate(() => window.qgChart.live);
  // The canvas holds pixels: a drawn chart is not one flat colour.
  report.inkedPixels = await page.evaluate(() => {
    let inked = 0;
    for (const c of document.querySelectorAll('#chart canvas')) {
      const ctx = c.getContext('2d');
      if (!ctx || !c.width || !c.height) continue;
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) inked++;
    }
    return inked;
  });
  await page.screenshot({ path: screenshot });
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(0);
