// Debian's headless Chromium through playwright-core, allowed to reach loopback only: every
// request for another origin is refused and listed in `report.foreign`, loopback ones in
// `report.requests`, and console errors in `report.consoleErrors`.
import { chromium } from 'playwright-core';

const loopback = (u) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(u).hostname);

/** A browser and a page on it; close the browser when done. */
export async function offlinePage(report, viewport = { width: 1280, height: 720 }) {
  Object.assign(report, { requests: [], foreign: [], consoleErrors: [] });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Without the background-networking switches Chromium calls home at every start.
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport });
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
  return { browser, page };
}
