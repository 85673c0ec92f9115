// Random 4 KiB I/O on a file bigger than the mount's block cache, the case the bench's random
// workload (64 MiB, as big as the cache) does not show: a fresh N=3 cluster (Qr 2, Qw 3) and
// mount of this build, a file of --mib MiB filled with 1 MiB writes, then rounds of --ops aligned
// random 4 KiB writes and an fsync (IOPS), and after dropping the kernel's caches --ops random
// reads checked against an in-memory copy (IOPS). Run it from two builds in turn to compare them.
// Run (root, for the cache drop): node dist/bench/micro/random-large-file.js [--mib 512] [--ops 500] [--rounds 3]

import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { startCluster } from '../../test/helpers/cluster.js';
import { startMount } from '../../test/helpers/mount.js';
import { seededRandom } from '../../src/common/random.js';
import { dropCaches } from '../workloads/drop-caches.js';

const MiB = 1024 * 1024;
const IO_BYTES = 4096;

const { values } = parseArgs({ options: { mib: { type: 'string', default: '512' }, ops: { type: 'string', default: '500' }, rounds: { type: 'string', default: '3' } } });
const fileBytes = Number(values.mib) * MiB;
const ops = Number(values.ops);
const rounds = Number(values.rounds);
if (!(fileBytes >= MiB && ops >= 1 && rounds >= 1)) throw new Error('--mib, --ops and --rounds must be positive numbers');

const cluster = await startCluster({ readQuorum: 2, writeQuorum: 3, dataServers: 3 });
const mount = await startMount(cluster.mediatorPort).catch(async (err: unknown) => {
  await cluster.stop();
  throw err;
});
try {
  const shadow = randomBytes(fileBytes);
  const handle = await open(path.join(mount.dir, 'random.bin'), 'w+');
  try {
    for (let off = 0; off < fileBytes; off += MiB) await handle.write(shadow, off, MiB, off);
    await handle.sync();
    const random = seededRandom(7);
    const slots = fileBytes / IO_BYTES;
    for (let round = 1; round <= rounds; round++) {
      let start = performance.now();
      for (let i = 0; i < ops; i++) {
        const off = Math.floor(random() * slots) * IO_BYTES;
        const data = randomBytes(IO_BYTES);
        data.copy(shadow, off);
        await handle.write(data, 0, IO_BYTES, off);
      }
      await handle.sync();
      const writeIops = ops / ((performance.now() - start) / 1000);
      await dropCaches();
      const buffer = Buffer.alloc(IO_BYTES);
      start = performance.now();
      for (let i = 0; i < ops; i++) {
        const off = Math.floor(random() * slots) * IO_BYTES;
        const { bytesRead } = await handle.read(buffer, 0, IO_BYTES, off);
        if (bytesRead !== IO_BYTES || !buffer.equals(shadow.subarray(off, off + IO_BYTES))) throw new Error(`wrong bytes read at ${off}`);
      }
      const readIops = ops / ((performance.now() - start) / 1000);
      console.log(`round ${round}: random 4 KiB write ${writeIops.toFixed(0)} IOPS, read ${readIops.toFixed(0)} IOPS (file of ${values.mib} MiB)`);
    }
  } finally {
    await handle.close();
  }
} finally {
  await mount.stop();
  await cluster.stop();
}
