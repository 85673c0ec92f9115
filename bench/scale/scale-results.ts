// What a scale run produces (report.json, version 1) and the targets evaluated on it:
// met, not met, or unknown when a figure could not be measured (never a 0 standing in for it).
// Targets are stated at 200,000 files; at another size they are projected from the measured
// figure as a fixed part (the replacement's start; the CLI's start) plus a part linear in the
// blocks or keys, and say so. Pure functions, shared by the Markdown and JSON writers.

import type { StepRecord } from './step-runner.js';
import type { HealFigure } from './heal.js';

const TARGET_FILES = 200_000;
const HEAL_TARGET_S = 120;
const LIST_TARGET_S = 10;
const RESIDENT_TARGET_BYTES = 512 * 1024 * 1024;
/** Heal speed of the peers on this kind of machine (PEERS.md). */
export const PEER_HEAL_RATES = [
  { peer: 'MooseFS', perS: 2.6, unit: 'chunks/s' },
  { peer: 'GlusterFS', perS: 61, unit: 'entries/s' },
] as const;

export interface ProcessMemory {
  role: 'mount' | 'mediator' | 'metadata server' | 'data server';
  pid: number | undefined;
  /** the data server's address */
  id?: string;
  /** VmHWM; undefined when it could not be read */
  peakBytes: number | undefined;
}

export interface ScaleFigures {
  fill: { files: number; seconds: number | undefined; filesPerS: number | undefined; phases: { files: number; seconds: number; filesPerS: number }[] };
  ls: { dir: string; expected: number; entries: number | undefined; seconds: number | undefined };
  /** the heal at files/10 blocks, then at all files */
  heals: HealFigure[];
  scrub: { seconds: number | undefined; copiesVerified: number | undefined; copiesPerS: number | undefined; expectedCopies: number; failedCopies: number | undefined; summary: string | undefined };
  /** cliStartupSeconds: `quorumfs --help`, the part of any command's time that is not its work */
  listContents: { port: number | undefined; entries: number | undefined; keys: number | undefined; seconds: number | undefined; cliStartupSeconds: number | undefined };
  memory: ProcessMemory[];
  metadata: { dbBytes: number; walBytes: number; bytesPerFile: number; files: string[] } | undefined;
  verifiedFiles: number | undefined;
}

type Verdict = 'met' | 'not met' | 'unknown';

export interface TargetResult {
  target: string;
  /** the figure compared with the limit (projected to 200,000 files where `basis` says so) */
  value: number | undefined;
  unit: string;
  bound: 'below' | 'at most';
  limit: number;
  basis: string;
  verdict: Verdict;
}

export interface ScaleReport {
  version: 1;
  kind: 'scale';
  mode: string;
  startedAt: string;
  durationS: number;
  /** where the mount was (gone after the run), for checking nothing is left mounted */
  mountPoint: string | undefined;
  config: { files: number; bigDirFiles: number; dirFiles: number; concurrency: number; fileBytes: string; dataServers: number; readQuorum: number; writeQuorum: number; mediatorArgs: string[] };
  steps: StepRecord[];
  figures: ScaleFigures;
  targets: TargetResult[];
}

function verdictOf(value: number | undefined, bound: TargetResult['bound'], limit: number): Verdict {
  if (value === undefined || !Number.isFinite(value)) return 'unknown';
  return (bound === 'below' ? value < limit : value <= limit) ? 'met' : 'not met';
}

function basisFor(measured: number | undefined, what: string, fixed: string): string {
  if (measured === undefined) return 'not measured';
  return measured === TARGET_FILES ? `measured at ${measured} ${what}` : `projected from ${measured} ${what}: ${fixed} + time per ${what.replace(/s$/, '')} × ${TARGET_FILES}`;
}

/** `seconds` for `count` items, of which `fixedS` does not grow with the count, at TARGET_FILES items. */
export function project(seconds: number | undefined, fixedS: number | undefined, count: number | undefined): number | undefined {
  if (seconds === undefined || fixedS === undefined || !count) return undefined;
  const fixed = Math.min(fixedS, seconds);
  return fixed + ((seconds - fixed) * TARGET_FILES) / count;
}

/** Seconds of a heal after its replacement showed up (the part that grows with the blocks). */
function healWorkS(h: HealFigure | undefined): number | undefined {
  return h?.seconds === undefined || h.replaceSeconds === undefined ? undefined : h.seconds - h.replaceSeconds;
}

/** The largest verified heal: the one the target is judged on. */
function largestVerifiedHeal(heals: HealFigure[]): HealFigure | undefined {
  return heals.filter((h) => h.verified && h.seconds !== undefined && h.blocks > 0).sort((a, b) => b.blocks - a.blocks)[0];
}

export function evaluateScaleTargets(f: ScaleFigures): TargetResult[] {
  const targets: TargetResult[] = [];
  const heal = largestVerifiedHeal(f.heals);
  const healProjected = project(heal?.seconds, heal?.replaceSeconds, heal?.blocks);
  targets.push({ target: `heal of ${TARGET_FILES.toLocaleString('en-US')} small blocks after terminate`, value: healProjected, unit: 's', bound: 'below', limit: HEAL_TARGET_S, basis: basisFor(heal?.blocks, 'blocks', `time to replacement ${heal?.replaceSeconds?.toFixed(2)} s`), verdict: verdictOf(healProjected, 'below', HEAL_TARGET_S) });

  const [small, large] = f.heals;
  const smallS = small?.verified ? healWorkS(small) : undefined;
  const largeS = large?.verified ? healWorkS(large) : undefined;
  const growth = smallS && largeS !== undefined && small!.blocks > 0 ? largeS / smallS / (large!.blocks / small!.blocks) : undefined;
  targets.push({ target: `heal time after the replacement started grows at most linearly (time ratio / block ratio, ${small?.blocks ?? '?'} → ${large?.blocks ?? '?'} blocks)`, value: growth, unit: '×', bound: 'at most', limit: 1.2, basis: 'both heals of this run', verdict: verdictOf(growth, 'at most', 1.2) });

  for (const p of f.memory) {
    const name = p.role === 'data server' && p.id ? `data server ${p.id}` : p.role;
    targets.push({ target: `peak resident memory of the ${name}`, value: p.peakBytes === undefined ? undefined : p.peakBytes / (1024 * 1024), unit: 'MiB', bound: 'below', limit: RESIDENT_TARGET_BYTES / (1024 * 1024), basis: `measured at ${f.fill.files} files (grows with the file count)`, verdict: verdictOf(p.peakBytes, 'below', RESIDENT_TARGET_BYTES) });
  }

  const lc = f.listContents;
  const listProjected = project(lc.seconds, lc.cliStartupSeconds, lc.keys);
  targets.push({ target: `list-contents --json of ${TARGET_FILES.toLocaleString('en-US')} keys`, value: listProjected, unit: 's', bound: 'below', limit: LIST_TARGET_S, basis: basisFor(lc.keys, 'keys', `CLI start ${lc.cliStartupSeconds?.toFixed(2)} s`), verdict: verdictOf(listProjected, 'below', LIST_TARGET_S) });
  return targets;
}
