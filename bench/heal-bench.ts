// Recovery figures: time from `terminate` to the replacement answering and to it being healed
// (every block copied from verified replicas), for a given amount of data, and foreground write
// throughput while a rate-limited heal runs against the same with no heal running.
// Run: node dist/bench/heal-bench.js [--mib 1024] [--rate-mibs 100]

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { runCli, startCluster, waitFor, type Cluster } from '../test/helpers/cluster.js';

async function fill(cluster: Cluster, mib: number): Promise<void> {
  const chunk = randomBytes(64 * 1024 * 1024);
  for (let i = 0; i < mib / 64; i++) await cluster.client.writeFile(`/fill-${i}`, chunk.subarray(0, Math.min(64, mib - i * 64) * 1024 * 1024));
}

async function writeMiBs(cluster: Cluster, mib: number): Promise<number> {
  const data = randomBytes(mib * 1024 * 1024);
  const start = performance.now();
  await cluster.client.writeFile(`/fg-${Math.random()}`, data);
  return mib / ((performance.now() - start) / 1000);
}

async function recover(cluster: Cluster): Promise<{ answeringMs: number; healedMs: number }> {
  const victim = cluster.dataPorts[0]!;
  const start = performance.now();
  await runCli(['terminate', String(victim)]);
  const replacing = (s: Awaited<ReturnType<Cluster['status']>>) => s.servers.find((x) => x.replaces === `127.0.0.1:${victim}`);
  let answeringMs = 0;
  await waitFor(async () => {
    const r = replacing(await cluster.status());
    if (!answeringMs && (r?.state === 'healing' || r?.state === 'live')) answeringMs = performance.now() - start;
    return r?.state === 'live';
  }, 600_000, 'heal');
  return { answeringMs, healedMs: performance.now() - start };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mib: { type: 'string', default: '1024' }, 'rate-mibs': { type: 'string', default: '100' } } });
  const mib = Number(values.mib);
  const rate = values['rate-mibs']!;

  const unlimited = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, extraArgs: ['--heal-rate-mibs', '0'] });
  try {
    await fill(unlimited, mib);
    const r = await recover(unlimited);
    console.log(`| ${mib} MiB, heal unlimited | terminate → replacement answering ${r.answeringMs.toFixed(0)} ms | → healed ${(r.healedMs / 1000).toFixed(1)} s | ${(mib / (r.healedMs / 1000)).toFixed(0)} MiB/s |`);
  } finally {
    await unlimited.stop();
  }

  const limited = await startCluster({ readQuorum: 2, writeQuorum: 2, dataServers: 3, faultInjection: true, extraArgs: ['--heal-rate-mibs', rate] });
  try {
    await fill(limited, Math.min(mib, 512));
    const idle = await writeMiBs(limited, 64);
    const healing = recover(limited);
    await new Promise((r) => setTimeout(r, 1000));
    const during = await writeMiBs(limited, 64);
    const r = await healing;
    console.log(`| heal limited to ${rate} MiB/s | foreground write ${idle.toFixed(0)} MiB/s idle, ${during.toFixed(0)} MiB/s during heal | healed in ${(r.healedMs / 1000).toFixed(1)} s |`);
  } finally {
    await limited.stop();
  }
}

await main();
