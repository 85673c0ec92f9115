// `npm run bench -- --scale`: one cluster of 3 data servers (Qr 2, Qw 2, fault injection) and a
// mount; fills it with many one-block files through the client API, and measures `ls -f` of the
// large directory through the mount, heal after `terminate` at files/10 and at all files, `scrub
// --wait`, `list-contents --json` of one data server, peak resident memory of every process and
// metadata bytes per file. Each step has a deadline and fails with one line naming it; what it
// could not measure is unknown in the report. Everything started is stopped by PID at the end,
// on failure and on SIGINT/SIGTERM (through `track`).

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startCluster, type Cluster } from '../../test/helpers/cluster.js';
import { isMounted, startMount, type Mount } from '../../test/helpers/mount.js';
import type { Mode } from '../options.js';
import { expectSame } from '../workloads/content.js';
import { runCommand, runQuorumfs } from './command.js';
import { createdKeys, fillFiles, makeDirectories, type FillState } from './fill.js';
import { measureHeal, type HealFigure } from './heal.js';
import { BIG_DIR, fileBytes, placement } from './layout.js';
import { countLsEntries, parseListContents } from './listings.js';
import { metadataFiles, peakResidentBytes } from './resources.js';
import { scaleDeadlines, type ScaleSizes } from './scale-options.js';
import { evaluateScaleTargets, type ProcessMemory, type ScaleFigures, type ScaleReport } from './scale-results.js';
import { freePortRange } from './spare-ports.js';
import { StepRunner } from './step-runner.js';
import { dataServers, metaServer, scrubView } from './status-fields.js';

export interface Closable {
  close(): Promise<void>;
}

interface ScaleContext {
  /** Aborted on SIGINT/SIGTERM: the step running stops, no new step starts. */
  signal: AbortSignal;
  /** Registers what must be stopped when the process is interrupted. */
  track(closable: Closable): void;
  log(message: string): void;
}

const READ_QUORUM = 2;
const WRITE_QUORUM = 2;
const DATA_SERVERS = 3;
const MEDIATOR_ARGS = ['--heal-rate-mibs', '0', '--scrub-interval-s', '0'];

function emptyFigures(sizes: ScaleSizes): ScaleFigures {
  return {
    fill: { files: sizes.files, seconds: undefined, filesPerS: undefined, phases: [] },
    ls: { dir: BIG_DIR, expected: sizes.bigDirFiles, entries: undefined, seconds: undefined },
    heals: [],
    scrub: { seconds: undefined, copiesVerified: undefined, copiesPerS: undefined, expectedCopies: DATA_SERVERS * sizes.files, failedCopies: undefined, summary: undefined },
    listContents: { port: undefined, entries: undefined, keys: undefined, seconds: undefined, cliStartupSeconds: undefined },
    memory: [
      { role: 'mount', pid: undefined, peakBytes: undefined },
      { role: 'mediator', pid: undefined, peakBytes: undefined },
      { role: 'metadata server', pid: undefined, peakBytes: undefined },
      { role: 'data server', pid: undefined, peakBytes: undefined },
    ],
    metadata: undefined,
    verifiedFiles: undefined,
  };
}

