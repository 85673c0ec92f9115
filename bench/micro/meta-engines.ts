// Micro benchmark of the metadata engines at the store level (no RPC): the calls a mount makes
// most, on SqliteMetaStore (on disk, synced) and EtcdMetaStore (on a local etcd member this bench
// starts, its data on disk like SQLite's, or in --etcd-dir), serially and with several calls in
// flight (each worker in a directory of its own, as separate clients would be: calls in one
// directory conflict on it). One run: mkdir, create, lookup, getattr, readdirplus (of the
// directories made), rename (each file in its directory) and unlink, --count calls each. Prints
// the median of --runs runs per case as a small table, then one JSON line per case.
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

const OPS = ['mkdir', 'create', 'lookup', 'getattr', 'readdirplus', 'rename', 'unlink'] as const;
type Op = (typeof OPS)[number];

/** Runs every op `count` times, `inFlight` at a time, each worker in its own directory; calls/s
 * of each op. */
async function ratesPerSecond(store: AsyncMetaStore, count: number, inFlight: number): Promise<Record<Op, number>> {
  const dirs = await Promise.all(Array.from({ length: inFlight }, (_, w) => store.mkdir(ROOT_INO, `w${w}`, 0o755, caller)));
  const made: Array<{ parent: number; dir: number; file: number }> = Array.from({ length: count });
  const call = async (op: Op, i: number, parent: number): Promise<void> => {
    switch (op) {
      case 'mkdir':
        made[i] = { parent, dir: (await store.mkdir(parent, `d${i}`, 0o755, caller)).ino, file: 0 };
        return;
      case 'create':
        made[i]!.file = (await store.create({ parent, name: `f${i}`, mode: S_IFREG | 0o644, caller, exclusive: true })).ino;
        return;
      case 'lookup':
        await store.lookup(parent, `f${i}`);
        return;
      case 'getattr':
        await store.getattr(made[i]!.file);
        return;
      case 'readdirplus':
        await store.readdirplus(made[i]!.dir, 0, 100);
        return;
      case 'rename':
        await store.rename(parent, `f${i}`, parent, `g${i}`, 0);
        return;
      case 'unlink':
        await store.unlink(parent, `g${i}`);
        return;
      default: {
        const never: never = op;
        throw new Error(`unknown op ${String(never)}`);
      }
    }
  };
  const rates = {} as Record<Op, number>;
  for (const op of OPS) {
    // Worker w takes calls w, w + inFlight, …: call i always lands in the same directory.
    const worker = async (w: number): Promise<void> => {
      for (let i = w; i < count; i += inFlight) await call(op, i, dirs[w]!.ino);
    };
    const start = performance.now();
    await Promise.all(dirs.map((_, w) => worker(w)));
    rates[op] = count / ((performance.now() - start) / 1000);
  }
  return rates;
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
      for (const engine of engines) {
        const rates: Array<Record<Op, number>> = [];
        for (let r = 0; r < runs; r++) {
          const { store, done } = await engine.open(run++);
          try {
            rates.push(await ratesPerSecond(store, count, inFlight));
          } finally {
            await done();
          }
        }
        for (const op of OPS) {
          const perS = rates.map((x) => x[op]);
          rows.push({ engine: engine.name, op, inFlight, medianPerS: Math.round(median(perS)), runsPerS: perS.map(Math.round) });
        }
      }
    }
  } finally {
    await etcd.stop();
  }
  console.log(`metadata engines, store level: median of ${runs} runs of ${count} calls (etcd data in ${values['etcd-dir']})`);
  console.log(['op', 'in flight', ...engines.map((e) => `${e.name} /s`)].map((h) => h.padStart(12)).join(''));
  for (const inFlight of new Set(rows.map((r) => r.inFlight))) {
    for (const op of OPS) {
      const cells = engines.map((e) => rows.find((r) => r.engine === e.name && r.op === op && r.inFlight === inFlight)!.medianPerS);
      console.log([op, String(inFlight), ...cells.map(String)].map((c) => c.padStart(12)).join(''));
    }
  }
  for (const row of rows) console.log(JSON.stringify(row));
}

await main();
