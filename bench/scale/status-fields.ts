// Reads what the scale benchmark needs from a status report (the JSON of `quorumfs status
// --json`, or the client's status()) defensively: the report is taken as unknown JSON, every
// field is optional, and a field that is missing or of another type reads as undefined; a field
// present as null (the mediator says it does not know) reads as null. So the harness keeps
// working while status gains fields (lackingBlocks, fullyReplicated, heal retries, …).

export interface ServerView {
  id: string;
  port: number | undefined;
  role: string | undefined;
  state: string | undefined;
  pid: number | undefined;
  replaces: string | undefined;
  blocks: number | undefined;
  /** blocks the server lacks; null while the mediator does not know */
  lackingBlocks: number | null | undefined;
  heal: HealView | undefined;
}

interface HealView {
  totalBlocks: number | undefined;
  doneBlocks: number | undefined;
  failedBlocks: number | undefined;
  startedMs: number | undefined;
  endedMs: number | undefined;
  attempts: number | undefined;
  /** why the last attempt did not complete */
  lastError: string | undefined;
  /** the next attempt is due in this many ms */
  nextRetryMs: number | undefined;
}

type Json = Record<string, unknown>;

function record(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** A number, null when present as null, undefined when absent or of another type. */
function numOrNull(value: unknown): number | null | undefined {
  return value === null ? null : num(value);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function healView(value: unknown): HealView | undefined {
  const h = record(value);
  if (!h) return undefined;
  return { totalBlocks: num(h['totalBlocks']), doneBlocks: num(h['doneBlocks']), failedBlocks: num(h['failedBlocks']), startedMs: num(h['startedMs']), endedMs: num(h['endedMs']), attempts: num(h['attempts']), lastError: text(h['lastError']), nextRetryMs: num(h['nextRetryMs']) };
}

function servers(status: unknown): ServerView[] {
  const list = record(status)?.['servers'];
  if (!Array.isArray(list)) return [];
  return list.flatMap((item) => {
    const s = record(item);
    const id = text(s?.['id']);
    if (!s || id === undefined) return [];
    return [{ id, port: num(s['port']), role: text(s['role']), state: text(s['state']), pid: num(s['pid']), replaces: text(s['replaces']), blocks: num(s['blocks']), lackingBlocks: numOrNull(s['lackingBlocks']), heal: healView(s['heal']) }];
  });
}

export function dataServers(status: unknown): ServerView[] {
  return servers(status).filter((s) => s.role === 'data');
}

export function metaServer(status: unknown): ServerView | undefined {
  return servers(status).find((s) => s.role === 'meta');
}

/** A counter of `counters` (or, should it move, of the top level); null when the mediator
 * reports it as not known. */
export function counter(status: unknown, name: string): number | null | undefined {
  const s = record(status);
  const counters = record(s?.['counters']);
  return counters && name in counters ? numOrNull(counters[name]) : numOrNull(s?.[name]);
}

/** Whether every committed block has all its copies; null when not known; undefined when absent. */
export function fullyReplicated(status: unknown): boolean | null | undefined {
  const value = record(status)?.['fullyReplicated'];
  return value === null || typeof value === 'boolean' ? value : undefined;
}

interface ScrubView {
  running: boolean | undefined;
  totalBlocks: number | undefined;
  doneBlocks: number | undefined;
  failedBlocks: number | undefined;
  endedMs: number | undefined;
  /** false: the pass did not finish (`reason` says why) */
  complete: boolean | undefined;
  reason: string | undefined;
}

export function scrubView(status: unknown): ScrubView | undefined {
  const s = record(record(status)?.['scrub']);
  if (!s) return undefined;
  const p = record(s['progress']) ?? s;
  return { running: typeof s['running'] === 'boolean' ? s['running'] : undefined, totalBlocks: num(p['totalBlocks']), doneBlocks: num(p['doneBlocks']), failedBlocks: num(p['failedBlocks']), endedMs: num(p['endedMs']), complete: typeof s['complete'] === 'boolean' ? s['complete'] : undefined, reason: text(s['reason']) };
}

/** A short summary of a server for error messages: state and heal progress. */
export function describeServer(s: ServerView | undefined): string {
  if (!s) return 'not in status';
  const h = s.heal;
  const heal = h
    ? `, heal ${h.doneBlocks ?? '?'}/${h.totalBlocks ?? '?'} done, ${h.failedBlocks ?? '?'} failed, ${h.endedMs === undefined ? 'running' : 'ended'}` +
      `${h.attempts === undefined ? '' : `, ${h.attempts} attempts`}${h.lastError ? `, last error: ${h.lastError}` : ''}${h.nextRetryMs === undefined ? '' : `, retry in ${Math.ceil(h.nextRetryMs / 1000)} s`}`
    : '';
  const lacking = s.lackingBlocks === undefined ? '' : `, lacking ${s.lackingBlocks ?? 'unknown'}`;
  return `${s.id} ${s.state ?? '?'}${s.blocks === undefined ? '' : `, ${s.blocks} blocks`}${lacking}${heal}`;
}
