// `npm run bench [-- --quick | --tiny] [--peers] [--targets LIST] [--runs K] [--out DIR]`: every
// workload against every target, several runs; in each run every quorumfs target is fresh (new
// cluster and mount), peers (GlusterFS, MooseFS) are started once per invocation and give each run
// a fresh sub-directory, and the targets take turns on each workload in a rotating order, so
// machine noise hits them alike. Writes report.md/json/svg and prints the table. Exit 0 when every
// workload ran, 1 when one failed (or a peer did not start), 2 for bad usage.
// `--scale [--quick | --tiny] [--files N] [--concurrency C]` runs the scale benchmark instead
// (bench/scale/): report.md/json under bench/results/scale-<timestamp>/, same exit codes.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchOptions, type BenchOptions } from './options.js';
import { evaluateGoals, toMetricResults, type BenchReport, type Samples } from './results.js';
import { markdownReport, markdownTable, writeReport } from './report.js';
import { runScaleBench, type Closable } from './scale/scale-bench.js';
import { scaleMarkdown, writeScaleReport } from './scale/scale-report.js';
import type { Peer } from './peers/peer.js';
import { createPeer, GLUSTERFS, MOOSEFS, N1, N3, openTarget, selectTargets, type OpenTarget, type PeerKind, type TargetSpec } from './targets.js';
import { classicScenario } from './workloads/classic-scenario.js';
import { metadata } from './workloads/metadata.js';
import { parallel } from './workloads/parallel.js';
import { randomIo } from './workloads/random-io.js';
import { recovery } from './workloads/recovery.js';
import { sequential } from './workloads/sequential.js';
import { smallFiles } from './workloads/small-files.js';
import type { Workload } from './workloads/workload.js';

/** Recovery last: it changes a cluster's membership. */
const WORKLOADS: Workload[] = [classicScenario, smallFiles, sequential, randomIo, metadata, parallel, recovery];

/** Targets (and the scale benchmark's cluster) open now: closed at the end and on a signal. */
const open: Closable[] = [];
/** Aborted by SIGINT/SIGTERM, for the scale benchmark's steps. */
const interruption = new AbortController();
/** Peers started (or starting) in this invocation; stopped at the end and on a signal. */
const peers = new Map<PeerKind, Peer>();
/** Why a peer did not start, reported for each of its workloads. */
const peerFailures = new Map<PeerKind, string>();
/** Set by SIGINT/SIGTERM: start nothing new; the handler stops everything. */
let interrupted = false;
let peersStopped: Promise<void> | undefined;

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function closeAll(): Promise<void> {
  while (open.length) await open.pop()!.close().catch((err: unknown) => log(`close failed: ${(err as Error).message}`));
}

/** Stops every peer, one after the other; once, however often it is called (end of main, signal). */
function stopPeers(): Promise<void> {
  peersStopped ??= (async () => {
    for (const peer of peers.values()) {
      const startMs = performance.now();
      await peer
        .stop()
        .then(() => log(`${peer.name} stopped in ${((performance.now() - startMs) / 1000).toFixed(1)} s`))
        .catch((err: unknown) => log(`${peer.name} stop failed: ${(err as Error).message}`));
    }
  })();
  return peersStopped;
}

