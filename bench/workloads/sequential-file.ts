// Writing and reading one file sequentially in 1 MiB chunks, every byte of the read verified:
// the sequential workload and each process of the parallel workload do this.

import { open } from 'node:fs/promises';
import { contentFor, expectSame } from './content.js';

export const CHUNK_BYTES = 1024 * 1024;

/** Writes `chunks` MiB to `file` (chunk i holds contentFor(contentIndex(i))), then fsyncs. */
export async function writeSequential(file: string, chunks: number, contentIndex: (chunk: number) => number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (let i = 0; i < chunks; i++) await handle.write(contentFor(contentIndex(i), CHUNK_BYTES), 0, CHUNK_BYTES, i * CHUNK_BYTES);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads `chunks` MiB of `file` back and throws at the first byte that differs. */
export async function readSequential(file: string, chunks: number, contentIndex: (chunk: number) => number, what: string): Promise<void> {
  const buffer = Buffer.alloc(CHUNK_BYTES);
  const handle = await open(file, 'r');
  try {
    for (let i = 0; i < chunks; i++) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, i * CHUNK_BYTES);
      expectSame(buffer.subarray(0, bytesRead), contentFor(contentIndex(i), CHUNK_BYTES), `${what} block ${i}`);
    }
  } finally {
    await handle.close();
  }
}
