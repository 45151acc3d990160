// SPDX-License-Identifier: Apache-2.0
// The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), for tests/slow/browser.sh: the page loads without
// script errors, its charts get new points every second over the
// WebSocket (a chart of 50 series among them, updated cheaply), an alert
// raised by the test shows in the alerts panel, acknowledging it from the
// page works (when the rule engine runs), the polling fallback and a
// history range work, and screenshots are saved.
// Usage: node dashboard.mjs BASE_URL OUT_DIR ALERT_NAME [--ack] [--tls TLS_BASE_URL]
import { createRequire } from 'node:module';

const require = createRequire((process.env.BM_NODE_MODULES || '.') + '/');
const { chromium } = require('playwright-core');

const [base, out, alertName, ...flags] = process.argv.slice(2);
const withAck = flags.includes('--ack');
const tlsBase = flags.includes('--tls') ? flags[flags.indexOf('--tls') + 1] : null;
const CHART = 'custom-0'; // the page's first custom chart: ?chart=testgen_value

const ok = (what) => console.log('ok: ' + what);
function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function chartState(page, id) {
  return page.evaluate((c) => window.bearmon && window.bearmon.charts()[c], id);
}

// The chart gets new points in each of `seconds` consecutive seconds
// (polling, a fallback over HTTP requests on a loaded machine, may miss
// `misses` of them).
async function newPointsEverySecond(page, id, seconds, what, misses = 0) {
  let prev = await chartState(page, id);
  let missed = 0;
  for (let i = 0; i < seconds; i++) {
    await sleep(1100);
    const cur = await chartState(page, id);
    if (!cur || cur.lastX <= prev.lastX) {
      if (++missed > misses)
        fail(`${what}: chart ${id} got no new point in second ${i + 1} (${JSON.stringify(prev)} -> ${JSON.stringify(cur)})`);
      continue;
    }
    prev = cur;
  }
  return prev;
}

