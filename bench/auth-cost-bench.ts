// The cost of authentication and encryption (TLS 1.2 PSK, issue 12) on loopback: the same
// workloads through the client API against a cluster with TLS (the default) and one started with
// --insecure-loopback, alternated run by run so that machine noise hits both alike. Workloads:
// sequential 1 MiB writes and reads, small-file creates (a create and a 100-byte write each), and
// a new connection's first call (where the handshake is paid).
// Run: node dist/bench/auth-cost-bench.js [--runs 5] [--files 32] [--small 300]

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { QuorumfsClient } from '../src/client/quorumfs-client.js';
import { mediatorMethods } from '../src/protocol/mediator-messages.js';
import { startCluster, type Cluster } from '../test/helpers/cluster.js';

type Mode = 'tls-psk' | 'plain';
interface Sample {
  writeMiBs: number;
  readMiBs: number;
  write1MiBMs: number;
  read1MiBMs: number;
  createMs: number;
  connectMs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function measure(cluster: Cluster, files: number, small: number, run: number): Promise<Sample> {
  const c = cluster.client;
  const block = randomBytes(1024 * 1024);
  const writes: number[] = [];
  const reads: number[] = [];
  let t0 = performance.now();
  for (let i = 0; i < files; i++) {
    const t = performance.now();
    await c.writeFile(`/big-${run}-${i}`, block);
    writes.push(performance.now() - t);
  }
  const writeMiBs = files / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < files; i++) {
    const t = performance.now();
    const back = await c.readFile(`/big-${run}-${i}`);
    reads.push(performance.now() - t);
    if (back.length !== block.length) throw new Error('short read');
  }
  const readMiBs = files / ((performance.now() - t0) / 1000);
  const tiny = randomBytes(100);
  const creates: number[] = [];
  for (let i = 0; i < small; i++) {
    const t = performance.now();
    await c.writeFile(`/small-${run}-${i}`, tiny);
    creates.push(performance.now() - t);
  }
  const connects: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    const fresh = new QuorumfsClient({ host: '127.0.0.1', port: cluster.mediatorPort });
    await fresh.rpc.call(mediatorMethods.ping, {});
    connects.push(performance.now() - t);
    fresh.close();
  }
  return { writeMiBs, readMiBs, write1MiBMs: median(writes), read1MiBMs: median(reads), createMs: median(creates), connectMs: median(connects) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, files: { type: 'string', default: '32' }, small: { type: 'string', default: '300' } } });
  const runs = Number(values.runs);
  const samples = new Map<Mode, Sample[]>([['tls-psk', []], ['plain', []]]);
  for (let run = 0; run < runs; run++) {
    for (const mode of ['tls-psk', 'plain'] as const) {
      const cluster = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, sparePorts: 'none', extraArgs: mode === 'plain' ? ['--insecure-loopback'] : [] });
      try {
        samples.get(mode)!.push(await measure(cluster, Number(values.files), Number(values.small), run));
      } finally {
        await cluster.stop();
      }
    }
  }
  const rows: Array<[string, keyof Sample, number]> = [
    ['sequential 1 MiB writes, MiB/s', 'writeMiBs', 0],
    ['sequential 1 MiB reads, MiB/s', 'readMiBs', 0],
    ['one 1 MiB write, ms', 'write1MiBMs', 2],
    ['one 1 MiB read, ms', 'read1MiBMs', 2],
    ['small-file create + 100 B write, ms', 'createMs', 2],
    ['new connection + first call, ms', 'connectMs', 2],
  ];
  console.log('| workload (N=3, Qr 2, Qw 2) | TLS-PSK | plain (--insecure-loopback) | cost |');
  console.log('|---|---|---|---|');
  for (const [label, key, digits] of rows) {
    const tls = median(samples.get('tls-psk')!.map((s) => s[key]));
    const plain = median(samples.get('plain')!.map((s) => s[key]));
    const costPct = key.endsWith('MiBs') ? (1 - tls / plain) * 100 : (tls / plain - 1) * 100;
    console.log(`| ${label} | ${tls.toFixed(digits)} | ${plain.toFixed(digits)} | ${costPct >= 0 ? '+' : ''}${costPct.toFixed(0)} % |`);
  }
  console.log(`\nMedians of ${runs} runs (each: ${values.files} files of 1 MiB, ${values.small} small files, 20 new connections); cost: throughput lost or latency added by TLS.`);
}

await main();
