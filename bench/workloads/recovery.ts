// Recovery (as bench/heal-bench.ts): fill the cluster through the client API, terminate one data
// server and time until its replacement answers and until it is healed (live), then read the
// data back through the mount, verified. Only for quorumfs with N >= 3; run it last in a run,
// since it changes the cluster's membership.

import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { runCli, waitFor } from '../../test/helpers/cluster.js';
import { contentFor, expectSame } from './content.js';
import type { Workload } from './workload.js';

const FILL_FILE_MIB = 4;
const MIB = 1024 * 1024;
const HEAL_TIMEOUT_MS = 600_000;

export const recovery: Workload = {
  name: 'recovery',
  metrics: [
    { key: 'replace', unit: 's', higherIsBetter: false },
    { key: 'heal', unit: 's', higherIsBetter: false },
  ],
  appliesTo: (spec, sizes) => (spec.quorum?.dataServers ?? 0) >= 3 && sizes.recoveryMiB > 0,
  async run(target, sizes) {
    const cluster = target.cluster;
    if (!cluster) throw new Error('recovery needs a quorumfs cluster');
    const files = Math.ceil(sizes.recoveryMiB / FILL_FILE_MIB);
    for (let i = 0; i < files; i++) await cluster.client.writeFile(`/heal-${i}`, contentFor(i, FILL_FILE_MIB * MIB));
    const victim = cluster.dataPorts[0]!;
    const start = performance.now();
    const terminated = await runCli(['terminate', String(victim)]);
    if (terminated.code !== 0) throw new Error(`terminate ${victim} failed: ${terminated.stderr.trim()}`);
    let replaceMs = 0;
    await waitFor(async () => {
      const replacement = (await cluster.status()).servers.find((s) => s.replaces === `127.0.0.1:${victim}`);
      if (!replaceMs && (replacement?.state === 'healing' || replacement?.state === 'live')) replaceMs = performance.now() - start;
      return replacement?.state === 'live';
    }, HEAL_TIMEOUT_MS, 'heal');
    const healMs = performance.now() - start;
    for (let i = 0; i < files; i++) {
      const file = path.join(target.dir, `heal-${i}`);
      expectSame(await readFile(file), contentFor(i, FILL_FILE_MIB * MIB), `recovery heal-${i}`);
      await unlink(file);
    }
    return { replace: replaceMs / 1000, heal: healMs / 1000 };
  },
};