async function waitFor(page, fn, arg, what, ms = 20000) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 200 });
  } catch (e) {
    fail('timed out waiting for ' + what);
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1600, height: 1400 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // the page probes optional routes (rule engine, health analyzer): their
  // 404s are expected and shown in the panels, not errors
  const consoleError = (m) => {
    if (m.type() === 'error' && !/Failed to load resource: .* 404/.test(m.text())) errors.push(m.text());
  };
  page.on('console', consoleError);

  await page.goto(`${base}/?chart=testgen_value`, { waitUntil: 'load' });
  await waitFor(page, () => window.bearmon && window.bearmon.transport === 'websocket', null, 'the WebSocket');
  ok('the page loads and opens the WebSocket');

  await waitFor(page, (c) => { const s = window.bearmon.charts()[c]; return s && s.datasets === 50 && s.points > 50; }, CHART,
    'the 50 series of testgen_value');
  const st = await newPointsEverySecond(page, CHART, 5, 'live');
  // testgen's series i has the value i: history and live points must not add up
  if (st.maxY !== 49) fail(`the 50 series chart peaks at ${st.maxY}, not 49: points counted twice`);
  const cpu = await chartState(page, 'cpu');
  if (!cpu || cpu.points === 0) fail('the CPU chart has no points: ' + JSON.stringify(cpu));
  ok(`charts receive new points every second (50 series, ${st.points} points; CPU chart ${cpu.points} points)`);

  const stats = await page.evaluate(() => ({ ...window.bearmon.stats }));
  if (!(stats.updateMs < 200)) fail('chart updates take ' + stats.updateMs + ' ms per frame');
  ok(`chart updates cost ${stats.updateMs.toFixed(1)} ms per frame (${stats.updates} frames, ${stats.messages} messages)`);

  await waitFor(page, (name) => [...document.querySelectorAll('#alert-list li')].some((li) => li.textContent.includes(name)),
    alertName, 'the alert ' + alertName + ' in the alerts panel');
  ok(`the alert ${alertName} shows in the alerts panel`);
  await page.screenshot({ path: `${out}/dashboard.png`, fullPage: true });

  if (withAck) {
    const li = page.locator('#alert-list li', { hasText: alertName }).first();
    await li.locator('button.ack').click();
    await waitFor(page, (name) => [...document.querySelectorAll('#alert-list li')]
      .some((x) => x.textContent.includes(name) && x.textContent.includes('acknowledged by dashboard')), alertName,
    'the acknowledgement on the page');
    const acked = await page.evaluate(async (name) => {
      const r = await (await fetch('/api/bearmon/v1/alerts')).json();
      return r.alerts.filter((a) => a.labels.alertname === name).map((a) => a.ack && a.ack.by);
    }, alertName);
    if (!acked.length || !acked.every((by) => by === 'dashboard')) fail('the rule engine has no acknowledgement: ' + JSON.stringify(acked));
    ok('acknowledging from the page reaches the rule engine');
    await page.screenshot({ path: `${out}/acknowledged.png`, fullPage: true });

    await page.locator('#alert-list li', { hasText: alertName }).first().locator('button.silence').click();
    await waitFor(page, () => document.querySelector('#alerts-note').textContent.startsWith('silenced'), null,
      'the silence on the page');
    const silences = await page.evaluate(async () => JSON.stringify(await (await fetch('/api/bearmon/v1/silences')).json()));
    if (!silences.includes(alertName)) fail('the rule engine has no silence for ' + alertName + ': ' + silences);
    ok('silencing from the page reaches the rule engine');
  }

  await page.click('#ranges button[data-range="1h"]');
  await waitFor(page, () => document.querySelector('#ranges button.active').dataset.range === '1h', null, 'the 1 h range');
  await waitFor(page, (c) => window.bearmon.charts()[c].points > 0, CHART, 'history points');
  await page.screenshot({ path: `${out}/history-1h.png`, fullPage: true });
  ok('the 1 h range draws history from the store');

  // the fallback when no WebSocket can be opened (a TLS listener): polling
  const polled = await context.newPage();
  polled.on('pageerror', (e) => errors.push(String(e)));
  polled.on('console', consoleError);
  await polled.goto(`${base}/?transport=poll&chart=testgen_value`, { waitUntil: 'load' });
  await waitFor(polled, () => window.bearmon && window.bearmon.transport === 'polling', null, 'polling');
  await waitFor(polled, (c) => window.bearmon.charts()[c].points > 0, CHART, 'polled points');
  const pst = await newPointsEverySecond(polled, CHART, 4, 'polling', 1);
  if (pst.maxY !== 49) fail(`polling: the chart peaks at ${pst.maxY}, not 49`);
  await polled.screenshot({ path: `${out}/polling.png`, fullPage: true });
  ok('polling the JSON routes keeps the charts live');

  if (tlsBase) {
    // a TLS listener cannot hand the WebSocket over: the page must poll
    const tlsContext = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1600, height: 1400 } });
    const tls = await tlsContext.newPage();
    tls.on('pageerror', (e) => errors.push(String(e)));
    await tls.goto(`${tlsBase}/?chart=testgen_value`, { waitUntil: 'load' });
    await waitFor(tls, () => window.bearmon && window.bearmon.transport === 'polling', null, 'polling over TLS');
    await waitFor(tls, (c) => window.bearmon.charts()[c].points > 0, CHART, 'points over TLS');
    await newPointsEverySecond(tls, CHART, 4, 'TLS polling', 1);
    await tls.screenshot({ path: `${out}/tls-polling.png`, fullPage: true });
    ok('over TLS the WebSocket is refused and the page polls, live every second');
  }

  if (errors.length) fail('errors in the page: ' + errors.join(' | '));
  ok('no script errors');
  await browser.close();
}

main().catch((e) => fail(e.stack || String(e)));
