// Benchmark of the FUSE binding on memfs (a child process per mount): small-file create+write
// of 4 KiB per second, uncached stat per second (attribute/entry timeouts 0), and sequential
// write and read in MiB/s with 1 MiB calls. --uncached-timeout sets the attribute/entry
// timeout of the stat mount (default 0; 0.000001 = one jiffy, what libfuse 2 can express). Several runs on fresh mounts; prints medians.
// --fs-command runs the same workloads against another file system started as
// `<command> <mountpoint> [--attr-timeout 0]` (used to compare with other FUSE bindings).
//
//   node dist/bench/fuse-binding-bench.js [--runs 5] [--files 2000] [--stats 5000]
//        [--seq-mib 256] [--fs-args='--no-xattrs ...'] [--fs-command 'node other-fs.js']
//        [--label memfs] [--json]

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const MiB = 1024 * 1024;
const SMALL_FILE_BYTES = 4096;
const MOUNT_WAIT_MS = 15_000;
const STOP_WAIT_MS = 15_000;
const MEMFS_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'memfs', 'main.js');

interface Mounted {
  mountpoint: string;
  dir: string;
  child: ChildProcess;
  exited: Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function isFuseMount(path: string): Promise<boolean> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((line) => {
    const [left, right] = line.split(' - ');
    return left?.split(' ')[4] === path && (right ?? '').startsWith('fuse');
  });
}

async function mount(command: string[], extraArgs: string[]): Promise<Mounted> {
  const dir = await mkdtemp(join(tmpdir(), 'qfs-bench-'));
  const mountpoint = join(dir, 'mnt');
  await mkdir(mountpoint);
  const [exe, ...args] = command;
  const child = spawn(exe!, [...args, mountpoint, ...extraArgs], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + MOUNT_WAIT_MS;
  while (!(await isFuseMount(mountpoint))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`file system did not mount at ${mountpoint}`);
    await sleep(20);
  }
  // The first request also waits for INIT: make sure the mount answers.
  await stat(mountpoint);
  return { mountpoint, dir, child, exited };
}

async function unmount(m: Mounted): Promise<void> {
  m.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([m.exited, new Promise<void>((r) => (timer = setTimeout(r, STOP_WAIT_MS)))]);
  clearTimeout(timer);
  if (m.child.exitCode === null && m.child.signalCode === null) {
    m.child.kill('SIGKILL');
    await m.exited;
  }
  if (await isFuseMount(m.mountpoint)) {
    await new Promise<void>((r) => spawn('fusermount3', ['-u', '-z', m.mountpoint]).once('exit', () => r()));
  }
  await rm(m.dir, { recursive: true, force: true });
}

async function smallFiles(root: string, files: number): Promise<number> {
  const body = Buffer.alloc(SMALL_FILE_BYTES, 7);
  await mkdir(join(root, 'small'));
  const t0 = performance.now();
  for (let i = 0; i < files; i++) await writeFile(join(root, 'small', `f${i}`), body);
  return files / ((performance.now() - t0) / 1000);
}

async function uncachedStats(root: string, stats: number): Promise<number> {
  // Enough distinct names that a name is revisited long after any one-jiffy cache expired.
  const distinct = 1000;
  await mkdir(join(root, 'stat'));
  for (let i = 0; i < distinct; i++) await writeFile(join(root, 'stat', `s${i}`), '');
  const t0 = performance.now();
  for (let i = 0; i < stats; i++) await stat(join(root, 'stat', `s${i % distinct}`));
  return stats / ((performance.now() - t0) / 1000);
}

async function sequential(root: string, mib: number): Promise<{ writeMiBps: number; readMiBps: number }> {
  const path = join(root, 'seq');
  const buf = Buffer.alloc(MiB, 0x5a);
  const w = await open(path, 'w');
  const t0 = performance.now();
  for (let i = 0; i < mib; i++) await w.write(buf, 0, MiB, i * MiB);
  await w.close();
  const writeMiBps = mib / ((performance.now() - t0) / 1000);
  // Reopening drops the file's cached pages (no keep_cache), so reads reach the file system.
  const r = await open(path, 'r');
  const t1 = performance.now();
  let total = 0;
  for (;;) {
    const { bytesRead } = await r.read(buf, 0, MiB, total);
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  await r.close();
  if (total !== mib * MiB) throw new Error(`read back ${total} bytes`);
  return { writeMiBps, readMiBps: mib / ((performance.now() - t1) / 1000) };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      files: { type: 'string', default: '2000' },
      stats: { type: 'string', default: '5000' },
      'seq-mib': { type: 'string', default: '256' },
      'fs-command': { type: 'string' },
      'fs-args': { type: 'string' },
      'uncached-timeout': { type: 'string', default: '0' },
      label: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const command = values['fs-command'] ? values['fs-command'].split(' ').filter(Boolean) : [process.execPath, MEMFS_MAIN];
  const fsArgs = (values['fs-args'] ?? '').split(' ').filter(Boolean);
  const label = values.label ?? (values['fs-command'] ? values['fs-command'] : 'quorumfs binding + memfs');
  const results = { smallFilesPerSec: [] as number[], uncachedStatsPerSec: [] as number[], seqWriteMiBps: [] as number[], seqReadMiBps: [] as number[] };
  for (let run = 0; run < runs; run++) {
    const cached = await mount(command, fsArgs);
    try {
      results.smallFilesPerSec.push(await smallFiles(cached.mountpoint, Number(values.files)));
      const seq = await sequential(cached.mountpoint, Number(values['seq-mib']));
      results.seqWriteMiBps.push(seq.writeMiBps);
      results.seqReadMiBps.push(seq.readMiBps);
    } finally {
      await unmount(cached);
    }
    const uncached = await mount(command, [...fsArgs, '--attr-timeout', values['uncached-timeout']!]);
    try {
      results.uncachedStatsPerSec.push(await uncachedStats(uncached.mountpoint, Number(values.stats)));
    } finally {
      await unmount(uncached);
    }
  }
  const summary = {
    label,
    runs,
    medians: {
      smallFileCreateWrite4KiBPerSec: Math.round(median(results.smallFilesPerSec)),
      uncachedStatPerSec: Math.round(median(results.uncachedStatsPerSec)),
      seqWrite1MiBMiBps: Math.round(median(results.seqWriteMiBps)),
      seqRead1MiBMiBps: Math.round(median(results.seqReadMiBps)),
    },
    all: results,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  process.stdout.write(`${label} (median of ${runs} runs)\n`);
  for (const [name, value] of Object.entries(summary.medians)) process.stdout.write(`  ${name.padEnd(32)} ${value}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`fuse-binding-bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
