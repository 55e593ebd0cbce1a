// Drives the dashboard in headless Chromium (Debian's `chromium`, through playwright-core) for
// the cluster tests.
//
// Usage: node dashboard_check.js URL [CHROMIUM]
//   URL       a node's dashboard (http://127.0.0.1:PORT/)
//   CHROMIUM  the browser's executable (default $CHROMIUM, else /usr/bin/chromium)
//   $DASHBOARD_USER  `name:password`: signs in with HTTP Basic, as a browser's prompt would
// Opens the page, then reads commands on stdin, one per line, answering each with one JSON line:
//   wait-text SELECTOR TEXT   -> {"event":"seen"} once an element matching SELECTOR contains
//                                TEXT ({"event":"timeout","text":...} after 20 s)
//   wait-gone SELECTOR        -> {"event":"gone"} once nothing matches SELECTOR (else timeout)
//   count SELECTOR            -> {"event":"count","count":N}
//   attrs SELECTOR ATTR       -> {"event":"attrs","values":[...]} (ATTR of every match, in order)
//   click SELECTOR            -> {"event":"clicked"} (the first match, once it can be clicked)
//   fill SELECTOR TEXT        -> {"event":"filled"} (TEXT with `\n` read as a line break)
//   select SELECTOR VALUE     -> {"event":"selected"} (a <select>'s option; `-` for "")
//   text SELECTOR             -> {"event":"text","text":...} (the first match's visible text)
//   viewport WIDTH HEIGHT     -> {"event":"resized"}
//   layout                    -> {"event":"layout","scroll_width":N,"inner_width":N,
//                                 "overflowing":[...]} (tables wider than their container,
//                                 and elements reaching past the window's right edge)
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
  // A laptop screen; the user's credentials sent with every request, as a browser does once
  // its sign-in prompt was answered.
  const user = process.env.DASHBOARD_USER;
  const httpCredentials = user
    ? { username: user.slice(0, user.indexOf(':')), password: user.slice(user.indexOf(':') + 1), send: 'always' }
    : undefined;
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, httpCredentials });
  const page = await context.newPage();
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
          await page.locator(selector, { hasText: text }).first().waitFor({ timeout: 20000 });
          say({ event: 'seen' });
        } catch (e) {
          say({ event: 'timeout', text, error: e.message.split('\n')[0] });
        }
      } else if (command === 'wait-gone') {
        try {
          await page.locator(rest.join(' ')).first().waitFor({ state: 'detached', timeout: 20000 });
          say({ event: 'gone' });
        } catch (e) {
          say({ event: 'timeout', error: e.message.split('\n')[0] });
        }
      } else if (command === 'attrs') {
        const attr = rest.pop();
        const values = await page
          .locator(rest.join(' '))
          .evaluateAll((els, a) => els.map((el) => el.getAttribute(a)), attr);
        say({ event: 'attrs', values });
      } else if (command === 'click') {
        await page.locator(rest.join(' ')).first().click({ timeout: 20000 });
        say({ event: 'clicked' });
      } else if (command === 'fill') {
        const [selector, ...words] = rest;
        await page.locator(selector).first().fill(words.join(' ').replace(/\\n/g, '\n'), { timeout: 20000 });
        say({ event: 'filled' });
      } else if (command === 'select') {
        const [selector, value] = rest;
        await page.locator(selector).first().selectOption(value === '-' ? '' : value, { timeout: 20000 });
        say({ event: 'selected' });
      } else if (command === 'text') {
        say({ event: 'text', text: await page.locator(rest.join(' ')).first().innerText({ timeout: 20000 }) });
      } else if (command === 'viewport') {
        await page.setViewportSize({ width: Number(rest[0]), height: Number(rest[1]) });
        say({ event: 'resized' });
      } else if (command === 'layout') {
        say({ event: 'layout', ...(await page.evaluate(layout)) });
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

// In the page: how wide the document is against the window, and what does not fit: a table
// wider than its container, or any element reaching past the window's right edge.
function layout() {
  const describe = (el) => {
    const id = el.id ? '#' + el.id : '';
    const cls = typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '';
    return el.tagName.toLowerCase() + id + cls;
  };
  const overflowing = [];
  for (const table of document.querySelectorAll('table')) {
    const container = table.parentElement;
    if (table.getBoundingClientRect().width === 0) continue; // folded away
    if (table.scrollWidth > container.clientWidth + 1 || table.getBoundingClientRect().right > container.getBoundingClientRect().right + 1) {
      const cells = [...table.querySelectorAll('th, td')]
        .filter((c) => c.scrollWidth > c.clientWidth + 1)
        .map((c) => `${c.cellIndex}: ${c.textContent.slice(0, 40)}`);
      overflowing.push(`table in ${describe(container)}: ${table.scrollWidth} > ${container.clientWidth} (cells ${cells.join('; ')})`);
    }
  }
  // Clipped by an ancestor that ends inside the window: not visible past the edge.
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX !== 'visible' && a.getBoundingClientRect().right <= window.innerWidth + 1) return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > window.innerWidth + 1 && getComputedStyle(el).position !== 'fixed' && !clipped(el)) {
      overflowing.push(`${describe(el)} reaches ${Math.round(r.right)} px`);
    }
  }
  return {
    scroll_width: document.documentElement.scrollWidth,
    inner_width: window.innerWidth,
    overflowing: overflowing.slice(0, 20),
  };
}

main().catch((e) => {
  say({ event: 'error', error: e.message });
  process.exit(1);
});
