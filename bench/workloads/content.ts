// Deterministic, distinct file contents for the workloads and the byte-for-byte check of what
// is read back. Contents are slices of one random pool at offsets derived from an index, so two
// files (or two blocks of one file) almost never hold the same bytes and a misplaced block shows.

import { randomBytes } from 'node:crypto';

const POOL_BYTES = 8 * 1024 * 1024;
const pool = randomBytes(POOL_BYTES);

/** `sizeBytes` bytes for item `index`; a view into a shared pool, do not modify. */
export function contentFor(index: number, sizeBytes: number): Buffer {
  if (sizeBytes > POOL_BYTES / 2) throw new Error(`content of ${sizeBytes} bytes is larger than the pool allows`);
  const offset = (index * 4093 + 17) % (POOL_BYTES - sizeBytes);
  return pool.subarray(offset, offset + sizeBytes);
}

/** Throws if `actual` differs from `expected` in any byte or in length. */
export function expectSame(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: read ${actual.length} bytes, expected ${expected.length}`);
  if (!Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)) {
    const i = actual.findIndex((b, k) => b !== expected[k]);
    throw new Error(`${what}: byte ${i} differs`);
  }
}
