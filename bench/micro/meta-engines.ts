// Micro benchmark of the metadata engines at the store level (no RPC): mkdir/s and create/s on
// SqliteMetaStore (on disk, synced) and EtcdMetaStore (on a local etcd member this bench starts,
// its data on disk like SQLite's, or in --etcd-dir), serially and with several calls in flight
// (each in a directory of its own, as separate clients would be: calls in one directory conflict
// on it). Prints the median of --runs runs per case as a small table, then one JSON line per case.
// Run: node dist/bench/micro/meta-engines.js [--runs 5] [--count 400] [--in-flight 1,8] [--etcd-dir /dev/shm]

import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { ROOT_INO, S_IFREG, type Caller } from '../../src/common/types.js';
import { EtcdMetaStore } from '../../src/stores/etcd-meta-store.js';
import { asyncMetaStore, type AsyncMetaStore } from '../../src/stores/meta-store.js';
import { SqliteMetaStore } from '../../src/stores/sqlite-meta-store.js';
import { freePorts } from '../../test/helpers/cluster.js';
import { EtcdMember } from '../../test/helpers/etcd.js';

const caller: Caller = { uid: 1000, gid: 1000 };

interface Engine {
  name: string;
  /** A fresh, empty store; `done` removes what it made. */
  open(run: number): Promise<{ store: AsyncMetaStore; done: () => Promise<void> }>;
}

type Op = 'mkdir' | 'create';

/** Runs `count` calls of `op`, `inFlight` at a time, each worker in its own directory; calls/s. */
async function ratePerSecond(store: AsyncMetaStore, op: Op, count: number, inFlight: number): Promise<number> {
  const dirs = await Promise.all(Array.from({ length: inFlight }, (_, w) => store.mkdir(ROOT_INO, `w${w}`, 0o755, caller)));
  let next = 0;
  const worker = async (w: number): Promise<void> => {
    const parent = dirs[w]!.ino;
    while (next < count) {
      const name = `n${next++}`;
      if (op === 'mkdir') await store.mkdir(parent, name, 0o755, caller);
      else await store.create({ parent, name, mode: S_IFREG | 0o644, caller, exclusive: true });
    }
  };
  const start = performance.now();
  await Promise.all(dirs.map((_, w) => worker(w)));
  return count / ((performance.now() - start) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      count: { type: 'string', default: '400' },
      'in-flight': { type: 'string', default: '1,8' },
      'etcd-dir': { type: 'string', default: os.tmpdir() },
    },
  });
  const runs = Number(values.runs);
  const count = Number(values.count);
  const [clientPort, peerPort] = await freePorts(2);
  const spec = { name: 'bench', host: '127.0.0.1', clientPort: clientPort!, peerPort: peerPort! };
  const etcd = await EtcdMember.start(spec, [spec], await mkdtemp(path.join(values['etcd-dir']!, 'qfs-etcd-bench-')));
  const engines: Engine[] = [
    {
      name: 'sqlite',
      open: async () => {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'qfs-meta-bench-'));
        const store = asyncMetaStore(SqliteMetaStore.open(path.join(dir, 'meta.sqlite')));
        return { store, done: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
      },
    },
    {
      name: 'etcd',
      open: async (run) => {
        const store = await EtcdMetaStore.connect({ endpoints: [etcd.clientUrl], prefix: `/bench/${process.pid}/${run}/` });
        return { store, done: () => store.close() };
      },
    },
  ];
  const rows: Array<{ engine: string; op: Op; inFlight: number; medianPerS: number; runsPerS: number[] }> = [];
  try {
    let run = 0;
    for (const inFlight of values['in-flight']!.split(',').map(Number)) {
      for (const op of ['mkdir', 'create'] as const) {
        for (const engine of engines) {
          const rates: number[] = [];
          for (let r = 0; r < runs; r++) {
            const { store, done } = await engine.open(run++);
            try {
              rates.push(await ratePerSecond(store, op, count, inFlight));
            } finally {
              await done();
            }
          }
          rows.push({ engine: engine.name, op, inFlight, medianPerS: Math.round(median(rates)), runsPerS: rates.map(Math.round) });
        }
      }
    }
  } finally {
    await etcd.stop();
  }
  console.log(`metadata engines, store level: median of ${runs} runs of ${count} calls (etcd data in ${values['etcd-dir']})`);
  console.log(['op', 'in flight', ...engines.map((e) => `${e.name} /s`)].map((h) => h.padStart(10)).join(''));
  for (const inFlight of new Set(rows.map((r) => r.inFlight))) {
    for (const op of ['mkdir', 'create'] as const) {
      const cells = engines.map((e) => rows.find((r) => r.engine === e.name && r.op === op && r.inFlight === inFlight)!.medianPerS);
      console.log([op, String(inFlight), ...cells.map(String)].map((c) => c.padStart(10)).join(''));
    }
  }
  for (const row of rows) console.log(JSON.stringify(row));
}

await main();