/** Starts each peer among `specs`, one after the other; a failure is remembered, not thrown. */
async function startPeers(specs: TargetSpec[]): Promise<void> {
  for (const spec of specs) {
    if (!spec.peer || interrupted) continue;
    const peer = createPeer(spec.peer, log);
    peers.set(spec.peer, peer);
    try {
      await peer.start();
    } catch (err) {
      peers.delete(spec.peer);
      const message = (err as Error).message.split('\n')[0]!;
      peerFailures.set(spec.peer, `not started: ${message}`);
      log(`${spec.name} FAILED to start: ${message}`);
    }
  }
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

function recordFailure(samples: Samples, workload: Workload, target: string, message: string): void {
  for (const m of workload.metrics) samples.get(`${workload.name}/${m.key}`)!.errors.set(target, message);
}

async function runOnce(options: BenchOptions, specs: TargetSpec[], run: number, samples: Samples): Promise<void> {
  try {
    const targets: OpenTarget[] = [];
    for (const spec of specs) {
      if (interrupted) return;
      try {
        const target = await openTarget(spec, spec.peer ? peers.get(spec.peer) : undefined);
        open.push(target);
        targets.push(target);
      } catch (err) {
        const message = (spec.peer && peerFailures.get(spec.peer)) || `open failed: ${(err as Error).message.split('\n')[0]!}`;
        for (const workload of WORKLOADS) if (workload.appliesTo(spec, options.sizes)) recordFailure(samples, workload, spec.name, message);
        log(`run ${run + 1} · ${spec.name} FAILED: ${message}`);
      }
    }
    for (const [w, workload] of WORKLOADS.entries()) {
      for (const target of rotate(targets, run + w)) {
        if (interrupted) return;
        if (!workload.appliesTo(target.spec, options.sizes)) continue;
        const startMs = performance.now();
        try {
          const values = await workload.run(target, options.sizes);
          for (const m of workload.metrics) samples.get(`${workload.name}/${m.key}`)!.byTarget.get(target.spec.name)!.push(values[m.key]!);
          log(`run ${run + 1}/${options.sizes.runs} · ${workload.name} · ${target.spec.name}: ${((performance.now() - startMs) / 1000).toFixed(1)} s`);
        } catch (err) {
          const message = (err as Error).message.split('\n')[0]!;
          recordFailure(samples, workload, target.spec.name, message);
          log(`run ${run + 1} · ${workload.name} · ${target.spec.name} FAILED: ${message}`);
        }
      }
    }
  } finally {
    await closeAll();
  }
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/[:.]/g, '-');
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

async function runScale(options: BenchOptions & { scale: NonNullable<BenchOptions['scale']> }): Promise<number> {
  const started = new Date();
  const report = await runScaleBench(options.mode, options.scale, { signal: interruption.signal, track: (c) => open.push(c), log });
  if (interrupted) return 130;
  const outDir = options.outDir ?? path.join(repoRoot, 'bench', 'results', `scale-${timestamp(started)}`);
  await writeScaleReport(report, outDir);
  process.stdout.write(`${scaleMarkdown(report)}\nreport: ${outDir} (${report.durationS.toFixed(0)} s)\n`);
  return report.steps.every((s) => s.ok) ? 0 : 1;
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  if (options.scale) return runScale({ ...options, scale: options.scale });
  const specs = selectTargets(options);
  const names = specs.map((s) => s.name);
  const started = new Date();
  const startMs = performance.now();
  const samples = emptySamples(specs);
  try {
    await startPeers(specs);
    for (let run = 0; run < options.sizes.runs && !interrupted; run++) await runOnce(options, specs, run, samples);
  } finally {
    await stopPeers();
  }
  if (interrupted) return 130;
  const results = toMetricResults(samples);
  const baseline = names.includes(N1.name) ? N1.name : names[0]!;
  const report: BenchReport = {
    version: 2,
    mode: options.mode,
    startedAt: started.toISOString(),
    durationS: (performance.now() - startMs) / 1000,
    runs: options.sizes.runs,
    targets: names,
    baseline,
    results,
    goals: evaluateGoals(results, { n1: N1.name, n3: N3.name, glusterfs: GLUSTERFS.name, moosefs: MOOSEFS.name }, names),
  };
  const outDir = options.outDir ?? path.join(repoRoot, 'bench', 'results', timestamp(started));
  await writeReport(report, outDir);
  process.stdout.write(`${markdownTable(report)}\n\n${markdownReport(report).split('## Goals')[1]!.trim()}\n\nreport: ${outDir} (${report.durationS.toFixed(0)} s)\n`);
  return results.some((r) => Object.keys(r.errors).length > 0) ? 1 : 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = true;
    interruption.abort(new Error(`interrupted (${signal})`));
    log(`${signal}: stopping clusters, mounts and peers`);
    void closeAll()
      .then(stopPeers)
      .finally(() => process.exit(130));
  });
}

process.exitCode = await main();
