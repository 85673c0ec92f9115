// A strict parser of the Prometheus text exposition format (0.0.4), for tests: every line is a
// comment (# HELP, # TYPE), blank, or `name{labels} value`; every sample's family was declared
// with both # HELP and # TYPE before it; names are quorumfs_, process_ or nodejs_; counters end
// in _total; histogram buckets carry `le`; no series appears twice. Anything else throws, naming
// the line. Also: finding a process's metrics URL in its log, scraping it, reading /targets.

import assert from 'node:assert/strict';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  families: Map<string, { help: string; type: string }>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const ALLOWED_NAME = /^(quorumfs_|process_|nodejs_)/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePromText(text: string): Scrape {
  const families = new Map<string, { help?: string; type?: string }>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, i) => {
    const where = `line ${i + 1} '${line}'`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`${where}: a comment that is neither # HELP nor # TYPE`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      const family = families.get(name) ?? {};
      if (kind === 'HELP') {
        if (family.help !== undefined) throw new Error(`${where}: a second # HELP`);
        family.help = rest;
      } else {
        if (family.type !== undefined) throw new Error(`${where}: a second # TYPE`);
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        family.type = rest;
      }
      families.set(name, family);
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`${where}: not 'name{labels} value'`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const value = parseValue(valueText, where);
    const labels = labelText === undefined ? {} : parseLabels(labelText, where);
    const familyName = familyOf(name, families);
    const family = families.get(familyName);
    if (!family || family.help === undefined || family.type === undefined) throw new Error(`${where}: family ${familyName} lacks # HELP or # TYPE before it`);
    if (!ALLOWED_NAME.test(name)) throw new Error(`${where}: name outside quorumfs_, process_, nodejs_`);
    if (family.type === 'counter' && !name.endsWith('_total')) throw new Error(`${where}: a counter not ending in _total`);
    if (family.type === 'histogram' && name.endsWith('_bucket') && labels['le'] === undefined) throw new Error(`${where}: a bucket without le`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`${where}: the series appears twice`);
    seen.add(series);
    samples.push({ name, labels, value });
  });
  const declared = new Map<string, { help: string; type: string }>();
  for (const [name, f] of families) {
    if (f.help === undefined || f.type === undefined) throw new Error(`family ${name} lacks # HELP or # TYPE`);
    declared.set(name, { help: f.help, type: f.type });
  }
  return { families: declared, samples };
}

/** The samples named `name` whose labels include `labels`. */
export function samplesOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return scrape.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the values of those samples (0 when there is none). */
export function sumOf(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  return samplesOf(scrape, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** A histogram's _bucket/_sum/_count and a summary's _sum/_count belong to their family. */
function familyOf(name: string, families: ReadonlyMap<string, { type?: string }>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const base = name.slice(0, -suffix.length);
    const type = families.get(base)?.type;
    if (type === 'histogram' || (type === 'summary' && suffix !== '_bucket')) return base;
  }
  return name;
}

/** As Prometheus reads a value (Go's ParseFloat): NaN and Inf in any case (prom-client writes
 * "Nan"), else a decimal float. */
function parseValue(text: string, where: string): number {
  if (/^[-+]?inf(inity)?$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (!m) throw new Error(`${where}: bad labels at '${rest}'`);
    const [whole, key, raw] = m as unknown as [string, string, string];
    if (key in labels) throw new Error(`${where}: label ${key} twice`);
    labels[key] = raw.replace(/\\(["\\n])/g, (_e, c: string) => (c === 'n' ? '\n' : c));
    rest = rest.slice(whole.length);
    if (whole.endsWith(',') && rest.length === 0) throw new Error(`${where}: a trailing comma in labels`);
  }
  return labels;
}

export interface TargetGroup {
  targets: string[];
  labels: { role: string; server: string };
}

/** The metrics URL a process logged (`metrics at http://…/metrics`), from its log lines. */
export function loggedMetricsUrl(stderr: string, name: string): string | undefined {
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { name?: string; msg?: string; url?: string };
    if (entry.name === name && entry.msg?.startsWith('metrics at ') && entry.url) return entry.url;
  }
  return undefined;
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePromText(await res.text());
}

export async function targets(mediatorMetricsUrl: string): Promise<TargetGroup[]> {
  const res = await fetch(mediatorMetricsUrl.replace(/\/metrics$/, '/targets'));
  assert.equal(res.status, 200);
  return (await res.json()) as TargetGroup[];
}
