// Block checksums, prefixed by the algorithm so the format can change without ambiguity.
//
// `xsha256:` (written since 2026-11-29): a block is cut into extents of EXTENT_BYTES (the last
// one may be shorter); its table is the SHA-256 of each extent, concatenated; its checksum is the
// SHA-256 of that table. So one extent can be verified without the others (its hash against the
// table, the table against the checksum), and a write of a few bytes recomputes one extent's hash,
// not the block's. A block of 0 bytes has an empty table.
//
// `sha256:` (blocks written before): SHA-256 of the whole block. Still read, verified, healed and
// scrubbed; such a block is rewritten whole, never in part.
//
// SHA-256 runs at about 1.7 GB/s here (SHA-NI), fast enough to verify every read on both the data
// server and the reader.

import { createHash, hash } from 'node:crypto';

export const EXTENT_BYTES = 16 * 1024;
export const EXTENT_HASH_BYTES = 32;
export const EXTENT_PREFIX = 'xsha256:';
export const LEGACY_PREFIX = 'sha256:';

const CHECKSUM_PATTERN = /^x?sha256:[0-9a-f]{64}$/;

/** The checksum of new blocks: the extent-table root. */
export function checksumOf(data: Uint8Array): string {
  return rootOf(extentTable(data));
}

/** The checksum of `data` by the algorithm `like` names, so it can be compared with `like`. */
export function checksumLike(data: Uint8Array, like: string): string {
  return isLegacyChecksum(like) ? LEGACY_PREFIX + sha256Hex(data) : checksumOf(data);
}

export function isChecksum(value: unknown): value is string {
  return typeof value === 'string' && CHECKSUM_PATTERN.test(value);
}

/** A whole-block SHA-256, from before extent tables: it cannot be verified or changed in part. */
export function isLegacyChecksum(checksum: string): boolean {
  return checksum.startsWith(LEGACY_PREFIX);
}

export function extentCount(lengthBytes: number): number {
  return Math.ceil(lengthBytes / EXTENT_BYTES);
}

/** The SHA-256 of each extent of `data`, concatenated. */
export function extentTable(data: Uint8Array): Buffer {
  const count = extentCount(data.length);
  const table = Buffer.allocUnsafe(count * EXTENT_HASH_BYTES);
  for (let i = 0; i < count; i++) extentHash(extentOf(data, i)).copy(table, i * EXTENT_HASH_BYTES);
  return table;
}

/** Extent `i` of a block's bytes (a view). */
export function extentOf(data: Uint8Array, i: number): Uint8Array {
  return data.subarray(i * EXTENT_BYTES, Math.min(data.length, (i + 1) * EXTENT_BYTES));
}

/** One-shot crypto.hash: about 15% less overhead than a Hash object per 16 KiB extent. */
export function extentHash(extent: Uint8Array): Buffer {
  return hash('sha256', extent, 'buffer');
}

/** Entry `i` of a table (a view). */
export function tableEntry(table: Uint8Array, i: number): Uint8Array {
  return table.subarray(i * EXTENT_HASH_BYTES, (i + 1) * EXTENT_HASH_BYTES);
}

/** The checksum a table stands for. */
export function rootOf(table: Uint8Array): string {
  return EXTENT_PREFIX + sha256Hex(table);
}

/** The raw 32 bytes of a checksum's digest. */
export function digestOf(checksum: string): Buffer {
  return Buffer.from(checksum.slice(checksum.indexOf(':') + 1), 'hex');
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The extents a reader asked for (`indexes`, of a block of `sizeBytes`) cut from a payload,
 * each checked against `table` and the table against `checksum`; undefined if anything does not
 * match. A data server's claim about its own bytes is not evidence: the reader checks again. */
export function verifiedExtents(checksum: string, sizeBytes: number, table: Uint8Array, indexes: readonly number[], payload: Buffer): Buffer[] | undefined {
  if (table.length !== extentCount(sizeBytes) * EXTENT_HASH_BYTES || rootOf(table) !== checksum) return undefined;
  const out: Buffer[] = [];
  let at = 0;
  for (const i of indexes) {
    const length = Math.min(EXTENT_BYTES, sizeBytes - i * EXTENT_BYTES);
    if (length <= 0 || at + length > payload.length) return undefined;
    const extent = payload.subarray(at, at + length);
    if (!extentHash(extent).equals(tableEntry(table, i))) return undefined;
    out.push(extent);
    at += length;
  }
  return at === payload.length ? out : undefined;
}