export async function runScaleBench(mode: Mode, sizes: ScaleSizes, ctx: ScaleContext): Promise<ScaleReport> {
  const startedAt = new Date();
  const runStartMs = performance.now();
  const steps = new StepRunner(ctx.signal, ctx.log);
  const deadlines = scaleDeadlines(sizes);
  const figures = emptyFigures(sizes);
  const mediatorArgs = [...MEDIATOR_ARGS];

  // Stopped last-started first, once, by whoever comes first: the end of the run or a signal.
  const closers: Array<() => Promise<void>> = [];
  let closing: Promise<void> | undefined;
  const closeAll = (): Promise<void> =>
    (closing ??= (async () => {
      while (closers.length) await closers.pop()!().catch((err: unknown) => ctx.log(`stop failed: ${(err as Error).message}`));
    })());
  ctx.track({ close: closeAll });

  let cluster: Cluster | undefined;
  let mount: Mount | undefined;
  try {
    const started = await steps.run('start cluster and mount', deadlines.startMs, async (signal) => {
      const first = await freePortRange(2);
      const spare = `${first}-${first + 1}`;
      mediatorArgs.unshift('--fault-injection', '--spare-ports', spare);
      const pendingCluster = startCluster({ readQuorum: READ_QUORUM, writeQuorum: WRITE_QUORUM, dataServers: DATA_SERVERS, faultInjection: true, sparePorts: spare, extraArgs: MEDIATOR_ARGS });
      closers.push(() => pendingCluster.then((c) => c.stop(), () => undefined));
      const c = await pendingCluster;
      signal.throwIfAborted();
      const pendingMount = startMount(c.mediatorPort);
      closers.push(() => pendingMount.then((m) => m.stop(), () => undefined));
      return { c, m: await pendingMount };
    });
    if (started) {
      cluster = started.c;
      mount = started.m;
      const created = await measure(cluster, mount, sizes, steps, figures);
      await steps.run('peak memory and metadata size', 30_000, () => resources(started.c, started.m, created, figures));
    }
  } finally {
    const dir = mount?.dir;
    // Interrupted: the signal handler stops everything (through `track`) and exits.
    if (ctx.signal.aborted) await closeAll();
    else {
      await steps.run('stop cluster and mount', deadlines.stopMs, async () => {
        await closeAll();
        if (dir !== undefined && (await isMounted(dir))) throw new Error(`${dir} is still mounted`);
      });
    }
  }
  return {
    version: 1,
    kind: 'scale',
    mode,
    startedAt: startedAt.toISOString(),
    durationS: (performance.now() - runStartMs) / 1000,
    mountPoint: mount?.dir,
    config: { files: sizes.files, bigDirFiles: sizes.bigDirFiles, dirFiles: sizes.dirFiles, concurrency: sizes.concurrency, fileBytes: `${sizes.minFileBytes}–${sizes.maxFileBytes} B`, dataServers: DATA_SERVERS, readQuorum: READ_QUORUM, writeQuorum: WRITE_QUORUM, mediatorArgs },
    steps: steps.records,
    figures,
    targets: evaluateScaleTargets(figures),
  };
}

/** The measured steps, in order; a step that depends on one that failed is skipped. Returns
 * the number of files created. */
