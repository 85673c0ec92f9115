// Writes a BenchReport as report.md (table of medians with min–max), report.json (the report
// itself, samples included) and report.svg (bar chart of speed relative to the baseline, log
// scale). Formatting only; the numbers come from results.ts.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ratioTo, type BenchReport, type GoalResult, type MetricResult } from './results.js';

function fmt(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function markdownTable(report: BenchReport): string {
  const header = `| workload | metric | ${report.targets.join(' | ')} |`;
  const rule = `|---|---|${report.targets.map(() => '---:').join('|')}|`;
  const rows = report.results.map((r) => {
    const cells = report.targets.map((t) => {
      const s = r.targets[t];
      if (s) return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
      return r.errors[t] ? 'failed' : 'n/a';
    });
    return `| ${r.workload} | ${r.metric} (${r.unit}) | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

function goalLine(g: GoalResult): string {
  const ratio = g.ratio === undefined ? 'n/a' : `${g.ratio.toFixed(2)}×`;
  const verdict = g.met === undefined ? 'n/a' : g.met ? 'met' : 'not met';
  return `- ${g.goal}: ${ratio} (goal ${g.bound === 'at most' ? '≤' : '≥'} ${g.limit}×) — ${verdict}`;
}

export function markdownReport(report: BenchReport): string {
  const goals = report.goals.map(goalLine);
  const peerNote = report.goals.some((g) => g.kind === 'peer') ? [] : ['- goals against GlusterFS and MooseFS: not measured (no peer in this run; see --peers)'];
  const errors = report.results.flatMap((r) => Object.entries(r.errors).map(([t, e]) => `- ${r.workload} on ${t}: ${e}`));
  return [
    `# quorumfs benchmark (${report.mode}, ${report.runs} run${report.runs === 1 ? '' : 's'}, ${report.startedAt})`,
    '',
    'Median (min–max) per target; targets alternated within each run. quorumfs clusters and the local directory were fresh in every run; peers (GlusterFS, MooseFS) were started once and each run used a fresh, empty sub-directory of their mount.',
    '',
    markdownTable(report),
    '',
    '## Goals',
    '',
    ...goals,
    ...peerNote,
    ...(errors.length ? ['', '## Failures', '', ...errors] : []),
    '',
    `Chart (report.svg): speed relative to ${report.baseline} (above 1 is faster; durations inverted); rows where ${report.baseline} does not apply are relative to the first target that has a value.`,
    '',
  ].join('\n');
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#76b7b2', '#edc948', '#9c755f'];

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function svgChart(report: BenchReport): string {
  const barHeightPx = 12;
  const labelWidthPx = 230;
  const plotWidthPx = 520;
  const rows = report.results.map((r: MetricResult) => ({ label: `${r.workload} · ${r.metric}`, bars: report.targets.map((t) => ratioTo(r, t, report.baseline, report.targets)?.ratio) }));
  const all = rows.flatMap((r) => r.bars).filter((v): v is number => v !== undefined);
  const minLog = Math.floor(Math.log10(Math.min(0.1, ...all)));
  const maxLog = Math.ceil(Math.log10(Math.max(10, ...all)));
  const x = (v: number): number => labelWidthPx + ((Math.log10(v) - minLog) / (maxLog - minLog)) * plotWidthPx;
  const groupHeightPx = report.targets.length * barHeightPx + 10;
  const topPx = 40;
  const heightPx = topPx + rows.length * groupHeightPx + 30 + report.targets.length * 16;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidthPx + plotWidthPx + 80}" height="${heightPx}" font-family="sans-serif" font-size="11">`);
  parts.push(`<text x="10" y="18" font-size="13">Speed relative to ${escapeXml(report.baseline)} (log scale, above 1 is faster)</text>`);
  for (let p = minLog; p <= maxLog; p++) {
    const v = 10 ** p;
    parts.push(`<line x1="${x(v)}" y1="${topPx - 8}" x2="${x(v)}" y2="${topPx + rows.length * groupHeightPx}" stroke="${p === 0 ? '#333' : '#ddd'}"/>`);
    parts.push(`<text x="${x(v)}" y="${topPx - 10}" text-anchor="middle">${v >= 1 ? v.toFixed(0) : v.toString()}×</text>`);
  }
  rows.forEach((row, i) => {
    const y0 = topPx + i * groupHeightPx;
    parts.push(`<text x="${labelWidthPx - 6}" y="${y0 + groupHeightPx / 2}" text-anchor="end">${escapeXml(row.label)}</text>`);
    row.bars.forEach((v, j) => {
      if (v === undefined) return;
      const y = y0 + j * barHeightPx;
      const from = Math.min(x(1), x(v));
      parts.push(`<rect x="${from}" y="${y}" width="${Math.max(1, Math.abs(x(v) - x(1)))}" height="${barHeightPx - 2}" fill="${COLORS[j % COLORS.length]}"><title>${escapeXml(report.targets[j]!)}: ${v.toFixed(2)}×</title></rect>`);
      parts.push(`<text x="${Math.max(x(1), x(v)) + 3}" y="${y + barHeightPx - 3}" font-size="9">${v.toFixed(2)}</text>`);
    });
  });
  const legendY = topPx + rows.length * groupHeightPx + 20;
  report.targets.forEach((t, j) => {
    parts.push(`<rect x="10" y="${legendY + j * 16 - 9}" width="10" height="10" fill="${COLORS[j % COLORS.length]}"/>`);
    parts.push(`<text x="26" y="${legendY + j * 16}">${escapeXml(t)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export async function writeReport(report: BenchReport, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'report.md'), markdownReport(report));
  await writeFile(path.join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(path.join(outDir, 'report.svg'), svgChart(report));
}
