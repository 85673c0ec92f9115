// Sequential throughput: write a file with 1 MiB writes and fsync, drop caches, read it back
// with 1 MiB reads verifying every block. Reports MiB/s for the write (including the fsync) and
// for the read.

import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { contentFor, expectSame } from './content.js';
import { dropCaches } from './drop-caches.js';
import { secondsSince, type Workload } from './workload.js';

const CHUNK_BYTES = 1024 * 1024;

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
    const writer = await open(file, 'w');
    try {
      for (let i = 0; i < chunks; i++) await writer.write(contentFor(i, CHUNK_BYTES), 0, CHUNK_BYTES, i * CHUNK_BYTES);
      await writer.sync();
    } finally {
      await writer.close();
    }
    const write = chunks / secondsSince(start);
    await dropCaches();
    const buffer = Buffer.alloc(CHUNK_BYTES);
    start = performance.now();
    const reader = await open(file, 'r');
    try {
      for (let i = 0; i < chunks; i++) {
        const { bytesRead } = await reader.read(buffer, 0, CHUNK_BYTES, i * CHUNK_BYTES);
        expectSame(buffer.subarray(0, bytesRead), contentFor(i, CHUNK_BYTES), `sequential block ${i}`);
      }
    } finally {
      await reader.close();
    }
    const read = chunks / secondsSince(start);
    await unlink(file);
    return { write, read };
  },
};
