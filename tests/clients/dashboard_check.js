// Drives the dashboard in headless Chromium (Debian's `chromium`, through playwright-core) for
// the cluster tests.
//
// Usage: node dashboard_check.js URL [CHROMIUM]
//   URL       a node's dashboard (http://127.0.0.1:PORT/)
//   CHROMIUM  the browser's executable (default $CHROMIUM, else /usr/bin/chromium)
// Opens the page, then reads commands on stdin, one per line, answering each with one JSON line:
//   wait-text SELECTOR TEXT   -> {"event":"seen"} once an element matching SELECTOR contains
//                                TEXT ({"event":"timeout","text":...} after 30 s)
//   count SELECTOR            -> {"event":"count","count":N}
//   screenshot PATH           -> {"event":"saved","path":PATH}  (the full page, as PNG)
//   report                    -> {"event":"report","errors":[...],"reloaded":BOOL}
//                                (console errors and uncaught exceptions so far; whether the
//                                page was loaded again since it opened)
// Starts by answering {"event":"started"} (or {"event":"error","error":...}).
'use strict';

const readline = require('readline');
const { chromium } = require('playwright-core');

const [url, chromiumPath] = process.argv.slice(2);
const say = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const executablePath = chromiumPath || process.env.CHROMIUM || '/usr/bin/chromium';

async function main() {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // No network beyond the page: the machines these tests run on have none, and Chromium's
    // background connections (updates, sync, QUIC probes) would only be refused.
    args: [
      '--no-sandbox',
      '--disable-dev-shm-usage',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // A laptop screen.
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    // The event stream is cut when the page closes; anything else failing is a bug.
    if (!r.url().includes('/admin/dashboard/events')) errors.push(`request failed: ${r.url()}`);
  });
  let loads = 0;
  page.on('load', () => {
    loads += 1;
  });
  await page.goto(url, { waitUntil: 'load' });

  const commands = readline.createInterface({ input: process.stdin });
  say({ event: 'started' });
  for await (const line of commands) {
    const [command, ...rest] = line.trim().split(' ');
    try {
      if (command === 'wait-text') {
        const [selector, ...words] = rest;
        const text = words.join(' ');
        try {
          await page.locator(selector, { hasText: text }).first().waitFor({ timeout: 30000 });
          say({ event: 'seen' });
        } catch (e) {
          say({ event: 'timeout', text, error: e.message.split('\n')[0] });
        }
      } else if (command === 'count') {
        say({ event: 'count', count: await page.locator(rest.join(' ')).count() });
      } else if (command === 'screenshot') {
        await page.screenshot({ path: rest[0], fullPage: true });
        say({ event: 'saved', path: rest[0] });
      } else if (command === 'report') {
        say({ event: 'report', errors, reloaded: loads > 1 });
      } else {
        say({ event: 'error', error: `unknown command ${command}` });
      }
    } catch (e) {
      say({ event: 'error', error: e.message });
    }
  }
  await browser.close();
}

main().catch((e) => {
  say({ event: 'error', error: e.message });
  process.exit(1);
});
