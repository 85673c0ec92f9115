// Random 4 KiB I/O on one file: aligned random writes (then fsync), drop caches, aligned random
// reads checked against an in-memory shadow of the file. One operation in flight; offsets come
// from a seeded generator so every target sees the same sequence. Reports IOPS for each.

import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { contentFor, expectSame } from './content.js';
import { dropCaches } from './drop-caches.js';
import { secondsSince, type Workload } from './workload.js';
import { seededRandom } from '../../src/common/random.js';

const IO_BYTES = 4096;
const FILL_CHUNK_BYTES = 1024 * 1024;


export const randomIo: Workload = {
  name: 'random 4 KiB',
  metrics: [
    { key: 'write', unit: 'IOPS', higherIsBetter: true },
    { key: 'read', unit: 'IOPS', higherIsBetter: true },
  ],
  appliesTo: () => true,
  async run(target, sizes) {
    const file = path.join(target.dir, 'random.bin');
    const fileBytes = sizes.randomFileMiB * 1024 * 1024;
    const blocks = fileBytes / IO_BYTES;
    const shadow = Buffer.alloc(fileBytes);
    const random = seededRandom(7);
    const handle = await open(file, 'w+');
    try {
      for (let off = 0; off < fileBytes; off += FILL_CHUNK_BYTES) {
        const chunk = contentFor(off / FILL_CHUNK_BYTES, FILL_CHUNK_BYTES);
        chunk.copy(shadow, off);
        await handle.write(chunk, 0, FILL_CHUNK_BYTES, off);
      }
      await handle.sync();
      let start = performance.now();
      for (let i = 0; i < sizes.randomOps; i++) {
        const off = Math.floor(random() * blocks) * IO_BYTES;
        const data = contentFor(1_000_000 + i, IO_BYTES);
        data.copy(shadow, off);
        await handle.write(data, 0, IO_BYTES, off);
      }
      await handle.sync();
      const write = sizes.randomOps / secondsSince(start);
      await dropCaches();
      const buffer = Buffer.alloc(IO_BYTES);
      start = performance.now();
      for (let i = 0; i < sizes.randomOps; i++) {
        const off = Math.floor(random() * blocks) * IO_BYTES;
        const { bytesRead } = await handle.read(buffer, 0, IO_BYTES, off);
        expectSame(buffer.subarray(0, bytesRead), shadow.subarray(off, off + IO_BYTES), `random read at ${off}`);
      }
      const read = sizes.randomOps / secondsSince(start);
      return { write, read };
    } finally {
      await handle.close();
      await unlink(file);
    }
  },
};
