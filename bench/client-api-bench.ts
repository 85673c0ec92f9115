// Throughput of the data path through the client API (no FUSE), and the time to replace a
// crashed data server, against real clusters on loopback. Each figure is the median of several
// runs, with the configurations alternated so that machine noise hits them alike.
// Run: node dist/bench/client-api-bench.js [--runs 5] [--mib 64]

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startCluster, waitFor, runCli, type Cluster } from '../test/helpers/cluster.js';

interface Config {
  name: string;
  readQuorum: number;
  writeQuorum: number;
  dataServers: number;
}

const CONFIGS: Config[] = [
  { name: 'N=1 (Qr 1, Qw 1)', readQuorum: 1, writeQuorum: 1, dataServers: 1 },
  { name: 'N=3 (Qr 2, Qw 3)', readQuorum: 2, writeQuorum: 3, dataServers: 3 },
  { name: 'N=5 (Qr 3, Qw 5)', readQuorum: 3, writeQuorum: 5, dataServers: 5 },
];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function throughput(cluster: Cluster, data: Buffer, run: number): Promise<{ writeMiBs: number; readMiBs: number }> {
  const mib = data.length / (1024 * 1024);
  let t = performance.now();
  await cluster.client.writeFile(`/bench-${run}`, data);
  const writeMiBs = mib / ((performance.now() - t) / 1000);
  t = performance.now();
  const back = await cluster.client.readFile(`/bench-${run}`);
  const readMiBs = mib / ((performance.now() - t) / 1000);
  if (!back.equals(data)) throw new Error('read back different bytes');
  return { writeMiBs, readMiBs };
}

async function replacementMs(cluster: Cluster): Promise<number> {
  const victim = cluster.dataPorts[0]!;
  const start = performance.now();
  const r = await runCli(['terminate', String(victim)]);
  if (r.code !== 0) throw new Error(r.stderr);
  await waitFor(
    async () => (await cluster.status()).servers.some((s) => s.replaces === `127.0.0.1:${victim}` && s.state === 'live'),
    10_000,
    'replacement',
  );
  return performance.now() - start;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, mib: { type: 'string', default: '64' } } });
  const runs = Number(values.runs);
  const data = randomBytes(Number(values.mib) * 1024 * 1024);
  const results = new Map<string, { write: number[]; read: number[]; replace: number[] }>();
  for (const c of CONFIGS) results.set(c.name, { write: [], read: [], replace: [] });
  for (let run = 0; run < runs; run++) {
    for (const config of CONFIGS) {
      const cluster = await startCluster({ ...config, faultInjection: true });
      try {
        const r = await throughput(cluster, data, run);
        const entry = results.get(config.name)!;
        entry.write.push(r.writeMiBs);
        entry.read.push(r.readMiBs);
        entry.replace.push(await replacementMs(cluster));
      } finally {
        await cluster.stop();
      }
    }
  }
  console.log(`| configuration | write MiB/s | read MiB/s | terminate → replacement live (ms) |`);
  console.log(`|---|---|---|---|`);
  for (const [name, r] of results) {
    const fmt = (v: number[]): string => `${median(v).toFixed(0)} (${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)})`;
    console.log(`| ${name} | ${fmt(r.write)} | ${fmt(r.read)} | ${fmt(r.replace)} |`);
  }
  console.log(`\n${values.mib} MiB file through the client API, median (min–max) of ${runs} runs.`);
}

await main();
