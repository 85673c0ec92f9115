// Sequential throughput: write a file with 1 MiB writes and fsync, drop caches, read it back
// with 1 MiB reads verifying every block. Reports MiB/s for the write (including the fsync) and
// for the read.

import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { dropCaches } from './drop-caches.js';
import { readSequential, writeSequential } from './sequential-file.js';
import { secondsSince, type Workload } from './workload.js';

export const sequential: Workload = {
  name: 'sequential',
  metrics: [
    { key: 'write', unit: 'MiB/s', higherIsBetter: true },
    { key: 'read', unit: 'MiB/s', higherIsBetter: true },
  ],
  appliesTo: () => true,
  async run(target, sizes) {
    const file = path.join(target.dir, 'sequential.bin');
    const chunks = sizes.sequentialMiB;
    let start = performance.now();
    await writeSequential(file, chunks, (i) => i);
    const write = chunks / secondsSince(start);
    await dropCaches();
    start = performance.now();
    await readSequential(file, chunks, (i) => i, 'sequential');
    const read = chunks / secondsSince(start);
    await unlink(file);
    return { write, read };
  },
};
