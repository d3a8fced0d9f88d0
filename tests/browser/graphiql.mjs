// Opens the gateway's GraphiQL page in headless Chromium, runs the page's example query and a
// subscription, and prints one JSON report on stdout for tests/api/browser.rs to judge.
// Usage: node graphiql.mjs <gateway origin> <service token>
// Any request for another origin is refused and listed in the report.
import { offlinePage } from './offline.mjs';

const [origin, serviceToken] = process.argv.slice(2);
const report = { websockets: [] };

const { browser, page } = await offlinePage(report);
try {
  page.on('websocket', (ws) => report.websockets.push(ws.url()));

  await page.goto(`${origin}/graphql`);
  // The editors are CodeMirror 5 instances; their text is read and set through their API.
  const text = (sel) => page.evaluate((s) => document.querySelector(`${s} .CodeMirror`).CodeMirror.getValue(), sel);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror');
  report.exampleQuery = await text('.graphiql-query-editor');
  // Waits until the result pane holds JSON with `key` under `data`, and returns it.
  const result = async (key) => {
    await page.waitForFunction(
      (k) => {
        try {
          const r = JSON.parse(document.querySelector('.result-window .CodeMirror').CodeMirror.getValue());
          return !!(r.data && r.data[k]);
        } catch {
          return false;
        }
      },
      key,
      { timeout: 15000 },
    );
    return JSON.parse(await text('.result-window'));
  };
  const run = () => page.click('.graphiql-execute-button');

  // The example query, as the page opens it.
  await run();
  report.example = await result('tickers');

  // A subscription typed into the editor: its events appear as they come.
  await page.evaluate(
    (q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q),
    'subscription Candles { candles(symbols: ["GIQL"]) { symbol close } }',
  );
  // GraphiQL parses the editor's text after a short pause and picks the transport from it.
  await page.waitForTimeout(500);
  const subscribed = new Promise((resolve) =>
    page.on('websocket', (ws) => ws.on('framesent', (f) => String(f.payload).includes('"subscribe"') && resolve())),
  );
  await run();
  await Promise.race([
    subscribed,
    new Promise((_, fail) => setTimeout(() => fail(new Error(`no subscription: ${JSON.stringify(report)}`)), 10000)),
  ]);
  await new Promise((r) => setTimeout(r, 300));
  const ingest = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${serviceToken}` },
    body: JSON.stringify({
      query: 'mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }',
      variables: { c: [{ time: '2026-01-05T02:00:00Z', symbol: 'GIQL', open: 1, high: 2, low: 0.5, close: 1.75, volume: '10' }] },
    }),
  });
  report.ingest = await ingest.json();
  report.subscription = await result('candles');
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
