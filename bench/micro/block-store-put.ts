// Micro benchmark of one data server's BlockStore, durable (fsync on): puts/s and gets/s of
// 4 KiB, 64 KiB and 1 MiB blocks, serially and with several calls in flight. The store under
// test is loaded from --store (a compiled block-store.js), so two builds can be run alternately.
// With --cold the gets read from the disk, not the page cache (drops the kernel's caches: root).
// Run: node dist/bench/micro/block-store-put.js [--store PATH] [--in-flight 1,8] [--sizes 4,64] [--cold]

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { checksumOf } from '../../src/common/checksum.js';
import type { BlockStore } from '../../src/stores/block-store.js';
import { dropCaches } from '../workloads/drop-caches.js';

interface Case {
  sizeBytes: number;
  /** Enough for about a second a case on this VM. */
  count: number;
}

const KiB = 1024;
const CASES: Case[] = [
  { sizeBytes: 4 * KiB, count: 1500 },
  { sizeBytes: 16 * KiB, count: 1200 },
  { sizeBytes: 64 * KiB, count: 800 },
  { sizeBytes: 256 * KiB, count: 300 },
  { sizeBytes: 1024 * KiB, count: 100 },
];

type StoreModule = { BlockStore: typeof BlockStore };

/** Runs `op(i)` for i in [0, count) with `inFlight` calls at a time; returns calls per second. */
async function ratePerSecond(count: number, inFlight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      await op(i);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  return count / ((performance.now() - start) / 1000);
}

async function runCase(mod: StoreModule, c: Case, inFlight: number, cold: boolean): Promise<{ puts: number; gets: number }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'wt-put-bench-'));
  try {
    const store = await mod.BlockStore.open(dir);
    const data = randomBytes(c.sizeBytes);
    const checksum = checksumOf(data);
    // Keys spread over subdirectories as the mediator's do (subdirOf hashes the key).
    const keyOf = (i: number): string => `bench-${i}`;
    const puts = await ratePerSecond(c.count, inFlight, (i) => store.put(keyOf(i), 1, checksum, data));
    if (cold) await dropCaches();
    const gets = await ratePerSecond(c.count, inFlight, (i) => store.get(keyOf(i), 1));
    await store.close();
    return { puts, gets };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      store: { type: 'string', default: path.resolve(import.meta.dirname, '../../src/stores/block-store.js') },
      'in-flight': { type: 'string', default: '1,8' },
      sizes: { type: 'string', default: CASES.map((c) => c.sizeBytes / KiB).join(',') },
      label: { type: 'string', default: 'this build' },
      cold: { type: 'boolean', default: false },
    },
  });
  const mod = (await import(pathToFileURL(path.resolve(values.store!)).href)) as StoreModule;
  const sizesKiB = new Set(values.sizes!.split(',').map(Number));
  for (const inFlight of values['in-flight']!.split(',').map(Number)) {
    for (const c of CASES.filter((x) => sizesKiB.has(x.sizeBytes / KiB))) {
      const { puts, gets } = await runCase(mod, c, inFlight, values.cold!);
      // One JSON line per case, for scripts that take medians over alternating runs.
      console.log(JSON.stringify({ label: values.label, cold: values.cold, sizeKiB: c.sizeBytes / KiB, inFlight, putsPerS: Math.round(puts), getsPerS: Math.round(gets) }));
    }
  }
}

await main();