async function measure(cluster: Cluster, mount: Mount, sizes: ScaleSizes, steps: StepRunner, figures: ScaleFigures): Promise<number> {
  const deadlines = scaleDeadlines(sizes);
  const original = cluster.dataPorts; // [0] and [1] are terminated in turn; [2] is listed
  const fillPhase = async (state: FillState | undefined, to: number): Promise<FillState | undefined> => {
    const from = state?.created ?? 0;
    return steps.run(`fill: files ${from}–${to - 1}`, deadlines.fillMs(to - from), async (signal) => {
      const s = state ?? (await makeDirectories(cluster.client, sizes, signal));
      const seconds = await fillFiles(cluster.client, sizes, s, to, signal);
      figures.fill.phases.push({ files: to - from, seconds, filesPerS: (to - from) / seconds });
      return s;
    });
  };
  const heal = async (state: FillState, victimPort: number): Promise<void> => {
    const figure: HealFigure = { blocks: state.created, terminatedPort: victimPort, replacementPort: undefined, replaceSeconds: undefined, seconds: undefined, blocksPerS: undefined, healReportedBlocks: undefined, verified: false };
    figures.heals.push(figure);
    await steps.run(`heal after terminate :${victimPort} (${state.created} blocks)`, deadlines.healMs(state.created), (signal) =>
      measureHeal({ cluster, victimPort, keys: createdKeys(state), stallMs: deadlines.healStallMs }, figure, signal),
    );
  };

  const first = await fillPhase(undefined, sizes.firstHealFiles);
  if (!first) return skip(steps, ['heal at files/10', ...AFTER_FILL], 'the fill failed');
  await heal(first, original[0]!);
  const full = await fillPhase(first, sizes.files);
  if (!full) return skip(steps, AFTER_FILL, 'the fill did not complete', first.created);
  const totalS = figures.fill.phases.reduce((sum, p) => sum + p.seconds, 0);
  figures.fill.seconds = totalS;
  figures.fill.filesPerS = sizes.files / totalS;

  await steps.run(`ls -f /${BIG_DIR} through the mount`, deadlines.lsMs, async (signal) => {
    const r = await runCommand('ls', ['-f', path.join(mount.dir, BIG_DIR)], signal);
    if (r.code !== 0) throw new Error(`ls -f exited with ${r.code}: ${r.stderr.trim().split('\n')[0]}`);
    const entries = countLsEntries(r.stdout);
    figures.ls.entries = entries;
    figures.ls.seconds = r.ms / 1000;
    if (entries !== sizes.bigDirFiles) throw new Error(`ls -f listed ${entries} entries in /${BIG_DIR}, but ${sizes.bigDirFiles} were created there`);
  });

  const listPort = original[2]!;
  figures.listContents.port = listPort;
  await steps.run(`list-contents ${listPort} --json`, deadlines.listContentsMs, async (signal) => {
    // What any CLI command costs before it does anything: the fixed part of the listing's time.
    figures.listContents.cliStartupSeconds = (await runQuorumfs(['--help'], signal)).ms / 1000;
    const r = await runQuorumfs(['list-contents', String(listPort), '--json'], signal);
    const listing = parseListContents(r.stdout);
    figures.listContents.seconds = r.ms / 1000;
    figures.listContents.entries = listing.entries;
    figures.listContents.keys = listing.keys.size;
    const missing = createdKeys(full).filter((k) => !listing.keys.has(k)).length;
    if (missing > 0) throw new Error(`list-contents --json of :${listPort} lacks ${missing} of ${sizes.files} committed blocks (${listing.keys.size} keys listed)`);
  });

  await heal(full, original[1]!);

  await steps.run('scrub --wait', deadlines.scrubMs, async (signal) => {
    const r = await runQuorumfs(['scrub', '--wait', '--mediator', `127.0.0.1:${cluster.mediatorPort}`], signal);
    figures.scrub.seconds = r.ms / 1000;
    figures.scrub.summary = r.stdout.toString('utf8').trim().split('\n').at(-1);
    const scrub = scrubView(await cluster.status());
    if (scrub?.doneBlocks === undefined) throw new Error('status shows no scrub progress after scrub --wait');
    if (scrub.complete === false) throw new Error(`the scrub pass did not complete: ${scrub.reason ?? 'no reason given'}`);
    figures.scrub.copiesVerified = scrub.doneBlocks;
    figures.scrub.copiesPerS = scrub.doneBlocks / figures.scrub.seconds;
    figures.scrub.failedCopies = scrub.failedBlocks;
    if (scrub.doneBlocks < figures.scrub.expectedCopies) throw new Error(`scrub verified ${scrub.doneBlocks} block copies, expected ${figures.scrub.expectedCopies} (${DATA_SERVERS} servers × ${sizes.files} blocks)`);
  });

  await steps.run(`read back ${sizes.verifyFiles} files through the mount`, deadlines.verifyMs, async (signal) => {
    let verified = 0;
    for (let k = 0; k < sizes.verifyFiles; k++) {
      signal.throwIfAborted();
      const i = Math.floor((k * sizes.files) / sizes.verifyFiles);
      const { dir, name } = placement(i, sizes);
      expectSame(await readFile(path.join(mount.dir, dir, name)), fileBytes(i, sizes), `/${dir}/${name}`);
      verified++;
    }
    figures.verifiedFiles = verified;
  });
  return full.created;
}

const AFTER_FILL = ['ls -f', 'list-contents', 'heal at all files', 'scrub --wait', 'read back'];

function skip(steps: StepRunner, names: string[], why: string, created = 0): number {
  for (const name of names) steps.skip(name, why);
  return created;
}

/** Peak resident memory of every process (read before anything is stopped) and the metadata
 * server's SQLite bytes per file. */
async function resources(cluster: Cluster, mount: Mount, createdFiles: number, figures: ScaleFigures): Promise<void> {
  const status = await cluster.status().catch(() => undefined);
  const pids: ProcessMemory[] = [
    { role: 'mount', pid: mount.process.pid, peakBytes: undefined },
    { role: 'mediator', pid: cluster.process.pid, peakBytes: undefined },
    { role: 'metadata server', pid: metaServer(status)?.pid, peakBytes: undefined },
    ...dataServers(status)
      .filter((s) => s.state === 'live' || s.state === 'healing')
      .map((s): ProcessMemory => ({ role: 'data server', id: s.id, pid: s.pid, peakBytes: undefined })),
  ];
  for (const p of pids) p.peakBytes = await peakResidentBytes(p.pid);
  if (!pids.some((p) => p.role === 'data server')) pids.push({ role: 'data server', pid: undefined, peakBytes: undefined });
  figures.memory = pids;
  const meta = await metadataFiles(cluster.dataDir);
  if (meta && createdFiles > 0) figures.metadata = { ...meta, bytesPerFile: (meta.dbBytes + meta.walBytes) / createdFiles };
  const unknown = pids.filter((p) => p.peakBytes === undefined).map((p) => p.role);
  if (unknown.length) throw new Error(`peak memory unknown for: ${unknown.join(', ')}`);
  if (!meta) throw new Error(`no SQLite files found under ${cluster.dataDir}`);
}
