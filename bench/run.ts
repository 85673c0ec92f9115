// `npm run bench [-- --quick | --tiny] [--out DIR]`: every workload against every target, several
// runs; in each run every target is fresh (new cluster and mount) and the targets take turns on
// each workload in a rotating order, so machine noise hits them alike. Writes report.md/json/svg
// and prints the table. Exit 0 when every workload ran, 1 when one failed, 2 for bad usage.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchOptions, type BenchOptions } from './options.js';
import { evaluateGoals, toMetricResults, type BenchReport, type Samples } from './results.js';
import { markdownReport, markdownTable, writeReport } from './report.js';
import { LOCAL, N1, N3, N5, openTarget, type OpenTarget, type TargetSpec } from './targets.js';
import { classicScenario } from './workloads/classic-scenario.js';
import { metadata } from './workloads/metadata.js';
import { randomIo } from './workloads/random-io.js';
import { recovery } from './workloads/recovery.js';
import { sequential } from './workloads/sequential.js';
import { smallFiles } from './workloads/small-files.js';
import type { Workload } from './workloads/workload.js';

/** Recovery last: it changes a cluster's membership. */
const WORKLOADS: Workload[] = [classicScenario, smallFiles, sequential, randomIo, metadata, recovery];

const open: OpenTarget[] = [];

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function closeAll(): Promise<void> {
  while (open.length) await open.pop()!.close().catch((err: unknown) => log(`close failed: ${(err as Error).message}`));
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

function emptySamples(specs: TargetSpec[]): Samples {
  const samples: Samples = new Map();
  for (const w of WORKLOADS) {
    for (const m of w.metrics) samples.set(`${w.name}/${m.key}`, { workload: w.name, metric: m.key, unit: m.unit, higherIsBetter: m.higherIsBetter, byTarget: new Map(specs.map((s) => [s.name, []])), errors: new Map() });
  }
  return samples;
}

async function runOnce(options: BenchOptions, specs: TargetSpec[], run: number, samples: Samples): Promise<void> {
  try {
    for (const spec of specs) open.push(await openTarget(spec));
    const targets = [...open];
    for (const [w, workload] of WORKLOADS.entries()) {
      for (const target of rotate(targets, run + w)) {
        if (!workload.appliesTo(target.spec, options.sizes)) continue;
        const startMs = performance.now();
        try {
          const values = await workload.run(target, options.sizes);
          for (const m of workload.metrics) samples.get(`${workload.name}/${m.key}`)!.byTarget.get(target.spec.name)!.push(values[m.key]!);
          log(`run ${run + 1}/${options.sizes.runs} · ${workload.name} · ${target.spec.name}: ${((performance.now() - startMs) / 1000).toFixed(1)} s`);
        } catch (err) {
          const message = (err as Error).message.split('\n')[0]!;
          for (const m of workload.metrics) samples.get(`${workload.name}/${m.key}`)!.errors.set(target.spec.name, message);
          log(`run ${run + 1} · ${workload.name} · ${target.spec.name} FAILED: ${message}`);
        }
      }
    }
  } finally {
    await closeAll();
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  if (options.peers) {
    process.stderr.write('bench: --peers: peers (GlusterFS, MooseFS) are not implemented yet\n');
    return 2;
  }
  const specs = options.mode === 'tiny' ? [LOCAL, N1] : [LOCAL, N1, N3, N5];
  const started = new Date();
  const startMs = performance.now();
  const samples = emptySamples(specs);
  for (let run = 0; run < options.sizes.runs; run++) await runOnce(options, specs, run, samples);
  const results = toMetricResults(samples);
  const report: BenchReport = {
    version: 1,
    mode: options.mode,
    startedAt: started.toISOString(),
    durationS: (performance.now() - startMs) / 1000,
    runs: options.sizes.runs,
    targets: specs.map((s) => s.name),
    baseline: N1.name,
    results,
    goals: evaluateGoals(results, N1.name, N3.name),
  };
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
  const outDir = options.outDir ?? path.join(repoRoot, 'bench', 'results', started.toISOString().replace(/[:.]/g, '-'));
  await writeReport(report, outDir);
  process.stdout.write(`${markdownTable(report)}\n\n${markdownReport(report).split('## Goals')[1]!.trim()}\n\nreport: ${outDir} (${report.durationS.toFixed(0)} s)\n`);
  return results.some((r) => Object.keys(r.errors).length > 0) ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping clusters and mounts`);
    void closeAll().finally(() => process.exit(130));
  });
}

process.exitCode = await main();
