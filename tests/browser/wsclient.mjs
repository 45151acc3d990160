// SPDX-License-Identifier: Apache-2.0
// A real third-party WebSocket client (npm's `ws`) against bearmond's
// dashboard: `check` runs the conformance session of
// tests/integration/websocket.sh, `clients` holds N subscribers open for the
// benchmark (bench/websocket). The modules come from the build directory
// (tests/browser/setup.sh): BM_NODE_MODULES names it.
import { createRequire } from 'node:module';

const require = createRequire((process.env.BM_NODE_MODULES || '.') + '/');
const WebSocket = require('ws');

const [mode, url, ...rest] = process.argv.slice(2);

function fail(msg) {
  console.error('FAIL: ' + msg);
  process.exit(1);
}

// Messages of one connection, awaited by predicate with a deadline.
function session(ws) {
  const queue = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) fail('binary message from the server');
    const msg = JSON.parse(data.toString('utf8'));
    const at = waiters.findIndex((w) => w.pred(msg));
    if (at >= 0) waiters.splice(at, 1)[0].resolve(msg);
    else queue.push(msg);
  });
  return {
    next(pred, what, ms = 15000) {
      const at = queue.findIndex(pred);
      if (at >= 0) return Promise.resolve(queue.splice(at, 1)[0]);
      return new Promise((resolve) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => { if (waiters.includes(w)) fail('timed out waiting for ' + what); }, ms);
      });
    },
  };
}

function open(u, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(u, opts);
    const s = session(ws);
    ws.once('open', () => resolve({ ws, s }));
    ws.once('unexpected-response', (req, res) => reject(new Error('HTTP ' + res.statusCode)));
    ws.once('error', reject);
  });
}

const ok = (what) => console.log('ok: ' + what);
const isType = (t) => (m) => m.type === t;

async function check() {
  // subscription by URL: one series, and alerts
  const u = url + '?series=' + encodeURIComponent('testgen_value{series="1"}') + '&events=alert,anomaly';
  const { ws, s } = await open(u);
  const hello = await s.next(isType('hello'), 'hello');
  if (hello.protocol !== 1 || !hello.metrics_interval_ms) fail('hello: ' + JSON.stringify(hello));
  const sub = await s.next(isType('subscribed'), 'subscribed');
  if (sub.series.length !== 1 || sub.events.length !== 2) fail('subscribed: ' + JSON.stringify(sub));
  ok('handshake by a real client, hello and URL subscriptions');

  // metrics every second, one series only
  const ticks = [];
  for (let i = 0; i < 3; i++) {
    const m = await s.next(isType('metrics'), 'metrics');
    if (m.series.length !== 1 || m.series[0].series !== 'testgen_value{instance="gen",series="1"}') fail('series: ' + JSON.stringify(m.series.map((x) => x.series)));
    ticks.push(Date.now());
  }
  const gap = (ticks[2] - ticks[0]) / 2;
  if (gap < 300 || gap > 3000) fail('metrics every ' + gap + ' ms, not about every second');
  ok(`metrics messages every ${Math.round(gap)} ms with exactly the subscribed series`);

  const alert = await s.next((m) => m.type === 'event' && m.topic === 'alert', 'an alert event');
  if (alert.event.labels.alertname !== 'TestgenHigh') fail('alert: ' + JSON.stringify(alert));
  ok('alert events arrive as they are published');

  // a subscribe message sent in three fragments
  const text = JSON.stringify({ type: 'subscribe', series: ['testgen_value{series=~"2|3"}'] });
  const third = Math.floor(text.length / 3);
  ws.send(text.slice(0, third), { fin: false });
  ws.send(text.slice(third, 2 * third), { fin: false });
  ws.send(text.slice(2 * third), { fin: true });
  const sub2 = await s.next(isType('subscribed'), 'subscribed after a fragmented message');
  if (sub2.series.length !== 2) fail('fragmented subscribe: ' + JSON.stringify(sub2));
  const m2 = await s.next((m) => m.type === 'metrics' && m.selector === 'testgen_value{series=~"2|3"}', 'metrics of the second selector');
  if (m2.series.length !== 2) fail('second selector: ' + JSON.stringify(m2));
  ok('fragmented client messages are reassembled');

  // unknown subscriptions: errors, the connection stays
  ws.send(JSON.stringify({ type: 'subscribe', series: ['bad{selector'], events: ['nosuch'] }));
  const e1 = await s.next(isType('error'), 'bad selector error');
  const e2 = await s.next(isType('error'), 'unknown topic error');
  if (e1.error !== 'bad selector' || e2.error !== 'unknown topic') fail('errors: ' + JSON.stringify([e1, e2]));
  ok('a bad selector and an unknown topic are refused with error messages');

  // ping and pong
  const payload = Buffer.from('bearmon-ping');
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(payload);
  const got = await pong;
  if (!got.equals(payload)) fail('pong payload ' + got.toString());
  ok('ping answered with a pong carrying the same payload');

  // closing handshake
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()])));
  ws.close(4000, 'test done');
  const [code] = await closed;
  if (code !== 4000) fail('close code ' + code);
  ok('closing handshake: the server echoes the close code');

  // another site's page may not open it
  try {
    await open(url, { origin: 'http://evil.example' });
    fail('a foreign Origin was accepted');
  } catch (e) {
    if (!/403/.test(e.message)) fail('foreign origin: ' + e.message);
  }
  const same = await open(url, { origin: new URL(url.replace(/^ws/, 'http')).origin });
  await same.s.next(isType('hello'), 'hello for the same origin');
  same.ws.close();
  ok('Origin: a foreign one is refused (403), the same origin passes');
}

// N clients, each subscribed to the selector, for SECONDS: prints one JSON
// line with the messages each received.
let closing = false;

async function clients() {
  const [nText, secondsText, selector] = rest;
  const n = Number(nText);
  const seconds = Number(secondsText);
  const counts = new Array(n).fill(0);
  const conns = [];
  // the longest wait for a metrics message on any connection: a stream
  // that stalls (or a connection that closes) shows here, not in the counts
  let maxGapMs = 0;
  for (let i = 0; i < n; i++) {
    const { ws } = await open(url + '?series=' + encodeURIComponent(selector));
    let last = Date.now();
    ws.on('message', (data) => {
      if (!data.toString().startsWith('{"type":"metrics"')) return;
      counts[i]++;
      maxGapMs = Math.max(maxGapMs, Date.now() - last);
      last = Date.now();
    });
    ws.on('close', () => { if (!closing) fail(`client ${i} closed by the server`); });
    conns.push(ws);
  }
  console.error(`clients: ${n} connected`);
  // the caller measures while we wait; report at the end
  await new Promise((r) => setTimeout(r, seconds * 1000));
  closing = true;
  for (const ws of conns) ws.close(1000);
  console.log(JSON.stringify({ clients: n, seconds, min: Math.min(...counts), max: Math.max(...counts),
    total: counts.reduce((a, b) => a + b, 0), max_gap_ms: maxGapMs }));
  process.exit(0);
}

const modes = { check, clients };
if (!modes[mode]) fail('usage: wsclient.mjs check|clients URL ...');
modes[mode]().then(() => process.exit(0), (e) => fail(e.stack || String(e)));
