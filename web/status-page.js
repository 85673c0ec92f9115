// The status page's script: opens the mediator's live stream (server-sent events; EventSource
// reconnects by itself), keeps the last status, load points and events, and redraws the page
// from them. Text goes in with textContent only, never as HTML. Charts are small hand-drawn SVG.

const WINDOW_MS = 10 * 60_000;
/** A young history is drawn over at least this span, so its first seconds are not a sliver. */
const MIN_SPAN_MS = 60_000;
const MAX_POINTS = 600;
const MAX_EVENTS = 100;

const state = { report: undefined, load: [], events: [] };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'title') node.title = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function duration(ms) {
  if (ms === undefined || ms === null) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function setConnection(kind, text) {
  const node = $('connection');
  node.className = `connection ${kind}`;
  node.dataset.state = kind;
  node.textContent = text;
}

// ---- rendering ----

function render() {
  const r = state.report;
  if (!r) return;
  $('cluster').textContent = r.mediator.address;
  $('version').textContent = r.mediator.version ?? '–';
  $('leader').textContent = r.leader ?? r.mediator.address;
  $('quorums').textContent = `Qr=${r.mediator.readQuorum} Qw=${r.mediator.writeQuorum}`;
  $('uptime').textContent = duration(r.mediator.uptimeMs);
  renderCards(r);
  renderServers(r);
}

function renderCards(r) {
  if (r.space) {
    const used = r.space.capacityBytes - r.space.freeBytes;
    $('capacity').textContent = `${bytes(r.space.freeBytes)} free`;
    $('capacity-bar').style.width = `${r.space.capacityBytes > 0 ? (100 * used) / r.space.capacityBytes : 0}%`;
    $('capacity-detail').textContent = `${bytes(used)} used of ${bytes(r.space.capacityBytes)} (what one more copy of every block can use)`;
  } else {
    $('capacity').textContent = 'unknown';
  }
  const under = r.counters.underReplicated;
  const redundancy = $('redundancy');
  // null is "not known yet", never shown as 0.
  redundancy.textContent = under === null ? 'unknown' : under === 0 ? 'fully replicated' : `${under} under-replicated`;
  redundancy.dataset.underReplicated = under === null ? 'unknown' : String(under);
  $('redundancy-detail').textContent = `${r.counters.healedBlocks} blocks healed, ${r.counters.corruptRepaired} of ${r.counters.corruptFound} corrupt copies repaired, ${r.counters.replacements} replacements`;
  const scrub = r.scrub;
  $('scrub').textContent = scrub?.running ? 'running' : `${r.counters.scrubPasses} passes`;
  const p = scrub?.progress;
  $('scrub-bar').style.width = `${p && p.totalBlocks > 0 ? (100 * p.doneBlocks) / p.totalBlocks : 0}%`;
  $('scrub-detail').textContent = p
    ? `${scrub.running ? 'this pass' : 'last pass'}: ${p.doneBlocks} of ${p.totalBlocks} blocks${scrub.running && p.etaMs !== undefined ? `, ETA ${duration(p.etaMs)}` : ''}${scrub.reason ? ` (${scrub.reason})` : ''}`
    : 'no pass yet';
  $('data').textContent = r.counters.inodes === null ? 'unknown' : `${r.counters.inodes} inodes`;
  $('data-detail').textContent = `${r.counters.blocks ?? '?'} blocks, ${bytes(r.counters.bytes)}; ${r.counters.reads} reads, ${r.counters.writes} writes through the mediator`;
}

function renderServers(r) {
  const body = $('servers').tBodies[0];
  const rows = r.servers.map((s) => {
    const stateCell = el('td', { class: `state state-${s.state}`, ...(s.downReason ? { title: s.downReason } : {}) }, s.state);
    const free = s.freeBytes !== undefined ? `${bytes(s.freeBytes)}${s.capacityBytes ? ` of ${bytes(s.capacityBytes)}` : ''}${s.full ? ' (full)' : ''}` : '–';
    const row = el('tr', { 'data-server-id': s.id, 'data-state': s.state, 'data-role': s.role },
      el('td', {}, s.id), el('td', {}, s.role), stateCell, el('td', {}, s.blocks ?? '–'), el('td', {}, free), healCell(s), el('td', {}, s.replacedBy ?? (s.replaces ? `(replaces ${s.replaces})` : '')));
    return row;
  });
  body.replaceChildren(...rows);
}

function healCell(s) {
  const h = s.heal;
  if (!h) return el('td', {}, s.state === 'live' && s.role === 'data' ? (s.lackingBlocks === null ? 'lacking unknown' : '') : '');
  const done = h.endedMs !== undefined;
  const fraction = h.totalBlocks > 0 ? h.doneBlocks / h.totalBlocks : done ? 1 : 0;
  const bar = el('div', { class: 'bar' }, el('div'));
  bar.firstChild.style.width = `${Math.round(100 * fraction)}%`;
  const text = done
    ? `healed ${h.doneBlocks} blocks`
    : `${h.compared ? `${h.doneBlocks}/${h.totalBlocks}` : 'comparing'}${h.etaMs !== undefined ? `, ETA ${duration(h.etaMs)}` : ''}`;
  return el('td', {}, el('div', { class: 'heal' }, bar, el('span', {}, text)));
}

function renderEvents() {
  const items = state.events.slice().reverse().map((e) =>
    el('li', { 'data-kind': e.kind, 'data-seq': e.seq },
      el('time', { datetime: new Date(e.timeMs).toISOString() }, new Date(e.timeMs).toLocaleTimeString()),
      el('span', { class: `kind kind-${e.kind}` }, e.kind),
      el('span', {}, e.message)));
  $('events').replaceChildren(...items);
}

// ---- charts ----

const SVG_NS = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 160;
const PAD_TOP = 14;

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Draws `series` (each {cls, values}) over the points' times; the top label is the maximum. */
function drawChart(target, points, series, format) {
  const nowMs = points.length > 0 ? points[points.length - 1].timeMs : Date.now();
  const firstMs = points.length > 0 ? points[0].timeMs : nowMs;
  const spanMs = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, nowMs - firstMs));
  const fromMs = nowMs - spanMs;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const top = max > 0 ? max * 1.1 : 1;
  const x = (t) => ((t - fromMs) / spanMs) * W;
  const y = (v) => H - (v / top) * (H - PAD_TOP);
  const children = [];
  for (const f of [0.25, 0.5, 0.75]) children.push(svg('line', { class: 'grid', x1: 0, x2: W, y1: y(top * f), y2: y(top * f) }));
  for (const s of series) {
    // A second with no value (no request served: no latency) breaks the line rather than being
    // bridged; a value alone between two gaps is drawn as a dot.
    const runs = [[]];
    points.forEach((p, i) => {
      if (p.timeMs < fromMs) return;
      if (s.values[i] === null) { if (runs[runs.length - 1].length > 0) runs.push([]); return; }
      runs[runs.length - 1].push([x(p.timeMs), y(s.values[i])]);
    });
    for (const run of runs) {
      if (run.length === 1) children.push(svg('circle', { class: s.cls, cx: run[0][0].toFixed(1), cy: run[0][1].toFixed(1), r: 2.5 }));
      else if (run.length > 1) children.push(svg('polyline', { class: s.cls, points: run.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ') }));
    }
  }
  const label = svg('text', { x: 4, y: 11 });
  label.textContent = `max ${format(max)}`;
  children.push(label);
  target.replaceChildren(...children);
  target.dataset.points = String(points.length);
}

function renderCharts() {
  const pts = state.load;
  drawChart($('throughput-chart'), pts, [
    { cls: 'line-read', values: pts.map((p) => p.readBytesPerS) },
    { cls: 'line-write', values: pts.map((p) => p.writeBytesPerS) },
  ], (v) => `${bytes(v)}/s`);
  drawChart($('latency-chart'), pts, [{ cls: 'line-latency', values: pts.map((p) => p.meanRequestMs) }], (v) => `${v.toFixed(2)} ms`);
  const last = pts[pts.length - 1];
  $('throughput-now').textContent = last ? `now: read ${bytes(last.readBytesPerS)}/s, write ${bytes(last.writeBytesPerS)}/s, ${Math.round(last.requestsPerS)} req/s` : '';
  $('latency-now').textContent = last && last.meanRequestMs !== null ? `now: ${last.meanRequestMs.toFixed(2)} ms` : '';
}

// ---- the stream ----

function addEvents(events) {
  const seen = new Set(state.events.map((e) => e.seq));
  for (const e of events) if (!seen.has(e.seq)) state.events.push(e);
  state.events.sort((a, b) => a.seq - b.seq);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
}

function connect() {
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => setConnection('live', 'live'));
  source.addEventListener('error', () => {
    // CONNECTING: the browser tries again by itself. CLOSED: refused (signed out, or too many streams).
    if (source.readyState === EventSource.CLOSED) setConnection('error', 'disconnected: sign in again with `quorumfs status-page`');
    else setConnection('reconnecting', 'reconnecting…');
  });
  source.addEventListener('snapshot', (m) => {
    const snap = JSON.parse(m.data);
    // A mediator that restarted numbers its events from 1 again: start the list over.
    state.events = [];
    addEvents(snap.events);
    state.load = snap.load.slice(-MAX_POINTS);
    if (snap.report) state.report = snap.report;
    if (snap.error) setConnection('error', `mediator: ${snap.error}`);
    render();
    renderEvents();
    renderCharts();
  });
  source.addEventListener('status', (m) => {
    state.report = JSON.parse(m.data);
    if ($('connection').dataset.state !== 'live') setConnection('live', 'live');
    render();
  });
  source.addEventListener('status-error', (m) => setConnection('error', `mediator: ${JSON.parse(m.data).error}`));
  source.addEventListener('load', (m) => {
    state.load.push(...JSON.parse(m.data));
    if (state.load.length > MAX_POINTS) state.load.splice(0, state.load.length - MAX_POINTS);
    renderCharts();
  });
  source.addEventListener('event', (m) => {
    addEvents([JSON.parse(m.data)]);
    renderEvents();
  });
}

connect();
