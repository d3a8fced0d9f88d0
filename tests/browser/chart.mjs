// Opens the gateway's chart page in headless Chromium for one symbol, prints `ready` once the
// history is drawn and the live feed subscribed, then waits for a bar closing at the price given
// on stdin (written by the test with plain SQL), saves a screenshot and prints a JSON report.
// Usage: node chart.mjs <gateway origin> <symbol> <screenshot path>
import { createInterface } from 'node:readline';
import { offlinePage } from './offline.mjs';

const [origin, symbol, screenshot] = process.argv.slice(2);
const report = {};
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const { browser, page } = await offlinePage(report, { width: 1000, height: 560 });
try {
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
