// SPDX-License-Identifier: Apache-2.0
// The bearmon dashboard: live series and events over the WebSocket
// /api/bearmon/v1/ws (or, when it cannot be opened, e.g. behind TLS, by
// polling the JSON routes every second), history from the store's range
// route, and every panel of the page. Charts are Debian's Chart.js with
// animation off, decimation and update('none'), so fifty series updating
// every second stay cheap. No framework: plain DOM, text only (no HTML
// from data).
'use strict';

(() => {
  const API = '/api/bearmon/v1';
  const LIVE_WINDOW_MS = 15 * 60 * 1000;  // live charts keep this much
  const BACKFILL_MS = 10 * 60 * 1000;     // fetched from the store on (re)connect
  const BACKFILL_STEP_MS = 5000;
  const RANGES = {                        // history: span and step (a rollup tier's multiple)
    '1h': [3600e3, 15e3],
    '24h': [86400e3, 300e3],
    '30d': [30 * 86400e3, 3 * 3600e3],
  };
  const LIST_MAX = 100;
  const params = new URLSearchParams(location.search);

  // --- access token (only where the daemon has tokens): #token=... ---------
  const tokenFromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (tokenFromHash) {
    sessionStorage.setItem('bearmon-token', tokenFromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = sessionStorage.getItem('bearmon-token');

  async function request(path, opts = {}) {
    const headers = Object.assign({}, opts.headers || {});
    if (token) headers.Authorization = 'Bearer ' + token;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, {
      method: opts.method || 'GET', headers, cache: 'no-store',
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, ok: r.ok, body };
  }

  // --- small helpers ---------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmtTime(ms) {
    const d = new Date(ms);
    const span = state.range === 'live' ? 0 : RANGES[state.range][0];
    if (span > 2 * 86400e3) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: span ? undefined : '2-digit', hour12: false });
  }

  function fmtUnit(v, unit) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '–';
    const abs = Math.abs(v);
    if (unit === 'bytes' || unit === 'bytes/s') {
      const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let i = 0;
      let x = v;
      while (Math.abs(x) >= 1024 && i < u.length - 1) { x /= 1024; i++; }
      return x.toFixed(x >= 100 || i === 0 ? 0 : 1) + ' ' + u[i] + (unit === 'bytes/s' ? '/s' : '');
    }
    if (unit === 'ratio') return (v * 100).toFixed(abs < 0.1 ? 2 : 1) + ' %';
    if (unit === 's') return abs < 1 ? (v * 1000).toFixed(abs < 0.01 ? 2 : 0) + ' ms' : v.toFixed(2) + ' s';
    if (abs >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (abs >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    return Number(v.toPrecision(3)).toString();
  }

  // name{a="x",b="y"} -> {name, labels}
  function parseSeries(text) {
    const open = text.indexOf('{');
    const name = open < 0 ? text : text.slice(0, open);
    const labels = {};
    if (open >= 0) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let m;
      while ((m = re.exec(text.slice(open))) !== null)
        labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    return { name, labels };
  }

  function seriesKeyOf(ref) { // an event's {name, labels}
    if (!ref || !ref.name) return null;
    const l = ref.labels || {};
    const body = Object.keys(l).sort().map((k) => k + '="' + String(l[k]).replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n') + '"');
    return ref.name + '{' + body.join(',') + '}';
  }

  function labelsText(labels) {
    return Object.keys(labels).sort().map((k) => k + '=' + labels[k]).join(' ') || '(no labels)';
  }

  // --- state -------------------------------------------------------------------
  const state = {
    transport: 'connecting',
    range: 'live',
    charts: [],            // see makeChart
    selToSpecs: new Map(), // canonical selector -> [{chart, spec}]
    ws: null,
    wsFailures: 0,
    wsOpenedOnce: false,
    pendingCustom: [],     // custom charts waiting for their selector's canonical text
    alertsEnabled: null,
    alertsLive: new Map(), // fingerprint -> alert event (when alerting is not enabled)
    lists: {},             // list id -> [{key, node}]
    stats: { updates: 0, updateMs: 0, messages: 0, points: 0 },
  };

  // --- charts -----------------------------------------------------------------
  const palette = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff7b72',
    '#e3b341', '#7ee787', '#a5d6ff', '#ffa657', '#d2a8ff'];

  // Built-in charts. A spec: metric, optional selector suffix and client-side
  // filter (the same matchers, for history), rate for counters, and the
  // dataset a series goes to (series of one group are summed per timestamp).
  const BUILTIN = [
    { id: 'cpu', parent: 'resource-charts', title: 'CPU busy (cores, by mode)', unit: 'cores',
      specs: [{ metric: 'node_cpu_seconds_total', sel: '{mode!="idle"}', filter: (l) => l.mode !== 'idle', rate: true, group: (l) => l.mode }] },
    { id: 'memory', parent: 'resource-charts', title: 'Memory', unit: 'bytes',
      specs: [{ metric: 'node_memory_MemTotal_bytes', group: () => 'total' },
        { metric: 'node_memory_MemAvailable_bytes', group: () => 'available' },
        { metric: 'node_memory_Cached_bytes', group: () => 'cached' }] },
    { id: 'pressure', parent: 'resource-charts', title: 'Pressure stall (some, 10 s average)', unit: 'ratio',
      specs: [{ metric: 'bearmon_pressure_avg_ratio', sel: '{kind="some",window="10s"}', filter: (l) => l.kind === 'some' && l.window === '10s', group: (l) => l.resource }] },
    { id: 'disk', parent: 'resource-charts', title: 'Disk I/O', unit: 'bytes/s',
      specs: [{ metric: 'node_disk_read_bytes_total', rate: true, group: (l) => 'read ' + l.device },
        { metric: 'node_disk_written_bytes_total', rate: true, group: (l) => 'write ' + l.device }] },
    { id: 'network', parent: 'resource-charts', title: 'Network', unit: 'bytes/s',
      specs: [{ metric: 'node_network_receive_bytes_total', sel: '{device!="lo"}', filter: (l) => l.device !== 'lo', rate: true, group: (l) => 'rx ' + l.device },
        { metric: 'node_network_transmit_bytes_total', sel: '{device!="lo"}', filter: (l) => l.device !== 'lo', rate: true, group: (l) => 'tx ' + l.device }] },
    { id: 'gpu', parent: 'resource-charts', title: 'GPU utilisation', unit: 'ratio',
      specs: [{ metric: 'bearmon_gpu_utilization_ratio', group: (l) => 'gpu ' + l.gpu }] },
    { id: 'agent-throughput', parent: 'agent-charts', title: 'Agent throughput', unit: 'tasks/s',
      specs: [{ metric: 'agent_task_throughput', group: (l) => l.agent || 'all' }] },
    { id: 'agent-latency', parent: 'agent-charts', title: 'Agent latency p95', unit: 's',
      specs: [{ metric: 'agent_task_duration_seconds', sel: '{quantile="0.95"}', filter: (l) => l.quantile === '0.95', group: (l) => l.agent || 'all' }] },
  ];

  function specSelector(spec) { return spec.metric + (spec.sel || ''); }

  function makeChart(def) {
    const box = el('div', 'chart');
    box.dataset.chart = def.id;
    const h = el('h3');
    h.append(el('span', null, def.title));
    const canvasBox = el('div', 'canvas-box');
    const canvas = el('canvas');
    canvasBox.append(canvas);
    box.append(h, canvasBox);
    $(def.parent).append(box);
    const chart = {
      id: def.id, def, box, unit: def.unit, groups: new Map(), last: new Map(), seen: new Map(),
      dirty: false, anomalies: null, forecasts: new Map(), cj: null, gen: 0,
    };
    if (def.removable) {
      const x = el('button', 'close', '×');
      x.type = 'button';
      x.title = 'remove chart';
      x.addEventListener('click', () => removeChart(chart));
      h.append(x);
    }
    if (typeof Chart !== 'undefined') {
      chart.cj = new Chart(canvas, {
        type: 'line',
        data: { datasets: [] },
        options: {
          animation: false, parsing: false, normalized: true, spanGaps: true,
          responsive: true, maintainAspectRatio: false,
          interaction: { mode: 'nearest', axis: 'x', intersect: false },
          elements: { point: { radius: 0 }, line: { borderWidth: 1.5, tension: 0 } },
          scales: {
            x: { type: 'linear', ticks: { callback: (v) => fmtTime(v), maxTicksLimit: 6, color: '#8a96a3' }, grid: { color: '#2a323c' } },
            y: { ticks: { callback: (v) => fmtUnit(v, def.unit), maxTicksLimit: 5, color: '#8a96a3' }, grid: { color: '#2a323c' } },
          },
          plugins: {
            decimation: { enabled: true, algorithm: 'lttb', samples: 400 },
            legend: { display: true, position: 'bottom', labels: { boxWidth: 8, color: '#d8dee6', filter: (item) => !item.text.startsWith('~') } },
            tooltip: { callbacks: { title: (items) => (items.length ? new Date(items[0].parsed.x).toLocaleString() : ''),
              label: (item) => item.dataset.label + ': ' + fmtUnit(item.parsed.y, def.unit) } },
          },
        },
      });
    }
    state.charts.push(chart);
    for (const spec of def.specs) bindSelector(chart, spec, specSelector(spec));
    return chart;
  }

  function bindSelector(chart, spec, text) {
    if (!state.selToSpecs.has(text)) state.selToSpecs.set(text, []);
    state.selToSpecs.get(text).push({ chart, spec });
  }

  function removeChart(chart) {
    state.charts = state.charts.filter((c) => c !== chart);
    for (const [sel, list] of state.selToSpecs) {
      const kept = list.filter((e) => e.chart !== chart);
      if (kept.length) {
        state.selToSpecs.set(sel, kept);
      } else {
        state.selToSpecs.delete(sel);
        wsSend({ type: 'unsubscribe', series: [sel] });
      }
    }
    if (chart.cj) chart.cj.destroy();
    chart.box.remove();
  }

  function dataset(chart, group) {
    let ds = chart.groups.get(group);
    if (ds) return ds;
    const color = palette[chart.groups.size % palette.length];
    ds = { label: group, data: [], borderColor: color, backgroundColor: color, fill: false };
    chart.groups.set(group, ds);
    if (chart.cj) {
      chart.cj.data.datasets.push(ds);
      // a legend of dozens of series would hide the chart: tooltips name them
      chart.cj.options.plugins.legend.display = chart.groups.size <= 12;
    }
    return ds;
  }

  // Add y at x, summed into a point of the same x (series of one group).
  function addPoint(ds, x, y) {
    const d = ds.data;
    let i = d.length - 1;
    while (i >= 0 && d[i].x > x) i--;
    if (i >= 0 && d[i].x === x) d[i].y += y;
    else d.splice(i + 1, 0, { x, y });
  }

  function trim(chart, now) {
    if (state.range !== 'live') return;
    const from = now - LIVE_WINDOW_MS;
    for (const ds of chart.groups.values()) {
      let n = 0;
      while (n < ds.data.length && ds.data[n].x < from) n++;
      if (n) ds.data.splice(0, n);
    }
  }

  // Points of one series into the chart: rates for counters, in order,
  // each point once whatever the path it came by (WebSocket, poll, history).
  function ingest(chart, spec, key, labels, points) {
    if (spec.filter && !spec.filter(labels)) return;
    const group = spec.group ? spec.group(labels) : labelsText(labels);
    const ds = dataset(chart, group);
    const seen = chart.seen.get(key) || 0;
    for (const [ts, v] of points) {
      if (ts <= seen || v === null || !Number.isFinite(v)) continue;
      chart.seen.set(key, ts);
      let y = v;
      if (spec.rate) {
        const prev = chart.last.get(key);
        chart.last.set(key, [ts, v]);
        if (!prev || ts <= prev[0]) continue;
        y = (v >= prev[1] ? v - prev[1] : v) / ((ts - prev[0]) / 1000);
      }
      addPoint(ds, ts, y);
      state.stats.points++;
    }
    chart.dirty = true;
  }

  // Empty a chart; fills still in flight for its old contents see the
  // generation change and drop what they fetched.
  function clearChart(chart) {
    chart.gen++;
    for (const ds of chart.groups.values()) ds.data.length = 0;
    if (chart.anomalies) chart.anomalies.data.length = 0;
    chart.last.clear();
    chart.seen.clear();
    chart.dirty = true;
  }

  // One Chart.js update per changed chart per frame.
  function render() {
    const t0 = performance.now();
    const now = Date.now();
    let n = 0;
    for (const c of state.charts) {
      if (!c.dirty) continue;
      c.dirty = false;
      trim(c, now);
      if (c.cj) {
        if (state.range === 'live') {
          c.cj.options.scales.x.min = now - LIVE_WINDOW_MS;
          c.cj.options.scales.x.max = now;
        }
        c.cj.update('none');
      }
      n++;
    }
    if (n) {
      const ms = performance.now() - t0;
      state.stats.updates++;
      state.stats.updateMs = state.stats.updateMs ? 0.8 * state.stats.updateMs + 0.2 * ms : ms;
    }
    requestAnimationFrame(render);
  }

  // Every chart and spec that a series (by its key) belongs to.
  function chartsOfSeries(key) {
    const { name, labels } = parseSeries(key);
    const out = [];
    for (const c of state.charts)
      for (const spec of c.def.specs)
        if (spec.metric === name && specTakes(spec, labels)) out.push({ chart: c, spec, labels });
    return out;
  }

  // A series' labels pass a spec's filter (built-in) or exact matchers (custom).
  function specTakes(spec, labels) {
    if (spec.custom) return Object.entries(spec.exact || {}).every(([k, v]) => labels[k] === v);
    return !spec.filter || spec.filter(labels);
  }

  // --- history and back-fill from the store ----------------------------------
  async function seriesOf(spec) {
    const r = await request(API + '/series?name=' + encodeURIComponent(spec.metric));
    if (!r.ok || !r.body) return [];
    return (r.body.series || []).map((s) => ({ id: s.id, key: s.series, ...parseSeries(s.series) }))
      .filter((s) => !spec.filter || spec.filter(s.labels));
  }

  // History of every series of a chart, one point per step window. A
  // series' live points at or before its last window are covered by it:
  // `seen` makes ingest skip them, so nothing is counted twice.
  async function fillChart(chart, start, end, step) {
    const gen = chart.gen;
    for (const spec of chart.def.specs) {
      const list = spec.custom ? await customSeries(spec) : await seriesOf(spec);
      await Promise.all(list.map(async (s) => {
        const q = `?id=${s.id}&start=${start}&end=${end}&step=${step}&agg=${spec.rate ? 'increase' : 'avg'}`;
        const r = await request(API + '/range' + q);
        if (!r.ok || !r.body || chart.gen !== gen) return;
        const pts = (r.body.points || []).map(([ts, v]) => [ts, typeof v === 'number' ? (spec.rate ? v / (step / 1000) : v) : null]);
        const group = spec.group ? spec.group(s.labels) : labelsText(s.labels);
        const ds = dataset(chart, group);
        for (const [ts, v] of pts) if (v !== null) addPoint(ds, ts, v);
        if (pts.length) chart.seen.set(s.key, Math.max(chart.seen.get(s.key) || 0, pts[pts.length - 1][0]));
      }));
    }
    chart.dirty = true;
  }

  // A custom chart's series: by name from the store, then the exact
  // matchers of its selector; regular expressions are left to the live path.
  async function customSeries(spec) {
    return (await seriesOf({ metric: spec.metric })).filter((s) => specTakes(spec, s.labels));
  }

  async function backfill() {
    const end = Date.now();
    await Promise.all(state.charts.map(async (c) => {
      clearChart(c);
      await fillChart(c, end - BACKFILL_MS, end, BACKFILL_STEP_MS);
    }));
  }

  async function showRange(range) {
    state.range = range;
    for (const b of document.querySelectorAll('#ranges button')) b.classList.toggle('active', b.dataset.range === range);
    if (range === 'live') {
      for (const c of state.charts) if (c.cj) { delete c.cj.options.scales.x.min; delete c.cj.options.scales.x.max; }
      await backfill();
      return;
    }
    const [span, step] = RANGES[range];
    const end = Date.now();
    await Promise.all(state.charts.map(async (c) => {
      clearChart(c);
      if (c.cj) { c.cj.options.scales.x.min = end - span; c.cj.options.scales.x.max = end; }
      await fillChart(c, end - span, end, step);
    }));
  }

  // --- live data: WebSocket -----------------------------------------------------
  function setTransport(t) {
    state.transport = t;
    const b = $('transport');
    b.dataset.state = t;
    b.textContent = t === 'websocket' ? 'live (WebSocket)' : t === 'polling' ? 'live (polling)' : t;
  }

  function wsSend(msg) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
  }

  function subscribeAll() {
    const series = [...state.selToSpecs.keys(), ...state.pendingCustom.map((p) => p.text)];
    wsSend({ type: 'subscribe', series, events: ['*'] });
  }

  function onMetrics(msg) {
    if (state.range !== 'live') return;
    const targets = state.selToSpecs.get(msg.selector) || [];
    for (const s of msg.series || [])
      for (const { chart, spec } of targets) ingest(chart, spec, s.series, s.labels || parseSeries(s.series).labels, s.points || []);
  }

  // The server names each selector by its canonical text: bind the custom
  // charts that waited for theirs.
  function onSubscribed(msg) {
    const mapping = msg.mapping || {};
    state.pendingCustom = state.pendingCustom.filter((p) => {
      const canonical = mapping[p.text];
      if (canonical === undefined) return true;
      bindSelector(p.chart, p.spec, canonical);
      return false;
    });
  }

  function onWsMessage(ev) {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    state.stats.messages++;
    switch (msg.type) {
      case 'hello': break;
      case 'metrics': onMetrics(msg); break;
      case 'event': onEvent(msg.topic, msg.event); break;
      case 'events': for (const e of msg.events || []) onEvent(msg.topic, e); break;
      case 'subscribed': onSubscribed(msg); break;
      case 'error':
        $('selector-error').textContent = msg.error + (msg.detail ? ': ' + msg.detail : '');
        break;
      default: break;
    }
  }

  function connect() {
    if (params.get('transport') === 'poll') { startPolling(); return; }
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + API + '/ws';
    let opened = false;
    let ws;
    try { ws = new WebSocket(url); } catch (e) { wsFailed(); return; }
    state.ws = ws;
    ws.onopen = () => {
      opened = true;
      state.wsOpenedOnce = true;
      state.wsFailures = 0;
      stopPolling();
      setTransport('websocket');
      subscribeAll();
      if (state.range === 'live') backfill();
      refreshLists();
    };
    ws.onmessage = onWsMessage;
    ws.onclose = () => {
      state.ws = null;
      if (!opened) { wsFailed(); return; }
      setTransport('disconnected');
      setTimeout(connect, 1000);
    };
  }

  // The WebSocket cannot be opened (TLS listener, a proxy, tokens): poll
  // the JSON routes, and try the WebSocket again now and then.
  function wsFailed() {
    state.wsFailures++;
    if (state.wsFailures >= 2 || !state.wsOpenedOnce) startPolling();
    else setTransport('disconnected');
    setTimeout(connect, Math.min(30000, 1000 * 2 ** Math.min(state.wsFailures, 5)));
  }

  // --- live data: polling -------------------------------------------------------
  const poll = { timer: null, since: new Map(), lastExport: 0, tick: 0, busy: false };

  function startPolling() {
    if (poll.timer) return;
    setTransport('polling');
    poll.lastExport = Date.now() - 5000;
    if (state.range === 'live') backfill();
    refreshLists();
    poll.timer = setInterval(pollOnce, 1000);
  }

  function stopPolling() {
    if (poll.timer) clearInterval(poll.timer);
    poll.timer = null;
  }

  // OpenMetrics text of /export: "name{labels} value ts_seconds" lines.
  function parseExport(text) {
    const bySeries = new Map();
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const m = /^(\S+?(?:\{.*\})?) (\S+) (\S+)$/.exec(line);
      if (!m) continue;
      const key = m[1].includes('{') ? m[1] : m[1] + '{}';
      const v = Number(m[2]);
      const ts = Math.round(Number(m[3]) * 1000);
      if (!bySeries.has(key)) bySeries.set(key, []);
      bySeries.get(key).push([ts, Number.isFinite(v) ? v : null]);
    }
    return bySeries;
  }

  async function pollMetrics() {
    if (state.range !== 'live') return;
    const start = poll.lastExport - 2000;
    poll.lastExport = Date.now();
    const names = new Set();
    for (const c of state.charts) for (const s of c.def.specs) names.add(s.metric);
    await Promise.all([...names].map(async (name) => {
      const r = await fetch(`${API}/export?name=${encodeURIComponent(name)}&start=${start}`,
        { headers: token ? { Authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
      if (!r.ok) return;
      for (const [key, pts] of parseExport(await r.text())) {
        const { labels } = parseSeries(key);
        for (const c of state.charts)
          for (const spec of c.def.specs)
            if (spec.metric === name && specTakes(spec, labels)) ingest(c, spec, key, labels, pts);
      }
    }));
  }

  // Event routes polled, with the topic they carry.
  const EVENT_ROUTES = [
    ['alert', API + '/alerts/history', 1], ['anomaly', API + '/anomalies', 1],
    ['action', API + '/actions/history', 1], ['bottleneck', API + '/events?topic=bottleneck', 5],
    ['health', API + '/events?topic=health', 5], ['agent', null, 0],
    ['trend', API + '/events?topic=trend', 30], ['forecast', API + '/events?topic=forecast', 30],
    ['recommendation', API + '/recommendations', 30],
  ];

  async function pollEvents() {
    await Promise.all(EVENT_ROUTES.filter(([, url, every]) => url && poll.tick % every === 0).map(async ([topic, url]) => {
      const since = poll.since.get(topic) || Date.now() - 60000;
      const r = await request(url + (url.includes('?') ? '&' : '?') + 'limit=100&since=' + since);
      if (!r.ok || !r.body) return;
      const evs = (r.body.events || []).slice().reverse();
      for (const e of evs) {
        poll.since.set(topic, Math.max(poll.since.get(topic) || 0, e.ts_ms + 1));
        onEvent(topic, e.event);
      }
    }));
  }

  async function pollOnce() {
    if (poll.busy) return; // the last round is still out: do not pile up
    poll.busy = true;
    poll.tick++;
    try {
      await Promise.all([pollMetrics(), pollEvents()]);
      if (state.transport !== 'polling') setTransport('polling');
    } catch (e) {
      setTransport('disconnected');
    } finally {
      poll.busy = false;
    }
  }

  // --- events ------------------------------------------------------------------
  function onEvent(topic, ev) {
    if (!ev) return;
    switch (topic) {
      case 'alert': onAlert(ev); break;
      case 'anomaly': onAnomaly(ev); break;
      case 'bottleneck': upsert('bottleneck-list', ev.id || ev.resource, bottleneckItem(ev)); break;
      case 'recommendation': upsert('recommendation-list', ev.id, recommendationItem(ev)); break;
      case 'trend': upsert('trend-list', 'trend ' + seriesKeyOf(ev.series), trendItem(ev)); break;
      case 'forecast': onForecast(ev); break;
      case 'action': upsert('action-list', ev.id, actionItem(ev)); break;
      case 'health': onHealthEvent(ev); break;
      case 'insight': upsert('bottleneck-list', 'insight ' + (ev.id || ev.title), insightItem(ev)); break;
      default: break;
    }
  }

  // Keep a list keyed (newest on top), bounded.
  function upsert(listId, key, node) {
    const ul = $(listId);
    const list = state.lists[listId] || (state.lists[listId] = []);
    const at = key ? list.findIndex((e) => e.key === key) : -1;
    if (at >= 0) { list[at].node.remove(); list.splice(at, 1); }
    list.unshift({ key, node });
    ul.prepend(node);
    while (list.length > LIST_MAX) list.pop().node.remove();
  }

  function item(title, meta, status) {
    const li = el('li');
    const t = el('div', 'title', title);
    if (status) t.dataset.status = status;
    li.append(t);
    for (const m of meta.filter(Boolean)) li.append(el('div', 'meta', m));
    return li;
  }

  const when = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '');

  function bottleneckItem(b) {
    const li = item(`${b.resource} — ${b.kind || ''}`, [b.summary, b.recommendation && 'do: ' + b.recommendation,
      `impact ${fmtUnit(b.impact, 'ratio')} · confidence ${fmtUnit(b.confidence, 'ratio')} · ${when(b.ts_ms)}`], b.severity);
    for (const e of b.evidence || []) li.append(el('div', 'meta', '· ' + (e.text || seriesKeyOf(e.series) || '')));
    return li;
  }

  function insightItem(i) {
    return item(i.title, [i.text, `${i.category || 'insight'} · ${when(i.ts_ms)}`], i.severity);
  }

  function recommendationItem(r) {
    const steps = (r.steps || []).map((s) => `${s.action && s.action.actuator} ${s.action && s.action.target || ''}`).join(', ');
    return item(`${r.strategy || 'plan'} ${r.id}`, [r.why, steps && 'steps: ' + steps,
      `score ${fmtUnit(r.score)} · benefit ${fmtUnit(r.benefit, 'ratio')} · risk ${fmtUnit(r.risk, 'ratio')} · ${r.mode || ''} · ${when(r.ts_ms)}`]);
  }

  function trendItem(t) {
    const arrow = t.direction === 'increasing' ? '↗' : t.direction === 'decreasing' ? '↘' : '→';
    return item(`${arrow} ${seriesKeyOf(t.series)}`, [`slope ${fmtUnit(t.slope_per_s)}/s · change ${fmtUnit(t.rel_change, 'ratio')} · p ${fmtUnit(t.p_value)} · ${when(t.ts_ms)}`]);
  }

  function actionItem(a) {
    const spec = a.action || {};
    const li = item(`${a.state} ${spec.actuator || ''} ${spec.target || ''}`, [a.reason, a.error && 'error: ' + a.error,
      `${a.dry_run ? 'dry run · ' : ''}approved by ${a.approved_by || '–'} · ${when(a.ts_ms)}`], a.state === 'failed' ? 'critical' : undefined);
    if (a.state === 'executed' && !a.dry_run) {
      const row = el('div', 'buttons');
      const b = el('button', null, 'roll back');
      b.type = 'button';
      b.addEventListener('click', async () => {
        b.disabled = true;
        const r = await request(`${API}/actions/${encodeURIComponent(a.id)}/rollback`, { method: 'POST', body: {} });
        $('actions-note').textContent = r.status === 404 ? 'optimizer not enabled (no rollback route)' : r.ok ? 'rollback requested' : 'rollback failed: ' + ((r.body && r.body.error) || r.status);
      });
      row.append(b);
      li.append(row);
    }
    return li;
  }

  function onAnomaly(a) {
    const key = seriesKeyOf(a.series);
    upsert('anomaly-list', key + ' ' + a.ts_ms, item(key, [`value ${fmtUnit(a.value)} · expected ${fmtUnit(a.expected)} [${fmtUnit(a.lower)}, ${fmtUnit(a.upper)}] · score ${fmtUnit(a.score)} · ${a.detector} · ${when(a.ts_ms)}`, a.reason], 'warning'));
    for (const { chart, spec, labels } of chartsOfSeries(key)) {
      const group = spec.group ? spec.group(labels) : labelsText(labels);
      const ds = chart.groups.get(group);
      if (!ds || !ds.data.length) continue;
      let y = ds.data[ds.data.length - 1].y; // where the line is at that time
      for (let i = ds.data.length - 1; i >= 0; i--) if (ds.data[i].x <= a.ts_ms) { y = ds.data[i].y; break; }
      if (!chart.anomalies) {
        chart.anomalies = { label: '~anomalies', type: 'scatter', data: [], pointRadius: 5, borderColor: '#f85149', backgroundColor: '#f85149', showLine: false };
        if (chart.cj) chart.cj.data.datasets.push(chart.anomalies);
      }
      chart.anomalies.data.push({ x: a.ts_ms, y });
      if (chart.anomalies.data.length > 200) chart.anomalies.data.shift();
      chart.dirty = true;
    }
  }

  // A forecast of a charted gauge: its band (lower..upper) and point forecast.
  function onForecast(f) {
    const key = seriesKeyOf(f.series);
    upsert('trend-list', 'forecast ' + key, item(`forecast ${key}`, [`${f.model} · ${f.trend || ''} · confidence ${fmtUnit(f.confidence, 'ratio')}` +
      (f.has_threshold && f.time_to_threshold_ms >= 0 ? ` · crosses ${fmtUnit(f.threshold)} in ${Math.round(f.time_to_threshold_ms / 60000)} min` : '')]));
    for (const { chart, spec, labels } of chartsOfSeries(key)) {
      if (spec.rate || !chart.cj) continue;
      const group = spec.group ? spec.group(labels) : labelsText(labels);
      let fc = chart.forecasts.get(group);
      if (!fc) {
        const color = (chart.groups.get(group) || {}).borderColor || '#8a96a3';
        fc = {
          lower: { label: '~lower', data: [], borderWidth: 0, pointRadius: 0, fill: false, borderColor: color },
          upper: { label: '~upper', data: [], borderWidth: 0, pointRadius: 0, fill: '-1', borderColor: color, backgroundColor: color + '33' },
          yhat: { label: '~forecast ' + group, data: [], borderDash: [4, 3], pointRadius: 0, borderColor: color, fill: false },
        };
        chart.forecasts.set(group, fc);
        chart.cj.data.datasets.push(fc.lower, fc.upper, fc.yhat);
      }
      const pts = f.points || [];
      fc.lower.data = pts.map((p) => ({ x: p.ts_ms, y: p.lower }));
      fc.upper.data = pts.map((p) => ({ x: p.ts_ms, y: p.upper }));
      fc.yhat.data = pts.map((p) => ({ x: p.ts_ms, y: p.yhat }));
      chart.dirty = true;
    }
  }

  // --- alerts ------------------------------------------------------------------
  function onAlert(a) {
    if (state.alertsEnabled) { scheduleAlerts(); return; }
    if (a.state === 'resolved') state.alertsLive.delete(a.fingerprint);
    else state.alertsLive.set(a.fingerprint, a);
    renderAlerts([...state.alertsLive.values()], false);
  }

  let alertsTimer = null;
  function scheduleAlerts() {
    if (!alertsTimer) alertsTimer = setTimeout(() => { alertsTimer = null; refreshAlerts(); }, 300);
  }

  async function refreshAlerts() {
    const r = await request(API + '/alerts');
    if (r.status === 404) {
      state.alertsEnabled = false;
      $('alerts-note').textContent = 'alerting not enabled: alerts below come from the event stream, without acknowledge or silence';
      renderAlerts([...state.alertsLive.values()], false);
      return;
    }
    if (!r.ok || !r.body) return;
    if (state.alertsEnabled === false) $('alerts-note').textContent = ''; // alerting came up
    state.alertsEnabled = true;
    const list = Array.isArray(r.body) ? r.body : r.body.alerts || r.body.data || [];
    renderAlerts(list, true);
  }

  function alertName(a) { return (a.labels && a.labels.alertname) || a.rule_name || a.rule_id || a.fingerprint; }

  function renderAlerts(list, actions) {
    const ul = $('alert-list');
    ul.textContent = '';
    if (!list.length) ul.append(el('li', 'muted', 'no active alerts'));
    for (const a of list) {
      const labels = Object.assign({}, a.labels || {});
      delete labels.alertname;
      const acked = a.ack && a.ack.by;
      const li = item(`${alertName(a)} — ${a.state}`, [labelsText(labels),
        (a.annotations && (a.annotations.summary || a.annotations.description)) || '',
        `value ${fmtUnit(a.value)} · since ${when(a.active_since_ms || a.ts_ms)}` + (acked ? ` · acknowledged by ${a.ack.by}` : '') + (a.silenced ? ' · silenced' : '')],
      a.severity);
      li.dataset.fingerprint = a.fingerprint;
      if (actions) li.append(alertButtons(a, acked));
      ul.append(li);
    }
  }

  function alertButtons(a, acked) {
    const row = el('div', 'buttons');
    const ack = el('button', 'ack', acked ? 'acknowledged' : 'acknowledge');
    ack.type = 'button';
    ack.disabled = !!acked;
    ack.addEventListener('click', async () => {
      ack.disabled = true;
      const r = await request(`${API}/alerts/${encodeURIComponent(a.fingerprint)}/ack`, { method: 'POST', body: { by: 'dashboard', comment: 'acknowledged from the dashboard' } });
      $('alerts-note').textContent = r.ok ? '' : 'acknowledge failed: ' + ((r.body && r.body.error) || r.status);
      refreshAlerts();
    });
    const dur = el('select');
    for (const d of ['1h', '4h', '24h']) dur.append(el('option', null, d));
    const sil = el('button', 'silence', 'silence');
    sil.type = 'button';
    sil.addEventListener('click', async () => {
      sil.disabled = true;
      const name = alertName(a).replace(/[\\"]/g, '\\$&');
      const r = await request(API + '/silences', { method: 'POST', body: { matchers: `{alertname="${name}"}`, duration: dur.value, comment: 'silenced from the dashboard', created_by: 'dashboard' } });
      $('alerts-note').textContent = r.ok ? `silenced ${alertName(a)} for ${dur.value}` : 'silence failed: ' + ((r.body && r.body.error) || r.status);
      refreshAlerts();
    });
    row.append(ack, dur, sil);
    return row;
  }

  // --- health, figures, agents, lists -------------------------------------------
  function renderHealth(h) {
    if (!h) return;
    const o = h.overall || {};
    const s = $('health-overall');
    s.textContent = Number.isFinite(o.score) ? Math.round(o.score) : '–';
    s.dataset.status = o.status || 'unknown';
    s.title = (o.reasons || []).map((r) => r.text).join('\n');
    const ul = $('health-components');
    ul.textContent = '';
    for (const c of h.components || []) {
      const li = el('li', null, `${c.component} ${Number.isFinite(c.score) ? Math.round(c.score) : '–'}`);
      li.dataset.status = c.status || 'unknown';
      li.title = (c.reasons || []).map((r) => r.text).join('\n');
      ul.append(li);
    }
  }

  const healthLive = new Map();
  let healthFromAnalyzer = false;
  function onHealthEvent(ev) {
    healthLive.set(ev.component, ev);
    if (!healthFromAnalyzer) return;
    const comps = [...healthLive.values()].filter((c) => c.component !== 'overall');
    renderHealth({ overall: healthLive.get('overall'), components: comps });
  }

  function renderFigures(d) {
    const dl = $('derived');
    dl.textContent = '';
    const rows = [['CPU busy', d.cpu_busy_ratio, 'ratio'], ['memory used', d.memory_used_ratio, 'ratio'],
      ['fullest filesystem', d.fullest_filesystem_ratio, 'ratio'], ['busiest disk', d.busiest_disk_util_ratio, 'ratio'],
      ['network', d.network_bytes_per_s, 'bytes/s'], ['agents up', d.agents_up, ''],
      ['agent tasks/s', d.agent_throughput_per_s, ''], ['agent errors', d.agent_error_ratio, 'ratio'],
      ['alerts', d.alerts_active, ''], ['anomalies (10 min)', d.anomalies_10m, ''], ['bottlenecks', d.bottlenecks_active, '']];
    for (const [k, v, u] of rows) {
      const div = el('div');
      div.append(el('dt', null, k), el('dd', null, fmtUnit(v, u)));
      dl.append(div);
    }
  }

  function renderAgents(agents) {
    const tb = document.querySelector('#agent-grid tbody');
    tb.textContent = '';
    if (!agents.length) {
      const tr = el('tr');
      const td = el('td', 'muted', 'no agents have said hello');
      td.colSpan = 12;
      tr.append(td);
      tb.append(tr);
    }
    for (const a of agents) {
      const tr = el('tr');
      const cells = [a.agent, a.type || '', a.state || (a.up > 0 ? 'connected' : a.up === 0 ? 'stale' : ''),
        fmtUnit(a.throughput_per_s), fmtUnit(a.latency_p50_s, 's'), fmtUnit(a.latency_p95_s, 's'), fmtUnit(a.latency_p99_s, 's'),
        fmtUnit(a.error_ratio, 'ratio'), fmtUnit(a.availability_ratio, 'ratio'), fmtUnit(a.coordination_latency_s, 's'),
        fmtUnit(a.cpu_cores, 'cores'), fmtUnit(a.resident_memory_bytes, 'bytes')];
      for (const c of cells) tr.append(el('td', null, c));
      tb.append(tr);
    }
  }

  async function refreshSnapshot() {
    const r = await request(API + '/snapshot');
    if (!r.ok || !r.body) return;
    const s = r.body;
    $('host').textContent = (s.system && s.system.hostname) || '';
    renderFigures(s.derived || {});
    renderAgents(s.agents || []);
    const h = await request(API + '/health');
    healthFromAnalyzer = h.ok && !!h.body;
    renderHealth(healthFromAnalyzer ? h.body : s.health);
    if (state.alertsEnabled === false && s.events && !state.alertsLive.size)
      for (const a of s.events.alerts || []) state.alertsLive.set(a.fingerprint, a);
  }

  // Lists that start from the routes, then follow the events.
  async function refreshLists() {
    const fetchEvents = async (url, topic) => {
      const r = await request(url);
      if (r.ok && r.body) for (const e of (r.body.events || []).slice().reverse()) onEvent(topic, e.event);
    };
    const bn = await request(API + '/bottlenecks');
    if (bn.ok && bn.body) for (const b of (bn.body.bottlenecks || []).slice().reverse()) onEvent('bottleneck', b);
    await Promise.all([
      fetchEvents(API + '/anomalies?limit=50', 'anomaly'),
      fetchEvents(API + '/recommendations?limit=20', 'recommendation'),
      fetchEvents(API + '/events?topic=trend&limit=50', 'trend'),
      fetchEvents(API + '/actions/history?limit=50', 'action'),
    ]);
    refreshAlerts();
  }

  // --- custom charts -----------------------------------------------------------
  let customN = 0;
  function addCustomChart(text) {
    text = text.trim();
    if (!text) return;
    const brace = text.indexOf('{');
    const metric = (brace < 0 ? text : text.slice(0, brace)).trim();
    const exact = {};
    if (brace >= 0) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
      let m;
      while ((m = re.exec(text.slice(brace))) !== null)
        if (text[brace + m.index + m[0].indexOf('=') - 1] !== '!' && text[brace + m.index + m[0].indexOf('=') + 1] !== '~') exact[m[1]] = m[2];
    }
    const spec = { metric, custom: true, exact, group: null };
    const chart = makeChart({ id: 'custom-' + customN++, parent: 'realtime-charts', title: text, unit: '', specs: [], removable: true });
    chart.def.specs = [spec];
    state.pendingCustom.push({ chart, spec, text });
    $('selector-error').textContent = '';
    wsSend({ type: 'subscribe', series: [text] });
    const end = Date.now();
    if (state.range === 'live') fillChart(chart, end - BACKFILL_MS, end, BACKFILL_STEP_MS);
    else fillChart(chart, end - RANGES[state.range][0], end, RANGES[state.range][1]);
  }

  // --- start ------------------------------------------------------------------------
  function start() {
    for (const def of BUILTIN) makeChart(def);
    const initial = (params.get('chart') || 'node_load1,node_procs_running').split(',').filter(Boolean);
    for (const c of initial) addCustomChart(c);
    $('add-chart').addEventListener('submit', (e) => { e.preventDefault(); addCustomChart($('selector').value); $('selector').value = ''; });
    for (const b of document.querySelectorAll('#ranges button')) b.addEventListener('click', () => showRange(b.dataset.range));
    renderAlerts([], false);
    renderAgents([]);
    refreshSnapshot();
    setInterval(refreshSnapshot, 5000);
    setInterval(() => { if (state.alertsEnabled) refreshAlerts(); }, 10000);
    connect();
    requestAnimationFrame(render);
  }

  // What the browser test reads (tests/browser/dashboard.mjs).
  window.bearmon = {
    get transport() { return state.transport; },
    stats: state.stats,
    charts: () => Object.fromEntries(state.charts.map((c) => [c.id, {
      datasets: c.groups.size,
      points: [...c.groups.values()].reduce((n, ds) => n + ds.data.length, 0),
      lastX: Math.max(0, ...[...c.groups.values()].map((ds) => (ds.data.length ? ds.data[ds.data.length - 1].x : 0))),
      anomalies: c.anomalies ? c.anomalies.data.length : 0,
      maxY: Math.max(-Infinity, ...[...c.groups.values()].flatMap((ds) => ds.data.map((p) => p.y))),
    }])),
  };

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
