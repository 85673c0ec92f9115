// Writes a ScaleReport as report.md (figures, targets with met / not met / unknown, the steps
// with their times and errors) and report.json (the report itself; a figure
// that could not be measured is null there and 'unknown' here, never 0). Formatting only.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PEER_HEAL_RATES, type ScaleReport, type TargetResult } from './scale-results.js';
import type { HealFigure } from './heal.js';

const MiB = 1024 * 1024;

/** A number for the report, or 'unknown'. */
function n(value: number | undefined, digits = 1): string {
  if (value === undefined || !Number.isFinite(value)) return 'unknown';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  // Decide on the rounded value, so 99.97 prints as 100, not 100.0.
  return Number(value.toFixed(digits)) >= 100 ? value.toFixed(0) : value.toFixed(digits);
}

/** A number with its unit, or 'unknown' alone. */
function u(value: number | undefined, unit: string, digits = 1): string {
  const text = n(value, digits);
  return text === 'unknown' ? text : `${text} ${unit}`;
}

function healRow(h: HealFigure, label: string): string {
  const note = h.seconds === undefined ? 'not healed (see Steps)' : h.verified ? 'replacement holds every block (list-contents)' : 'NOT confirmed by list-contents (see Steps)';
  return `| heal ${label}: ${n(h.blocks, 0)} blocks, terminate :${h.terminatedPort} → :${h.replacementPort ?? '?'} | ${u(h.seconds, 's', 2)} | ${u(h.blocksPerS, 'blocks/s')} | replacement up after ${u(h.replaceSeconds, 's', 2)}; ${note} |`;
}

function targetLine(t: TargetResult): string {
  const bound = t.bound === 'below' ? '<' : '≤';
  return `| ${t.target} | ${u(t.value, t.unit, 2)} | ${bound} ${t.limit} ${t.unit} | ${t.basis} | **${t.verdict}** |`;
}

export function scaleMarkdown(r: ScaleReport): string {
  const f = r.figures;
  const c = r.config;
  const heals = f.heals.map((h, i) => healRow(h, i === 0 && f.heals.length > 1 ? 'at files/10' : 'at all files'));
  const largest = [...f.heals].reverse().find((h) => h.blocksPerS !== undefined);
  const peers = PEER_HEAL_RATES.map((p) => `${p.peer} ${p.perS} ${p.unit}: quorumfs ${largest?.blocksPerS === undefined ? 'unknown' : `${n(largest.blocksPerS / p.perS)}×`}`);
  const memory = f.memory.map((p) => `| peak resident memory (VmHWM), ${p.role}${p.id ? ` ${p.id}` : ''} (pid ${p.pid ?? '?'}) | ${u(p.peakBytes === undefined ? undefined : p.peakBytes / MiB, 'MiB')} | | |`);
  const failed = r.steps.filter((s) => !s.ok);
  return [
    `# quorumfs scale benchmark (${r.mode}, ${c.files.toLocaleString('en-US')} files, ${r.startedAt})`,
    '',
    `One cluster: ${c.dataServers} data servers, Qr ${c.readQuorum} Qw ${c.writeQuorum}, a \`quorumfs mount\`; mediator \`${c.mediatorArgs.join(' ')}\`. Files of ${c.fileBytes} (one block each), created through the client API with ${c.concurrency} in flight: ${c.bigDirFiles.toLocaleString('en-US')} in one directory, the rest ${c.dirFiles.toLocaleString('en-US')} per directory. Run time ${n(r.durationS, 0)} s.`,
    '',
    '| what | time | rate | note |',
    '|---|---:|---:|---|',
    `| fill: create ${c.files.toLocaleString('en-US')} files | ${u(f.fill.seconds, 's')} | ${u(f.fill.filesPerS, 'files/s')} | ${f.fill.phases.map((p) => `${n(p.files, 0)} at ${n(p.filesPerS)}/s`).join(', ') || '—'} |`,
    `| \`ls -f\` of /${f.ls.dir} through the mount | ${u(f.ls.seconds, 's', 2)} | ${u(f.ls.seconds && f.ls.entries ? f.ls.entries / f.ls.seconds : undefined, 'entries/s')} | ${f.ls.entries === undefined ? 'unknown' : n(f.ls.entries, 0)} entries listed, ${n(f.ls.expected, 0)} created |`,
    ...heals,
    `| \`quorumfs scrub --wait\` | ${u(f.scrub.seconds, 's', 2)} | ${u(f.scrub.copiesPerS, 'copies/s')} | ${n(f.scrub.copiesVerified, 0)} of ${n(f.scrub.expectedCopies, 0)} block copies verified${f.scrub.failedCopies ? `, ${f.scrub.failedCopies} failed` : ''} |`,
    `| \`quorumfs list-contents ${f.listContents.port ?? '?'} --json\` (parsed) | ${u(f.listContents.seconds, 's', 2)} | ${u(f.listContents.seconds && f.listContents.keys ? f.listContents.keys / f.listContents.seconds : undefined, 'keys/s')} | ${f.listContents.keys === undefined ? 'unknown' : n(f.listContents.keys, 0)} keys (a CLI command takes ${u(f.listContents.cliStartupSeconds, 's', 2)} to start) |`,
    ...memory,
    `| metadata (SQLite db + wal) per file | | | ${f.metadata ? `${n(f.metadata.bytesPerFile, 0)} bytes/file (db ${n(f.metadata.dbBytes / MiB)} MiB, wal ${n(f.metadata.walBytes / MiB)} MiB)` : 'unknown'} |`,
    `| files read back through the mount, byte for byte | | | ${f.verifiedFiles === undefined ? 'unknown' : n(f.verifiedFiles, 0)} |`,
    '',
    `Heal speed against the peers (PEERS.md, this machine kind): ${peers.join('; ')}.`,
    '',
    '## Targets',
    '',
    '| target | value | limit | basis | verdict |',
    '|---|---:|---:|---|---|',
    ...r.targets.map(targetLine),
    '',
    '## Steps',
    '',
    '| step | result | time | deadline |',
    '|---|---|---:|---:|',
    ...r.steps.map((s) => `| ${s.name} | ${s.ok ? 'ok' : s.error!.replace(/\|/g, '\\|')} | ${n(s.seconds, 1)} s | ${n(s.deadlineS, 0)} s |`),
    ...(failed.length ? ['', `${failed.length} step${failed.length === 1 ? '' : 's'} failed; figures they would have given are unknown.`] : []),
    '',
  ].join('\n');
}

export async function writeScaleReport(report: ScaleReport, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'report.json'), `${JSON.stringify(report, (_key, value: unknown) => (value === undefined ? null : value), 2)}\n`);
  await writeFile(path.join(outDir, 'report.md'), scaleMarkdown(report));
}
